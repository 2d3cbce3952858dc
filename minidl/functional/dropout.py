"""Dropout (Srivastava et al.): in training each unit is zeroed with probability p and the
survivors are scaled by 1 / (1 - p), so the expected output equals the input and
evaluation needs no change: there dropout is the identity.

Masks come from a counter-based hash (see ``minidl.kernels.reference.dropout``): each call
takes one key from ``backend.next_random_stream()``, so ``minidl.manual_seed`` fixes every
mask, and the backward pass regenerates the mask from the key instead of storing it.
"""
from __future__ import annotations

from .. import backend, kernels
from ..autograd import Function
from ..autograd.functions import _t

__all__ = ["dropout", "dropout2d"]


class Dropout(Function):
    """y = x * m / (1 - p) with a fixed 0/1 mask m: linear in x with a diagonal Jacobian, so
    dL/dx = dL/dy * m / (1 - p), the same mask applied to the gradient.

    ``kind`` is "dropout" (one mask entry per element) or "dropout2d" (one per channel).
    """

    @staticmethod
    def forward(ctx, x, p, key, kind):
        ctx.conf = p, key, kind
        return kernels.get(kind + "_forward", x)(x, p, key)

    @staticmethod
    def backward(ctx, grad_y):
        p, key, kind = ctx.conf
        return kernels.get(kind + "_backward", grad_y)(grad_y, p, key), None, None, None


def _check_p(name, p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) when
    ``training``; otherwise return ``input`` itself."""
    _check_p("dropout", p)
    if not training:
        return input
    return Dropout.apply(_t(input), p, backend.next_random_stream(), "dropout")


def dropout2d(input, p=0.5, training=True):
    """Channel dropout: zero whole feature maps of (N, C, H, W) with probability ``p``.

    Neighbouring pixels are strongly correlated, so dropping single pixels barely removes
    information; dropping a channel does. A 3-D input is taken as (N, C, L), as PyTorch
    currently does.
    """
    _check_p("dropout2d", p)
    if input.ndim not in (3, 4):
        raise ValueError(f"dropout2d: expected a 4-D input (N, C, H, W) or a 3-D input "
                         f"(N, C, L), got shape {input.shape}")
    if not training:
        return input
    return Dropout.apply(_t(input), p, backend.next_random_stream(), "dropout2d")
