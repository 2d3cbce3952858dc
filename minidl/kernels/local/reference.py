"""Reference kernels of the locally connected ("unshared") convolution.

A convolution uses one weight (O, C, kh, kw) at every output position; a locally
connected layer has a different one at each position (oh, ow). Shapes:

    x (N, C, H, W),  weight (OH, OW, O, C, kh, kw),  bias (O, OH, OW),  y (N, O, OH, OW)

weight[oh, ow] is an ordinary conv weight, and the position axes come first so that the
weight reshapes, without a copy, to W (P, O, CK) with P = OH*OW positions and
CK = C*kh*kw. With cols = im2col(x) (N, CK, P) (the conv kernels' buffer), every position
is its own small GEMM, batched over p:

    forward        y[:, :, p]     = cols[:, :, p] @ W[p]^T      (N, CK) @ (CK, O)
    input grad     gcols[:, :, p] = gy[:, :, p] @ W[p]          -> col2im -> gx
    weight grad    gW[p]          = gy[:, :, p]^T @ cols[:, :, p]  (summed over samples)

The batch axis of those products is p, the last axis of cols and y, so each operand is
copied once into position-major order (P, N, .) where BLAS reads it as it is.
"""
from __future__ import annotations

from ... import backend
from ..conv.reference import col2im, im2col

__all__ = ["locally_connected2d_backward_input", "locally_connected2d_backward_weight",
           "locally_connected2d_forward"]


def _position_major(a):
    """(N, K, P) -> a contiguous (P, N, K): the p-th matrix is a[:, :, p]."""
    return backend.get_array_module(a).ascontiguousarray(a.transpose(2, 0, 1))


def _positions_weight(weight):
    """(OH, OW, O, C, kh, kw) -> (P, O, CK), a view."""
    oh, ow, o = weight.shape[:3]
    return weight.reshape(oh * ow, o, -1)


def locally_connected2d_forward(x, weight, bias, stride, padding, dilation):
    """y[n, o, oh, ow] = b[o, oh, ow] + sum over (c, i, j) of
    weight[oh, ow, o, c, i, j] * xpad[n, c, oh*sh + i*dh, ow*sw + j*dw]."""
    xp = backend.get_array_module(x)
    out_h, out_w, o, _, kh, kw = weight.shape
    cols, _ = im2col(x, (kh, kw), stride, padding, dilation)
    y = xp.matmul(_position_major(cols), _positions_weight(weight).transpose(0, 2, 1))
    y = y.transpose(1, 2, 0).reshape(x.shape[0], o, out_h, out_w)     # (P, N, O) -> NCHW
    if bias is not None:
        y += bias
    return y


def locally_connected2d_backward_input(grad_y, weight, x_shape, stride, padding, dilation):
    """dL/dx = col2im(gcols), gcols[:, :, p] = dL/dy[:, :, p] @ W[p]: the transposed maps."""
    xp = backend.get_array_module(grad_y)
    n, o, out_h, out_w = grad_y.shape
    kh, kw = weight.shape[4:]
    gy = _position_major(grad_y.reshape(n, o, out_h * out_w))
    gcols = xp.matmul(gy, _positions_weight(weight)).transpose(1, 2, 0)   # (N, CK, P)
    return col2im(gcols, x_shape, (kh, kw), stride, padding, dilation, (out_h, out_w))


def locally_connected2d_backward_weight(x, grad_y, weight_shape, stride, padding, dilation):
    """dL/dW[p] = sum over samples of dL/dy[n, :, p] (outer) cols[n, :, p]: each kernel meets
    only the window it saw."""
    xp = backend.get_array_module(x)
    n, o, out_h, out_w = grad_y.shape
    kh, kw = weight_shape[4:]
    cols, _ = im2col(x, (kh, kw), stride, padding, dilation)
    gy = _position_major(grad_y.reshape(n, o, out_h * out_w))
    return xp.matmul(gy.transpose(0, 2, 1), _position_major(cols)).reshape(weight_shape)
