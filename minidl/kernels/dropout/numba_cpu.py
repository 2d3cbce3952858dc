"""Numba dropout: the counter-based mask drawn inside the kernel, fused with the scaling.

The mask is the reference one (``minidl.kernels.dropout.reference``): element i is dropped
iff the top 24 bits of splitmix64(key + (i + 1) * golden) are below round(p * 2**24). Each
element is hashed where it is used, so no mask array is ever stored or read, and the
backward pass regenerates the same mask from the same key.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .reference import GOLDEN_GAMMA, UNIFORM_BITS, dropout_threshold

__all__ = ["dropout2d_backward", "dropout2d_forward", "dropout_backward", "dropout_forward"]

BLOCK = 16384

_GOLDEN = np.uint64(GOLDEN_GAMMA)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31 = np.uint64(30), np.uint64(27), np.uint64(31)
_SHIFT = np.uint64(64 - UNIFORM_BITS)


@njit(inline="always")
def _kept(key, i, threshold):
    """True when element i survives (the splitmix64 draw is at or above the threshold)."""
    z = key + np.uint64(i + 1) * _GOLDEN
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = z ^ (z >> _S31)
    return (z >> _SHIFT) >= threshold


@njit(cache=True)
def _mask_elements(x, out, first, key, threshold, scale):
    """out[j] = x[j] * scale * mask[first + j] over one contiguous block."""
    for j in range(x.size):
        out[j] = x[j] * (scale * np.float32(_kept(key, first + j, threshold)))


@njit(cache=True)
def _mask_groups(x, out, first, group, key, threshold, scale):
    """out[i] = x[i] * scale * mask[first + i // group] over a block of whole groups."""
    for m in range(x.size // group):
        factor = scale * np.float32(_kept(key, first + m, threshold))
        for i in range(m * group, (m + 1) * group):
            out[i] = x[i] * factor


@njit(parallel=True, cache=True)
def _masked(x, out, key, threshold, scale, group):
    """out[i] = x[i] * scale if mask[i // group] else 0, in parallel blocks of whole groups.

    Each block goes to a serial function as contiguous slices: given those, LLVM
    vectorises the hash (eight 64-bit lanes with AVX-512), which it does not for the same
    loop written inline over the whole arrays (measured 8 times slower). The keep decision
    is a multiplier, not a branch, for the same reason.
    """
    n = x.size
    block_size = max(1, BLOCK // group) * group
    for block in prange((n + block_size - 1) // block_size):
        start = block * block_size
        stop = min(n, start + block_size)
        if group == 1:
            _mask_elements(x[start:stop], out[start:stop], start, key, threshold, scale)
        else:
            _mask_groups(x[start:stop], out[start:stop], start // group, group, key,
                         threshold, scale)


def _apply(x, p, key, group):
    x = np.ascontiguousarray(x)
    out = np.empty_like(x)
    scale = x.dtype.type(0.0 if p == 1 else 1.0 / (1.0 - p))
    _masked(x.reshape(-1), out.reshape(-1), np.uint64(key), np.uint64(dropout_threshold(p)),
            scale, group)
    return out


def dropout_forward(x, p, key):
    """y = x * mask / (1 - p), one mask entry per element."""
    return _apply(x, p, key, 1)


def dropout_backward(grad_y, p, key):
    """dL/dx = dL/dy * mask / (1 - p) with the same mask (same key)."""
    return _apply(grad_y, p, key, 1)


def dropout2d_forward(x, p, key):
    """One mask entry per (sample, channel): element i uses entry i // (H * W)."""
    return _apply(x, p, key, max(1, x[0, 0].size))


def dropout2d_backward(grad_y, p, key):
    return _apply(grad_y, p, key, max(1, grad_y[0, 0].size))
