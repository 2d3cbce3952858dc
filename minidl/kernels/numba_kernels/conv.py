"""Numba convolution kernels: im2col/col2im compiled and parallel, OpenBLAS for the GEMMs,
and direct kernels for depthwise convolution (groups == in_channels, MobileNet).

Same signatures and results as ``..reference.conv``. The batch is processed in chunks of
``nb`` samples whose im2col buffer, laid out channel-major as (C*kh*kw, nb*OH*OW), is
small enough (CHUNK_BYTES) to stay in the L3 cache between being written and being read
by the GEMM:

    forward        Y (O, nb*P)   = W (O, CK) @ cols (CK, nb*P)     -> y[chunk]
    input grad     gcols         = W^T (CK, O) @ G (O, nb*P)        -> col2im -> gx[chunk]
    weight grad    gW (O, CK)   += G (O, nb*P) @ cols^T             (one GEMM per chunk)

Deep layers (small OH*OW) take the whole batch in one chunk, so their GEMMs stay wide;
early layers take a few samples per chunk.
col2im is a gather: each thread owns whole (sample, channel) planes and adds the taps
into them in a fixed order, so the input gradient has the same bits on every run.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..reference.conv import output_length

__all__ = ["conv2d_backward_input", "conv2d_backward_weight", "conv2d_forward"]

CHUNK_BYTES = 8 * 2 ** 20  # cap on the im2col buffer of one chunk


@njit(inline="always")
def _valid_range(offset, size, stride, out):
    """Outputs o in [lo, hi) whose tap reads a real pixel: 0 <= o*stride + offset < size."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = min(out, (size - offset + stride - 1) // stride) if offset < size else 0
    return lo, max(lo, hi)


