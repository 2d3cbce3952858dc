"""Numba-CUDA convolution kernels: im2col on the GPU with the array module's GEMM (cuBLAS
through CuPy), col2im as a gather, and direct kernels for depthwise convolution
(groups == in_channels, any channel multiplier: MobileNet).

Same signatures and results as ``.reference``. Shapes: x (N, C, H, W), weight
(O, C/G, kh, kw), y (N, O, OH, OW). P = OH*OW output positions and CK = C*kh*kw rows, row
(c, i, j) being c*kh*kw + i*kw + j. ``_im2col`` writes the column entry (n, row, p) at

    n * sample_stride + row * row_stride + p

of a flat buffer, which gives the two layouts the GEMMs read as they are:

    per sample    (N, CK, P)   forward      y[n] = W (G, O/G, CK/G) @ cols[n] (G, CK/G, P)
                               input grad   gcols[n] = W^T @ dL/dy[n]  -> _col2im -> dL/dx
    channel-major (CK, N*P)    weight grad  dL/dW = Gy (G, O/G, N*P) @ cols^T (G, N*P, CK/G)

so the forward output is NCHW without a transpose, and the weight gradient is a single
GEMM whose inner dimension runs over the whole batch. Floating sums in the kernels below
run in float64 and in a fixed order, so every pass gives the same bits on every run.
"""
from __future__ import annotations

import numpy as np
from numba import cuda, float64

from ... import backend
from ...geometry import conv_output_length
from ..cuda_common import (THREADS, array, block_sum, float_signatures, int64, launch,
                      reduction_threads, unravel4, window_reading)

__all__ = ["conv2d_backward_input", "conv2d_backward_weight", "conv2d_forward"]


