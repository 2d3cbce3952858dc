"""Normalisation: batch norm (Ioffe & Szegedy) and local response norm (AlexNet).

Batch norm in training normalises each channel with the statistics of the batch, so every
output depends on every input of its channel; its backward projects the gradient off the
two directions that the mean and the variance remove. In evaluation it is a fixed affine
map per channel built from the running statistics.
"""
from __future__ import annotations

from ..autograd import Function, Tensor
from ..autograd.functions import as_tensor, pad, stack
from ..kernels.normalization import KERNELS as NORMALIZATION

__all__ = ["batch_norm", "local_response_norm"]


class BatchNormTrainFunction(Function):
    """y = weight * xhat + bias with xhat = (x - mean) / sqrt(var + eps), where mean and the
    biased var are the batch statistics of each channel (over all axes but 1).

    With g = dL/dy and M values per channel: dL/dbias = sum g, dL/dweight = sum g * xhat.
    For x: dmean/dx_i = 1/M and dvar/dx_i = 2 (x_i - mean) / M give
    dxhat_j/dx_i = invstd * ([i = j] - 1/M - xhat_i xhat_j / M), hence
    dL/dx = weight * invstd * (g - mean(g) - xhat * mean(g * xhat)).

    Outputs y and the batch statistics (mean, var), which are non-differentiable: the
    caller uses them to update the running statistics.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        y, mean, var = NORMALIZATION.for_array(x).batch_norm_forward_train(x, weight, bias, eps)
        ctx.save_for_backward(x, weight, mean, var)
        ctx.eps = eps
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, grad_y, _grad_mean, _grad_var):
        x, weight, mean, var = ctx.saved_tensors
        kernels = NORMALIZATION.for_array(grad_y)
        gx, gw, gb = kernels.batch_norm_backward_train(grad_y, x, weight, mean, var, ctx.eps,
                                                       ctx.needs_input_grad[:3])
        return gx, gw, gb, None


class BatchNormEvalFunction(Function):
    """y = weight * (x - running_mean) / sqrt(running_var + eps) + bias: the statistics are
    constants, so y is affine in x per channel and dL/dx = g * weight * invstd,
    dL/dweight = sum g * xhat, dL/dbias = sum g. The running statistics get no gradient.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, eps):
        ctx.save_for_backward(x, weight, running_mean, running_var)
        ctx.eps = eps
        return NORMALIZATION.for_array(x).batch_norm_forward_eval(x, weight, bias, running_mean,
                                                                  running_var, eps)

    @staticmethod
    def backward(ctx, grad_y):
        x, weight, mean, var = ctx.saved_tensors
        kernels = NORMALIZATION.for_array(grad_y)
        gx, gw, gb = kernels.batch_norm_backward_eval(grad_y, x, weight, mean, var, ctx.eps,
                                                      ctx.needs_input_grad[:3])
        return gx, gw, gb, None, None, None


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over axis 1 of (N, C) or (N, C, *spatial), as PyTorch's.

    ``training=True`` normalises with the batch mean and biased variance and, when running
    statistics are given, updates them in place (their ``.data``):
    running = (1 - momentum) * running + momentum * batch statistic, with the *unbiased*
    batch variance for running_var. ``training=False`` normalises with the running
    statistics. ``momentum=None`` (a cumulative average) needs the batch count, which the
    BatchNorm layers keep; they pass the resulting float here.
    """
    input = as_tensor(input)
    _check_batch_norm(input, running_mean, running_var, weight, bias, training, momentum)
    if not training:
        return BatchNormEvalFunction.apply(input, weight, bias, running_mean, running_var, eps)
    y, mean, var = BatchNormTrainFunction.apply(input, weight, bias, eps)
    if running_mean is not None:
        count = input.numel() // input.shape[1]
        _update_running(running_mean, mean.data, momentum)
        _update_running(running_var, var.data * (count / (count - 1)), momentum)
    return y


def _update_running(running, batch_value, momentum):
    """running <- (1 - momentum) * running + momentum * batch_value, keeping running's dtype."""
    new = (1 - momentum) * running.data + momentum * batch_value.astype(running.dtype)
    running.data = new.astype(running.dtype, copy=False)


