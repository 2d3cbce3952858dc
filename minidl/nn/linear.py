"""Fully connected layers."""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from .. import functional as F
from . import init
from .module import Module, Parameter


def empty_parameter(shape, dtype=None, device=None) -> Parameter:
    """A parameter of ``shape`` (values to be set by an initialiser)."""
    dtype = backend.as_dtype(dtype) or backend.get_default_dtype()
    return Parameter(backend.to_device(np.zeros(shape, dtype), backend.normalize_device(device)))


def reset_weight_and_bias(weight, bias):
    """PyTorch's default for Linear and Conv: W ~ kaiming_uniform(a=sqrt(5)), which is
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias from the same range."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = init.calculate_fan_in_and_fan_out(weight)
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x W^T + b with W of shape (out_features, in_features)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device=None, dtype=None):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.weight = empty_parameter((out_features, in_features), dtype, device)
        if bias:
            self.bias = empty_parameter((out_features,), dtype, device)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        reset_weight_and_bias(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for a removed classifier)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x
