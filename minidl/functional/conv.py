"""Convolutions: conv2d, conv1d (with causal padding) and conv_transpose2d.

The three are one linear map seen from different sides. conv2d maps x to y = K x, where
K is a sparse matrix built from the weight; the backward pass needs K^T (the input
gradient) and the products of gradients with inputs (the weight gradient).
conv_transpose2d *is* K^T: its forward is conv2d's input gradient and its input gradient
is conv2d's forward, so both Functions call the same three kernels.
"""
from __future__ import annotations

from ..autograd import Function
from ..autograd.functions import as_tensor, concatenate, stack, zeros_like
from ..geometry import (conv_output_length, empty_output_message, pair,
                        transposed_conv_output_length)
from ..kernels.conv import KERNELS as CONV
from .windows import padded, window_taps


def conv_padding(padding, kernel, stride, dilation):
    """Padding as ((top, bottom), (left, right)) from an int, a pair, "valid" or "same".

    "same" pads d*(k-1) in total per axis, the extra pixel (for even kernels) at the end,
    as PyTorch does; it needs stride 1.
    """
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"padding='same' needs stride 1, got stride {stride}")
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    if isinstance(padding, str):
        raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    ph, pw = pair(padding, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be non-negative, got {padding}")
    return ((ph, ph), (pw, pw))


def _check_conv(name, x_shape, w_shape, groups, stride, dilation, transposed=False):
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"{name}: expected a 4-D input (N, C, H, W) and a 4-D weight, got "
                         f"input {x_shape} and weight {w_shape}")
    if groups < 1:
        raise ValueError(f"{name}: groups must be >= 1, got {groups}")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{name}: stride and dilation must be >= 1, got {stride} and {dilation}")
    channels = x_shape[1]
    if transposed:
        if w_shape[0] != channels:
            raise ValueError(f"{name}: input has {channels} channels but the weight {w_shape} "
                             f"expects {w_shape[0]}")
    else:
        if channels != w_shape[1] * groups:
            raise ValueError(f"{name}: input has {channels} channels but the weight {w_shape} "
                             f"expects {w_shape[1] * groups} ({w_shape[1]} per group x "
                             f"{groups} groups)")
        if w_shape[0] % groups:
            raise ValueError(f"{name}: {w_shape[0]} output channels are not divisible by "
                             f"groups={groups}")
    if channels % groups:
        raise ValueError(f"{name}: {channels} input channels are not divisible by groups={groups}")


class Conv2dFunction(Function):
    """y[n, o] = b[o] + sum over c in o's group and taps (i, j) of
    W[o, c, i, j] * xpad[n, c, oh*s + i*d, ow*s + j*d].

    y is linear in x and in W, so dL/dx = K^T dL/dy (col2im of W^T dL/dy), dL/dW is the
    correlation of dL/dy with the inputs each weight saw, and dL/db sums dL/dy over
    (n, oh, ow). Only the gradients in ``ctx.needs_input_grad`` are computed.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups):
        ctx.save_for_backward(x, weight)
        ctx.window = stride, padding, dilation, groups
        kernels = CONV.for_array(x)
        return kernels.conv2d_forward(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        kernels = CONV.for_array(grad_y)
        needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if needs_x:
            gx = kernels.conv2d_backward_input(grad_y, weight, x.shape, *ctx.window)
        if needs_w:
            gw = kernels.conv2d_backward_weight(x, grad_y, weight.shape, *ctx.window)
        if needs_b:
            gb = grad_y.sum(axis=(0, 2, 3))
        return gx, gw, gb, None, None, None, None


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D convolution (cross-correlation, as in every framework), PyTorch's signature.

    ``padding``: an int, an (h, w) pair, "valid" (none) or "same" (output size = input size).
    """
    input, weight = as_tensor(input), as_tensor(weight)
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    kernel = weight.shape[2:] if weight.ndim == 4 else ()
    _check_conv("conv2d", input.shape, weight.shape, groups, stride, dilation)
    pads = conv_padding(padding, kernel, stride, dilation)
    _check_not_empty(input.shape[2:], kernel, stride, pads, dilation, padding)
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"conv2d: bias of shape {bias.shape} must have one entry per output "
                         f"channel ({weight.shape[0]})")
    return Conv2dFunction.apply(input, weight, bias, stride, pads, dilation, groups)


