"""Whole training steps (forward, cross-entropy, backward, SGD with momentum) of LeNet-5
(batch 64, 1x32x32) and ResNet-18 for CIFAR (batch 32, 3x32x32), in minidl and in an
equivalent PyTorch model, and their peak memory measured in a fresh process.

Run as ``python -m minidl.bench.steps FRAMEWORK MODEL`` it prints the peak growth of the
resident set (VmHWM after resetting it, minus VmRSS before building the model) over a few
steps, in bytes; the same measurement is used for both frameworks. The warm-up step that
compiles kernels and loads libraries first runs on a batch of two, so that memory it
leaves with the allocator (freed, but still resident) is not reused by the measured steps.
"""
from __future__ import annotations

import gc
import json
import subprocess
import sys

import numpy as np

STEPS = {"lenet5": (64, 1, 32), "resnet18_cifar": (32, 3, 32)}
WARM_UP_BATCH = 2


def _batch(model_name, batch_size=None):
    n, c, size = STEPS[model_name]
    n = batch_size or n
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, c, size, size)).astype(np.float32), rng.integers(0, 10, n)


def minidl_step(model_name, implementation="auto", batch_size=None):
    """A callable doing one minidl training step with the given kernels."""
    import minidl
    import minidl.functional as F
    from minidl import models
    minidl.manual_seed(0)
    name, kwargs = (("lenet5_modern", {}) if model_name == "lenet5"
                    else ("resnet18", {"stem": "cifar"}))
    model = models.get(name, num_classes=10, **kwargs)
    opt = minidl.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x_array, y_array = _batch(model_name, batch_size)
    x, y = minidl.tensor(x_array), minidl.tensor(y_array)

    def step():
        with minidl.kernels.use(implementation):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
    return step


def torch_step(model_name, batch_size=None):
    """A callable doing the same step in PyTorch."""
    import torch

    from .torch_models import lenet5_modern, resnet18_cifar
    torch.manual_seed(0)
    model = lenet5_modern() if model_name == "lenet5" else resnet18_cifar()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x_array, y_array = _batch(model_name, batch_size)
    x, y = torch.tensor(x_array), torch.tensor(y_array)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_here(framework, model_name, steps=3):
    """Peak resident-set growth of ``steps`` training steps in this process, in bytes."""
    warm = minidl_step if framework == "minidl" else torch_step
    warm(model_name, batch_size=WARM_UP_BATCH)()  # compile kernels, load libraries
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident set
    baseline = _status("VmRSS")
    step = warm(model_name)
    for _ in range(steps):
        step()
    return _status("VmHWM") - baseline


def peak_memory(framework, model_name):
    """``peak_memory_here`` in a fresh subprocess (None where /proc is not available)."""
    cmd = [sys.executable, "-m", "minidl.bench.steps", framework, model_name]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        return None
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_bytes"]


if __name__ == "__main__":
    framework, model_name = sys.argv[1], sys.argv[2]
    if framework == "torch":
        import torch
        torch.set_num_threads(2)
    print(json.dumps({"peak_bytes": peak_memory_here(framework, model_name)}))
