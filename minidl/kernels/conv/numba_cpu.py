"""Numba convolution kernels: compiled, parallel im2col/col2im around OpenBLAS GEMMs, and
direct kernels for depthwise convolution (groups == in_channels, MobileNet).

Same signatures and results as ``.reference``. Internally the input is turned into
channel-major layout xc (C, N, H, W) once, so that the im2col rows of one channel and tap,
over a chunk of samples, are one contiguous block:

    cols[(c, i, j), b*P + p] = xc[c, b, oh*sh - ph + i*dh, ow*sw - pw + j*dw]   (0 outside)

    forward        Y (O, nb*P)  = W (O, CK) @ cols (CK, nb*P)      -> y[chunk] (NCHW)
    input grad     gcols        = W^T (CK, O) @ G (O, nb*P)         -> col2im -> gx[chunk]
    weight grad    gW (O, CK)  += G (O, nb*P) @ cols^T              (one GEMM per chunk)

Three ways to fill cols, fastest first:

* 1x1, stride 1, no padding: cols *is* xc (a view; no copy at all). With large planes
  (P >= POINTWISE_PLANE) such a convolution skips the channel-major layout altogether:
  one GEMM per sample, y[b] = W @ x[b], as the transposes to and from (C, N, H, W) would
  cost more memory traffic than the GEMMs save by being one;
* shifted copies, when the output is the input divided by the stride s (3x3 padding 1 at
  stride 1 or 2, 1x1 at stride 2, ResNet's 7x7 stride-2 stem, ...): split xc into its s*s
  phases X_ab[y, x] = xc[s*y + a, s*x + b] (for s = 1, xc itself), each the size of the
  output. Tap (i, j) reads phase ((i*dh - ph) mod s, (j*dw - pw) mod s) shifted by
  ((i*dh - ph) // s, (j*dw - pw) // s), so its row of cols is the phase's whole block of the
  chunk shifted by one offset: one long copy, after which the few positions whose source is
  outside the image (they wrapped onto a neighbouring row or sample) are set to zero;
* anything else: row by row.

col2im is the adjoint: each task owns a whole channel of the gradient and adds its taps
into it in a fixed order, so no two threads write the same pixel and repeated backward
passes give identical bits.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from ...geometry import conv_output_length

__all__ = ["conv2d_backward_input", "conv2d_backward_weight", "conv2d_forward"]

CHUNK_BYTES = 8 * 2 ** 20  # cap on the im2col buffer of one chunk of samples
POINTWISE_PLANE = 256      # output pixels from which 1x1 convolutions go sample by sample


# ----------------------------------------------------------------------------- helpers
@njit(inline="always")
def _valid_range(offset, size, stride, out):
    """Outputs o in [lo, hi) whose tap reads a real pixel: 0 <= o*stride + offset < size."""
    lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    hi = min(out, (size - offset + stride - 1) // stride) if offset < size else 0
    return lo, max(lo, hi)


@njit(inline="always")
def _overlap(shift, size):
    """Positions p in [lo, hi) of a line of ``size`` whose source p + shift is on the line
    (clamped, so a shift longer than the line gives the empty range)."""
    lo = min(size, max(0, -shift))
    return lo, max(lo, min(size, size - shift))


@njit(inline="always")
def _clear_outside(row, nb, h, w, di, dj):
    """Zero the positions of a shifted row whose source (y + di, x + dj) is not in the
    image: the first or last |di| rows and |dj| columns of every sample's plane (scalar
    stores: these runs are a pixel or two long)."""
    plane = h * w
    top, bottom = _overlap(di, h)
    left, right = _overlap(dj, w)
    for b in range(nb):
        start = b * plane
        for k in range(start, start + top * w):
            row[k] = 0
        for k in range(start + bottom * w, start + plane):
            row[k] = 0
        if left == 0 and right == w:
            continue
        for y in range(top, bottom):
            line = start + y * w
            for x in range(left):
                row[line + x] = 0
            for x in range(right, w):
                row[line + x] = 0


@njit(inline="always")
def _accumulate(dst, src):
    """dst += src elementwise (an explicit loop over two views with one index vectorises;
    a slice expression with two different offsets does not)."""
    for k in range(dst.size):
        dst[k] += src[k]


@njit(parallel=True, cache=True)
def _im2col_shifted(phases, cols, first, nb, tap_phase, tap_di, tap_dj):
    """Rows of cols for samples first..first+nb from phases (S, C, N, h, w), where (h, w) is
    the output size: one shifted copy of a phase block per (channel, tap)."""
    count, c, n, h, w = phases.shape
    flat = phases.reshape(count, c, n * h * w)
    length = nb * h * w
    taps = tap_phase.size
    for row in prange(c * taps):
        ch, t = row // taps, row % taps
        di, dj = tap_di[t], tap_dj[t]
        shift = di * w + dj
        src = flat[tap_phase[t], ch, first * h * w:first * h * w + length]
        dst = cols[row]
        lo, hi = _overlap(shift, length)
        dst[:lo] = 0
        dst[lo:hi] = src[lo + shift:hi + shift]
        dst[hi:] = 0
        _clear_outside(dst, nb, h, w, di, dj)


@njit(parallel=True, cache=True)
def _col2im_shifted(cols, grad_phases, tap_phase, tap_di, tap_dj):
    """The adjoint of _im2col_shifted into grad_phases (S, C, nb, h, w): per channel, the
    masked rows of its taps added back at their shifts, in tap order. Clobbers the masked
    entries of cols."""
    count, c, nb, h, w = grad_phases.shape
    length = nb * h * w
    taps = tap_phase.size
    flat = grad_phases.reshape(count, c, length)
    for ch in prange(c):
        for phase in range(count):
            flat[phase, ch, :] = 0
        for t in range(taps):
            di, dj = tap_di[t], tap_dj[t]
            shift = di * w + dj
            row = cols[ch * taps + t]
            _clear_outside(row, nb, h, w, di, dj)
            lo, hi = _overlap(shift, length)
            _accumulate(flat[tap_phase[t], ch, lo + shift:hi + shift], row[lo:hi])


@njit(parallel=True, cache=True)
def _im2col_rows(xc, cols, first, nb, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """The general case, one output row at a time, for samples first..first+nb of xc.
    (Flat indices are unsigned, so Numba skips its negative-index check and the row
    copies vectorise.)"""
    c, n, h, w = xc.shape
    taps = kh * kw
    plane = out_h * out_w
    width = nb * plane
    xf, cf = xc.reshape(-1), cols.reshape(-1)
    for task in prange(c * taps * nb):
        row, b = task // nb, task % nb
        ch, i, j = row // taps, (row % taps) // kw, row % kw
        x0 = (ch * n + first + b) * h * w
        col_offset = j * dw - pw
        lo, hi = _valid_range(col_offset, w, sw, out_w)
        for oh in range(out_h):
            d = uint64(row * width + b * plane + oh * out_w)
            r = oh * sh - ph + i * dh
            if r < 0 or r >= h:
                for q in range(uint64(out_w)):
                    cf[d + q] = 0
                continue
            for q in range(uint64(lo)):
                cf[d + q] = 0
            s = uint64(x0 + r * w + lo * sw + col_offset)
            step = uint64(sw)
            for q in range(uint64(hi - lo)):
                cf[d + uint64(lo) + q] = xf[s + q * step]
            for q in range(uint64(hi), uint64(out_w)):
                cf[d + q] = 0


@njit(parallel=True, cache=True)
def _col2im_rows(cols, gxc, kh, kw, sh, sw, ph, pw, dh, dw, out_h, out_w):
    """The adjoint of _im2col_rows into gxc (C, nb, H, W): one (channel, sample) plane per
    task, its taps added in a fixed order."""
    c, nb, h, w = gxc.shape
    taps = kh * kw
    plane = out_h * out_w
    width = nb * plane
    cf, gf = cols.reshape(-1), gxc.reshape(-1)
    for task in prange(c * nb):
        ch, b = task // nb, task % nb
        x0 = task * h * w
        gf[x0:x0 + h * w] = 0
        for t in range(taps):
            i, j = t // kw, t % kw
            col_offset = j * dw - pw
            lo, hi = _valid_range(col_offset, w, sw, out_w)
            for oh in range(out_h):
                r = oh * sh - ph + i * dh
                if 0 <= r < h:
                    d = uint64((ch * taps + t) * width + b * plane + oh * out_w + lo)
                    s = uint64(x0 + r * w + lo * sw + col_offset)
                    step = uint64(sw)
                    for q in range(uint64(hi - lo)):
                        gf[s + q * step] += cf[d + q]


# ----------------------------------------------------------------------------- layout
class _Geometry:
    """Sizes of one convolution and which way of filling cols it takes."""

    def __init__(self, x_shape, weight_shape, stride, padding, dilation, groups, out_size=None):
        self.n, self.c, self.h, self.w = x_shape
        self.o, self.cg, self.kh, self.kw = weight_shape
        self.groups = groups
        self.stride, self.dilation = stride, dilation
        self.ph, self.pw = padding[0][0], padding[1][0]
        self.out_h, self.out_w = out_size or (
            conv_output_length(self.h, self.kh, stride[0], sum(padding[0]), dilation[0]),
            conv_output_length(self.w, self.kw, stride[1], sum(padding[1]), dilation[1]))
        self.plane = self.out_h * self.out_w
        self.rows = self.c * self.kh * self.kw
        sh, sw = stride
        self.shifted = sh == sw and (self.out_h * sh, self.out_w * sw) == (self.h, self.w)
        self.view = self.shifted and sh == 1 and self.kh == self.kw == 1 and self.ph == self.pw == 0
        if self.shifted:
            self.taps = self._tap_table()

    def _tap_table(self):
        """Per tap (i, j): which of the used phases it reads, and its shift (di, dj) there.

        Phase (a, b) holds the pixels (s*y + a, s*x + b); only the phases some tap reads are
        kept (a 1x1 stride-2 convolution reads one of four), listed in ``self.used``.
        """
        s = self.stride[0]
        rows = [i * self.dilation[0] - self.ph for i in range(self.kh)]
        cols = [j * self.dilation[1] - self.pw for j in range(self.kw)]
        phase = [(r % s, q % s) for r in rows for q in cols]
        self.used = sorted(set(phase))
        index = np.array([self.used.index(p) for p in phase], np.int64)
        di = np.array([r // s for r in rows for q in cols], np.int64)
        dj = np.array([q // s for r in rows for q in cols], np.int64)
        return index, di, dj

    def chunk(self, itemsize):
        """Samples per chunk: as many as fit in CHUNK_BYTES of im2col buffer (at least one)."""
        if self.view:
            return self.n
        return min(self.n, max(1, CHUNK_BYTES // max(1, self.rows * self.plane * itemsize)))

    def phases(self, xc):
        """(used phases, C, N, H/s, W/s): the phase planes of xc (for stride 1, xc itself)."""
        s = self.stride[0]
        if s == 1:
            return xc[None]
        split = xc.reshape(self.c, self.n, self.out_h, s, self.out_w, s)
        return np.stack([split[:, :, :, a, :, b] for a, b in self.used])

    def columns(self, source, first, nb):
        """cols (C*kh*kw, nb*P) of samples first..first+nb; ``source`` is xc, or its phases
        when ``shifted``."""
        if self.view:
            return source[0, :, first:first + nb].reshape(self.c, nb * self.plane)
        cols = np.empty((self.rows, nb * self.plane), source.dtype)
        if self.shifted:
            _im2col_shifted(source, cols, first, nb, *self.taps)
        else:
            _im2col_rows(source, cols, first, nb, self.kh, self.kw, *self.stride, self.ph,
                         self.pw, *self.dilation, self.out_h, self.out_w)
        return cols

    def source(self, x):
        """What ``columns`` reads: the channel-major input, split into phases if shifted."""
        xc = _channel_major(x)
        return self.phases(xc) if self.shifted else xc

    def add_back(self, gcols, nb, dtype):
        """col2im: the (C, nb, H, W) gradient of the input from gcols (C*kh*kw, nb*P)."""
        if self.view:
            return gcols.reshape(self.c, nb, self.h, self.w)
        if not self.shifted:
            gxc = np.empty((self.c, nb, self.h, self.w), dtype)
            _col2im_rows(gcols, gxc, self.kh, self.kw, *self.stride, self.ph, self.pw,
                         *self.dilation, self.out_h, self.out_w)
            return gxc
        s = self.stride[0]
        grad_phases = np.empty((len(self.used), self.c, nb, self.out_h, self.out_w), dtype)
        _col2im_shifted(gcols, grad_phases, *self.taps)
        if s == 1:
            return grad_phases[0]
        gxc = np.zeros((self.c, nb, self.out_h, s, self.out_w, s), dtype)
        for k, (a, b) in enumerate(self.used):
            gxc[:, :, :, a, :, b] = grad_phases[k]
        return gxc.reshape(self.c, nb, self.h, self.w)

    @property
    def per_sample(self):
        """A plain 1x1 convolution over large planes: GEMMs per sample in NCHW."""
        return self.view and self.groups == 1 and self.plane >= POINTWISE_PLANE

    def grouped(self, a):
        """(rows, cols) -> (groups, rows / groups, cols)."""
        return a.reshape(self.groups, a.shape[0] // self.groups, a.shape[1])


def _channel_major(a):
    """(N, C, H, W) -> contiguous (C, N, H, W)."""
    return np.ascontiguousarray(np.asarray(a).transpose(1, 0, 2, 3))


def _is_depthwise(x_shape, weight_shape, groups):
    return groups > 1 and groups == x_shape[1] and weight_shape[1] == 1


# ----------------------------------------------------------------------------- kernels
def conv2d_forward(x, weight, bias, stride, padding, dilation, groups):
    """y = conv(x, W) + b, chunk by chunk: im2col, one (grouped) GEMM, back to NCHW."""
    if _is_depthwise(x.shape, weight.shape, groups):
        return _depthwise_forward(np.ascontiguousarray(x), weight, bias, stride, padding, dilation)
    g = _Geometry(x.shape, weight.shape, stride, padding, dilation, groups)
    if g.per_sample:
        return _pointwise_forward(x, weight, bias, g)
    source = g.source(x)
    w_groups = g.grouped(np.ascontiguousarray(weight).reshape(g.o, -1))
    y = np.empty((g.n, g.o, g.out_h, g.out_w), x.dtype)
    nb = g.chunk(x.itemsize)
    for first in range(0, g.n, nb):
        size = min(nb, g.n - first)
        product = np.matmul(w_groups, g.grouped(g.columns(source, first, size)))
        y[first:first + size] = product.reshape(g.o, size, g.out_h, g.out_w).transpose(1, 0, 2, 3)
    if bias is not None:
        y += bias.reshape(1, g.o, 1, 1)
    return y


def conv2d_backward_input(grad_y, weight, x_shape, stride, padding, dilation, groups):
    """dL/dx = col2im(W^T G), chunk by chunk."""
    if _is_depthwise(x_shape, weight.shape, groups):
        return _depthwise_backward_input(np.ascontiguousarray(grad_y), weight, x_shape, stride,
                                         padding, dilation)
    g = _Geometry(x_shape, weight.shape, stride, padding, dilation, groups, grad_y.shape[2:])
    if g.per_sample:
        return _pointwise_backward_input(grad_y, weight, g)
    gyc = _channel_major(grad_y).reshape(g.o, -1)
    w_t = np.ascontiguousarray(
        g.grouped(np.asarray(weight).reshape(g.o, -1)).transpose(0, 2, 1))
    grad_x = np.empty(x_shape, grad_y.dtype)
    nb = g.chunk(grad_y.itemsize)
    for first in range(0, g.n, nb):
        size = min(nb, g.n - first)
        part = g.grouped(gyc[:, first * g.plane:(first + size) * g.plane])
        gcols = np.matmul(w_t, part).reshape(g.rows, size * g.plane)
        grad_x[first:first + size] = g.add_back(gcols, size, grad_y.dtype).transpose(1, 0, 2, 3)
    return grad_x


def conv2d_backward_weight(x, grad_y, weight_shape, stride, padding, dilation, groups):
    """dL/dW = sum over chunks of G @ cols^T."""
    if _is_depthwise(x.shape, weight_shape, groups):
        return _depthwise_backward_weight(np.ascontiguousarray(x), np.ascontiguousarray(grad_y),
                                          weight_shape, stride, padding, dilation)
    g = _Geometry(x.shape, weight_shape, stride, padding, dilation, groups, grad_y.shape[2:])
    if g.per_sample:
        return _pointwise_backward_weight(x, grad_y, weight_shape, g)
    source = g.source(x)
    gyc = _channel_major(grad_y).reshape(g.o, -1)
    grad_w = np.zeros((groups, g.o // groups, g.rows // groups), x.dtype)
    nb = g.chunk(x.itemsize)
    for first in range(0, g.n, nb):
        size = min(nb, g.n - first)
        part = g.grouped(gyc[:, first * g.plane:(first + size) * g.plane])
        grad_w += np.matmul(part, g.grouped(g.columns(source, first, size)).transpose(0, 2, 1))
    return grad_w.reshape(weight_shape)


# ----------------------------------------------------------------------------- pointwise
def _pointwise_forward(x, weight, bias, g):
    """y[b] = W (O, C) @ x[b] (C, P) + bias, one GEMM per sample."""
    y = np.matmul(np.asarray(weight).reshape(g.o, g.c), np.asarray(x).reshape(g.n, g.c, g.plane))
    if bias is not None:
        y += bias.reshape(1, g.o, 1)
    return y.reshape(g.n, g.o, g.out_h, g.out_w)


def _pointwise_backward_input(grad_y, weight, g):
    """dL/dx[b] = W^T (C, O) @ G[b] (O, P)."""
    w_t = np.ascontiguousarray(np.asarray(weight).reshape(g.o, g.c).T)
    grad_x = np.matmul(w_t, np.asarray(grad_y).reshape(g.n, g.o, g.plane))
    return grad_x.reshape(g.n, g.c, g.h, g.w)


def _pointwise_backward_weight(x, grad_y, weight_shape, g):
    """dL/dW = sum over samples b of G[b] (O, P) @ x[b]^T (P, C), added in sample order."""
    per_sample = np.matmul(np.asarray(grad_y).reshape(g.n, g.o, g.plane),
                           np.asarray(x).reshape(g.n, g.c, g.plane).transpose(0, 2, 1))
    return per_sample.sum(axis=0).reshape(weight_shape)


# ----------------------------------------------------------------------------- depthwise
# Flat indices are built as unsigned integers: Numba then skips its check for negative
# indices (which wrap around in Python), and the row loops vectorise.
@njit(parallel=True, cache=True)
def _depthwise_forward_kernel(x, weight, y, sh, sw, ph, pw, dh, dw):
    """y[n, o] = sum over taps of weight[o, 0, i, j] * x[n, o // m] shifted, m = O / C:
    one output plane per task, a tap at a time, row by row."""
    n, c, h, w = x.shape
    o, _, kh, kw = weight.shape
    out_h, out_w = y.shape[2], y.shape[3]
    m = o // c
    xf, yf = x.reshape(-1), y.reshape(-1)
    for task in prange(n * o):
        b, oc = task // o, task % o
        y0, x0 = task * out_h * out_w, (b * c + oc // m) * h * w
        yf[y0:y0 + out_h * out_w] = 0
        for i in range(kh):
            for j in range(kw):
                k = weight[oc, 0, i, j]
                col_offset = j * dw - pw
                lo, hi = _valid_range(col_offset, w, sw, out_w)
                for oh in range(out_h):
                    r = oh * sh - ph + i * dh
                    if 0 <= r < h:
                        d = uint64(y0 + oh * out_w + lo)
                        s = uint64(x0 + r * w + lo * sw + col_offset)
                        step = uint64(sw)
                        for q in range(uint64(hi - lo)):
                            yf[d + q] += k * xf[s + q * step]


@njit(parallel=True, cache=True)
def _depthwise_backward_input_kernel(grad_y, weight, grad_x, sh, sw, ph, pw, dh, dw):
    """grad_x[n, c] = sum over the m outputs of channel c and their taps of weight * g,
    added into the pixel each tap read: one (sample, channel) plane per task, fixed order."""
    n, c, h, w = grad_x.shape
    o, _, kh, kw = weight.shape
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    m = o // c
    gyf, gxf = grad_y.reshape(-1), grad_x.reshape(-1)
    for task in prange(n * c):
        b, ch = task // c, task % c
        x0 = task * h * w
        gxf[x0:x0 + h * w] = 0
        for oc in range(ch * m, (ch + 1) * m):
            y0 = (b * o + oc) * out_h * out_w
            for i in range(kh):
                for j in range(kw):
                    k = weight[oc, 0, i, j]
                    col_offset = j * dw - pw
                    lo, hi = _valid_range(col_offset, w, sw, out_w)
                    for oh in range(out_h):
                        r = oh * sh - ph + i * dh
                        if 0 <= r < h:
                            d = uint64(y0 + oh * out_w + lo)
                            s = uint64(x0 + r * w + lo * sw + col_offset)
                            step = uint64(sw)
                            for q in range(uint64(hi - lo)):
                                gxf[s + q * step] += k * gyf[d + q]


@njit(parallel=True, cache=True, fastmath={"reassoc", "contract", "nsz"})
def _depthwise_backward_weight_kernel(x, grad_y, grad_w, sh, sw, ph, pw, dh, dw):
    """grad_w[o, 0, i, j] = sum over samples and outputs of g * the pixel tap (i, j) read."""
    n, c, h, w = x.shape
    o, _, kh, kw = grad_w.shape
    out_h, out_w = grad_y.shape[2], grad_y.shape[3]
    m = o // c
    xf, gyf = x.reshape(-1), grad_y.reshape(-1)
    for task in prange(o * kh * kw):
        oc, i, j = task // (kh * kw), (task % (kh * kw)) // kw, task % kw
        col_offset = j * dw - pw
        lo, hi = _valid_range(col_offset, w, sw, out_w)
        total = 0.0
        for b in range(n):
            y0, x0 = (b * o + oc) * out_h * out_w, (b * c + oc // m) * h * w
            for oh in range(out_h):
                r = oh * sh - ph + i * dh
                if 0 <= r < h:
                    d = uint64(y0 + oh * out_w + lo)
                    s = uint64(x0 + r * w + lo * sw + col_offset)
                    step = uint64(sw)
                    for q in range(uint64(hi - lo)):
                        total += gyf[d + q] * xf[s + q * step]
        grad_w[oc, 0, i, j] = total


def _depthwise_args(stride, padding, dilation):
    return (*stride, padding[0][0], padding[1][0], *dilation)


def _depthwise_forward(x, weight, bias, stride, padding, dilation):
    o, _, kh, kw = weight.shape
    out_h = conv_output_length(x.shape[2], kh, stride[0], sum(padding[0]), dilation[0])
    out_w = conv_output_length(x.shape[3], kw, stride[1], sum(padding[1]), dilation[1])
    y = np.empty((x.shape[0], o, out_h, out_w), x.dtype)
    _depthwise_forward_kernel(x, np.ascontiguousarray(weight), y,
                              *_depthwise_args(stride, padding, dilation))
    if bias is not None:
        y += bias.reshape(1, o, 1, 1)
    return y


def _depthwise_backward_input(grad_y, weight, x_shape, stride, padding, dilation):
    grad_x = np.empty(x_shape, grad_y.dtype)
    _depthwise_backward_input_kernel(grad_y, np.ascontiguousarray(weight), grad_x,
                                     *_depthwise_args(stride, padding, dilation))
    return grad_x


def _depthwise_backward_weight(x, grad_y, weight_shape, stride, padding, dilation):
    grad_w = np.empty(weight_shape, x.dtype)
    _depthwise_backward_weight_kernel(x, grad_y, grad_w,
                                      *_depthwise_args(stride, padding, dilation))
    return grad_w
