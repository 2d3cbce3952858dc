"""Every script in examples/ runs to the end with exit status 0 (each asserts its own hand
computation against minidl), and every one is listed in examples/README.md."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
TIMEOUT_S = 120          # a few seconds each; the first run may also compile Numba kernels


def test_there_are_examples():
    assert len(SCRIPTS) >= 17, [script.name for script in SCRIPTS]


@pytest.mark.parametrize("script", SCRIPTS, ids=[script.stem for script in SCRIPTS])
def test_example_runs_and_its_checks_pass(script):
    result = subprocess.run([sys.executable, str(script)], cwd=EXAMPLES.parent,
                            capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, (f"{script.name} exited with {result.returncode}\n"
                                    f"--- stdout ---\n{result.stdout[-3000:]}\n"
                                    f"--- stderr ---\n{result.stderr[-3000:]}")
    assert result.stdout.strip(), f"{script.name} printed nothing"


def test_every_example_is_in_the_readme():
    readme = (EXAMPLES / "README.md").read_text()
    missing = [script.name for script in SCRIPTS
               if f"({script.name})" not in readme or f"python examples/{script.name}" not in readme]
    assert not missing, f"examples/README.md does not list (link and command): {missing}"
