"""Convolution versus cross-correlation, translation equivariance, and what pooling adds,
checked with ``F.conv2d`` and ``F.max_pool2d``.

What every framework's "conv" layer computes is the cross-correlation

    (x corr k)[i, j] = sum over m, n of x[i + m, j + n] k[m, n]

while the convolution of signal processing flips the kernel (full output, (H+kh-1) x (W+kw-1)):

    (x conv k)[i, j] = sum over m, n of x[m, n] k[i - m, j - n]

Substituting shows the two differ only by the flip: x conv k = (x padded by kh-1, kw-1) corr
flip(k), with flip(k)[m, n] = k[kh-1-m, kw-1-n]. Convolution is commutative (x conv k =
k conv x: substitute m -> i - m); correlation is not (k corr x is x corr k flipped).

Both are translation equivariant (Goodfellow et al., Deep Learning, Sec. 9.2): for a shift
T, f(T x) = T f(x), here checked on an image whose content stays away from the border. They
are not equivariant to rotation or scaling R: f(R x) != R f(x) in general (rotating the
kernel with the image restores rotation equivariance). Pooling over a window makes the
representation approximately invariant to small shifts (Sec. 9.3): most pooled maxima stay
in their window when the input moves by one pixel; that is measured below.

Integer images and kernels make the identities exact.

Run:  python examples/conv_vs_correlation.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F

IMAGE = np.array([[3, 0, 1, 2, 7], [1, 5, 8, 9, 3], [2, 7, 2, 5, 1],
                  [0, 1, 3, 1, 7], [4, 2, 1, 6, 2]], dtype=np.float64)
KERNEL = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)    # Sobel


def show(name, array):
    """Print a small integer array under a title."""
    print(f"{name}:")
    for row in np.atleast_2d(array):
        print("   " + " ".join(f"{v + 0:4.0f}" for v in row))


def true_convolution_by_hand(x, k):
    """(x conv k)[i, j] = sum over (m, n) of x[m, n] k[i - m, j - n], the full output."""
    out = np.zeros((x.shape[0] + k.shape[0] - 1, x.shape[1] + k.shape[1] - 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for m in range(x.shape[0]):
                for n in range(x.shape[1]):
                    if 0 <= i - m < k.shape[0] and 0 <= j - n < k.shape[1]:
                        out[i, j] += x[m, n] * k[i - m, j - n]
    return out


def correlate(x, k, padding):
    """minidl's conv2d (a cross-correlation) of one 2-D image with one 2-D kernel."""
    return F.conv2d(minidl.tensor(x[None, None]), minidl.tensor(k[None, None]),
                    padding=padding).numpy()[0, 0]


def check_flip_and_commutativity():
    """True convolution by hand = correlation with the flipped kernel; it commutes, correlation does not."""
    full = true_convolution_by_hand(IMAGE, KERNEL)
    show("image x (5x5)", IMAGE)
    show("kernel k (Sobel, 3x3)", KERNEL)
    show("true convolution x conv k by hand (7x7)", full)
    flipped = correlate(IMAGE, KERNEL[::-1, ::-1].copy(), padding=2)
    np.testing.assert_array_equal(flipped, full, err_msg="x conv k != x corr flip(k)")
    print("   = F.conv2d(x, flip(k), padding=2): convolution is correlation with the flipped kernel")
    swapped = correlate(KERNEL, IMAGE[::-1, ::-1].copy(), padding=4)
    np.testing.assert_array_equal(swapped, full, err_msg="k conv x != x conv k")
    np.testing.assert_array_equal(true_convolution_by_hand(KERNEL, IMAGE), full)
    print("   = k conv x (by hand, and as F.conv2d(k, flip(x), padding=4)): convolution commutes")
    x_corr_k, k_corr_x = correlate(IMAGE, KERNEL, 2), correlate(KERNEL, IMAGE, 4)
    np.testing.assert_array_equal(k_corr_x, x_corr_k[::-1, ::-1])
    np.testing.assert_(not np.array_equal(k_corr_x, x_corr_k), "correlation commuted")
    print("correlation does not commute: k corr x is x corr k rotated by 180 degrees\n")


