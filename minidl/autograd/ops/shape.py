"""Ops that move values without changing them: reshape, permute, indexing, concatenate,
stack and pad.

Their Jacobians are permutation-like (each output element is one input element), so
each backward routes the gradient back to where the value came from; indexing with
repeated indices adds the gradients of the repeats (a scatter-add).
"""
from __future__ import annotations

import numpy as np

from ... import backend
from ..function import Function
from ._util import normalize_axes


class ReshapeFunction(Function):
    """y = x with a new shape (same elements in C order).  gx = g reshaped back."""

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                             f"into shape {shape}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class PermuteFunction(Function):
    """y = x with its axes reordered: y.shape[i] = x.shape[perm[i]].  gx = g with the
    inverse permutation."""

    @staticmethod
    def forward(ctx, x, perm):
        if sorted(a % max(x.ndim, 1) for a in perm) != list(range(x.ndim)):
            raise ValueError(f"permute: {perm} is not a permutation of the {x.ndim} axes of "
                             f"a tensor of shape {x.shape}")
        perm = tuple(a % x.ndim for a in perm)
        ctx.inverse = tuple(sorted(range(len(perm)), key=perm.__getitem__))
        return x.transpose(perm)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inverse), None


def _is_basic_index(index):
    """True when the index only uses ints, slices, None and Ellipsis (no index arrays)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(p is None or p is Ellipsis or isinstance(p, slice)
               or (isinstance(p, (int, np.integer)) and not isinstance(p, bool)) for p in parts)


class GetItemFunction(Function):
    """y = x[index] for slices, integers, integer arrays and boolean masks.

    Every element of y is one element of x, so gx is zero except where x was read; an element
    read several times (repeated indices) receives the sum of its gradients (np.add.at).
    """

    @staticmethod
    def forward(ctx, x, index):
        ctx.x_shape, ctx.x_dtype, ctx.index = x.shape, x.dtype, index
        try:
            return x[index]
        except IndexError as e:
            raise IndexError(f"index {index!r} is invalid for a tensor of shape {x.shape}: {e}") from None

    @staticmethod
    def backward(ctx, g):
        shape, dtype, index = ctx.x_shape, ctx.x_dtype, ctx.index
        xp = backend.get_array_module(g)
        gx = xp.zeros(shape, dtype)
        if _is_basic_index(index):
            gx[index] = g
        else:
            xp.add.at(gx, index, g)
        return gx, None


class ConcatenateFunction(Function):
    """y = the inputs joined along ``axis``.  Each input's gradient is its slice of g."""

    @staticmethod
    def forward(ctx, *xs, axis=0):
        if not xs:
            raise ValueError("concatenate needs at least one tensor")
        xp = backend.get_array_module(*xs)
        try:
            y = xp.concatenate(xs, axis=axis)
        except (ValueError, IndexError):
            shapes = ", ".join(str(x.shape) for x in xs)
            raise ValueError(f"concatenate along axis {axis}: shapes {shapes} must match except "
                             "along that axis") from None
        ctx.axis = normalize_axes(axis, y.ndim)[0]
        ctx.sizes = [x.shape[ctx.axis] for x in xs]
        return y

    @staticmethod
    def backward(ctx, g):
        grads, start = [], 0
        for n, needed in zip(ctx.sizes, ctx.needs_input_grad):
            index = (slice(None),) * ctx.axis + (slice(start, start + n),)
            grads.append(g[index] if needed else None)
            start += n
        return tuple(grads)


class StackFunction(Function):
    """y = the inputs stacked along a new ``axis``.  Input i's gradient is g taken at i."""

    @staticmethod
    def forward(ctx, *xs, axis=0):
        if not xs:
            raise ValueError("stack needs at least one tensor")
        shapes = {x.shape for x in xs}
        if len(shapes) > 1:
            raise ValueError(f"stack needs tensors of one shape, got {sorted(shapes)}")
        xp = backend.get_array_module(*xs)
        y = xp.stack(xs, axis=axis)
        ctx.axis = normalize_axes(axis, y.ndim)[0]
        return y

    @staticmethod
    def backward(ctx, g):
        return tuple(g.take(i, axis=ctx.axis) if needed else None
                     for i, needed in enumerate(ctx.needs_input_grad))


class PadFunction(Function):
    """y = x surrounded by ``value``; ``pad_width`` is NumPy's ((before, after), ...).

    The border does not depend on x, so gx is the interior of g.
    """

    @staticmethod
    def forward(ctx, x, pad_width, value=0.0):
        xp = backend.get_array_module(x)
        ctx.interior = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, x.shape))
        return xp.pad(x, pad_width, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.interior], None, None


def normalize_pad_width(pad_width, ndim):
    """NumPy's forms (n, (before, after), or one pair per axis) as a tuple of pairs."""
    if isinstance(pad_width, int):
        pairs = ((pad_width, pad_width),) * ndim
    elif len(pad_width) == 2 and all(isinstance(p, int) for p in pad_width):
        pairs = (tuple(pad_width),) * ndim
    else:
        pairs = tuple(tuple(p) for p in pad_width)
    if len(pairs) != ndim or any(len(p) != 2 or min(p) < 0 for p in pairs):
        raise ValueError(f"pad_width {pad_width!r} must give a non-negative (before, after) pair "
                         f"for each of the {ndim} axes")
    return tuple((int(a), int(b)) for a, b in pairs)


def reshape(x, shape):
    return ReshapeFunction.apply(x, shape)


def squeeze(x, axis=None):
    """Remove length-1 axes (all of them, or those in ``axis``; others are left as they are)."""
    axes = normalize_axes(axis, x.ndim)
    shape = tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1))
    return ReshapeFunction.apply(x, shape)


def unsqueeze(x, axis):
    """Insert a length-1 axis at position ``axis`` (negative counts from the end of the result)."""
    ndim = x.ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"unsqueeze: axis {axis} is out of range for a result with {ndim} axes")
    shape = list(x.shape)
    shape.insert(axis % ndim, 1)
    return ReshapeFunction.apply(x, tuple(shape))


def flatten(x, start_dim=0, end_dim=-1):
    """Merge the axes start_dim..end_dim (inclusive) into one."""
    if x.ndim == 0:
        return ReshapeFunction.apply(x, (1,))
    start, end = start_dim % x.ndim, end_dim % x.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = 1
    for n in x.shape[start:end + 1]:
        merged *= n
    return ReshapeFunction.apply(x, x.shape[:start] + (merged,) + x.shape[end + 1:])
