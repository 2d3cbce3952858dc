"""Numba-CUDA pooling kernels: max pooling with its argmax indices fused into the forward
pass, and average pooling. Same signatures and results as ``.reference``.

Tap (i, j) of output (oh, ow) reads pixel (oh*sh - ph + i*dh, ow*sw - pw + j*dw); taps that
fall in the padding are skipped, so padding never wins a max and adds nothing to a sum.

* Forward passes: one thread per output element, visiting its window's taps in row-major
  order (for max pooling with PyTorch's rule: a larger value or a NaN replaces the current
  one, and the window's first real pixel is always taken).
* Backward passes are gathers: one thread per input pixel, which visits, tap by tap, the
  outputs whose window reads it (``window_reading``) and sums their gradients. No two
  threads write the same pixel and the order is fixed, so the bits never change.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from ... import backend
from ...geometry import pool_output_length
from .reference import (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward,  # no CUDA versions:
                        adaptive_max_pool2d_backward, adaptive_max_pool2d_forward,  # they run on CuPy
                        max_unpool2d_backward, max_unpool2d_forward)
from ..cuda_common import (array, boolean, float_signatures, int64, launch, unravel4,
                      window_reading)

__all__ = ["adaptive_avg_pool2d_backward", "adaptive_avg_pool2d_forward",
           "adaptive_max_pool2d_backward", "adaptive_max_pool2d_forward", "avg_pool2d_backward",
           "avg_pool2d_forward", "max_pool2d_backward", "max_pool2d_forward",
           "max_unpool2d_backward", "max_unpool2d_forward"]


@cuda.jit
def _max_pool_forward(x, y, indices, kh, kw, sh, sw, ph, pw, dh, dw):
    """y[n, c, oh, ow] = the max of x[n, c] over the window's real pixels and
    indices[n, c, oh, ow] = r * W + q, where it was (-inf and -1 for a window of padding
    only). One thread per output element."""
    channels, h, w = x.shape[1], x.shape[2], x.shape[3]
    out_h, out_w = y.shape[2], y.shape[3]
    t = cuda.grid(1)
    if t < y.size:
        n, c, oh, ow = unravel4(t, channels, out_h, out_w)
        best = -math.inf
        best_index = -1
        for i in range(kh):
            r = oh * sh - ph + i * dh
            if r < 0 or r >= h:
                continue
            for j in range(kw):
                q = ow * sw - pw + j * dw
                if q < 0 or q >= w:
                    continue
                v = x[n, c, r, q]
                if v > best or math.isnan(v) or best_index < 0:
                    best = v
                    best_index = r * w + q
        y[n, c, oh, ow] = best
        indices[n, c, oh, ow] = best_index


@cuda.jit
def _max_pool_backward(grad_y, indices, grad_x, kh, kw, sh, sw, ph, pw, dh, dw):
    """grad_x[n, c, r, q] = sum of grad_y[n, c, oh, ow] over the outputs whose window reads
    (r, q) and whose argmax it is. One thread per input pixel."""
    channels, h, w = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    t = cuda.grid(1)
    if t < grad_x.size:
        n, c, r, q = unravel4(t, channels, h, w)
        total = np.float64(0)
        for i in range(kh):
            oh = window_reading(r, i * dh - ph, sh, out_h)
            if oh < 0:
                continue
            for j in range(kw):
                ow = window_reading(q, j * dw - pw, sw, out_w)
                if ow >= 0 and indices[n, c, oh, ow] == r * w + q:
                    total += grad_y[n, c, oh, ow]
        grad_x[n, c, r, q] = total


@cuda.jit(device=True)
def _window_count(o, size, kernel, stride, padding, count_include_pad):
    """How many pixels output o's window counts along one axis: the window clipped to
    the padded input (it may overhang it in ceil mode), and to the real input when the
    padding is not counted."""
    start = o * stride - padding
    end = min(start + kernel, size + padding)
    if not count_include_pad:
        start, end = max(start, 0), min(end, size)
    return end - start


@cuda.jit(device=True)
def _divisor(oh, ow, h, w, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """D[oh, ow], what average pooling divides window (oh, ow) by: ``divisor_override``
    when it is not 0, else the product of the window's counts along both axes."""
    if divisor_override != 0:
        return np.float64(divisor_override)
    return np.float64(_window_count(oh, h, kh, sh, ph, count_include_pad)
                      * _window_count(ow, w, kw, sw, pw, count_include_pad))


