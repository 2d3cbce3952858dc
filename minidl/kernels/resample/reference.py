"""Reference resampling kernels: nearest and bilinear interpolation as two small GEMMs.

Interpolating along one axis is a linear map from the n_in input positions to the n_out
output positions, an (n_out, n_in) matrix M whose row o holds the weights output o gives
to the input pixels: one 1 at the source pixel for "nearest", the two weights
(1 - lambda, lambda) of the neighbouring pixels for "bilinear". Both modes are separable,
so for x (N, C, H, W)

    forward    y  = M_h  x  M_w^T     (OH, H) @ (N, C, H, W) @ (W, OW) -> (N, C, OH, OW)
    backward   gx = M_h^T g  M_w      (the transposed maps, in reverse order)

The backward is a product like the forward (no scatter-add), so it gives the same bits
every time. The matrices follow PyTorch's source-index rules exactly (see
``source_indices_nearest`` and ``source_indices_linear``).
"""
from __future__ import annotations

import numpy as np

from ... import backend

__all__ = ["interpolate2d_backward", "interpolate2d_forward"]


def source_indices_nearest(n_in, n_out, scale_factor=None):
    """PyTorch's "nearest": output o reads input min(floor(o * s), n_in - 1).

    s is 1 / scale_factor when a scale factor was given, else n_in / n_out, in float32
    as PyTorch computes it (for every input dtype); n_out == n_in copies and
    n_out == 2 * n_in reads o // 2, two special cases PyTorch keeps.
    """
    out = np.arange(n_out)
    if n_out == n_in:
        return out
    if n_out == 2 * n_in:
        return out // 2
    s = np.float32(1.0 / scale_factor) if scale_factor else np.float32(n_in) / np.float32(n_out)
    return np.minimum(np.floor(out.astype(np.float32) * s).astype(np.int64), n_in - 1)


def source_indices_linear(n_in, n_out, align_corners, scale_factor=None, dtype=np.float32):
    """PyTorch's linear rule: output o lies at source coordinate

        align_corners=True:   src = o * (n_in - 1) / (n_out - 1)    (corners meet corners)
        align_corners=False:  src = max((o + 0.5) * s - 0.5, 0)     (pixel centres)

    with s as in ``source_indices_nearest``. It reads i0 = min(floor(src), n_in - 1) with
    weight 1 - lam and i1 = min(i0 + 1, n_in - 1) with weight lam = src - i0, clipped to
    [0, 1]; n_out == n_in copies. The arithmetic runs in float32 for float32 (and smaller)
    inputs and in float64 for float64 ones, as PyTorch's does.

    Returns (i0, i1, lam).
    """
    out = np.arange(n_out)
    if n_out == n_in:
        return out, out, np.zeros(n_out)
    real = np.result_type(dtype, np.float32).type
    if align_corners:
        s = real(n_in - 1) / real(n_out - 1) if n_out > 1 else real(0)
        src = s * out.astype(real)
    else:
        s = real(1.0 / scale_factor) if scale_factor else real(n_in) / real(n_out)
        src = np.maximum(s * (out.astype(real) + real(0.5)) - real(0.5), real(0))
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0, 0, 1)
    return i0, np.minimum(i0 + 1, n_in - 1), lam


def interpolation_matrix(n_in, n_out, mode, align_corners, scale_factor, dtype):
    """The (n_out, n_in) matrix M of one axis (a NumPy array: small, built on the host)."""
    m = np.zeros((n_out, n_in), dtype)
    rows = np.arange(n_out)
    if mode == "nearest":
        m[rows, source_indices_nearest(n_in, n_out, scale_factor)] = 1
        return m
    i0, i1, lam = source_indices_linear(n_in, n_out, align_corners, scale_factor, dtype)
    m[rows, i0] += 1 - lam   # += : i0 == i1 at the last pixel, where the weights add to 1
    m[rows, i1] += lam
    return m


def _matrices(like, in_size, out_size, mode, align_corners, scale_factors):
    """M_h and M_w on ``like``'s device, in its dtype."""
    xp = backend.get_array_module(like)
    return tuple(xp.asarray(interpolation_matrix(n_in, n_out, mode, align_corners, s, like.dtype))
                 for n_in, n_out, s in zip(in_size, out_size, scale_factors))


def interpolate2d_forward(x, out_size, mode, align_corners, scale_factors):
    """y = M_h x M_w^T for x (N, C, H, W); ``scale_factors`` is an (h, w) pair of floats
    or Nones (None: the scale comes from the sizes)."""
    m_h, m_w = _matrices(x, x.shape[2:], out_size, mode, align_corners, scale_factors)
    return m_h @ x @ m_w.T


def interpolate2d_backward(grad_y, in_size, mode, align_corners, scale_factors):
    """dL/dx = M_h^T dL/dy M_w: each output's gradient goes back along its weights."""
    m_h, m_w = _matrices(grad_y, in_size, grad_y.shape[2:], mode, align_corners, scale_factors)
    return m_h.T @ grad_y @ m_w
