"""Activation functions (the Functions live in ``minidl.autograd.ops``)."""
from __future__ import annotations

from ..autograd import ops
from ..autograd.functions import _t


def relu(input):
    """max(x, 0); its backward follows ``minidl.backprop_rule`` (default, guided, deconvnet)."""
    return ops.ReLU.apply(_t(input))


def leaky_relu(input, negative_slope: float = 0.01):
    return ops.LeakyReLU.apply(_t(input), negative_slope)


def sigmoid(input):
    return ops.Sigmoid.apply(_t(input))


def tanh(input):
    return ops.Tanh.apply(_t(input))


def softmax(input, dim: int = -1):
    return ops.Softmax.apply(_t(input), dim)


def log_softmax(input, dim: int = -1):
    return ops.LogSoftmax.apply(_t(input), dim)
