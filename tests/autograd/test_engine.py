"""The backward engine (minidl/autograd/engine.py): deep chains, diamonds, fan-out, gradient
accumulation, hooks, retain_grad and retain_graph, backward's error messages, and the
functional minidl.grad. Gradient values are compared in float64.
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl import Function


def f64(values, requires_grad=True):
    return minidl.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def test_deep_chain_of_20000_ops_has_no_recursion_error_and_the_right_gradient():
    x = f64(1.5)
    y = x
    for _ in range(10_000):  # 20,000 ops: y <- y * a, then y <- y - 0.5
        y = y * 1.00001
        y = y - 0.5
    y.backward()
    # dy/dx = a ** 10000 (the subtractions do not change the derivative)
    np.testing.assert_allclose(x.grad, 1.00001 ** 10_000, rtol=1e-12)


def test_deep_chain_through_minidl_grad_and_retain_graph():
    x = f64([0.3, -0.2])
    y = x
    for _ in range(20_000):
        y = y + x * 1e-4
    loss = y.sum()
    (g,) = minidl.grad(loss, [x], retain_graph=True)
    np.testing.assert_allclose(g, [1 + 20_000 * 1e-4] * 2, rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(x.grad, [3.0, 3.0], rtol=1e-12)


def test_simple_diamond_sums_both_paths():
    x = f64([0.5, -2.0, 3.0])
    y = x * x + x * 3  # x feeds two branches that meet again
    y.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3, rtol=1e-14)


def test_node_used_by_its_own_consumer_waits_for_all_consumers():
    # a -> b, and (a, b) -> c: a's node must run only after both of its consumers.
    x = f64([1.0, -4.0])
    a = x * 2
    b = a * 3
    c = a + b
    c.sum().backward()
    np.testing.assert_allclose(x.grad, [8.0, 8.0])


def test_deeper_diamond_against_hand_derivative():
    # a = 2x;  b = exp(a);  c = a^2;  d = b * c + a  ->  dd/dx = 2 (b c + b * 2a + 1)
    x = f64([0.1, -0.7, 0.4])
    a = x * 2
    b = a.exp()
    c = a * a
    d = b * c + a
    d.sum().backward()
    av = 2 * x.data
    expected = 2 * (np.exp(av) * av ** 2 + np.exp(av) * 2 * av + 1)
    np.testing.assert_allclose(x.grad, expected, rtol=1e-13)


def test_wide_fan_out_of_one_leaf():
    x = f64([1.0, 2.0])
    total = x * 0
    for k in range(1, 101):
        total = total + x * float(k)
    total.sum().backward()
    np.testing.assert_allclose(x.grad, [5050.0, 5050.0])


def test_two_leaves_in_a_diamond_through_matmul():
    w = f64([[1.0, 2.0], [3.0, -1.0]])
    v = f64([0.5, -1.5])
    h = w @ v          # (2,)
    out = (h * h).sum() + (w * w).sum()
    out.backward()
    hv = w.data @ v.data
    np.testing.assert_allclose(w.grad, 2 * np.outer(hv, v.data) + 2 * w.data, rtol=1e-14)
    np.testing.assert_allclose(v.grad, 2 * w.data.T @ hv, rtol=1e-14)


def test_gradients_add_up_across_two_backward_calls():
    x = f64([1.0, 2.0, 3.0])
    (x * x).sum().backward()
    first = x.grad.copy()
    (x * 5).sum().backward()
    np.testing.assert_allclose(first, 2 * x.data)
    np.testing.assert_allclose(x.grad, 2 * x.data + 5)


def test_backward_does_not_alias_the_accumulated_grad_with_the_incoming_one():
    x = f64([1.0, 2.0])
    seed = np.array([1.0, 1.0])
    x.backward(seed)
    x.backward(seed)
    np.testing.assert_array_equal(seed, [1.0, 1.0])  # incoming gradient left untouched
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_zero_grad_of_module_and_optimizer():
    layer = nn.Linear(3, 2).double()
    x = f64(np.ones((4, 3)), requires_grad=False)
    layer(x).sum().backward()
    assert layer.weight.grad is not None
    layer.zero_grad()
    assert layer.weight.grad is None and layer.bias.grad is None
    layer(x).sum().backward()
    layer.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(layer.weight.grad, np.zeros((2, 3)))
    layer(x).sum().backward()
    np.testing.assert_allclose(layer.weight.grad, np.full((2, 3), 4.0))  # zeroed, then one pass
    opt = minidl.optim.SGD(layer.parameters(), lr=0.1)
    opt.zero_grad()
    assert layer.weight.grad is None


def test_only_floating_tensors_can_require_grad_and_detach_cuts_the_graph():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients"):
        minidl.tensor([1, 2], requires_grad=True)
    x = f64([1.0, 2.0])
    d = x.detach()
    assert not d.requires_grad and d.grad_fn is None and d.data is x.data
    y = x * 2 + d * 3
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


class UpcastingGrad(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g.astype(np.float64) * 2


def test_gradients_take_the_dtype_of_their_input():
    x = minidl.tensor([1.0, 2.0], requires_grad=True)  # float32
    UpcastingGrad.apply(x).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_hook_on_a_leaf_observes_and_can_replace_the_gradient():
    x = f64([1.0, 2.0])
    seen = []
    observe = x.register_hook(lambda g: seen.append(g.copy()))
    double = x.register_hook(lambda g: g * 2)
    (x * 3).sum().backward()
    np.testing.assert_array_equal(seen[0], [3.0, 3.0])
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])  # replaced before accumulation
    observe.remove()
    double.remove()
    x.grad = None
    (x * 3).sum().backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_hook_on_a_non_leaf_changes_what_flows_further_back():
    x = f64([1.0, 2.0])
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(g.copy()))
    handle = y.register_hook(lambda g: g * 10)
    (y * y).sum().backward()
    np.testing.assert_allclose(seen[0], 2 * y.data)
    np.testing.assert_allclose(x.grad, 3 * 10 * 2 * y.data)
    assert y.grad is None  # a non-leaf keeps no .grad unless asked
    handle.remove()
    handle.remove()  # removing twice is harmless


def test_removed_non_leaf_hook_is_not_called_with_retain_graph():
    x = f64([1.0, -1.0])
    y = x * 2
    calls = []
    handle = y.register_hook(lambda g: calls.append(1) or g * 0)
    loss = (y * y).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    handle.remove()
    loss.backward()
    assert calls == [1]
    np.testing.assert_allclose(x.grad, 2 * 2 * y.data)


def test_hook_returning_a_wrong_shape_is_an_error():
    x = f64([1.0, 2.0])
    x.register_hook(lambda g: np.zeros(3))
    with pytest.raises(RuntimeError, match=r"hook returned shape \(3,\), expected \(2,\)"):
        (x * 2).sum().backward()


def test_hook_needs_a_tensor_that_requires_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        f64([1.0], requires_grad=False).register_hook(lambda g: g)


def test_retain_grad_keeps_the_gradient_of_a_non_leaf():
    x = f64([1.0, 2.0])
    y = x * 3
    y.retain_grad()
    z = y * y + y
    z.sum().backward()
    np.testing.assert_allclose(y.grad, 2 * y.data + 1)
    np.testing.assert_allclose(x.grad, 3 * (2 * y.data + 1))
    assert not y.is_leaf and x.is_leaf


def test_retained_grad_sees_the_hooked_gradient():
    # PyTorch >= 2.0: the retain_grad hook always runs after the other tensor hooks.
    x = f64([1.0, 2.0])
    y = x * 3
    y.retain_grad()
    y.register_hook(lambda g: g + 1)
    y.sum().backward()
    np.testing.assert_array_equal(y.grad, [2.0, 2.0])
    np.testing.assert_array_equal(x.grad, [6.0, 6.0])


def test_retain_graph_allows_a_second_backward_and_grads_double():
    x = f64([0.5, 1.5])
    loss = (x.exp() * x).sum()
    loss.backward(retain_graph=True)
    once = x.grad.copy()
    np.testing.assert_allclose(once, np.exp(x.data) * (1 + x.data), rtol=1e-14)
    loss.backward()
    np.testing.assert_allclose(x.grad, 2 * once, rtol=1e-14)


def test_second_backward_through_a_freed_graph_is_a_clear_error():
    x = f64([0.5, 1.5])
    y = x * x
    loss = y.sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"backward through Sum a second time: its saved values "
                                           r"were freed.*retain_graph=True"):
        loss.backward()


def test_backward_through_a_freed_intermediate_names_the_op():
    x = f64([0.5, 1.5])
    y = x * x
    y.sum().backward()
    z = (y * 3).sum()  # a new graph on top of the freed node of y
    with pytest.raises(RuntimeError,
                       match=r"trying to run backward through Mul a second time.*freed"
                             r".*retain_graph=True"):
        z.backward()


def test_backward_twice_on_the_same_root_without_retain_graph_fails():
    x = f64([0.5, 1.5])
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"Sum a second time.*retain_graph=True"):
        loss.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)  # the failed call changed nothing


def test_backward_on_a_non_scalar_needs_grad():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(RuntimeError, match=r"needs a `grad` argument for a non-scalar output.*\(2, 2\)"):
        (x * 2).backward()


def test_backward_with_an_explicit_grad():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    seed = np.array([[1.0, -1.0], [0.5, 2.0]])
    (x * x).backward(seed)
    np.testing.assert_allclose(x.grad, 2 * x.data * seed)


def test_backward_with_an_explicit_grad_of_the_wrong_shape():
    x = f64([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(RuntimeError, match=r"grad has shape \(4,\) but the tensor has shape \(2, 2\)"):
        (x * 2).backward(np.ones(4))


def test_backward_on_a_tensor_without_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        (f64([1.0], requires_grad=False) * 2).sum().backward()


def test_functional_grad_returns_gradients_without_touching_dot_grad():
    x = f64([1.0, 2.0])
    w = f64([3.0, -1.0])
    loss = (x * x * w).sum()
    gx, gw = minidl.grad(loss, [x, w])
    np.testing.assert_allclose(gx, 2 * x.data * w.data)
    np.testing.assert_allclose(gw, x.data ** 2)
    assert x.grad is None and w.grad is None


def test_functional_grad_single_input_and_non_leaf_input():
    x = f64([1.0, 2.0])
    y = x * 2
    loss = (y * y).sum()
    gy = minidl.grad(loss, y, retain_graph=True)
    np.testing.assert_allclose(gy, 2 * y.data)
    gx = minidl.grad(loss, x)
    np.testing.assert_allclose(gx, 8 * x.data)
    assert x.grad is None


def test_functional_grad_with_grad_outputs():
    x = f64([1.0, 2.0, 3.0])
    v = np.array([1.0, 0.0, -2.0])
    np.testing.assert_allclose(minidl.grad(x * x, x, grad_outputs=v), 2 * x.data * v)


def test_functional_grad_allow_unused():
    x = f64([1.0, 2.0])
    unused = f64([5.0])
    loss = (x * x).sum()
    with pytest.raises(RuntimeError, match=r"input\(s\) \[1\] are not used.*allow_unused=True"):
        minidl.grad(loss, [x, unused], retain_graph=True)
    gx, gu = minidl.grad(loss, [x, unused], allow_unused=True)
    np.testing.assert_allclose(gx, 2 * x.data)
    assert gu is None


def test_functional_grad_frees_the_graph_unless_retained():
    x = f64([1.0, 2.0])
    loss = (x * x).sum()
    minidl.grad(loss, x)
    with pytest.raises(RuntimeError, match="a second time"):
        minidl.grad(loss, x)
