"""Independent definitions of the window and normalisation ops, one multiply-add (or one
comparison) at a time, in plain Python and NumPy: the oracles of the op table and of the
kernel tests. Nothing here shares code with minidl."""
from __future__ import annotations

import math

import numpy as np


def naive_conv2d(x, w, b, stride, padding, dilation, groups):
    """The definition, one multiply-add at a time."""
    n_batch, _, h, wd = x.shape
    out_c, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh_n = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow_n = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n_batch, out_c, oh_n, ow_n))
    per_group = out_c // groups
    for n in range(n_batch):
        for o in range(out_c):
            g = o // per_group
            for oh in range(oh_n):
                for ow in range(ow_n):
                    total = 0.0 if b is None else b[o]
                    for c in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                total += (w[o, c, i, j]
                                          * xpad[n, g * cg + c, oh * sh + i * dh, ow * sw + j * dw])
                    y[n, o, oh, ow] = total
    return y


def naive_conv_transpose2d(x, w, b, stride, padding, output_padding, dilation, groups, out_size):
    """Every input pixel scatters its kernel-weighted copy into the output."""
    n_batch, in_c, h, wd = x.shape
    _, og, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    y = np.zeros((n_batch, og * groups, *out_size))
    cg = in_c // groups
    for n in range(n_batch):
        for c in range(in_c):
            g = c // cg
            for ih in range(h):
                for iw in range(wd):
                    for o in range(og):
                        for i in range(kh):
                            for j in range(kw):
                                oh, ow = ih * sh - ph + i * dh, iw * sw - pw + j * dw
                                if 0 <= oh < out_size[0] and 0 <= ow < out_size[1]:
                                    y[n, g * og + o, oh, ow] += x[n, c, ih, iw] * w[c, o, i, j]
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def naive_output_length(n, k, s, p, d, ceil_mode):
    """floor or ceil of (n + 2p - d(k-1) - 1) / s, plus 1; in ceil mode a last window that
    starts beyond the input and the left padding is dropped."""
    span = (n + 2 * p - d * (k - 1) - 1) / s
    out = (math.ceil(span) if ceil_mode else math.floor(span)) + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def naive_max_pool2d(x, kernel, stride, padding, dilation, ceil_mode):
    """Every window, pixel by pixel: the largest real pixel and its flat index (the first in
    scan order); a window of padding only gives -inf and -1."""
    n_batch, channels, h, w = x.shape
    oh_n, ow_n = (naive_output_length(*a, ceil_mode) for a in
                  zip((h, w), kernel, stride, padding, dilation))
    y = np.full((n_batch, channels, oh_n, ow_n), -np.inf)
    idx = np.full(y.shape, -1, dtype=np.int64)
    for n in range(n_batch):
        for c in range(channels):
            for oh in range(oh_n):
                for ow in range(ow_n):
                    for i in range(kernel[0]):
                        for j in range(kernel[1]):
                            r = oh * stride[0] - padding[0] + i * dilation[0]
                            q = ow * stride[1] - padding[1] + j * dilation[1]
                            if 0 <= r < h and 0 <= q < w and (idx[n, c, oh, ow] < 0 or
                                                              x[n, c, r, q] > y[n, c, oh, ow]):
                                y[n, c, oh, ow], idx[n, c, oh, ow] = x[n, c, r, q], r * w + q
    return y, idx


def naive_avg_pool2d(x, kernel, stride, padding, ceil_mode, count_include_pad,
                     divisor_override):
    """Every window: the sum of its real pixels over the divisor PyTorch uses (the window
    clipped to the padded input, or to the real input, or divisor_override)."""
    n_batch, channels, h, w = x.shape
    oh_n, ow_n = (naive_output_length(*a, 1, ceil_mode) for a in
                  zip((h, w), kernel, stride, padding))
    y = np.zeros((n_batch, channels, oh_n, ow_n))
    for oh in range(oh_n):
        for ow in range(ow_n):
            r0, q0 = oh * stride[0] - padding[0], ow * stride[1] - padding[1]
            r1, q1 = min(r0 + kernel[0], h + padding[0]), min(q0 + kernel[1], w + padding[1])
            padded_count = (r1 - r0) * (q1 - q0)
            r0, q0, r1, q1 = max(r0, 0), max(q0, 0), min(r1, h), min(q1, w)
            real_count = (r1 - r0) * (q1 - q0)
            divisor = divisor_override or (padded_count if count_include_pad else real_count)
            y[:, :, oh, ow] = x[:, :, r0:r1, q0:q1].sum(axis=(2, 3)) / divisor
    return y


def naive_bin(i, size, out):
    return range(math.floor(i * size / out), math.ceil((i + 1) * size / out))


