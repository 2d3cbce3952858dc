"""Pooling: max_pool2d, max_unpool2d, avg_pool2d and the adaptive poolings.

Each pooling maps a window (or an adaptive bin) of every (H, W) plane to one number.
Max pooling is piecewise the identity on the winning pixel, so its backward routes each
gradient to the switch recorded in the forward (the indices); average pooling is linear,
so its backward spreads each gradient evenly back over the window. Inputs are (N, C, H, W)
or, as in PyTorch, (C, H, W).
"""
from __future__ import annotations

from ..autograd import Function
from .. import backend
from ..autograd.functions import as_tensor, ones, stack, tensor
from ..geometry import empty_output_message, pair, pool_output_length, shown
from ..kernels.pooling import KERNELS as POOLING
from .windows import padded, window_taps

__all__ = ["adaptive_avg_pool2d", "adaptive_max_pool2d", "avg_pool2d", "max_pool2d",
           "max_unpool2d"]


# --------------------------------------------------------------------------- arguments
def _batched(input, name):
    """A 4-D view of a (C, H, W) or (N, C, H, W) input, and whether it already was 4-D."""
    input = as_tensor(input)
    if input.ndim not in (3, 4) or 0 in input.shape[-3:]:
        raise ValueError(f"{name}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input with "
                         f"non-zero C, H and W, got shape {tuple(input.shape)}")
    return (input, True) if input.ndim == 4 else (input.unsqueeze(0), False)


def _unbatched(outputs, batched):
    """Undo ``_batched`` on a tensor or a tuple of tensors."""
    if batched:
        return outputs
    if isinstance(outputs, tuple):
        return tuple(t.squeeze(0) for t in outputs)
    return outputs.squeeze(0)


def _window_args(name, size, kernel_size, stride, padding, dilation, ceil_mode):
    """Kernel, stride, padding and dilation as (h, w) pairs, checked as PyTorch does:
    stride defaults to the kernel, padding is at most half the kernel, output not empty."""
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else pair(stride, "stride")
    padding, dilation = pair(padding, "padding"), pair(dilation, "dilation")
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{name}: kernel_size, stride and dilation must be >= 1, got "
                         f"{kernel}, {stride} and {dilation}")
    if min(padding) < 0 or any(p > k // 2 for p, k in zip(padding, kernel)):
        raise ValueError(f"{name}: padding {shown(padding)} must be between 0 and half the "
                         f"kernel size {shown(kernel)} (padding <= kernel_size // 2)")
    if any(pool_output_length(*args, ceil_mode) < 1 for args in
           zip(size, kernel, stride, padding, dilation)):
        raise ValueError(f"{name}: " + empty_output_message(
            tuple(size), shown(kernel), shown(stride), shown(padding), shown(dilation)))
    return kernel, stride, padding, dilation


def _adaptive_size(name, output_size, size):
    """output_size as an (h, w) pair; None in either place keeps the input's size there."""
    pair = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * 2
    if len(pair) != 2:
        raise ValueError(f"{name}: output_size must be an int or a pair, got {output_size!r}")
    pair = tuple(s if o is None else o for o, s in zip(pair, size))
    if not all(isinstance(o, int) and o >= 1 for o in pair):
        raise ValueError(f"{name}: output_size must hold positive ints (or None), got "
                         f"{output_size!r}")
    return pair


# --------------------------------------------------------------------------------- max
class MaxPool2dFunction(Function):
    """y[o] = x[i[o]] with i[o] the argmax of x over window o (padding never wins).

    Around any input without ties the winner stays put, so y[o] = x[i[o]] is locally a
    selection: dy[o]/dx[p] = 1 if p = i[o], else 0. Hence dL/dx[p] = sum of dL/dy[o] over
    the windows o that chose p (overlapping windows can choose the same pixel). The
    indices (PyTorch's flat h*W + w per plane) are an output without gradient.
    """

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, ceil_mode):
        kernels = POOLING.for_array(x)
        y, indices = kernels.max_pool2d_forward(x, kernel, stride, padding, dilation, ceil_mode)
        ctx.save_for_backward(indices)
        ctx.x_shape, ctx.window = x.shape, (kernel, stride, padding, dilation)
        ctx.mark_non_differentiable(indices)
        return y, indices

    @staticmethod
    def backward(ctx, grad_y, grad_indices):
        (indices,) = ctx.saved_tensors
        kernels = POOLING.for_array(grad_y)
        grad_x = kernels.max_pool2d_backward(grad_y, indices, ctx.x_shape, *ctx.window)
        return grad_x, None, None, None, None, None


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """2-D max pooling, PyTorch's signature; ``stride`` defaults to ``kernel_size``.

    With ``return_indices`` also returns the switches (int64 flat index of each max in its
    (H, W) plane) that ``max_unpool2d`` needs. A window of padding only (possible with
    dilation) gives -inf and index -1.
    """
    x, batched = _batched(input, "max_pool2d")
    conf = _window_args("max_pool2d", x.shape[2:], kernel_size, stride, padding, dilation,
                        ceil_mode)
    y, indices = _unbatched(MaxPool2dFunction.apply(x, *conf, ceil_mode), batched)
    return (y, indices) if return_indices else y


