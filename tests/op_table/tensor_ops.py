"""Op-table entries of the tensor ops: arithmetic, elementwise functions, reductions, shape
ops, indexing, the losses and ``linear``; each with its Hypothesis strategy, an independent
NumPy forward and, where PyTorch has the op under a comparable name, the PyTorch call."""
from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl.functional.activation import log_softmax_composed, softmax_composed
from minidl.functional.linear import linear_composed
from minidl.functional.loss import (binary_cross_entropy_with_logits_composed,
                                    cross_entropy_composed, nll_loss_composed)
from tests.op_table.entry import OpEntry, inputs
from tests.strategies import (INDEX_KINDS, MATMUL_KINDS, arrays, away_from, axes, axis,
                              broadcastable_shapes, class_weights, classification,
                              distinct_arrays, indices, matmul_shapes, nonzero, positive,
                              probabilities, reals, separated_pair, shapes, size_of)

@st.composite
def _pair(draw, x_values=None, y_values=None, separated=False):
    sx, sy = draw(broadcastable_shapes()).input_shapes
    if separated:
        return draw(separated_pair(sx, sy)), None
    return (draw(arrays(sx, x_values)), draw(arrays(sy, y_values))), None


def _unary(values=None, shape=None):
    return inputs(arrays(shapes() if shape is None else shape, values))


@st.composite
def _reduction(draw, distinct=False, correction=0):
    shape = draw(shapes())
    ax = draw(axes(len(shape)))
    normalized = range(len(shape)) if ax is None else ((ax,) if isinstance(ax, int) else ax)
    assume(size_of([shape[a] for a in normalized]) > correction)
    x = draw(distinct_arrays(shape) if distinct else arrays(shape))
    return (x,), (ax, draw(st.booleans()))


@st.composite
def _with_axis(draw, min_dims=1):
    shape = draw(shapes(min_dims=min_dims))
    return (draw(arrays(shape)),), draw(axis(len(shape)))


@st.composite
def _matmul(draw):
    sx, sy = draw(matmul_shapes(draw(st.sampled_from(MATMUL_KINDS))))
    return (draw(arrays(sx)), draw(arrays(sy))), None


@st.composite
def _getitem(draw):
    shape = draw(shapes(min_dims=1))
    index = draw(indices(shape, draw(st.sampled_from(INDEX_KINDS))))
    return (draw(arrays(shape)),), index


