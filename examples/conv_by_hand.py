"""One convolution worked through the way the lectures do, and checked against minidl.

A 7x7 input, one 3x3 filter. Each output value is the dot product of the filter with the
3x3 window under it, plus the bias; the window slides by the stride. The output size is

    (W - F + 2P) / S + 1        W input size, F filter size, P padding, S stride

which must come out whole (otherwise the filter "does not fit" and frameworks floor it).

Run:  python examples/conv_by_hand.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F

INPUT = np.arange(49, dtype=np.float64).reshape(7, 7) % 5 - 2        # small integers
FILTER = np.array([[1.0, 0.0, -1.0],
                   [2.0, 0.0, -2.0],
                   [1.0, 0.0, -1.0]])                                 # a Sobel edge filter
BIAS = 1.0


def show(name, array):
    print(f"{name}:")
    for row in np.atleast_2d(array):
        print("   " + " ".join(f"{v:5.0f}" for v in row))


def conv_by_hand(image, kernel, bias, stride, padding):
    """Slide the window and take dot products: the definition, with explicit loops."""
    padded = np.pad(image, padding)
    f = kernel.shape[0]
    size = (image.shape[0] - f + 2 * padding) // stride + 1
    out = np.zeros((size, size))
    for i in range(size):
        for j in range(size):
            window = padded[i * stride:i * stride + f, j * stride:j * stride + f]
            out[i, j] = np.sum(window * kernel) + bias
    return out


def minidl_conv(image, kernel, bias, stride, padding):
    x = minidl.tensor(image[None, None])          # (N=1, C=1, 7, 7)
    w = minidl.tensor(kernel[None, None])         # (O=1, C=1, 3, 3)
    b = minidl.tensor([bias], dtype=np.float64)
    return F.conv2d(x, w, b, stride=stride, padding=padding).numpy()[0, 0]


def main():
    show("input (7x7)", INPUT)
    show("filter (3x3)", FILTER)
    print(f"bias: {BIAS}\n")

    window = INPUT[:3, :3]
    first = np.sum(window * FILTER) + BIAS
    terms = " + ".join(f"{w:.0f}*{k:.0f}" for w, k in zip(window.ravel(), FILTER.ravel()))
    print("top-left output = sum(window * filter) + bias")
    print(f"   = {terms} + {BIAS:.0f}")
    print(f"   = {first:.0f}\n")

    agree = True
    for stride, padding in [(1, 0), (2, 0), (1, 1), (2, 1)]:
        size = F.conv_output_size(7, 3, stride, padding)
        print(f"stride {stride}, padding {padding}: (7 - 3 + 2*{padding}) / {stride} + 1 = "
              f"{(7 - 3 + 2 * padding) / stride + 1:g} -> output {size}x{size}")
        by_hand = conv_by_hand(INPUT, FILTER, BIAS, stride, padding)
        ours = minidl_conv(INPUT, FILTER, BIAS, stride, padding)
        show("   by hand", by_hand)
        same = ours.shape == by_hand.shape and np.allclose(ours, by_hand)
        agree &= same
        print(f"   minidl agrees: {same}\n")
    print("stride 3 without padding: (7 - 3) / 3 + 1 = 2.33, the filter does not fit;"
          f" frameworks floor it to {F.conv_output_size(7, 3, 3, 0)}")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
