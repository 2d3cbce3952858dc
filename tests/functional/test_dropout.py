"""dropout and dropout2d beyond the op-table battery: the mask follows the counter-based
spec bit for bit, the gradient is the scaled mask, the kept fraction, seeding, edge
probabilities and evaluation mode, and the layers.
"""
from __future__ import annotations

import math
import numpy as np
import pytest
import minidl
import minidl.functional as F
import minidl.nn as nn
from minidl import backend




def spec_keep_mask(key, count, p):
    """The mask spec with Python ints: element i is kept iff its 24-bit draw >= round(p 2^24)."""
    threshold = round(p * 2 ** 24)
    keep = []
    for i in range(count):
        z = (key + (i + 1) * 0x9E3779B97F4A7C15) % 2 ** 64
        keep.append(backend.mix64(z) >> 40 >= threshold)
    return np.array(keep)


def next_key(seed):
    """The key the next dropout call after ``manual_seed(seed)`` takes."""
    minidl.manual_seed(seed)
    return backend.next_random_stream()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.7])
def test_dropout_mask_follows_the_spec(p):
    key = next_key(11)
    minidl.manual_seed(11)
    y = F.dropout(minidl.ones(3, 4, 5), p)
    np.testing.assert_array_equal(y.numpy() != 0, spec_keep_mask(key, 60, p).reshape(3, 4, 5))
    np.testing.assert_array_equal(y.numpy()[y.numpy() != 0], np.float32(1 / (1 - p)))


def test_dropout_drops_exactly_the_draws_below_the_threshold():
    key = next_key(13)
    draw = backend.mix64((key + 0x9E3779B97F4A7C15) % 2 ** 64) >> 40  # element 0's 24 bits
    for p, kept in ((draw / 2 ** 24, True), ((draw + 1) / 2 ** 24, False)):
        minidl.manual_seed(13)
        assert (F.dropout(minidl.ones(1), p).numpy()[0] != 0) == kept


def test_dropout2d_mask_follows_the_spec_and_drops_whole_channels():
    key = next_key(12)
    minidl.manual_seed(12)
    x = minidl.tensor(np.random.default_rng(9).uniform(0.5, 2, (5, 6, 3, 4)))
    y = F.dropout2d(x, 0.4).numpy()
    keep = spec_keep_mask(key, 30, 0.4).reshape(5, 6)
    assert keep.any() and not keep.all()
    np.testing.assert_array_equal(y[~keep], 0)
    np.testing.assert_allclose(y[keep], x.numpy()[keep] / 0.6, rtol=1e-15)


@pytest.mark.parametrize("function", [F.dropout, F.dropout2d])
@pytest.mark.parametrize("p", [0.2, 0.6])
def test_dropout_gradient_is_the_scaled_mask(function, p):
    g = np.random.default_rng(10).standard_normal((4, 5, 3, 2))
    x = minidl.ones(4, 5, 3, 2, dtype=np.float64, requires_grad=True)
    y = function(x, p)
    y.backward(g)
    mask = (y.numpy() != 0) / (1 - p)
    np.testing.assert_array_equal(y.numpy(), mask)
    np.testing.assert_array_equal(x.grad, g * mask)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9])
def test_dropout_keeps_a_fraction_one_minus_p(p):
    n = 1_000_000
    kept = int((F.dropout(minidl.ones(n), p).numpy() != 0).sum())
    assert abs(kept - n * (1 - p)) < 5 * math.sqrt(n * p * (1 - p))
    channels_kept = int((F.dropout2d(minidl.ones(500, 400, 1, 1), p).numpy() != 0).sum())
    assert abs(channels_kept - 200_000 * (1 - p)) < 5 * math.sqrt(200_000 * p * (1 - p))


def test_dropout_masks_repeat_with_the_seed_and_differ_between_calls():
    x = minidl.ones(8, 16)
    minidl.manual_seed(5)
    first, second = F.dropout(x).numpy(), F.dropout(x).numpy()
    minidl.manual_seed(5)
    np.testing.assert_array_equal(F.dropout(x).numpy(), first)
    np.testing.assert_array_equal(F.dropout(x).numpy(), second)
    assert (first != second).any()


def test_dropout_edge_probabilities_and_eval():
    x = minidl.randn(3, 4, 2, 2)
    for function in (F.dropout, F.dropout2d):
        np.testing.assert_array_equal(function(x, 1.0).numpy(), 0)
        np.testing.assert_array_equal(function(x, 0.0).numpy(), x.numpy())
        assert function(x, 0.5, training=False) is x
        for p in (-0.1, 1.5):
            with pytest.raises(ValueError, match="between 0 and 1"):
                function(x, p)
    with pytest.raises(ValueError, match="4-D input"):
        F.dropout2d(minidl.randn(3, 4), 0.5)


@pytest.mark.parametrize("layer_type", [nn.Dropout, nn.Dropout2d])
def test_dropout_layers(layer_type):
    layer = layer_type(0.25)
    assert repr(layer) == f"{layer_type.__name__}(p=0.25)"
    x = minidl.ones(6, 8, 2, 2)
    assert (layer(x).numpy() == 0).any()
    assert layer.eval()(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        layer_type(2.0)
