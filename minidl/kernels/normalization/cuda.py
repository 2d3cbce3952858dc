"""Numba-CUDA normalisation kernels: batch norm and local response norm. Same signatures
and results as ``.reference``.

Batch norm views x as (N, C, S) (S = the spatial size, 1 for (N, C) inputs) and needs two
kinds of kernel:

* per-channel sums over the M = N*S values of each channel, ``channel_sums``:
      sum of a = u - u0[c]   and   sum of a * (v - v0[c])
  The forward pass takes u = v = x and u0 = v0 = the channel's first value (a shift that
  keeps E[d^2] - E[d]^2 from cancelling), giving mean and variance in one pass; the
  backward pass takes u = g, u0 = 0, v = x, v0 = mean, giving sum g and sum g (x - mean).
  A two-level reduction in float64 with no atomics: blocks (c, part) each reduce a fixed
  share of channel c into ``partials[c, part]`` (``block_sum``), then one block per channel
  adds its parts the same way. The split depends only on the shape, so the sums have the
  same bits on every run.
* elementwise maps with per-channel coefficients, one thread per element:
      forward         y = a[c] x + b[c]          a = weight * invstd, b = bias - mean * a
      backward        dL/dx = A[c] g + B[c] x + D[c]
  where the reference formula weight * invstd * (g - mean(g) - xhat * mean(g xhat)) is
  expanded into per-channel coefficients (C values, computed with the array module).

Local response norm: one thread per element, summing over its window of channels.
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda, float64

from ... import backend
from ..cuda_common import (ITEMS_PER_THREAD, THREADS, array, block_sum, float_signatures, int64,
                      launch, reduction_threads)

__all__ = ["batch_norm_backward_eval", "batch_norm_backward_train", "batch_norm_forward_eval",
           "batch_norm_forward_train", "local_response_norm_backward",
           "local_response_norm_forward"]

MAX_PARTS = 64  # most blocks one channel is split into


# ----------------------------------------------------------------------------- batch norm
@cuda.jit
def _partial_sums(u, u0, v, v0, partials):
    """partials[c, part, 0] = sum of a = u[n, c, s] - u0[c] and partials[c, part, 1] = sum
    of a * (v[n, c, s] - v0[c]) over this block's share of channel c.

    Block (c, part) = (blockIdx.x, blockIdx.y); the M = N*S values of channel c are taken
    in flat order e = n*S + s, and thread t of block part sums e = part*T + t + k*parts*T
    (T = blockDim.x, k = 0, 1, ...), then the block adds its threads' sums.
    """
    shared = cuda.shared.array(THREADS, float64)
    n_samples, spatial = u.shape[0], u.shape[2]
    c, part = cuda.blockIdx.x, cuda.blockIdx.y
    step = cuda.gridDim.y * cuda.blockDim.x
    total = np.float64(0)
    weighted = np.float64(0)
    for e in range(part * cuda.blockDim.x + cuda.threadIdx.x, n_samples * spatial, step):
        n, s = e // spatial, e % spatial
        a = u[n, c, s] - u0[c]
        total += a
        weighted += a * (v[n, c, s] - v0[c])
    total = block_sum(shared, total)
    weighted = block_sum(shared, weighted)
    if cuda.threadIdx.x == 0:
        partials[c, part, 0] = total
        partials[c, part, 1] = weighted


@cuda.jit
def _sum_parts(partials, sums):
    """sums[c, k] = sum over parts of partials[c, part, k]: one block per channel c,
    thread t taking parts t, t + blockDim.x, ..., then ``block_sum``."""
    shared = cuda.shared.array(THREADS, float64)
    c = cuda.blockIdx.x
    for k in range(2):
        total = np.float64(0)
        for part in range(cuda.threadIdx.x, partials.shape[1], cuda.blockDim.x):
            total += partials[c, part, k]
        total = block_sum(shared, total)
        if cuda.threadIdx.x == 0:
            sums[c, k] = total


@cuda.jit
def _per_channel_affine(x, out, a, b, channels, spatial):
    """out[i] = a[c] * x[i] + b[c] for the flat (N, C, S) arrays x and out, c = the channel
    of element i. One thread per element."""
    i = cuda.grid(1)
    if i < x.size:
        c = (i // spatial) % channels
        out[i] = a[c] * x[i] + b[c]


@cuda.jit
def _per_channel_combine(g, x, out, a, b, d, channels, spatial):
    """out[i] = a[c] * g[i] + b[c] * x[i] + d[c], c = the channel of element i. One thread
    per element."""
    i = cuda.grid(1)
    if i < x.size:
        c = (i // spatial) % channels
        out[i] = a[c] * g[i] + b[c] * x[i] + d[c]


def _as_ncs(a):
    """A contiguous (N, C, S) view of an (N, C, *spatial) array."""
    a = backend.get_array_module(a).ascontiguousarray(a)
    return a.reshape(a.shape[0], a.shape[1], -1)


def channel_sums(u, u0, v, v0, max_threads=THREADS):
    """(sum of a, sum of a * (v - v0[c])) per channel with a = u - u0[c], two (C,) float64
    arrays; u and v are (N, C, S), u0 and v0 (C,) float64.

    Each channel's M values are split over ``parts`` blocks of ``threads`` threads (at most
    ``max_threads``) so that a thread sums about ITEMS_PER_THREAD of them, up to MAX_PARTS
    blocks; the tests lower ``max_threads`` to reach several parts with tiny inputs.
    """
    xp = backend.get_array_module(u)
    n, c, s = u.shape
    threads = reduction_threads(n * s, max_threads)
    parts = min(MAX_PARTS, -(-n * s // (threads * ITEMS_PER_THREAD)))
    partials = xp.empty((c, parts, 2), np.float64)
    _partial_sums[(c, parts), threads](u, u0, v, v0, partials)
    sums = xp.empty((c, 2), np.float64)
    _sum_parts[c, reduction_threads(parts)](partials, sums)
    return sums[:, 0], sums[:, 1]


def _affine(x3, a, b):
    """a[c] * x + b[c] over an (N, C, S) array, with a and b cast to x's dtype."""
    xp = backend.get_array_module(x3)
    out = xp.empty_like(x3)
    launch(_per_channel_affine, x3.size, x3.reshape(-1), out.reshape(-1),
           a.astype(x3.dtype), b.astype(x3.dtype), x3.shape[1], x3.shape[2])
    return out


