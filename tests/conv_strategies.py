"""Hypothesis strategies that draw only *valid* configurations of convolution-like ops.

Every draw gives a non-empty output, channels divisible by groups, and (for transposed
convolutions) output_padding smaller than stride or dilation, across the whole space:
batch, channels, groups (incl. depthwise and channel multipliers), kernel, stride,
padding, dilation, output_padding and non-square inputs.
"""
from __future__ import annotations

from dataclasses import dataclass

from hypothesis import assume
from hypothesis import strategies as st


@dataclass(frozen=True)
class ConvConfig:
    batch: int
    in_channels: int
    out_channels: int
    groups: int
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    output_padding: tuple
    size: tuple          # input (H, W)

    @property
    def input_shape(self):
        return (self.batch, self.in_channels, *self.size)

    @property
    def weight_shape(self):
        return (self.out_channels, self.in_channels // self.groups, *self.kernel)

    @property
    def transposed_weight_shape(self):
        return (self.in_channels, self.out_channels // self.groups, *self.kernel)

    def output_size(self):
        return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in
                     zip(self.size, self.kernel, self.stride, self.padding, self.dilation))

    def transposed_output_size(self):
        return tuple((n - 1) * s - 2 * p + d * (k - 1) + op + 1 for n, k, s, p, d, op in
                     zip(self.size, self.kernel, self.stride, self.padding, self.dilation,
                         self.output_padding))


def _pair(draw, elements):
    first = draw(elements)
    square = draw(st.booleans())
    return (first, first) if square else (first, draw(elements))


@st.composite
def conv_configs(draw, max_batch=2, max_channels=6, max_size=8, max_kernel=4,
                 transposed=False, depthwise=None):
    """A valid conv2d (or, with ``transposed``, conv_transpose2d) configuration.

    ``depthwise=True`` forces groups == in_channels (MobileNet), with a channel multiplier.
    """
    groups = draw(st.integers(1, 3))
    if depthwise:
        channels_per_group = 1
        groups = draw(st.integers(1, max_channels))
    else:
        channels_per_group = draw(st.integers(1, max(1, max_channels // groups)))
    in_channels = groups * channels_per_group
    out_channels = groups * draw(st.integers(1, max(1, max_channels // groups)))
    kernel = _pair(draw, st.integers(1, max_kernel))
    stride = _pair(draw, st.integers(1, 3))
    dilation = _pair(draw, st.integers(1, 2))
    # Up to "full" padding d*(k-1) + 1 (causal convolutions pad that much on one side, often
    # more than the input is long); transposed convolutions crop instead, so less.
    padding = tuple(draw(st.integers(0, (d * (k - 1)) // 2 + 1 if transposed else d * (k - 1) + 1))
                    for k, d in zip(kernel, dilation))
    size = tuple(draw(st.integers(1, max_size)) for _ in range(2))
    output_padding = (0, 0)
    if transposed:
        output_padding = tuple(draw(st.integers(0, max(s, d) - 1))
                               for s, d in zip(stride, dilation))
    config = ConvConfig(draw(st.integers(1, max_batch)), in_channels, out_channels, groups,
                        kernel, stride, padding, dilation, output_padding, size)
    if transposed:
        assume(min(config.transposed_output_size()) >= 1)
    else:
        assume(min(config.output_size()) >= 1)
    return config


@dataclass(frozen=True)
class PoolConfig:
    batch: int
    channels: int
    kernel: tuple
    stride: tuple
    padding: tuple
    dilation: tuple
    ceil_mode: bool
    size: tuple

    @property
    def input_shape(self):
        return (self.batch, self.channels, *self.size)


@st.composite
def pool_configs(draw, max_batch=2, max_channels=3, max_size=9, max_kernel=4, dilation=True):
    """A valid pooling configuration in PyTorch's rules: padding <= kernel // 2 and a
    non-empty output (in ceil mode the last window must start inside the padded input)."""
    kernel = _pair(draw, st.integers(1, max_kernel))
    stride = _pair(draw, st.integers(1, 3))
    dil = _pair(draw, st.integers(1, 2)) if dilation else (1, 1)
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(draw(st.integers(1, max_size)) for _ in range(2))
    ceil_mode = draw(st.booleans())
    for n, k, p, d in zip(size, kernel, padding, dil):
        assume(n + 2 * p - d * (k - 1) - 1 >= 0)
    return PoolConfig(draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)),
                      kernel, stride, padding, dil, ceil_mode, size)
