"""Small helpers shared by the backward rules."""
from __future__ import annotations


def shape_of(value):
    """Shape of an array, or None for a Python number (a constant that needs no gradient)."""
    return getattr(value, "shape", None)


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``.

    If ``z = f(x)`` broadcast ``x`` from ``shape`` to ``grad.shape``, every element of ``x``
    was used at several positions of ``z``; by the chain rule its gradient is the sum of the
    gradients at those positions.
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    stretched = tuple(lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    axes = tuple(range(lead)) + stretched
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def normalize_axes(axis, ndim):
    """``axis`` (None, an int or a tuple, negatives allowed) as a sorted tuple of axes.

    A 0-d tensor accepts axis 0 or -1 as PyTorch does (there is nothing to reduce).
    """
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    size = max(ndim, 1)
    result = []
    for a in axes:
        if not -size <= a < size:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        result.append(a % size)
    if len(set(result)) != len(result):
        raise ValueError(f"axis {axis} names the same axis twice")
    return tuple(sorted(result)) if ndim else ()


def expand_reduced(grad, shape, axes, keepdims):
    """Broadcast the gradient of a reduction back to the input's ``shape``.

    A reduction over ``axes`` drops those axes (unless ``keepdims``); put them back as
    length-1 axes, then broadcast: every input element receives its output's gradient.
    """
    if not keepdims:
        kept = list(shape)
        for a in axes:
            kept[a] = 1
        grad = grad.reshape(kept)
    return grad


def count_reduced(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def broadcast_error(op, x, y):
    return ValueError(f"{op}: shapes {shape_of(x)} and {shape_of(y)} cannot be broadcast together")
