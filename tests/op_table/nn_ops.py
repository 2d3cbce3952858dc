"""Op-table entries of ``minidl.functional``'s window, normalisation, dropout and resampling
ops: each draws a valid configuration (tests/conv_strategies.py) and seeded arrays, and
names its naive oracle (tests/oracles.py), its composed definition and its PyTorch call."""
from __future__ import annotations

import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

import minidl
import minidl.functional as F
from minidl import backend
from minidl.functional.conv import conv2d_composed, conv_transpose2d_composed
from minidl.functional.dropout import dropout2d_composed, dropout_composed
from minidl.functional.local import locally_connected2d_composed
from minidl.functional.normalization import batch_norm_composed, local_response_norm_composed
from minidl.functional.pooling import (adaptive_avg_pool2d_composed,
                                       adaptive_max_pool2d_composed, avg_pool2d_composed,
                                       max_pool2d_composed, max_unpool2d_composed)
from minidl.functional.resample import interpolate_composed
from tests import oracles
from tests.conv_strategies import conv_configs, pool_configs
from tests.op_table.entry import SEED, OpEntry

SMALL = dict(max_batch=2, max_channels=4, max_size=5, max_kernel=3)


def _rng(draw):
    return np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))


def _bias(b):
    return b[0] if b else None


def _distinct(shape, rng):
    """Pairwise distinct values 0.1 apart in random order: no window has a tie, so central
    differences never move a max."""
    return 0.1 * (rng.permutation(math.prod(shape)).reshape(shape) - math.prod(shape) / 2)


# ------------------------------------------------------------------------------ convolution
@st.composite
def _conv(draw, transposed=False, **limits):
    config = draw(conv_configs(transposed=transposed, **limits))
    rng = _rng(draw)
    weight = config.transposed_weight_shape if transposed else config.weight_shape
    arrays = (rng.standard_normal(config.input_shape), rng.standard_normal(weight))
    if draw(st.booleans()):
        arrays += (rng.standard_normal(config.out_channels),)
    return arrays, config


def _conv_entry(name, draw, gradcheck="full"):
    return OpEntry(
        name, draw,
        lambda c, x, w, *b: F.conv2d(x, w, _bias(b), c.stride, c.padding, c.dilation, c.groups),
        lambda c, x, w, *b: oracles.naive_conv2d(x, w, _bias(b), c.stride, c.padding,
                                                 c.dilation, c.groups),
        composed=lambda c, x, w, *b: conv2d_composed(x, w, _bias(b), c.stride, c.padding,
                                                     c.dilation, c.groups),
        torch=lambda T, c, x, w, *b: T.nn.functional.conv2d(x, w, _bias(b), c.stride, c.padding,
                                                            c.dilation, c.groups),
        kernels=True, gradcheck=gradcheck)


@st.composite
def _conv1d(draw):
    n, c, o = (draw(st.integers(1, 3)) for _ in range(3))
    length = draw(st.integers(1, 8))
    k, d = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(["causal", "same", 0, 1]))
    stride = 1 if isinstance(padding, str) else draw(st.integers(1, 2))
    assume(isinstance(padding, str) or length + 2 * padding - d * (k - 1) >= 1)
    rng = _rng(draw)
    return (rng.standard_normal((n, c, length)), rng.standard_normal((o, c, k))), \
        (stride, padding, d)


def _torch_conv1d(T, p, x, w):
    stride, padding, dilation = p
    if padding == "causal":
        x, padding = T.nn.functional.pad(x, (dilation * (w.shape[2] - 1), 0)), 0
    return T.nn.functional.conv1d(x, w, None, stride, padding, dilation)


def _conv1d_oracle(p, x, w):
    stride, padding, d = p
    k = w.shape[2]
    if padding == "causal":
        left, right = d * (k - 1), 0
    elif padding == "same":
        left, right = d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2
    else:
        left = right = padding
    xpad = np.pad(x, ((0, 0), (0, 0), (left, right)))[:, :, None]
    return oracles.naive_conv2d(xpad, w[:, :, None], None, (1, stride), (0, 0), (1, d), 1)[:, :, 0]


