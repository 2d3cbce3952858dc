"""relu6 and silu: the layers call the functions, relu6 follows the backprop rule.
"""
from __future__ import annotations

import numpy as np
import pytest
import minidl
from tests.helpers import leaf
import minidl.functional as F
import minidl.nn as nn


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