def _invstd(var, eps):
    xp = backend.get_array_module(var)
    return 1.0 / xp.sqrt(var.astype(np.float64) + eps)


def _scale_shift(weight, bias, mean, var, eps):
    """a = weight * invstd and b = bias - mean * a (float64), so that y = a x + b."""
    a = _invstd(var, eps) * (1.0 if weight is None else weight)
    b = (0.0 if bias is None else bias) - mean.astype(np.float64) * a
    return a, b


def batch_norm_forward_train(x, weight, bias, eps):
    """Batch statistics in one (shifted) pass, then y = weight * (x - mean) * invstd + bias."""
    xp = backend.get_array_module(x)
    x3 = _as_ncs(x)
    count = x3.shape[0] * x3.shape[2]
    shift = x3[0, :, 0].astype(np.float64)
    sum_d, sum_d2 = channel_sums(x3, shift, x3, shift)
    mean_d = sum_d / count
    mean = shift + mean_d
    var = xp.maximum(sum_d2 / count - mean_d * mean_d, 0.0)
    y = _affine(x3, *_scale_shift(weight, bias, mean, var, eps))
    return y.reshape(x.shape), mean.astype(x.dtype), var.astype(x.dtype)


def batch_norm_backward_train(grad_y, x, weight, mean, var, eps, needs):
    """dL/dbias = sum g, dL/dweight = sum g xhat and
    dL/dx = w invstd (g - sum g / M - xhat sum(g xhat) / M) = A g + B x + D per channel."""
    xp = backend.get_array_module(grad_y)
    needs_x, needs_w, needs_b = needs
    x3, g3 = _as_ncs(x), _as_ncs(grad_y)
    channels, count = x3.shape[1], x3.shape[0] * x3.shape[2]
    mean64 = mean.astype(np.float64)
    invstd = _invstd(var, eps)
    sum_g, sum_g_centred = channel_sums(g3, xp.zeros(channels, np.float64), x3, mean64)
    sum_g_xhat = sum_g_centred * invstd
    gx = None
    if needs_x:
        scale = invstd * (1.0 if weight is None else weight)
        coef_x = -scale * invstd * sum_g_xhat / count
        constant = -scale * sum_g / count - coef_x * mean64
        gx = xp.empty_like(g3)
        launch(_per_channel_combine, g3.size, g3.reshape(-1), x3.reshape(-1), gx.reshape(-1),
               scale.astype(x.dtype), coef_x.astype(x.dtype), constant.astype(x.dtype),
               channels, x3.shape[2])
        gx = gx.reshape(x.shape)
    gw = sum_g_xhat.astype(x.dtype) if needs_w else None
    gb = sum_g.astype(x.dtype) if needs_b else None
    return gx, gw, gb


def batch_norm_forward_eval(x, weight, bias, mean, var, eps):
    """y = weight * (x - running_mean) * invstd + bias: one affine pass."""
    return _affine(_as_ncs(x), *_scale_shift(weight, bias, mean, var, eps)).reshape(x.shape)