@cuda.jit
def _avg_pool_forward(x, y, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override):
    """y[n, c, oh, ow] = (sum of x[n, c] over the window's real pixels) / D[oh, ow].
    One thread per output element."""
    channels, h, w = x.shape[1], x.shape[2], x.shape[3]
    out_h, out_w = y.shape[2], y.shape[3]
    t = cuda.grid(1)
    if t < y.size:
        n, c, oh, ow = unravel4(t, channels, out_h, out_w)
        total = np.float64(0)
        for i in range(kh):
            r = oh * sh - ph + i
            if r < 0 or r >= h:
                continue
            for j in range(kw):
                q = ow * sw - pw + j
                if 0 <= q < w:
                    total += x[n, c, r, q]
        y[n, c, oh, ow] = total / _divisor(oh, ow, h, w, kh, kw, sh, sw, ph, pw,
                                           count_include_pad, divisor_override)


@cuda.jit
def _avg_pool_backward(grad_y, grad_x, kh, kw, sh, sw, ph, pw, count_include_pad,
                       divisor_override):
    """grad_x[n, c, r, q] = sum of grad_y[n, c, oh, ow] / D[oh, ow] over the windows that
    contain (r, q). One thread per input pixel."""
    channels, h, w = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    t = cuda.grid(1)
    if t < grad_x.size:
        n, c, r, q = unravel4(t, channels, h, w)
        total = np.float64(0)
        for i in range(kh):
            oh = window_reading(r, i - ph, sh, out_h)
            if oh < 0:
                continue
            for j in range(kw):
                ow = window_reading(q, j - pw, sw, out_w)
                if ow >= 0:
                    total += grad_y[n, c, oh, ow] / _divisor(
                        oh, ow, h, w, kh, kw, sh, sw, ph, pw, count_include_pad,
                        divisor_override)
        grad_x[n, c, r, q] = total


_MAX_ARGS = (int64,) * 8        # kh, kw, sh, sw, ph, pw, dh, dw
_AVG_ARGS = (int64,) * 6 + (boolean, int64)
PTX_SIGNATURES = [
    (_max_pool_forward,
     float_signatures(lambda f: (array(f, 4), array(f, 4), array(int64, 4)) + _MAX_ARGS)),
    (_max_pool_backward,
     float_signatures(lambda f: (array(f, 4), array(int64, 4), array(f, 4)) + _MAX_ARGS)),
    (_avg_pool_forward, float_signatures(lambda f: (array(f, 4),) * 2 + _AVG_ARGS)),
    (_avg_pool_backward, float_signatures(lambda f: (array(f, 4),) * 2 + _AVG_ARGS)),
]


# ----------------------------------------------------------------------------- host side
def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """Values and PyTorch's flat argmax indices in one pass over each window."""
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    out = tuple(pool_output_length(*args, ceil_mode) for args in
                zip((h, w), kernel, stride, padding, dilation))
    y = xp.empty((n, c, *out), x.dtype)
    indices = xp.empty((n, c, *out), xp.int64)
    launch(_max_pool_forward, y.size, x, y, indices, *kernel, *stride, *padding, *dilation)
    return y, indices


def max_pool2d_backward(grad_y, indices, x_shape, kernel, stride, padding, dilation):
    """dL/dx[p] = sum of dL/dy[o] over the windows o that read p and chose it."""
    xp = backend.get_array_module(grad_y)
    grad_x = xp.empty(x_shape, grad_y.dtype)
    launch(_max_pool_backward, grad_x.size, xp.ascontiguousarray(grad_y),
           xp.ascontiguousarray(indices), grad_x, *kernel, *stride, *padding, *dilation)
    return grad_x


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad,
                       divisor_override):
    """y[o] = (sum of the real pixels of window o) / D[o], D as in PyTorch."""
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    out = tuple(pool_output_length(*args, 1, ceil_mode) for args in
                zip((h, w), kernel, stride, padding))
    y = xp.empty((n, c, *out), x.dtype)
    launch(_avg_pool_forward, y.size, x, y, *kernel, *stride, *padding,
           bool(count_include_pad), int(divisor_override or 0))
    return y


def avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, count_include_pad,
                        divisor_override):
    """dL/dx[p] = sum of dL/dy[o] / D[o] over the windows o that contain p."""
    xp = backend.get_array_module(grad_y)
    grad_x = xp.empty(x_shape, grad_y.dtype)
    launch(_avg_pool_backward, grad_x.size, xp.ascontiguousarray(grad_y), grad_x, *kernel,
           *stride, *padding, bool(count_include_pad), int(divisor_override or 0))
    return grad_x