@st.composite
def _reshape(draw):
    shape = draw(shapes())
    n = size_of(shape)
    first = draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    target = draw(st.sampled_from([(n,), (first, n // first), (n // first, -1), (1, -1, 1)]))
    return (draw(arrays(shape)),), target


@st.composite
def _perm(draw):
    shape = draw(shapes(min_dims=1))
    return (draw(arrays(shape)),), tuple(draw(st.permutations(range(len(shape)))))


@st.composite
def _squeeze(draw):
    shape = draw(shapes(max_side=2))
    return (draw(arrays(shape)),), draw(st.none() | axes(len(shape), allow_none=False))


@st.composite
def _unsqueeze(draw):
    shape = draw(shapes())
    return (draw(arrays(shape)),), draw(st.integers(-len(shape) - 1, len(shape)))


@st.composite
def _flatten(draw):
    shape = draw(shapes(min_dims=1))
    n = len(shape)
    start = draw(st.integers(0, n - 1))
    return (draw(arrays(shape)),), (start, draw(st.integers(start, n - 1)))


@st.composite
def _concatenate(draw, stack=False):
    base = draw(shapes(min_dims=0 if stack else 1, max_dims=3, max_side=3))
    ax = draw(axis(len(base) + (1 if stack else 0)))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        if not stack:
            shape[ax] = draw(st.integers(1, 3))
        parts.append(draw(arrays(tuple(shape))))
    return tuple(parts), ax


@st.composite
def _pad(draw):
    shape = draw(shapes(min_dims=1, max_dims=3, max_side=3))
    width = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in shape)
    return (draw(arrays(shape)),), (width, draw(st.sampled_from([0.0, 2.5])))


@st.composite
def _where(draw):
    sc, sx, sy = draw(broadcastable_shapes(num_shapes=3)).input_shapes
    cond = draw(arrays(sc, st.booleans(), dtype=np.bool_))
    return (draw(arrays(sx)), draw(arrays(sy))), cond


@st.composite
def _cross_entropy(draw, nll=False):
    logits, target, ignore_index = draw(classification(spatial=draw(st.booleans()),
                                                       ignore=draw(st.booleans()), max_n=3))
    weight = draw(st.none() | class_weights(logits.shape[1]))
    smoothing = 0.0 if nll else draw(st.sampled_from([0.0, 0.1, 0.3]))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return (logits,), (target, weight, ignore_index, reduction, smoothing)


@st.composite
def _bce(draw):
    shape = draw(shapes(min_dims=1))
    x, t = draw(arrays(shape, reals(-6.0, 6.0))), draw(probabilities(shape))
    weight = draw(st.none() | arrays(shape[-1:], positive(0.2, 2.0)))
    pos_weight = draw(st.none() | arrays(shape[-1:], positive(0.2, 3.0)))
    return (x, t), (weight, pos_weight, draw(st.sampled_from(["mean", "sum", "none"])))


@st.composite
def _mse(draw):
    shape = draw(shapes())
    return ((draw(arrays(shape)), draw(arrays(shape))),
            draw(st.sampled_from(["mean", "sum", "none"])))


@st.composite
def _linear(draw):
    lead = draw(shapes(max_dims=2, max_side=3))
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    return (draw(arrays(lead + (n_in,))), draw(arrays((n_out, n_in))),
            draw(arrays((n_out,)))), None


# ---------------------------------------------------------------- independent NumPy references
def _np_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np_logsumexp(x, ax, keep):
    return np.log(np.sum(np.exp(x), axis=ax, keepdims=keep))


def _np_softmax(x, ax):
    e = np.exp(x)
    return e / e.sum(axis=ax, keepdims=True)


def _norm_axes(ax, ndim):
    if ax is None:
        return tuple(range(ndim))
    return tuple(a % ndim for a in ((ax,) if isinstance(ax, int) else ax))


def _np_squeeze(x, ax):
    return np.squeeze(x, axis=tuple(a for a in _norm_axes(ax, x.ndim) if x.shape[a] == 1))


def _np_flatten(x, start, end):
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])


def _np_cross_entropy(x, target, weight, ignore_index, reduction, smoothing):
    """PyTorch's documented formula, sample by sample."""
    c = x.shape[1]
    w = np.ones(c) if weight is None else weight
    rows = np.moveaxis(x, 1, -1).reshape(-1, c)
    labels = target.reshape(-1)
    losses, total_weight = np.zeros(len(labels)), 0.0
    for i, (row, y) in enumerate(zip(rows, labels)):
        if y == ignore_index:
            continue
        log_p = row - np.log(np.sum(np.exp(row)))
        losses[i] = (1 - smoothing) * -w[y] * log_p[y] + smoothing * -np.sum(w * log_p) / c
        total_weight += w[y]
    return _np_reduce(losses.reshape(target.shape), reduction, total_weight)


def _np_nll(x, target, weight, ignore_index, reduction, _smoothing=0.0):
    c = x.shape[1]
    w = np.ones(c) if weight is None else weight
    rows = np.moveaxis(x, 1, -1).reshape(-1, c)
    labels = target.reshape(-1)
    losses, total_weight = np.zeros(len(labels)), 0.0
    for i, (row, y) in enumerate(zip(rows, labels)):
        if y != ignore_index:
            losses[i] = -w[y] * row[y]
            total_weight += w[y]
    return _np_reduce(losses.reshape(target.shape), reduction, total_weight)


def _np_reduce(losses, reduction, denominator):
    if reduction == "none":
        return losses
    return losses.sum() / denominator if reduction == "mean" else losses.sum()


def _np_bce(x, t, weight, pos_weight, reduction):
    s = _np_sigmoid(x)
    p = 1.0 if pos_weight is None else pos_weight
    w = 1.0 if weight is None else weight
    loss = -w * (p * t * np.log(s) + (1 - t) * np.log(1 - s))
    return _np_reduce(loss, reduction, loss.size)


def _np_mse(x, t, reduction):
    return _np_reduce((x - t) ** 2, reduction, x.size)


def _dims(ax, ndim):
    """A minidl axis argument as PyTorch's ``dim`` (None: every axis)."""
    return tuple(range(ndim)) if ax is None else ax


def _unary_entry(name, fn, oracle, values=None, torch=None, **kwargs):
    return OpEntry(name, _unary(values), lambda p, x: fn(x), lambda p, x: oracle(x),
                   torch=None if torch is None else (lambda T, p, x: torch(T, x)), **kwargs)


def _binary_entry(name, fn, draw=None, **kwargs):
    """An operator written the same way for minidl and PyTorch tensors (x + y, ...)."""
    draw = _pair() if draw is None else draw
    return OpEntry(name, draw, lambda p, x, y: fn(x, y), lambda p, x, y: fn(x, y),
                   torch=lambda T, p, x, y: fn(x, y), **kwargs)


def _reduction_entry(name, method, oracle, torch_name=None, **kwargs):
    return OpEntry(name, kwargs.pop("draw", _reduction()),
                   lambda p, x: getattr(x, method)(*p, **kwargs.get("options", {})),
                   oracle, torch=None if torch_name is None else (
                       lambda T, p, x: getattr(T, torch_name)(x, dim=_dims(p[0], x.ndim),
                                                              keepdim=p[1])),
                   **{k: v for k, v in kwargs.items() if k != "options"})


def _ce_args(p):
    target, weight, ignore_index, reduction, smoothing = p
    return target, weight, ignore_index, reduction, smoothing


def _torch_ce(T, p, x, nll=False):
    target, weight, ignore_index, reduction, smoothing = p
    weight = None if weight is None else T.from_numpy(weight)
    if nll:
        return T.nn.functional.nll_loss(x, T.from_numpy(target), weight=weight,
                                        ignore_index=ignore_index, reduction=reduction)
    return T.nn.functional.cross_entropy(x, T.from_numpy(target), weight=weight,
                                         ignore_index=ignore_index, reduction=reduction,
                                         label_smoothing=smoothing)


def _torch_bce(T, p, x, t):
    weight, pos_weight, reduction = p
    return T.nn.functional.binary_cross_entropy_with_logits(
        x, t, weight=None if weight is None else T.from_numpy(weight),
        pos_weight=None if pos_weight is None else T.from_numpy(pos_weight), reduction=reduction)


def _torch_pad(T, p, x):
    width, value = p
    return T.nn.functional.pad(x, [n for pair in reversed(width) for n in pair], value=value)


ARITHMETIC = [
    _binary_entry("add", lambda x, y: x + y),
    _binary_entry("sub", lambda x, y: x - y),
    _binary_entry("mul", lambda x, y: x * y),
    _binary_entry("div", lambda x, y: x / y, _pair(y_values=nonzero())),
    _binary_entry("pow", lambda x, y: x ** y, _pair(positive(), reals(-2, 2))),
    _unary_entry("scalar+x", lambda x: 1.5 + x, lambda x: 1.5 + x),
    _unary_entry("x-scalar", lambda x: x - 0.25, lambda x: x - 0.25),
    _unary_entry("scalar-x", lambda x: 2.0 - x, lambda x: 2.0 - x),
    _unary_entry("scalar*x", lambda x: -3 * x, lambda x: -3 * x),
    _unary_entry("x/scalar", lambda x: x / 1.5, lambda x: x / 1.5),
    _unary_entry("scalar/x", lambda x: 2.5 / x, lambda x: 2.5 / x, nonzero()),
    _unary_entry("x**2", lambda x: x ** 2, lambda x: x ** 2, torch=lambda T, x: x ** 2),
    _unary_entry("x**-1.5", lambda x: x ** -1.5, lambda x: x ** -1.5, positive()),
    _unary_entry("scalar**x", lambda x: 1.7 ** x, lambda x: 1.7 ** x),
    _unary_entry("neg", lambda x: -x, lambda x: -x, torch=lambda T, x: -x),
    OpEntry("matmul", _matmul(), lambda p, x, y: x @ y, lambda p, x, y: np.matmul(x, y),
            torch=lambda T, p, x, y: x @ y),
]

ELEMENTWISE = [
    _unary_entry("exp", minidl.exp, np.exp, torch=lambda T, x: T.exp(x)),
    _unary_entry("log", minidl.log, np.log, positive(), torch=lambda T, x: T.log(x)),
    _unary_entry("sqrt", minidl.sqrt, np.sqrt, positive(), torch=lambda T, x: T.sqrt(x)),
    _unary_entry("abs", minidl.abs, np.abs, away_from((0.0,)), torch=lambda T, x: T.abs(x)),
    _unary_entry("tanh", minidl.tanh, np.tanh, torch=lambda T, x: T.tanh(x)),
    _unary_entry("sigmoid", minidl.sigmoid, _np_sigmoid, torch=lambda T, x: T.sigmoid(x)),
    _unary_entry("relu", minidl.relu, lambda x: np.maximum(x, 0.0), away_from((0.0,)),
                 torch=lambda T, x: T.relu(x)),
    _unary_entry("leaky_relu", lambda x: F.leaky_relu(x, 0.1),
                 lambda x: np.where(x > 0, x, 0.1 * x), away_from((0.0,)),
                 torch=lambda T, x: T.nn.functional.leaky_relu(x, 0.1)),
    _unary_entry("relu6", F.relu6, lambda x: np.clip(x, 0.0, 6.0), away_from((0.0, 6.0), -8, 8),
                 torch=lambda T, x: T.nn.functional.relu6(x)),
    _unary_entry("silu", F.silu, lambda x: x * _np_sigmoid(x), reals(-8, 8),
                 torch=lambda T, x: T.nn.functional.silu(x)),
    _unary_entry("clip", lambda x: minidl.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7),
                 away_from((-0.5, 0.7)), torch=lambda T, x: T.clamp(x, -0.5, 0.7)),
    _unary_entry("clip_max_only", lambda x: x.clip(max=0.2), lambda x: np.minimum(x, 0.2),
                 away_from((0.2,))),
    OpEntry("maximum", _pair(separated=True), lambda p, x, y: minidl.maximum(x, y),
            lambda p, x, y: np.maximum(x, y), torch=lambda T, p, x, y: T.maximum(x, y)),
    OpEntry("minimum", _pair(separated=True), lambda p, x, y: minidl.minimum(x, y),
            lambda p, x, y: np.minimum(x, y), torch=lambda T, p, x, y: T.minimum(x, y)),
    OpEntry("where", _where(), lambda c, x, y: minidl.where(c, x, y),
            lambda c, x, y: np.where(c, x, y), exact=True,
            torch=lambda T, c, x, y: T.where(T.from_numpy(c), x, y)),
    _unary_entry("clone", lambda x: x.clone(), lambda x: x, exact=True),
]

