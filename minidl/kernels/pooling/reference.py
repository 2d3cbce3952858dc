"""Reference pooling kernels: max, average, unpooling and adaptive pooling.

Shapes (PyTorch's): x (N, C, H, W), y (N, C, OH, OW). ``kernel``, ``stride``, ``padding``
and ``dilation`` are (h, w) pairs; pooling pads both sides of an axis by the same amount.

Windows are visited one kernel tap at a time, like ``im2col`` in ``conv.py``: tap (i, j)
of output (oh, ow) reads pixel (oh*sh - ph + i*dh, ow*sw - pw + j*dw). For each tap the
outputs whose tap lands inside the input form a contiguous block, and the pixels they read
form a strided block (``_taps``), so no padded copy of x is ever made and padding can never
win a max. Backward passes are the same loop: tap (i, j) adds a strided block of distinct
pixels, so the sums come out identical on every run (no scatter-add races).

Max-pool indices are PyTorch's: the flat position h*W + w of the winner in its (H, W) plane.
"""
from __future__ import annotations

import numpy as np

from ... import backend
from ...geometry import pool_output_length

__all__ = ["adaptive_avg_pool2d_backward", "adaptive_avg_pool2d_forward",
           "adaptive_max_pool2d_backward", "adaptive_max_pool2d_forward", "avg_pool2d_backward",
           "avg_pool2d_forward", "max_pool2d_backward", "max_pool2d_forward",
           "max_unpool2d_backward", "max_unpool2d_forward"]


