"""Reusable Hypothesis strategies for the op tests.

Everything here draws small float64 NumPy arrays (at most ``MAX_SIZE`` elements), so a full
finite-difference Jacobian stays cheap. Kinks are avoided honestly, by construction of the
values and never by loosening tolerances:

* ``away_from(points)`` keeps every element at least ``margin`` from each point (0 for
  abs/relu/leaky_relu, the bounds for clip);
* ``positive`` for log, sqrt and the base of a real power;
* ``distinct_arrays`` puts all elements on a grid with no repeats, so max/min reductions
  never see a tie;
* ``separated_pair`` puts one operand on the even and the other on the odd points of a grid,
  so ``maximum``/``minimum`` never compare equal values, whatever the broadcasting.

The central differences use eps = 1e-6, so a margin of 0.05 is far larger than any step.
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

MAX_SIZE = 60
MARGIN = 0.05


def size_of(shape) -> int:
    return int(math.prod(shape))


# ----------------------------------------------------------------------------- elements
def reals(lo: float = -3.0, hi: float = 3.0):
    """Finite floats in [lo, hi] (no NaN, inf or subnormals)."""
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def positive(lo: float = 0.1, hi: float = 3.0):
    """Floats in [lo, hi] with lo > 0: the domain of log, sqrt and x ** y for real y."""
    assert lo > 0
    return reals(lo, hi)


def away_from(points=(0.0,), lo: float = -3.0, hi: float = 3.0, margin: float = MARGIN):
    """Floats in [lo, hi] at least ``margin`` from each of ``points`` (the kinks)."""
    edges = sorted(points)
    intervals, start = [], lo
    for p in edges:
        if p - margin > start:
            intervals.append((start, p - margin))
        start = max(start, p + margin)
    if hi > start:
        intervals.append((start, hi))
    return st.one_of([reals(a, b) for a, b in intervals])


def nonzero(lo: float = 0.2, hi: float = 3.0):
    """Floats with lo <= |x| <= hi: safe divisors and bases of negative powers."""
    return away_from((0.0,), -hi, hi, lo)


# ----------------------------------------------------------------------------- shapes
def shapes(min_dims: int = 0, max_dims: int = 4, min_side: int = 1, max_side: int = 4,
           max_size: int = MAX_SIZE):
    """Array shapes with at most ``max_size`` elements."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side).filter(lambda s: size_of(s) <= max_size)


