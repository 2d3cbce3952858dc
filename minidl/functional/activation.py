"""Activation functions (the Functions live in ``minidl.autograd.ops``)."""
from __future__ import annotations

from ..autograd import ops
from ..autograd.functions import as_tensor


def relu(input):
    """max(x, 0); its backward follows ``minidl.backprop_rule`` (default, guided, deconvnet)."""
    return ops.ReLUFunction.apply(as_tensor(input))


def leaky_relu(input, negative_slope: float = 0.01):
    return ops.LeakyReLUFunction.apply(as_tensor(input), negative_slope)


def sigmoid(input):
    return ops.SigmoidFunction.apply(as_tensor(input))


def tanh(input):
    return ops.TanhFunction.apply(as_tensor(input))


def softmax(input, dim: int = -1):
    return ops.SoftmaxFunction.apply(as_tensor(input), dim)


def log_softmax(input, dim: int = -1):
    return ops.LogSoftmaxFunction.apply(as_tensor(input), dim)


def relu6(input):
    """y = min(max(x, 0), 6) (MobileNet's activation, kept bounded for low-precision inference).

    Composed as ``relu(x).clip(max=6)``, so dy/dx = 1 for 0 < x < 6 and 0 elsewhere: the ReLU
    passes the gradient where x > 0 (following ``minidl.backprop_rule``) and the clip where
    the ReLU's output is <= 6.
    """
    return relu(input).clip(max=6.0)


def silu(input):
    """y = x * sigmoid(x) (SiLU, also called Swish; EfficientNet's activation).

    Composed from a product and a sigmoid, so the chain rule gives
    dy/dx = s + x s (1 - s) = s (1 + x (1 - s)) with s = sigmoid(x).
    """
    input = as_tensor(input)
    return input * sigmoid(input)


def softmax_composed(input, dim: int = -1):
    """softmax composed of differentiable ops: e = exp(x - m) / sum e, where the shift m (the
    max, detached: softmax does not change when a constant is subtracted) keeps exp finite."""
    x = as_tensor(input)
    e = (x - x.max(axis=dim, keepdims=True).detach()).exp()
    return e / e.sum(axis=dim, keepdims=True)


def log_softmax_composed(input, dim: int = -1):
    """log_softmax composed of differentiable ops: (x - m) - log sum exp(x - m)."""
    x = as_tensor(input)
    shifted = x - x.max(axis=dim, keepdims=True).detach()
    return shifted - shifted.exp().sum(axis=dim, keepdims=True).log()
