"""Properties every differentiable op must have, beyond matching finite differences:

1. backward never modifies a forward input, the forward output or the incoming gradient,
   and running it twice gives identical bits;
2. the forward values equal a plain NumPy formulation;
3. float32 in gives float32 out and float32 gradients (float64 likewise);
4. where PyTorch is installed, forward and backward match it in float64;
5. bad inputs raise errors whose message names the offending shapes or classes;
6. comparisons give boolean tensors that do not require grad.

Properties 1-3 run over one table of op cases (``CASES``): each draws its inputs with
Hypothesis and knows the op (``fn``) and an independent NumPy reference (``ref``).
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.strategies import (INDEX_KINDS, MATMUL_KINDS, arrays, away_from, axes, axis,
                        broadcastable_shapes, class_weights, classification, distinct_arrays,
                        indices, int_array_indices, matmul_shapes, nonzero, positive,
                        probabilities, reals, repeated_int_array, separated_pair, shapes,
                        size_of)

import minidl
import minidl.functional as F


# ============================================================================ the op table
@dataclass
class Case:
    """An op: ``draw`` gives (arrays, params); ``fn(params, *tensors)`` runs minidl on the
    arrays (the differentiable inputs) and ``ref(params, *arrays)`` computes the same in NumPy.
    ``exact``: the op only moves values, so the forward must be bitwise NumPy's."""

    name: str
    draw: st.SearchStrategy
    fn: Callable
    ref: Callable
    exact: bool = False


def _inputs(*strategies, params=None):
    return st.tuples(st.tuples(*strategies), st.none() if params is None else params)


@st.composite
def _pair(draw, x_values=None, y_values=None, separated=False):
    sx, sy = draw(broadcastable_shapes()).input_shapes
    if separated:
        return draw(separated_pair(sx, sy)), None
    return (draw(arrays(sx, x_values)), draw(arrays(sy, y_values))), None


def _unary(values=None, shape=None):
    return _inputs(arrays(shapes() if shape is None else shape, values))


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


def _unary_case(name, fn, ref, values=None):
    return Case(name, _unary(values), lambda p, x: fn(x), lambda p, x: ref(x))


