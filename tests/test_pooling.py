"""Pooling: gradients, the definition, PyTorch, the unpooling round trip, bits, dtypes, errors.

Max-pool inputs are a random permutation of distinct values 0.1 apart, so no window has a
tie and central differences (eps = 1e-6) never move a max: the gradchecks run in float64
with the default tolerances.
"""
import math

import numpy as np
import pytest
from tests.conv_strategies import PoolConfig, pool_configs
from hypothesis import assume, example, given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
import minidl.nn as nn


def distinct(shape, rng):
    """Pairwise distinct values, at least 0.1 apart, in random order (no ties anywhere)."""
    return 0.1 * (rng.permutation(math.prod(shape)).reshape(shape) - math.prod(shape) / 2)


def with_ties(shape, rng):
    """Small integers: most windows hold several equal maxima (the first one must win)."""
    return rng.integers(-2, 3, shape).astype(np.float64)


def leaf(array):
    return minidl.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


# ------------------------------------------------------------------ the definitions, naively
def naive_output_length(n, k, s, p, d, ceil_mode):
    """floor or ceil of (n + 2p - d(k-1) - 1) / s, plus 1; in ceil mode a last window that
    starts beyond the input and the left padding is dropped."""
    span = (n + 2 * p - d * (k - 1) - 1) / s
    out = (math.ceil(span) if ceil_mode else math.floor(span)) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def naive_max_pool2d(x, kernel, stride, padding, dilation, ceil_mode):
    """Every window, pixel by pixel: the largest real pixel and its flat index (the first in
    scan order); a window of padding only gives -inf and -1."""
    n_batch, channels, h, w = x.shape
    oh_n, ow_n = (naive_output_length(*a, ceil_mode) for a in
                  zip((h, w), kernel, stride, padding, dilation))
    y = np.full((n_batch, channels, oh_n, ow_n), -np.inf)
    idx = np.full(y.shape, -1, dtype=np.int64)
    for n in range(n_batch):
        for c in range(channels):
            for oh in range(oh_n):
                for ow in range(ow_n):
                    for i in range(kernel[0]):
                        for j in range(kernel[1]):
                            r = oh * stride[0] - padding[0] + i * dilation[0]
                            q = ow * stride[1] - padding[1] + j * dilation[1]
                            if 0 <= r < h and 0 <= q < w and (idx[n, c, oh, ow] < 0 or
                                                              x[n, c, r, q] > y[n, c, oh, ow]):
                                y[n, c, oh, ow], idx[n, c, oh, ow] = x[n, c, r, q], r * w + q
    return y, idx


def naive_avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad,
                     divisor_override):
    """Every window: the sum of its real pixels over the divisor PyTorch uses (the window
    clipped to the padded input, or to the real input, or divisor_override)."""
    n_batch, channels, h, w = x.shape
    oh_n, ow_n = (naive_output_length(*a, 1, ceil_mode) for a in
                  zip((h, w), kernel, stride, padding))
    y = np.zeros((n_batch, channels, oh_n, ow_n))
    for oh in range(oh_n):
        for ow in range(ow_n):
            r0, q0 = oh * stride[0] - padding[0], ow * stride[1] - padding[1]
            r1, q1 = min(r0 + kernel[0], h + padding[0]), min(q0 + kernel[1], w + padding[1])
            padded_count = (r1 - r0) * (q1 - q0)
            r0, q0, r1, q1 = max(r0, 0), max(q0, 0), min(r1, h), min(q1, w)
            real_count = (r1 - r0) * (q1 - q0)
            divisor = divisor_override or (padded_count if count_include_pad else real_count)
            y[:, :, oh, ow] = x[:, :, r0:r1, q0:q1].sum(axis=(2, 3)) / divisor
    return y


def naive_bin(i, size, out):
    return range(math.floor(i * size / out), math.ceil((i + 1) * size / out))


