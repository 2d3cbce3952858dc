"""Reference normalisation kernels: batch norm and local response norm.

Shapes (PyTorch's): x is (N, C) or (N, C, *spatial); axis 1 holds the channels.

Batch norm normalises each channel over the M = N * prod(spatial) values it has in the
batch. Per-channel vectors (weight, bias, mean, var) have shape (C,); weight and bias may
be None (no affine map). The kernels are split so that a fused kernel can replace each
one with the same arguments:

    batch_norm_forward_train(x, weight, bias, eps)                   -> (y, mean, var)
    batch_norm_backward_train(grad_y, x, weight, mean, var, eps, needs) -> (gx, gw, gb)
    batch_norm_forward_eval(x, weight, bias, mean, var, eps)        -> y
    batch_norm_backward_eval(grad_y, x, weight, mean, var, eps, needs)  -> (gx, gw, gb)

``var`` is the biased batch variance (training) or the running variance (eval); the
kernels form invstd = 1 / sqrt(var + eps) themselves (C values, nothing to save).
``needs`` is (input, weight, bias) as in ``ctx.needs_input_grad``; a gradient that is not
needed comes back as None and is not computed.

Local response norm (AlexNet) mixes neighbouring channels:

    local_response_norm_forward(x, size, alpha, beta, k)                 -> (y, scale)
    local_response_norm_backward(grad_y, x, y, scale, size, alpha, beta) -> gx
"""
from __future__ import annotations

from ... import backend

__all__ = ["batch_norm_backward_eval", "batch_norm_backward_train", "batch_norm_forward_eval",
           "batch_norm_forward_train", "local_response_norm_backward",
           "local_response_norm_forward"]


# ----------------------------------------------------------------------------- batch norm
def _stat_axes(x):
    """Every axis but the channel axis 1: (0,) for (N, C), (0, 2, 3) for (N, C, H, W)."""
    return (0,) + tuple(range(2, x.ndim))


def _per_channel(v, x):
    """A (C,) vector shaped (1, C, 1, ...) to broadcast against x, in x's dtype."""
    return v.reshape((1, -1) + (1,) * (x.ndim - 2)).astype(x.dtype, copy=False)


def _invstd(var, eps):
    xp = backend.get_array_module(var)
    return 1.0 / xp.sqrt(var + eps)


def _normalised(x, mean, var, eps):
    """xhat = (x - mean) * invstd, per channel."""
    return (x - _per_channel(mean, x)) * _per_channel(_invstd(var, eps), x)


def _affine(xhat, weight, bias):
    """y = weight * xhat + bias (either may be None)."""
    y = xhat if weight is None else xhat * _per_channel(weight, xhat)
    return y if bias is None else y + _per_channel(bias, xhat)


def batch_norm_forward_train(x, weight, bias, eps):
    """Normalise with the batch statistics: y = weight * (x - mean) / sqrt(var + eps) + bias.

    mean and the biased variance var = mean((x - mean)^2) are taken over every axis but 1
    (two passes, for accuracy). Returns y, mean and var, all in the dtype of x.
    """
    axes = _stat_axes(x)
    mean = x.mean(axis=axes)
    centred = x - _per_channel(mean, x)
    var = (centred * centred).mean(axis=axes)
    y = _affine(centred * _per_channel(_invstd(var, eps), x), weight, bias)
    return y, mean, var


def batch_norm_backward_train(grad_y, x, weight, mean, var, eps, needs):
    """Gradients of batch norm in training, where mean and var depend on x.

    With g = dL/dy, xhat = (x - mean) * invstd and M values per channel:
    dL/dbias = sum g, dL/dweight = sum g * xhat, and
    dL/dx = weight * invstd / M * (M g - sum g - xhat * sum(g * xhat)).
    """
    needs_x, needs_w, needs_b = needs
    axes = _stat_axes(x)
    xhat = _normalised(x, mean, var, eps)
    sum_g = grad_y.sum(axis=axes) if (needs_x or needs_b) else None
    sum_gx = (grad_y * xhat).sum(axis=axes) if (needs_x or needs_w) else None
    gx = None
    if needs_x:
        m = x.size // x.shape[1]
        scale = _invstd(var, eps) if weight is None else weight * _invstd(var, eps)
        centred_g = grad_y - _per_channel(sum_g / m, x) - xhat * _per_channel(sum_gx / m, x)
        gx = centred_g * _per_channel(scale, x)
    return gx, (sum_gx if needs_w else None), (sum_g if needs_b else None)


def batch_norm_forward_eval(x, weight, bias, mean, var, eps):
    """Normalise with fixed (running) statistics: an affine map per channel."""
    return _affine(_normalised(x, mean, var, eps), weight, bias)


def batch_norm_backward_eval(grad_y, x, weight, mean, var, eps, needs):
    """Gradients when mean and var are constants: y = weight * invstd * (x - mean) + bias, so
    dL/dx = g * weight * invstd, dL/dweight = sum g * xhat, dL/dbias = sum g."""
    needs_x, needs_w, needs_b = needs
    axes = _stat_axes(x)
    gx = gw = gb = None
    if needs_x:
        scale = _invstd(var, eps) if weight is None else weight * _invstd(var, eps)
        gx = grad_y * _per_channel(scale, x)
    if needs_w:
        gw = (grad_y * _normalised(x, mean, var, eps)).sum(axis=axes)
    if needs_b:
        gb = grad_y.sum(axis=axes)
    return gx, gw, gb


# ----------------------------------------------------------------------------- LRN
def channel_window_sum(a, before, after):
    """s[:, c] = sum of a[:, j] for c - before <= j <= c + after (zero outside 0..C-1).

    A loop over the before + after + 1 offsets of a zero-padded copy: each offset adds a
    shifted block, in the same order every time.
    """
    xp = backend.get_array_module(a)
    channels = a.shape[1]
    widths = ((0, 0), (before, after)) + ((0, 0),) * (a.ndim - 2)
    padded = xp.pad(a, widths)
    total = xp.zeros_like(a)
    for offset in range(before + after + 1):
        total += padded[:, offset:offset + channels]
    return total


def local_response_norm_forward(x, size, alpha, beta, k):
    """y[:, c] = x[:, c] / scale[:, c]^beta with
    scale[:, c] = k + alpha / size * sum of x[:, j]^2 over c - size//2 <= j <= c + (size-1)//2.

    Returns y and scale (kept for the backward pass).
    """
    scale = k + (alpha / size) * channel_window_sum(x * x, size // 2, (size - 1) // 2)
    return x * scale ** -beta, scale


def local_response_norm_backward(grad_y, x, y, scale, size, alpha, beta):
    """dL/dx for y_c = x_c * b_c^-beta, b_c = k + alpha/size * sum_{j in W(c)} x_j^2.

    dy_c/dx_j = [c = j] b_c^-beta - (2 alpha beta / size) x_c b_c^(-beta-1) x_j [j in W(c)],
    and x_c b_c^(-beta-1) = y_c / b_c, so

        dL/dx_j = g_j b_j^-beta - (2 alpha beta / size) x_j sum_{c: j in W(c)} g_c y_c / b_c.

    j is in W(c) = [c - size//2, c + (size-1)//2] exactly when c is in
    [j - (size-1)//2, j + size//2]: the mirrored window, again a channel window sum.
    """
    back = channel_window_sum(grad_y * y / scale, (size - 1) // 2, size // 2)
    return grad_y * scale ** -beta - (2.0 * alpha * beta / size) * x * back