def _tap(offset, size, out, stride, padding):
    """For the tap ``offset`` pixels from each window's start: the outputs o whose tap reads a
    real pixel (0 <= o*stride - padding + offset < size) and the pixels they read, as
    (output slice, input slice); None when every output's tap falls in the padding."""
    first = max(0, -(-(padding - offset) // stride))
    stop = min(out, (size - 1 + padding - offset) // stride + 1)
    if stop <= first:
        return None
    start = first * stride - padding + offset
    return slice(first, stop), slice(start, start + (stop - first - 1) * stride + 1, stride)


def _taps(in_size, out_size, kernel, stride, padding, dilation=(1, 1)):
    """Yield (output index, input index) for every kernel tap (i, j) in row-major order:
    ``y[out_at]`` and ``x[in_at]`` are the blocks of outputs and the pixels their tap reads."""
    for i in range(kernel[0]):
        rows = _tap(i * dilation[0], in_size[0], out_size[0], stride[0], padding[0])
        for j in range(kernel[1]):
            cols = _tap(j * dilation[1], in_size[1], out_size[1], stride[1], padding[1])
            if rows and cols:
                yield (..., rows[0], cols[0]), (..., rows[1], cols[1])


def _flat_positions(xp, size):
    """The PyTorch index h*W + w of every pixel of an (H, W) plane."""
    return xp.arange(size[0] * size[1], dtype=xp.int64).reshape(size)


def _keep_max(best, best_index, value, index):
    """One step of a running argmax with PyTorch's rule, in place: a larger value or a NaN
    replaces the current one, and a window's first real pixel is always taken (index -1
    means none yet), so a window of -inf points at its first pixel."""
    xp = backend.get_array_module(best)
    take = (value > best) | xp.isnan(value) | (best_index < 0)
    best[...] = xp.where(take, value, best)
    best_index[...] = xp.where(take, index, best_index)


def _gather(a, rows, cols):
    """a[..., rows[:, None], cols[None, :]], as two takes (much faster than one fancy index)."""
    xp = backend.get_array_module(a)
    return xp.take(xp.take(a, rows, axis=-2), cols, axis=-1)


# ---------------------------------------------------------------------------------- max
def max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode):
    """y[o] = max of x over window o (real pixels only) and indices[o] = where it was.

    Returns (y, indices). A window that holds only padding (possible with dilation) gives
    -inf and index -1.
    """
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    out = tuple(pool_output_length(*args, ceil_mode) for args in
                zip((h, w), kernel, stride, padding, dilation))
    y = xp.full((n, c, *out), -xp.inf, x.dtype)
    indices = xp.full((n, c, *out), -1, xp.int64)
    flat = _flat_positions(xp, (h, w))
    for out_at, in_at in _taps((h, w), out, kernel, stride, padding, dilation):
        _keep_max(y[out_at], indices[out_at], x[in_at], flat[in_at])
    return y, indices


def max_pool2d_backward(grad_y, indices, x_shape, kernel, stride, padding, dilation):
    """dL/dx[p] = sum of dL/dy[o] over the outputs o whose argmax is p.

    Tap (i, j) of output o reads one pixel; it passes dL/dy[o] back to that pixel when the
    pixel is o's argmax. Each tap adds into a strided block of distinct pixels.
    """
    xp = backend.get_array_module(grad_y)
    h, w = x_shape[2:]
    grad_x = xp.zeros(x_shape, grad_y.dtype)
    flat = _flat_positions(xp, (h, w))
    for out_at, in_at in _taps((h, w), grad_y.shape[2:], kernel, stride, padding, dilation):
        grad_x[in_at] += xp.where(indices[out_at] == flat[in_at], grad_y[out_at], 0)
    return grad_x


# ------------------------------------------------------------------------------ average
def _window_counts(xp, size, out, kernel, stride, padding, count_include_pad):
    """Per output position along one axis, how many pixels its window divides by: the window
    clipped to the padded input (it may overhang it in ceil mode), and further to the real
    input when padding is not counted."""
    start = xp.arange(out) * stride - padding
    end = xp.minimum(start + kernel, size + padding)
    if not count_include_pad:
        start, end = xp.maximum(start, 0), xp.minimum(end, size)
    return end - start


def average_divisor(xp, in_size, out_size, kernel, stride, padding, count_include_pad,
                 divisor_override, dtype):
    """The (OH, OW) divisors of average pooling (a window's count is a product over axes)."""
    if divisor_override:
        return divisor_override
    rows, cols = (_window_counts(xp, *args, count_include_pad) for args in
                  zip(in_size, out_size, kernel, stride, padding))
    return (rows[:, None] * cols[None, :]).astype(dtype)


def avg_pool2d_forward(x, kernel, stride, padding, ceil_mode, count_include_pad,
                       divisor_override):
    """y[o] = (sum of x over window o) / D[o]; padding adds zeros to the sum."""
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    out = tuple(pool_output_length(*args, 1, ceil_mode) for args in
                zip((h, w), kernel, stride, padding))
    total = xp.zeros((n, c, *out), x.dtype)
    for out_at, in_at in _taps((h, w), out, kernel, stride, padding):
        total[out_at] += x[in_at]
    return total / average_divisor(xp, (h, w), out, kernel, stride, padding, count_include_pad,
                                divisor_override, x.dtype)


def avg_pool2d_backward(grad_y, x_shape, kernel, stride, padding, count_include_pad,
                        divisor_override):
    """dL/dx[p] = sum of dL/dy[o] / D[o] over the windows o that contain p."""
    xp = backend.get_array_module(grad_y)
    in_size, out = x_shape[2:], grad_y.shape[2:]
    share = grad_y / average_divisor(xp, in_size, out, kernel, stride, padding, count_include_pad,
                                  divisor_override, grad_y.dtype)
    grad_x = xp.zeros(x_shape, grad_y.dtype)
    for out_at, in_at in _taps(in_size, out, kernel, stride, padding):
        grad_x[in_at] += share[out_at]
    return grad_x


# ---------------------------------------------------------------------------- unpooling
def max_unpool2d_forward(x, indices, out_size):
    """y = zeros (N, C, *out_size); y[n, c, indices[n, c, p]] = x[n, c, p]: each value goes
    back to the flat position its index names. Indices that repeat (overlapping windows
    with the same winner) carry the same value, so which write lands last does not matter."""
    xp = backend.get_array_module(x)
    n, c = x.shape[:2]
    y = xp.zeros((n * c, out_size[0] * out_size[1]), x.dtype)
    planes = xp.arange(n * c)[:, None]
    y[planes, indices.reshape(n * c, -1)] = x.reshape(n * c, -1)
    return y.reshape(n, c, *out_size)


def max_unpool2d_backward(grad_y, indices):
    """dL/dx[p] = dL/dy[indices[p]]: a gather, the transpose of the forward's scatter."""
    xp = backend.get_array_module(grad_y)
    n, c = grad_y.shape[:2]
    grad_x = xp.take_along_axis(grad_y.reshape(n, c, -1), indices.reshape(n, c, -1), axis=2)
    return grad_x.reshape(indices.shape)


# ----------------------------------------------------------------------------- adaptive
def _bins(size, out):
    """Adaptive pooling's bins along one axis: bin i is [floor(i*size/out), ceil((i+1)*size/out)).

    With the sizes exchanged, ``_bins(out, size)`` gives for every pixel p the bins that
    contain it, [floor(p*out/size), ceil((p+1)*out/size)): the same formula both ways.
    Small host (NumPy) index arrays, computed from sizes only.
    """
    i = np.arange(out)
    return i * size // out, -(-(i + 1) * size // out)


def _bin_steps(xp, size, out):
    """Walk all bins at once, one step per position inside the longest bin: yields
    (index, valid), where index is the step's position in each bin, clamped to the bin's
    last one, and valid says whether the bin really is that long."""
    start, stop = _bins(size, out)
    for step in range(int((stop - start).max())):
        yield xp.asarray(np.minimum(start + step, stop - 1)), xp.asarray(start + step < stop)


def _evenly(in_size, out_size):
    """The kernel (= stride) when every bin has the same size, else None."""
    if in_size[0] % out_size[0] or in_size[1] % out_size[1]:
        return None
    return in_size[0] // out_size[0], in_size[1] // out_size[1]


def _averaging_matrix(xp, size, out, dtype):
    """P (out, size) with P[i, p] = 1 / len(bin i) for the pixels p of bin i, 0 elsewhere."""
    start, stop = _bins(size, out)
    p = np.arange(size)
    inside = (p >= start[:, None]) & (p < stop[:, None])
    return xp.asarray(inside / (stop - start)[:, None], dtype=dtype)


def adaptive_avg_pool2d_forward(x, out_size):
    """y[i, j] = mean of x over bin i of the rows and bin j of the columns.

    The mean is linear and separable: y = P_h x P_w^T with the averaging matrices P. When
    the bins divide the input evenly it is a plain block mean.
    """
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    kernel = _evenly((h, w), out_size)
    if kernel:
        return x.reshape(n, c, out_size[0], kernel[0], out_size[1], kernel[1]).mean(axis=(3, 5))
    p_h = _averaging_matrix(xp, h, out_size[0], x.dtype)
    p_w = _averaging_matrix(xp, w, out_size[1], x.dtype)
    return xp.matmul(xp.matmul(p_h, x), p_w.T)


def adaptive_avg_pool2d_backward(grad_y, x_shape):
    """y = P_h x P_w^T is linear, so dL/dx = P_h^T dL/dy P_w (evenly: dL/dy[bin] / bin size
    spread over the bin)."""
    xp = backend.get_array_module(grad_y)
    n, c, h, w = x_shape
    out_h, out_w = grad_y.shape[2:]
    kernel = _evenly((h, w), (out_h, out_w))
    if kernel:
        share = grad_y[:, :, :, None, :, None] / (kernel[0] * kernel[1])
        return xp.broadcast_to(share, (n, c, out_h, kernel[0], out_w, kernel[1])).reshape(x_shape)
    p_h = _averaging_matrix(xp, h, out_h, grad_y.dtype)
    p_w = _averaging_matrix(xp, w, out_w, grad_y.dtype)
    return xp.matmul(xp.matmul(p_h.T, grad_y), p_w)


def adaptive_max_pool2d_forward(x, out_size):
    """y[i, j] = max of x over bin (i, j) and indices[i, j] = where it was (PyTorch's flat
    index). Evenly dividing bins are max pooling with kernel = stride = bin size.

    Otherwise one step per position (a, b) inside the longest bins, all bins at once.
    Shorter bins re-read their last pixel instead; a repeated pixel never wins against
    itself, so the result is the same as scanning each bin once.
    """
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    kernel = _evenly((h, w), out_size)
    if kernel:
        return max_pool2d_forward(x, kernel, kernel, (0, 0), (1, 1), False)
    y = xp.full((n, c, *out_size), -xp.inf, x.dtype)
    indices = xp.full((n, c, *out_size), -1, xp.int64)
    for rows, _ in _bin_steps(xp, h, out_size[0]):
        for cols, _ in _bin_steps(xp, w, out_size[1]):
            _keep_max(y, indices, _gather(x, rows, cols), rows[:, None] * w + cols[None, :])
    return y, indices


def adaptive_max_pool2d_backward(grad_y, indices, x_shape):
    """dL/dx[p] = sum of dL/dy[o] over the bins o whose argmax is p, as a gather: every pixel
    visits the bins that contain it (``_bins(out, size)``, one step each) and keeps the
    gradient of those that chose it."""
    xp = backend.get_array_module(grad_y)
    h, w = x_shape[2:]
    out_h, out_w = grad_y.shape[2:]
    kernel = _evenly((h, w), (out_h, out_w))
    if kernel:
        return max_pool2d_backward(grad_y, indices, x_shape, kernel, kernel, (0, 0), (1, 1))
    grad_x = xp.zeros(x_shape, grad_y.dtype)
    flat = _flat_positions(xp, (h, w))
    for bin_rows, rows_valid in _bin_steps(xp, out_h, h):
        for bin_cols, cols_valid in _bin_steps(xp, out_w, w):
            chosen = _gather(indices, bin_rows, bin_cols) == flat
            chosen &= rows_valid[:, None] & cols_valid[None, :]
            grad_x += xp.where(chosen, _gather(grad_y, bin_rows, bin_cols), 0)
    return grad_x