CONVOLUTION = [
    _conv_entry("conv2d", _conv(**SMALL)),
    _conv_entry("conv2d_depthwise", _conv(depthwise=True, **SMALL)),
    _conv_entry("conv2d_larger", _conv(max_channels=8, max_size=10, max_kernel=5), "fast"),
    OpEntry("conv1d", _conv1d(), lambda p, x, w: F.conv1d(x, w, None, p[0], p[1], p[2]),
            _conv1d_oracle, torch=_torch_conv1d, kernels=True),
    OpEntry("conv_transpose2d", _conv(transposed=True, **SMALL),
            lambda c, x, w, *b: F.conv_transpose2d(x, w, _bias(b), c.stride, c.padding,
                                                   c.output_padding, c.groups, c.dilation),
            lambda c, x, w, *b: oracles.naive_conv_transpose2d(
                x, w, _bias(b), c.stride, c.padding, c.output_padding, c.dilation, c.groups,
                c.transposed_output_size()),
            composed=lambda c, x, w, *b: conv_transpose2d_composed(
                x, w, _bias(b), c.stride, c.padding, c.output_padding, c.groups, c.dilation),
            torch=lambda T, c, x, w, *b: T.nn.functional.conv_transpose2d(
                x, w, _bias(b), c.stride, c.padding, c.output_padding, c.groups, c.dilation),
            kernels=True),
]


# ------------------------------------------------------------------------------ pooling
def _every_window_sees_the_input(c):
    """False when some window holds padding only (possible with dilation): its max is -inf."""
    for n, k, s, p, d in zip(c.size, c.kernel, c.stride, c.padding, c.dilation):
        for o in range(oracles.naive_output_length(n, k, s, p, d, c.ceil_mode)):
            if not any(0 <= o * s - p + i * d < n for i in range(k)):
                return False
    return True


@st.composite
def _max_pool(draw):
    config = draw(pool_configs())
    assume(_every_window_sees_the_input(config))
    return (_distinct(config.input_shape, _rng(draw)),), config


@st.composite
def _avg_pool(draw):
    config = draw(pool_configs(dilation=False))
    options = (draw(st.booleans()), draw(st.sampled_from([None, 1, 2, 5])))
    return (_rng(draw).standard_normal(config.input_shape),), (config, *options)


def _avg_args(p):
    c, count_include_pad, divisor_override = p
    return c.kernel, c.stride, c.padding, c.ceil_mode, count_include_pad, divisor_override


