"""The fully connected layer as a function."""
from __future__ import annotations

from ..autograd import Function


class LinearFunction(Function):
    """y = x W^T + b, with W of shape (out_features, in_features) as in PyTorch.

    x may have any leading axes (..., in). With X (n, in) the rows of x and G (n, out) the
    rows of dL/dy: y_ko = sum_i x_ki W_oi + b_o, so
    dL/dx = G W,  dL/dW = G^T X (summed over rows),  dL/db = sum of G's rows.
    """

    @staticmethod
    def forward(ctx, x, weight, bias=None):
        ctx.save_for_backward(x, weight)
        y = x @ weight.T
        if bias is not None:
            y += bias
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        needs_x, needs_w, needs_b = ctx.needs_input_grad
        g2 = g.reshape(-1, g.shape[-1])
        gx = (g @ weight) if needs_x else None
        gw = (g2.T @ x.reshape(-1, x.shape[-1])) if needs_w else None
        gb = g2.sum(axis=0) if needs_b else None
        return gx, gw, gb


def linear(input, weight, bias=None):
    """Apply ``Linear``: y = x W^T + b."""
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {input.shape} does not end in the "
                         f"{weight.shape[1]} features the weight {weight.shape} expects")
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias of shape {bias.shape} does not match the weight's "
                         f"{weight.shape[0]} outputs")
    return LinearFunction.apply(input, weight, bias)


def linear_composed(input, weight, bias=None):
    """linear composed of differentiable ops: x @ W^T + b."""
    y = input @ weight.T
    return y if bias is None else y + bias
