"""Numba pooling kernels: max pooling with its argmax switches fused into the forward pass,
and average pooling. Same signatures and results as ``.reference``.

Forward passes loop over (n, c) planes in parallel and, inside a plane, over output
positions and the kernel taps that land on real pixels (padding never wins a max and adds
nothing to a sum). Backward passes are gathers: each input pixel visits the few outputs
whose windows contain it, in a fixed order, and sums their gradients, so no two threads
ever write the same pixel and the result is the same bits every time.
"""
from __future__ import annotations

import functools

import numpy as np
from numba import njit, prange, uint64

from ...geometry import pool_output_length
from .reference import (adaptive_avg_pool2d_backward, adaptive_avg_pool2d_forward,  # no Numba versions
                        adaptive_max_pool2d_backward, adaptive_max_pool2d_forward,
                        average_divisor, max_unpool2d_backward, max_unpool2d_forward)

__all__ = ["adaptive_avg_pool2d_backward", "adaptive_avg_pool2d_forward",
           "adaptive_max_pool2d_backward", "adaptive_max_pool2d_forward", "avg_pool2d_backward",
           "avg_pool2d_forward", "max_pool2d_backward", "max_pool2d_forward",
           "max_unpool2d_backward", "max_unpool2d_forward"]


@njit(inline="always")
def _first_tap(start, size, dilation, kernel):
    """Taps t of a window starting at ``start`` that read real pixels: first and stop."""
    first = 0 if start >= 0 else (-start + dilation - 1) // dilation
    stop = min(kernel, (size - start + dilation - 1) // dilation) if start < size else 0
    return first, stop


@njit(parallel=True, cache=True)
def _max_pool_forward(x, y, indices, kh, kw, sh, sw, ph, pw, dh, dw):
    n, c, h, w = x.shape
    out_h, out_w = y.shape[2], y.shape[3]
    for plane in prange(n * c):
        xs, ys, ids = x[plane // c, plane % c], y[plane // c, plane % c], indices[plane // c, plane % c]
        for oh in range(out_h):
            h0 = oh * sh - ph
            i0, i1 = _first_tap(h0, h, dh, kh)
            for ow in range(out_w):
                w0 = ow * sw - pw
                j0, j1 = _first_tap(w0, w, dw, kw)
                best = -np.inf
                best_index = -1
                for i in range(i0, i1):
                    row = h0 + i * dh
                    for j in range(j0, j1):
                        col = w0 + j * dw
                        v = xs[row, col]
                        if v > best or np.isnan(v) or best_index < 0:
                            best = v
                            best_index = row * w + col
                ys[oh, ow] = best
                ids[oh, ow] = best_index


@njit(parallel=True, cache=True)
def _max_pool_forward_inside(x, y, indices, sh, sw, offsets):
    """The common case, every window inside the image (no padding, no overhang): for each
    output a running max over its taps, read at precomputed flat offsets from the window's
    first pixel (no index arithmetic with divisions in the loop; branch-free selects)."""
    n, c, h, w = x.shape
    out_h, out_w = y.shape[2], y.shape[3]
    xf, yf, idf = x.reshape(-1), y.reshape(-1), indices.reshape(-1)
    for plane in prange(n * c):
        x0, y0 = plane * h * w, plane * out_h * out_w
        for oh in range(out_h):
            for ow in range(out_w):
                first = oh * sh * w + ow * sw
                best, where = xf[x0 + first], first
                for t in range(1, offsets.size):
                    p = first + offsets[t]
                    v = xf[x0 + p]
                    take = (v > best) | (v != v)  # larger, or NaN (PyTorch's rule)
                    best = v if take else best
                    where = p if take else where
                yf[y0 + oh * out_w + ow] = best
                idf[y0 + oh * out_w + ow] = where


@njit(parallel=True, cache=True)
def _max_pool_backward_tiles(grad_y, indices, grad_x, sh, sw, offsets):
    """dL/dx when windows are inside the image and do not overlap: every pixel lies in at
    most one window, so it takes that window's dL/dy if it was the argmax, else 0 (pixels
    in no window stay 0). One plane per task."""
    n, c, h, w = grad_x.shape
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    gyf, idf, gxf = grad_y.reshape(-1), indices.reshape(-1), grad_x.reshape(-1)
    for plane in prange(n * c):
        x0, y0 = plane * h * w, plane * out_h * out_w
        gxf[x0:x0 + h * w] = 0
        for oh in range(out_h):
            for ow in range(out_w):
                q = y0 + oh * out_w + ow
                first = oh * sh * w + ow * sw
                g, where = gyf[q], idf[q]
                for t in range(offsets.size):
                    p = first + offsets[t]
                    gxf[x0 + p] = g if p == where else 0


# 2x2 windows at stride 2 (LeNet, VGG, most CNNs) get kernels of their own: the four taps
# written out, with unsigned flat indices (no negative-index checks), so the loops vectorise.
@njit(inline="always")
def _take_max(v, best, where, here):
    """The running max and its index after tap v at ``here`` (larger, or NaN: PyTorch's rule)."""
    take = (v > best) | (v != v)
    return (v if take else best), (here if take else where)


@njit(parallel=True, cache=True)
def _max_pool_2x2_forward(x, y, indices):
    """(The step to the right is written uint64(1) at each use: a variable holding it would
    reach the parallel loop as an argument, unknown to the compiler, and the loop would not
    vectorise; 4x slower.)"""
    n, c, h, w = x.shape
    out_h, out_w = y.shape[2], y.shape[3]
    xf, yf, idf = x.reshape(-1), y.reshape(-1), indices.reshape(-1)
    down = uint64(w)
    for plane in prange(n * c):
        x0, y0 = uint64(plane * h * w), uint64(plane * out_h * out_w)
        for oh in range(out_h):
            top = uint64(2 * oh * w)
            d = y0 + uint64(oh * out_w)
            for ow in range(uint64(out_w)):
                p = top + uint64(2) * ow
                best, where = xf[x0 + p], p
                best, where = _take_max(xf[x0 + p + uint64(1)], best, where, p + uint64(1))
                best, where = _take_max(xf[x0 + p + down], best, where, p + down)
                best, where = _take_max(xf[x0 + p + down + uint64(1)], best, where,
                                        p + down + uint64(1))
                yf[d + ow] = best
                idf[d + ow] = where


@njit(parallel=True, cache=True)
def _max_pool_2x2_backward(grad_y, indices, grad_x):
    """Each window's four pixels get its dL/dy where the argmax was and 0 elsewhere (an odd
    last row or column, in no window, is zeroed first)."""
    n, c, h, w = grad_x.shape
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    gyf, idf, gxf = grad_y.reshape(-1), indices.reshape(-1), grad_x.reshape(-1)
    down = uint64(w)
    for plane in prange(n * c):
        x0, y0 = uint64(plane * h * w), uint64(plane * out_h * out_w)
        if 2 * out_h < h or 2 * out_w < w:
            gxf[x0:x0 + uint64(h * w)] = 0
        for oh in range(out_h):
            top = uint64(2 * oh * w)
            d = y0 + uint64(oh * out_w)
            for ow in range(uint64(out_w)):
                p = top + uint64(2) * ow
                g, where = gyf[d + ow], uint64(idf[d + ow])
                gxf[x0 + p] = g if where == p else 0
                gxf[x0 + p + uint64(1)] = g if where == p + uint64(1) else 0
                gxf[x0 + p + down] = g if where == p + down else 0
                gxf[x0 + p + down + uint64(1)] = g if where == p + down + uint64(1) else 0


def _is_2x2(x_shape, out, kernel, stride, padding, dilation):
    return (kernel == (2, 2) and stride == (2, 2) and dilation == (1, 1)
            and _inside(x_shape, out, kernel, stride, padding, dilation))


def _tap_offsets(width, kernel, dilation):
    """Flat offsets i*dh*W + j*dw of the taps from a window's first pixel, row-major."""
    return np.array([i * dilation[0] * width + j * dilation[1]
                     for i in range(kernel[0]) for j in range(kernel[1])], np.int64)


def _tiles(kernel, stride, dilation):
    """True when windows do not overlap (each spans at most its stride)."""
    return all((k - 1) * d < s for k, s, d in zip(kernel, stride, dilation))


def _inside(x_shape, out, kernel, stride, padding, dilation):
    """True when every window lies inside the image (no padding and no ceil-mode overhang)."""
    return padding == (0, 0) and all(
        (o - 1) * s + (k - 1) * d < size
        for o, s, k, d, size in zip(out, stride, kernel, dilation, x_shape[2:]))


@functools.lru_cache(maxsize=256)
def _windows_containing(size, out, kernel, stride, padding, dilation):
    """For every input position p along one axis, the outputs o whose window contains p
    (o * stride - padding + t * dilation = p for a tap 0 <= t < kernel), then -1s."""
    offset = np.arange(size)[:, None] + padding - np.arange(kernel)[None, :] * dilation
    found = offset // stride
    valid = (offset % stride == 0) & (found >= 0) & (found < out)
    order = np.argsort(~valid, axis=1, kind="stable")          # valid entries first
    table = np.take_along_axis(np.where(valid, found, -1), order, axis=1)
    width = max(1, int(valid.sum(axis=1).max()))
    return np.ascontiguousarray(table[:, :width])


@njit(parallel=True, cache=True)
def _max_pool_backward(grad_y, indices, grad_x, rows, cols):
    n, c, h, w = grad_x.shape
    for plane in prange(n * c):
        b, ch = plane // c, plane % c
        gy, ids, gx = grad_y[b, ch], indices[b, ch], grad_x[b, ch]
        for r in range(h):
            for q in range(w):
                here = r * w + q
                total = 0.0
                for a in range(rows.shape[1]):
                    oh = rows[r, a]
                    if oh < 0:
                        break
                    for b in range(cols.shape[1]):
                        ow = cols[q, b]
                        if ow < 0:
                            break
                        if ids[oh, ow] == here:
                            total += gy[oh, ow]
                gx[r, q] = total


def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """Values and PyTorch's flat argmax indices in one pass over each window."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    out = tuple(pool_output_length(*args, ceil_mode) for args in
                zip((h, w), kernel, stride, padding, dilation))
    y = np.empty((n, c, *out), x.dtype)
    indices = np.empty((n, c, *out), np.int64)
    if _is_2x2(x.shape, out, kernel, stride, padding, dilation):
        _max_pool_2x2_forward(x, y, indices)
    elif _inside(x.shape, out, kernel, stride, padding, dilation):
        _max_pool_forward_inside(x, y, indices, *stride, _tap_offsets(w, kernel, dilation))
    else:
        _max_pool_forward(x, y, indices, *kernel, *stride, *padding, *dilation)
    return y, indices


def max_pool2d_backward(grad_y, indices, x_shape, kernel, stride, padding, dilation):
    """dL/dx[p] = sum of dL/dy[o] over the windows o containing p whose argmax is p."""
    out = grad_y.shape[2:]
    grad_y, indices = np.ascontiguousarray(grad_y), np.ascontiguousarray(indices)
    grad_x = np.empty(x_shape, grad_y.dtype)
    if _is_2x2(x_shape, out, kernel, stride, padding, dilation):
        _max_pool_2x2_backward(grad_y, indices, grad_x)
        return grad_x
    if _inside(x_shape, out, kernel, stride, padding, dilation) and _tiles(kernel, stride, dilation):
        _max_pool_backward_tiles(grad_y, indices, grad_x, *stride,
                                 _tap_offsets(x_shape[3], kernel, dilation))
        return grad_x
    rows = _windows_containing(x_shape[2], out[0], kernel[0], stride[0], padding[0], dilation[0])
    cols = _windows_containing(x_shape[3], out[1], kernel[1], stride[1], padding[1], dilation[1])
    _max_pool_backward(grad_y, indices, grad_x, rows, cols)
    return grad_x


@njit(parallel=True, cache=True)
def _avg_pool_forward(x, y, divisor, kh, kw, sh, sw, ph, pw):
    n, c, h, w = x.shape
    out_h, out_w = y.shape[2], y.shape[3]
    for plane in prange(n * c):
        xs, ys = x[plane // c, plane % c], y[plane // c, plane % c]
        for oh in range(out_h):
            h0 = oh * sh - ph
            i0, i1 = _first_tap(h0, h, 1, kh)
            for ow in range(out_w):
                w0 = ow * sw - pw
                j0, j1 = _first_tap(w0, w, 1, kw)
                total = 0.0
                for i in range(i0, i1):
                    for j in range(j0, j1):
                        total += xs[h0 + i, w0 + j]
                ys[oh, ow] = total / divisor[oh, ow]


@njit(parallel=True, cache=True)
def _avg_pool_backward(share, grad_x, rows, cols):
    n, c, h, w = grad_x.shape
    for plane in prange(n * c):
        gs, gx = share[plane // c, plane % c], grad_x[plane // c, plane % c]
        for r in range(h):
            for q in range(w):
                total = 0.0
                for a in range(rows.shape[1]):
                    oh = rows[r, a]
                    if oh < 0:
                        break
                    for b in range(cols.shape[1]):
                        ow = cols[q, b]
                        if ow < 0:
                            break
                        total += gs[oh, ow]
                gx[r, q] = total


def _divisor(in_size, out, kernel, stride, padding, count_include_pad, divisor_override, dtype):
    d = average_divisor(np, in_size, out, kernel, stride, padding, count_include_pad,
                     divisor_override, dtype)
    return np.broadcast_to(np.asarray(d, dtype), out)


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad,
                       divisor_override):
    """y[o] = (sum of the real pixels of window o) / D[o], D as in PyTorch."""
    x = np.ascontiguousarray(x)
    n, c, h, w = x.shape
    out = tuple(pool_output_length(*args, 1, ceil_mode) for args in
                zip((h, w), kernel, stride, padding))
    y = np.empty((n, c, *out), x.dtype)
    divisor = _divisor((h, w), out, kernel, stride, padding, count_include_pad,
                       divisor_override, x.dtype)
    _avg_pool_forward(x, y, np.ascontiguousarray(divisor), *kernel, *stride, *padding)
    return y


def avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, count_include_pad,
                        divisor_override):
    """dL/dx[p] = sum of dL/dy[o] / D[o] over the windows o containing p."""
    out = grad_y.shape[2:]
    share = grad_y / _divisor(x_shape[2:], out, kernel, stride, padding, count_include_pad,
                              divisor_override, grad_y.dtype)
    rows = _windows_containing(x_shape[2], out[0], kernel[0], stride[0], padding[0], 1)
    cols = _windows_containing(x_shape[3], out[1], kernel[1], stride[1], padding[1], 1)
    grad_x = np.empty(x_shape, grad_y.dtype)
    _avg_pool_backward(np.ascontiguousarray(share), grad_x, rows, cols)
    return grad_x
