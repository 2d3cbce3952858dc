"""Dropout layers: active in training mode, the identity after ``eval()``."""
from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout2d"]


class _DropoutNd(Module):
    """Holds the drop probability ``p``. ``inplace`` is accepted for PyTorch compatibility;
    minidl never works in place."""

    def __init__(self, p=0.5, inplace=False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: dropout probability has to be between 0 "
                             f"and 1, but got {p}")
        self.p = p

    def extra_repr(self):
        return f"p={self.p}"


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` in training, scaling the rest by 1/(1-p)."""

    def forward(self, x):
        return F.dropout(x, self.p, self.training)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) with probability ``p`` in training."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training)
