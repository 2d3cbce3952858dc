"""Dropout (Srivastava et al.): in training each unit is zeroed with probability p and the
survivors are scaled by 1 / (1 - p), so the expected output equals the input and
evaluation needs no change: there dropout is the identity.

Masks come from a counter-based hash (see ``minidl.kernels.dropout.reference``): each call
takes one key from ``backend.next_random_stream()``, so ``minidl.manual_seed`` fixes every
mask, and the backward pass regenerates the mask from the key instead of storing it.
"""
from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..autograd.functions import as_tensor, tensor
from ..kernels.dropout import KERNELS as DROPOUT
from ..kernels.dropout.reference import keep_mask

__all__ = ["dropout", "dropout2d"]


class DropoutFunction(Function):
    """y = x * m / (1 - p) with a fixed 0/1 mask m: linear in x with a diagonal Jacobian, so
    dL/dx = dL/dy * m / (1 - p), the same mask applied to the gradient.

    The mask is not stored: the backward regenerates it from the call's ``key``.
    """

    @staticmethod
    def forward(ctx, x, p, key):
        ctx.p, ctx.key = p, key
        return DROPOUT.for_array(x).dropout_forward(x, p, key)

    @staticmethod
    def backward(ctx, grad_y):
        grad_x = DROPOUT.for_array(grad_y).dropout_backward(grad_y, ctx.p, ctx.key)
        return grad_x, None, None


class Dropout2dFunction(Function):
    """Channel dropout: y = x * m / (1 - p) with one mask entry per (sample, channel), so
    dL/dx = dL/dy * m / (1 - p) with the same mask."""

    @staticmethod
    def forward(ctx, x, p, key):
        ctx.p, ctx.key = p, key
        return DROPOUT.for_array(x).dropout2d_forward(x, p, key)

    @staticmethod
    def backward(ctx, grad_y):
        grad_x = DROPOUT.for_array(grad_y).dropout2d_backward(grad_y, ctx.p, ctx.key)
        return grad_x, None, None


def _check_p(name, p):
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")


def dropout(input, p=0.5, training=True):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) when
    ``training``; otherwise return ``input`` itself."""
    _check_p("dropout", p)
    if not training:
        return input
    return DropoutFunction.apply(as_tensor(input), p, backend.next_random_stream())


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
    return Dropout2dFunction.apply(as_tensor(input), p, backend.next_random_stream())


# ------------------------------------------------------------- the composed definitions
def dropout_composed(input, p=0.5, training=True):
    """dropout composed of differentiable ops: x * mask / (1 - p), with the mask of the
    reference kernel (drawn from the same key, so after the same ``manual_seed`` it is the
    mask ``dropout`` draws) as a constant."""
    return _masked_composed(input, p, training, lambda x: x.shape)


def dropout2d_composed(input, p=0.5, training=True):
    """dropout2d composed of differentiable ops: one mask entry per (sample, channel)."""
    return _masked_composed(input, p, training, lambda x: x.shape[:2])


def _masked_composed(input, p, training, mask_shape):
    if not training:
        return input
    x = as_tensor(input)
    shape = mask_shape(x)
    keep = keep_mask(backend.next_random_stream(), shape, p, backend.get_array_module(x.data))
    keep = keep.reshape(shape + (1,) * (x.ndim - len(shape))).astype(x.dtype)
    return x * tensor(keep) * (0.0 if p == 1 else 1.0 / (1.0 - p))
