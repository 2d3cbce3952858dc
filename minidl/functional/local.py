"""Convolutions without full weight sharing (Goodfellow et al., Deep Learning, 9.5).

* ``locally_connected2d`` ("unshared convolution"): every output position (oh, ow) has its
  own kernel; weight (OH, OW, out, in, kh, kw), bias (out, OH, OW).
* ``tiled_conv2d``: a t_h x t_w grid of kernels, weight (t_h, t_w, out, in, kh, kw),
  rotated across the output: position (oh, ow) uses kernel [oh % t_h, ow % t_w], and the
  bias (out, t_h, t_w) is tied the same way. t = (1, 1) is an ordinary convolution;
  t = the output size is a locally connected layer.

Tiled convolution *is* a locally connected one whose per-position kernels are tied, so
it is built from it: the kernel grid is tiled over the output grid (concatenated copies,
cropped) and passed to ``locally_connected2d``. The backward of that tiling sums the
gradients of all positions that share a kernel, with no extra code.
"""
from __future__ import annotations

from ..autograd import Function
from ..autograd.functions import as_tensor, concatenate
from ..geometry import conv_output_length, empty_output_message, pair
from ..kernels.local import KERNELS as LOCAL
from .conv import conv_padding
from .windows import padded, window_taps

__all__ = ["local_output_size", "locally_connected2d", "tiled_conv2d"]


