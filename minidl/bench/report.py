"""Rows, targets, machine description, and the RESULTS.md / results.png writers."""
from __future__ import annotations

import math
import os
import platform
import subprocess
import time
from dataclasses import dataclass

import numpy as np

from . import cases, workloads

IMPLEMENTATIONS = ("reference", "numba", "cuda")


def _best(times):
    """(implementation, seconds) of the fastest minidl implementation."""
    mine = {k: v for k, v in times.items() if k in IMPLEMENTATIONS}
    name = min(mine, key=mine.get)
    return name, mine[name]


@dataclass
class Row:
    case: object
    backward: bool
    times: dict

    @property
    def direction(self):
        return "fwd+bwd" if self.backward else "fwd"

    @property
    def best(self):
        return _best(self.times)

    @property
    def ratio(self):
        return self.best[1] / self.times["torch"] if "torch" in self.times else None

    def rate(self):
        """GFLOP/s for conv (fwd+bwd counts 3x the forward FLOPs), GB/s otherwise."""
        seconds = self.best[1]
        if isinstance(self.case, cases.ConvCase):
            return self.case.flops * (3 if self.backward else 1) / seconds / 1e9, "GFLOP/s"
        return workloads.bytes_moved(self.case, self.backward) / seconds / 1e9, "GB/s"

    def line(self):
        parts = [f"{k} {v * 1e3:8.2f} ms" for k, v in self.times.items()]
        ratio = f"  ratio {self.ratio:.2f}" if self.ratio else ""
        return f"{self.case.name:55s} {self.direction:7s} " + "  ".join(parts) + ratio


@dataclass
class StepRow:
    model: str
    times: dict
    memory: dict

    @property
    def best(self):
        return _best(self.times)

    @property
    def ratio(self):
        return self.best[1] / self.times["torch"] if "torch" in self.times else None

    @property
    def memory_ratio(self):
        mine, theirs = self.memory.get("minidl"), self.memory.get("torch")
        return mine / theirs if mine and theirs else None

    def line(self):
        parts = [f"{k} {v * 1e3:8.2f} ms" for k, v in self.times.items()]
        memory = ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in self.memory.items() if v)
        return f"training step {self.model:16s} " + "  ".join(parts) + \
            (f"  peak memory {memory}" if memory else "")


@dataclass
class Results:
    rows: list
    steps: list
    threads: dict
    machine: dict
    quick: bool
    with_torch: bool


