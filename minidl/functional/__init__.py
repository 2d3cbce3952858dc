"""The differentiable functions neural networks are built from (``import minidl.functional as F``).

Names and signatures follow ``torch.nn.functional``.
"""
from .activation import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .linear import linear
from .loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss

__all__ = [
    "binary_cross_entropy_with_logits", "cross_entropy", "leaky_relu", "linear", "log_softmax",
    "mse_loss", "nll_loss", "relu", "sigmoid", "softmax", "tanh",
]
