"""Convolution kernels (minidl/kernels/conv): the Numba and CUDA implementations against the
reference over drawn configurations, grouped and depthwise; one-sided padding longer than
the input; the per-sample GEMM path of 1x1 convolutions on large planes."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from minidl.kernels import conv
from minidl.kernels.conv.numba_cpu import POINTWISE_PLANE
from tests.conv_strategies import ConvConfig, conv_configs
from tests.kernels.parity import DTYPES, IMPLEMENTATIONS, NUMBA, backward_twice, close, unchanged

R = conv.reference


def _config(batch, channels, outs, groups, kernel, stride, padding, dilation, size):
    return ConvConfig(batch, channels, outs, groups, kernel, stride, padding, dilation, (0, 0),
                      size)


def _configs(implementation):
    big = implementation.limits(dict(max_batch=2, max_channels=4, max_size=5, max_kernel=3),
                                dict(max_batch=5, max_channels=8, max_size=9, max_kernel=4))
    return st.one_of(conv_configs(**big),
                     conv_configs(**{**big, "max_channels": 3}, depthwise=True))


def _check_parity(K, implementation, x, w, b, conf, dtype):
    dx, dw, db = implementation.on_device(x, w, b)
    y = K.conv2d_forward(dx, dw, db, *conf)
    close(y, R.conv2d_forward(x, w, b, *conf), dtype)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    (dgy,) = implementation.on_device(gy)
    close(backward_twice(lambda: K.conv2d_backward_input(dgy, dw, x.shape, *conf)),
          R.conv2d_backward_input(gy, w, x.shape, *conf), dtype)
    close(backward_twice(lambda: K.conv2d_backward_weight(dx, dgy, w.shape, *conf)),
          R.conv2d_backward_weight(x, gy, w.shape, *conf), dtype)
    unchanged((dx, x), (dw, w), (dgy, gy))


@IMPLEMENTATIONS
def test_conv2d_parity(implementation):
    K = implementation.kernels(conv.KERNELS)

    @implementation.settings("conv")
    @given(_configs(implementation), DTYPES)
    # Always covered, whatever is drawn: grouped, depthwise with a channel multiplier, plain.
    @example(_config(2, 4, 4, 2, (3, 2), (2, 1), (1, 1), (1, 2), (5, 4)), np.float64)
    @example(_config(2, 2, 4, 2, (3, 3), (1, 2), (1, 2), (2, 1), (4, 5)), np.float32)
    @example(_config(2, 3, 2, 1, (3, 3), (1, 1), (1, 1), (1, 1), (4, 4)), np.float32)
    def check(config, dtype):
        rng = np.random.default_rng(0)
        x = rng.standard_normal(config.input_shape).astype(dtype)
        w = rng.standard_normal(config.weight_shape).astype(dtype)
        b = rng.standard_normal(config.out_channels).astype(dtype)
        conf = (config.stride, tuple((p, p) for p in config.padding), config.dilation,
                config.groups)
        _check_parity(K, implementation, x, w, b, conf, dtype)

    check()


@pytest.mark.parametrize("pads, dilation", [(((0, 0), (6, 0)), (1, 3)),   # causal conv1d, length 5
                                            (((8, 0), (0, 10)), (4, 5)),
                                            (((0, 8), (8, 0)), (4, 4))])
def test_one_sided_padding_longer_than_the_input(pads, dilation):
    """Causal padding (d*(k-1) on one side) can exceed the input: every shifted copy must
    clamp its range instead of wrapping around."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, 1 if pads[0] == (0, 0) else 4, 5))
    w = rng.standard_normal((4, 3, 1 if pads[0] == (0, 0) else 3, 3))
    _check_parity(conv.numba_cpu, NUMBA, x, w, None, ((1, 1), pads, dilation, 1), np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_conv_on_large_planes(dtype):
    """1x1 convolutions over planes of at least POINTWISE_PLANE pixels take the per-sample
    GEMM path, which the drawn (small) configurations never reach."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 17, POINTWISE_PLANE // 17 + 1)).astype(dtype)
    w = rng.standard_normal((4, 5, 1, 1)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    _check_parity(conv.numba_cpu, NUMBA, x, w, b, ((1, 1), ((0, 0), (0, 0)), (1, 1), 1), dtype)