class MaxUnpool2dFunction(Function):
    """y = 0 except y[i[p]] = x[p]: every value returns to where its max came from.

    y is linear in x with dy[q]/dx[p] = 1 if q = i[p], so dL/dx[p] = dL/dy[i[p]]: the
    backward is a gather by the same indices.
    """

    @staticmethod
    def forward(ctx, x, indices, out_size):
        ctx.save_for_backward(indices)
        return POOLING.for_array(x).max_unpool2d_forward(x, indices, out_size)

    @staticmethod
    def backward(ctx, grad_y):
        (indices,) = ctx.saved_tensors
        grad_x = POOLING.for_array(grad_y).max_unpool2d_backward(grad_y, indices)
        return grad_x, None, None


def _unpool_size(size, kernel, stride, padding, output_size):
    """PyTorch's default (in - 1) * stride - 2 * padding + kernel, or ``output_size`` (its
    last two entries) when it lies strictly within one stride of the default."""
    default = tuple((n - 1) * s - 2 * p + k for n, k, s, p in zip(size, kernel, stride, padding))
    if output_size is None:
        return default
    output_size = tuple(output_size)[-2:]
    for axis, (o, d, s) in enumerate(zip(output_size, default, stride)):
        if not d - s < o < d + s:
            raise ValueError(f"max_unpool2d: output_size {output_size} is invalid: size {axis} "
                             f"must be between {d - s} and {d + s} (exclusive)")
    return output_size


