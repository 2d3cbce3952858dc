"""run_method end to end on Shapes with the quick budget: each method trains what it needs,
writes its figures and JSON and returns its numbers; bad names are clear errors. (On the
reference kernels: tiny batches, and no Numba compilation when this file runs alone.)"""
import json

import pytest

import minidl
from minidl.analysis import runner

FIGURES = {"circuits": 7, "convergent": 4, "collapse": 2, "filters": 3, "diverse": 3}


@pytest.mark.parametrize("name", runner.METHODS)
def test_run_method_writes_figures_and_numbers(name, tmp_path):
    with minidl.kernels.use("reference"):
        numbers = runner.run_method(name, tmp_path, quick=True)
    assert numbers["method"] == name and numbers["data"] == "shapes"
    assert len(numbers["figures"]) == FIGURES[name]
    assert all((tmp_path / figure).stat().st_size > 0 for figure in numbers["figures"])
    written = json.loads((tmp_path / f"{name}.json").read_text())
    assert written == numbers
    assert numbers["train_seconds"] >= 0 and numbers["analysis_seconds"] > 0


def test_unknown_method_and_data_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown analysis 'tsne'"):
        runner.run_method("tsne", tmp_path)
    with pytest.raises(ValueError, match="data must be one of"):
        runner.load_data("cifar")
