"""The total-variation regulariser of the feature-inversion lecture (Mahendran & Vedaldi,
"Understanding deep image representations by inverting them", CVPR 2015) and its
gradient by hand, checked against ``minidl.viz.tv_loss`` and ``minidl.grad``.

    R_{V^beta}(x) = sum_{i,j} ((x_{i,j+1} - x_{ij})^2 + (x_{i+1,j} - x_{ij})^2)^(beta/2)

(summed over channels too; minidl sums over i < H-1, j < W-1, where both differences exist).
Write a = x_{i,j+1} - x_{ij}, b = x_{i+1,j} - x_{ij}, s = a^2 + b^2. Each term s^(beta/2)
depends on three pixels, and its derivatives are

    d/dx_{i,j+1} = beta s^(beta/2 - 1) a,   d/dx_{i+1,j} = beta s^(beta/2 - 1) b,
    d/dx_{ij}    = -beta s^(beta/2 - 1) (a + b)

so the gradient is these three contributions scattered back and summed over the terms.
(For beta < 2 there is a kink where s = 0: the random images below have no flat patches.)

Why beta matters: a vertical step edge across an H x W image costs H - 1 for every beta, a
linear ramp from 0 to 1 across the width costs (H - 1) (W - 1)^(1 - beta). With beta = 1
both cost the same (the edge is kept); with beta = 2 the ramp is W - 1 times cheaper, so
beta = 2 smooths edges away and beta near 1 lets them stay sharp.

Run:  python examples/total_variation.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.viz

TOLERANCE = dict(rtol=1e-12, atol=1e-14)


def tv_by_hand(x, beta):
    """R_{V^beta} and its gradient for an image (C, H, W), term by term."""
    value, gradient = 0.0, np.zeros_like(x)
    channels, height, width = x.shape
    for c in range(channels):
        for i in range(height - 1):
            for j in range(width - 1):
                a, b = x[c, i, j + 1] - x[c, i, j], x[c, i + 1, j] - x[c, i, j]
                s = a * a + b * b
                value += s ** (beta / 2)
                common = beta * s ** (beta / 2 - 1)
                gradient[c, i, j + 1] += common * a
                gradient[c, i + 1, j] += common * b
                gradient[c, i, j] -= common * (a + b)
    return value, gradient


def check_small_integer_image():
    """R_V^2 of a 3x3 integer image, term by term."""
    x = np.array([[[0, 1, 3], [2, 2, 0], [1, 4, 4]]], dtype=np.float64)
    print("image x (one channel, 3x3):", x[0].astype(int).tolist())
    terms = []
    for i in range(2):
        for j in range(2):
            a, b = x[0, i, j + 1] - x[0, i, j], x[0, i + 1, j] - x[0, i, j]
            terms.append(a * a + b * b)
            print(f"   (i, j) = ({i}, {j}): a = {a:+.0f}, b = {b:+.0f}, a^2 + b^2 = {a * a + b * b:.0f}")
    hand, _ = tv_by_hand(x, 2.0)
    print(f"   R_V^2 = {' + '.join(f'{t:.0f}' for t in terms)} = {hand:.0f}")
    np.testing.assert_equal(hand, 5 + 5 + 1 + 8)
    np.testing.assert_equal(minidl.viz.tv_loss(x, beta=2.0).item(), hand)
    print("   = viz.tv_loss(x, beta=2)\n")


def check_gradients(rng):
    """Value and gradient by hand against viz.tv_loss for beta = 2, 1.5, 1."""
    x = rng.standard_normal((2, 5, 6))
    for beta in (2.0, 1.5, 1.0):
        hand_value, hand_gradient = tv_by_hand(x, beta)
        xt = minidl.tensor(x, requires_grad=True)
        loss = minidl.viz.tv_loss(xt, beta=beta)
        np.testing.assert_allclose(loss.item(), hand_value, **TOLERANCE)
        np.testing.assert_allclose(minidl.grad(loss, xt), hand_gradient, **TOLERANCE)
        print(f"beta = {beta}: R = {hand_value:.10f}, gradient by hand = minidl.grad of "
              f"viz.tv_loss (largest entry {np.abs(hand_gradient).max():.6f})")
    print()


def check_edge_versus_ramp(height=4, width=6):
    """A step edge costs H - 1 for every beta, a ramp (H - 1)(W - 1)^(1 - beta)."""
    step = np.zeros((1, height, width))
    step[..., width // 2:] = 1.0
    ramp = np.broadcast_to(np.linspace(0, 1, width), (1, height, width)).copy()
    for beta in (1.0, 1.5, 2.0):
        edge_cost = minidl.viz.tv_loss(step, beta=beta).item()
        ramp_cost = minidl.viz.tv_loss(ramp, beta=beta).item()
        expected_ramp = (height - 1) * (width - 1) ** (1 - beta)
        np.testing.assert_allclose(edge_cost, height - 1, **TOLERANCE)
        np.testing.assert_allclose(ramp_cost, expected_ramp, **TOLERANCE)
        print(f"beta = {beta}: step edge {edge_cost:.4f} (= H - 1), ramp {ramp_cost:.4f} "
              f"(= (H - 1)(W - 1)^(1 - beta))")
    print("   beta = 1 charges the sharp edge no more than the ramp; beta = 2 prefers the ramp")


def main():
    """Run the three checks; 0 on success."""
    check_small_integer_image()
    check_gradients(np.random.default_rng(0))
    check_edge_versus_ramp()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