def _check_batch_norm(x, running_mean, running_var, weight, bias, training, momentum):
    if x.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C) or (N, C, ...), got "
                         f"shape {x.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: running_mean and running_var must either both be None "
                         "or neither be None")
    if not all(isinstance(r, Tensor) for r in (running_mean, running_var) if r is not None):
        raise TypeError("batch_norm: running_mean and running_var must be tensors (they are "
                        "updated in place), or None")
    if not training and running_mean is None:
        raise ValueError("batch_norm: running_mean and running_var must be given in "
                         "evaluation mode (training=False)")
    if training and running_mean is not None and momentum is None:
        raise TypeError("batch_norm: momentum must be a float; momentum=None (a cumulative "
                        "average) is handled by the BatchNorm layers, which count the batches")
    channels = x.shape[1]
    for name, value in (("running_mean", running_mean), ("running_var", running_var),
                        ("weight", weight), ("bias", bias)):
        if value is not None and tuple(value.shape) != (channels,):
            raise ValueError(f"batch_norm: {name} of shape {tuple(value.shape)} must have one "
                             f"entry per channel ({channels}) of the input {x.shape}")
    if training and x.numel() // channels == 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {x.shape}")


class LocalResponseNormFunction(Function):
    """y_c = x_c / b_c^beta, b_c = k + alpha / size * sum of x_j^2 over the channel window
    W(c) = [c - size//2, c + (size-1)//2] (zero padded). The backward (derived in the
    kernel's docstring) is

        dL/dx_j = g_j b_j^-beta - (2 alpha beta / size) x_j sum_{c: j in W(c)} g_c y_c / b_c.
    """

    @staticmethod
    def forward(ctx, x, size, alpha, beta, k):
        y, scale = NORMALIZATION.for_array(x).local_response_norm_forward(x, size, alpha, beta, k)
        ctx.save_for_backward(x, y, scale)
        ctx.window = size, alpha, beta
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, y, scale = ctx.saved_tensors
        kernels = NORMALIZATION.for_array(grad_y)
        grad_x = kernels.local_response_norm_backward(grad_y, x, y, scale, *ctx.window)
        return grad_x, None, None, None, None


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """Local response normalisation across channels (AlexNet), PyTorch's definition:
    the window is ``size`` channels (size//2 before, (size-1)//2 after), zero padded, and
    the sum of squares is divided by ``size``. Input (N, C, ...) with at least 3 axes.
    """
    input = as_tensor(input)
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected an input with 3 or more dimensions "
                         f"(N, C, ...), got shape {input.shape}")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"local_response_norm: size must be a positive int, got {size!r}")
    return LocalResponseNormFunction.apply(input, size, alpha, beta, k)


# ------------------------------------------------------------- the composed definitions
def batch_norm_composed(input, running_mean, running_var, weight=None, bias=None,
                        training=False, momentum=0.1, eps=1e-5):
    """batch_norm composed of differentiable ops: xhat = (x - mean) / sqrt(var + eps) with the
    batch mean and biased variance (training) or the running ones, then weight * xhat + bias.
    Its backward, derived by the chain rule through the mean and the variance, is the one
    BatchNormTrainFunction writes in closed form. (It does not update running statistics.)"""
    x = as_tensor(input)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        mean, var = x.mean(axes, keepdims=True), x.var(axes, keepdims=True, correction=0)
    else:
        mean, var = running_mean.detach().reshape(shape), running_var.detach().reshape(shape)
    y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * as_tensor(weight).reshape(shape) + as_tensor(bias).reshape(shape)
    return y


def local_response_norm_composed(input, size, alpha=1e-4, beta=0.75, k=1.0):
    """local_response_norm composed of differentiable ops: the squares, zero padded along the
    channels, summed over the window of ``size`` channels by shifted slices, then
    y = x / (k + alpha / size * window sum) ** beta."""
    x = as_tensor(input)
    channels = x.shape[1]
    widths = ((0, 0), (size // 2, (size - 1) // 2)) + ((0, 0),) * (x.ndim - 2)
    squares = pad(x * x, widths)
    window = stack([squares[:, j:j + channels] for j in range(size)], axis=0).sum(axis=0)
    return x / (k + alpha / size * window) ** beta
