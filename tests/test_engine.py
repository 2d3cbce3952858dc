"""The backward engine and the autograd machinery around it.

Graph shapes (deep chains, diamonds, multi-output nodes), gradient accumulation, hooks,
retain_grad / retain_graph, the error messages, grad modes, the functional ``minidl.grad``,
anomaly detection, user-defined Functions, devices, seeding and gradcheck's failure report.
Everything that compares gradient values runs in float64.
"""
import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl import Function


def f64(values, requires_grad=True):
    return minidl.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


# ----------------------------------------------------------------------------- graph shapes
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


# ----------------------------------------------------------------------------- accumulation
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


# ----------------------------------------------------------------------------- hooks
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


# ----------------------------------------------------------------------------- retain_graph
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


# ----------------------------------------------------------------------------- root errors
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


# ----------------------------------------------------------------------------- grad modes
def test_no_grad_records_nothing():
    x = f64([1.0, 2.0])
    with minidl.no_grad():
        y = x * 2 + 1
        assert not minidl.is_grad_enabled()
    assert minidl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    np.testing.assert_array_equal(y.data, [3.0, 5.0])


def test_no_grad_and_enable_grad_nest():
    x = f64([1.0, 2.0])
    with minidl.no_grad():
        with minidl.enable_grad():
            assert minidl.is_grad_enabled()
            y = x * 2
            with minidl.no_grad():
                z = x * 2
            assert minidl.is_grad_enabled()
        assert not minidl.is_grad_enabled()
        w = x * 2
    assert y.requires_grad and y.grad_fn is not None
    assert not z.requires_grad and z.grad_fn is None
    assert not w.requires_grad and w.grad_fn is None


def test_grad_modes_as_decorators():
    x = f64([1.0, 2.0])

    @minidl.no_grad()
    def infer(t):
        return t * 2

    @minidl.enable_grad()
    def train(t):
        return t * 2

    assert infer(x).grad_fn is None
    with minidl.no_grad():
        assert train(x).grad_fn is not None
    assert minidl.is_grad_enabled()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ValueError):
        with minidl.no_grad():
            raise ValueError("boom")
    assert minidl.is_grad_enabled()


def test_set_grad_enabled():
    try:
        minidl.set_grad_enabled(False)
        assert (f64([1.0]) * 2).grad_fn is None
    finally:
        minidl.set_grad_enabled(True)
    assert (f64([1.0]) * 2).grad_fn is not None


# ----------------------------------------------------------------------------- minidl.grad
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


# ----------------------------------------------------------------------------- anomaly mode
def test_detect_anomaly_names_the_first_forward_op_producing_nan():
    x = f64([1.0, -1.0])
    with minidl.detect_anomaly():
        with pytest.raises(minidl.AnomalyError, match=r"^Log returned NaN or Inf in its forward") as info:
            with np.errstate(invalid="ignore"):
                (x * 2).log().exp() * 3
    assert "test_engine.py" in str(info.value)  # points at the user's line


def test_without_anomaly_mode_nan_propagates_silently():
    x = f64([1.0, -1.0])
    with np.errstate(invalid="ignore"):
        y = (x * 2).log()
    assert np.isnan(y.data[1])


def test_detect_anomaly_names_the_backward_op_producing_inf():
    x = f64([0.0, 4.0])
    with minidl.detect_anomaly():
        loss = (x.sqrt() * 2).sum()
        with pytest.raises(minidl.AnomalyError,
                           match=r"backward of Sqrt returned NaN or Inf in the gradient for input 0"
                                 r".*forward called at .*test_engine\.py"):
            with np.errstate(divide="ignore"):
                loss.backward()
    assert isinstance(minidl.AnomalyError("x"), FloatingPointError)


def test_detect_anomaly_is_quiet_on_finite_values_and_switches_off():
    x = f64([1.0, 4.0])
    with minidl.detect_anomaly():
        (x.sqrt() * x.log()).sum().backward()
    np.testing.assert_allclose(x.grad, np.log(x.data) / (2 * np.sqrt(x.data)) + 1 / np.sqrt(x.data))
    with np.errstate(divide="ignore"):
        (f64([0.0]).sqrt()).sum().backward()  # no anomaly mode: no error


# ----------------------------------------------------------------------------- user Functions
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


