"""relu6 and silu (MobileNet v2's and EfficientNet's activations): gradients against finite
differences, values against PyTorch, the layers, and ReLU6 under guided backpropagation."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minidl
import minidl.functional as F
import minidl.nn as nn


def leaf(array):
    return minidl.tensor(array, requires_grad=True)


def away_from_kinks(x):
    """relu6 has kinks at 0 and 6; finite differences (eps 1e-6) must not straddle them."""
    return all(abs(x - k) > 0.05 for k in (0.0, 6.0))


shapes = hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)


@given(shapes.flatmap(lambda shape: hnp.arrays(
    np.float64, shape, elements=st.floats(-8, 8).filter(away_from_kinks))))
def test_relu6_gradient(x):
    minidl.gradcheck(F.relu6, [leaf(x)])


@given(shapes.flatmap(lambda shape: hnp.arrays(np.float64, shape, elements=st.floats(-8, 8))))
def test_silu_gradient(x):
    minidl.gradcheck(F.silu, [leaf(x)])


def test_values_match_pytorch(torch):
    x = np.linspace(-9, 9, 37)  # includes 0 and 6
    for ours, theirs in ((F.relu6, torch.nn.functional.relu6),
                         (F.silu, torch.nn.functional.silu)):
        np.testing.assert_allclose(ours(minidl.tensor(x)).numpy(),
                                   theirs(torch.from_numpy(x)).numpy(), rtol=1e-15, atol=1e-15)


def test_layers_call_the_functions():
    x = minidl.tensor(np.linspace(-9, 9, 19))
    np.testing.assert_array_equal(nn.ReLU6()(x).numpy(), np.clip(x.numpy(), 0, 6))
    np.testing.assert_array_equal(nn.SiLU(inplace=True)(x).numpy(), F.silu(x).numpy())


@pytest.mark.parametrize("rule, expected", [("default", [0, -1, 1, 0]),
                                            ("guided", [0, 0, 1, 0])])
def test_relu6_follows_the_backprop_rule(rule, expected):
    x = leaf(np.array([-1.0, 2.0, 3.0, 7.0]))
    with minidl.backprop_rule(rule):
        (F.relu6(x) * minidl.tensor([1.0, -1.0, 1.0, 1.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, expected)
