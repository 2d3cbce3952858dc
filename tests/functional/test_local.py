"""locally_connected2d and tiled_conv2d beyond the op-table battery: equal kernels give conv2d,
one tile gives conv2d, a tile per position gives a locally connected layer; the layers;
errors.
"""
from __future__ import annotations

import math
import numpy as np
import pytest
from tests.conv_strategies import conv_configs
from hypothesis import given
from hypothesis import strategies as st
import minidl
import minidl.functional as F
from minidl import nn


seeds = st.integers(0, 2 ** 16)


def _random(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _tensor(array, requires_grad=True):
    return minidl.tensor(array, requires_grad=requires_grad)


def _local_arrays(config, grid, rng, dtype=np.float64, bias=True):
    """Input, weight (grid_h, grid_w, out, in, kh, kw) and bias (out, grid_h, grid_w).

    ``config.groups`` is not used: an unshared convolution accepts any channel counts."""
    x = _random(rng, config.input_shape, dtype)
    w = _random(rng, (*grid, config.out_channels, config.in_channels, *config.kernel), dtype)
    b = _random(rng, (config.out_channels, *grid), dtype) if bias else None
    return x, w, b


@given(config=conv_configs(max_channels=4), seed=seeds)
def test_locally_connected_with_equal_kernels_is_conv2d(config, seed):
    rng = np.random.default_rng(seed)
    conv_w = _random(rng, (config.out_channels, config.in_channels, *config.kernel))
    conv_b = _random(rng, (config.out_channels,))
    x = _random(rng, config.input_shape)
    out_h, out_w = config.output_size()
    w = np.broadcast_to(conv_w, (out_h, out_w, *conv_w.shape))
    b = np.broadcast_to(conv_b[:, None, None], (config.out_channels, out_h, out_w))
    args = config.stride, config.padding, config.dilation
    np.testing.assert_allclose(F.locally_connected2d(x, w, b, *args).data,
                               F.conv2d(x, conv_w, conv_b, *args).data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_locally_connected_layer(dtype):
    layer = nn.LocallyConnected2d(3, 4, kernel_size=3, input_size=(7, 6), stride=2, padding=1,
                                  dtype=dtype)
    assert layer.weight.shape == (4, 3, 4, 3, 3, 3) and layer.bias.shape == (4, 4, 3)
    assert layer.weight.dtype == layer.bias.dtype == dtype
    bound = 1 / math.sqrt(3 * 3 * 3)
    assert 0 < np.abs(layer.weight.data).max() <= bound
    x = _tensor(_random(np.random.default_rng(0), (2, 3, 7, 6), dtype))
    y = layer(x)
    assert y.shape == (2, 4, 4, 3) and y.dtype == dtype
    np.testing.assert_array_equal(
        y.data, F.locally_connected2d(x, layer.weight, layer.bias, 2, 1).data)
    y.sum().backward()
    assert x.grad.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == dtype
    assert nn.LocallyConnected2d(3, 4, 3, (7, 6), padding="same", bias=False).weight.shape[:2] \
        == (7, 6)
    assert "input_size=(7, 6)" in repr(layer)


def test_locally_connected_errors_name_the_sizes():
    x, w = minidl.zeros(1, 3, 6, 6), minidl.zeros(3, 3, 2, 3, 3, 3)
    with pytest.raises(ValueError, match=r"input 6x6 with kernel 3x3, padding 0, stride 1, "
                                         r"dilation 1 gives a 4x4 output, but the weight "
                                         r"\(3, 3, 2, 3, 3, 3\) holds kernels for 3x3"):
        F.locally_connected2d(x, w)
    with pytest.raises(ValueError, match=r"input has 2 channels but the weight "
                                         r"\(4, 4, 2, 3, 3, 3\) expects 3"):
        F.locally_connected2d(minidl.zeros(1, 2, 6, 6), minidl.zeros(4, 4, 2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"bias of shape \(2,\) must have shape \(2, 4, 4\)"):
        F.locally_connected2d(x, minidl.zeros(4, 4, 2, 3, 3, 3), minidl.zeros(2))
    with pytest.raises(ValueError, match=r"6-D weight \(OH, OW, out_channels, in_channels, "
                                         r"kh, kw\), got input \(1, 3, 6, 6\) and weight "
                                         r"\(2, 3, 3, 3\)"):
        F.locally_connected2d(x, minidl.zeros(2, 3, 3, 3))
    with pytest.raises(ValueError, match="input 2x5 with kernel 3x3, padding 0, stride 1 "
                                         "gives an empty output"):
        nn.LocallyConnected2d(3, 2, 3, input_size=(2, 5))


@st.composite
def tiled_configs(draw, configs):
    """A conv configuration and a tile size (t_h, t_w), smaller or larger than the output."""
    return draw(configs), (draw(st.integers(1, 3)), draw(st.integers(1, 3)))


def _values_and_grads(fn, arrays, g):
    """fn(*arrays) and the gradients of <g, fn> with respect to every array."""
    inputs = [_tensor(a) for a in arrays]
    y = fn(*inputs)
    y.backward(g)
    return [y.data] + [t.grad for t in inputs]


@given(config=conv_configs(max_channels=4), seed=seeds)
def test_tiled_conv_with_one_tile_is_conv2d(config, seed):
    rng = np.random.default_rng(seed)
    x, w, b = _local_arrays(config, (1, 1), rng)
    g = _random(rng, (config.batch, config.out_channels, *config.output_size()))
    args = config.stride, config.padding, config.dilation
    tiled = _values_and_grads(lambda x, w, b: F.tiled_conv2d(x, w, b, *args), (x, w, b), g)
    conv = _values_and_grads(lambda x, w, b: F.conv2d(x, w, b, *args),
                             (x, w[0, 0], b[:, 0, 0]), g)
    for got, expected in zip(tiled, conv):
        np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-12,
                                   atol=1e-12)


@given(config=conv_configs(max_channels=4), seed=seeds)
def test_tiled_conv_with_a_tile_per_position_is_locally_connected(config, seed):
    rng = np.random.default_rng(seed)
    out = config.output_size()
    arrays = _local_arrays(config, out, rng)
    g = _random(rng, (config.batch, config.out_channels, *out))
    args = config.stride, config.padding, config.dilation
    tiled = _values_and_grads(lambda x, w, b: F.tiled_conv2d(x, w, b, *args), arrays, g)
    local = _values_and_grads(lambda x, w, b: F.locally_connected2d(x, w, b, *args), arrays, g)
    for got, expected in zip(tiled, local):
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_conv_layer(dtype):
    layer = nn.TiledConv2d(3, 4, kernel_size=(3, 2), tile_size=2, padding=1, dtype=dtype)
    assert layer.weight.shape == (2, 2, 4, 3, 3, 2) and layer.bias.shape == (4, 2, 2)
    assert layer.weight.dtype == layer.bias.dtype == dtype
    for size in [(5, 5), (8, 3)]:  # the same layer on any image size
        x = _tensor(_random(np.random.default_rng(0), (2, 3, *size), dtype))
        y = layer(x)
        assert y.shape == (2, 4, size[0], size[1] + 1) and y.dtype == dtype
        np.testing.assert_array_equal(
            y.data, F.tiled_conv2d(x, layer.weight, layer.bias, 1, 1).data)
        y.sum().backward()
    assert x.grad.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == dtype
    assert "tile_size=(2, 2)" in repr(layer)


def test_tiled_conv_errors_name_the_sizes():
    x = minidl.zeros(1, 3, 6, 6)
    with pytest.raises(ValueError, match=r"input has 3 channels but the weight "
                                         r"\(2, 2, 4, 5, 3, 3\) expects 5"):
        F.tiled_conv2d(x, minidl.zeros(2, 2, 4, 5, 3, 3))
    with pytest.raises(ValueError, match=r"bias of shape \(4,\) must have shape \(4, 2, 1\)"):
        F.tiled_conv2d(x, minidl.zeros(2, 1, 4, 3, 3, 3), minidl.zeros(4))
    with pytest.raises(ValueError, match="input 6x6 with kernel 3x3, padding 0, stride 4, "
                                         "dilation 3 gives an empty output"):
        F.tiled_conv2d(x, minidl.zeros(2, 1, 4, 3, 3, 3), stride=4, dilation=3)
    with pytest.raises(ValueError, match=r"tile_size must be >= 1, got \(0, 2\)"):
        nn.TiledConv2d(3, 4, 3, tile_size=(0, 2))