def naive_adaptive_pool2d(x, out_size, kind):
    """Every bin [floor(i*H/OH), ceil((i+1)*H/OH)) x (the same for columns): its mean, or its
    max and the max's flat index (first in scan order)."""
    n_batch, channels, h, w = x.shape
    y = np.zeros((n_batch, channels, *out_size))
    idx = np.zeros(y.shape, dtype=np.int64)
    for n in range(n_batch):
        for c in range(channels):
            for i in range(out_size[0]):
                for j in range(out_size[1]):
                    cells = [(r, q) for r in naive_bin(i, h, out_size[0])
                             for q in naive_bin(j, w, out_size[1])]
                    values = [x[n, c, r, q] for r, q in cells]
                    if kind == "avg":
                        y[n, c, i, j] = sum(values) / len(values)
                    else:
                        best = int(np.argmax(values))
                        y[n, c, i, j] = values[best]
                        idx[n, c, i, j] = cells[best][0] * w + cells[best][1]
    return y, idx


def naive_max_unpool2d(x, indices, out_size):
    y = np.zeros((*x.shape[:2], out_size[0] * out_size[1]))
    for n, c, r, q in np.ndindex(*x.shape):
        y[n, c, indices[n, c, r, q]] = x[n, c, r, q]
    return y.reshape(*x.shape[:2], *out_size)


# ------------------------------------------------------------------------------- helpers
def max_args(config):
    return config.kernel, config.stride, config.padding, config.dilation, config.ceil_mode


def avg_args(config, count_include_pad, divisor_override):
    return (config.kernel, config.stride, config.padding, config.ceil_mode, count_include_pad,
            divisor_override)


def every_window_sees_the_input(config):
    """False when some window holds padding only (possible with dilation): its max is -inf."""
    for n, k, s, p, d in zip(config.size, config.kernel, config.stride, config.padding,
                             config.dilation):
        out = naive_output_length(n, k, s, p, d, config.ceil_mode)
        for o in range(out):
            if not any(0 <= o * s - p + i * d < n for i in range(k)):
                return False
    return True