class LocallyConnected2dFunction(Function):
    """y[n, o, oh, ow] = b[o, oh, ow] + sum over (c, i, j) of
    W[oh, ow, o, c, i, j] * xpad[n, c, oh*s + i*d, ow*s + j*d].

    As in conv2d, y is linear in x and in W; the only change is that the weight depends on
    the position. So dL/dx = col2im of the per-position products dL/dy[:, :, p] W[p],
    dL/dW[p] = sum over samples of dL/dy[:, :, p] (outer) window p of x (each kernel sees
    one window, so nothing is summed over positions), and dL/db = dL/dy summed over samples.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation):
        ctx.save_for_backward(x, weight)
        ctx.window = stride, padding, dilation
        return LOCAL.for_array(x).locally_connected2d_forward(x, weight, bias, *ctx.window)

    @staticmethod
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        kernels = LOCAL.for_array(grad_y)
        needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if needs_x:
            gx = kernels.locally_connected2d_backward_input(grad_y, weight, x.shape, *ctx.window)
        if needs_w:
            gw = kernels.locally_connected2d_backward_weight(x, grad_y, weight.shape, *ctx.window)
        if needs_b:
            gb = grad_y.sum(axis=0)
        return gx, gw, gb, None, None, None


def local_output_size(input_size, kernel_size, stride=1, padding=0, dilation=1):
    """The (OH, OW) output of a locally connected or tiled layer (the conv formula), which
    sizes a locally connected weight; ``padding`` as in conv2d ("same" and "valid" too)."""
    return _geometry(input_size, kernel_size, stride, padding, dilation)[0]


def _geometry(input_size, kernel_size, stride, padding, dilation):
    """Output size, stride pair, padding ((top, bottom), (left, right)) and dilation pair;
    an empty output raises an error naming the sizes."""
    size, kernel = pair(input_size, "input_size"), pair(kernel_size, "kernel_size")
    strides, dilations = pair(stride, "stride"), pair(dilation, "dilation")
    if min(strides) < 1 or min(dilations) < 1:
        raise ValueError(f"stride and dilation must be >= 1, got {stride} and {dilation}")
    pads = conv_padding(padding, kernel, strides, dilations)
    out = tuple(conv_output_length(n, k, s, sum(p), d)
                for n, k, s, p, d in zip(size, kernel, strides, pads, dilations))
    if min(out) <= 0:
        raise ValueError(empty_output_message(size, kernel, stride, padding, dilation))
    return out, strides, pads, dilations


def _check_local(name, x_shape, w_shape, grid_name):
    """A 4-D input and a 6-D weight (grid_h, grid_w, out, in, kh, kw) with matching channels."""
    if len(x_shape) != 4 or len(w_shape) != 6:
        raise ValueError(f"{name}: expected a 4-D input (N, C, H, W) and a 6-D weight "
                         f"({grid_name}, out_channels, in_channels, kh, kw), got input "
                         f"{x_shape} and weight {w_shape}")
    if x_shape[1] != w_shape[3]:
        raise ValueError(f"{name}: input has {x_shape[1]} channels but the weight {w_shape} "
                         f"expects {w_shape[3]}")


def _check_bias(name, bias, expected):
    if bias is not None and tuple(bias.shape) != expected:
        raise ValueError(f"{name}: bias of shape {tuple(bias.shape)} must have shape {expected} "
                         "(out_channels, then the weight's two grid axes)")


def locally_connected2d(input, weight, bias=None, stride=1, padding=0, dilation=1):
    """Unshared convolution: output (oh, ow) is computed with its own kernel weight[oh, ow].

    weight: (OH, OW, out_channels, in_channels, kh, kw), OH x OW being the output size the
    conv formula gives for this input (``local_output_size``); bias: (out_channels, OH, OW).
    """
    input, weight = as_tensor(input), as_tensor(weight)
    _check_local("locally_connected2d", input.shape, weight.shape, "OH, OW")
    kernel = weight.shape[4:]
    out, strides, pads, dilations = _geometry(input.shape[2:], kernel, stride, padding, dilation)
    if tuple(weight.shape[:2]) != out:
        raise ValueError(f"locally_connected2d: input {input.shape[2]}x{input.shape[3]} with "
                         f"kernel {kernel[0]}x{kernel[1]}, padding {padding}, stride {stride}, "
                         f"dilation {dilation} gives a {out[0]}x{out[1]} output, but the weight "
                         f"{weight.shape} holds kernels for {weight.shape[0]}x{weight.shape[1]} "
                         "positions")
    _check_bias("locally_connected2d", bias, (weight.shape[2], *out))
    return LocallyConnected2dFunction.apply(input, weight, bias, strides, pads, dilations)


def _tile(grid, n, axis):
    """Repeat ``grid`` along ``axis`` until it has n entries: entry i is grid's i % t."""
    copies = -(-n // grid.shape[axis])
    tiled = concatenate([grid] * copies, axis=axis)
    return tiled[(slice(None),) * axis + (slice(0, n),)]


def tiled_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1):
    """Tiled convolution: output (oh, ow) uses kernel weight[oh % t_h, ow % t_w].

    weight: (t_h, t_w, out_channels, in_channels, kh, kw); bias: (out_channels, t_h, t_w),
    rotated like the kernels. Neighbouring outputs use different kernels, yet the layer has
    only t_h * t_w of them, whatever the image size.
    """
    input, weight = as_tensor(input), as_tensor(weight)
    _check_local("tiled_conv2d", input.shape, weight.shape, "t_h, t_w")
    _check_bias("tiled_conv2d", bias, (weight.shape[2], *weight.shape[:2]))
    out_h, out_w = local_output_size(input.shape[2:], weight.shape[4:], stride, padding, dilation)
    per_position = _tile(_tile(weight, out_h, 0), out_w, 1)
    if bias is not None:
        bias = _tile(_tile(as_tensor(bias), out_h, 1), out_w, 2)
    return locally_connected2d(input, per_position, bias, stride, padding, dilation)


# ------------------------------------------------------------- the composed definitions
def locally_connected2d_composed(input, weight, bias=None, stride=1, padding=0, dilation=1):
    """locally_connected2d composed of differentiable ops: the stacked taps of the input
    (cols[n, c, t, p]) times each position's own kernel W[p, o, c, t], summed over (c, t)."""
    input, weight = as_tensor(input), as_tensor(weight)
    out, strides, pads, dilations = _geometry(input.shape[2:], weight.shape[4:], stride, padding,
                                              dilation)
    cols = window_taps(padded(input, pads), weight.shape[4:], strides, dilations, out)
    n, positions, out_channels = input.shape[0], out[0] * out[1], weight.shape[2]
    cols = cols.reshape(n, 1, -1, positions)
    kernels = weight.reshape(positions, out_channels, -1).permute(1, 2, 0)
    y = (cols * kernels).sum(axis=2).reshape(n, out_channels, *out)
    return y if bias is None else y + as_tensor(bias)
