"""Small helpers shared by the test modules: float64 leaves and a gradcheck that first
rules out non-finite outputs and gradients."""
from __future__ import annotations

import numpy as np

import minidl


def leaf(array):
    """A float64 leaf tensor that requires grad (a copy of ``array``)."""
    return minidl.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


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
