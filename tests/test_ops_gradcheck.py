"""Every differentiable op's backward against central finite differences (float64).

Each test draws shapes, hyper-parameters and values with Hypothesis and calls the public
``minidl.gradcheck`` with its default tolerances (eps=1e-6, atol=1e-5, rtol=1e-3). Inputs stay
away from kinks by construction (see ``strategies.py``); tolerances are never loosened.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.strategies import (INDEX_KINDS, MATMUL_KINDS, arrays, away_from, axes, axis,
                        broadcastable_shapes, class_weights, classification, distinct_arrays,
                        indices, matmul_shapes, nonzero, positive, probabilities, reals,
                        separated_pair, shapes, size_of)

import minidl
import minidl.functional as F


def leaf(array):
    """A float64 leaf tensor that requires grad (a copy of ``array``)."""
    return minidl.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


def check(fn, *inputs, mode="full"):
    """gradcheck ``fn`` at ``inputs`` after making sure its outputs and gradients are finite.

    (``gradcheck`` tests ``error > tolerance``, which is False for NaN, so a NaN output or a
    NaN analytical gradient would pass unnoticed: both are ruled out first.)
    """
    out = fn(*inputs)
    outs = list(out) if isinstance(out, tuple) else [out]
    for o in outs:
        assert np.isfinite(o.numpy()).all(), f"non-finite output {o}"
        assert o.requires_grad
    grads = minidl.grad(outs, list(inputs), grad_outputs=[np.ones(o.shape) for o in outs],
                        allow_unused=True)
    for g in grads:
        assert g is None or np.isfinite(g).all(), f"non-finite gradient {g}"
    assert minidl.gradcheck(fn, inputs, mode=mode)


# ============================================================================ arithmetic
BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
}


@pytest.mark.parametrize("op", sorted(BINARY))
@given(data=st.data(), shapes=broadcastable_shapes())
def test_binary_broadcast(op, data, shapes):
    sx, sy = shapes.input_shapes
    x = data.draw(arrays(sx))
    y = data.draw(arrays(sy, nonzero() if op == "div" else reals()))
    check(BINARY[op], leaf(x), leaf(y))


# pinned broadcasting cases: size-1 axes stretched on both sides, missing leading axes, 0-d
PINNED_BROADCASTS = [((2, 1, 3), (4, 1)), ((3,), (2, 1, 1)), ((), (2, 3)), ((1, 1), (1,)),
                     ((2, 3, 1), (1, 3, 4))]


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("sx, sy", PINNED_BROADCASTS)
def test_binary_broadcast_pinned(op, sx, sy):
    rng = np.random.default_rng(1)
    x, y = leaf(rng.uniform(0.5, 2.0, sx)), leaf(rng.uniform(0.5, 2.0, sy))
    check(BINARY[op], x, y)
    check(BINARY[op], y, x)


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("side", ["left", "right"])
@given(data=st.data(), shape=shapes())
def test_binary_with_python_scalar(op, side, data, shape):
    dividing_by_x = op == "div" and side == "right"
    x = leaf(data.draw(arrays(shape, nonzero() if dividing_by_x else reals())))
    c = data.draw(nonzero(0.5, 2.0) if op == "div" else reals())
    f = BINARY[op]
    if side == "left":
        check(lambda t: f(t, c), x)
    else:
        check(lambda t: f(c, t), x)


@given(data=st.data(), shape=shapes(),
       exponent=st.sampled_from([2, 3, -1, -2, 0.5, 1.5, -0.5, 0, 1]))
def test_pow_scalar_exponent(data, shape, exponent):
    integer = float(exponent).is_integer()
    base = nonzero() if integer else positive()
    check(lambda t: t ** exponent, leaf(data.draw(arrays(shape, base))))


@given(data=st.data(), shape=shapes(), base=positive(0.2, 3.0))
def test_pow_scalar_base(data, shape, base):
    check(lambda t: base ** t, leaf(data.draw(arrays(shape))))


@given(data=st.data(), shapes=broadcastable_shapes())
def test_pow_tensor_tensor(data, shapes):
    sx, sy = shapes.input_shapes
    x = leaf(data.draw(arrays(sx, positive(0.3, 2.0))))
    y = leaf(data.draw(arrays(sy, reals(-2.0, 2.0))))
    check(lambda a, b: a ** b, x, y)
    check(lambda a, b: a.pow(b), x, y)


def test_pow_at_zero_base():
    """At x = 0: d(x**0)/dx = 0 (x**0 is constant) and d(0**y)/dy = 0 for y > 0, as PyTorch."""
    x, y = leaf(np.zeros(3)), leaf(np.array([0.0, 2.0, 3.0]))
    (x ** y).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])  # 0 * 0**-1, 2 * 0**1, 3 * 0**2
    np.testing.assert_array_equal(y.grad, [0.0, 0.0, 0.0])
    x = leaf(np.array([0.0, 2.0]))
    (x ** 0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    check(lambda b: b ** leaf(np.array([2.0, 3.0])).detach(), leaf(np.array([0.0, 1.5])))


@given(data=st.data(), shape=shapes())
def test_neg(data, shape):
    check(lambda t: -t, leaf(data.draw(arrays(shape))))


@pytest.mark.parametrize("kind", MATMUL_KINDS)
@given(data=st.data())
def test_matmul(kind, data):
    sx, sy = data.draw(matmul_shapes(kind))
    x, y = leaf(data.draw(arrays(sx))), leaf(data.draw(arrays(sy)))
    check(lambda a, b: a @ b, x, y)


def test_matmul_broadcast_batch_explicit():
    """Batch axes broadcast on both sides: (2, 1, 3, 4) @ (5, 4, 2) -> (2, 5, 3, 2)."""
    rng = np.random.default_rng(0)
    x, y = leaf(rng.standard_normal((2, 1, 3, 4))), leaf(rng.standard_normal((5, 4, 2)))
    assert (x @ y).shape == (2, 5, 3, 2)
    check(minidl.matmul, x, y)
    check(minidl.matmul, x, y, mode="fast")


# ============================================================================ elementwise
UNARY = {  # name: (function, values safe for it)
    "exp": (minidl.exp, reals()),
    "log": (minidl.log, positive()),
    "sqrt": (minidl.sqrt, positive()),
    "abs": (minidl.abs, away_from((0.0,))),
    "tanh": (minidl.tanh, reals()),
    "sigmoid": (minidl.sigmoid, reals(-6.0, 6.0)),
    "relu": (minidl.relu, away_from((0.0,))),
    "F.relu": (F.relu, away_from((0.0,))),
    "F.tanh": (F.tanh, reals()),
    "F.sigmoid": (F.sigmoid, reals()),
    "method.abs": (abs, away_from((0.0,))),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(data=st.data(), shape=shapes())
def test_unary(name, data, shape):
    fn, values = UNARY[name]
    check(fn, leaf(data.draw(arrays(shape, values))))


@pytest.mark.parametrize("which", ["minidl", "F"])
@given(data=st.data(), shape=shapes(), slope=st.sampled_from([0.01, 0.2, 1.5, -0.3]))
def test_leaky_relu(which, data, shape, slope):
    fn = minidl.leaky_relu if which == "minidl" else F.leaky_relu
    x = leaf(data.draw(arrays(shape, away_from((0.0,)))))
    check(lambda t: fn(t, slope), x)


@given(data=st.data(), shape=shapes(),
       bounds=st.sampled_from([(-0.5, 0.5), (None, 0.3), (-0.2, None), (0.0, 1.0)]))
def test_clip(data, shape, bounds):
    lo, hi = bounds
    kinks = tuple(b for b in bounds if b is not None)
    x = leaf(data.draw(arrays(shape, away_from(kinks, -2.0, 2.0))))
    check(lambda t: minidl.clip(t, lo, hi), x)
    check(lambda t: t.clamp(lo, hi), x)


def test_clip_gradient_at_and_near_the_bounds():
    """PyTorch's clamp: the gradient is 1 on the closed interval [lo, hi], 0 outside."""
    x = leaf(np.array([-1.0, -0.5, -0.45, 0.0, 0.45, 0.5, 0.55, 1.0]))
    x.clip(-0.5, 0.5).backward(np.arange(1.0, 9.0))
    np.testing.assert_array_equal(x.grad, [0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0])
    inner = leaf(np.array([-0.55, -0.45, 0.45, 0.55]))
    check(lambda t: t.clip(-0.5, 0.5), inner)