def naive_adaptive_pool2d(x, out_size, kind):
    """Every bin [floor(i*H/OH), ceil((i+1)*H/OH)) x (the same for columns): its mean, or its
    max and the max's flat index (first in scan order)."""
    n_batch, channels, h, w = x.shape
    y = np.zeros((n_batch, channels, *out_size))
    idx = np.zeros(y.shape, dtype=np.int64)
    for n in range(n_batch):
        for c in range(channels):
            for i in range(out_size[0]):
                for j in range(out_size[1]):
                    cells = [(r, q) for r in naive_bin(i, h, out_size[0])
                             for q in naive_bin(j, w, out_size[1])]
                    values = [x[n, c, r, q] for r, q in cells]
                    if kind == "avg":
                        y[n, c, i, j] = sum(values) / len(values)
                    else:
                        best = int(np.argmax(values))
                        y[n, c, i, j] = values[best]
                        idx[n, c, i, j] = cells[best][0] * w + cells[best][1]
    return y, idx


def naive_max_unpool2d(x, indices, out_size):
    y = np.zeros((*x.shape[:2], out_size[0] * out_size[1]))
    for n, c, r, q in np.ndindex(*x.shape):
        y[n, c, indices[n, c, r, q]] = x[n, c, r, q]
    return y.reshape(*x.shape[:2], *out_size)


def naive_batch_norm(x, weight, bias, eps, running=None):
    """Channel by channel with Python sums: batch statistics, or the given (mean, var)."""
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        values = x[:, c]
        if running is None:
            flat = [float(v) for v in values.ravel()]
            mean = math.fsum(flat) / len(flat)
            var = math.fsum((v - mean) ** 2 for v in flat) / len(flat)
        else:
            mean, var = running[0][c], running[1][c]
        y[:, c] = (values - mean) / math.sqrt(var + eps)
        if weight is not None:
            y[:, c] = y[:, c] * weight[c] + bias[c]
    return y


def naive_local_response_norm(x, size, alpha, beta, k):
    """PyTorch's definition, one channel and one window position at a time."""
    y = np.empty_like(x)
    channels = x.shape[1]
    for c in range(channels):
        total = np.zeros_like(x[:, c])
        for j in range(c - size // 2, c + (size - 1) // 2 + 1):
            if 0 <= j < channels:
                total += x[:, j] ** 2
        y[:, c] = x[:, c] / (k + alpha / size * total) ** beta
    return y


def naive_taps(o, n_in, n_out, mode, align_corners, scale_factor):
    """PyTorch's rule for output o of one axis, one scalar at a time: [(input, weight)]."""
    if mode == "nearest":
        if n_out == n_in:
            return [(o, 1.0)]
        if n_out == 2 * n_in:
            return [(o // 2, 1.0)]
        # float32 arithmetic, as PyTorch does for this mode
        s = np.float32(1 / scale_factor) if scale_factor else np.float32(n_in) / np.float32(n_out)
        return [(min(math.floor(np.float32(o) * s), n_in - 1), 1.0)]
    if n_out == n_in:
        return [(o, 1.0)]
    if align_corners:
        src = o * (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        s = 1 / scale_factor if scale_factor else n_in / n_out
        src = max((o + 0.5) * s - 0.5, 0.0)
    i0 = min(math.floor(src), n_in - 1)
    lam = min(max(src - i0, 0.0), 1.0)
    return [(i0, 1 - lam), (min(i0 + 1, n_in - 1), lam)]


def naive_interpolate(x, out_size, mode, align_corners, scales=(None, None)):
    """y[:, :, i, j] = sum of weight_a * weight_b * x[:, :, a, b] over the taps of i and j."""
    n, c, h, w = x.shape
    y = np.zeros((n, c, *out_size))
    for i in range(out_size[0]):
        for j in range(out_size[1]):
            for a, wa in naive_taps(i, h, out_size[0], mode, align_corners, scales[0]):
                for b, wb in naive_taps(j, w, out_size[1], mode, align_corners, scales[1]):
                    y[:, :, i, j] += wa * wb * x[:, :, a, b]
    return y


def naive_channel_shuffle(x, groups):
    """Output channel k*g + j is input channel j*m + k (m = C / g channels per group)."""
    y = np.empty_like(x)
    m = x.shape[1] // groups
    for j in range(groups):
        for k in range(m):
            y[:, k * groups + j] = x[:, j * m + k]
    return y


def naive_unshared(x, kernel_at, bias_at, out_size, stride, padding, dilation):
    """y[:, :, oh, ow] = bias_at(oh, ow) + sum over taps (i, j) of
    kernel_at(oh, ow)[:, :, i, j] applied to the input pixel that tap reads."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h, out_w = out_size
    kernel = kernel_at(0, 0)
    y = np.zeros((x.shape[0], kernel.shape[0], out_h, out_w))
    for oh in range(out_h):
        for ow in range(out_w):
            w = kernel_at(oh, ow)
            for i in range(w.shape[2]):
                for j in range(w.shape[3]):
                    y[:, :, oh, ow] += xpad[:, :, oh * sh + i * dh, ow * sw + j * dw] @ w[:, :, i, j].T
            if bias_at is not None:
                y[:, :, oh, ow] += bias_at(oh, ow)
    return y