REDUCTIONS = [
    _reduction_entry("sum", "sum", lambda p, x: np.sum(x, p[0], keepdims=p[1]), "sum"),
    _reduction_entry("mean", "mean", lambda p, x: np.mean(x, p[0], keepdims=p[1]), "mean"),
    _reduction_entry("var0", "var", lambda p, x: np.var(x, p[0], keepdims=p[1]),
                     options={"correction": 0}),
    _reduction_entry("var1", "var", lambda p, x: np.var(x, p[0], ddof=1, keepdims=p[1]),
                     draw=_reduction(correction=1), options={"correction": 1}),
    _reduction_entry("max", "max", lambda p, x: np.max(x, p[0], keepdims=p[1]), "amax",
                     draw=_reduction(distinct=True), exact=True),
    _reduction_entry("min", "min", lambda p, x: np.min(x, p[0], keepdims=p[1]), "amin",
                     draw=_reduction(distinct=True), exact=True),
    _reduction_entry("logsumexp", "logsumexp", lambda p, x: _np_logsumexp(x, *p), "logsumexp"),
    OpEntry("softmax", _with_axis(), lambda ax, x: x.softmax(ax), lambda ax, x: _np_softmax(x, ax),
            composed=lambda ax, x: softmax_composed(x, ax),
            torch=lambda T, ax, x: T.softmax(x, dim=ax)),
    OpEntry("log_softmax", _with_axis(), lambda ax, x: F.log_softmax(x, ax),
            lambda ax, x: np.log(_np_softmax(x, ax)),
            composed=lambda ax, x: log_softmax_composed(x, ax),
            torch=lambda T, ax, x: T.log_softmax(x, dim=ax)),
]

