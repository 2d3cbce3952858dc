"""Image-specific class saliency (Simonyan, Vedaldi & Zisserman 2014, Sec. 3.1) is the
weight vector of a linear model, and the first-order Taylor term of a CNN; checked with
``minidl.viz.saliency``.

For a linear score S_c(I) = w_c^T I + b_c the saliency dS_c/dI is w_c itself, whatever the
image: each pixel's weight says how much the score moves per unit of that pixel. The map
shown is M(i, j) = max over channels |w_c(channel, i, j)|, and gradient x input sums to
S_c(I) - b_c.

A CNN is not linear, but near an image I0 it is, to first order:

    S_c(I) ~ w^T I + b,    w = dS_c/dI at I0

So a step of length h along any unit direction v changes the score by h w.v + O(h^2), and
most along the saliency direction v = w / |w| (by |w| h). A ReLU / max-pool network is
piecewise linear, so for small h the central difference (S(I0 + h v) - S(I0 - h v)) / 2h
equals w.v to rounding; larger steps cross kinks and the linear prediction drifts.

Run:  python examples/saliency_linear.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.nn as nn
import minidl.viz

SHAPE = (3, 6, 6)
CLASSES = 4


def linear_model(rng):
    """Flatten -> Linear(C*H*W, CLASSES) in float64 with random weights, in eval mode."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(SHAPE)), CLASSES, dtype=minidl.float64))
    model[1].weight.data = rng.standard_normal(model[1].weight.shape)
    model[1].bias.data = rng.standard_normal(CLASSES)
    return model.eval()


def small_cnn():
    """A seeded conv-ReLU-pool-conv-ReLU-linear network in float64, in eval mode."""
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 3 * 3, CLASSES))
    return model.double().eval()


def score(model, image, target):
    """The class score S_c of one image (C, H, W), without a graph."""
    with minidl.no_grad():
        return model(minidl.tensor(image[None])).numpy()[0, target]


def check_linear(rng, target=2):
    """Saliency of a linear model = w_c exactly, for every image."""
    model = linear_model(rng)
    w_c = model[1].weight.numpy()[target].reshape(SHAPE)
    b_c = model[1].bias.numpy()[target]
    for trial in range(2):
        image = rng.standard_normal(SHAPE)
        saliency_map, gradient = minidl.viz.saliency(model, image, target=target)
        np.testing.assert_array_equal(gradient, w_c, err_msg="saliency of a linear model != w_c")
        np.testing.assert_array_equal(saliency_map, np.abs(w_c).max(axis=0))
        attributions = minidl.viz.gradient_x_input(model, image, target=target)
        np.testing.assert_allclose(attributions.sum(), score(model, image, target) - b_c,
                                   rtol=1e-12)
        print(f"linear model, image {trial + 1}: saliency dS_c/dI = w_c exactly, "
              f"M = max_channels |w_c|, sum(gradient x input) = S_c - b_c = "
              f"{attributions.sum():.6f}")
    print("   the same for every image: a linear model's saliency is its weight vector\n")


def check_cnn_taylor(rng, target=1):
    """Central differences of a CNN's score along w/|w| and along a random v equal |w| and w.v."""
    model = small_cnn()
    image = rng.standard_normal(SHAPE)
    _, w = minidl.viz.saliency(model, image, target=target)
    norm = np.linalg.norm(w)
    u = w / norm
    v = rng.standard_normal(SHAPE)
    v /= np.linalg.norm(v)
    print(f"small CNN (conv-ReLU-pool-conv-ReLU-linear), class {target}: |w| = {norm:.6f}")
    print("   step h | central difference along w/|w| | along a random v | w.v")
    for h in (1e-1, 1e-3, 1e-5):
        along_u = (score(model, image + h * u, target) - score(model, image - h * u, target)) / (2 * h)
        along_v = (score(model, image + h * v, target) - score(model, image - h * v, target)) / (2 * h)
        print(f"   {h:6.0e} | {along_u:30.10f} | {along_v:16.10f} | {np.sum(w * v):.10f}")
    np.testing.assert_allclose(along_u, norm, rtol=1e-8)
    np.testing.assert_allclose(along_v, np.sum(w * v), rtol=1e-8, atol=1e-10)
    print("   at h = 1e-5 the score changes by h |w| along the saliency direction and by h w.v "
          "along v: the first-order Taylor expansion, with |w.v| <= |w|")


def main():
    """Run both checks; 0 on success."""
    rng = np.random.default_rng(0)
    check_linear(rng)
    check_cnn_taylor(rng)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
