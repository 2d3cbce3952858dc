"""Elementwise functions: exp, log, sqrt, abs, tanh, sigmoid, the ReLUs, clip, maximum,
minimum, where, and the dtype/device casts.

Each output element depends on one input element, so the Jacobian is diagonal and the
backward is the incoming gradient times the local derivative, elementwise.
"""
from __future__ import annotations

from ... import backend
from ..function import Function
from ..grad_mode import STATE
from ._util import broadcast_error, shape_of, unbroadcast


class ExpFunction(Function):
    """y = e^x.  dy/dx = e^x = y."""

    @staticmethod
    def forward(ctx, x):
        y = backend.get_array_module(x).exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class LogFunction(Function):
    """y = ln x.  dy/dx = 1/x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return backend.get_array_module(x).log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g / x


class SqrtFunction(Function):
    """y = sqrt(x).  dy/dx = 1 / (2 sqrt(x)) = 1 / (2y)."""

    @staticmethod
    def forward(ctx, x):
        y = backend.get_array_module(x).sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g / (2 * y)


class AbsFunction(Function):
    """y = |x|.  dy/dx = sign(x) (0 at x = 0, the subgradient PyTorch uses)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * backend.get_array_module(x).sign(x)


class TanhFunction(Function):
    """y = tanh x.  dy/dx = 1 - tanh(x)^2 = 1 - y^2."""

    @staticmethod
    def forward(ctx, x):
        y = backend.get_array_module(x).tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


class SigmoidFunction(Function):
    """y = 1 / (1 + e^-x), computed as (1 + tanh(x/2)) / 2, which never overflows.

    dy/dx = e^-x / (1 + e^-x)^2 = y (1 - y).
    """

    @staticmethod
    def forward(ctx, x):
        y = 0.5 * (1 + backend.get_array_module(x).tanh(0.5 * x))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1 - y)


class ReLUFunction(Function):
    """y = max(x, 0).  dy/dx = 1 where x > 0, else 0 (0 at the kink, like PyTorch).

    The backward follows ``minidl.backprop_rule``: "deconvnet" passes max(g, 0) whatever x
    was, and "guided" passes max(g, 0) only where x > 0 (guided backpropagation).
    """

    @staticmethod
    def forward(ctx, x):
        y = backend.get_array_module(x).maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        rule = STATE.relu_rule
        if rule == "default":
            return g * (y > 0)
        positive_g = backend.get_array_module(g).maximum(g, 0)
        if rule == "deconvnet":
            return positive_g
        return positive_g * (y > 0)


class LeakyReLUFunction(Function):
    """y = x for x > 0, a*x otherwise.  dy/dx = 1 or a (a at the kink x = 0, like PyTorch).

    The slope ``a`` is a hyper-parameter, not an input with a gradient (None).
    """

    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
        ctx.save_for_backward(x)
        ctx.slope = negative_slope
        return backend.get_array_module(x).where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return backend.get_array_module(g).where(x > 0, g, g * ctx.slope), None


class ClipFunction(Function):
    """y = min(max(x, lo), hi).  dy/dx = 1 for lo <= x <= hi, else 0 (PyTorch's clamp).

    The bounds are constants: their gradients are None.
    """

    @staticmethod
    def forward(ctx, x, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip needs at least one of min and max")
        ctx.save_for_backward(x)
        ctx.bounds = lo, hi
        return backend.get_array_module(x).clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        inside = True
        if lo is not None:
            inside = x >= lo
        if hi is not None:
            inside = inside & (x <= hi)
        return g * inside, None, None


class MaximumFunction(Function):
    """z = max(x, y) elementwise.  The gradient goes to the larger; ties split it in half."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        try:
            return backend.get_array_module(x, y).maximum(x, y)
        except ValueError:
            raise broadcast_error("maximum", x, y) from None

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return _select_grads(ctx, g, (x > y) + 0.5 * (x == y))


class MinimumFunction(Function):
    """z = min(x, y) elementwise.  The gradient goes to the smaller; ties split it in half."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        try:
            return backend.get_array_module(x, y).minimum(x, y)
        except ValueError:
            raise broadcast_error("minimum", x, y) from None

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        return _select_grads(ctx, g, (x < y) + 0.5 * (x == y))


def _select_grads(ctx, g, share_x):
    """Split g between x (fraction ``share_x``) and y (the rest)."""
    x, y = ctx.saved_tensors
    needs_x, needs_y = ctx.needs_input_grad
    share_x = share_x.astype(g.dtype, copy=False)
    return (unbroadcast(g * share_x, x.shape) if needs_x else None,
            unbroadcast(g * (1 - share_x), y.shape) if needs_y else None)


class WhereFunction(Function):
    """z = x where cond else y.  The gradient goes to x where cond holds and to y elsewhere;
    ``cond`` is a boolean array and gets none."""

    @staticmethod
    def forward(ctx, cond, x, y):
        xp = backend.get_array_module(cond, x, y)
        ctx.save_for_backward(cond)
        ctx.shapes = shape_of(x), shape_of(y)
        try:
            return xp.where(cond, x, y)
        except ValueError:
            raise ValueError(f"where: shapes {shape_of(cond)}, {shape_of(x)} and {shape_of(y)} "
                             "cannot be broadcast together") from None

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        sx, sy = ctx.shapes
        _, needs_x, needs_y = ctx.needs_input_grad
        xp = backend.get_array_module(g)
        return (None,
                unbroadcast(xp.where(cond, g, 0), sx) if needs_x else None,
                unbroadcast(xp.where(cond, 0, g), sy) if needs_y else None)


class CloneFunction(Function):
    """y = x (a copy).  dy/dx = 1."""

    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g


class CastFunction(Function):
    """y = x converted to ``dtype``.  The gradient is converted back to x's dtype."""

    @staticmethod
    def forward(ctx, x, dtype):
        ctx.dtype = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype), None


class ToDeviceFunction(Function):
    """y = x copied to another device.  The gradient is copied back."""

    @staticmethod
    def forward(ctx, x, device):
        ctx.device = backend.device_of(x)
        return backend.to_device(x, device)

    @staticmethod
    def backward(ctx, g):
        return backend.to_device(g, ctx.device), None