def broadcastable_shapes(num_shapes: int = 2, min_dims: int = 0, max_dims: int = 4,
                         max_side: int = 3, max_size: int = MAX_SIZE):
    """``num_shapes`` mutually broadcastable shapes (size-1 axes, missing leading axes).

    Returns Hypothesis' ``BroadcastableShapes(input_shapes, result_shape)``.
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).filter(lambda b: size_of(b.result_shape) <= max_size)


# ----------------------------------------------------------------------------- arrays
def arrays(shape, elements=None, dtype=np.float64):
    """Float arrays of ``shape`` (a tuple or a strategy); each element drawn on its own."""
    return hnp.arrays(dtype, shape, elements=reals() if elements is None else elements,
                      fill=st.nothing())


@st.composite
def distinct_arrays(draw, shape, spacing: float = 0.1):
    """Arrays whose elements are pairwise at least ``spacing`` apart (no ties anywhere)."""
    if not isinstance(shape, tuple):
        shape = draw(shape)
    n = size_of(shape)
    ints = draw(st.lists(st.integers(-30, 30), min_size=n, max_size=n, unique=True))
    return (np.array(ints, dtype=np.float64) * spacing).reshape(shape)


@st.composite
def separated_pair(draw, shape_x, shape_y, spacing: float = 0.2):
    """Two arrays such that |x_i - y_j| >= spacing / 2 for every pair of elements.

    x lives on the grid k * spacing and y on k * spacing + spacing / 2.
    """
    n_x, n_y = size_of(shape_x), size_of(shape_y)
    kx = draw(st.lists(st.integers(-10, 10), min_size=n_x, max_size=n_x))
    ky = draw(st.lists(st.integers(-10, 10), min_size=n_y, max_size=n_y))
    x = (np.array(kx, dtype=np.float64) * spacing).reshape(shape_x)
    y = (np.array(ky, dtype=np.float64) * spacing + spacing / 2).reshape(shape_y)
    return x, y


# ----------------------------------------------------------------------------- axes
@st.composite
def axes(draw, ndim: int, allow_none: bool = True, allow_tuple: bool = True):
    """An axis selection for a reduction: None, one int (maybe negative), or a tuple of
    distinct axes (each maybe negative, in any order)."""
    if ndim == 0:
        return None
    kinds = ["int"] + (["none"] if allow_none else []) + (["tuple"] if allow_tuple else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    signs = draw(st.lists(st.booleans(), min_size=len(chosen), max_size=len(chosen)))
    return tuple(a - ndim if neg else a for a, neg in zip(chosen, signs))


def axis(ndim: int):
    """One axis of an ``ndim``-d array, possibly negative."""
    return st.integers(-ndim, ndim - 1)


# ----------------------------------------------------------------------------- indices
@st.composite
def stepped_slices(draw, n: int):
    """A slice with any start/stop (maybe negative or None) and a step in +-1..3."""
    start = draw(st.none() | st.integers(-n - 1, n))
    stop = draw(st.none() | st.integers(-n - 1, n))
    step = draw(st.sampled_from([1, 2, 3, -1, -2]))
    return slice(start, stop, step)


@st.composite
def repeated_int_array(draw, n: int, length=None):
    """A 1-D integer index array into an axis of length n with at least one repeated index
    (negative indices too), so a backward has to add up the gradients of the repeats."""
    if length is None:
        length = draw(st.integers(2, 6))
    values = draw(st.lists(st.integers(-n, n - 1), min_size=length - 1, max_size=length - 1))
    repeat = draw(st.sampled_from(values))
    values.insert(draw(st.integers(0, len(values))), repeat)
    return np.array(values, dtype=np.int64)


@st.composite
def basic_indices(draw, shape):
    """Ints (negative too), slices with steps, None and Ellipsis (NumPy basic indexing)."""
    if draw(st.booleans()) and len(shape) > 0:
        return tuple(draw(stepped_slices(n)) if draw(st.booleans()) else draw(st.integers(-n, n - 1))
                     for n in shape[:draw(st.integers(1, len(shape)))])
    return draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))


@st.composite
def int_array_indices(draw, shape):
    """An integer array with repeated indices on one axis (the others sliced)."""
    ax = draw(st.integers(0, len(shape) - 1))
    arr = draw(repeated_int_array(shape[ax]))
    if draw(st.booleans()):
        arr = arr.reshape(-1, 1) if draw(st.booleans()) else arr.reshape(1, -1)
    if ax == 0 and draw(st.booleans()):
        return arr
    return (slice(None),) * ax + (arr,)


@st.composite
def mask_indices(draw, shape):
    """A boolean mask over the leading axes, or a 1-D mask on a later axis after a slice."""
    if len(shape) >= 2 and draw(st.booleans()):
        ax = draw(st.integers(1, len(shape) - 1))
        mask = np.array(draw(st.lists(st.booleans(), min_size=shape[ax], max_size=shape[ax])))
        return (draw(stepped_slices(shape[0])),) + (slice(None),) * (ax - 1) + (mask,)
    k = draw(st.integers(1, len(shape)))
    return draw(hnp.arrays(np.bool_, shape[:k], fill=st.nothing()))


@st.composite
def mixed_indices(draw, shape):
    """Per axis an int, a stepped slice or an integer array with repeats (at least one
    array; all arrays of one length so they broadcast together)."""
    n_axes = draw(st.integers(1, len(shape)))
    length = draw(st.integers(2, 4))
    kinds = draw(st.lists(st.sampled_from(["int", "slice", "array"]), min_size=n_axes,
                          max_size=n_axes))
    kinds[draw(st.integers(0, n_axes - 1))] = "array"
    parts = []
    for kind, n in zip(kinds, shape):
        if kind == "int":
            parts.append(draw(st.integers(-n, n - 1)))
        elif kind == "slice":
            parts.append(draw(stepped_slices(n)))
        else:
            parts.append(draw(repeated_int_array(n, length)))
    return tuple(parts)


INDEX_KINDS = ("basic", "int_array", "mask", "mixed")


def indices(shape, kind: str):
    """An index expression of ``kind`` (one of ``INDEX_KINDS``) for an array of ``shape``."""
    return {"basic": basic_indices, "int_array": int_array_indices, "mask": mask_indices,
            "mixed": mixed_indices}[kind](shape)


# ----------------------------------------------------------------------------- matmul
MATMUL_KINDS = ("1d@1d", "1d@nd", "nd@1d", "batched")


@st.composite
def matmul_shapes(draw, kind: str):
    """Operand shapes for one of ``MATMUL_KINDS``; "batched" broadcasts the batch axes
    (size-1 axes on either side, missing leading axes)."""
    k = draw(st.integers(1, 4))
    if kind == "1d@1d":
        return (k,), (k,)
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                                   max_side=3))
    n, m = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    bx, by = batch.input_shapes
    if kind == "1d@nd":
        return (k,), by + (k, m)
    if kind == "nd@1d":
        return bx + (n, k), (k,)
    return bx + (n, k), by + (k, m)


# ----------------------------------------------------------------------------- losses
@st.composite
def classification(draw, spatial: bool = False, ignore: bool = False, max_n: int = 4,
                   max_c: int = 5):
    """Logits (N, C) or (N, C, H, W), integer targets (N,) or (N, H, W), and an ignore_index.

    With ``ignore`` some targets equal ignore_index (which is -100, -1, or a class index), but
    at least one target is kept, so the "mean" reduction is defined.
    """
    n, c = draw(st.integers(1, max_n)), draw(st.integers(2, max_c))
    rest = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if spatial else ()
    logits = draw(arrays((n, c) + rest))
    target = np.array(draw(st.lists(st.integers(0, c - 1), min_size=n * size_of(rest),
                                    max_size=n * size_of(rest))), dtype=np.int64)
    target = target.reshape((n,) + rest)
    ignore_index = -100
    if ignore:
        ignore_index = draw(st.sampled_from([-100, -1, c - 1]))
        flat = target.reshape(-1)
        if ignore_index < 0:
            drop = draw(st.lists(st.integers(0, flat.size - 1), max_size=flat.size, unique=True))
            keep = draw(st.integers(0, flat.size - 1))
            flat[[i for i in drop if i != keep]] = ignore_index
        elif (flat == ignore_index).all():
            flat[draw(st.integers(0, flat.size - 1))] = 0
    return logits, target, ignore_index


def class_weights(c: int):
    return arrays((c,), positive(0.2, 2.0))


def probabilities(shape):
    """Targets for binary cross-entropy: values in [0, 1]."""
    return arrays(shape, reals(0.0, 1.0))
