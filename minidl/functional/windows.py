"""The building block of the composed definitions of window ops: every kernel tap's view
of the input, stacked ("im2col" written with differentiable tensor ops).

A window op (convolution, pooling) reads, for output pixel (oh, ow) and kernel tap (i, j),
the padded input pixel (oh s_h + i d_h, ow s_w + j d_w). For one tap and all outputs that
is a strided slice of the padded input; stacking the slices of the kh kw taps gives a
tensor T with T[n, c, t, oh, ow] = xpad[n, c, oh s_h + i d_h, ow s_w + j d_w], t = i kw + j.
Every window op is then a reduction over t: a weighted sum (convolution), a max (max
pooling), a mean (average pooling). Because the slices and the stack are ordinary
differentiable ops, the composition's backward is automatic; the fused Functions are tested
against these compositions, and gradients of gradients can go through them.
"""
from __future__ import annotations

from ..autograd.functions import pad, stack


def padded(x, pads, value=0.0):
    """``x`` (N, C, H, W) padded by pads = ((top, bottom), (left, right)); a negative amount
    crops that side instead."""
    (top, bottom), (left, right) = pads
    x = pad(x, ((0, 0), (0, 0), (max(top, 0), max(bottom, 0)), (max(left, 0), max(right, 0))),
            value)
    h, w = x.shape[2:]
    return x[:, :, max(-top, 0):h - max(-bottom, 0), max(-left, 0):w - max(-right, 0)]


def window_taps(xpad, kernel, stride, dilation, out_size):
    """T[n, c, t, oh, ow] = xpad[n, c, oh s_h + i d_h, ow s_w + j d_w] for t = i kw + j:
    each tap's strided view of the padded input, stacked on axis 2."""
    (kh, kw), (sh, sw), (dh, dw), (oh, ow) = kernel, stride, dilation, out_size
    taps = [xpad[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            for i in range(kh) for j in range(kw)]
    return stack(taps, axis=2)


__all__ = ["padded", "window_taps"]