def copy_bandwidth():
    """GB/s of a large array copy, counting the bytes read and the bytes written."""
    src = np.ones(64 * 2 ** 20 // 4, np.float32)
    dst = np.empty_like(src)
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best / 1e9


def _cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        facts = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        keys = ("Model name", "L2 cache", "L3 cache")
        return ", ".join(f"{k.strip()}: {facts[k].strip()}" for k in keys if k in facts)
    except (OSError, ValueError):
        return platform.processor()


def machine():
    import numba
    facts = {"CPU": _cpu_model(), "cores": os.cpu_count(), "Python": platform.python_version(),
             "NumPy": np.__version__, "Numba": numba.__version__,
             "copy bandwidth (GB/s, read + write)": round(copy_bandwidth(), 1)}
    try:
        facts["BLAS"] = np.__config__.CONFIG["Build Dependencies"]["blas"]["name"]
    except (AttributeError, KeyError):
        pass
    try:
        facts["Numba threading layer"] = numba.threading_layer()
    except ValueError:
        facts["Numba threading layer"] = "not started"
    facts["OMP_WAIT_POLICY"] = os.environ.get("OMP_WAIT_POLICY", "")
    try:
        import torch
        facts["PyTorch"] = f"{torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        facts["PyTorch"] = "not installed"
    return facts


def thread_options(progress=print):
    from .threads import measure_all
    results = measure_all()
    for (layer, policy), (ms, used) in results.items():
        progress(f"threads: layer {layer} ({used}), OMP_WAIT_POLICY={policy}: {ms:.1f} ms")
    return results


# ------------------------------------------------------------------------------ targets
def _find(rows, op, net="target", backward=True):
    for row in rows:
        c = row.case
        if isinstance(c, cases.MemoryCase) and c.op == op and c.net == net and row.backward == backward:
            return row
    return None


def _total_ratio(rows, selected):
    chosen = [r for r in rows if r.case in selected and r.backward and "torch" in r.times]
    if not chosen:
        return None
    return sum(r.best[1] for r in chosen) / sum(r.times["torch"] for r in chosen)


def targets(results):
    """(description, measured, limit, met) for every target that this run measured."""
    out = []
    if not results.with_torch:
        return out
    bandwidth = results.machine["copy bandwidth (GB/s, read + write)"]
    for op in ("max_pool2d", "batch_norm", "dropout"):
        row = _find(results.rows, op)
        if row is not None:
            rate, _ = row.rate()
            out.append((f"{op} fwd+bwd {cases.TARGET_SHAPE}: time ratio", row.ratio, 0.67,
                        row.ratio <= 0.67))
            out.append((f"{op} fwd+bwd {cases.TARGET_SHAPE}: GB/s vs half the copy bandwidth",
                        rate, bandwidth / 2, rate >= bandwidth / 2))
    for label, selected, limit in (
            ("conv2d fwd+bwd, ResNet-18 CIFAR layers (total)", cases.CIFAR_CONV, 1.3),
            ("depthwise conv2d fwd+bwd, MobileNet layers (total)", cases.MOBILENET_DEPTHWISE, 2.0)):
        ratio = _total_ratio(results.rows, selected)
        if ratio is not None:
            out.append((label, ratio, limit, ratio <= limit))
    for step in results.steps:
        if step.ratio is None:
            continue
        limit = 1.5 if step.model == "lenet5" else 1.3
        out.append((f"{step.model} training step: time ratio", step.ratio, limit,
                    step.ratio <= limit))
        if step.model == "resnet18_cifar" and step.memory_ratio:
            out.append(("resnet18_cifar training step: peak memory ratio", step.memory_ratio,
                        1.5, step.memory_ratio <= 1.5))
    return out


# ------------------------------------------------------------------------------ writing
def _table(rows):
    impls = [k for k in ("reference", "numba", "cuda", "torch") if any(k in r.times for r in rows)]
    head = "| case | dir | " + " | ".join(f"{k} ms" for k in impls) + " | best | rate | ratio |"
    lines = [head, "|" + "---|" * (len(impls) + 5)]
    for r in rows:
        times = " | ".join(f"{r.times[k] * 1e3:.2f}" if k in r.times else "" for k in impls)
        rate, unit = r.rate()
        ratio = f"{r.ratio:.2f}" if r.ratio else ""
        lines.append(f"| {r.case.name} | {r.direction} | {times} | {r.best[0]} | "
                     f"{rate:.1f} {unit} | {ratio} |")
    return lines


def _markdown(results):
    lines = ["# Benchmark results", "",
             "Generated by `python -m benchmarks" + (" --quick" if results.quick else "") +
             "` (`minidl bench`). Times are medians of alternating runs after a warm-up, "
             "float32, two threads. *ratio* = fastest minidl implementation / PyTorch CPU in "
             "the same run; *rate* is GFLOP/s for convolutions (fwd+bwd counts three times "
             "the forward FLOPs) and GB/s for memory-bound ops (every tensor read or written "
             "once).", "", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in results.machine.items()]
    lines += ["", "## Targets", "", "| target | measured | limit | met |", "|---|---|---|---|"]
    for label, measured, limit, met in targets(results):
        lines.append(f"| {label} | {measured:.2f} | {limit:.2f} | {'met' if met else 'MISSED'} |")
    lines += ["", "## Training steps", "",
              "| model | " + " | ".join(f"{k} ms" for k in results.steps[0].times) +
              " | minidl peak MiB | torch peak MiB |",
              "|---|" + "---|" * (len(results.steps[0].times) + 2)] if results.steps else []
    for s in results.steps:
        mem = [f"{s.memory.get(k) / 2**20:.0f}" if s.memory.get(k) else "" for k in
               ("minidl", "torch")]
        lines.append(f"| {s.model} | " + " | ".join(f"{v * 1e3:.1f}" for v in s.times.values())
                     + f" | {mem[0]} | {mem[1]} |")
    lines += ["", "## Kernels", ""] + _table(results.rows)
    if results.threads:
        lines += ["", "## Threads", "",
                  "ResNet-18 CIFAR layer1 conv, fwd+bwd with the numba kernels, each "
                  "configuration in a fresh process:", "",
                  "| Numba threading layer | OMP_WAIT_POLICY | ms |", "|---|---|---|"]
        for (layer, policy), (ms, used) in results.threads.items():
            lines.append(f"| {layer} (got {used}) | {policy} | {ms:.1f} |")
    return "\n".join(lines) + "\n"


def _chart(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in results.rows if r.backward and r.ratio]
    if not rows:
        return
    fig, ax = plt.subplots(figsize=(9, 0.28 * len(rows) + 1.5))
    ax.barh([r.case.name for r in rows], [r.ratio for r in rows],
            color=["tab:green" if r.ratio <= 1 else "tab:orange" for r in rows])
    ax.axvline(1.0, color="black", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("minidl time / PyTorch time (fwd+bwd, lower is better)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


# Everything from this line on in an existing RESULTS.md was written by hand (what the
# numbers mean, what bounds the missed targets) and is kept when the benchmark rewrites it.
KEPT = "<!-- written by hand: kept when the benchmark rewrites this file -->"


def _kept_part(path):
    """The hand-written end of the file at ``path`` (from the KEPT line on), or ""."""
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        text = f.read()
    start = text.find(KEPT)
    return "" if start < 0 else "\n" + text[start:]


def write(results, folder):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "RESULTS-quick.md" if results.quick else "RESULTS.md")
    kept = _kept_part(path)
    with open(path, "w") as f:
        f.write(_markdown(results) + kept)
    _chart(results, os.path.join(folder, "results-quick.png" if results.quick else "results.png"))
    return path
