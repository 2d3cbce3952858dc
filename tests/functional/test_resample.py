"""interpolate and channel_shuffle beyond the op-table battery: PyTorch on chosen cases in
float32 and float64, the Upsample layer, and errors.
"""
from __future__ import annotations

import re
import numpy as np
import pytest
import minidl
import minidl.functional as F
from minidl import nn


MODES = [("nearest", None), ("bilinear", False), ("bilinear", True)]


def _random(rng, shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _tensor(array, requires_grad=True):
    return minidl.tensor(array, requires_grad=requires_grad)


def _resize(x, config, module=F):
    _, mode, align_corners, size, scale = config
    return module.interpolate(x, size=size, scale_factor=scale, mode=mode,
                              align_corners=align_corners)


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


def test_channel_shuffle_errors_name_the_sizes():
    with pytest.raises(ValueError, match="5 channels are not divisible by groups=2"):
        nn.ChannelShuffle(2)(minidl.zeros(1, 5, 2, 2))
    with pytest.raises(ValueError, match=r"at least 3 axes, got shape \(4, 6\)"):
        F.channel_shuffle(minidl.zeros(4, 6), 2)
