"""interpolate / Upsample, channel_shuffle, locally_connected2d and tiled_conv2d.

Each op is checked against a naive loop written here from its definition (slow and
obvious), by gradcheck in float64 for every input, and where PyTorch is installed against
PyTorch (interpolate and channel_shuffle). Tiled convolution is also checked against its two
limits: one tile is conv2d, one tile per output position is locally_connected2d.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from tests.conv_strategies import conv_configs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import nn

# The torch fixture only hands over the module, so sharing it between examples is safe.
with_torch = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                             HealthCheck.too_slow])
seeds = st.integers(0, 2 ** 16)
MODES = [("nearest", None), ("bilinear", False), ("bilinear", True)]


def _random(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _tensor(array, requires_grad=True):
    return minidl.tensor(array, requires_grad=requires_grad)


# =============================================================================== interpolate
def naive_taps(o, n_in, n_out, mode, align_corners, scale_factor):
    """PyTorch's rule for output o of one axis, one scalar at a time: [(input, weight)]."""
    if mode == "nearest":
        if n_out == n_in:
            return [(o, 1.0)]
        if n_out == 2 * n_in:
            return [(o // 2, 1.0)]
        # float32 arithmetic, as PyTorch does for this mode
        s = np.float32(1 / scale_factor) if scale_factor else np.float32(n_in) / np.float32(n_out)
        return [(min(math.floor(np.float32(o) * s), n_in - 1), 1.0)]
    if n_out == n_in:
        return [(o, 1.0)]
    if align_corners:
        src = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        s = 1 / scale_factor if scale_factor else n_in / n_out
        src = max((o + 0.5) * s - 0.5, 0.0)
    i0 = min(math.floor(src), n_in - 1)
    lam = min(max(src - i0, 0.0), 1.0)
    return [(i0, 1 - lam), (min(i0 + 1, n_in - 1), lam)]


def naive_interpolate(x, out_size, mode, align_corners, scales=(None, None)):
    """y[:, :, i, j] = sum of weight_a * weight_b * x[:, :, a, b] over the taps of i and j."""
    n, c, h, w = x.shape
    y = np.zeros((n, c, *out_size))
    for i in range(out_size[0]):
        for j in range(out_size[1]):
            for a, wa in naive_taps(i, h, out_size[0], mode, align_corners, scales[0]):
                for b, wb in naive_taps(j, w, out_size[1], mode, align_corners, scales[1]):
                    y[:, :, i, j] += wa * wb * x[:, :, a, b]
    return y


@st.composite
def resize_configs(draw, max_size=7):
    """(input shape, mode, align_corners, size, scale_factor): up, down, non-integer factors."""
    mode, align_corners = draw(st.sampled_from(MODES))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(1, max_size)), draw(st.integers(1, max_size)))
    if draw(st.booleans()):
        size = (draw(st.integers(1, 2 * max_size)), draw(st.integers(1, 2 * max_size)))
        return shape, mode, align_corners, size, None
    factors = st.sampled_from([0.5, 0.6, 0.75, 1.0, 1.1, 1.3, 1.5, 2.0, 2.1, 2.5, 3.0, 1 / 3])
    scale = (draw(factors), draw(factors))
    out = tuple(int(n * s) for n, s in zip(shape[2:], scale))
    size = None
    if min(out) < 1:  # too small to shrink: resize to a size instead
        size, scale = tuple(max(o, 1) for o in out), None
    return shape, mode, align_corners, size, scale


def _resize(x, config, module=F):
    _, mode, align_corners, size, scale = config
    return module.interpolate(x, size=size, scale_factor=scale, mode=mode,
                              align_corners=align_corners)


@given(config=resize_configs(), seed=seeds)
def test_interpolate_matches_naive_loops(config, seed):
    x = _random(np.random.default_rng(seed), config[0])
    y = _resize(_tensor(x), config)
    size, scale = config[3], config[4]
    out = size if size is not None else tuple(int(n * s) for n, s in zip(x.shape[2:], scale))
    expected = naive_interpolate(x, out, config[1], config[2], scale or (None, None))
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-14)


