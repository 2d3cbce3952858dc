"""Reference dropout kernels with a counter-based random mask.

The mask is a pure function of a 64-bit ``key`` (one per dropout call, from
``backend.next_random_stream()``) and the element's flat C-order index i over the mask's
shape, so the NumPy, Numba and CUDA kernels draw identical masks and the backward pass
regenerates the mask instead of saving it:

    z = (key + (i + 1) * 0x9E3779B97F4A7C15) mod 2**64     (a Weyl sequence)
    z = splitmix64 finaliser of z                          (backend.mix64)
    u = z >> 40                                            (24 random bits)
    element i is dropped  iff  u < threshold = round(p * 2**24)

The comparison is on integers, so no implementation can round differently. Kept values
are scaled by 1 / (1 - p) so that E[y] = x.

    dropout_forward(x, p, key) -> y          mask of x's shape
    dropout_backward(grad_y, p, key) -> gx
    dropout2d_forward(x, p, key) -> y        mask of shape x.shape[:2], one per channel
    dropout2d_backward(grad_y, p, key) -> gx
"""
from __future__ import annotations

import math

from ... import backend

__all__ = ["dropout2d_backward", "dropout2d_forward", "dropout_backward", "dropout_forward"]

GOLDEN_GAMMA = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd: SplitMix64's increment
UNIFORM_BITS = 24


def mix64_array(z):
    """``backend.mix64`` on a uint64 array (uint64 arithmetic wraps modulo 2**64)."""
    xp = backend.get_array_module(z)
    u64 = xp.uint64
    z = (z ^ (z >> u64(30))) * u64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> u64(27))) * u64(0x94D049BB133111EB)
    return z ^ (z >> u64(31))


def dropout_threshold(p):
    """round(p * 2**24): an element is dropped when its 24-bit draw is below this."""
    return round(p * 2 ** UNIFORM_BITS)


def keep_mask(key, shape, p, xp):
    """The boolean mask (True = kept) of one dropout call, as the module docstring defines."""
    u64 = xp.uint64
    index = xp.arange(1, math.prod(shape) + 1, dtype=u64)
    z = mix64_array(u64(key) + index * u64(GOLDEN_GAMMA))
    return (z >> u64(64 - UNIFORM_BITS) >= u64(dropout_threshold(p))).reshape(shape)


def _masked(x, p, key, mask_shape):
    """x * keep / (1 - p), the mask broadcast over the axes after ``mask_shape``."""
    xp = backend.get_array_module(x)
    keep = keep_mask(key, mask_shape, p, xp)
    keep = keep.reshape(mask_shape + (1,) * (x.ndim - len(mask_shape)))
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return x * keep.astype(x.dtype) * x.dtype.type(scale)


def dropout_forward(x, p, key):
    """y = x * mask / (1 - p), one mask entry per element."""
    return _masked(x, p, key, x.shape)


def dropout_backward(grad_y, p, key):
    """y is linear in x with diagonal Jacobian mask / (1 - p): dL/dx = dL/dy * mask / (1 - p)."""
    return _masked(grad_y, p, key, grad_y.shape)


def dropout2d_forward(x, p, key):
    """Channel dropout: one mask entry per (sample, channel), shared by its whole map."""
    return _masked(x, p, key, x.shape[:2])


def dropout2d_backward(grad_y, p, key):
    """dL/dx = dL/dy * mask / (1 - p), the (N, C) mask broadcast over the map as in forward."""
    return _masked(grad_y, p, key, grad_y.shape[:2])