def batch_norm_backward_eval(grad_y, x, weight, mean, var, eps, needs):
    """dL/dx = g * weight * invstd; dL/dweight = sum g xhat; dL/dbias = sum g."""
    xp = backend.get_array_module(grad_y)
    needs_x, needs_w, needs_b = needs
    x3, g3 = _as_ncs(x), _as_ncs(grad_y)
    invstd = _invstd(var, eps)
    gx = gw = gb = None
    if needs_x:
        scale = invstd * (1.0 if weight is None else weight)
        gx = _affine(g3, scale, xp.zeros_like(scale)).reshape(x.shape)
    if needs_w or needs_b:
        sum_g, sum_g_centred = channel_sums(g3, xp.zeros(x3.shape[1], np.float64), x3,
                                             mean.astype(np.float64))
        gw = (sum_g_centred * invstd).astype(x.dtype) if needs_w else None
        gb = sum_g.astype(x.dtype) if needs_b else None
    return gx, gw, gb


# ----------------------------------------------------------------------------- LRN
@cuda.jit
def _lrn_forward(x, y, scale, size, alpha, beta, k):
    """scale[n, c, s] = k + alpha/size * sum of x[n, j, s]^2 over
    c - size//2 <= j <= c + (size-1)//2 (inside 0..C-1), y = x * scale^-beta.
    One thread per element of the (N, C, S) arrays."""
    channels, spatial = x.shape[1], x.shape[2]
    i = cuda.grid(1)
    if i < x.size:
        n, c, s = i // (channels * spatial), (i // spatial) % channels, i % spatial
        total = np.float64(0)
        for j in range(max(0, c - size // 2), min(channels, c + (size - 1) // 2 + 1)):
            total += x[n, j, s] * x[n, j, s]
        b = k + alpha / size * total
        scale[n, c, s] = b
        y[n, c, s] = x[n, c, s] * math.pow(b, -beta)


@cuda.jit
def _lrn_backward(g, x, y, scale, grad_x, size, alpha, beta):
    """grad_x[j] = g_j b_j^-beta - (2 alpha beta / size) x_j * sum of g_c y_c / b_c over
    the channels c whose window holds j: j - (size-1)//2 <= c <= j + size//2.
    One thread per element of the (N, C, S) arrays."""
    channels, spatial = x.shape[1], x.shape[2]
    i = cuda.grid(1)
    if i < x.size:
        n, j, s = i // (channels * spatial), (i // spatial) % channels, i % spatial
        total = np.float64(0)
        for c in range(max(0, j - (size - 1) // 2), min(channels, j + size // 2 + 1)):
            total += g[n, c, s] * y[n, c, s] / scale[n, c, s]
        factor = 2.0 * alpha * beta / size
        grad_x[n, j, s] = (g[n, j, s] * math.pow(scale[n, j, s], -beta)
                           - factor * x[n, j, s] * total)


PTX_SIGNATURES = [
    (_partial_sums,
     float_signatures(lambda f: (array(f, 3), array(float64, 1), array(f, 3), array(float64, 1),
                                 array(float64, 3)))),
    (_sum_parts, ((array(float64, 3), array(float64, 2)),)),
    (_per_channel_affine, float_signatures(lambda f: (array(f, 1),) * 4 + (int64,) * 2)),
    (_per_channel_combine, float_signatures(lambda f: (array(f, 1),) * 6 + (int64,) * 2)),
    (_lrn_forward, float_signatures(lambda f: (array(f, 3),) * 3 + (int64,) + (float64,) * 3)),
    (_lrn_backward, float_signatures(lambda f: (array(f, 3),) * 5 + (int64,) + (float64,) * 2)),
]


def local_response_norm_forward(x, size, alpha, beta, k):
    """AlexNet's LRN; returns y and the per-element scale b (kept for the backward)."""
    xp = backend.get_array_module(x)
    x3 = _as_ncs(x)
    y, scale = xp.empty_like(x3), xp.empty_like(x3)
    launch(_lrn_forward, x3.size, x3, y, scale, int(size), float(alpha), float(beta),
           float(k))
    return y.reshape(x.shape), scale.reshape(x.shape)


def local_response_norm_backward(grad_y, x, y, scale, size, alpha, beta):
    """See ``_lrn_backward``; the same formula as the reference kernel."""
    xp = backend.get_array_module(x)
    x3 = _as_ncs(x)
    grad_x = xp.empty_like(x3)
    launch(_lrn_backward, x3.size, _as_ncs(grad_y), x3, _as_ncs(y), _as_ncs(scale), grad_x,
           int(size), float(alpha), float(beta))
    return grad_x.reshape(x.shape)