@given(config=resize_configs(max_size=5), seed=seeds)
def test_interpolate_gradcheck(config, seed):
    x = _tensor(_random(np.random.default_rng(seed), config[0]))
    assert minidl.gradcheck(lambda t: _resize(t, config), [x])


def _check_against_torch(torch, config, seed, dtype):
    """Forward and backward (for a random incoming gradient) equal PyTorch's."""
    rng = np.random.default_rng(seed)
    x = _tensor(_random(rng, config[0], dtype))
    tx = torch.tensor(x.data, requires_grad=True)
    y, ty = _resize(x, config), _resize(tx, config, torch.nn.functional)
    g = _random(rng, y.shape, dtype)
    y.backward(g)
    ty.backward(torch.tensor(g))
    assert y.dtype == x.grad.dtype == dtype
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}
    np.testing.assert_allclose(y.data, ty.detach().numpy(), **tol)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **tol)


@with_torch
@given(config=resize_configs(), seed=seeds, dtype=st.sampled_from([np.float32, np.float64]))
def test_interpolate_matches_torch(torch, config, seed, dtype):
    _check_against_torch(torch, config, seed, dtype)


# Every mode, up and down, by size and by (non-integer) factor, incl. PyTorch's special
# cases for nearest (out == in, out == 2 * in reached by a factor that is not 2).
TORCH_CASES = [(mode, align_corners, size, scale)
               for mode, align_corners in MODES
               for size, scale in [((10, 14), None), ((3, 2), None), ((5, 13), None),
                                   (None, 2.0), (None, (1.5, 0.5)), (None, (2.1, 1.1)),
                                   (None, (1 / 3, 0.7))]]


@pytest.mark.parametrize("mode, align_corners, size, scale", TORCH_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_interpolate_matches_torch_on_chosen_cases(torch, mode, align_corners, size, scale,
                                                   dtype):
    _check_against_torch(torch, ((2, 3, 5, 7), mode, align_corners, size, scale), 0, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_upsample_layer_keeps_dtype_and_matches_functional(dtype):
    x = _tensor(_random(np.random.default_rng(0), (2, 3, 4, 5), dtype))
    layer = nn.Upsample(scale_factor=1.5, mode="bilinear", align_corners=True)
    y = layer(x)
    expected = F.interpolate(x, scale_factor=1.5, mode="bilinear", align_corners=True)
    assert y.shape == (2, 3, 6, 7) and y.dtype == dtype
    np.testing.assert_array_equal(y.data, expected.data)
    y.sum().backward()
    assert x.grad.dtype == dtype
    # each output's weights sum to 1, so the gradient of sum(y) adds up to y's size
    np.testing.assert_allclose(x.grad.sum(), y.numel(), rtol=1e-5)
    assert nn.Upsample(size=(8, 10))(x).shape == (2, 3, 8, 10)
    assert "scale_factor=1.5, mode='bilinear', align_corners=True" in repr(layer)


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 4, "scale_factor": 2}, "exactly one of size and scale_factor, got both"),
    ({}, "exactly one of size and scale_factor, got neither"),
    ({"size": 4, "align_corners": True}, "align_corners can only be set with mode='bilinear'"),
    ({"size": 4, "mode": "bicubic"}, "mode must be one of"),
    ({"scale_factor": 0.1}, "input 3x5 with scale_factor 0.1 gives an empty output 0x0"),
    ({"size": (0, 2)}, "input 3x5 with size (0, 2) gives an empty output 0x2"),
    ({"scale_factor": -2}, "scale_factor must be a positive number"),
    ({"size": (2, 3, 4)}, "size must be an int or a pair of ints, got (2, 3, 4)"),
])
def test_interpolate_errors_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        F.interpolate(minidl.zeros(1, 2, 3, 5), **kwargs)