SHAPE = [
    OpEntry("reshape", _reshape(), lambda s, x: x.reshape(s), lambda s, x: x.reshape(s), True,
            torch=lambda T, s, x: x.reshape(s)),
    OpEntry("transpose", _unary(), lambda p, x: x.T, lambda p, x: x.T, True),
    OpEntry("permute", _perm(), lambda s, x: x.permute(s), lambda s, x: x.transpose(s), True,
            torch=lambda T, s, x: x.permute(s)),
    OpEntry("squeeze", _squeeze(), lambda a, x: x.squeeze(a), lambda a, x: _np_squeeze(x, a), True),
    OpEntry("unsqueeze", _unsqueeze(), lambda a, x: x.unsqueeze(a),
            lambda a, x: np.expand_dims(x, a), True, torch=lambda T, a, x: x.unsqueeze(a)),
    OpEntry("flatten", _flatten(), lambda p, x: x.flatten(*p), lambda p, x: _np_flatten(x, *p),
            True, torch=lambda T, p, x: x.flatten(*p)),
    OpEntry("getitem", _getitem(), lambda i, x: x[i], lambda i, x: x[i], True),
    OpEntry("concatenate", _concatenate(), lambda a, *xs: minidl.concatenate(xs, a),
            lambda a, *xs: np.concatenate(xs, a), True, torch=lambda T, a, *xs: T.cat(xs, a)),
    OpEntry("stack", _concatenate(stack=True), lambda a, *xs: minidl.stack(xs, a),
            lambda a, *xs: np.stack(xs, a), True, torch=lambda T, a, *xs: T.stack(xs, a)),
    OpEntry("pad", _pad(), lambda p, x: minidl.pad(x, *p),
            lambda p, x: np.pad(x, p[0], constant_values=p[1]), True, torch=_torch_pad),
]