@cuda.jit
def _im2col(x, cols, kh, kw, sh, sw, pt, pl, dh, dw, out_h, out_w, sample_stride, row_stride):
    """cols[n * sample_stride + row * row_stride + p] = x[n, c, oh*sh - pt + i*dh,
    ow*sw - pl + j*dw] for row = (c, i, j) and p = (oh, ow), 0 where that is padding.

    One thread per column entry, t = (n * CK + row) * P + p: consecutive threads fill
    consecutive positions of one row.
    """
    n_samples, channels, h, w = x.shape
    taps = kh * kw
    plane = out_h * out_w
    t = cuda.grid(1)
    if t < n_samples * channels * taps * plane:
        p = t % plane
        row = (t // plane) % (channels * taps)
        n = t // (plane * channels * taps)
        c, i, j = row // taps, (row % taps) // kw, row % kw
        r = (p // out_w) * sh - pt + i * dh
        q = (p % out_w) * sw - pl + j * dw
        at = n * sample_stride + row * row_stride + p
        if 0 <= r < h and 0 <= q < w:
            cols[at] = x[n, c, r, q]
        else:
            cols[at] = 0


@cuda.jit
def _col2im(gcols, grad_x, kh, kw, sh, sw, pt, pl, dh, dw, out_h, out_w):
    """grad_x[n, c, r, q] = sum over taps (i, j) of gcols[n, (c, i, j), (oh, ow)] for the
    output (oh, ow) whose tap (i, j) read pixel (r, q): the adjoint of ``_im2col``.

    One thread per input pixel (a gather, so no two threads write the same place); the
    taps are added in row-major order.
    """
    channels, h, w = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    t = cuda.grid(1)
    if t < grad_x.size:
        n, c, r, q = unravel4(t, channels, h, w)
        total = np.float64(0)
        for i in range(kh):
            oh = window_reading(r, i * dh - pt, sh, out_h)
            if oh < 0:
                continue
            for j in range(kw):
                ow = window_reading(q, j * dw - pl, sw, out_w)
                if ow >= 0:
                    total += gcols[n, (c * kh + i) * kw + j, oh * out_w + ow]
        grad_x[n, c, r, q] = total


@cuda.jit
def _depthwise_forward(x, weight, y, sh, sw, pt, pl, dh, dw):
    """y[n, o, oh, ow] = sum over taps (i, j) of weight[o, 0, i, j] *
    x[n, o // m, oh*sh - pt + i*dh, ow*sw - pl + j*dw] (real pixels only), m = O / C.

    One thread per output element.
    """
    channels, h, w = x.shape[1], x.shape[2], x.shape[3]
    outs, _, kh, kw = weight.shape
    out_h, out_w = y.shape[2], y.shape[3]
    t = cuda.grid(1)
    if t < y.size:
        n, o, oh, ow = unravel4(t, outs, out_h, out_w)
        c = o // (outs // channels)
        total = np.float64(0)
        for i in range(kh):
            r = oh * sh - pt + i * dh
            if r < 0 or r >= h:
                continue
            for j in range(kw):
                q = ow * sw - pl + j * dw
                if 0 <= q < w:
                    total += weight[o, 0, i, j] * x[n, c, r, q]
        y[n, o, oh, ow] = total


@cuda.jit
def _depthwise_backward_input(grad_y, weight, grad_x, sh, sw, pt, pl, dh, dw):
    """grad_x[n, c, r, q] = sum over the m outputs o of channel c, and over the taps (i, j)
    whose output (oh, ow) read pixel (r, q), of weight[o, 0, i, j] * grad_y[n, o, oh, ow].

    One thread per input pixel (a gather); outputs, then taps in row-major order.
    """
    channels, h, w = grad_x.shape[1], grad_x.shape[2], grad_x.shape[3]
    outs, _, kh, kw = weight.shape
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    m = outs // channels
    t = cuda.grid(1)
    if t < grad_x.size:
        n, c, r, q = unravel4(t, channels, h, w)
        total = np.float64(0)
        for o in range(c * m, (c + 1) * m):
            for i in range(kh):
                oh = window_reading(r, i * dh - pt, sh, out_h)
                if oh < 0:
                    continue
                for j in range(kw):
                    ow = window_reading(q, j * dw - pl, sw, out_w)
                    if ow >= 0:
                        total += weight[o, 0, i, j] * grad_y[n, o, oh, ow]
        grad_x[n, c, r, q] = total


@cuda.jit
def _depthwise_backward_weight(x, grad_y, grad_w, sh, sw, pt, pl, dh, dw):
    """grad_w[o, 0, i, j] = sum over (n, oh, ow) of grad_y[n, o, oh, ow] *
    x[n, o // m, oh*sh - pt + i*dh, ow*sw - pl + j*dw] (real pixels only).

    One block per weight entry, blockIdx.x = (o * kh + i) * kw + j. Thread t sums the
    outputs t, t + blockDim.x, ... of the N*OH*OW, then ``block_sum`` adds the threads'
    sums in a fixed tree.
    """
    shared = cuda.shared.array(THREADS, float64)
    n_samples, channels, h, w = x.shape
    outs, _, kh, kw = grad_w.shape
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    entry = cuda.blockIdx.x
    o, i, j = entry // (kh * kw), (entry // kw) % kh, entry % kw
    c = o // (outs // channels)
    plane = out_h * out_w
    total = np.float64(0)
    for e in range(cuda.threadIdx.x, n_samples * plane, cuda.blockDim.x):
        n, oh, ow = e // plane, (e % plane) // out_w, e % out_w
        r = oh * sh - pt + i * dh
        q = ow * sw - pl + j * dw
        if 0 <= r < h and 0 <= q < w:
            total += grad_y[n, o, oh, ow] * x[n, c, r, q]
    total = block_sum(shared, total)
    if cuda.threadIdx.x == 0:
        grad_w[o, 0, i, j] = total


_STEPS = (int64,) * 6  # sh, sw, pt, pl, dh, dw
PTX_SIGNATURES = [
    (_im2col, float_signatures(lambda f: (array(f, 4), array(f, 1)) + (int64,) * 12)),
    (_col2im, float_signatures(lambda f: (array(f, 3), array(f, 4)) + (int64,) * 10)),
    (_depthwise_forward, float_signatures(lambda f: (array(f, 4),) * 3 + _STEPS)),
    (_depthwise_backward_input, float_signatures(lambda f: (array(f, 4),) * 3 + _STEPS)),
    (_depthwise_backward_weight, float_signatures(lambda f: (array(f, 4),) * 3 + _STEPS)),
]


# ----------------------------------------------------------------------------- host side
def _steps(stride, padding, dilation):
    """(sh, sw, pt, pl, dh, dw): strides, top/left padding and dilations."""
    return (*stride, padding[0][0], padding[1][0], *dilation)


def _output_size(x_shape, kernel, stride, padding, dilation):
    return tuple(conv_output_length(size, k, s, sum(p), d) for size, k, s, p, d in
                 zip(x_shape[2:], kernel, stride, padding, dilation))


def _is_depthwise(x_shape, weight_shape, groups):
    return groups > 1 and groups == x_shape[1] and weight_shape[1] == 1


def _columns(x, kernel, stride, padding, dilation, out_size, channel_major):
    """im2col of the whole batch: (N, CK, P), or (CK, N*P) when ``channel_major``."""
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    rows, plane = c * kernel[0] * kernel[1], out_size[0] * out_size[1]
    cols = xp.empty(n * rows * plane, x.dtype)
    strides = (plane, n * plane) if channel_major else (rows * plane, plane)
    launch(_im2col, cols.size, x, cols, *kernel, *_steps(stride, padding, dilation),
           *out_size, *strides)
    return cols.reshape((rows, n * plane) if channel_major else (n, rows, plane))


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups):
    """y = conv(x, W) + b: the depthwise kernel, or im2col and one batched GEMM."""
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    n = x.shape[0]
    o, cg, kh, kw = weight.shape
    out_h, out_w = _output_size(x.shape, (kh, kw), stride, padding, dilation)
    if _is_depthwise(x.shape, weight.shape, groups):
        y = xp.empty((n, o, out_h, out_w), x.dtype)
        launch(_depthwise_forward, y.size, x, xp.ascontiguousarray(weight), y,
               *_steps(stride, padding, dilation))
    else:
        cols = _columns(x, (kh, kw), stride, padding, dilation, (out_h, out_w), False)
        y = xp.matmul(weight.reshape(groups, o // groups, cg * kh * kw),
                      cols.reshape(n, groups, cg * kh * kw, out_h * out_w))
        y = y.reshape(n, o, out_h, out_w)
    if bias is not None:
        y += bias.reshape(1, o, 1, 1)
    return y


def conv2d_backward_input(grad_y, weight, x_shape, stride, padding, dilation, groups):
    """dL/dx: the depthwise gather, or col2im(W^T @ dL/dy)."""
    xp = backend.get_array_module(grad_y)
    grad_y = xp.ascontiguousarray(grad_y)
    n, o, out_h, out_w = grad_y.shape
    _, cg, kh, kw = weight.shape
    grad_x = xp.empty(x_shape, grad_y.dtype)
    if _is_depthwise(x_shape, weight.shape, groups):
        launch(_depthwise_backward_input, grad_x.size, grad_y, xp.ascontiguousarray(weight),
               grad_x, *_steps(stride, padding, dilation))
        return grad_x
    w_t = weight.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1)
    gcols = xp.matmul(w_t, grad_y.reshape(n, groups, o // groups, out_h * out_w))
    gcols = xp.ascontiguousarray(gcols).reshape(n, x_shape[1] * kh * kw, out_h * out_w)
    launch(_col2im, grad_x.size, gcols, grad_x, kh, kw, *_steps(stride, padding, dilation),
           out_h, out_w)
    return grad_x


def conv2d_backward_weight(x, grad_y, weight_shape, stride, padding, dilation, groups):
    """dL/dW: the depthwise block reduction, or one GEMM of dL/dy with the columns."""
    xp = backend.get_array_module(x)
    x = xp.ascontiguousarray(x)
    grad_y = xp.ascontiguousarray(grad_y)
    n, o, out_h, out_w = grad_y.shape
    _, cg, kh, kw = weight_shape
    if _is_depthwise(x.shape, weight_shape, groups):
        grad_w = xp.empty(weight_shape, x.dtype)
        launch_shape = grad_w.size, reduction_threads(n * out_h * out_w)
        _depthwise_backward_weight[launch_shape](x, grad_y, grad_w,
                                                 *_steps(stride, padding, dilation))
        return grad_w
    cols = _columns(x, (kh, kw), stride, padding, dilation, (out_h, out_w), True)
    plane = n * out_h * out_w
    gy = xp.ascontiguousarray(grad_y.reshape(n, o, -1).transpose(1, 0, 2))
    grad_w = xp.matmul(gy.reshape(groups, o // groups, plane),
                       cols.reshape(groups, cg * kh * kw, plane).transpose(0, 2, 1))
    return grad_w.reshape(weight_shape)
