"""Weight initialisers (PyTorch's names and formulas); each fills a tensor in place.

The aim of the scaled initialisers is to keep the variance of activations (forward) or of
gradients (backward) the same from layer to layer:

* Xavier/Glorot: Var(w) = gain^2 * 2 / (fan_in + fan_out) (tanh/sigmoid networks);
* Kaiming/He: Var(w) = gain^2 / fan_(in|out), with gain sqrt(2) for ReLU, because a ReLU
  zeroes half of its inputs and so halves the variance.

A uniform U(-b, b) has variance b^2 / 3, hence the bounds sqrt(3) * std below.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The gain that keeps activations' variance for a given nonlinearity."""
    linear = ("linear", "identity", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
              "conv_transpose2d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}")


def calculate_fan_in_and_fan_out(tensor):
    """fan_in = in_channels * kernel area, fan_out = out_channels * kernel area."""
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, "
                         f"got shape {tensor.shape}")
    receptive = 1
    for n in tensor.shape[2:]:
        receptive *= n
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def _fill(tensor, values):
    tensor.data[...] = backend.to_device(values.astype(tensor.dtype), tensor.device)
    return tensor


def _draw_dtype(tensor):
    """Draw in float32 for float32 tensors (twice as fast for big layers), else float64."""
    return np.float32 if tensor.dtype == np.float32 else np.float64


def uniform_(tensor, a: float = 0.0, b: float = 1.0):
    unit = backend.host_rng().random(tensor.shape, dtype=_draw_dtype(tensor))
    return _fill(tensor, a + (b - a) * unit)


def normal_(tensor, mean: float = 0.0, std: float = 1.0):
    unit = backend.host_rng().standard_normal(tensor.shape, dtype=_draw_dtype(tensor))
    return _fill(tensor, mean + std * unit)


def trunc_normal_(tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0):
    """Normal samples redrawn until they fall inside [a, b] (absolute bounds, as in PyTorch)."""
    rng = backend.host_rng()
    values = rng.normal(mean, std, tensor.shape)
    outside = (values < a) | (values > b)
    while outside.any():
        values[outside] = rng.normal(mean, std, int(outside.sum()))
        outside = (values < a) | (values > b)
    return _fill(tensor, values)


def constant_(tensor, value: float):
    tensor.data[...] = value
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor, gain: float = 1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain: float = 1.0):
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu"):
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu"):
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))