def _check_not_empty(size, kernel, stride, pads, dilation, padding):
    for axis in range(2):
        if conv_output_length(size[axis], kernel[axis], stride[axis], sum(pads[axis]),
                              dilation[axis]) <= 0:
            shown_padding = padding if isinstance(padding, (int, str)) else tuple(padding)
            raise ValueError(empty_output_message(tuple(size), tuple(kernel), stride,
                                                  shown_padding, dilation))


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of (N, C, L) by (O, C/groups, k), as conv2d on a height-1 image.

    ``padding`` may also be "causal": d*(k-1) zeros on the left only, so output t sees
    inputs up to t and never the future (WaveNet's dilated causal convolution).
    """
    input, weight = as_tensor(input), as_tensor(weight)
    if input.ndim != 3 or weight.ndim != 3:
        raise ValueError(f"conv1d: expected a 3-D input (N, C, L) and a 3-D weight, got input "
                         f"{input.shape} and weight {weight.shape}")
    if padding == "causal":
        if stride != 1:
            raise ValueError(f"padding='causal' needs stride 1, got stride {stride}")
        pads = ((0, 0), (dilation * (weight.shape[2] - 1), 0))
    else:
        pads = conv_padding(padding if isinstance(padding, str) else (0, padding),
                            (1, weight.shape[2]), (1, stride), (1, dilation))
    x2, w2 = input.unsqueeze(2), weight.unsqueeze(2)
    _check_conv("conv1d", x2.shape, w2.shape, groups, (1, stride), (1, dilation))
    _check_not_empty(x2.shape[2:], w2.shape[2:], (1, stride), pads, (1, dilation), padding)
    return Conv2dFunction.apply(x2, w2, bias, (1, stride), pads, (1, dilation), groups).squeeze(2)


class ConvTranspose2dFunction(Function):
    """y = K^T x, the adjoint of the conv2d with the same weight (Cin, Cout/groups, kh, kw).

    Forward = conv2d's input gradient; dL/dx = conv2d(dL/dy) (K applied to the gradient);
    dL/dW = conv2d's weight gradient with the roles of input and output exchanged.
    When output_padding >= stride (allowed if dilation is larger) that conv2d has one more
    output row or column than x; K^T ignores it, so the gradient drops it.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, stride, padding, dilation, groups, out_shape):
        ctx.save_for_backward(x, weight)
        ctx.window = stride, padding, dilation, groups
        kernels = CONV.for_array(x)
        y = kernels.conv2d_backward_input(x, weight, out_shape, stride, padding, dilation, groups)
        if bias is not None:
            y += bias.reshape(1, -1, 1, 1)
        return y

    @staticmethod
    def backward(ctx, grad_y):
        x, weight = ctx.saved_tensors
        kernels = CONV.for_array(grad_y)
        needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
        gx = gw = gb = None
        if needs_x:
            gx = kernels.conv2d_forward(grad_y, weight, None, *ctx.window)
            gx = gx[:, :, :x.shape[2], :x.shape[3]]
        if needs_w:
            gw = kernels.conv2d_backward_weight(grad_y, x, weight.shape, *ctx.window)
        if needs_b:
            gb = grad_y.sum(axis=(0, 2, 3))
        return gx, gw, gb, None, None, None, None, None


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """Transposed ("fractionally strided") convolution, PyTorch's signature and sizes:
    out = (in - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1."""
    input, weight = as_tensor(input), as_tensor(weight)
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    pad, out_pad = pair(padding, "padding"), pair(output_padding, "output_padding")
    _check_conv("conv_transpose2d", input.shape, weight.shape, groups, stride, dilation,
                transposed=True)
    if any(op >= max(s, d) for op, s, d in zip(out_pad, stride, dilation)):
        raise ValueError(f"conv_transpose2d: output_padding {out_pad} must be smaller than "
                         f"stride {stride} or dilation {dilation}")
    if min(pad) < 0:
        raise ValueError(f"conv_transpose2d: padding must be non-negative, got {padding}")
    out_size = [transposed_conv_output_length(input.shape[2 + a], weight.shape[2 + a], stride[a],
                                              pad[a], dilation[a], out_pad[a]) for a in range(2)]
    if min(out_size) <= 0:
        raise ValueError(f"conv_transpose2d: input {input.shape[2]}x{input.shape[3]} with "
                         f"kernel {weight.shape[2]}x{weight.shape[3]}, padding {padding}, "
                         f"stride {stride} gives an empty output")
    out_channels = weight.shape[1] * groups
    if bias is not None and tuple(bias.shape) != (out_channels,):
        raise ValueError(f"conv_transpose2d: bias of shape {bias.shape} must have one entry per "
                         f"output channel ({out_channels})")
    out_shape = (input.shape[0], out_channels, *out_size)
    pads = ((pad[0], pad[0]), (pad[1], pad[1]))
    return ConvTranspose2dFunction.apply(input, weight, bias, stride, pads, dilation, groups, out_shape)


