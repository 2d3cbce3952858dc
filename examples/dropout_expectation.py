"""Dropout as the lecture states it and as frameworks implement it ("inverted" dropout):
the same network in expectation, checked with ``F.dropout`` and a Monte-Carlo estimate.

The lecture's form (Srivastava et al. 2014, Sec. 4 and Fig. 2), with p the probability of
*keeping* a unit:

    training:  r_i ~ Bernoulli(p),   y = r * x             E[y] = p x
    test:      y = p x               (the weights are multiplied by p)

Inverted dropout (minidl, PyTorch), with q = 1 - p the probability of *dropping*
(``F.dropout(x, p=q)``):

    training:  y = r * x / (1 - q)                          E[y] = x
    test:      y = x                 (nothing to change)

In both, the test-time output is the training output's expectation. For the same mask r the
two training outputs differ by the factor p only, so a next layer with weights W on the
lecture's units and p W on the inverted ones computes exactly the same values, in training
and at test time: the two are one model, parametrised differently.

Run:  python examples/dropout_expectation.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F
import minidl.nn as nn

KEEP = 0.8                        # the lecture's p
DROP = 1 - KEEP                   # minidl's p
X = np.array([1.0, -2.0, 0.5, 3.0, 4.0])
SAMPLES = 100_000


def inverted_dropout(x):
    """F.dropout(x, p=q) in training mode, as an array."""
    return F.dropout(minidl.tensor(x), p=DROP, training=True).numpy()


def check_values_and_mask():
    """Every output is 0 or x / (1 - q), and the backward uses the same mask."""
    y = inverted_dropout(np.tile(X, (4, 1)))
    mask = y != 0
    print(f"inverted dropout with q = {DROP:.1f} on x = {X.tolist()}, four draws:")
    for row in y:
        print("   " + " ".join(f"{v + 0:6.2f}" for v in row))
    np.testing.assert_allclose(y[mask], np.tile(X, (4, 1))[mask] / KEEP, rtol=1e-15)
    print(f"   each entry is 0 or x / (1 - q) = x / {KEEP}")
    x = minidl.tensor(np.tile(X, (4, 1)), requires_grad=True)
    out = F.dropout(x, p=DROP)
    out.backward(np.ones(x.shape))
    np.testing.assert_allclose(x.grad, (out.numpy() != 0) / KEEP, rtol=1e-15)
    print("   and the backward multiplies by the same mask / (1 - q)\n")


def check_expectations(rng):
    """Monte-Carlo means of both forms against their test-time outputs, within 5 standard errors."""
    copies = np.tile(X, (SAMPLES, 1))
    inverted = inverted_dropout(copies)
    lecture = (rng.random(copies.shape) < KEEP) * copies
    dropped = float(np.mean(inverted == 0))
    stderr_drop = np.sqrt(DROP * KEEP / inverted.size)
    print(f"Monte Carlo over {SAMPLES:,} masks (bounds: 5 standard errors, by hand):")
    print(f"   fraction dropped {dropped:.4f}, expected q = {DROP:.4f} +- {5 * stderr_drop:.4f}")
    np.testing.assert_(abs(dropped - DROP) < 5 * stderr_drop, "fraction dropped")
    # Var(r x / p) = x^2 (1 - p) / p and Var(r x) = x^2 p (1 - p) for r ~ Bernoulli(p).
    for name, draws, expected, variance in (
            ("inverted, training", inverted, X, X ** 2 * DROP / KEEP),
            ("lecture's, training", lecture, KEEP * X, X ** 2 * KEEP * DROP)):
        mean, bound = draws.mean(axis=0), 5 * np.sqrt(variance / SAMPLES)
        print(f"   {name}: mean {np.round(mean, 3).tolist()}, expected {np.round(expected, 3).tolist()}")
        np.testing.assert_array_less(np.abs(mean - expected), bound)
    layer = nn.Dropout(DROP)
    layer.eval()
    np.testing.assert_array_equal(layer(minidl.tensor(X)).numpy(), X)
    np.testing.assert_array_equal(F.dropout(minidl.tensor(X), DROP, training=False).numpy(), X)
    print(f"   test time: inverted x = {X.tolist()} (nn.Dropout in eval mode is the identity); "
          f"lecture's p x = {np.round(KEEP * X, 3).tolist()}: each the expectation of its training output\n")


def check_same_model(rng):
    """For the same masks, the lecture's net with W equals the inverted one with p W."""
    weight = rng.standard_normal((2, len(X)))
    inverted = inverted_dropout(np.tile(X, (3, 1)))
    mask = inverted != 0                                 # minidl's masks, reused by hand
    lecture_train = (mask * X) @ weight.T                 # W (r * x)
    inverted_train = F.linear(minidl.tensor(inverted), minidl.tensor(KEEP * weight)).numpy()
    np.testing.assert_allclose(inverted_train, lecture_train, rtol=1e-13)
    lecture_test = (KEEP * X) @ weight.T                  # W (p x)
    inverted_test = F.linear(minidl.tensor(X), minidl.tensor(KEEP * weight)).numpy()
    np.testing.assert_allclose(inverted_test, lecture_test, rtol=1e-13)
    print("a linear layer after dropout: lecture's W (r * x) and W (p x) equal inverted "
          "(p W)(r * x / p) and (p W) x, for the same masks, in training and at test time")


def main():
    """Run the three checks; 0 on success."""
    minidl.manual_seed(0)
    check_values_and_mask()
    check_expectations(np.random.default_rng(0))
    check_same_model(np.random.default_rng(1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
