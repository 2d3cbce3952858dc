"""Max pooling 2x2 with stride 2 by hand, its switches, and unpooling (the deconvnet's
"switch variables"), checked against ``F.max_pool2d(..., return_indices=True)`` and
``F.max_unpool2d``.

Forward (the lectures' example, CS231n's pooling slide):

    x = [[1, 1, 2, 4],        y[i, j] = max of the 2x2 window x[2i:2i+2, 2j:2j+2]
         [5, 6, 7, 8],
         [3, 2, 1, 0],        y = [[6, 8],
         [1, 2, 3, 4]]             [3, 4]]

The switch s[i, j] is where that maximum sits: its flat index row * W + col in x.
Backward: y[i, j] = x[s[i, j]], so dy[i, j]/dx[p] = [p = s[i, j]] and

    dL/dx[p] = sum over (i, j) with s[i, j] = p of dL/dy[i, j]

the upstream gradient goes back to the switch of its window and nothing reaches the other
three pixels. Unpooling (Zeiler & Fergus 2014, Sec. 2.1) puts each pooled value back at its
switch and zeros elsewhere: the deconvnet keeps the switches of the forward pass to do it,
and it is the same map as the backward pass. All values are integers: the checks are exact.

Run:  python examples/max_pool_switches.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F

INPUT = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float64)
LECTURE_POOLED = [[6, 8], [3, 4]]
UPSTREAM = np.array([[10, 20], [30, 40]], dtype=np.float64)


def show(name, array):
    """Print a small integer array under a title."""
    print(f"{name}:")
    for row in np.atleast_2d(array):
        print("   " + " ".join(f"{v:4.0f}" for v in row))


def pool_by_hand(x, size=2):
    """Max of each size x size window, and its switch (flat index in x), with explicit loops."""
    out_h, out_w = x.shape[0] // size, x.shape[1] // size
    pooled, switches = np.zeros((out_h, out_w)), np.zeros((out_h, out_w), dtype=np.int64)
    for i in range(out_h):
        for j in range(out_w):
            window = x[i * size:(i + 1) * size, j * size:(j + 1) * size]
            r, c = np.unravel_index(np.argmax(window), window.shape)
            pooled[i, j] = window[r, c]
            switches[i, j] = (i * size + r) * x.shape[1] + (j * size + c)
            print(f"   window ({i}, {j}) = {window.astype(int).tolist()}: max {window[r, c]:.0f} "
                  f"at row {i * size + r}, col {j * size + c} -> switch {switches[i, j]}")
    return pooled, switches


def unpool_by_hand(values, switches, shape):
    """Every value back at its switch, zero elsewhere."""
    out = np.zeros(shape)
    out.ravel()[switches.ravel()] = values.ravel()
    return out


def main():
    """Pool, unpool and backpropagate the lecture's 4x4 example, asserting each step."""
    show("input x (4x4)", INPUT)
    print("2x2 windows, stride 2:")
    pooled, switches = pool_by_hand(INPUT)
    show("pooled by hand", pooled)
    np.testing.assert_array_equal(pooled, LECTURE_POOLED, err_msg="hand pooling != lecture")

    x = minidl.tensor(INPUT[None, None], requires_grad=True)
    y, indices = F.max_pool2d(x, 2, stride=2, return_indices=True)
    np.testing.assert_array_equal(y.numpy()[0, 0], LECTURE_POOLED, err_msg="minidl != lecture")
    np.testing.assert_array_equal(indices.numpy()[0, 0], switches, err_msg="switches differ")
    print(f"minidl max_pool2d: {y.numpy()[0, 0].astype(int).tolist()}, "
          f"switches {indices.numpy()[0, 0].tolist()}: equal to the hand values\n")

    show("upstream gradient dL/dy", UPSTREAM)
    y.backward(UPSTREAM[None, None])
    hand_grad = unpool_by_hand(UPSTREAM, switches, INPUT.shape)
    show("dL/dx by hand (each gradient at its window's switch)", hand_grad)
    np.testing.assert_array_equal(x.grad[0, 0], hand_grad, err_msg="max_pool2d backward")
    print("   = minidl's backward of max_pool2d\n")

    unpooled_grad = F.max_unpool2d(minidl.tensor(UPSTREAM[None, None]), indices, 2, stride=2)
    np.testing.assert_array_equal(unpooled_grad.numpy()[0, 0], hand_grad)
    print("F.max_unpool2d(dL/dy, switches) gives the same map: unpooling is pooling's backward\n")

    reconstruction = F.max_unpool2d(y, indices, 2, stride=2).numpy()[0, 0]
    hand_reconstruction = unpool_by_hand(pooled, switches, INPUT.shape)
    show("deconvnet unpooling of y (the maxima back in place)", hand_reconstruction)
    np.testing.assert_array_equal(reconstruction, hand_reconstruction, err_msg="max_unpool2d")
    print("   = F.max_unpool2d(y, switches): the 4 maxima where they were, zeros at the other 12")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
