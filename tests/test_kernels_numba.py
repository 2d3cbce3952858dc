"""Numba CPU kernels against the reference kernels, forward and backward, float32 and
float64, over drawn configurations; and repeated backward passes give identical bits."""
import numpy as np
import pytest
from tests.conv_strategies import conv_configs, pool_configs
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
import minidl.nn as nn
from minidl.kernels import FAMILIES

R = type("R", (), {n: staticmethod(getattr(f.reference, n))
                   for f in FAMILIES.values() for n in f.kernel_names})
K = type("K", (), {n: staticmethod(getattr(f.numba, n)) for f in FAMILIES.values() for n in f.kernel_names})

DTYPES = st.sampled_from([np.float32, np.float64])
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def close(a, b, dtype):
    assert a.dtype == b.dtype == dtype
    np.testing.assert_allclose(a, b, **TOLERANCE[dtype])


def twice_identical(fn):
    """Run a backward kernel twice on the same inputs: the bits must not change."""
    first, second = fn(), fn()
    for a, b in zip(first if isinstance(first, tuple) else (first,),
                    second if isinstance(second, tuple) else (second,)):
        if a is not None:
            assert np.array_equal(a, b)


def _conv_arrays(config, dtype, rng):
    x = rng.standard_normal(config.input_shape).astype(dtype)
    w = rng.standard_normal(config.weight_shape).astype(dtype)
    b = rng.standard_normal(config.out_channels).astype(dtype)
    pads = tuple((p, p) for p in config.padding)
    return x, w, b, (config.stride, pads, config.dilation, config.groups)


@given(st.one_of(conv_configs(max_batch=5, max_channels=8, max_size=9, max_kernel=4),
                 conv_configs(max_batch=3, max_channels=8, max_size=9, depthwise=True)), DTYPES)
