"""Batch normalization by hand (Ioffe & Szegedy 2015, Algorithms 1 and 2), checked against
``nn.BatchNorm1d`` and ``F.batch_norm``.

Training (Algorithm 1), over a mini-batch x_1..x_m of one feature:

    mu = 1/m sum x_i,   sigma^2 = 1/m sum (x_i - mu)^2,
    xhat_i = (x_i - mu) / sqrt(sigma^2 + eps),   y_i = gamma xhat_i + beta

Backward (Sec. 3, the chain rule through the four lines), with g_i = dL/dy_i:

    dL/dxhat_i = g_i gamma
    dL/dsigma^2 = sum_i dL/dxhat_i (x_i - mu) (-1/2) (sigma^2 + eps)^(-3/2)
    dL/dmu = sum_i dL/dxhat_i (-1 / sqrt(sigma^2 + eps)) + dL/dsigma^2 sum_i -2 (x_i - mu) / m
    dL/dx_i = dL/dxhat_i / sqrt(sigma^2 + eps) + dL/dsigma^2 2 (x_i - mu) / m + dL/dmu / m
    dL/dgamma = sum_i g_i xhat_i,   dL/dbeta = sum_i g_i

Inference (Algorithm 2, steps 8-11): after training on batches B, E[x] = mean over B of
mu_B and Var[x] = m / (m - 1) mean over B of sigma_B^2 (the unbiased estimate), and

    y = gamma / sqrt(Var[x] + eps) x + (beta - gamma E[x] / sqrt(Var[x] + eps))

a fixed affine map: a batch of one is normalized like any other, with these statistics.
PyTorch's (and minidl's) running statistics are that average with ``momentum=None``, and an
exponential moving average with weight ``momentum`` on the new batch otherwise.

Run:  python examples/batch_norm_by_hand.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F
import minidl.nn as nn

EPS = 1e-5
BATCH = np.array([[1.0, 2.0, -1.0], [3.0, 6.0, 0.0], [5.0, 4.0, 1.0], [7.0, 0.0, 4.0]])
GAMMA, BETA = np.array([2.0, 0.5, 1.0]), np.array([0.0, 1.0, -1.0])
TOLERANCE = dict(rtol=1e-12, atol=1e-12)


def show(name, array, digits=4):
    """Print an array under a title."""
    print(f"{name}:")
    for row in np.atleast_2d(array):
        print("   " + " ".join(f"{v:9.{digits}f}" for v in row))


def forward_by_hand(x, gamma, beta):
    """Algorithm 1, one line at a time (each column of x is a feature)."""
    m = len(x)
    mu = x.sum(axis=0) / m
    var = ((x - mu) ** 2).sum(axis=0) / m
    xhat = (x - mu) / np.sqrt(var + EPS)
    y = gamma * xhat + beta
    show("mu = 1/m sum x_i", mu)
    show("sigma^2 = 1/m sum (x_i - mu)^2", var)
    show("xhat = (x - mu) / sqrt(sigma^2 + eps)", xhat)
    show("y = gamma xhat + beta", y)
    return mu, var, xhat, y


def backward_by_hand(x, g, gamma, mu, var, xhat):
    """The paper's chain rule, line by line."""
    m = len(x)
    dxhat = g * gamma
    dvar = (dxhat * (x - mu)).sum(axis=0) * -0.5 * (var + EPS) ** -1.5
    dmu = (dxhat * -1 / np.sqrt(var + EPS)).sum(axis=0) + dvar * (-2 * (x - mu)).sum(axis=0) / m
    dx = dxhat / np.sqrt(var + EPS) + dvar * 2 * (x - mu) / m + dmu / m
    return dx, (g * xhat).sum(axis=0), g.sum(axis=0)


def new_layer(momentum=0.1):
    """nn.BatchNorm1d(3) in float64 with the example's gamma and beta."""
    layer = nn.BatchNorm1d(3, eps=EPS, momentum=momentum, dtype=minidl.float64)
    layer.weight.data, layer.bias.data = GAMMA.copy(), BETA.copy()
    return layer


