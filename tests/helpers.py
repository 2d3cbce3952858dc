"""Small helpers shared by the test modules: float64 leaves and a gradcheck that first
rules out non-finite outputs and gradients."""
from __future__ import annotations

import math
import pathlib

import numpy as np

import minidl


def leaf(array, requires_grad=True):
    """A float64 leaf tensor (a copy of ``array``), by default requiring grad."""
    return minidl.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def distinct(shape, rng):
    """Pairwise distinct values, at least 0.1 apart, in random order (no ties anywhere)."""
    return 0.1 * (rng.permutation(math.prod(shape)).reshape(shape) - math.prod(shape) / 2)


def check(fn, *inputs, mode="full"):
    """gradcheck ``fn`` at ``inputs`` after making sure its outputs and gradients are finite.

    (``gradcheck`` tests ``error > tolerance``, which is False for NaN, so a NaN output or a
    NaN analytical gradient would pass unnoticed: both are ruled out first.)
    """
    out = fn(*inputs)
    outs = list(out) if isinstance(out, tuple) else [out]
    for o in outs:
        assert np.isfinite(o.numpy()).all(), f"non-finite output {o}"
        assert o.requires_grad
    grads = minidl.grad(outs, list(inputs), grad_outputs=[np.ones(o.shape) for o in outs],
                        allow_unused=True)
    for g in grads:
        assert g is None or np.isfinite(g).all(), f"non-finite gradient {g}"
    assert minidl.gradcheck(fn, inputs, mode=mode)


TIGHT = {"rtol": 1e-10, "atol": 1e-12}


def torch_leaf(torch, array):
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def compare_with_torch(torch, arrays, minidl_fn, torch_fn, seed=0):
    """Forward and backward (with one random upstream gradient) of both, in float64."""
    ours = [minidl.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch_leaf(torch, a) for a in arrays]
    out, ref = minidl_fn(*ours), torch_fn(*theirs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **TIGHT)
    g = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.from_numpy(g))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **TIGHT)


REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The MNIST test set (10,000 real digits) that ../shared holds for development and CI.
MNIST_DIR = str(REPO_ROOT.parent / "shared" / "data" / "mnist")