def test_interpolate_needs_a_4d_input():
    with pytest.raises(ValueError, match=r"expected a 4-D input \(N, C, H, W\), got shape "
                                         r"\(2, 3, 5\)"):
        nn.Upsample(scale_factor=2)(minidl.zeros(2, 3, 5))


# ============================================================================ channel shuffle
def naive_channel_shuffle(x, groups):
    """Output channel k*g + j is input channel j*m + k (m = C / g channels per group)."""
    y = np.empty_like(x)
    m = x.shape[1] // groups
    for j in range(groups):
        for k in range(m):
            y[:, k * groups + j] = x[:, j * m + k]
    return y


@st.composite
def shuffle_configs(draw):
    groups, per_group = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    spatial = draw(st.lists(st.integers(1, 3), min_size=1, max_size=2))
    return (draw(st.integers(1, 2)), groups * per_group, *spatial), groups


@given(config=shuffle_configs(), seed=seeds)
def test_channel_shuffle_matches_naive_loops_and_gradcheck(config, seed):
    shape, groups = config
    x = _tensor(_random(np.random.default_rng(seed), shape))
    np.testing.assert_array_equal(F.channel_shuffle(x, groups).data,
                                  naive_channel_shuffle(x.data, groups))
    assert minidl.gradcheck(lambda t: F.channel_shuffle(t, groups), [x])


@with_torch
@given(config=shuffle_configs(), seed=seeds)
def test_channel_shuffle_matches_torch(torch, config, seed):
    shape, groups = config
    rng = np.random.default_rng(seed)
    x = _tensor(_random(rng, shape, np.float32))
    tx = torch.tensor(x.data, requires_grad=True)
    y, ty = nn.ChannelShuffle(groups)(x), torch.nn.ChannelShuffle(groups)(tx)
    g = _random(rng, shape, np.float32)
    y.backward(g)
    ty.backward(torch.tensor(g))
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())


def test_channel_shuffle_errors_name_the_sizes():
    with pytest.raises(ValueError, match="5 channels are not divisible by groups=2"):
        nn.ChannelShuffle(2)(minidl.zeros(1, 5, 2, 2))
    with pytest.raises(ValueError, match=r"at least 3 axes, got shape \(4, 6\)"):
        F.channel_shuffle(minidl.zeros(4, 6), 2)