@st.composite
def _adaptive(draw, distinct=False, max_size=9):
    """Any input and output sizes (larger outputs too); half the draws divide evenly."""
    out_size = tuple(draw(st.integers(1, max_size)) for _ in range(2))
    if draw(st.booleans()):
        size = tuple(o * draw(st.integers(1, max(1, max_size // o))) for o in out_size)
    else:
        size = tuple(draw(st.integers(1, max_size)) for _ in range(2))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *size)
    rng = _rng(draw)
    return ((_distinct(shape, rng) if distinct else rng.standard_normal(shape)),), out_size


@st.composite
def _unpool(draw):
    """Non-overlapping windows (stride >= kernel), so every switch names its own position."""
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(2))
    stride = tuple(k + draw(st.integers(0, 1)) for k in kernel)
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(draw(st.integers(1, 4)) for _ in range(2))
    out = tuple((n - 1) * s - 2 * p + k for n, k, s, p in zip(size, kernel, stride, padding))
    assume(min(out) >= 1 and out[0] * out[1] >= size[0] * size[1])
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *size)
    rng = _rng(draw)
    planes = [rng.choice(out[0] * out[1], size[0] * size[1], replace=False)
              for _ in range(shape[0] * shape[1])]
    indices = np.array(planes, dtype=np.int64).reshape(shape)
    return (rng.standard_normal(shape),), (indices, kernel, stride, padding, out)


def _torch_unpool(T, p, x):
    indices, kernel, stride, padding, out = p
    return T.nn.functional.max_unpool2d(x, T.from_numpy(indices), kernel, stride, padding, out)


def _max_args(c):
    return c.kernel, c.stride, c.padding, c.dilation, c.ceil_mode


POOLING = [
    OpEntry("max_pool2d", _max_pool(), lambda c, x: F.max_pool2d(x, *_max_args(c)),
            lambda c, x: oracles.naive_max_pool2d(x, *_max_args(c))[0], exact=True,
            composed=lambda c, x: max_pool2d_composed(x, *_max_args(c)),
            torch=lambda T, c, x: T.nn.functional.max_pool2d(x, *_max_args(c)), kernels=True),
    OpEntry("avg_pool2d", _avg_pool(), lambda p, x: F.avg_pool2d(x, *_avg_args(p)),
            lambda p, x: oracles.naive_avg_pool2d(x, *_avg_args(p)),
            composed=lambda p, x: avg_pool2d_composed(x, *_avg_args(p)),
            torch=lambda T, p, x: T.nn.functional.avg_pool2d(x, *_avg_args(p)), kernels=True),
    OpEntry("adaptive_avg_pool2d", _adaptive(), lambda o, x: F.adaptive_avg_pool2d(x, o),
            lambda o, x: oracles.naive_adaptive_pool2d(x, o, "avg")[0],
            composed=lambda o, x: adaptive_avg_pool2d_composed(x, o),
            torch=lambda T, o, x: T.nn.functional.adaptive_avg_pool2d(x, o), kernels=True),
    OpEntry("adaptive_max_pool2d", _adaptive(distinct=True),
            lambda o, x: F.adaptive_max_pool2d(x, o),
            lambda o, x: oracles.naive_adaptive_pool2d(x, o, "max")[0], exact=True,
            composed=lambda o, x: adaptive_max_pool2d_composed(x, o),
            torch=lambda T, o, x: T.nn.functional.adaptive_max_pool2d(x, o), kernels=True),
    OpEntry("max_unpool2d", _unpool(), lambda p, x: F.max_unpool2d(x, *p[:4], output_size=p[4]),
            lambda p, x: oracles.naive_max_unpool2d(x, p[0], p[4]), exact=True,
            composed=lambda p, x: max_unpool2d_composed(x, *p[:4], output_size=p[4]),
            torch=_torch_unpool, kernels=True),
]


# ------------------------------------------------------------------------------ normalisation
@st.composite
def _batch_norm(draw, training):
    """(x, weight, bias) or (x,); the running statistics as parameters; rank 2 to 4."""
    rank = draw(st.sampled_from([2, 3, 4]))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    shape += tuple(draw(st.integers(1, 3)) for _ in range(rank - 2))
    assume(math.prod(shape) // shape[1] >= 2 or not training)
    rng = _rng(draw)
    x = rng.standard_normal(shape)
    # Keep the batch variance away from 0, where batch norm is ill-conditioned.
    assume(not training or x.var(axis=(0,) + tuple(range(2, rank))).min() > 0.05)
    arrays = (x,)
    if draw(st.booleans()):
        arrays += (rng.uniform(0.5, 2.0, shape[1]) * rng.choice([-1, 1], shape[1]),
                   rng.standard_normal(shape[1]))
    running = (rng.standard_normal(shape[1]), rng.uniform(0.5, 2.0, shape[1]))
    return arrays, (training, running)


def _batch_norm_fn(p, x, *affine, function=F.batch_norm):
    training, (mean, var) = p
    return function(x, minidl.tensor(mean.copy()), minidl.tensor(var.copy()), *affine,
                    training=training)


def _batch_norm_oracle(p, x, *affine):
    training, running = p
    weight, bias = affine if affine else (None, None)
    return oracles.naive_batch_norm(x, weight, bias, 1e-5, None if training else running)


def _torch_batch_norm(T, p, x, *affine):
    training, (mean, var) = p
    return T.nn.functional.batch_norm(x, T.tensor(mean), T.tensor(var), *affine,
                                      training=training)


@st.composite
def _lrn(draw):
    rank = draw(st.sampled_from([3, 4]))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 6)))
    shape += tuple(draw(st.integers(1, 3)) for _ in range(rank - 2))
    params = (draw(st.integers(1, 7)), draw(st.sampled_from([1e-4, 0.3, 2.0])),
              draw(st.sampled_from([0.5, 0.75, 2.0])), draw(st.sampled_from([0.5, 1.0, 2.0])))
    return (_rng(draw).standard_normal(shape) * 1.5,), params


NORMALIZATION = [
    OpEntry(f"batch_norm_{mode}", _batch_norm(mode == "train"), _batch_norm_fn,
            _batch_norm_oracle,
            composed=lambda p, x, *a: _batch_norm_fn(p, x, *a, function=batch_norm_composed),
            torch=_torch_batch_norm, kernels=True)
    for mode in ("train", "eval")
] + [
    OpEntry("local_response_norm", _lrn(), lambda p, x: F.local_response_norm(x, *p),
            lambda p, x: oracles.naive_local_response_norm(x, *p),
            composed=lambda p, x: local_response_norm_composed(x, *p),
            torch=lambda T, p, x: T.nn.functional.local_response_norm(x, *p), kernels=True),
]


# ------------------------------------------------------------------------------ dropout
@st.composite
def _dropout(draw, channels=False):
    shape = tuple(draw(st.integers(1, 4)) for _ in range(4 if channels else draw(
        st.integers(1, 4))))
    p = draw(st.sampled_from([0.0, 0.2, 0.5, 0.9, 1.0]))
    return (_rng(draw).standard_normal(shape),), p


def _spec_mask(shape, p):
    """The mask spec with Python ints, for the key the first call after manual_seed(SEED)
    takes: element i is kept iff its 24-bit draw is >= round(p 2^24)."""
    minidl.manual_seed(SEED)
    key = backend.next_random_stream()
    threshold = round(p * 2 ** 24)
    draws = [backend.mix64((key + (i + 1) * 0x9E3779B97F4A7C15) % 2 ** 64) >> 40
             for i in range(math.prod(shape))]
    return np.array([d >= threshold for d in draws]).reshape(shape)


