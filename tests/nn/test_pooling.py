"""The pooling layers keep the dtype and call the functions; MaxUnpool2d inverts MaxPool2d.
"""
from __future__ import annotations

import numpy as np
import pytest
import minidl
from tests.helpers import distinct
import minidl.functional as F
import minidl.nn as nn


LAYERS = {
    "MaxPool2d": (lambda: nn.MaxPool2d(2, 1, 1), lambda t: F.max_pool2d(t, 2, 1, 1)),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True),
                  lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True)),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((3, None)),
                          lambda t: F.adaptive_avg_pool2d(t, (3, None))),
    "AdaptiveMaxPool2d": (lambda: nn.AdaptiveMaxPool2d(4),
                          lambda t: F.adaptive_max_pool2d(t, 4)),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_and_functional_keep_the_dtype(name, dtype):
    make_layer, functional = LAYERS[name]
    data = np.random.default_rng(15).standard_normal((2, 3, 7, 6)).astype(dtype)
    results = []
    for fn in (make_layer(), functional):
        x = minidl.tensor(data, requires_grad=True)
        y = fn(x)
        y.sum().backward()
        assert y.dtype == dtype and x.grad.dtype == dtype
        results.append((y.numpy(), x.grad))
    for mine, other in zip(*results):
        np.testing.assert_array_equal(mine, other)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_unpool_layer_inverts_max_pool_layer(dtype):
    x = minidl.tensor(distinct((2, 3, 6, 4), np.random.default_rng(16)).astype(dtype),
                      requires_grad=True)
    y, idx = nn.MaxPool2d(2, return_indices=True)(x)
    back = nn.MaxUnpool2d(2)(y, idx)
    back.sum().backward()
    assert back.dtype == dtype and x.grad.dtype == dtype
    np.testing.assert_array_equal(back.numpy(), np.where(x.grad == 1, x.numpy(), 0))
    assert x.grad.sum() == 2 * 3 * 3 * 2
