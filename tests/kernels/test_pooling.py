"""Pooling kernels (minidl/kernels/pooling): max and average pooling of the Numba and CUDA
implementations against the reference over drawn configurations; the 2x2 stride-2 kernels
with ties, NaN and odd sizes; NaN wins and padding-only windows are empty, as in PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl import backend
from minidl.kernels import pooling
from tests.conv_strategies import pool_configs
from tests.kernels.parity import DTYPES, IMPLEMENTATIONS, backward_twice, close, unchanged

R = pooling.reference


def _limits(implementation, **extra):
    return implementation.limits(dict(max_batch=2, max_channels=2, max_size=6, max_kernel=3),
                                 dict(max_batch=3, max_channels=3, max_size=10)) | extra


@IMPLEMENTATIONS
def test_max_pool_parity(implementation):
    K = implementation.kernels(pooling.KERNELS)

    @implementation.settings("pool")
    @given(pool_configs(**_limits(implementation)), DTYPES)
    def check(config, dtype):
        rng = np.random.default_rng(1)
        x = rng.standard_normal(config.input_shape).astype(dtype)
        conf = (config.kernel, config.stride, config.padding, config.dilation)
        (dx,) = implementation.on_device(x)
        y, idx = K.max_pool2d_forward(dx, *conf, config.ceil_mode)
        ref_y, ref_idx = R.max_pool2d_forward(x, *conf, config.ceil_mode)
        assert np.array_equal(backend.to_numpy(y), ref_y)
        assert np.array_equal(backend.to_numpy(idx), ref_idx)
        gy = rng.standard_normal(ref_y.shape).astype(dtype)
        (dgy,) = implementation.on_device(gy)
        close(backward_twice(lambda: K.max_pool2d_backward(dgy, idx, x.shape, *conf)),
              R.max_pool2d_backward(gy, ref_idx, x.shape, *conf), dtype)
        unchanged((dgy, gy), (idx, ref_idx), (dx, x))

    check()


@IMPLEMENTATIONS
def test_avg_pool_parity(implementation):
    K = implementation.kernels(pooling.KERNELS)

    @implementation.settings("pool")
    @given(pool_configs(**_limits(implementation, dilation=False)), st.booleans(),
           st.sampled_from([None, 3]), DTYPES)
    def check(config, count_include_pad, divisor_override, dtype):
        rng = np.random.default_rng(2)
        x = rng.standard_normal(config.input_shape).astype(dtype)
        conf = (config.kernel, config.stride, config.padding)
        (dx,) = implementation.on_device(x)
        options = (count_include_pad, divisor_override)
        y = K.avg_pool2d_forward(dx, *conf, config.ceil_mode, *options)
        ref_y = R.avg_pool2d_forward(x, *conf, config.ceil_mode, *options)
        close(y, ref_y, dtype)
        gy = rng.standard_normal(ref_y.shape).astype(dtype)
        (dgy,) = implementation.on_device(gy)
        close(backward_twice(lambda: K.avg_pool2d_backward(dgy, x.shape, *conf, *options)),
              R.avg_pool2d_backward(gy, x.shape, *conf, *options), dtype)
        unchanged((dgy, gy), (dx, x))

    check()


@pytest.mark.parametrize("size", [(4, 4), (5, 7), (2, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_2x2_with_ties_and_nan(size, dtype):
    """The Numba 2x2 stride-2 kernels: odd sizes (a last row or column in no window), ties
    (the first maximum wins) and NaN (it wins, as in PyTorch)."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, (2, 3, *size)).astype(dtype)
    x[0, 0, 0, 1] = np.nan
    conf = ((2, 2), (2, 2), (0, 0), (1, 1))
    y, idx = pooling.numba_cpu.max_pool2d_forward(x, *conf, False)
    ref_y, ref_idx = R.max_pool2d_forward(x, *conf, False)
    assert np.array_equal(y, ref_y, equal_nan=True) and np.array_equal(idx, ref_idx)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert np.array_equal(pooling.numba_cpu.max_pool2d_backward(gy, idx, x.shape, *conf),
                          R.max_pool2d_backward(gy, idx, x.shape, *conf))


@IMPLEMENTATIONS
def test_max_pool_nan_wins_and_a_padding_only_window_is_empty(implementation):
    """PyTorch's rule: a NaN is the max of its window; a window that holds only padding
    (here: the one-pixel row with dilation 2 and padding 1) gives -inf and index -1 and
    passes no gradient back."""
    K = implementation.kernels(pooling.KERNELS)
    x = np.array([[[[1.0, np.nan, 3.0, 2.0]]]], np.float32)
    conf = ((2, 2), (1, 2), (1, 1), (2, 1))
    (dx,) = implementation.on_device(x)
    y, idx = K.max_pool2d_forward(dx, *conf, False)
    ref_y, ref_idx = R.max_pool2d_forward(x, *conf, False)
    assert np.isneginf(ref_y).all() and (ref_idx == -1).all()
    np.testing.assert_array_equal(backend.to_numpy(y), ref_y)
    np.testing.assert_array_equal(backend.to_numpy(idx), ref_idx)
    (gy,) = implementation.on_device(np.ones(ref_y.shape, np.float32))
    assert not backend.to_numpy(K.max_pool2d_backward(gy, idx, x.shape, *conf)).any()
    y, idx = K.max_pool2d_forward(dx, (1, 2), (1, 1), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(backend.to_numpy(idx), [[[[1, 1, 2]]]])
    assert np.isnan(backend.to_numpy(y)[0, 0, 0, :2]).all()