CASES = [
    Case("add", _pair(), lambda p, x, y: x + y, lambda p, x, y: x + y),
    Case("sub", _pair(), lambda p, x, y: x - y, lambda p, x, y: x - y),
    Case("mul", _pair(), lambda p, x, y: x * y, lambda p, x, y: x * y),
    Case("div", _pair(y_values=nonzero()), lambda p, x, y: x / y, lambda p, x, y: x / y),
    Case("pow", _pair(positive(), reals(-2, 2)), lambda p, x, y: x ** y, lambda p, x, y: x ** y),
    _unary_case("scalar+x", lambda x: 1.5 + x, lambda x: 1.5 + x),
    _unary_case("x-scalar", lambda x: x - 0.25, lambda x: x - 0.25),
    _unary_case("scalar-x", lambda x: 2.0 - x, lambda x: 2.0 - x),
    _unary_case("scalar*x", lambda x: -3 * x, lambda x: -3 * x),
    _unary_case("x/scalar", lambda x: x / 1.5, lambda x: x / 1.5),
    _unary_case("scalar/x", lambda x: 2.5 / x, lambda x: 2.5 / x, nonzero()),
    _unary_case("x**2", lambda x: x ** 2, lambda x: x ** 2),
    _unary_case("x**-1.5", lambda x: x ** -1.5, lambda x: x ** -1.5, positive()),
    _unary_case("scalar**x", lambda x: 1.7 ** x, lambda x: 1.7 ** x),
    _unary_case("neg", lambda x: -x, lambda x: -x),
    Case("matmul", _matmul(), lambda p, x, y: x @ y, lambda p, x, y: np.matmul(x, y)),
    _unary_case("exp", minidl.exp, np.exp),
    _unary_case("log", minidl.log, np.log, positive()),
    _unary_case("sqrt", minidl.sqrt, np.sqrt, positive()),
    _unary_case("abs", minidl.abs, np.abs, away_from((0.0,))),
    _unary_case("tanh", minidl.tanh, np.tanh),
    _unary_case("sigmoid", minidl.sigmoid, _np_sigmoid),
    _unary_case("relu", minidl.relu, lambda x: np.maximum(x, 0.0), away_from((0.0,))),
    _unary_case("leaky_relu", lambda x: F.leaky_relu(x, 0.1),
                lambda x: np.where(x > 0, x, 0.1 * x), away_from((0.0,))),
    _unary_case("clip", lambda x: minidl.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7),
                away_from((-0.5, 0.7))),
    _unary_case("clip_max_only", lambda x: x.clip(max=0.2), lambda x: np.minimum(x, 0.2),
                away_from((0.2,))),
    Case("maximum", _pair(separated=True), lambda p, x, y: minidl.maximum(x, y),
         lambda p, x, y: np.maximum(x, y)),
    Case("minimum", _pair(separated=True), lambda p, x, y: minidl.minimum(x, y),
         lambda p, x, y: np.minimum(x, y)),
    Case("where", _where(), lambda c, x, y: minidl.where(c, x, y),
         lambda c, x, y: np.where(c, x, y), exact=True),
    Case("sum", _reduction(), lambda p, x: x.sum(*p), lambda p, x: np.sum(x, p[0], keepdims=p[1])),
    Case("mean", _reduction(), lambda p, x: x.mean(*p),
         lambda p, x: np.mean(x, p[0], keepdims=p[1])),
    Case("var0", _reduction(), lambda p, x: x.var(*p, correction=0),
         lambda p, x: np.var(x, p[0], keepdims=p[1])),
    Case("var1", _reduction(correction=1), lambda p, x: minidl.var(x, *p),
         lambda p, x: np.var(x, p[0], ddof=1, keepdims=p[1])),
    Case("max", _reduction(distinct=True), lambda p, x: x.max(*p),
         lambda p, x: np.max(x, p[0], keepdims=p[1]), exact=True),
    Case("min", _reduction(distinct=True), lambda p, x: minidl.min(x, *p),
         lambda p, x: np.min(x, p[0], keepdims=p[1]), exact=True),
    Case("logsumexp", _reduction(), lambda p, x: x.logsumexp(*p),
         lambda p, x: _np_logsumexp(x, *p)),
    Case("softmax", _with_axis(), lambda ax, x: x.softmax(ax), lambda ax, x: _np_softmax(x, ax)),
    Case("log_softmax", _with_axis(), lambda ax, x: F.log_softmax(x, ax),
         lambda ax, x: np.log(_np_softmax(x, ax))),
    Case("reshape", _reshape(), lambda s, x: x.reshape(s), lambda s, x: x.reshape(s), True),
    Case("transpose", _unary(), lambda p, x: x.T, lambda p, x: x.T, True),
    Case("permute", _perm(), lambda s, x: x.permute(s), lambda s, x: x.transpose(s), True),
    Case("squeeze", _squeeze(), lambda a, x: x.squeeze(a), lambda a, x: _np_squeeze(x, a), True),
    Case("unsqueeze", _unsqueeze(), lambda a, x: x.unsqueeze(a),
         lambda a, x: np.expand_dims(x, a), True),
    Case("flatten", _flatten(), lambda p, x: x.flatten(*p), lambda p, x: _np_flatten(x, *p), True),
    Case("getitem", _getitem(), lambda i, x: x[i], lambda i, x: x[i], True),
    Case("concatenate", _concatenate(), lambda a, *xs: minidl.concatenate(xs, a),
         lambda a, *xs: np.concatenate(xs, a), True),
    Case("stack", _concatenate(stack=True), lambda a, *xs: minidl.stack(xs, a),
         lambda a, *xs: np.stack(xs, a), True),
    Case("pad", _pad(), lambda p, x: minidl.pad(x, *p),
         lambda p, x: np.pad(x, p[0], constant_values=p[1]), True),
    Case("cross_entropy", _cross_entropy(),
         lambda p, x: F.cross_entropy(x, p[0], weight=p[1], ignore_index=p[2], reduction=p[3],
                                      label_smoothing=p[4]),
         lambda p, x: _np_cross_entropy(x, *p)),
    Case("nll_loss", _cross_entropy(nll=True),
         lambda p, x: F.nll_loss(x, p[0], weight=p[1], ignore_index=p[2], reduction=p[3]),
         lambda p, x: _np_nll(x, *p)),
    Case("mse_loss", _mse(), lambda r, x, t: F.mse_loss(x, t, reduction=r),
         lambda r, x, t: _np_mse(x, t, r)),
    Case("bce_with_logits", _bce(),
         lambda p, x, t: F.binary_cross_entropy_with_logits(x, t, weight=p[0], pos_weight=p[1],
                                                            reduction=p[2]),
         lambda p, x, t: _np_bce(x, t, *p)),
    Case("linear", _linear(), lambda p, x, w, b: F.linear(x, w, b),
         lambda p, x, w, b: x @ w.T + b),
]
CASE_IDS = [c.name for c in CASES]