@st.composite
def adaptive_cases(draw, max_size=9):
    """(input shape, output size): any sizes, output larger than input included; half the
    draws divide evenly (the fast path)."""
    out_size = tuple(draw(st.integers(1, max_size)) for _ in range(2))
    if draw(st.booleans()):
        size = tuple(o * draw(st.integers(1, max(1, max_size // o))) for o in out_size)
    else:
        size = tuple(draw(st.integers(1, max_size)) for _ in range(2))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *size)
    return shape, out_size


divisors = st.sampled_from([None, 1, 2, 5])

# Ceil mode's corners: the last window [2, 5) overhangs a 4-pixel axis (divides by 2, not 3);
# [5, 8) overhangs 6 pixels + 1 of padding (divides by 2 when padding counts); a window that
# would start at 3 * 2 >= 5 + 1 is dropped.
CEIL_CASES = [PoolConfig(1, 1, (3, 3), (2, 2), (0, 0), (1, 1), True, (4, 4)),
              PoolConfig(1, 2, (3, 3), (2, 2), (1, 1), (1, 1), True, (6, 6)),
              PoolConfig(1, 1, (2, 2), (2, 2), (1, 1), (1, 1), True, (5, 5))]


def ceil_examples(test):
    """Pin the ceil-mode corner cases (with and without counting the padding)."""
    for config in CEIL_CASES:
        for count_include_pad in (True, False):
            test = example(config, count_include_pad, None)(test)
    return test


# --------------------------------------------------------------------------- gradchecks
@given(pool_configs())
def test_max_pool2d_gradcheck(config):
    assume(every_window_sees_the_input(config))
    x = leaf(distinct(config.input_shape, np.random.default_rng(0)))
    assert minidl.gradcheck(lambda t: F.max_pool2d(t, *max_args(config)), [x])


@given(pool_configs(dilation=False), st.booleans(), divisors)
def test_avg_pool2d_gradcheck(config, count_include_pad, divisor_override):
    x = leaf(np.random.default_rng(1).standard_normal(config.input_shape))
    args = avg_args(config, count_include_pad, divisor_override)
    assert minidl.gradcheck(lambda t: F.avg_pool2d(t, *args), [x])


@given(adaptive_cases())
def test_adaptive_avg_pool2d_gradcheck(case):
    shape, out_size = case
    x = leaf(np.random.default_rng(2).standard_normal(shape))
    assert minidl.gradcheck(lambda t: F.adaptive_avg_pool2d(t, out_size), [x])


@given(adaptive_cases())
def test_adaptive_max_pool2d_gradcheck(case):
    shape, out_size = case
    x = leaf(distinct(shape, np.random.default_rng(3)))
    assert minidl.gradcheck(lambda t: F.adaptive_max_pool2d(t, out_size), [x])


@st.composite
def unpool_cases(draw):
    """(input shape, kernel, stride, padding, output size) of an unpooling whose output has
    room for every input pixel at a distinct position."""
    size = tuple(draw(st.integers(1, 4)) for _ in range(2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(2))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(2))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    out = tuple((n - 1) * s - 2 * p + k for n, k, s, p in zip(size, kernel, stride, padding))
    assume(min(out) >= 1 and out[0] * out[1] >= size[0] * size[1])
    return (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *size), kernel, stride, padding, out


@given(unpool_cases())
def test_max_unpool2d_gradcheck(case):
    shape, kernel, stride, padding, out = case
    rng = np.random.default_rng(4)
    planes = [rng.choice(out[0] * out[1], shape[2] * shape[3], replace=False)
              for _ in range(shape[0] * shape[1])]
    indices = minidl.tensor(np.array(planes, dtype=np.int64).reshape(shape))
    x = leaf(rng.standard_normal(shape))
    assert minidl.gradcheck(lambda t: F.max_unpool2d(t, indices, kernel, stride, padding), [x])


# ------------------------------------------------------------------ against the definition
@given(pool_configs())
def test_max_pool2d_matches_definition(config):
    x = with_ties(config.input_shape, np.random.default_rng(5))
    y, idx = F.max_pool2d(minidl.tensor(x), *max_args(config), return_indices=True)
    expected_y, expected_idx = naive_max_pool2d(x, *max_args(config))
    np.testing.assert_array_equal(y.numpy(), expected_y)
    np.testing.assert_array_equal(idx.numpy(), expected_idx)


@ceil_examples
@given(pool_configs(dilation=False), st.booleans(), divisors)
def test_avg_pool2d_matches_definition(config, count_include_pad, divisor_override):
    x = np.random.default_rng(6).standard_normal(config.input_shape)
    args = avg_args(config, count_include_pad, divisor_override)
    y = F.avg_pool2d(minidl.tensor(x), *args)
    np.testing.assert_allclose(y.numpy(), naive_avg_pool2d(x, *args), rtol=1e-12, atol=1e-12)


@given(adaptive_cases(), st.sampled_from(["avg", "max"]))
def test_adaptive_pool2d_matches_definition(case, kind):
    shape, out_size = case
    x = with_ties(shape, np.random.default_rng(7))
    expected_y, expected_idx = naive_adaptive_pool2d(x, out_size, kind)
    if kind == "avg":
        y = F.adaptive_avg_pool2d(minidl.tensor(x), out_size)
        np.testing.assert_allclose(y.numpy(), expected_y, rtol=1e-12, atol=1e-12)
    else:
        y, idx = F.adaptive_max_pool2d(minidl.tensor(x), out_size, return_indices=True)
        np.testing.assert_array_equal(y.numpy(), expected_y)
        np.testing.assert_array_equal(idx.numpy(), expected_idx)


@given(unpool_cases())
def test_max_unpool2d_matches_definition(case):
    shape, kernel, stride, padding, out = case
    rng = np.random.default_rng(8)
    indices = rng.integers(0, out[0] * out[1], shape)  # repeats allowed: the last write wins
    x = rng.standard_normal(shape)
    y = F.max_unpool2d(minidl.tensor(x), minidl.tensor(indices), kernel, stride, padding)
    np.testing.assert_array_equal(y.numpy(), naive_max_unpool2d(x, indices, out))


def test_padding_only_windows_give_minus_inf_and_no_gradient():
    """Row taps -1 and 1 both miss a 1-row input: every window is padding only."""
    x = leaf(np.arange(3.0).reshape(1, 1, 1, 3))
    y, idx = F.max_pool2d(x, 2, 1, padding=1, dilation=2, return_indices=True)
    assert np.all(y.numpy() == -np.inf) and np.all(idx.numpy() == -1)
    y.sum().backward()
    assert np.all(x.grad == 0)


# ------------------------------------------------------------------------ against PyTorch
def both(torch, array):
    return leaf(array), torch.tensor(array, requires_grad=True)


def assert_same_forward_backward(torch, mine, theirs, inputs, rng):
    """Same outputs, and the same input gradients for one random output gradient."""
    np.testing.assert_allclose(mine.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-12)
    grad = rng.standard_normal(mine.shape)
    mine.backward(grad)
    theirs.backward(torch.tensor(grad))
    for m, t in inputs:
        np.testing.assert_allclose(m.grad, t.grad.numpy(), rtol=1e-12, atol=1e-12)


@given(pool_configs())
def test_max_pool2d_matches_torch(torch, config):
    assume(every_window_sees_the_input(config))  # else PyTorch's index is undefined
    rng = np.random.default_rng(9)
    x, tx = both(torch, distinct(config.input_shape, rng))
    kernel, stride, padding, dilation, ceil_mode = max_args(config)
    y, idx = F.max_pool2d(x, kernel, stride, padding, dilation, ceil_mode, True)
    ty, tidx = torch.nn.functional.max_pool2d(tx, kernel, stride, padding, dilation, ceil_mode,
                                              True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    assert_same_forward_backward(torch, y, ty, [(x, tx)], rng)
    tied = with_ties(config.input_shape, rng)  # the first of equal maxima wins in both
    _, idx = F.max_pool2d(minidl.tensor(tied), kernel, stride, padding, dilation, ceil_mode, True)
    _, tidx = torch.nn.functional.max_pool2d(torch.tensor(tied), kernel, stride, padding,
                                             dilation, ceil_mode, True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


@ceil_examples
@given(pool_configs(dilation=False), st.booleans(), divisors)
def test_avg_pool2d_matches_torch(torch, config, count_include_pad, divisor_override):
    rng = np.random.default_rng(10)
    x, tx = both(torch, rng.standard_normal(config.input_shape))
    args = avg_args(config, count_include_pad, divisor_override)
    assert_same_forward_backward(torch, F.avg_pool2d(x, *args),
                                 torch.nn.functional.avg_pool2d(tx, *args), [(x, tx)], rng)


@given(adaptive_cases())
def test_adaptive_pool2d_matches_torch(torch, case):
    shape, out_size = case
    rng = np.random.default_rng(11)
    x, tx = both(torch, rng.standard_normal(shape))
    assert_same_forward_backward(torch, F.adaptive_avg_pool2d(x, out_size),
                                 torch.nn.functional.adaptive_avg_pool2d(tx, out_size),
                                 [(x, tx)], rng)
    x, tx = both(torch, distinct(shape, rng))
    y, idx = F.adaptive_max_pool2d(x, out_size, return_indices=True)
    ty, tidx = torch.nn.functional.adaptive_max_pool2d(tx, out_size, return_indices=True)
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    assert_same_forward_backward(torch, y, ty, [(x, tx)], rng)


@given(pool_configs(dilation=False))
def test_max_unpool2d_matches_torch(torch, config):
    rng = np.random.default_rng(12)
    kernel, stride, padding, _, ceil_mode = max_args(config)
    y, idx = F.max_pool2d(minidl.tensor(distinct(config.input_shape, rng)), kernel, stride,
                          padding, ceil_mode=ceil_mode, return_indices=True)
    x, tx = both(torch, y.numpy())
    size = config.size
    assert_same_forward_backward(
        torch, F.max_unpool2d(x, idx, kernel, stride, padding, size),
        torch.nn.functional.max_unpool2d(tx, torch.tensor(idx.numpy()), kernel, stride, padding,
                                         size), [(x, tx)], rng)


@pytest.mark.parametrize("x", [np.array([[[[-np.inf, -np.inf, 1.0], [np.nan, 2.0, np.nan]]]]),
                               np.full((1, 1, 2, 3), -np.inf)])
def test_nan_and_minus_inf_like_torch(torch, x):
    """A NaN wins its window; a window of -inf points at its first pixel."""
    for mine, theirs in ((F.max_pool2d, torch.nn.functional.max_pool2d),
                         (F.adaptive_max_pool2d, torch.nn.functional.adaptive_max_pool2d)):
        args = (2, 1) if mine is F.max_pool2d else ((1, 2),)
        y, idx = mine(minidl.tensor(x), *args, return_indices=True)
        ty, tidx = theirs(torch.tensor(x), *args, return_indices=True)
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        np.testing.assert_array_equal(idx.numpy(), tidx.numpy())


# ------------------------------------------------------------------------------ invariants
@given(pool_configs(dilation=False))
def test_unpooling_puts_every_max_back_where_it_came_from(config):
    x = distinct(config.input_shape, np.random.default_rng(13))
    kernel, stride, padding, _, ceil_mode = max_args(config)
    y, idx = F.max_pool2d(minidl.tensor(x), kernel, stride, padding, ceil_mode=ceil_mode,
                          return_indices=True)
    back = F.max_unpool2d(y, idx, kernel, stride, padding, output_size=config.size).numpy()
    plane = x.reshape(*x.shape[:2], -1)
    switches = idx.numpy().reshape(*x.shape[:2], -1)
    # the pooled values are the input's values at the switches ...
    np.testing.assert_array_equal(np.take_along_axis(plane, switches, axis=2),
                                  y.numpy().reshape(switches.shape))
    # ... and unpooling puts each one back there, with zeros everywhere else
    winners = np.zeros(plane.shape, dtype=bool)
    np.put_along_axis(winners, switches, True, axis=2)
    np.testing.assert_array_equal(back.reshape(plane.shape), np.where(winners, plane, 0))


OPS = {
    "max_pool2d": lambda t: F.max_pool2d(t, 3, 1, 1),
    "max_pool2d_dilated_ceil": lambda t: F.max_pool2d(t, 3, 2, 1, 2, ceil_mode=True),
    "avg_pool2d": lambda t: F.avg_pool2d(t, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    "adaptive_avg_pool2d": lambda t: F.adaptive_avg_pool2d(t, (5, 3)),
    "adaptive_max_pool2d": lambda t: F.adaptive_max_pool2d(t, (5, 3)),
    "max_unpool2d": lambda t: F.max_unpool2d(*F.max_pool2d(t, 3, 1, 1, return_indices=True),
                                             3, 1, 1),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_backward_twice_gives_identical_bits_and_changes_nothing(name):
    rng = np.random.default_rng(14)
    data = rng.standard_normal((4, 8, 13, 11)).astype(np.float32)
    grad, bits = None, []
    for _ in range(2):
        x = minidl.tensor(data.copy(), requires_grad=True)
        y = OPS[name](x)
        if grad is None:
            grad = rng.standard_normal(y.shape).astype(np.float32)
        kept = grad.copy()
        y.backward(grad)
        np.testing.assert_array_equal(grad, kept)
        np.testing.assert_array_equal(x.numpy(), data)
        bits.append(x.grad.tobytes())
    assert bits[0] == bits[1]


# ------------------------------------------------------------------------------ dtypes
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


def test_unbatched_inputs_match_a_batch_of_one():
    x = np.random.default_rng(17).standard_normal((3, 7, 5))
    calls = [lambda t: F.max_pool2d(t, 3, 2, 1, return_indices=True),
             lambda t: F.avg_pool2d(t, 2, ceil_mode=True),
             lambda t: F.adaptive_avg_pool2d(t, 3),
             lambda t: F.adaptive_max_pool2d(t, (2, 4), return_indices=True)]
    for call in calls:
        single, batch = call(minidl.tensor(x)), call(minidl.tensor(x[None]))
        for s, b in zip(*(o if isinstance(o, tuple) else (o,) for o in (single, batch))):
            np.testing.assert_array_equal(s.numpy(), b.numpy()[0])
    y, idx = F.max_pool2d(minidl.tensor(x), 2, return_indices=True)
    assert F.max_unpool2d(y, idx, 2, output_size=(7, 5)).shape == (3, 7, 5)


# ------------------------------------------------------------------------------ errors
def _x(*shape):
    return minidl.tensor(np.zeros(shape))


ERRORS = [
    (lambda: F.max_pool2d(_x(1, 1, 2, 2), 3, stride=1),
     "input 2x2 with kernel 3, padding 0, stride 1 gives an empty output"),
    (lambda: F.avg_pool2d(_x(1, 1, 5, 2), (2, 3)),
     r"input 5x2 with kernel 2x3, padding 0, stride \(2, 3\) gives an empty output"),
    (lambda: F.max_pool2d(_x(1, 1, 2, 9), 3, 1, 0, (1, 2)), r"dilation \(1, 2\)"),
    (lambda: F.max_pool2d(_x(1, 1, 5, 5), 3, padding=2),
     "padding 2 must be between 0 and half the kernel size 3"),
    (lambda: F.avg_pool2d(_x(1, 1, 5, 5), 2, padding=-1), "padding -1 must be between 0"),
    (lambda: F.max_pool2d(_x(4, 4), 2), (r"expected a 3-D \(C, H, W\) or 4-D \(N, C, H, W\) "
                                         r"input with non-zero C, H and W, got shape \(4, 4\)")),
    (lambda: F.avg_pool2d(_x(1, 1, 0, 4), 1), r"got shape \(1, 1, 0, 4\)"),
    (lambda: F.max_pool2d(_x(1, 1, 4, 4), 2, stride=0), "must be >= 1"),
    (lambda: F.max_pool2d(_x(1, 1, 4, 4), (2, 2.5)), "kernel_size must be an int or a pair"),
    (lambda: F.avg_pool2d(_x(1, 1, 4, 4), 2, divisor_override=0), "must not be zero"),
    (lambda: F.adaptive_avg_pool2d(_x(1, 1, 4, 4), (0, 2)), "output_size must hold positive"),
    (lambda: F.adaptive_max_pool2d(_x(1, 1, 4, 4), (1, 2, 3)), "output_size must be an int"),
    (lambda: F.max_unpool2d(_x(1, 1, 2, 2), minidl.tensor(np.zeros((1, 1, 2, 2), np.int64)),
                            2, output_size=(6, 4)),
     r"output_size \(6, 4\) is invalid: size 0 must be between 2 and 6"),
    (lambda: F.max_unpool2d(_x(1, 1, 2, 2), minidl.tensor(np.full((1, 1, 2, 2), 16)), 2),
     "indices range from 16 to 16, outside the 4x4 output"),
    (lambda: F.max_unpool2d(_x(1, 1, 2, 2), minidl.tensor(np.zeros((1, 1, 2, 1), np.int64)),
                            2), r"indices of shape \(1, 1, 2, 1\) must have the input's shape"),
    (lambda: F.max_unpool2d(_x(1, 1, 2, 2), _x(1, 1, 2, 2), 2), "indices must be integers"),
]


@pytest.mark.parametrize("call, message", ERRORS, ids=[m[:40] for _, m in ERRORS])
def test_bad_configurations_raise_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