def check_training_step(rng):
    """Algorithm 1 and its backward by hand against nn.BatchNorm1d."""
    show("mini-batch x (m = 4 samples, 3 features)", BATCH, 1)
    mu, var, xhat, y_hand = forward_by_hand(BATCH, GAMMA, BETA)
    layer = new_layer()
    x = minidl.tensor(BATCH, requires_grad=True)
    y = layer(x)
    np.testing.assert_allclose(y.numpy(), y_hand, **TOLERANCE)
    print("   = nn.BatchNorm1d in training mode")
    g = rng.standard_normal(BATCH.shape)
    y.backward(g)
    dx, dgamma, dbeta = backward_by_hand(BATCH, g, GAMMA, mu, var, xhat)
    show("dL/dx by the paper's chain rule (for a random dL/dy)", dx)
    np.testing.assert_allclose(x.grad, dx, **TOLERANCE)
    np.testing.assert_allclose(layer.weight.grad, dgamma, **TOLERANCE)
    np.testing.assert_allclose(layer.bias.grad, dbeta, **TOLERANCE)
    print("   = minidl's backward (and dL/dgamma, dL/dbeta too)")
    np.testing.assert_allclose(dx.sum(axis=0), 0, atol=1e-12)
    print("   each column of dL/dx sums to 0: shifting a feature for the whole batch changes "
          "nothing\n")


def check_inference(rng, batches=5, m=4):
    """Algorithm 2's population statistics and test-time map against the eval-mode layer."""
    data = [rng.normal([1.0, -2.0, 3.0], [1.0, 2.0, 0.5], (m, 3)) for _ in range(batches)]
    average, moving = new_layer(momentum=None), new_layer(momentum=0.1)
    for batch in data:
        average(minidl.tensor(batch))
        moving(minidl.tensor(batch))
    mean = np.mean([b.mean(axis=0) for b in data], axis=0)
    var = m / (m - 1) * np.mean([b.var(axis=0) for b in data], axis=0)
    show(f"Algorithm 2 after {batches} batches: E[x] = mean of mu_B", mean)
    show("Var[x] = m/(m-1) mean of sigma_B^2", var)
    np.testing.assert_allclose(average.running_mean.numpy(), mean, **TOLERANCE)
    np.testing.assert_allclose(average.running_var.numpy(), var, **TOLERANCE)
    print("   = running_mean, running_var of nn.BatchNorm1d(momentum=None)")
    ema_mean, ema_var = np.zeros(3), np.ones(3)
    for b in data:
        ema_mean = 0.9 * ema_mean + 0.1 * b.mean(axis=0)
        ema_var = 0.9 * ema_var + 0.1 * b.var(axis=0, ddof=1)
    np.testing.assert_allclose(moving.running_mean.numpy(), ema_mean, **TOLERANCE)
    np.testing.assert_allclose(moving.running_var.numpy(), ema_var, **TOLERANCE)
    print("   and with momentum 0.1: running <- 0.9 running + 0.1 batch statistic "
          "(unbiased variance), as by hand")

    average.eval()
    scale = GAMMA / np.sqrt(var + EPS)
    sample = rng.normal(size=(1, 3))
    hand = scale * sample + (BETA - scale * mean)
    show("a batch of one at test time: y = gamma/sqrt(Var+eps) x + (beta - gamma E[x]/sqrt(Var+eps))",
         hand)
    alone = average(minidl.tensor(sample)).numpy()
    in_batch = average(minidl.tensor(np.vstack([sample, data[0]]))).numpy()[:1]
    functional = F.batch_norm(minidl.tensor(sample), minidl.tensor(mean), minidl.tensor(var),
                              minidl.tensor(GAMMA), minidl.tensor(BETA), training=False,
                              eps=EPS).numpy()
    for ours in (alone, in_batch, functional):
        np.testing.assert_allclose(ours, hand, **TOLERANCE)
    print("   = the eval-mode layer on the sample alone, on the sample inside a batch, and "
          "F.batch_norm(training=False) with E[x], Var[x]")


def main():
    """Run both checks; 0 on success."""
    rng = np.random.default_rng(0)
    check_training_step(rng)
    check_inference(rng)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
