"""Resampling: ``interpolate`` (nearest and bilinear, what ``nn.Upsample`` calls) and
ShuffleNet's ``channel_shuffle``."""
from __future__ import annotations

from numbers import Real

from ..autograd import Function
from ..autograd.functions import as_tensor, tensor
from ..geometry import pair
from ..kernels.resample import KERNELS as RESAMPLE
from ..kernels.resample.reference import interpolation_matrix

__all__ = ["channel_shuffle", "interpolate"]

MODES = ("nearest", "bilinear")


class Interpolate2dFunction(Function):
    """y = M_h x M_w^T for every image x (H, W) of the batch, M_h (OH, H) and M_w (OW, W)
    being the interpolation matrices of the two axes (see kernels/resample/reference.py):

        y[i, j] = sum over (a, b) of M_h[i, a] x[a, b] M_w[j, b].

    y is linear in x with dy[i, j]/dx[a, b] = M_h[i, a] M_w[j, b], so
    dL/dx[a, b] = sum over (i, j) of g[i, j] M_h[i, a] M_w[j, b], that is dL/dx = M_h^T g M_w:
    every input pixel collects the gradients of the outputs it contributed to, weighted as it
    contributed (for "nearest", the sum over the outputs that copied it).
    """

    @staticmethod
    def forward(ctx, x, out_size, mode, align_corners, scale_factors):
        ctx.sampling = x.shape[2:], mode, align_corners, scale_factors
        return RESAMPLE.for_array(x).interpolate2d_forward(x, out_size, mode, align_corners,
                                                           scale_factors)

    @staticmethod
    def backward(ctx, grad_y):
        gx = None
        if ctx.needs_input_grad[0]:
            gx = RESAMPLE.for_array(grad_y).interpolate2d_backward(grad_y, *ctx.sampling)
        return gx, None, None, None, None


def _scale_pair(scale_factor):
    factors = (scale_factor,) * 2 if isinstance(scale_factor, Real) else tuple(scale_factor)
    if len(factors) != 2 or not all(isinstance(s, Real) and s > 0 for s in factors):
        raise ValueError(f"interpolate: scale_factor must be a positive number or a pair of "
                         f"them, got {scale_factor!r}")
    return tuple(float(s) for s in factors)


def _output_size(in_size, size, scale_factor):
    """(OH, OW) and the scale factors PyTorch uses for the source indices: (None, None) when
    a size is given (the scale is then in/out), else the given factors with
    out = floor(in * factor)."""
    if (size is None) == (scale_factor is None):
        given = "both" if size is not None else "neither"
        raise ValueError(f"interpolate: give exactly one of size and scale_factor, got {given}")
    if size is not None:
        out, scales = pair(size, "size"), (None, None)
    else:
        scales = _scale_pair(scale_factor)
        out = tuple(int(n * s) for n, s in zip(in_size, scales))
    if min(out) < 1:
        asked = f"size {size}" if size is not None else f"scale_factor {scale_factor}"
        raise ValueError(f"interpolate: input {in_size[0]}x{in_size[1]} with {asked} gives an "
                         f"empty output {out[0]}x{out[1]}")
    return out, scales


def interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
    """Resize a batch of images (N, C, H, W), PyTorch's signature and results.

    Give either ``size`` (an int or (OH, OW)) or ``scale_factor`` (a number or a pair; the
    output is floor(H * factor) x floor(W * factor), and the factor itself places the
    samples, as PyTorch does when ``recompute_scale_factor`` is not set).

    * ``mode="nearest"``: output o copies input floor(o * H / OH) (with the factor, o / s).
    * ``mode="bilinear"``: output o mixes the two inputs around its source coordinate,
      ``(o + 0.5) * H / OH - 0.5`` (pixel centres meet, the default) or, with
      ``align_corners=True``, ``o * (H - 1) / (OH - 1)`` (the corner pixels meet).

    The same along W. PyTorch's rounding and special cases are kept, so indices and weights
    match it exactly (kernels/resample/reference.py spells them out).
    """
    input = as_tensor(input)
    if input.ndim != 4:
        raise ValueError(f"interpolate: expected a 4-D input (N, C, H, W), got shape "
                         f"{tuple(input.shape)}")
    if mode not in MODES:
        raise ValueError(f"interpolate: mode must be one of {MODES}, got {mode!r}")
    if mode == "nearest" and align_corners is not None:
        raise ValueError("interpolate: align_corners can only be set with mode='bilinear' "
                         f"(got align_corners={align_corners} with mode='nearest')")
    out_size, scale_factors = _output_size(input.shape[2:], size, scale_factor)
    return Interpolate2dFunction.apply(input, out_size, mode, bool(align_corners), scale_factors)


def channel_shuffle(input, groups):
    """ShuffleNet's channel shuffle, so that the next grouped conv mixes information across
    groups: the C = g * m channels, read as a (g, m) grid, are transposed to (m, g), i.e.
    output channel k*g + j is input channel j*m + k.

    Made of a reshape, a transpose and a reshape: each only moves values, and their backward
    passes move the gradient back (the inverse shuffle, which is the shuffle with m groups).
    """
    input = as_tensor(input)
    if input.ndim < 3:
        raise ValueError(f"channel_shuffle: expected an input (N, C, ...) with at least 3 "
                         f"axes, got shape {tuple(input.shape)}")
    n, channels, *rest = input.shape
    if not isinstance(groups, int) or groups < 1 or channels % groups:
        raise ValueError(f"channel_shuffle: {channels} channels are not divisible by "
                         f"groups={groups!r}")
    grid = input.reshape(n, groups, channels // groups, *rest)
    return grid.transpose(1, 2).reshape(n, channels, *rest)


def interpolate_composed(input, size=None, scale_factor=None, mode="nearest",
                         align_corners=None):
    """interpolate composed of differentiable ops: M_h @ x @ M_w^T with the interpolation
    matrices of the two axes as constants."""
    input = as_tensor(input)
    out_size, scale_factors = _output_size(input.shape[2:], size, scale_factor)
    m_h, m_w = (tensor(interpolation_matrix(n_in, n_out, mode, bool(align_corners), s,
                                            input.dtype), device=input.device)
                for n_in, n_out, s in zip(input.shape[2:], out_size, scale_factors))
    return m_h @ input @ m_w.T
