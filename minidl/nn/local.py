"""Convolution layers without full weight sharing: ``LocallyConnected2d`` (a kernel per
output position) and ``TiledConv2d`` (a t_h x t_w grid of kernels rotated across positions).
See ``minidl.functional.local`` for the weight layouts."""
from __future__ import annotations

import math

from .. import functional as F
from ..geometry import pair
from . import init
from .linear import empty_parameter
from .module import Module

__all__ = ["LocallyConnected2d", "TiledConv2d"]


class _UnsharedConv(Module):
    """Shared set-up: weight (grid_h, grid_w, out, in, kh, kw), bias (out, grid_h, grid_w)."""

    def __init__(self, in_channels, out_channels, kernel_size, grid, stride, padding, dilation,
                 bias, device, dtype):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = pair(kernel_size), pair(stride)
        self.padding = padding if isinstance(padding, str) else pair(padding)
        self.dilation = pair(dilation)
        self.weight = empty_parameter((*grid, out_channels, in_channels, *self.kernel_size),
                                      dtype, device)
        if bias:
            self.bias = empty_parameter((out_channels, *grid), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        """PyTorch's conv default, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, with
        fan_in = in_channels * kh * kw: every output still sums that many weighted inputs.
        (``init.kaiming_uniform_`` would read the fan-in from the wrong axes of this layout.)"""
        bound = 1 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding not in (0, (0, 0)):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.bias is None:
            text += ", bias=False"
        return text


class LocallyConnected2d(_UnsharedConv):
    """Unshared convolution: its own kernel at each output position, so it must know the
    input size (``input_size`` = (H, W)) to size its weight (OH, OW, out, in, kh, kw)."""

    def __init__(self, in_channels, out_channels, kernel_size, input_size, stride=1, padding=0,
                 dilation=1, bias=True, device=None, dtype=None):
        grid = F.local_output_size(input_size, kernel_size, stride, padding, dilation)
        super().__init__(in_channels, out_channels, kernel_size, grid, stride, padding,
                         dilation, bias, device, dtype)
        self.input_size = pair(input_size)

    def forward(self, x):
        return F.locally_connected2d(x, self.weight, self.bias, self.stride, self.padding,
                                     self.dilation)

    def extra_repr(self):
        return super().extra_repr() + f", input_size={self.input_size}"


class TiledConv2d(_UnsharedConv):
    """Tiled convolution: ``tile_size`` = (t_h, t_w) kernels, output (oh, ow) using
    kernel [oh % t_h, ow % t_w]; works on any input size."""

    def __init__(self, in_channels, out_channels, kernel_size, tile_size, stride=1, padding=0,
                 dilation=1, bias=True, device=None, dtype=None):
        if min(pair(tile_size)) < 1:
            raise ValueError(f"TiledConv2d: tile_size must be >= 1, got {tile_size}")
        super().__init__(in_channels, out_channels, kernel_size, pair(tile_size), stride,
                         padding, dilation, bias, device, dtype)
        self.tile_size = pair(tile_size)

    def forward(self, x):
        return F.tiled_conv2d(x, self.weight, self.bias, self.stride, self.padding,
                              self.dilation)

    def extra_repr(self):
        return super().extra_repr() + f", tile_size={self.tile_size}"
