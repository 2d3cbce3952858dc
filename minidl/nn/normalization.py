"""Normalisation layers: hold parameters and running statistics, call ``minidl.functional``.

Names follow PyTorch (``weight``, ``bias``, ``running_mean``, ``running_var``,
``num_batches_tracked``), so torchvision state dicts load.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .. import functional as F
from . import init
from .linear import empty_parameter
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "LocalResponseNorm"]


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d; subclasses say which input ranks they accept.

    In training the batch statistics normalise and the running statistics are updated
    (with weight ``momentum`` on the new batch; ``momentum=None`` gives the cumulative
    average over the ``num_batches_tracked`` batches seen). In evaluation the running
    statistics normalise; without them (``track_running_stats=False``) the batch ones do.
    """

    input_ranks = ()
    input_layouts = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = empty_parameter((num_features,), dtype, device)
            self.bias = empty_parameter((num_features,), dtype, device)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            float_dtype = backend.as_dtype(dtype) or backend.get_default_dtype()
            device = backend.normalize_device(device)
            self.register_buffer("running_mean",
                                 backend.to_device(np.zeros(num_features, float_dtype), device))
            self.register_buffer("running_var",
                                 backend.to_device(np.ones(num_features, float_dtype), device))
            self.register_buffer("num_batches_tracked",
                                 backend.to_device(np.array(0, np.int64), device))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self):
        """running_mean = 0, running_var = 1, no batches seen."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self):
        """weight = 1, bias = 0 (the identity map), and fresh running statistics."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def _check_input(self, x):
        name = type(self).__name__
        if x.ndim not in self.input_ranks:
            raise ValueError(f"{name}: expected a {self.input_layouts} input, got a {x.ndim}-D "
                             f"input of shape {tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}({self.num_features}): the input of shape "
                             f"{tuple(x.shape)} has {x.shape[1]} channels (axis 1)")

    def _count_batch(self):
        """Count one more training batch; return its weight in the running statistics."""
        count = self.num_batches_tracked
        count.data = count.data + 1
        return 1.0 / int(count.data) if self.momentum is None else self.momentum

    def forward(self, x):
        self._check_input(x)
        momentum = self._count_batch() if self.training and self.track_running_stats else 0.0
        batch_statistics = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=batch_statistics, momentum=momentum, eps=self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) features or (N, C, L) sequences, per channel C."""

    input_ranks = (2, 3)
    input_layouts = "2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) feature maps, per channel C (statistics over N, H, W)."""

    input_ranks = (4,)
    input_layouts = "4-D (N, C, H, W)"


class LocalResponseNorm(Module):
    """Local response normalisation across ``size`` neighbouring channels (AlexNet)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
