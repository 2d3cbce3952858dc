"""User-defined Functions (minidl/autograd/function.py): needs_input_grad, saved tensors,
contexts freed after use, multi-output Functions, non-differentiable outputs, and the
checks on what a backward returns.
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import Function


def f64(values, requires_grad=True):
    return minidl.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


class WeightedProduct(Function):
    """y = a * b * c (elementwise); records which gradients it was asked for."""

    calls = []

    @staticmethod
    def forward(ctx, a, b, c, scale=1.0):
        ctx.save_for_backward(a, b, c)
        ctx.scale = scale
        return a * b * c * scale

    @staticmethod
    def backward(ctx, g):
        a, b, c = ctx.saved_tensors
        needs = ctx.needs_input_grad
        WeightedProduct.calls.append(needs)
        s = ctx.scale
        return (g * b * c * s if needs[0] else None,
                g * a * c * s if needs[1] else None,
                g * a * b * s if needs[2] else None)


@pytest.fixture
def product_calls():
    WeightedProduct.calls = []
    return WeightedProduct.calls


def test_user_function_needs_input_grad_and_saved_tensors(product_calls):
    a, b, c = f64([1.0, 2.0]), f64([3.0, 4.0], requires_grad=False), f64([5.0, 6.0])
    y = WeightedProduct.apply(a, b, c, scale=2.0)  # keywords are not inputs
    assert y.grad_fn is not None and y.grad_fn.name == "WeightedProduct"
    assert y.grad_fn.needs_input_grad == (True, False, True)
    y.sum().backward()
    assert product_calls == [(True, False, True)]
    np.testing.assert_allclose(a.grad, 2 * b.data * c.data)
    np.testing.assert_allclose(c.grad, 2 * a.data * b.data)
    assert b.grad is None


def test_user_function_under_grad_is_asked_only_for_the_requested_input(product_calls):
    a, b, c = f64([1.0, 2.0]), f64([3.0, 4.0], requires_grad=False), f64([5.0, 6.0])
    loss = WeightedProduct.apply(a, b, c).sum()
    ga = minidl.grad(loss, a, retain_graph=True)
    np.testing.assert_allclose(ga, b.data * c.data)
    assert product_calls == [(True, False, False)]
    # The restriction holds for that call only: a later backward needs both gradients.
    loss.backward()
    assert product_calls[1] == (True, False, True)
    np.testing.assert_allclose(a.grad, b.data * c.data)
    np.testing.assert_allclose(c.grad, a.data * b.data)


def test_user_function_with_no_input_needing_grad_records_no_graph(product_calls):
    a = f64([1.0], requires_grad=False)
    y = WeightedProduct.apply(a, a, a)
    assert y.grad_fn is None and not y.requires_grad


def test_user_function_returning_a_gradient_of_the_wrong_shape():
    x = f64(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"backward of WrongShapeGrad returned a gradient of "
                                           r"shape \(3,\) for input 0 of shape \(2, 3\)"):
        WrongShapeGrad.apply(x).sum().backward()


def test_user_function_returning_too_many_gradients():
    with pytest.raises(RuntimeError, match="returned 2 gradients, but its forward took 1 inputs"):
        TooManyGrads.apply(f64([1.0])).sum().backward()


class WrongShapeGrad(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g.sum(axis=0)  # shape (3,) for an input of shape (2, 3)


class TooManyGrads(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2, g


class SplitScale(Function):
    """Two outputs, y1 = 2x and y2 = x^2."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2, x * x

    @staticmethod
    def backward(ctx, g1, g2):
        (x,) = ctx.saved_tensors
        return 2 * g1 + 2 * x * g2


def test_multi_output_function_both_outputs_used():
    x = f64([1.0, -3.0])
    y1, y2 = SplitScale.apply(x)
    assert y1.grad_fn is y2.grad_fn
    (y1 * 3 + y2 * 5).sum().backward()
    np.testing.assert_allclose(x.grad, 6 + 10 * x.data)


def test_multi_output_function_one_output_unused_gets_zeros():
    x = f64([1.0, -3.0])
    y1, y2 = SplitScale.apply(x)
    y2.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)
    x.grad = None
    y1, _ = SplitScale.apply(x)
    y1.sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0])


def test_multi_output_function_hooks_and_retain_grad_per_output():
    x = f64([1.0, -3.0])
    y1, y2 = SplitScale.apply(x)
    y2.retain_grad()
    y1.register_hook(lambda g: g * 0)
    (y1 + y2).sum().backward()
    np.testing.assert_array_equal(y2.grad, [1.0, 1.0])
    assert y1.grad is None
    np.testing.assert_allclose(x.grad, 2 * x.data)


def test_backward_from_several_outputs_of_one_node_at_once():
    x = f64([1.0, -3.0])
    y1, y2 = SplitScale.apply(x)
    minidl.autograd.backward([y1, y2], [np.array([1.0, 2.0]), np.array([3.0, 4.0])])
    np.testing.assert_allclose(x.grad, 2 * np.array([1.0, 2.0]) + 2 * x.data * [3.0, 4.0])
    y1, y2 = SplitScale.apply(x)
    g = minidl.grad([y1, y2], x, grad_outputs=[np.ones(2), np.ones(2)])
    np.testing.assert_allclose(g, 2 + 2 * x.data)


def test_the_same_root_twice_sums_its_gradients():
    x = f64([1.0, 2.0])
    y = x * 2
    minidl.autograd.backward([y, y], [np.ones(2), np.full(2, 2.0)])
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])


class MaxWithIndex(Function):
    """The max and its (non-differentiable) index."""

    @staticmethod
    def forward(ctx, x):
        index = np.asarray(x.argmax())
        ctx.mark_non_differentiable(index)
        ctx.index, ctx.shape = int(index), x.shape
        return x.max(keepdims=True).reshape(()), index

    @staticmethod
    def backward(ctx, g, g_index):
        assert g_index is None
        grad = np.zeros(ctx.shape)
        grad[ctx.index] = g
        return grad


def test_multi_output_function_with_a_non_differentiable_output():
    x = f64([1.0, 5.0, 2.0])
    value, index = MaxWithIndex.apply(x)
    assert value.requires_grad and not index.requires_grad and index.grad_fn is None
    (value * 3).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 3.0, 0.0])
    assert int(index) == 1


def test_gradcheck_of_a_multi_output_function():
    assert minidl.gradcheck(SplitScale.apply, (f64([1.0, -2.0, 0.5]),))
    assert minidl.gradcheck(SplitScale.apply, (f64([1.0, -2.0, 0.5]),), mode="fast")
