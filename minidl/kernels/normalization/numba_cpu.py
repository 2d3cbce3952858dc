"""Numba normalisation kernels: batch norm with one-pass statistics, each direction two
streaming passes, and local response norm. Same signatures as ``.reference``.

Batch norm views x as (N, C, S) (S = the spatial size, 1 for (N, C) inputs) and works
per channel, channels in parallel:

* forward, training: pass 1 sums x - k and (x - k)^2 per channel in float64, with k the
  channel's first value (a shift that keeps E[x^2] - E[x]^2 from cancelling); pass 2
  writes y = a_c x + b_c with a_c = weight * invstd, b_c = bias - mean * a_c.
* backward, training: pass 1 sums g and g * xhat per channel; pass 2 writes
  dL/dx = A_c g + B_c x + D_c, the reference formula
  weight * invstd * (g - mean(g) - xhat * mean(g xhat)) expanded into per-channel
  coefficients, so each element costs one fused multiply-add chain.

Between the two passes the channel's data is still in the 32 MB L3 cache for the layer
sizes that matter, so each direction costs close to one trip through memory.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

__all__ = ["batch_norm_backward_eval", "batch_norm_backward_train", "batch_norm_forward_eval",
           "batch_norm_forward_train", "local_response_norm_backward",
           "local_response_norm_forward"]

_REDUCE = {"reassoc", "contract", "nsz"}  # let sums vectorise; NaN/Inf still propagate


def _as_ncs(a):
    """A contiguous (N, C, S) view of an (N, C, *spatial) array."""
    a = np.ascontiguousarray(a)
    return a.reshape(a.shape[0], a.shape[1], -1)


@njit(parallel=True, cache=True, fastmath=_REDUCE)
def _channel_moments(x, mean, var):
    """mean and biased variance of every channel of x (N, C, S), shifted sums in float64."""
    n, c, s = x.shape
    count = n * s
    for ch in prange(c):
        shift = np.float64(x[0, ch, 0])
        total = 0.0
        squares = 0.0
        for i in range(n):
            for k in range(s):
                d = x[i, ch, k] - shift
                total += d
                squares += d * d
        m = total / count
        mean[ch] = shift + m
        var[ch] = max(squares / count - m * m, 0.0)


@njit(parallel=True, cache=True, fastmath={"contract"})
def _affine_per_channel(x, out, scale, shift):
    """out = x * scale[c] + shift[c] for every (n, c) row, rows in parallel."""
    n, c, s = x.shape
    for row in prange(n * c):
        i, ch = row // c, row % c
        a, b = scale[ch], shift[ch]
        for k in range(s):
            out[i, ch, k] = x[i, ch, k] * a + b


@njit(parallel=True, cache=True, fastmath=_REDUCE)
def _gradient_sums(g, x, mean, sum_g, sum_g_centred):
    """Per channel: sum of g and sum of g * (x - mean), in float64."""
    n, c, s = x.shape
    for ch in prange(c):
        m = mean[ch]
        total = 0.0
        weighted = 0.0
        for i in range(n):
            for k in range(s):
                gv = np.float64(g[i, ch, k])
                total += gv
                weighted += gv * (x[i, ch, k] - m)
        sum_g[ch] = total
        sum_g_centred[ch] = weighted


@njit(parallel=True, cache=True, fastmath={"contract"})
def _combine_per_channel(g, x, out, a, b, d):
    """out = a[c] g + b[c] x + d[c] for every (n, c) row, rows in parallel."""
    n, c, s = x.shape
    for row in prange(n * c):
        i, ch = row // c, row % c
        ac, bc, dc = a[ch], b[ch], d[ch]
        for k in range(s):
            out[i, ch, k] = ac * g[i, ch, k] + bc * x[i, ch, k] + dc


def _invstd(var, eps):
    return 1.0 / np.sqrt(np.asarray(var, np.float64) + eps)


def _scale_shift(weight, bias, mean, var, eps, dtype):
    """a = weight * invstd and b = bias - mean * a, so that y = a x + b per channel."""
    a = _invstd(var, eps) * (1.0 if weight is None else weight)
    b = (0.0 if bias is None else bias) - np.asarray(mean, np.float64) * a
    return a.astype(dtype), np.broadcast_to(b, a.shape).astype(dtype)


def batch_norm_forward_train(x, weight, bias, eps):
    """Batch statistics in one pass, then y = weight * (x - mean) * invstd + bias."""
    x3 = _as_ncs(x)
    mean = np.empty(x3.shape[1], np.float64)
    var = np.empty(x3.shape[1], np.float64)
    _channel_moments(x3, mean, var)
    y = np.empty_like(x3)
    _affine_per_channel(x3, y, *_scale_shift(weight, bias, mean, var, eps, x.dtype))
    return y.reshape(x.shape), mean.astype(x.dtype), var.astype(x.dtype)


def batch_norm_backward_train(grad_y, x, weight, mean, var, eps, needs):
    """dL/dbias = sum g, dL/dweight = sum g xhat and
    dL/dx = w invstd (g - sum g / M - xhat sum(g xhat) / M) = A g + B x + D per channel."""
    needs_x, needs_w, needs_b = needs
    x3, g3 = _as_ncs(x), _as_ncs(grad_y)
    channels, count = x3.shape[1], x3.shape[0] * x3.shape[2]
    mean64 = np.asarray(mean, np.float64)
    invstd = _invstd(var, eps)
    sum_g = np.empty(channels, np.float64)
    sum_g_centred = np.empty(channels, np.float64)
    _gradient_sums(g3, x3, mean64, sum_g, sum_g_centred)
    sum_g_xhat = sum_g_centred * invstd
    gx = None
    if needs_x:
        scale = invstd * (1.0 if weight is None else np.asarray(weight, np.float64))
        coef_x = -scale * invstd * sum_g_xhat / count
        constant = -scale * sum_g / count - coef_x * mean64
        gx = np.empty_like(g3)
        _combine_per_channel(g3, x3, gx, scale.astype(x.dtype), coef_x.astype(x.dtype),
                             constant.astype(x.dtype))
        gx = gx.reshape(x.shape)
    gw = sum_g_xhat.astype(x.dtype) if needs_w else None
    gb = sum_g.astype(x.dtype) if needs_b else None
    return gx, gw, gb


def batch_norm_forward_eval(x, weight, bias, mean, var, eps):
    """y = weight * (x - running_mean) * invstd + bias: one affine pass."""
    x3 = _as_ncs(x)
    y = np.empty_like(x3)
    _affine_per_channel(x3, y, *_scale_shift(weight, bias, mean, var, eps, x.dtype))
    return y.reshape(x.shape)


def batch_norm_backward_eval(grad_y, x, weight, mean, var, eps, needs):
    """dL/dx = g * weight * invstd; dL/dweight = sum g xhat; dL/dbias = sum g."""
    needs_x, needs_w, needs_b = needs
    x3, g3 = _as_ncs(x), _as_ncs(grad_y)
    invstd = _invstd(var, eps)
    gx = gw = gb = None
    if needs_x:
        scale = invstd * (1.0 if weight is None else np.asarray(weight, np.float64))
        gx = np.empty_like(g3)
        _affine_per_channel(g3, gx, scale.astype(x.dtype), np.zeros(x3.shape[1], x.dtype))
        gx = gx.reshape(x.shape)
    if needs_w or needs_b:
        sum_g = np.empty(x3.shape[1], np.float64)
        sum_g_centred = np.empty(x3.shape[1], np.float64)
        _gradient_sums(g3, x3, np.asarray(mean, np.float64), sum_g, sum_g_centred)
        gw = (sum_g_centred * invstd).astype(x.dtype) if needs_w else None
        gb = sum_g.astype(x.dtype) if needs_b else None
    return gx, gw, gb


# ----------------------------------------------------------------------------- LRN
@njit(parallel=True, cache=True)
def _lrn_forward(x, y, scale, size, alpha, beta, k):
    """scale[c] = k + alpha/size * sum of x[j]^2 over the channel window; y = x scale^-beta."""
    n, c, s = x.shape
    before, after = size // 2, (size - 1) // 2
    for row in prange(n * c):
        i, ch = row // c, row % c
        lo, hi = max(0, ch - before), min(c, ch + after + 1)
        for q in range(s):
            total = 0.0
            for j in range(lo, hi):
                total += x[i, j, q] * x[i, j, q]
            b = k + alpha / size * total
            scale[i, ch, q] = b
            y[i, ch, q] = x[i, ch, q] * math.exp(-beta * math.log(b))


@njit(parallel=True, cache=True)
def _lrn_backward(g, x, y, scale, gx, size, alpha, beta):
    """dL/dx_j = g_j b_j^-beta - (2 alpha beta/size) x_j sum over c with j in W(c) of
    g_c y_c / b_c, the mirrored window (size-1)//2 before and size//2 after j."""
    n, c, s = x.shape
    before, after = (size - 1) // 2, size // 2
    factor = 2.0 * alpha * beta / size
    for row in prange(n * c):
        i, ch = row // c, row % c
        lo, hi = max(0, ch - before), min(c, ch + after + 1)
        for q in range(s):
            total = 0.0
            for j in range(lo, hi):
                total += g[i, j, q] * y[i, j, q] / scale[i, j, q]
            b = scale[i, ch, q]
            gx[i, ch, q] = g[i, ch, q] * math.exp(-beta * math.log(b)) - factor * x[i, ch, q] * total


def local_response_norm_forward(x, size, alpha, beta, k):
    """AlexNet's LRN; returns y and the per-element scale b (kept for the backward)."""
    x3 = _as_ncs(x)
    y, scale = np.empty_like(x3), np.empty_like(x3)
    _lrn_forward(x3, y, scale, size, alpha, beta, k)
    return y.reshape(x.shape), scale.reshape(x.shape)


def local_response_norm_backward(grad_y, x, y, scale, size, alpha, beta):
    """See ``_lrn_backward``; the same formula as the reference kernel."""
    x3 = _as_ncs(x)
    gx = np.empty_like(x3)
    _lrn_backward(_as_ncs(grad_y), x3, _as_ncs(y), _as_ncs(scale), gx, size, alpha, beta)
    return gx.reshape(x.shape)