def _dropout_oracle(p, x, channels=False):
    shape = x.shape[:2] if channels else x.shape
    mask = _spec_mask(shape, p).reshape(shape + (1,) * (x.ndim - len(shape)))
    return x * mask * (0.0 if p == 1 else 1 / (1 - p))


DROPOUT = [
    OpEntry("dropout", _dropout(), lambda p, x: F.dropout(x, p), _dropout_oracle,
            composed=lambda p, x: dropout_composed(x, p), kernels=True),
    OpEntry("dropout2d", _dropout(channels=True), lambda p, x: F.dropout2d(x, p),
            lambda p, x: _dropout_oracle(p, x, channels=True),
            composed=lambda p, x: dropout2d_composed(x, p), kernels=True),
]


# ------------------------------------------------------------------------------ resampling
MODES = [("nearest", None), ("bilinear", False), ("bilinear", True)]
FACTORS = [0.5, 0.6, 0.75, 1.0, 1.1, 1.3, 1.5, 2.0, 2.1, 2.5, 3.0, 1 / 3]


@st.composite
def _resize(draw, max_size=5):
    """Up, down and non-integer factors, or a target size."""
    mode, align_corners = draw(st.sampled_from(MODES))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             draw(st.integers(1, max_size)), draw(st.integers(1, max_size)))
    size, scale = None, (draw(st.sampled_from(FACTORS)), draw(st.sampled_from(FACTORS)))
    out = tuple(int(n * s) for n, s in zip(shape[2:], scale))
    if draw(st.booleans()) or min(out) < 1:
        size = (draw(st.integers(1, 2 * max_size)), draw(st.integers(1, 2 * max_size)))
        out, scale = size, None
    return (_rng(draw).standard_normal(shape),), (mode, align_corners, size, scale, out)


def _resize_kwargs(p):
    mode, align_corners, size, scale, _ = p
    return dict(size=size, scale_factor=scale, mode=mode, align_corners=align_corners)


@st.composite
def _shuffle(draw):
    groups, per_group = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    spatial = tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    shape = (draw(st.integers(1, 2)), groups * per_group, *spatial)
    return (_rng(draw).standard_normal(shape),), groups


RESAMPLING = [
    OpEntry("interpolate", _resize(), lambda p, x: F.interpolate(x, **_resize_kwargs(p)),
            lambda p, x: oracles.naive_interpolate(x, p[4], p[0], p[1], p[3] or (None, None)),
            composed=lambda p, x: interpolate_composed(x, **_resize_kwargs(p)),
            torch=lambda T, p, x: T.nn.functional.interpolate(x, **_resize_kwargs(p))),
    OpEntry("channel_shuffle", _shuffle(), lambda g, x: F.channel_shuffle(x, g),
            lambda g, x: oracles.naive_channel_shuffle(x, g), exact=True,
            torch=lambda T, g, x: T.nn.functional.channel_shuffle(x, g)),
]


# ------------------------------------------------------------------------------ unshared
@st.composite
def _unshared(draw, tiled=False):
    """A conv configuration and a weight per output position (locally connected) or per
    cell of a tile grid smaller or larger than the output (tiled)."""
    config = draw(conv_configs(max_channels=3, max_size=6, max_kernel=3))
    grid = (draw(st.integers(1, 3)), draw(st.integers(1, 3))) if tiled else config.output_size()
    rng = _rng(draw)
    arrays = (rng.standard_normal(config.input_shape),
              rng.standard_normal((*grid, config.out_channels, config.in_channels,
                                   *config.kernel)),
              rng.standard_normal((config.out_channels, *grid)))
    return arrays, config


def _unshared_oracle(c, x, w, b, tiled=False):
    t_h, t_w = w.shape[:2]
    return oracles.naive_unshared(x, lambda oh, ow: w[oh % t_h, ow % t_w],
                                  lambda oh, ow: b[:, oh % t_h, ow % t_w], c.output_size(),
                                  c.stride, c.padding, c.dilation)


UNSHARED = [
    OpEntry("locally_connected2d", _unshared(),
            lambda c, x, w, b: F.locally_connected2d(x, w, b, c.stride, c.padding, c.dilation),
            _unshared_oracle,
            composed=lambda c, x, w, b: locally_connected2d_composed(x, w, b, c.stride,
                                                                     c.padding, c.dilation)),
    OpEntry("tiled_conv2d", _unshared(tiled=True),
            lambda c, x, w, b: F.tiled_conv2d(x, w, b, c.stride, c.padding, c.dilation),
            _unshared_oracle),
]

NN_OPS = CONVOLUTION + POOLING + NORMALIZATION + DROPOUT + RESAMPLING + UNSHARED