def test_conv2d_parity(config, dtype):
    rng = np.random.default_rng(0)
    x, w, b, conf = _conv_arrays(config, dtype, rng)
    y = K.conv2d_forward(x, w, b, *conf)
    close(y, R.conv2d_forward(x, w, b, *conf), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    close(K.conv2d_backward_input(gy, w, x.shape, *conf),
          R.conv2d_backward_input(gy, w, x.shape, *conf), dtype)
    close(K.conv2d_backward_weight(x, gy, w.shape, *conf),
          R.conv2d_backward_weight(x, gy, w.shape, *conf), dtype)
    twice_identical(lambda: K.conv2d_backward_input(gy, w, x.shape, *conf))
    twice_identical(lambda: K.conv2d_backward_weight(x, gy, w.shape, *conf))


@pytest.mark.parametrize("pads, dilation", [(((0, 0), (6, 0)), (1, 3)),   # causal conv1d, length 5
                                            (((8, 0), (0, 10)), (4, 5)),
                                            (((0, 8), (8, 0)), (4, 4))])
def test_conv2d_parity_with_one_sided_padding_longer_than_the_input(pads, dilation):
    """Causal padding (d*(k-1) on one side) can exceed the input: every shifted copy must
    clamp its range instead of wrapping around. (The output is as large as the input, the
    case the shifted-copy im2col handles.)"""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, 1 if pads[0] == (0, 0) else 4, 5))
    w = rng.standard_normal((4, 3, 1 if pads[0] == (0, 0) else 3, 3))
    conf = ((1, 1), pads, dilation, 1)
    y = K.conv2d_forward(x, w, None, *conf)
    close(y, R.conv2d_forward(x, w, None, *conf), np.float64)
    gy = rng.standard_normal(y.shape)
    close(K.conv2d_backward_input(gy, w, x.shape, *conf),
          R.conv2d_backward_input(gy, w, x.shape, *conf), np.float64)
    close(K.conv2d_backward_weight(x, gy, w.shape, *conf),
          R.conv2d_backward_weight(x, gy, w.shape, *conf), np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_conv_on_large_planes_parity(dtype):
    """1x1 convolutions over planes of at least POINTWISE_PLANE pixels take the per-sample
    GEMM path, which the drawn (small) configurations never reach."""
    from minidl.kernels.conv.numba_cpu import POINTWISE_PLANE
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 17, POINTWISE_PLANE // 17 + 1)).astype(dtype)
    w = rng.standard_normal((4, 5, 1, 1)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype)
    conf = ((1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    y = K.conv2d_forward(x, w, b, *conf)
    close(y, R.conv2d_forward(x, w, b, *conf), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    close(K.conv2d_backward_input(gy, w, x.shape, *conf),
          R.conv2d_backward_input(gy, w, x.shape, *conf), dtype)
    close(K.conv2d_backward_weight(x, gy, w.shape, *conf),
          R.conv2d_backward_weight(x, gy, w.shape, *conf), dtype)
    twice_identical(lambda: K.conv2d_backward_weight(x, gy, w.shape, *conf))


@given(pool_configs(max_batch=3, max_channels=3, max_size=10), DTYPES)
def test_max_pool_parity(config, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(config.input_shape).astype(dtype)
    conf = (config.kernel, config.stride, config.padding, config.dilation)
    y, idx = K.max_pool2d_forward(x, *conf, config.ceil_mode)
    ref_y, ref_idx = R.max_pool2d_forward(x, *conf, config.ceil_mode)
    assert np.array_equal(y, ref_y) and np.array_equal(idx, ref_idx)
    gy = rng.standard_normal(y.shape).astype(dtype)
    close(K.max_pool2d_backward(gy, idx, x.shape, *conf),
          R.max_pool2d_backward(gy, idx, x.shape, *conf), dtype)
    twice_identical(lambda: K.max_pool2d_backward(gy, idx, x.shape, *conf))


@pytest.mark.parametrize("size", [(4, 4), (5, 7), (2, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_2x2_parity_with_ties_and_nan(size, dtype):
    """The 2x2 stride-2 kernels: odd sizes (a last row or column in no window), ties (the
    first maximum wins) and NaN (it wins, as in PyTorch)."""
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, (2, 3, *size)).astype(dtype)
    x[0, 0, 0, 1] = np.nan
    conf = ((2, 2), (2, 2), (0, 0), (1, 1))
    y, idx = K.max_pool2d_forward(x, *conf, False)
    ref_y, ref_idx = R.max_pool2d_forward(x, *conf, False)
    assert np.array_equal(y, ref_y, equal_nan=True) and np.array_equal(idx, ref_idx)
    gy = rng.standard_normal(y.shape).astype(dtype)
    assert np.array_equal(K.max_pool2d_backward(gy, idx, x.shape, *conf),
                          R.max_pool2d_backward(gy, idx, x.shape, *conf))


@given(pool_configs(max_batch=3, max_channels=3, max_size=10, dilation=False), st.booleans(),
       st.sampled_from([None, 3]), DTYPES)
def test_avg_pool_parity(config, count_include_pad, divisor_override, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(config.input_shape).astype(dtype)
    conf = (config.kernel, config.stride, config.padding)
    y = K.avg_pool2d_forward(x, *conf, config.ceil_mode, count_include_pad, divisor_override)
    close(y, R.avg_pool2d_forward(x, *conf, config.ceil_mode, count_include_pad,
                                  divisor_override), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    args = (gy, x.shape, *conf, count_include_pad, divisor_override)
    close(K.avg_pool2d_backward(*args), R.avg_pool2d_backward(*args), dtype)
    twice_identical(lambda: K.avg_pool2d_backward(*args))


@st.composite
def norm_shapes(draw):
    rank = draw(st.integers(2, 4))
    return tuple(draw(st.integers(1 if i else 2, 5)) for i in range(rank))


@given(norm_shapes(), st.booleans(), st.sampled_from([(True, True, True), (True, False, False),
                                                       (False, True, True)]), DTYPES)
def test_batch_norm_parity(shape, affine, needs, dtype):
    rng = np.random.default_rng(3)
    x = (3 + 2 * rng.standard_normal(shape)).astype(dtype)
    w = rng.standard_normal(shape[1]).astype(dtype) if affine else None
    b = rng.standard_normal(shape[1]).astype(dtype) if affine else None
    y, mean, var = K.batch_norm_forward_train(x, w, b, 1e-5)
    ref = R.batch_norm_forward_train(x, w, b, 1e-5)
    for mine, theirs in zip((y, mean, var), ref):
        close(mine, theirs, dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    needs = needs if affine else (True, False, False)
    for kind in ("train", "eval"):
        args = (gy, x, w, mean, var, 1e-5, needs)
        mine = getattr(K, f"batch_norm_backward_{kind}")(*args)
        theirs = getattr(R, f"batch_norm_backward_{kind}")(*args)
        for a, c in zip(mine, theirs):
            assert (a is None) == (c is None)
            if a is not None:
                close(a, c, dtype)
        twice_identical(lambda: getattr(K, f"batch_norm_backward_{kind}")(*args))
    close(K.batch_norm_forward_eval(x, w, b, mean, var, 1e-5),
          R.batch_norm_forward_eval(x, w, b, mean, var, 1e-5), dtype)


@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 6), st.integers(1, 7), DTYPES)
def test_local_response_norm_parity(n, c, hw, size, dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
    y, scale = K.local_response_norm_forward(x, size, 1e-2, 0.75, 2.0)
    ref_y, ref_scale = R.local_response_norm_forward(x, size, 1e-2, 0.75, 2.0)
    close(y, ref_y, dtype)
    close(scale, ref_scale, dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    args = (gy, x, y, scale, size, 1e-2, 0.75)
    close(K.local_response_norm_backward(*args), R.local_response_norm_backward(*args), dtype)
    twice_identical(lambda: K.local_response_norm_backward(*args))


@given(st.sampled_from([(7,), (3, 5), (2, 3, 4, 5), (1, 1, 1, 1), (40_000,), (3, 7, 40, 50)]),
       st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), st.integers(0, 2 ** 64 - 1), DTYPES)
def test_dropout_draws_the_reference_mask(shape, p, key, dtype):
    """The last two shapes span several of the kernel's parallel blocks."""
    x = np.random.default_rng(5).standard_normal(shape).astype(dtype) + 3
    assert np.array_equal(K.dropout_forward(x, p, key), R.dropout_forward(x, p, key))
    assert np.array_equal(K.dropout_backward(x, p, key), R.dropout_backward(x, p, key))
    if len(shape) >= 3:
        assert np.array_equal(K.dropout2d_forward(x, p, key), R.dropout2d_forward(x, p, key))
        assert np.array_equal(K.dropout2d_backward(x, p, key), R.dropout2d_backward(x, p, key))


def test_selection_api():
    assert "numba" in minidl.kernels.available()
    with minidl.kernels.use("reference"):
        assert minidl.kernels.current() == "reference"
        assert minidl.kernels.conv.KERNELS.for_array(np.zeros(1)) is minidl.kernels.conv.reference
        with minidl.kernels.use("numba"):
            assert minidl.kernels.conv.KERNELS.for_array(np.zeros(1)) is minidl.kernels.conv.numba_cpu
        assert minidl.kernels.current() == "reference"
    with pytest.raises(ValueError, match="unknown kernel choice"):
        minidl.kernels.use("fastest")


def _train_small_cnn(choice, steps=6):
    """A small CNN with every fast op, trained a few steps; returns the loss curve."""
    minidl.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16),
        nn.ReLU(), nn.LocalResponseNorm(3), nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(16 * 4 * 4, 4))
    opt = minidl.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.standard_normal((16, 3, 16, 16)).astype(np.float32))
    y = minidl.tensor(rng.integers(0, 4, 16))
    losses = []
    with minidl.kernels.use(choice):
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return np.array(losses)


def test_training_curve_is_the_same_under_reference_and_numba():
    reference, fast = _train_small_cnn("reference"), _train_small_cnn("numba")
    assert reference[-1] < reference[0]
    np.testing.assert_allclose(fast, reference, rtol=1e-4)