def _check_indices(indices, out_size):
    """Every index must name a position of the (out_h, out_w) output plane."""
    if indices.numel() == 0:
        return
    low, high = int(indices.data.min()), int(indices.data.max())
    if low < 0 or high >= out_size[0] * out_size[1]:
        raise ValueError(f"max_unpool2d: indices range from {low} to {high}, outside the "
                         f"{out_size[0]}x{out_size[1]} output (0 to "
                         f"{out_size[0] * out_size[1] - 1})")


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The partial inverse of ``max_pool2d``: puts each value back at its index, zeros
    elsewhere (PyTorch's signature and output size)."""
    input, indices = as_tensor(input), as_tensor(indices)
    x, batched = _batched(input, "max_unpool2d")
    if tuple(indices.shape) != tuple(input.shape):
        raise ValueError(f"max_unpool2d: indices of shape {tuple(indices.shape)} must have the "
                         f"input's shape {tuple(input.shape)}")
    if indices.dtype.kind not in "iu":
        raise ValueError(f"max_unpool2d: indices must be integers, got {indices.dtype}")
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else pair(stride, "stride")
    out_size = _unpool_size(x.shape[2:], kernel, stride, pair(padding, "padding"), output_size)
    _check_indices(indices, out_size)
    y = MaxUnpool2dFunction.apply(x, indices if batched else indices.unsqueeze(0), out_size)
    return _unbatched(y, batched)


# ----------------------------------------------------------------------------- average
class AvgPool2dFunction(Function):
    """y[o] = (1 / D[o]) * sum of x over window o (padding counts as zeros).

    D[o] is the window's size clipped to the padded input (in ceil mode the last window
    may overhang it), or its number of real pixels when ``count_include_pad=False``, or
    ``divisor_override``. y is linear with dy[o]/dx[p] = 1 / D[o] for p in window o, so
    dL/dx[p] = sum of dL/dy[o] / D[o] over the windows o that contain p.
    """

    @staticmethod
    def forward(ctx, x, kernel, stride, padding, ceil_mode, count_include_pad,
                divisor_override):
        ctx.x_shape = x.shape
        ctx.window = kernel, stride, padding, count_include_pad, divisor_override
        return POOLING.for_array(x).avg_pool2d_forward(x, kernel, stride, padding, ceil_mode,
                                                       count_include_pad, divisor_override)

    @staticmethod
    def backward(ctx, grad_y):
        grad_x = POOLING.for_array(grad_y).avg_pool2d_backward(grad_y, ctx.x_shape, *ctx.window)
        return grad_x, None, None, None, None, None, None


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """2-D average pooling, PyTorch's signature and divisors."""
    x, batched = _batched(input, "avg_pool2d")
    if divisor_override == 0:
        raise ValueError("avg_pool2d: divisor_override must not be zero")
    kernel, stride, padding, _ = _window_args("avg_pool2d", x.shape[2:], kernel_size, stride,
                                              padding, 1, ceil_mode)
    y = AvgPool2dFunction.apply(x, kernel, stride, padding, ceil_mode, count_include_pad,
                                divisor_override)
    return _unbatched(y, batched)


# ---------------------------------------------------------------------------- adaptive
class AdaptiveAvgPool2dFunction(Function):
    """y[i, j] = mean of x over rows [floor(iH/OH), ceil((i+1)H/OH)) and the same bins of
    the columns. Separable and linear, y = P_h x P_w^T with averaging matrices P, so
    dL/dx = P_h^T dL/dy P_w."""

    @staticmethod
    def forward(ctx, x, out_size):
        ctx.x_shape = x.shape
        return POOLING.for_array(x).adaptive_avg_pool2d_forward(x, out_size)

    @staticmethod
    def backward(ctx, grad_y):
        grad_x = POOLING.for_array(grad_y).adaptive_avg_pool2d_backward(grad_y, ctx.x_shape)
        return grad_x, None


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size, whatever the input size (PyTorch's bins)."""
    x, batched = _batched(input, "adaptive_avg_pool2d")
    out_size = _adaptive_size("adaptive_avg_pool2d", output_size, x.shape[2:])
    return _unbatched(AdaptiveAvgPool2dFunction.apply(x, out_size), batched)


class AdaptiveMaxPool2dFunction(Function):
    """y[o] = x[i[o]], i[o] the argmax over bin o (bins as in adaptive_avg_pool2d). As for
    max_pool2d, dL/dx[p] = sum of dL/dy[o] over the bins o that chose p."""

    @staticmethod
    def forward(ctx, x, out_size):
        y, indices = POOLING.for_array(x).adaptive_max_pool2d_forward(x, out_size)
        ctx.save_for_backward(indices)
        ctx.x_shape = x.shape
        ctx.mark_non_differentiable(indices)
        return y, indices

    @staticmethod
    def backward(ctx, grad_y, grad_indices):
        (indices,) = ctx.saved_tensors
        kernels = POOLING.for_array(grad_y)
        grad_x = kernels.adaptive_max_pool2d_backward(grad_y, indices, ctx.x_shape)
        return grad_x, None


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size (PyTorch's bins and flat indices)."""
    x, batched = _batched(input, "adaptive_max_pool2d")
    out_size = _adaptive_size("adaptive_max_pool2d", output_size, x.shape[2:])
    y, indices = _unbatched(AdaptiveMaxPool2dFunction.apply(x, out_size), batched)
    return (y, indices) if return_indices else y


# ------------------------------------------------------------- the composed definitions
def _composed_windows(x, kernel, stride, padding, dilation, ceil_mode, value):
    """window_taps of x padded by ``padding`` with ``value`` (and, in ceil mode, by enough
    more on the right that the last window fits), with the output size."""
    out = tuple(pool_output_length(*args, ceil_mode) for args in
                zip(x.shape[2:], kernel, stride, padding, dilation))
    extra = [max(0, (o - 1) * s + d * (k - 1) + 1 - (n + 2 * p)) for o, s, d, k, n, p in
             zip(out, stride, dilation, kernel, x.shape[2:], padding)]
    pads = ((padding[0], padding[0] + extra[0]), (padding[1], padding[1] + extra[1]))
    return window_taps(padded(x, pads, value), kernel, stride, dilation, out), out, extra


def max_pool2d_composed(input, kernel_size, stride=None, padding=0, dilation=1,
                        ceil_mode=False):
    """max_pool2d composed of differentiable ops: pad with -inf (padding never wins), stack
    every tap's view of the input, take the max over the taps (its backward sends each
    gradient to the winner; on ties it would share it, where the kernel picks the first)."""
    x, batched = _batched(input, "max_pool2d")
    kernel, stride, padding, dilation = _window_args("max_pool2d", x.shape[2:], kernel_size,
                                                     stride, padding, dilation, ceil_mode)
    taps, _, _ = _composed_windows(x, kernel, stride, padding, dilation, ceil_mode, -float("inf"))
    return _unbatched(taps.max(axis=2), batched)


def avg_pool2d_composed(input, kernel_size, stride=None, padding=0, ceil_mode=False,
                        count_include_pad=True, divisor_override=None):
    """avg_pool2d composed of differentiable ops: the sum over each window's taps (padding
    adds zeros) divided by D, the same window sum of a constant plane of ones over what is
    counted (the padded input with ``count_include_pad``, else the input alone)."""
    x, batched = _batched(input, "avg_pool2d")
    kernel, stride, padding, _ = _window_args("avg_pool2d", x.shape[2:], kernel_size, stride,
                                              padding, 1, ceil_mode)
    taps, out, extra = _composed_windows(x, kernel, stride, padding, (1, 1), ceil_mode, 0.0)
    if divisor_override:
        divisor = divisor_override
    else:
        counted = ones(1, 1, *x.shape[2:], dtype=x.dtype, device=x.device)
        if count_include_pad:
            counted = padded(counted, tuple((p, p) for p in padding), 1.0)
            pads = ((0, extra[0]), (0, extra[1]))
        else:
            pads = ((padding[0], padding[0] + extra[0]), (padding[1], padding[1] + extra[1]))
        divisor = window_taps(padded(counted, pads), kernel, stride, (1, 1), out).sum(axis=2)
    return _unbatched(taps.sum(axis=2) / divisor, batched)


def _bins(size, out):
    """Adaptive pooling's bins of one axis: [floor(i n / m), ceil((i + 1) n / m))."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def _pool_bins(x, out_size, reduce):
    """``reduce`` (mean or max, with an axis) over every bin, rows then columns (both
    reductions are separable over a rectangle)."""
    rows = stack([reduce(x[:, :, a:b], 2) for a, b in _bins(x.shape[2], out_size[0])], axis=2)
    return stack([reduce(rows[:, :, :, a:b], 3) for a, b in _bins(x.shape[3], out_size[1])],
                 axis=3)


def adaptive_avg_pool2d_composed(input, output_size):
    """adaptive_avg_pool2d composed of differentiable ops: the mean of every bin."""
    x, batched = _batched(input, "adaptive_avg_pool2d")
    out_size = _adaptive_size("adaptive_avg_pool2d", output_size, x.shape[2:])
    return _unbatched(_pool_bins(x, out_size, lambda t, axis: t.mean(axis=axis)), batched)


def adaptive_max_pool2d_composed(input, output_size):
    """adaptive_max_pool2d composed of differentiable ops: the max of every bin."""
    x, batched = _batched(input, "adaptive_max_pool2d")
    out_size = _adaptive_size("adaptive_max_pool2d", output_size, x.shape[2:])
    return _unbatched(_pool_bins(x, out_size, lambda t, axis: t.max(axis=axis)), batched)


def max_unpool2d_composed(input, indices, kernel_size, stride=None, padding=0,
                          output_size=None):
    """max_unpool2d composed of differentiable ops: each plane times a constant 0/1 matrix
    E with E[p, q] = 1 where indices[p] = q, so y[q] = sum over p of x[p] E[p, q]. (Equal to
    the kernel where no index repeats; overlapping windows that share a winner would be
    summed here but written once by the kernel.)"""
    x, batched = _batched(input, "max_unpool2d")
    index = as_tensor(indices).data.reshape(x.shape[0], x.shape[1], -1)
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else pair(stride, "stride")
    out_size = _unpool_size(x.shape[2:], kernel, stride, pair(padding, "padding"), output_size)
    places = out_size[0] * out_size[1]
    scatter = (index[..., None] == backend.get_array_module(index).arange(places))
    flat = x.reshape(x.shape[0], x.shape[1], 1, -1) @ tensor(scatter.astype(x.dtype))
    return _unbatched(flat.reshape(*x.shape[:2], *out_size), batched)

