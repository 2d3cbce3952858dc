"""Pooling beyond the op-table battery: ceil mode's corners against the definition, padding-only
windows, NaN and -inf as PyTorch treats them, the unpooling round trip, unbatched inputs,
and errors.
"""
from __future__ import annotations

import numpy as np
import pytest
from tests.conv_strategies import PoolConfig, pool_configs
from hypothesis import example, given
from hypothesis import strategies as st
import minidl
from tests.helpers import distinct, leaf
from tests.oracles import naive_avg_pool2d
import minidl.functional as F


def max_args(config):
    return config.kernel, config.stride, config.padding, config.dilation, config.ceil_mode






def avg_args(config, count_include_pad, divisor_override):
    return (config.kernel, config.stride, config.padding, config.ceil_mode, count_include_pad,
            divisor_override)


divisors = st.sampled_from([None, 1, 2, 5])


CEIL_CASES = [PoolConfig(1, 1, (3, 3), (2, 2), (0, 0), (1, 1), True, (4, 4)),
              PoolConfig(1, 2, (3, 3), (2, 2), (1, 1), (1, 1), True, (6, 6)),
              PoolConfig(1, 1, (2, 2), (2, 2), (1, 1), (1, 1), True, (5, 5))]


def ceil_examples(test):
    """Pin the ceil-mode corner cases (with and without counting the padding)."""
    for config in CEIL_CASES:
        for count_include_pad in (True, False):
            test = example(config, count_include_pad, None)(test)
    return test


@ceil_examples
@given(pool_configs(dilation=False), st.booleans(), divisors)
def test_avg_pool2d_matches_definition(config, count_include_pad, divisor_override):
    x = np.random.default_rng(6).standard_normal(config.input_shape)
    args = avg_args(config, count_include_pad, divisor_override)
    y = F.avg_pool2d(minidl.tensor(x), *args)
    np.testing.assert_allclose(y.numpy(), naive_avg_pool2d(x, *args), rtol=1e-12, atol=1e-12)


def test_padding_only_windows_give_minus_inf_and_no_gradient():
    """Row taps -1 and 1 both miss a 1-row input: every window is padding only."""
    x = leaf(np.arange(3.0).reshape(1, 1, 1, 3))
    y, idx = F.max_pool2d(x, 2, 1, padding=1, dilation=2, return_indices=True)
    assert np.all(y.numpy() == -np.inf) and np.all(idx.numpy() == -1)
    y.sum().backward()
    assert np.all(x.grad == 0)


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