LOSSES = [
    OpEntry("cross_entropy", _cross_entropy(),
            lambda p, x: F.cross_entropy(x, p[0], weight=p[1], ignore_index=p[2], reduction=p[3],
                                         label_smoothing=p[4]),
            lambda p, x: _np_cross_entropy(x, *p),
            composed=lambda p, x: cross_entropy_composed(x, p[0], weight=p[1], ignore_index=p[2],
                                                         reduction=p[3], label_smoothing=p[4]),
            torch=_torch_ce),
    OpEntry("nll_loss", _cross_entropy(nll=True),
            lambda p, x: F.nll_loss(x, p[0], weight=p[1], ignore_index=p[2], reduction=p[3]),
            lambda p, x: _np_nll(x, *p),
            composed=lambda p, x: nll_loss_composed(x, p[0], weight=p[1], ignore_index=p[2],
                                                    reduction=p[3]),
            torch=lambda T, p, x: _torch_ce(T, p, x, nll=True)),
    OpEntry("mse_loss", _mse(), lambda r, x, t: F.mse_loss(x, t, reduction=r),
            lambda r, x, t: _np_mse(x, t, r),
            torch=lambda T, r, x, t: T.nn.functional.mse_loss(x, t, reduction=r)),
    OpEntry("bce_with_logits", _bce(),
            lambda p, x, t: F.binary_cross_entropy_with_logits(x, t, weight=p[0], pos_weight=p[1],
                                                               reduction=p[2]),
            lambda p, x, t: _np_bce(x, t, *p),
            composed=lambda p, x, t: binary_cross_entropy_with_logits_composed(
                x, t, weight=p[0], pos_weight=p[1], reduction=p[2]),
            torch=_torch_bce),
    OpEntry("linear", _linear(), lambda p, x, w, b: F.linear(x, w, b),
            lambda p, x, w, b: x @ w.T + b, composed=lambda p, x, w, b: linear_composed(x, w, b),
            torch=lambda T, p, x, w, b: T.nn.functional.linear(x, w, b)),
]

TENSOR_OPS = ARITHMETIC + ELEMENTWISE + REDUCTIONS + SHAPE + LOSSES
