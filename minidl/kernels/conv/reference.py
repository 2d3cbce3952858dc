"""Reference convolution kernels: im2col + GEMM, with col2im as a loop over kernel offsets.

Shapes (PyTorch's): x (N, C, H, W), weight (O, C/groups, kh, kw), y (N, O, OH, OW).
``padding`` is ((top, bottom), (left, right)); stride and dilation are (h, w) pairs.

The im2col buffer is laid out per sample as (N, C*kh*kw, OH*OW) so that every product
reads it as it is and nothing is transposed:

    forward        y[n]      = W (O, CK)   @ cols[n] (CK, P)      -> already NCHW
    input grad     gcols[n]  = W^T (CK, O) @ gy[n]   (O, P)       -> col2im -> gx
    weight grad    gW       += gy[n] (O, P) @ cols[n]^T (P, CK)   (BLAS reads the transpose)

With groups, channels split into G independent blocks and each product is batched over G.
"""
from __future__ import annotations

from ... import backend
from ...geometry import conv_output_length

__all__ = ["conv2d_backward_input", "conv2d_backward_weight", "conv2d_forward"]


def pad_spatial(x, padding, value=0.0):
    """Pad the last two axes by ((top, bottom), (left, right)); no copy when all are 0."""
    (pt, pb), (pl, pr) = padding
    if pt == pb == pl == pr == 0:
        return x
    xp = backend.get_array_module(x)
    widths = ((0, 0),) * (x.ndim - 2) + ((pt, pb), (pl, pr))
    return xp.pad(x, widths, mode="constant", constant_values=value)


def window_slices(offset_h, offset_w, out_h, out_w, stride):
    """Slices of the padded input read by kernel tap (offset_h, offset_w) at every output."""
    sh, sw = stride
    return (slice(offset_h, offset_h + sh * (out_h - 1) + 1, sh),
            slice(offset_w, offset_w + sw * (out_w - 1) + 1, sw))


def im2col(x, kernel, stride, padding, dilation, out_size=None):
    """cols[n, (c, i, j), (oh, ow)] = xpad[n, c, oh*sh + i*dh, ow*sw + j*dw].

    Returns cols of shape (N, C*kh*kw, OH*OW) and (OH, OW); ``out_size`` keeps only the
    first OH x OW windows (a transposed convolution's output_padding can add a window).
    """
    xp = backend.get_array_module(x)
    n, c, h, w = x.shape
    kh, kw = kernel
    dh, dw = dilation
    out_h, out_w = out_size or (conv_output_length(h, kh, stride[0], sum(padding[0]), dh),
                                conv_output_length(w, kw, stride[1], sum(padding[1]), dw))
    xpad = pad_spatial(x, padding)
    cols = xp.empty((n, c, kh, kw, out_h, out_w), x.dtype)
    for i in range(kh):
        for j in range(kw):
            cols[:, :, i, j] = xpad[(slice(None), slice(None))
                                    + window_slices(i * dh, j * dw, out_h, out_w, stride)]
    return cols.reshape(n, c * kh * kw, out_h * out_w), (out_h, out_w)


def col2im(cols, x_shape, kernel, stride, padding, dilation, out_size):
    """The adjoint of im2col: each column entry is added back onto the pixel it was read from.

    A loop over the kh*kw kernel taps; each tap adds a strided block, so the result is the
    same every time (no scatter-add races).
    """
    xp = backend.get_array_module(cols)
    n, c, h, w = x_shape
    kh, kw = kernel
    dh, dw = dilation
    (pt, pb), (pl, pr) = padding
    out_h, out_w = out_size
    cols = cols.reshape(n, c, kh, kw, out_h, out_w)
    xpad = xp.zeros((n, c, h + pt + pb, w + pl + pr), cols.dtype)
    for i in range(kh):
        for j in range(kw):
            xpad[(slice(None), slice(None))
                 + window_slices(i * dh, j * dw, out_h, out_w, stride)] += cols[:, :, i, j]
    return xpad[:, :, pt:pt + h, pl:pl + w]


def _grouped_weight(weight, groups):
    o, cg, kh, kw = weight.shape
    return weight.reshape(groups, o // groups, cg * kh * kw)


def conv2d_forward(x, weight, bias, stride, padding, dilation, groups):
    """y = conv(x, W) + b: one batched GEMM over samples and groups on the im2col buffer."""
    xp = backend.get_array_module(x)
    n = x.shape[0]
    o, _, kh, kw = weight.shape
    cols, (out_h, out_w) = im2col(x, (kh, kw), stride, padding, dilation)
    cols = cols.reshape(n, groups, -1, out_h * out_w)
    y = xp.matmul(_grouped_weight(weight, groups), cols).reshape(n, o, out_h, out_w)
    if bias is not None:
        y += bias.reshape(1, o, 1, 1)
    return y


def conv2d_backward_input(grad_y, weight, x_shape, stride, padding, dilation, groups):
    """dL/dx = col2im(W^T @ dL/dy): each output's gradient flows back along its weights."""
    xp = backend.get_array_module(grad_y)
    n, o, out_h, out_w = grad_y.shape
    _, _, kh, kw = weight.shape
    gy = grad_y.reshape(n, groups, o // groups, out_h * out_w)
    gcols = xp.matmul(_grouped_weight(weight, groups).transpose(0, 2, 1), gy)
    return col2im(gcols, x_shape, (kh, kw), stride, padding, dilation, (out_h, out_w))


def conv2d_backward_weight(x, grad_y, weight_shape, stride, padding, dilation, groups):
    """dL/dW = sum over samples of dL/dy[n] @ cols[n]^T (each weight meets the inputs it saw)."""
    xp = backend.get_array_module(x)
    n, o, out_h, out_w = grad_y.shape
    _, cg, kh, kw = weight_shape
    cols, _ = im2col(x, (kh, kw), stride, padding, dilation, (out_h, out_w))
    cols = cols.reshape(n, groups, cg * kh * kw, out_h * out_w)
    gy = grad_y.reshape(n, groups, o // groups, out_h * out_w)
    grad_w = xp.zeros((groups, o // groups, cg * kh * kw), x.dtype)
    for i in range(n):
        grad_w += xp.matmul(gy[i], cols[i].transpose(0, 2, 1))
    return grad_w.reshape(weight_shape)
