"""The benchmark suite: every kernel implementation of every hot op, forward and
forward+backward, on real layer shapes, plus whole training steps, against PyTorch.

    python -m benchmarks [--quick] [--out DIR]        (from the repository)
    minidl bench [--quick] [--out DIR]

Each measurement warms up, then alternates the implementations (and PyTorch, when it is
installed) call by call and reports the median. Results go to DIR/RESULTS.md (a table,
the targets met or missed, and the machine) and DIR/results.png (a chart).

``--quick`` times a few shapes, forward+backward only (the direction the targets are
stated for), and the LeNet-5 step without its peak memory: under a minute, Numba's
first compilation of the kernels included.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

from . import cases, report, steps, workloads


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(2)
    return torch


def _single(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# OpenBLAS's worker threads keep spinning (yielding) for about 0.1 s after a GEMM; a pause
# before each timed call keeps one framework's idle threads from slowing the next. After
# such a pause this VM's cores need tens of milliseconds of work to run at full speed again
# (a 5 ms kernel measured 7-10 ms after the pause plus up to 20 ms of calls, 5 ms after
# 50 ms), a cost no kernel pays inside a training loop; so each timed call follows WAKE
# seconds of untimed calls of the same candidate, which also leaves its inputs in cache, as
# the layer before would.
PAUSE = 0.15
WAKE = 0.05


def _settled(fn):
    time.sleep(PAUSE)
    awake = time.perf_counter() + WAKE
    while time.perf_counter() < awake:
        fn()
    return _single(fn)


def alternate(candidates, budget, min_repeats=3, max_repeats=50, pause=True):
    """Median seconds per call of each candidate, measured in alternation after a warm-up
    (when ``pause``, each timed call follows a pause and WAKE seconds of untimed calls).
    ``budget`` is the wall time to spend, pauses included, within ``min_repeats`` and
    ``max_repeats`` rounds."""
    estimate = {}
    for name, fn in candidates.items():
        fn()
        estimate[name] = _single(fn)
    per_call = sum(estimate.values())
    settling = sum(PAUSE + max(WAKE, t) for t in estimate.values())
    per_round = per_call + (settling if pause else 0.0)
    repeats = int(min(max_repeats, max(min_repeats, budget / max(per_round, 1e-9))))
    samples = {name: [] for name in candidates}
    measure = _settled if pause else _single
    for _ in range(repeats):
        for name, fn in candidates.items():
            samples[name].append(measure(fn))
    return {name: statistics.median(s) for name, s in samples.items()}


def _implementations():
    from .. import kernels
    return [name for name in kernels.available() if name != "cuda"]


def time_case(case, backward, use_torch, budget):
    """{implementation or "torch": median seconds} for one case and direction."""
    candidates = {impl: workloads.minidl_workload(case, impl, backward)
                  for impl in _implementations()}
    if use_torch:
        candidates["torch"] = workloads.torch_workload(case, backward)
    return alternate(candidates, budget)


def time_steps(model_name, use_torch, budget):
    candidates = {impl: steps.minidl_step(model_name, impl) for impl in _implementations()}
    if use_torch:
        candidates["torch"] = steps.torch_step(model_name)
    return alternate(candidates, budget, min_repeats=3, max_repeats=30)


def _peak_memory(model_name, use_torch):
    """Peak memory of the training step in each framework, each in a fresh process."""
    memory = {"minidl": steps.peak_memory("minidl", model_name)}
    if use_torch:
        memory["torch"] = steps.peak_memory("torch", model_name)
    return memory


def run(quick=False, use_torch=True, progress=print):
    """Run the suite and return the rows and facts that ``report`` writes."""
    torch = _torch() if use_torch else None
    use_torch = torch is not None
    budget = 0.5 if quick else 8.0   # seconds per row, pauses included
    conv_cases = cases.QUICK_CONV if quick else cases.CONV
    memory_cases = cases.QUICK_MEMORY if quick else cases.MEMORY
    directions = (True,) if quick else (False, True)
    rows = []
    for case in list(conv_cases) + list(memory_cases):
        for backward in directions:
            times = time_case(case, backward, use_torch, budget)
            rows.append(report.Row(case, backward, times))
            progress(rows[-1].line())
    step_names = ["lenet5"] if quick else list(steps.STEPS)
    step_rows = []
    for name in step_names:
        times = time_steps(name, use_torch, budget * 4)
        memory = {} if quick else _peak_memory(name, use_torch)
        step_rows.append(report.StepRow(name, times, memory))
        progress(step_rows[-1].line())
    threads = None if quick else report.thread_options(progress)
    return report.Results(rows, step_rows, threads, report.machine(), quick, use_torch)


def add_arguments(parser):
    """The options shared by ``python -m benchmarks`` and ``minidl bench``."""
    parser.add_argument("--quick", action="store_true",
                        help="a few shapes, forward+backward only, no peak memory "
                             "(under a minute)")
    parser.add_argument("--out", default=None,
                        help="folder for RESULTS.md and results.png (default: ./benchmarks "
                             "if it exists, else the current folder)")
    parser.add_argument("--no-torch", action="store_true", help="do not time PyTorch")


def run_from_args(args):
    out = args.out or ("benchmarks" if os.path.isdir("benchmarks") else ".")
    results = run(quick=args.quick, use_torch=not args.no_torch)
    print(f"wrote {report.write(results, out)}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="minidl's benchmark suite (see minidl/bench)")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
