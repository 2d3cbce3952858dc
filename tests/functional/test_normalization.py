"""batch_norm and local_response_norm beyond the op-table battery: running statistics updated
in place, batch statistics without running ones, errors.
"""
from __future__ import annotations

import numpy as np
import pytest
import minidl
from tests.helpers import leaf
from tests.oracles import naive_batch_norm, naive_local_response_norm
import minidl.functional as F
import minidl.nn as nn




def test_batch_norm_updates_running_statistics_in_place():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 4))
    rm, rv = leaf(np.zeros(3), False), leaf(np.ones(3), False)
    same_mean, same_var = rm, rv
    F.batch_norm(leaf(x), rm, rv, training=True, momentum=0.25)
    assert rm is same_mean and rv is same_var
    np.testing.assert_allclose(rm.numpy(), 0.25 * x.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.75 + 0.25 * x.var(axis=(0, 2), ddof=1), rtol=1e-12)


def test_batch_norm_without_running_statistics_uses_the_batch():
    x = np.random.default_rng(2).standard_normal((4, 2))
    y = F.batch_norm(leaf(x), None, None, training=True)
    np.testing.assert_allclose(y.numpy(), naive_batch_norm(x, None, None, 1e-5), rtol=1e-10)


@pytest.mark.parametrize("call, message", [
    (lambda x: F.batch_norm(x, None, None, training=False), "evaluation mode"),
    (lambda x: F.batch_norm(x, minidl.zeros(3), None, training=True), "both be None"),
    (lambda x: F.batch_norm(x[:1, :, :1], None, None, training=True), "more than 1 value"),
    (lambda x: F.batch_norm(x, minidl.zeros(4), minidl.ones(4)), "one entry per channel"),
    (lambda x: F.batch_norm(x, None, None, minidl.ones(2), training=True),
     "one entry per channel"),
    (lambda x: nn.BatchNorm2d(3)(x), r"4-D \(N, C, H, W\)"),
    (lambda x: nn.BatchNorm1d(3)(x.reshape(2, 3, 2, 2)), r"2-D \(N, C\) or 3-D"),
    (lambda x: nn.BatchNorm1d(4)(x), "has 3 channels"),
])
def test_batch_norm_errors(call, message):
    x = minidl.randn(2, 3, 4)
    with pytest.raises(ValueError, match=message):
        call(x)


def test_batch_norm_type_errors():
    x = minidl.randn(2, 3, 4)
    with pytest.raises(TypeError, match="must be tensors"):
        F.batch_norm(x, np.zeros(3), np.ones(3))
    with pytest.raises(TypeError, match="momentum=None"):
        F.batch_norm(x, minidl.zeros(3), minidl.ones(3), training=True, momentum=None)


def test_local_response_norm_layer_and_errors():
    layer = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    assert repr(layer) == "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=2.0)"
    x = np.random.default_rng(8).standard_normal((2, 6, 3, 3))
    np.testing.assert_allclose(layer(leaf(x)).numpy(),
                               naive_local_response_norm(x, 5, 1e-4, 0.75, 2.0), rtol=1e-12)
    with pytest.raises(ValueError, match="3 or more dimensions"):
        F.local_response_norm(minidl.randn(2, 3), 2)
    with pytest.raises(ValueError, match="positive int"):
        F.local_response_norm(minidl.randn(2, 3, 4), 0)