@njit(parallel=True, cache=True)
def _im2col(x, cols, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """cols[(c, i, j), b*P + oh*out_w + ow] = x[b, c, oh*sh - ph + i*dh, ow*sw - pw + j*dw]
    (0 in the padding), for the nb samples of x; rows in parallel."""
    nb, c, h, w = x.shape
    taps = kh * kw
    plane = out_h * out_w
    for task in prange(c * taps * nb):
        row, b = task // nb, task % nb
        ch, i, j = row // taps, (row % taps) // kw, row % kw
        dst = cols[row, b * plane:(b + 1) * plane]
        col_offset = j * dw - pw
        lo, hi = _valid_range(col_offset, w, sw, out_w)
        for oh in range(out_h):
            r = oh * sh - ph + i * dh
            base = oh * out_w
            if r < 0 or r >= h:
                dst[base:base + out_w] = 0
                continue
            src = x[b, ch, r]
            dst[base:base + lo] = 0
            for ow in range(lo, hi):
                dst[base + ow] = src[ow * sw + col_offset]
            dst[base + hi:base + out_w] = 0


@njit(parallel=True, cache=True)
def _col2im(cols, grad_x, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """grad_x[b, c] = sum over taps (i, j) of the column entries that were read from each
    pixel: the adjoint of _im2col, one (sample, channel) plane per task."""
    nb, c, h, w = grad_x.shape
    taps = kh * kw
    plane = out_h * out_w
    for task in prange(nb * c):
        b, ch = task // c, task % c
        gx = grad_x[b, ch]
        gx[:, :] = 0
        for t in range(taps):
            i, j = t // kw, t % kw
            src = cols[ch * taps + t, b * plane:(b + 1) * plane]
            col_offset = j * dw - pw
            lo, hi = _valid_range(col_offset, w, sw, out_w)
            for oh in range(out_h):
                r = oh * sh - ph + i * dh
                if r < 0 or r >= h:
                    continue
                dst = gx[r]
                base = oh * out_w
                for ow in range(lo, hi):
                    dst[ow * sw + col_offset] += src[base + ow]


def _geometry(x_shape, kernel, stride, padding, dilation):
    out_h = output_length(x_shape[2], kernel[0], stride[0], sum(padding[0]), dilation[0])
    out_w = output_length(x_shape[3], kernel[1], stride[1], sum(padding[1]), dilation[1])
    args = (*kernel, *stride, padding[0][0], padding[1][0], *dilation, out_h, out_w)
    return out_h, out_w, args


def _chunk(n, rows, plane, itemsize):
    """Samples per chunk: as many as fit in CHUNK_BYTES of im2col buffer (at least one)."""
    return min(n, max(1, CHUNK_BYTES // max(1, rows * plane * itemsize)))


def _is_depthwise(x_shape, weight_shape, groups):
    return groups > 1 and groups == x_shape[1] and weight_shape[1] == 1


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups):
    """y = conv(x, W) + b, chunk by chunk: im2col, one (grouped) GEMM, scatter to NCHW."""
    x = np.ascontiguousarray(x)
    if _is_depthwise(x.shape, weight.shape, groups):
        return _depthwise_forward(x, weight, bias, stride, padding, dilation)
    n, c = x.shape[:2]
    o, cg, kh, kw = weight.shape
    out_h, out_w, args = _geometry(x.shape, (kh, kw), stride, padding, dilation)
    plane = out_h * out_w
    w_groups = np.ascontiguousarray(weight).reshape(groups, o // groups, cg * kh * kw)
    y = np.empty((n, o, out_h, out_w), x.dtype)
    nb = _chunk(n, c * kh * kw, plane, x.itemsize)
    cols = np.empty((c * kh * kw, nb * plane), x.dtype)
    for start in range(0, n, nb):
        stop = min(n, start + nb)
        part = cols[:, :(stop - start) * plane]
        _im2col(x[start:stop], part, *args)
        product = np.matmul(w_groups, part.reshape(groups, cg * kh * kw, -1))
        y[start:stop] = product.reshape(o, stop - start, plane).transpose(1, 0, 2).reshape(
            stop - start, o, out_h, out_w)
    if bias is not None:
        y += bias.reshape(1, o, 1, 1)
    return y


def _channel_major(grad_y, start, stop, groups):
    """G = dL/dy of samples start..stop as (groups, O/groups, nb*P)."""
    part = grad_y[start:stop]
    nb, o = part.shape[:2]
    return np.ascontiguousarray(part.reshape(nb, o, -1).transpose(1, 0, 2)).reshape(
        groups, o // groups, -1)


def conv2d_backward_input(grad_y, weight, x_shape, stride, padding, dilation, groups):
    """dL/dx = col2im(W^T G), chunk by chunk."""
    grad_y = np.ascontiguousarray(grad_y)
    if _is_depthwise(x_shape, weight.shape, groups):
        return _depthwise_backward_input(grad_y, weight, x_shape, stride, padding, dilation)
    n, c = x_shape[:2]
    o, cg, kh, kw = weight.shape
    out_h, out_w = grad_y.shape[2:]
    _, _, args = _geometry(x_shape, (kh, kw), stride, padding, dilation)
    args = args[:-2] + (out_h, out_w)
    w_t = np.ascontiguousarray(
        np.asarray(weight).reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1))
    grad_x = np.empty(x_shape, grad_y.dtype)
    nb = _chunk(n, c * kh * kw, out_h * out_w, grad_y.itemsize)
    for start in range(0, n, nb):
        stop = min(n, start + nb)
        gcols = np.matmul(w_t, _channel_major(grad_y, start, stop, groups))
        _col2im(gcols.reshape(c * kh * kw, -1), grad_x[start:stop], *args)
    return grad_x


def conv2d_backward_weight(x, grad_y, weight_shape, stride, padding, dilation, groups):
    """dL/dW = sum over chunks of G @ cols^T."""
    x = np.ascontiguousarray(x)
    grad_y = np.ascontiguousarray(grad_y)
    if _is_depthwise(x.shape, weight_shape, groups):
        return _depthwise_backward_weight(x, grad_y, weight_shape, stride, padding, dilation)
    n, c = x.shape[:2]
    o, cg, kh, kw = weight_shape
    out_h, out_w = grad_y.shape[2:]
    _, _, args = _geometry(x.shape, (kh, kw), stride, padding, dilation)
    args = args[:-2] + (out_h, out_w)
    plane = out_h * out_w
    nb = _chunk(n, c * kh * kw, plane, x.itemsize)
    cols = np.empty((c * kh * kw, nb * plane), x.dtype)
    grad_w = np.zeros((groups, o // groups, cg * kh * kw), x.dtype)
    for start in range(0, n, nb):
        stop = min(n, start + nb)
        part = cols[:, :(stop - start) * plane]
        _im2col(x[start:stop], part, *args)
        part = part.reshape(groups, cg * kh * kw, -1)
        grad_w += np.matmul(_channel_major(grad_y, start, stop, groups), part.transpose(0, 2, 1))
    return grad_w.reshape(weight_shape)


# ----------------------------------------------------------------------------- depthwise
@njit(parallel=True, cache=True)
def _depthwise_forward_kernel(x, weight, y, sh, sw, ph, pw, dh, dw):
    """y[n, o] = sum over taps of weight[o, 0, i, j] * x[n, o // m] shifted, m = O / C."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    out_h, out_w = y.shape[2], y.shape[3]
    m = o // c
    for task in prange(n * o):
        b, oc = task // o, task % o
        src, dst = x[b, oc // m], y[b, oc]
        dst[:, :] = 0
        for i in range(kh):
            for j in range(kw):
                k = weight[oc, 0, i, j]
                col_offset = j * dw - pw
                lo, hi = _valid_range(col_offset, w, sw, out_w)
                for oh in range(out_h):
                    r = oh * sh - ph + i * dh
                    if r < 0 or r >= h:
                        continue
                    row, out_row = src[r], dst[oh]
                    for ow in range(lo, hi):
                        out_row[ow] += k * row[ow * sw + col_offset]


@njit(parallel=True, cache=True)
def _depthwise_backward_input_kernel(grad_y, weight, grad_x, sh, sw, ph, pw, dh, dw):
    """grad_x[n, c] = sum over the m outputs of channel c and their taps of weight * g,
    added into the pixel each tap read: one (sample, channel) plane per task."""
    n, c, h, w = grad_x.shape
    o, _, kh, kw = weight.shape
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    m = o // c
    for task in prange(n * c):
        b, ch = task // c, task % c
        dst = grad_x[b, ch]
        dst[:, :] = 0
        for oc in range(ch * m, (ch + 1) * m):
            g = grad_y[b, oc]
            for i in range(kh):
                for j in range(kw):
                    k = weight[oc, 0, i, j]
                    col_offset = j * dw - pw
                    lo, hi = _valid_range(col_offset, w, sw, out_w)
                    for oh in range(out_h):
                        r = oh * sh - ph + i * dh
                        if r < 0 or r >= h:
                            continue
                        row, g_row = dst[r], g[oh]
                        for ow in range(lo, hi):
                            row[ow * sw + col_offset] += k * g_row[ow]


@njit(parallel=True, cache=True)
def _depthwise_backward_weight_kernel(x, grad_y, grad_w, sh, sw, ph, pw, dh, dw):
    """grad_w[o, 0, i, j] = sum over samples and outputs of g * the pixel tap (i, j) read."""
    n, c, h, w = x.shape
    o, _, kh, kw = grad_w.shape
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    m = o // c
    for task in prange(o * kh * kw):
        oc, i, j = task // (kh * kw), (task % (kh * kw)) // kw, task % kw
        col_offset = j * dw - pw
        lo, hi = _valid_range(col_offset, w, sw, out_w)
        total = 0.0
        for b in range(n):
            src, g = x[b, oc // m], grad_y[b, oc]
            for oh in range(out_h):
                r = oh * sh - ph + i * dh
                if r < 0 or r >= h:
                    continue
                row, g_row = src[r], g[oh]
                for ow in range(lo, hi):
                    total += g_row[ow] * row[ow * sw + col_offset]
        grad_w[oc, 0, i, j] = total


def _depthwise_args(stride, padding, dilation):
    return (*stride, padding[0][0], padding[1][0], *dilation)


def _depthwise_forward(x, weight, bias, stride, padding, dilation):
    o, _, kh, kw = weight.shape
    out_h, out_w, _ = _geometry(x.shape, (kh, kw), stride, padding, dilation)
    y = np.empty((x.shape[0], o, out_h, out_w), x.dtype)
    _depthwise_forward_kernel(x, np.ascontiguousarray(weight), y,
                              *_depthwise_args(stride, padding, dilation))
    if bias is not None:
        y += bias.reshape(1, o, 1, 1)
    return y


def _depthwise_backward_input(grad_y, weight, x_shape, stride, padding, dilation):
    grad_x = np.empty(x_shape, grad_y.dtype)
    _depthwise_backward_input_kernel(grad_y, np.ascontiguousarray(weight), grad_x,
                                     *_depthwise_args(stride, padding, dilation))
    return grad_x


def _depthwise_backward_weight(x, grad_y, weight_shape, stride, padding, dilation):
    grad_w = np.empty(weight_shape, x.dtype)
    _depthwise_backward_weight_kernel(x, grad_y, grad_w,
                                      *_depthwise_args(stride, padding, dilation))
    return grad_w
