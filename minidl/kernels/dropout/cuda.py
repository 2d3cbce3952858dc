"""Numba-CUDA dropout: the counter-based mask drawn inside the kernel, fused with the
scaling. Same signatures and bit-for-bit the same results as ``..reference.dropout``.

Element i is dropped iff the top 24 bits of splitmix64(key + (i + 1) * golden) are below
round(p * 2**24) (all in wrapping uint64 arithmetic, compared as integers), so the mask is
the reference one whatever the device, no mask array is stored, and the backward pass
regenerates it from the same key. One thread per element of the flattened array; element
i uses mask entry i // group (group = 1 for dropout, H*W for channel dropout).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ... import backend
from .reference import GOLDEN_GAMMA, UNIFORM_BITS, dropout_threshold
from ..cuda_common import array, float_signatures, int64, launch, uint64

__all__ = ["dropout2d_backward", "dropout2d_forward", "dropout_backward", "dropout_forward"]

_GOLDEN = np.uint64(GOLDEN_GAMMA)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_SHIFT = np.uint64(64 - UNIFORM_BITS)


@cuda.jit(device=True)
def _kept(key, entry, threshold):
    """True when mask entry ``entry`` keeps its elements: the splitmix64 finaliser of
    key + (entry + 1) * golden, shifted down to 24 bits, is at least the threshold."""
    z = key + np.uint64(entry + 1) * _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = z ^ (z >> _S31)
    return (z >> _SHIFT) >= threshold


@cuda.jit
def _masked(x, out, key, threshold, scale, group):
    """out[i] = x[i] * scale where mask entry i // group is kept, x[i] * 0 where it is
    dropped (so a NaN stays NaN and the sign of zero is kept, as in the reference)."""
    i = cuda.grid(1)
    if i < x.size:
        if _kept(key, i // group, threshold):
            out[i] = x[i] * scale
        else:
            out[i] = x[i] * 0


PTX_SIGNATURES = [
    (_masked, float_signatures(lambda f: (array(f, 1), array(f, 1), uint64, uint64, f, int64))),
]


def _apply(x, p, key, group):
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    out = xp.empty_like(x)
    scale = x.dtype.type(0.0 if p == 1 else 1.0 / (1.0 - p))
    launch(_masked, x.size, x.reshape(-1), out.reshape(-1), np.uint64(key),
           np.uint64(dropout_threshold(p)), scale, group)
    return out


def dropout_forward(x, p, key):
    """y = x * mask / (1 - p), one mask entry per element."""
    return _apply(x, p, key, 1)


def dropout_backward(grad_y, p, key):
    """dL/dx = dL/dy * mask / (1 - p) with the same mask (same key)."""
    return _apply(grad_y, p, key, 1)


def dropout2d_forward(x, p, key):
    """One mask entry per (sample, channel), shared by the H*W elements of its map."""
    return _apply(x, p, key, max(1, math.prod(x.shape[2:])))


def dropout2d_backward(grad_y, p, key):
    """dL/dx = dL/dy * mask / (1 - p), the (N, C) mask spread over each map as in forward."""
    return _apply(grad_y, p, key, max(1, math.prod(grad_y.shape[2:])))
