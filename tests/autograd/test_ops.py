"""The tensor ops of minidl/autograd/ops beyond the op-table battery: pinned broadcasts, Python
scalars on either side, the conventions at kinks, pinned reduction axes, the API variants
(method, minidl.*, F.*), repeated indices, overflow, error messages naming the shapes, and
comparisons.
"""
from __future__ import annotations

import operator
import re

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from tests.helpers import check, compare_with_torch, leaf
from tests.strategies import (
    arrays,
    away_from,
    axis,
    broadcastable_shapes,
    int_array_indices,
    nonzero,
    reals,
    repeated_int_array,
    shapes,
)

BINARY = {
    "add": lambda x, y: x + y,
    "sub": lambda x, y: x - y,
    "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y,
}


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


def test_matmul_broadcast_batch_explicit():
    """Batch axes broadcast on both sides: (2, 1, 3, 4) @ (5, 4, 2) -> (2, 5, 3, 2)."""
    rng = np.random.default_rng(0)
    x, y = leaf(rng.standard_normal((2, 1, 3, 4))), leaf(rng.standard_normal((5, 4, 2)))
    assert (x @ y).shape == (2, 5, 3, 2)
    check(minidl.matmul, x, y)
    check(minidl.matmul, x, y, mode="fast")


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
@given(data=st.data(), shape=shapes(), c=st.sampled_from([-0.5, 0.0, 0.7]))
def test_maximum_minimum_scalar(op, data, shape, c):
    x = leaf(data.draw(arrays(shape, away_from((c,)))))
    check(lambda t: getattr(t, op)(c), x)


@pytest.mark.parametrize("op", ["sum", "mean", "logsumexp", "var", "max", "min"])
@pytest.mark.parametrize("ax", [None, 1, -1, (0, 2), (-1, 0, 1), (2, -2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_pinned_axes(op, ax, keepdims):
    """Every reduction over fixed axis selections of a (2, 3, 4) tensor (distinct values)."""
    x = leaf(np.random.default_rng(2).permutation(24).reshape(2, 3, 4) * 0.1)
    check(lambda t: getattr(t, op)(ax, keepdims=keepdims), x)
    check(lambda t: getattr(t, op)(dim=ax, keepdim=keepdims), x)


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


def test_getitem_repeated_indices_accumulate():
    """x[[0, 0, 2, 0]] reads x[0] three times: its gradient is 3 (hand computed)."""
    x = leaf(np.array([1.0, 2.0, 3.0]))
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])
    check(lambda t: t[[0, 0, 2, 0]], x)
    check(lambda t: t[minidl.tensor(np.array([2, -1, 0, 2]))], x)


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
    compare_with_torch(torch, (x,), lambda t: t[index], lambda t: t[torch_index])


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
        compare_with_torch(torch, (x,), ours, theirs)
    for ours, theirs in [(minidl.maximum, torch.maximum), (minidl.minimum, torch.minimum),
                         (lambda a, b: a.abs() ** b.abs(), lambda a, b: a.abs() ** b.abs())]:
        compare_with_torch(torch, (x, y), ours, theirs)


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
