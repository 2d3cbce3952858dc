"""Arithmetic with NumPy broadcasting: + - * / ** neg and matmul.

Every binary op broadcasts its operands; its backward first computes the gradient at the
broadcast shape and then ``unbroadcast``s it (sums over the stretched axes). Either operand
may be a Python number, which is a constant and gets no gradient.
"""
from __future__ import annotations

import numpy as np

from ... import backend
from ..function import Function
from ._util import broadcast_error, shape_of, unbroadcast


class AddFunction(Function):
    """z = x + y.  dz/dx = dz/dy = 1, so both gradients are g (unbroadcast)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.shapes = shape_of(x), shape_of(y)
        try:
            return x + y
        except ValueError:
            raise broadcast_error("add", x, y) from None

    @staticmethod
    def backward(ctx, g):
        sx, sy = ctx.shapes
        needs_x, needs_y = ctx.needs_input_grad
        return (unbroadcast(g, sx) if needs_x else None,
                unbroadcast(g, sy) if needs_y else None)


class SubFunction(Function):
    """z = x - y.  dz/dx = 1, dz/dy = -1."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.shapes = shape_of(x), shape_of(y)
        try:
            return x - y
        except ValueError:
            raise broadcast_error("sub", x, y) from None

    @staticmethod
    def backward(ctx, g):
        sx, sy = ctx.shapes
        needs_x, needs_y = ctx.needs_input_grad
        return (unbroadcast(g, sx) if needs_x else None,
                unbroadcast(-g, sy) if needs_y else None)


class MulFunction(Function):
    """z = x * y.  dz/dx = y and dz/dy = x, so gx = g*y and gy = g*x."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        try:
            return x * y
        except ValueError:
            raise broadcast_error("mul", x, y) from None

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        needs_x, needs_y = ctx.needs_input_grad
        return (unbroadcast(g * y, x.shape) if needs_x else None,
                unbroadcast(g * x, y.shape) if needs_y else None)


class DivFunction(Function):
    """z = x / y.  dz/dx = 1/y and dz/dy = -x/y**2 = -z/y."""

    @staticmethod
    def forward(ctx, x, y):
        try:
            z = x / y
        except ValueError:
            raise broadcast_error("div", x, y) from None
        ctx.save_for_backward(x, y, z)
        return z

    @staticmethod
    def backward(ctx, g):
        x, y, z = ctx.saved_tensors
        needs_x, needs_y = ctx.needs_input_grad
        return (unbroadcast(g / y, x.shape) if needs_x else None,
                unbroadcast(-g * z / y, y.shape) if needs_y else None)


class PowFunction(Function):
    """z = x ** y.  dz/dx = y * x**(y-1) and dz/dy = z * ln(x) (x > 0).

    At the edge x = 0 the formulas give 0 * inf; PyTorch's values are used instead, which
    are the true derivatives away from the single point (0, 0): x**0 = 1 for every x, so
    dz/dx = 0 where y = 0; and 0**y = 0 for every y > 0, so dz/dy = 0 where x = 0, y >= 0.
    """

    @staticmethod
    def forward(ctx, x, y):
        try:
            z = x ** y
        except ValueError:
            raise broadcast_error("pow", x, y) from None
        ctx.save_for_backward(x, y, z)
        return z

    @staticmethod
    def backward(ctx, g):
        x, y, z = ctx.saved_tensors
        needs_x, needs_y = ctx.needs_input_grad
        xp = backend.get_array_module(z)
        gx = gy = None
        with np.errstate(divide="ignore", invalid="ignore"):  # the x = 0 cases are replaced
            if needs_x:
                gx = unbroadcast(g * xp.where(y == 0, 0, y * x ** (y - 1)), x.shape)
            if needs_y:
                gy = unbroadcast(g * xp.where((x == 0) & (y >= 0), 0, z * xp.log(x)), y.shape)
        return gx, gy


class NegFunction(Function):
    """z = -x.  dz/dx = -1."""

    @staticmethod
    def forward(ctx, x):
        return -x

    @staticmethod
    def backward(ctx, g):
        return -g


class MatMulFunction(Function):
    """z = x @ y with NumPy's rules (1-D operands, batched and broadcast leading axes).

    For matrices, z_ij = sum_k x_ik y_kj, so dL/dx_ik = sum_j g_ij y_kj, i.e. gx = g @ y^T,
    and gy = x^T @ g. A 1-D x is a row (1, k) and a 1-D y a column (k, 1) whose added axis
    is dropped from z; batch axes that were broadcast are summed (unbroadcast).
    """

    @staticmethod
    def forward(ctx, x, y):
        _check_matmul_shapes(x, y)
        ctx.save_for_backward(x, y)
        try:
            return x @ y
        except ValueError:
            raise broadcast_error("matmul (batch axes)", x, y) from None

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        needs_x, needs_y = ctx.needs_input_grad
        x2 = x[None, :] if x.ndim == 1 else x
        y2 = y[:, None] if y.ndim == 1 else y
        if x.ndim == 1:
            g = g[..., None, :] if y.ndim > 1 else g[..., None]
        if y.ndim == 1:
            g = g[..., None]
        gx = gy = None
        if needs_x:
            gx = unbroadcast(g @ y2.swapaxes(-1, -2), x2.shape).reshape(x.shape)
        if needs_y:
            gy = unbroadcast(x2.swapaxes(-1, -2) @ g, y2.shape).reshape(y.shape)
        return gx, gy


def _check_matmul_shapes(x, y):
    sx, sy = shape_of(x), shape_of(y)
    if not sx or not sy:
        raise ValueError(f"matmul needs operands with at least one dimension, got shapes {sx} and {sy}")
    k_y = sy[0] if len(sy) == 1 else sy[-2]
    if sx[-1] != k_y:
        raise ValueError(f"matmul: shapes {sx} and {sy} are not aligned: "
                         f"{sx[-1]} (last axis of the first) != {k_y} "
                         f"({'only' if len(sy) == 1 else 'second-to-last'} axis of the second)")
