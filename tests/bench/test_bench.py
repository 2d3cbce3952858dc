"""The benchmark suite's workloads run every case kind, forward and forward+backward, for
every implementation, and minidl's numbers are the ones PyTorch gives for the same inputs
(the suite times what it claims to time). Shapes are tiny: timing is not tested here."""
import numpy as np
import pytest

import minidl
from minidl.bench import workloads
from minidl.bench.cases import CONV, MEMORY, ConvCase, MemoryCase

SMALL_MEMORY = [MemoryCase(c.op, c.net, (2, 3, 8, 8) if len(c.shape) == 4 else (2, 6), c.params)
                for c in MEMORY]
SMALL_CONV = [ConvCase("tiny", "3x3", 2, 4, 8, 6, 3, 1, 1), ConvCase("tiny", "s2", 2, 4, 9, 6, 3, 2, 1),
              ConvCase("tiny", "dw", 2, 4, 8, 4, 3, 1, 1, 4)]
CASES = SMALL_CONV + SMALL_MEMORY


def _as_list(result):
    return list(result) if isinstance(result, (list, tuple)) else [result]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{getattr(c, 'op', 'conv2d')}-{c.name}")
@pytest.mark.parametrize("backward", [False, True])
def test_every_workload_runs_and_shapes_match(case, backward):
    for implementation in [name for name in minidl.kernels.available() if name != "cuda"]:
        outputs = _as_list(workloads.minidl_workload(case, implementation, backward)())
        if backward:  # the gradients of x and of the parameters the op differentiates
            assert outputs[0].shape == (case.input_shape if isinstance(case, ConvCase)
                                        else case.shape)
        else:
            assert outputs[0].shape == workloads.output_shape(case)


@pytest.mark.parametrize("case", [c for c in CASES if getattr(c, "op", "") != "dropout"],
                         ids=lambda c: f"{getattr(c, 'op', 'conv2d')}-{c.name}")
def test_minidl_and_torch_workloads_compute_the_same(case):
    pytest.importorskip("torch")
    ours = _as_list(workloads.minidl_workload(case, "reference", backward=True)())
    theirs = _as_list(workloads.torch_workload(case, backward=True)())
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a), b.numpy(), rtol=1e-4, atol=1e-5)


def test_the_benchmarked_shapes_are_valid():
    for case in CONV:
        assert case.out_size >= 1 and case.in_channels % case.groups == 0
    for case in MEMORY:
        assert min(workloads.output_shape(case)) >= 1


def test_rewriting_results_keeps_the_hand_written_part(tmp_path):
    from minidl.bench import report
    rows = [report.Row(SMALL_MEMORY[0], True, {"reference": 2e-3, "numba": 1e-3})]
    results = report.Results(rows, [], None, {"cores": 2}, False, False)
    path = report.write(results, tmp_path)
    with open(path, "a") as f:
        f.write(f"\n{report.KEPT}\n## What bounds the misses\n\nby hand\n")
    rows[0].times["numba"] = 5e-4
    report.write(results, tmp_path)
    text = open(path).read()
    assert text.count(report.KEPT) == 1 and text.endswith("by hand\n")
    assert "0.50" in text.split(report.KEPT)[0]     # the new measurement is there


def test_a_quick_report_without_forward_rows_or_peak_memory(tmp_path):
    """--quick times forward+backward only and skips the peak-memory subprocesses: the
    report, the chart and the progress line must work with what is left."""
    from minidl.bench import report
    times = {"reference": 2e-3, "numba": 1e-3, "torch": 4e-3}
    rows = [report.Row(SMALL_MEMORY[0], True, dict(times))]
    step = report.StepRow("lenet5", dict(times), {})
    assert "peak memory" not in step.line()
    machine = {"cores": 2, "copy bandwidth (GB/s, read + write)": 20.0}
    results = report.Results(rows, [step], None, machine, True, True)
    path = report.write(results, tmp_path)
    assert path.endswith("RESULTS-quick.md") and (tmp_path / "results-quick.png").exists()
    text = open(path).read()
    assert "| lenet5 |" in text and "| 0.25 |" in text   # numba / torch, the one row