class WrongShapeGrad(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g.sum(axis=0)  # shape (3,) for an input of shape (2, 3)


def test_user_function_returning_a_gradient_of_the_wrong_shape():
    x = f64(np.ones((2, 3)))
    with pytest.raises(RuntimeError, match=r"backward of WrongShapeGrad returned a gradient of "
                                           r"shape \(3,\) for input 0 of shape \(2, 3\)"):
        WrongShapeGrad.apply(x).sum().backward()


class TooManyGrads(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2, g


def test_user_function_returning_too_many_gradients():
    with pytest.raises(RuntimeError, match="returned 2 gradients, but its forward took 1 inputs"):
        TooManyGrads.apply(f64([1.0])).sum().backward()


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


def test_gradcheck_of_a_multi_output_function():
    assert minidl.gradcheck(SplitScale.apply, (f64([1.0, -2.0, 0.5]),))
    assert minidl.gradcheck(SplitScale.apply, (f64([1.0, -2.0, 0.5]),), mode="fast")


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


# ----------------------------------------------------------------------------- devices
class FakeCuda(np.ndarray):
    """A NumPy array that minidl.backend believes lives on the GPU."""


@pytest.fixture
def fake_cuda(monkeypatch):
    table = dict(minidl.backend._DEVICE_OF_TYPE)
    table[FakeCuda] = "cuda"
    monkeypatch.setattr(minidl.backend, "_DEVICE_OF_TYPE", table)
    return lambda values: minidl.Tensor(np.asarray(values, dtype=np.float64).view(FakeCuda))


def test_mixed_devices_raise_an_error_naming_both(fake_cuda):
    gpu = fake_cuda([1.0, 2.0])
    cpu = f64([3.0, 4.0], requires_grad=False)
    assert gpu.device == "cuda" and cpu.device == "cpu"
    with pytest.raises(RuntimeError, match=r"Add: expected all tensors on the same device, "
                                           r"but found tensors on cuda and cpu"):
        gpu + cpu
    with pytest.raises(RuntimeError, match=r"Mul: .*same device.*cpu and cuda"):
        cpu * gpu
    with pytest.raises(RuntimeError, match=r"MatMul: .*on cpu and cuda"):
        cpu @ gpu


def test_same_fake_device_computes_and_stays_on_it(fake_cuda):
    a, b = fake_cuda([1.0, 2.0]), fake_cuda([3.0, 4.0])
    c = a * b
    assert c.device == "cuda"
    np.testing.assert_array_equal(np.asarray(c.data), [3.0, 8.0])


def test_backward_grad_on_another_device(fake_cuda):
    x = fake_cuda([1.0, 2.0]).requires_grad_()
    with pytest.raises(RuntimeError, match=r"grad is on cpu but the tensor is on cuda"):
        (x * 2).backward(np.ones(2))


def test_to_cuda_without_cupy_is_a_clear_error():
    if minidl.cuda_is_available():
        pytest.skip("a GPU is available here")
    with pytest.raises(RuntimeError, match=r"device 'cuda' is not available"):
        minidl.tensor([1.0, 2.0]).to("cuda")
    with pytest.raises(RuntimeError, match=r"device 'cuda' is not available"):
        nn.Linear(2, 2).to("cuda")
    with pytest.raises(ValueError, match=r"unknown device 'tpu'"):
        minidl.backend.normalize_device("tpu")


# ----------------------------------------------------------------------------- seeding
def test_manual_seed_makes_randn_and_init_reproducible():
    minidl.manual_seed(123)
    a = minidl.randn(4, 5).numpy().copy()
    la = nn.Linear(5, 3)
    minidl.manual_seed(123)
    b = minidl.randn(4, 5).numpy().copy()
    lb = nn.Linear(5, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la.weight.data, lb.weight.data)
    np.testing.assert_array_equal(la.bias.data, lb.bias.data)
    minidl.manual_seed(124)
    assert not np.array_equal(minidl.randn(4, 5).numpy(), a)


def test_rng_state_round_trip():
    minidl.manual_seed(7)
    minidl.randn(3)
    state = minidl.get_rng_state()
    first = minidl.rand(5).numpy().copy()
    minidl.set_rng_state(state)
    np.testing.assert_array_equal(minidl.rand(5).numpy(), first)


# ----------------------------------------------------------------------------- gradcheck
class MulWithOneWrongEntry(Function):
    """y = a * b, whose backward gets one Jacobian entry of b wrong (at b[1, 2])."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        scale = np.ones_like(b)
        scale[1, 2] = 1.5
        return g * b, g * a * scale


class CorrectMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, g * a


def _gradcheck_inputs():
    rng = np.random.default_rng(0)
    a = f64(rng.uniform(0.5, 2.0, (2, 3)))
    b = f64(rng.uniform(0.5, 2.0, (2, 3)))
    return a, b


def test_gradcheck_failure_names_the_input_and_the_location():
    with pytest.raises(minidl.GradcheckError,
                       match=r"gradcheck failed for input 1 \(shape \(2, 3\)\): 1 of 36 Jacobian "
                             r"entries differ.*at output element 5, input index \(1, 2\)"):
        minidl.gradcheck(MulWithOneWrongEntry.apply, _gradcheck_inputs())


def test_gradcheck_fast_mode_also_catches_it_and_can_return_false():
    inputs = _gradcheck_inputs()
    with pytest.raises(minidl.GradcheckError, match=r"input 1 .*along a random direction"):
        minidl.gradcheck(MulWithOneWrongEntry.apply, inputs, mode="fast")
    assert minidl.gradcheck(MulWithOneWrongEntry.apply, inputs, raise_exception=False) is False


def test_gradcheck_passes_a_correct_function_and_rejects_float32():
    a, b = _gradcheck_inputs()
    assert minidl.gradcheck(CorrectMul.apply, (a, b))
    assert minidl.gradcheck(CorrectMul.apply, (a, b), mode="fast")
    with pytest.raises(TypeError, match="float64"):
        minidl.gradcheck(CorrectMul.apply, (a.float().detach().requires_grad_(), b))