def test_conventions_at_kinks():
    """Hand-computed subgradients PyTorch uses where an op is not differentiable."""
    x = leaf(np.array([-1.0, 0.0, 2.0]))
    cases = [(minidl.relu, [0.0, 0.0, 1.0]), (minidl.abs, [-1.0, 0.0, 1.0]),
             (lambda t: minidl.leaky_relu(t, 0.1), [0.1, 0.1, 1.0]),
             (lambda t: minidl.maximum(t, 0.0), [0.0, 0.5, 1.0]),
             (lambda t: minidl.minimum(t, 0.0), [1.0, 0.5, 0.0])]
    for fn, expected in cases:
        x.grad = None
        fn(x).sum().backward()
        np.testing.assert_array_equal(x.grad, expected)
    # ties in a max/min reduction share the gradient equally (torch.amax / torch.amin)
    t = leaf(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]))
    t.max(axis=1).backward(np.array([1.0, 3.0]))
    np.testing.assert_array_equal(t.grad, [[0.0, 0.5, 0.5], [1.0, 1.0, 1.0]])
    t.grad = None
    t.min().backward()
    np.testing.assert_array_equal(t.grad, [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("op", ["maximum", "minimum"])
@given(data=st.data(), shapes=broadcastable_shapes())
def test_maximum_minimum(op, data, shapes):
    x, y = data.draw(separated_pair(*shapes.input_shapes))
    fn = getattr(minidl, op)
    check(fn, leaf(x), leaf(y))
    check(lambda a, b: getattr(a, op)(b), leaf(y), leaf(x))


@pytest.mark.parametrize("op", ["maximum", "minimum"])
@given(data=st.data(), shape=shapes(), c=st.sampled_from([-0.5, 0.0, 0.7]))
def test_maximum_minimum_scalar(op, data, shape, c):
    x = leaf(data.draw(arrays(shape, away_from((c,)))))
    check(lambda t: getattr(t, op)(c), x)


@given(data=st.data(), shapes=broadcastable_shapes(num_shapes=3))
def test_where(data, shapes):
    sc, sx, sy = shapes.input_shapes
    cond = data.draw(arrays(sc, st.booleans(), dtype=np.bool_))
    x, y = leaf(data.draw(arrays(sx))), leaf(data.draw(arrays(sy)))
    check(lambda a, b: minidl.where(cond, a, b), x, y)
    check(lambda a: minidl.where(minidl.tensor(cond), a, 0.5), x)
    check(lambda b: minidl.where(cond, -1.0, b), y)


# ============================================================================ reductions
@pytest.mark.parametrize("op", ["sum", "mean", "logsumexp"])
@given(data=st.data(), shape=shapes(), keepdims=st.booleans())
def test_smooth_reductions(op, data, shape, keepdims):
    ax = data.draw(axes(len(shape)))
    x = leaf(data.draw(arrays(shape)))
    check(lambda t: getattr(t, op)(ax, keepdims), x)
    check(lambda t: getattr(minidl, op)(t, axis=ax, keepdims=keepdims), x)


@pytest.mark.parametrize("op", ["sum", "mean", "logsumexp", "var", "max", "min"])
@pytest.mark.parametrize("ax", [None, 1, -1, (0, 2), (-1, 0, 1), (2, -2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_pinned_axes(op, ax, keepdims):
    """Every reduction over fixed axis selections of a (2, 3, 4) tensor (distinct values)."""
    x = leaf(np.random.default_rng(2).permutation(24).reshape(2, 3, 4) * 0.1)
    check(lambda t: getattr(t, op)(ax, keepdims=keepdims), x)
    check(lambda t: getattr(t, op)(dim=ax, keepdim=keepdims), x)


@pytest.mark.parametrize("correction", [0, 1])
@given(data=st.data(), shape=shapes(), keepdims=st.booleans())
def test_var(correction, data, shape, keepdims):
    ax = data.draw(axes(len(shape)))
    reduced = size_of(shape) if ax is None else size_of(
        [shape[a] for a in ((ax,) if isinstance(ax, int) else ax)])
    assume(reduced - correction > 0)
    x = leaf(data.draw(arrays(shape)))
    check(lambda t: t.var(ax, keepdims, correction=correction), x)
    check(lambda t: minidl.var(t, ax, keepdims, correction=correction), x)


@pytest.mark.parametrize("op", ["max", "min"])
@given(data=st.data(), shape=shapes(), keepdims=st.booleans())
def test_max_min(op, data, shape, keepdims):
    ax = data.draw(axes(len(shape)))
    x = leaf(data.draw(distinct_arrays(shape)))
    check(lambda t: getattr(t, op)(ax, keepdims=keepdims), x)
    check(lambda t: getattr(minidl, op)(t, ax, keepdims), x)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("api", ["method", "minidl", "F"])
@given(data=st.data(), shape=shapes(min_dims=1))
def test_softmax(op, api, data, shape):
    ax = data.draw(axis(len(shape)))
    x = leaf(data.draw(arrays(shape, reals(-5.0, 5.0))))
    if api == "method":
        check(lambda t: getattr(t, op)(ax), x)
    elif api == "minidl":
        check(lambda t: getattr(minidl, op)(t, ax), x)
    else:
        check(lambda t: getattr(F, op)(t, dim=ax), x)


# ============================================================================ shape
@st.composite
def reshape_targets(draw, shape):
    """A shape with the same number of elements (with at most one -1)."""
    n = size_of(shape)
    factors, rest = [], n
    for _ in range(draw(st.integers(0, 3))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divisors))
        factors.append(d)
        rest //= d
    factors.append(rest)
    factors = draw(st.permutations(factors))
    if draw(st.booleans()):
        factors[draw(st.integers(0, len(factors) - 1))] = -1
    return tuple(factors)


@given(data=st.data(), shape=shapes())
def test_reshape(data, shape):
    target = data.draw(reshape_targets(shape))
    x = leaf(data.draw(arrays(shape)))
    check(lambda t: t.reshape(target), x)
    check(lambda t: minidl.reshape(t, target), x)
    check(lambda t: t.view(*target), x)


@given(data=st.data(), shape=shapes(min_dims=1))
def test_transpose_permute(data, shape):
    n = len(shape)
    perm = data.draw(st.permutations(range(n)))
    perm = tuple(p - n if data.draw(st.booleans()) else p for p in perm)
    a, b = data.draw(axis(n)), data.draw(axis(n))
    x = leaf(data.draw(arrays(shape)))
    check(lambda t: t.permute(perm), x)
    check(lambda t: minidl.permute(t, perm), x)
    check(lambda t: t.transpose(), x)
    check(lambda t: t.T, x)
    check(lambda t: t.transpose(a, b), x)
    check(lambda t: minidl.transpose(t, a, b), x)
    check(lambda t: t.T.reshape(-1), x)  # reshaping a non-contiguous result


@given(data=st.data(), shape=shapes(min_side=1, max_side=3))
def test_squeeze_unsqueeze_flatten(data, shape):
    n = len(shape)
    x = leaf(data.draw(arrays(shape)))
    check(lambda t: t.squeeze(), x)
    if n:
        ax = data.draw(axes(n, allow_none=False))
        check(lambda t: t.squeeze(ax), x)
        check(lambda t: minidl.squeeze(t, ax), x)
        start = data.draw(st.integers(-n, n - 1))
        end = data.draw(st.integers(start % n, n - 1))
        end = end - n if data.draw(st.booleans()) else end
        check(lambda t: t.flatten(start, end), x)
        check(lambda t: minidl.flatten(t, start, end), x)
    check(lambda t: t.flatten(), x)
    new = data.draw(st.integers(-n - 1, n))
    check(lambda t: t.unsqueeze(new), x)
    check(lambda t: minidl.unsqueeze(t, new), x)


@pytest.mark.parametrize("kind", INDEX_KINDS)
@given(data=st.data(), shape=shapes(min_dims=1))
def test_getitem(kind, data, shape):
    index = data.draw(indices(shape, kind))
    x = leaf(data.draw(arrays(shape)))
    out = x[index]
    assume(out.numel() > 0)
    check(lambda t: t[index], x)


def test_getitem_repeated_indices_accumulate():
    """x[[0, 0, 2, 0]] reads x[0] three times: its gradient is 3 (hand computed)."""
    x = leaf(np.array([1.0, 2.0, 3.0]))
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])
    check(lambda t: t[[0, 0, 2, 0]], x)
    check(lambda t: t[minidl.tensor(np.array([2, -1, 0, 2]))], x)


@given(data=st.data(), base=shapes(min_dims=1, max_dims=3, max_side=3),
       count=st.integers(1, 3))
def test_concatenate(data, base, count):
    ax = data.draw(axis(len(base)))
    parts = []
    for _ in range(count):
        shape = list(base)
        shape[ax] = data.draw(st.integers(1, 3))
        parts.append(leaf(data.draw(arrays(tuple(shape)))))
    check(lambda *ts: minidl.concatenate(ts, axis=ax), *parts)
    # a constant among the inputs gets no gradient but must not break the others
    const = minidl.tensor(np.ones(parts[0].shape))
    check(lambda t: minidl.concatenate([const, t, const], axis=ax), parts[0])


@given(data=st.data(), shape=shapes(max_dims=3, max_side=3), count=st.integers(1, 3))
def test_stack(data, shape, count):
    ax = data.draw(axis(len(shape) + 1))
    parts = [leaf(data.draw(arrays(shape))) for _ in range(count)]
    check(lambda *ts: minidl.stack(ts, axis=ax), *parts)


@st.composite
def pad_widths(draw, ndim):
    form = draw(st.sampled_from(["int", "pair", "per_axis"]))
    small = st.integers(0, 2)
    if form == "int":
        return draw(small)
    if form == "pair":
        return (draw(small), draw(small))
    return tuple((draw(small), draw(small)) for _ in range(ndim))


@given(data=st.data(), shape=shapes(min_dims=1, max_dims=3, max_side=3),
       value=st.sampled_from([0.0, -1.5]))
def test_pad(data, shape, value):
    width = data.draw(pad_widths(len(shape)))
    x = leaf(data.draw(arrays(shape)))
    check(lambda t: minidl.pad(t, width, value), x)


# ============================================================================ losses
@given(data=st.data(), spatial=st.booleans(), ignore=st.booleans(),
       use_weight=st.booleans(), smoothing=st.sampled_from([0.0, 0.1, 0.35]),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy(data, spatial, ignore, use_weight, smoothing, reduction):
    logits, target, ignore_index = data.draw(classification(spatial=spatial, ignore=ignore,
                                                            max_n=3 if spatial else 4))
    weight = data.draw(class_weights(logits.shape[1])) if use_weight else None
    if data.draw(st.booleans()):  # targets and weights may be given as tensors too
        target = minidl.tensor(target)
        weight = None if weight is None else minidl.tensor(weight)
    check(lambda x: F.cross_entropy(x, target, weight=weight, ignore_index=ignore_index,
                                    reduction=reduction, label_smoothing=smoothing),
          leaf(logits))


def test_cross_entropy_all_options_nchw():
    """(N, C, H, W) logits with weights, label smoothing and ignored pixels at once."""
    rng = np.random.default_rng(3)
    logits = leaf(rng.standard_normal((2, 4, 3, 2)))
    target = rng.integers(0, 4, (2, 3, 2))
    target[0, 1, 1] = target[1, 2, 0] = -1
    weight = rng.uniform(0.2, 2.0, 4)
    for reduction in ("mean", "sum", "none"):
        f = (lambda x, r=reduction: F.cross_entropy(x, target, weight=weight, ignore_index=-1,
                                                    reduction=r, label_smoothing=0.2))
        check(f, logits)
        check(f, logits, mode="fast")


@given(data=st.data(), spatial=st.booleans(), ignore=st.booleans(), use_weight=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_nll_loss(data, spatial, ignore, use_weight, reduction):
    logits, target, ignore_index = data.draw(classification(spatial=spatial, ignore=ignore,
                                                            max_n=3 if spatial else 4))
    weight = data.draw(class_weights(logits.shape[1])) if use_weight else None
    def f(x):
        return F.nll_loss(x, target, weight=weight, ignore_index=ignore_index,
                          reduction=reduction)
    check(f, leaf(logits))
    check(lambda x: f(F.log_softmax(x, dim=1)), leaf(logits))


@given(data=st.data(), shape=shapes(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_mse_loss(data, shape, reduction):
    x, t = leaf(data.draw(arrays(shape))), leaf(data.draw(arrays(shape)))
    check(lambda a, b: F.mse_loss(a, b, reduction=reduction), x, t)


@given(data=st.data(), shape=shapes(min_dims=1), use_weight=st.booleans(),
       use_pos_weight=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_bce_with_logits(data, shape, use_weight, use_pos_weight, reduction):
    x = leaf(data.draw(arrays(shape, reals(-6.0, 6.0))))
    t = leaf(data.draw(probabilities(shape)))
    weight = pos_weight = None
    if use_weight:  # the full shape, or broadcast along the last axis
        w_shape = shape if data.draw(st.booleans()) else shape[-1:]
        weight = data.draw(arrays(w_shape, positive(0.2, 2.0)))
    if use_pos_weight:  # one weight per class (the last axis), as in PyTorch
        pos_weight = data.draw(arrays(shape[-1:], positive(0.2, 3.0)))

    def f(a, b):
        return F.binary_cross_entropy_with_logits(a, b, weight=weight, pos_weight=pos_weight,
                                                  reduction=reduction)
    check(f, x, t)                       # gradient wrt input and target
    check(lambda a: f(a, t.detach()), x)  # a constant target


@given(data=st.data(), lead=shapes(max_dims=2, max_side=3), n_in=st.integers(1, 4),
       n_out=st.integers(1, 4), bias=st.booleans())
def test_linear(data, lead, n_in, n_out, bias):
    x = leaf(data.draw(arrays(lead + (n_in,))))
    w = leaf(data.draw(arrays((n_out, n_in))))
    if bias:
        b = leaf(data.draw(arrays((n_out,))))
        check(F.linear, x, w, b)
    else:
        check(F.linear, x, w)


# ============================================================================ fast mode
def test_fast_mode_on_larger_inputs():
    """Random-direction checks (mode="fast") where the full Jacobian would be large."""
    rng = np.random.default_rng(4)
    x = leaf(rng.standard_normal((8, 16, 10)))
    w = leaf(rng.standard_normal((10, 12)))
    check(lambda a, b: (a @ b).tanh().logsumexp(axis=(0, 2)), x, w, mode="fast")
    check(lambda a: a.softmax(axis=1).var(axis=0, correction=0), x, mode="fast")
    check(lambda a: a[:, [3, 3, 0, 15, 3]].max(axis=-1), leaf(
        rng.permutation(8 * 16 * 10).reshape(8, 16, 10) * 0.01), mode="fast")
    logits = leaf(rng.standard_normal((6, 7, 5, 4)))
    target = rng.integers(0, 7, (6, 5, 4))
    weight = rng.uniform(0.5, 1.5, 7)
    check(lambda a: F.cross_entropy(a, target, weight=weight, label_smoothing=0.1), logits,
          mode="fast")
    t = leaf(rng.uniform(0, 1, (6, 7, 5, 4)))
    check(lambda a, b: F.binary_cross_entropy_with_logits(
        a, b, pos_weight=np.linspace(0.5, 2.0, 4)), logits, t, mode="fast")


# ============================================================================ gradcheck itself
def test_gradcheck_detects_a_wrong_backward():
    """The harness must be able to fail: a Function with a deliberately wrong backward."""
    class WrongSquare(minidl.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2.1 * x * g

    x = leaf(np.array([0.5, -1.0, 2.0]))
    with pytest.raises(minidl.GradcheckError):
        minidl.gradcheck(WrongSquare.apply, (x,))
    with pytest.raises(minidl.GradcheckError):
        minidl.gradcheck(WrongSquare.apply, (x,), mode="fast")


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_gradcheck_rejects_nan_gradients(mode):
    class NanBackward(minidl.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            return g * np.nan

    with pytest.raises(minidl.GradcheckError):
        minidl.gradcheck(NanBackward.apply, (leaf(np.array([1.0, 2.0])),), mode=mode)
