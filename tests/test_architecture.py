"""The layout rules of ARCHITECTURE.md, checked on the source (read with ``ast``, nothing
run): every import points down the layers or stays in its own package; no private name
(or private module) is imported from another package; no file over 600 lines and no
function over 60 lines.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "minidl"

# Bottom to top, as in ARCHITECTURE.md. A module may import from its own package and from
# lower layers; the apps may also import each other. "minidl" is the package face, which
# re-exports the layers up to the models.
LAYERS = [
    {"minidl._platform", "minidl.backend", "minidl.geometry"},
    {"minidl.kernels"},
    {"minidl.autograd"},
    {"minidl.functional"},
    {"minidl.nn"},
    {"minidl.optim", "minidl.data", "minidl.io", "minidl.checkpoint"},
    {"minidl.models"},
    {"minidl"},
    {"minidl.viz"},
    {"minidl.analysis"},
    {"minidl.distributed"},
    {"minidl.utils"},
    {"minidl.train", "minidl.studies", "minidl.gallery", "minidl.cli", "minidl.bench",
     "minidl.__main__"},
]
APPS = LAYERS[-1]
LEVEL = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def owner(module):
    """The package of the layer table a module belongs to: minidl.<first part>."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else parts[0]


def is_module(dotted):
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports(path):
    """(imported module, imported name or None) for every minidl import of a file."""
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names
                        if alias.name.split(".")[0] == "minidl")
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level \
                else []
            target = ".".join(base + ([node.module] if node.module else []))
            if target.split(".")[0] != "minidl":
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                yield (full, None) if is_module(full) else (target, alias.name)


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_the_layer_table_names_every_package():
    assert {owner(module_name(p)) for p in SOURCES} <= set(LEVEL)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down_and_take_no_private_names(path):
    me = owner(module_name(path))
    for target, name in imports(path):
        other = owner(target)
        if other == me:
            continue
        assert LEVEL[other] < LEVEL[me] or (me in APPS and other in APPS), \
            f"{module_name(path)} imports {target}, a layer above or beside it"
        private = [part for part in target.split(".")[1:] + [name or ""] if part.startswith("_")
                   and part not in ("__init__", "__main__", "_platform")]
        assert not private, f"{module_name(path)} imports the private {target}:{name}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_no_file_over_600_lines_and_no_function_over_60(path):
    source = path.read_text()
    assert source.count("\n") <= 600, f"{path.name} has {source.count(chr(10))} lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            assert length <= 60, f"{path.name}: {node.name} has {length} lines"
