"""Reductions over any axes (sum, mean, var, max, min, logsumexp) and softmax.

A reduction's backward broadcasts the output gradient back over the reduced axes
(``expand_reduced``) and multiplies by the local derivative of each input element.
"""
from __future__ import annotations

from ... import backend
from ..function import Function
from ._util import count_reduced, expand_reduced, normalize_axes


class SumFunction(Function):
    """y = sum of x over ``axis``.  dy/dx_i = 1: every element gets the output gradient."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = normalize_axes(axis, x.ndim)
        ctx.x_shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return x.sum(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdims = ctx.x_shape, ctx.axes, ctx.keepdims
        xp = backend.get_array_module(g)
        return xp.broadcast_to(expand_reduced(g, shape, axes, keepdims), shape), None, None


class MeanFunction(Function):
    """y = sum(x) / n over ``axis``.  dy/dx_i = 1/n."""

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = normalize_axes(axis, x.ndim)
        ctx.x_shape, ctx.axes, ctx.keepdims = x.shape, axes, keepdims
        return x.mean(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdims = ctx.x_shape, ctx.axes, ctx.keepdims
        xp = backend.get_array_module(g)
        n = count_reduced(shape, axes)
        return xp.broadcast_to(expand_reduced(g, shape, axes, keepdims) / n, shape), None, None


class VarFunction(Function):
    """y = sum((x - mean)^2) / (n - correction) over ``axis``.

    dy/dx_i = 2 (x_i - mean) / (n - correction): the mean's own dependence on x_i drops out
    because the deviations sum to zero.
    """

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False, correction=1):
        axes = normalize_axes(axis, x.ndim)
        n = count_reduced(x.shape, axes)
        if n - correction <= 0:
            raise ValueError(f"var over {n} element(s) with correction={correction} is undefined")
        ctx.save_for_backward(x)
        ctx.meta = axes, keepdims, n - correction
        return x.var(axis=axes, ddof=correction, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        axes, keepdims, dof = ctx.meta
        centred = x - x.mean(axis=axes, keepdims=True)
        return expand_reduced(g, x.shape, axes, keepdims) * (2 / dof) * centred, None, None, None


class ExtremeFunction(Function):
    """Shared backward of max and min: the gradient goes to the extreme element(s).

    y = max_i x_i has dy/dx_i = 1 at the argmax and 0 elsewhere. With ties the max is not
    differentiable; like ``torch.amax`` the gradient is shared equally between them.
    """

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        axes, keepdims = ctx.meta
        hits = x == expand_reduced(y, x.shape, axes, keepdims)
        share = hits / hits.sum(axis=axes, keepdims=True)
        return expand_reduced(g, x.shape, axes, keepdims) * share.astype(g.dtype), None, None


class MaxFunction(ExtremeFunction):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = normalize_axes(axis, x.ndim)
        _check_not_empty("max", x, axes)
        y = x.max(axis=axes, keepdims=keepdims)
        ctx.save_for_backward(x, y)
        ctx.meta = axes, keepdims
        return y


class MinFunction(ExtremeFunction):
    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        axes = normalize_axes(axis, x.ndim)
        _check_not_empty("min", x, axes)
        y = x.min(axis=axes, keepdims=keepdims)
        ctx.save_for_backward(x, y)
        ctx.meta = axes, keepdims
        return y


def _check_not_empty(name, x, axes):
    if count_reduced(x.shape, axes) == 0:
        raise ValueError(f"{name} of an empty tensor (shape {x.shape}) over axes {axes}")


def stable_max(x, axes):
    """max over ``axes`` with keepdims, replacing -inf/inf/nan by 0 so x - m stays finite."""
    xp = backend.get_array_module(x)
    m = x.max(axis=axes, keepdims=True)
    return xp.where(xp.isfinite(m), m, 0)


class LogSumExpFunction(Function):
    """y = log sum_i exp(x_i), computed as m + log sum_i exp(x_i - m) with m = max x.

    dy/dx_i = exp(x_i) / sum_j exp(x_j) = exp(x_i - y): the softmax.
    """

    @staticmethod
    def forward(ctx, x, axis=None, keepdims=False):
        xp = backend.get_array_module(x)
        axes = normalize_axes(axis, x.ndim)
        m = stable_max(x, axes)
        y = xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True)) + m
        ctx.save_for_backward(x, y)
        ctx.meta = axes, keepdims
        return y if keepdims else y.reshape([n for i, n in enumerate(y.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        axes, keepdims = ctx.meta
        xp = backend.get_array_module(x)
        return expand_reduced(g, x.shape, axes, keepdims) * xp.exp(x - y), None, None


class SoftmaxFunction(Function):
    """y_i = exp(x_i) / sum_j exp(x_j) along ``axis``.

    dy_i/dx_j = y_i (delta_ij - y_j), so gx_j = sum_i g_i y_i (delta_ij - y_j)
    = y_j (g_j - sum_i g_i y_i).
    """

    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = backend.get_array_module(x)
        e = xp.exp(x - stable_max(x, normalize_axes(axis, x.ndim)))
        y = e / e.sum(axis=axis, keepdims=True)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return y * (g - (g * y).sum(axis=ctx.axis, keepdims=True)), None


class LogSoftmaxFunction(Function):
    """y_i = x_i - logsumexp(x).  dy_i/dx_j = delta_ij - softmax_j, so
    gx_j = g_j - softmax_j * sum_i g_i."""

    @staticmethod
    def forward(ctx, x, axis=-1):
        xp = backend.get_array_module(x)
        shifted = x - stable_max(x, normalize_axes(axis, x.ndim))
        y = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        xp = backend.get_array_module(y)
        return g - xp.exp(y) * g.sum(axis=ctx.axis, keepdims=True), None