# ============================================================================ helpers
def _snapshot(value):
    """A deep copy of the arrays inside ``value`` (tuples, lists, arrays, scalars)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (tuple, list)):
        return type(value)(_snapshot(v) for v in value)
    return value


def _assert_same_bits(a, b, what):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, what
        assert a.tobytes() == b.tobytes(), f"{what} was modified"
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), what
        for x, y in zip(a, b):
            _assert_same_bits(x, y, what)
    else:
        assert a == b or (a is None and b is None), what


def _cast_params(params, dtype):
    """Float arrays among the hyper-parameters (class weights, ...) in ``dtype``."""
    if isinstance(params, np.ndarray) and params.dtype.kind == "f":
        return params.astype(dtype)
    if isinstance(params, tuple):
        return tuple(_cast_params(p, dtype) for p in params)
    return params


def _forward_backward(case, arrays, params, upstream_seed=0):
    """Run ``case`` on leaf copies of ``arrays``; backward with an explicit random gradient.

    Returns (leaves, output, upstream gradient)."""
    leaves = [minidl.tensor(a.copy(), requires_grad=True) for a in arrays]
    out = case.fn(params, *leaves)
    rng = np.random.default_rng(upstream_seed)
    g = rng.standard_normal(out.shape).astype(out.dtype)
    out.backward(g)
    return leaves, out, g


# ============================================================================ 1. no mutation
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(data=st.data())
def test_backward_does_not_modify_inputs_or_gradient(case, data):
    arrays, params = data.draw(case.draw)
    arrays_before, params_before = _snapshot(arrays), _snapshot(params)
    leaves = [minidl.tensor(a, requires_grad=True) for a in arrays]
    out = case.fn(params, *leaves)
    out_before = out.data.copy()
    g = np.random.default_rng(0).standard_normal(out.shape).astype(out.dtype)
    g_before = g.copy()
    out.backward(g)
    _assert_same_bits(g, g_before, "the incoming gradient")
    _assert_same_bits(out.data, out_before, "the forward output")
    for leaf, before in zip(leaves, arrays_before):
        _assert_same_bits(leaf.data, before, "a forward input")
        assert leaf.grad is not None and leaf.grad.shape == leaf.shape
    _assert_same_bits(arrays, arrays_before, "an input array")
    _assert_same_bits(params, params_before, "a hyper-parameter (index, target, weight...)")
    # the gradient handed back must not alias the caller's gradient array either
    for leaf in leaves:
        assert not np.shares_memory(leaf.grad, g)

    # a second, independent run gives identical bits (no order-dependent accumulation)
    again, _, _ = _forward_backward(case, arrays, params)
    for first, second in zip(leaves, again):
        _assert_same_bits(first.grad, second.grad, "the gradient of a second run")


# ============================================================================ 2. NumPy forward
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(data=st.data())
def test_forward_matches_numpy(case, data):
    arrays, params = data.draw(case.draw)
    out = case.fn(params, *[minidl.tensor(a) for a in arrays])
    expected = np.asarray(case.ref(params, *arrays))
    assert isinstance(out, minidl.Tensor)
    assert out.shape == expected.shape
    assert out.dtype == np.float64
    if case.exact:
        np.testing.assert_array_equal(out.numpy(), expected)
    else:
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10, atol=1e-12)


# ============================================================================ 3. dtypes
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
@given(data=st.data())
def test_dtype_is_preserved(case, dtype, data):
    arrays, params = data.draw(case.draw)
    low = tuple(a.astype(dtype) for a in arrays)
    leaves, out, _ = _forward_backward(case, low, _cast_params(params, dtype))
    assert out.dtype == dtype, f"{case.name}: {dtype.__name__} in, {out.dtype} out"
    for leaf in leaves:
        assert leaf.grad.dtype == dtype
    if dtype is np.float32:  # float32 results agree with float64 ones to float32 accuracy
        ref_leaves, ref_out, _ = _forward_backward(case, arrays, params)
        np.testing.assert_allclose(out.numpy(), ref_out.numpy(), rtol=1e-4, atol=1e-5)
        for leaf, ref in zip(leaves, ref_leaves):
            np.testing.assert_allclose(leaf.grad, ref.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_softmax_family_does_not_overflow(dtype):
    """Logits of +-1000 (exp overflows even float64): the results equal those of the logits
    shifted by their row maximum, which is how the ops are defined to compute them."""
    big = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -1003.0]], dtype=dtype)
    small = big - big.max(axis=1, keepdims=True)
    target = np.array([1, 2])
    # values near 1000 are only resolved to 1000 * machine epsilon (6e-5 in float32)
    tol = {"rtol": 1000 * 4 * np.finfo(dtype).eps, "atol": 1e-6 if dtype is np.float32 else 1e-12}
    shift = minidl.tensor(big.max(axis=1))
    ops = [(lambda t: t.softmax(axis=1), 0.0), (lambda t: F.log_softmax(t, dim=1), 0.0),
           (lambda t: t.logsumexp(axis=1), shift),  # logsumexp(x) = logsumexp(x - c) + c
           (lambda t: F.cross_entropy(t, target, label_smoothing=0.1), 0.0)]
    for op, offset in ops:
        a, b = minidl.tensor(big, requires_grad=True), minidl.tensor(small, requires_grad=True)
        out_a, out_b = op(a), op(b) + offset
        assert np.isfinite(out_a.numpy()).all()
        np.testing.assert_allclose(out_a.numpy(), out_b.numpy(), **tol)
        out_a.sum().backward()
        out_b.sum().backward()
        assert np.isfinite(a.grad).all()
        np.testing.assert_allclose(a.grad, b.grad, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_bce_with_logits_does_not_overflow(dtype):
    """loss(x, t) = softplus(x) - t x = log(1 + e^-|x|) + (200 if the sign is wrong else 0)
    at x = +-200, and d/dx = sigmoid(x) - t (hand computed)."""
    x = minidl.tensor(np.array([200.0, 200.0, -200.0, -200.0], dtype=dtype), requires_grad=True)
    t = np.array([1.0, 0.0, 1.0, 0.0], dtype=dtype)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    tiny = np.exp(-200.0)  # log(1 + e^-200) = e^-200 to double precision; 0 in float32
    np.testing.assert_allclose(loss.numpy(), [tiny, 200.0, 200.0, tiny], rtol=1e-6, atol=1e-30)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad, [-tiny, 1.0, -1.0, tiny], rtol=1e-6, atol=1e-30)


def test_the_table_covers_every_differentiable_op():
    """A new op in ``minidl.autograd.ops`` should get a case here (and a gradcheck test)."""
    covered = {"Add", "Sub", "Mul", "Div", "Pow", "Neg", "MatMul", "Exp", "Log", "Sqrt", "Abs",
               "Tanh", "Sigmoid", "ReLU", "LeakyReLU", "Clip", "Maximum", "Minimum", "Where",
               "Sum", "Mean", "Var", "Max", "Min", "LogSumExp", "Softmax", "LogSoftmax",
               "Reshape", "Permute", "GetItem", "Concatenate", "Stack", "Pad"}
    not_math = {"Cast", "Clone", "ToDevice"}  # identities up to dtype/device
    functions = {name.removesuffix("Function") for name in dir(minidl.autograd.ops)
                 if isinstance(getattr(minidl.autograd.ops, name), type)
                 and issubclass(getattr(minidl.autograd.ops, name), minidl.Function)}
    assert functions - not_math == covered


# ============================================================================ 4. PyTorch oracle
TIGHT = {"rtol": 1e-10, "atol": 1e-12}


def _torch_leaf(torch, array):
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def _compare_with_torch(torch, arrays, minidl_fn, torch_fn, seed=0):
    """Forward and backward (with one random upstream gradient) of both, in float64."""
    ours = [minidl.tensor(a, requires_grad=True) for a in arrays]
    theirs = [_torch_leaf(torch, a) for a in arrays]
    out, ref = minidl_fn(*ours), torch_fn(*theirs)
    assert out.shape == tuple(ref.shape)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **TIGHT)
    g = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(g)
    ref.backward(torch.from_numpy(g))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad, b.grad.numpy(), **TIGHT)


@given(data=st.data())
def test_torch_matmul_batched_broadcast(torch, data):
    sx, sy = data.draw(matmul_shapes("batched"))
    pair = (data.draw(arrays(sx)), data.draw(arrays(sy)))
    _compare_with_torch(torch, pair, minidl.matmul, torch.matmul)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@given(data=st.data())
def test_torch_softmax(torch, op, data):
    (x,), ax = data.draw(_with_axis())
    _compare_with_torch(torch, (x,), lambda t: getattr(F, op)(t, dim=ax),
                        lambda t: getattr(torch, op)(t, dim=ax))


def _torch_dims(ax, ndim):
    return tuple(range(ndim)) if ax is None else ax


@given(data=st.data())
def test_torch_logsumexp(torch, data):
    (x,), (ax, keep) = data.draw(_reduction())
    _compare_with_torch(torch, (x,), lambda t: t.logsumexp(ax, keep),
                        lambda t: torch.logsumexp(t, dim=_torch_dims(ax, t.ndim), keepdim=keep))


@pytest.mark.parametrize("correction", [0, 1])
@given(data=st.data())
def test_torch_var(torch, correction, data):
    (x,), (ax, keep) = data.draw(_reduction(correction=correction))
    _compare_with_torch(torch, (x,), lambda t: t.var(ax, keep, correction=correction),
                        lambda t: torch.var(t, dim=_torch_dims(ax, t.ndim),
                                            correction=correction, keepdim=keep))


@pytest.mark.parametrize("op", ["max", "min"])
@given(data=st.data())
def test_torch_max_min(torch, op, data):
    (x,), (ax, keep) = data.draw(_reduction(distinct=True))
    torch_op = torch.amax if op == "max" else torch.amin
    _compare_with_torch(torch, (x,), lambda t: getattr(t, op)(ax, keep),
                        lambda t: torch_op(t, dim=_torch_dims(ax, t.ndim), keepdim=keep))


@st.composite
def _torch_index(draw, shape):
    """Indices PyTorch accepts as NumPy does: integer arrays with repeats, masks, and
    slices with positive steps mixed with them."""
    kind = draw(st.sampled_from(["int_array", "two_arrays", "mask"]))
    if kind == "int_array":
        return draw(int_array_indices(shape))
    if kind == "mask":
        k = draw(st.integers(1, len(shape)))
        return draw(arrays(shape[:k], st.booleans(), dtype=np.bool_))
    length = draw(st.integers(2, 4))
    first = draw(repeated_int_array(shape[0], length))
    if len(shape) == 1:
        return (first,)
    second = draw(repeated_int_array(shape[1], length))
    step = draw(st.integers(1, 2))
    if len(shape) == 2:
        return (first, second)
    return (first, second, slice(None, None, step))


@given(data=st.data())
def test_torch_getitem_repeated_indices(torch, data):
    shape = data.draw(shapes(min_dims=1))
    index = data.draw(_torch_index(shape))
    x = data.draw(arrays(shape))
    assume(x[index].size > 0)

    def to_torch(i):
        return torch.from_numpy(i) if isinstance(i, np.ndarray) else i
    torch_index = tuple(map(to_torch, index)) if isinstance(index, tuple) else to_torch(index)
    _compare_with_torch(torch, (x,), lambda t: t[index], lambda t: t[torch_index])


@given(data=st.data())
def test_torch_pad(torch, data):
    (x,), (width, value) = data.draw(_pad())
    flat = [n for pair in reversed(width) for n in pair]  # PyTorch: last axis first
    _compare_with_torch(torch, (x,), lambda t: minidl.pad(t, width, value),
                        lambda t: torch.nn.functional.pad(t, flat, value=value))


@given(data=st.data(), spatial=st.booleans(), smoothing=st.sampled_from([0.0, 0.15, 0.4]),
       use_weight=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_torch_cross_entropy(torch, data, spatial, smoothing, use_weight, reduction):
    logits, target, ignore_index = data.draw(classification(spatial=spatial, ignore=True,
                                                            max_n=3))
    weight = data.draw(class_weights(logits.shape[1])) if use_weight else None
    t_weight = None if weight is None else torch.from_numpy(weight)
    _compare_with_torch(
        torch, (logits,),
        lambda x: F.cross_entropy(x, target, weight=weight, ignore_index=ignore_index,
                                  reduction=reduction, label_smoothing=smoothing),
        lambda x: torch.nn.functional.cross_entropy(
            x, torch.from_numpy(target), weight=t_weight, ignore_index=ignore_index,
            reduction=reduction, label_smoothing=smoothing))


def test_torch_cross_entropy_every_option_at_once(torch):
    """Label smoothing AND class weights AND ignore_index, (N, C) and (N, C, H, W)."""
    rng = np.random.default_rng(5)
    for shape in [(5, 4), (2, 4, 3, 2)]:
        logits = rng.standard_normal(shape)
        target = rng.integers(0, 4, shape[:1] + shape[2:])
        target.reshape(-1)[[1, 3]] = 2  # class 2 is the ignored one
        weight = rng.uniform(0.2, 2.0, 4)
        for reduction in ("mean", "sum", "none"):
            _compare_with_torch(
                torch, (logits,),
                lambda x, t=target, w=weight, r=reduction: F.cross_entropy(
                    x, t, weight=w, ignore_index=2, reduction=r, label_smoothing=0.25),
                lambda x, t=target, w=weight, r=reduction: torch.nn.functional.cross_entropy(
                    x, torch.from_numpy(t), weight=torch.from_numpy(w), ignore_index=2,
                    reduction=r, label_smoothing=0.25))


@given(data=st.data(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_torch_nll_loss_with_weights(torch, data, reduction):
    (x,), (target, weight, ignore_index, _, _) = data.draw(_cross_entropy(nll=True))
    weight = data.draw(class_weights(x.shape[1])) if weight is None else weight
    _compare_with_torch(
        torch, (x,),
        lambda t: F.nll_loss(t, target, weight=weight, ignore_index=ignore_index,
                             reduction=reduction),
        lambda t: torch.nn.functional.nll_loss(t, torch.from_numpy(target),
                                               weight=torch.from_numpy(weight),
                                               ignore_index=ignore_index, reduction=reduction))


@given(data=st.data(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_torch_bce_with_logits(torch, data, reduction):
    """pos_weight and weight together; gradients wrt both the input and the target."""
    shape = data.draw(shapes(min_dims=1))
    x, t = data.draw(arrays(shape, reals(-6.0, 6.0))), data.draw(probabilities(shape))
    weight = data.draw(arrays(data.draw(st.sampled_from([shape, shape[-1:]])), positive(0.2, 2)))
    pos_weight = data.draw(arrays(shape[-1:], positive(0.2, 3.0)))
    _compare_with_torch(
        torch, (x, t),
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, weight=weight,
                                                        pos_weight=pos_weight,
                                                        reduction=reduction),
        lambda a, b: torch.nn.functional.binary_cross_entropy_with_logits(
            a, b, weight=torch.from_numpy(weight), pos_weight=torch.from_numpy(pos_weight),
            reduction=reduction))


def test_torch_conventions_at_kinks_and_zero(torch):
    """The subgradients at kinks and ties, and powers at a zero base, agree with PyTorch."""
    x = np.array([[-1.0, 0.0, 2.0, 2.0], [0.5, 0.5, -0.5, 0.0]])
    y = np.array([[0.0, 0.0, 2.0, 1.0], [0.5, 1.0, -0.5, 2.0]])
    pairs = [
        (minidl.relu, torch.relu), (minidl.abs, torch.abs),
        (lambda t: minidl.leaky_relu(t, 0.2), lambda t: torch.nn.functional.leaky_relu(t, 0.2)),
        (lambda t: t.clip(0.0, 0.5), lambda t: t.clamp(0.0, 0.5)),
        (lambda t: t.max(axis=1), lambda t: t.amax(dim=1)),
        (lambda t: t.min(), lambda t: t.amin()),
        (lambda t: t ** 0, lambda t: t ** 0),
        (lambda t: t.abs() ** 1.5, lambda t: t.abs() ** 1.5),
    ]
    for ours, theirs in pairs:
        _compare_with_torch(torch, (x,), ours, theirs)
    for ours, theirs in [(minidl.maximum, torch.maximum), (minidl.minimum, torch.minimum),
                         (lambda a, b: a.abs() ** b.abs(), lambda a, b: a.abs() ** b.abs())]:
        _compare_with_torch(torch, (x, y), ours, theirs)


@given(data=st.data())
def test_torch_linear(torch, data):
    arrays_xwb, _ = data.draw(_linear())
    _compare_with_torch(torch, arrays_xwb, F.linear, torch.nn.functional.linear)


# ============================================================================ 5. clear errors
def _shapes_pattern(*shapes):
    """A regex matching a message that names every shape, in order."""
    return ".*".join(re.escape(str(tuple(s))) for s in shapes)


def _t(shape):
    return minidl.tensor(np.ones(shape), requires_grad=True)


@pytest.mark.parametrize("sx, sy", [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)),
                                    ((5,), (4, 2)), ((2, 3, 4), (3, 2))])
def test_matmul_mismatch_names_shapes(sx, sy):
    with pytest.raises(ValueError, match=_shapes_pattern(sx, sy)):
        _t(sx) @ _t(sy)


def test_matmul_batch_mismatch_names_shapes():
    with pytest.raises(ValueError, match=_shapes_pattern((2, 3, 4), (5, 4, 2))):
        minidl.matmul(_t((2, 3, 4)), _t((5, 4, 2)))


def test_matmul_scalar_operand_is_rejected():
    with pytest.raises(ValueError, match=r"at least one dimension.*\(\).*\(3,\)"):
        minidl.matmul(_t(()), _t((3,)))


@pytest.mark.parametrize("op", [operator.add, operator.sub, operator.mul, operator.truediv,
                                operator.pow, minidl.maximum, minidl.minimum])
@pytest.mark.parametrize("sx, sy", [((2, 3), (4,)), ((2, 1, 3), (4, 2))])
def test_broadcast_mismatch_names_shapes(op, sx, sy):
    with pytest.raises(ValueError, match=_shapes_pattern(sx, sy)):
        op(_t(sx), _t(sy))


def test_where_mismatch_names_shapes():
    with pytest.raises(ValueError, match=_shapes_pattern((2, 3), (4,), (2, 3))):
        minidl.where(np.ones((2, 3), bool), _t((4,)), _t((2, 3)))


def test_concatenate_mismatch_names_shapes():
    with pytest.raises(ValueError, match=_shapes_pattern((2, 3), (4, 5))):
        minidl.concatenate([_t((2, 3)), _t((4, 5))], axis=0)
    with pytest.raises(ValueError, match=_shapes_pattern((2, 3), (2, 3, 1))):
        minidl.concatenate([_t((2, 3)), _t((2, 3, 1))], axis=1)


def test_stack_mismatch_names_shapes():
    with pytest.raises(ValueError, match=r"(?=.*\(2, 3\))(?=.*\(3, 2\))"):
        minidl.stack([_t((2, 3)), _t((3, 2))])


@pytest.mark.parametrize("target", [(4,), (2, 4), (7, -1)])
def test_reshape_mismatch_names_shapes(target):
    with pytest.raises(ValueError, match=_shapes_pattern((2, 3), target)):
        _t((2, 3)).reshape(target)


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("input_shape, target_shape", [((2, 5), (3,)), ((2, 5), (2, 1)),
                                                       ((2, 5, 3, 3), (2, 3)),
                                                       ((2, 5, 3, 3), (2, 3, 4))])
def test_loss_wrong_target_shape_names_shapes(loss, input_shape, target_shape):
    with pytest.raises(ValueError, match=_shapes_pattern(target_shape, input_shape)):
        loss(_t(input_shape), np.zeros(target_shape, dtype=np.int64))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("bad", [5, 9, -3])
def test_loss_out_of_range_class_names_the_class(loss, bad):
    target = np.array([0, bad, 1])
    with pytest.raises(ValueError, match=rf"class {bad}\b.*\b5 classes"):
        loss(_t((3, 5)), target)


def test_loss_out_of_range_class_in_spatial_target():
    target = np.zeros((2, 3, 3), dtype=np.int64)
    target[1, 2, 0] = 4
    with pytest.raises(ValueError, match=r"class 4\b.*\b4 classes"):
        F.cross_entropy(_t((2, 4, 3, 3)), target, ignore_index=-1)


def test_ignored_targets_are_not_out_of_range():
    """ignore_index may lie outside 0..C-1; those entries are skipped, not rejected."""
    loss = F.cross_entropy(_t((3, 5)), np.array([0, -100, 1]))
    assert np.isfinite(loss.item())


# ============================================================================ 6. comparisons
COMPARISONS = [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne]


@pytest.mark.parametrize("op", COMPARISONS, ids=lambda f: f.__name__)
@given(data=st.data(), shapes=broadcastable_shapes())
def test_comparisons_give_bool_tensors_without_grad(op, data, shapes):
    sx, sy = shapes.input_shapes
    x = data.draw(arrays(sx, st.integers(-2, 2).map(float)))  # small integers: ties happen
    y = data.draw(arrays(sy, st.integers(-2, 2).map(float)))
    a, b = minidl.tensor(x, requires_grad=True), minidl.tensor(y, requires_grad=True)
    for result, expected in [(op(a, b), op(x, y)), (op(a, 0.0), op(x, 0.0)),
                             (op(a * 2, b), op(x * 2, y)), (op(a, np.float64(1.0)), op(x, 1.0))]:
        assert isinstance(result, minidl.Tensor)
        assert result.requires_grad is False
        assert result.grad_fn is None
        assert result.dtype == np.bool_
        np.testing.assert_array_equal(result.numpy(), expected)
    # the mask can drive a differentiable op, and the gradient flows only through the values
    mask = a > 0
    minidl.where(mask, a, -a).sum().backward()
    np.testing.assert_array_equal(a.grad, np.where(x > 0, 1.0, -1.0))