def relative_difference(a, b):
    """|a - b| / |b| in the Frobenius norm."""
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def check_equivariance(rng):
    """f(T x) = T f(x) exactly for a shift T; not for a rotation or a scaling."""
    x = np.zeros((16, 16))
    x[4:12, 4:12] = rng.integers(-4, 5, (8, 8))          # content away from the border
    k = rng.integers(-3, 4, (3, 3)).astype(np.float64)
    f = lambda image, kernel=k: correlate(image, kernel, padding=1)
    shift = lambda image: np.roll(image, (2, 3), axis=(0, 1))
    np.testing.assert_array_equal(f(shift(x)), shift(f(x)), err_msg="f(Tx) != T f(x)")
    print("translation by (2, 3): f(T x) = T f(x) exactly (F.conv2d, padding 1, 16x16 image)")

    rotated = relative_difference(f(np.rot90(x)), np.rot90(f(x)))
    np.testing.assert_(rotated > 0.1, f"rotation looked equivariant ({rotated})")
    print(f"rotation by 90 degrees: |f(R x) - R f(x)| / |R f(x)| = {rotated:.2f}: not equivariant")
    np.testing.assert_array_equal(f(np.rot90(x), np.rot90(k).copy()), np.rot90(f(x)))
    print("   but rotating the kernel too gives f_Rk(R x) = R f_k(x) exactly")

    up = lambda image: image.repeat(2, axis=0).repeat(2, axis=1)
    scaled = relative_difference(f(up(x)), up(f(x)))
    np.testing.assert_(scaled > 0.1, f"scaling looked equivariant ({scaled})")
    print(f"scaling by 2 (nearest): |f(S x) - S f(x)| / |S f(x)| = {scaled:.2f}: not equivariant\n")


def smooth_image(rng, size=32, margin=4):
    """A random image blurred by a 3x3 box filter, zero within ``margin`` of the border."""
    x = np.zeros((size, size))
    x[margin:-margin, margin:-margin] = rng.integers(0, 10, (size - 2 * margin,) * 2)
    return correlate(x, np.ones((3, 3)), padding=1)


def measure_pooling_invariance(rng):
    """Relative change of ReLU conv features, before and after 4x4 max pooling, when the
    input moves by s pixels; pooling's change must be the smaller one for a 1-pixel shift."""
    x = smooth_image(rng)
    weight = minidl.tensor(rng.standard_normal((8, 1, 3, 3)))

    def features(image):
        return F.relu(F.conv2d(minidl.tensor(image[None, None]), weight, padding=1))

    base = features(x)
    base_pooled = F.max_pool2d(base, 4)
    print("shift s | feature change | pooled (4x4 max) change | pooled maxima unchanged")
    changes = {}
    for s in range(5):
        moved = features(np.roll(x, s, axis=1))
        pooled = F.max_pool2d(moved, 4)
        changes[s] = (relative_difference(moved.numpy(), base.numpy()),
                      relative_difference(pooled.numpy(), base_pooled.numpy()))
        same = float(np.mean(pooled.numpy() == base_pooled.numpy()))
        print(f"   {s}    |     {changes[s][0]:.3f}      |          {changes[s][1]:.3f}          "
              f"|        {same:.0%}")
    np.testing.assert_(changes[1][1] < changes[1][0], "pooling did not reduce a 1-pixel change")
    print("a 1-pixel shift changes the pooled maps less than the feature maps: approximate "
          "invariance, which fades as the shift approaches the pooling window")


def main():
    """Run the three checks; 0 on success."""
    rng = np.random.default_rng(0)
    check_flip_and_commutativity()
    check_equivariance(rng)
    measure_pooling_invariance(rng)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