# ------------------------------------------------------------- the composed definitions
def conv2d_composed(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv2d composed of differentiable tensor ops, the executable definition the fused
    kernels are tested against: pad, stack every tap's strided view of the input
    (``window_taps``: cols[n, c, t, p] = xpad at tap t of output p), then one matrix product
    per group, y[n, o, p] = b[o] + sum over (c, t) of W[o, c, t] cols[n, c, t, p]."""
    input, weight = as_tensor(input), as_tensor(weight)
    stride, dilation = pair(stride, "stride"), pair(dilation, "dilation")
    kernel = weight.shape[2:]
    pads = conv_padding(padding, kernel, stride, dilation)
    out_size = tuple(conv_output_length(input.shape[2 + a], kernel[a], stride[a], sum(pads[a]),
                                        dilation[a]) for a in range(2))
    cols = window_taps(padded(input, pads), kernel, stride, dilation, out_size)
    n, out_channels = input.shape[0], weight.shape[0]
    cols = cols.reshape(n, groups, -1, out_size[0] * out_size[1])
    y = weight.reshape(groups, out_channels // groups, -1) @ cols
    y = y.reshape(n, out_channels, *out_size)
    return y if bias is None else y + as_tensor(bias).reshape(1, -1, 1, 1)


def conv_transpose2d_composed(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                              groups=1, dilation=1):
    """conv_transpose2d composed of differentiable ops, by the identity of Dumoulin and
    Visin's "guide to convolution arithmetic": spread the input out by s - 1 zeros between
    pixels, pad d (k - 1) - p zeros on each side (output_padding more at the end; a negative
    amount crops), and convolve with stride 1, dilation d and the kernel flipped, its input
    and output channels exchanged group by group."""
    input, weight = as_tensor(input), as_tensor(weight)
    (sh, sw), (dh, dw) = pair(stride, "stride"), pair(dilation, "dilation")
    (ph, pw), (oph, opw) = pair(padding, "padding"), pair(output_padding, "output_padding")
    kh, kw = weight.shape[2:]
    spread = _insert_zeros(_insert_zeros(input, sh, axis=2), sw, axis=3)
    eh, ew = dh * (kh - 1) - ph, dw * (kw - 1) - pw
    x = padded(spread, ((eh, eh + oph), (ew, ew + opw)))
    return conv2d_composed(x, _transposed_kernel(weight, groups), bias, 1, 0, (dh, dw), groups)


def _insert_zeros(x, step, axis):
    """s - 1 zeros between neighbours along ``axis``: length n becomes (n - 1) s + 1."""
    if step == 1:
        return x
    spread = stack([x] + [zeros_like(x)] * (step - 1), axis=axis + 1)
    shape = list(x.shape)
    shape[axis] *= step
    keep = (x.shape[axis] - 1) * step + 1
    return spread.reshape(shape)[(slice(None),) * axis + (slice(0, keep),)]


def _transposed_kernel(weight, groups):
    """(Cin, Cout/g, kh, kw) -> (Cout, Cin/g, kh, kw): in and out exchanged within each
    group, the taps flipped (the adjoint of a correlation is a correlation with the flipped
    kernel)."""
    per_group = weight.shape[0] // groups
    blocks = [weight[g * per_group:(g + 1) * per_group].permute(1, 0, 2, 3)[:, :, ::-1, ::-1]
              for g in range(groups)]
    return concatenate(blocks, axis=0)
