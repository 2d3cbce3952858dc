"""Resampling layers: ``Upsample`` and ``ChannelShuffle`` (no parameters)."""
from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["ChannelShuffle", "Upsample"]


class Upsample(Module):
    """Resize images by ``F.interpolate`` (modes "nearest" and "bilinear"); give a ``size``
    or a ``scale_factor``, as in PyTorch."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None):
        super().__init__()
        self.size, self.scale_factor = size, scale_factor
        self.mode, self.align_corners = mode, align_corners

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners)

    def extra_repr(self):
        shape = f"size={self.size}" if self.size is not None else \
            f"scale_factor={self.scale_factor}"
        text = f"{shape}, mode={self.mode!r}"
        if self.align_corners is not None:
            text += f", align_corners={self.align_corners}"
        return text


class ChannelShuffle(Module):
    """ShuffleNet's channel shuffle with ``groups`` groups (``F.channel_shuffle``)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        return F.channel_shuffle(x, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"