# ===================================================================== locally connected
def naive_unshared(x, kernel_at, bias_at, out_size, stride, padding, dilation):
    """y[:, :, oh, ow] = bias_at(oh, ow) + sum over taps (i, j) of
    kernel_at(oh, ow)[:, :, i, j] applied to the input pixel that tap reads."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h, out_w = out_size
    kernel = kernel_at(0, 0)
    y = np.zeros((x.shape[0], kernel.shape[0], out_h, out_w))
    for oh in range(out_h):
        for ow in range(out_w):
            w = kernel_at(oh, ow)
            for i in range(w.shape[2]):
                for j in range(w.shape[3]):
                    y[:, :, oh, ow] += xpad[:, :, oh * sh + i * dh, ow * sw + j * dw] @ w[:, :, i, j].T
            if bias_at is not None:
                y[:, :, oh, ow] += bias_at(oh, ow)
    return y


def _local_arrays(config, grid, rng, dtype=np.float64, bias=True):
    """Input, weight (grid_h, grid_w, out, in, kh, kw) and bias (out, grid_h, grid_w).

    ``config.groups`` is not used: an unshared convolution accepts any channel counts."""
    x = _random(rng, config.input_shape, dtype)
    w = _random(rng, (*grid, config.out_channels, config.in_channels, *config.kernel), dtype)
    b = _random(rng, (config.out_channels, *grid), dtype) if bias else None
    return x, w, b


small_configs = conv_configs(max_channels=3, max_size=6, max_kernel=3)


@given(config=conv_configs(), seed=seeds, bias=st.booleans())
def test_locally_connected_matches_naive_loops(config, seed, bias):
    out = config.output_size()
    x, w, b = _local_arrays(config, out, np.random.default_rng(seed), bias=bias)
    y = F.locally_connected2d(x, w, b, config.stride, config.padding, config.dilation)
    expected = naive_unshared(x, lambda oh, ow: w[oh, ow],
                              None if b is None else lambda oh, ow: b[:, oh, ow],
                              out, config.stride, config.padding, config.dilation)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)


@given(config=small_configs, seed=seeds)
def test_locally_connected_gradcheck(config, seed):
    arrays = _local_arrays(config, config.output_size(), np.random.default_rng(seed))
    inputs = [_tensor(a) for a in arrays]
    assert minidl.gradcheck(lambda x, w, b: F.locally_connected2d(
        x, w, b, config.stride, config.padding, config.dilation), inputs)


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


# ========================================================================== tiled conv
@st.composite
def tiled_configs(draw, configs):
    """A conv configuration and a tile size (t_h, t_w), smaller or larger than the output."""
    return draw(configs), (draw(st.integers(1, 3)), draw(st.integers(1, 3)))


@given(case=tiled_configs(conv_configs()), seed=seeds, bias=st.booleans())
def test_tiled_conv_matches_naive_loops(case, seed, bias):
    config, (t_h, t_w) = case
    x, w, b = _local_arrays(config, (t_h, t_w), np.random.default_rng(seed), bias=bias)
    y = F.tiled_conv2d(x, w, b, config.stride, config.padding, config.dilation)
    expected = naive_unshared(x, lambda oh, ow: w[oh % t_h, ow % t_w],
                              None if b is None else lambda oh, ow: b[:, oh % t_h, ow % t_w],
                              config.output_size(), config.stride, config.padding,
                              config.dilation)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)


@given(case=tiled_configs(small_configs), seed=seeds)
def test_tiled_conv_gradcheck(case, seed):
    config, tiles = case
    inputs = [_tensor(a) for a in _local_arrays(config, tiles, np.random.default_rng(seed))]
    assert minidl.gradcheck(lambda x, w, b: F.tiled_conv2d(
        x, w, b, config.stride, config.padding, config.dilation), inputs)


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


# ============================================================================== invariants
def _ops(rng):
    """Each op with float64 inputs (the first being the image) on a 2x4x6x5 batch."""
    x = _random(rng, (2, 4, 6, 5))
    return [
        (lambda x: F.interpolate(x, scale_factor=1.5, mode="bilinear"), [x]),
        (lambda x: F.interpolate(x, size=(4, 9)), [x]),
        (lambda x: F.channel_shuffle(x, 2), [x]),
        (lambda x, w, b: F.locally_connected2d(x, w, b, padding=1),
         [x, _random(rng, (6, 5, 3, 4, 3, 3)), _random(rng, (3, 6, 5))]),
        (lambda x, w, b: F.tiled_conv2d(x, w, b, stride=2),
         [x, _random(rng, (2, 3, 3, 4, 2, 2)), _random(rng, (3, 2, 3))]),
    ]


@pytest.mark.parametrize("index", range(5))
def test_backward_is_repeatable_and_leaves_its_inputs_alone(index):
    rng = np.random.default_rng(index)
    fn, arrays = _ops(rng)[index]
    originals = [a.copy() for a in arrays]
    runs = []
    for _ in range(2):
        out_shape = fn(*arrays).shape
        g = np.random.default_rng(7).standard_normal(out_shape)
        g_before = g.copy()
        runs.append(_values_and_grads(fn, arrays, g))
        np.testing.assert_array_equal(g, g_before)
    for a, original in zip(arrays, originals):
        np.testing.assert_array_equal(a, original)
    for first, second in zip(*runs):
        np.testing.assert_array_equal(first, second)
