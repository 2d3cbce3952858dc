"""Gradient descent on a quadratic, and SGD as a Robbins-Monro stochastic approximation,
with minidl's autograd and ``minidl.optim.SGD``.

The least-squares cost f(w) = 1/(2n) |X w - y|^2 has gradient X^T (X w - y) / n and the
constant Hessian H = X^T X / n, so gradient descent with step eta moves the error e = w - w*
(w* the minimiser) as

    e_{t+1} = (I - eta H) e_t:   along the eigenvector of eigenvalue lambda, times (1 - eta lambda)

It converges iff |1 - eta lambda| < 1 for every eigenvalue, i.e. eta < 2 / lambda_max; above
that the top direction grows by |1 - eta lambda_max| > 1 per step (Goodfellow et al., Deep
Learning, Sec. 4.3.1; LeCun, Bottou, Orr & Mueller, "Efficient BackProp", 1998, Sec. 5).

SGD follows the gradient of one random sample, an unbiased but noisy estimate of the full
gradient. Robbins & Monro (1951) showed that such iterates converge (here: to w*) when the
steps satisfy

    sum_t eta_t = infinity,    sum_t eta_t^2 < infinity        (e.g. eta_t = a / (t + t0))

while a constant step keeps bouncing in a noise ball whose size does not shrink (Bottou,
Curtis & Nocedal, "Optimization methods for large-scale machine learning", 2018, Sec. 4).

Run:  python examples/robbins_monro.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F

SAMPLES, SCALES = 200, np.array([1.0, 2.0, 3.0])
TOLERANCE = dict(rtol=1e-10, atol=1e-12)


def problem(rng):
    """Least-squares data with feature scales 1, 2, 3, and its minimiser w*."""
    x = rng.standard_normal((SAMPLES, len(SCALES))) * SCALES
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.5 * rng.standard_normal(SAMPLES)
    return x, y, np.linalg.solve(x.T @ x, x.T @ y)


def cost(w, x, y):
    """f(w) = 1/(2n) |X w - y|^2 as a minidl scalar (``mse_loss`` is the mean of squares)."""
    return 0.5 * F.mse_loss(minidl.tensor(x) @ w, minidl.tensor(y))


def gradient(w, x, y):
    """grad f(w) from minidl's autograd, as an array."""
    wt = minidl.tensor(w, requires_grad=True)
    return minidl.grad(cost(wt, x, y), wt)


def hessian_from_minidl(x, y):
    """Column i is grad f(e_i) - grad f(0) = H e_i (the gradient is affine in w)."""
    d = x.shape[1]
    base = gradient(np.zeros(d), x, y)
    return np.stack([gradient(np.eye(d)[i], x, y) - base for i in range(d)], axis=1)


def check_hessian(x, y, w_star):
    """H from minidl gradients against X^T X / n; returns lambda_max and its eigenvector."""
    hand = x.T @ x / SAMPLES
    w = np.ones(x.shape[1])
    np.testing.assert_allclose(gradient(w, x, y), x.T @ (x @ w - y) / SAMPLES, **TOLERANCE)
    ours = hessian_from_minidl(x, y)
    np.testing.assert_allclose(ours, hand, **TOLERANCE)
    np.testing.assert_allclose(gradient(w_star, x, y), 0, atol=1e-12)
    eigenvalues, eigenvectors = np.linalg.eigh(ours)
    print("minidl's gradient = X^T (X w - y) / n; it vanishes at w* = (X^T X)^-1 X^T y")
    print(f"H = X^T X / n (from differences of minidl gradients = by hand), eigenvalues "
          f"{np.round(eigenvalues, 4).tolist()}")
    print(f"   lambda_max = {eigenvalues[-1]:.6f}: gradient descent converges iff eta < 2 / "
          f"lambda_max = {2 / eigenvalues[-1]:.6f}\n")
    return eigenvalues[-1], eigenvectors[:, -1]


def gradient_descent(x, y, eta, steps):
    """Full-batch minidl.optim.SGD from w = 0; returns the iterates."""
    w = minidl.tensor(np.zeros(x.shape[1]), requires_grad=True)
    opt = minidl.optim.SGD([w], lr=eta)
    iterates = [w.numpy().copy()]
    for _ in range(steps):
        opt.zero_grad()
        cost(w, x, y).backward()
        opt.step()
        iterates.append(w.numpy().copy())
    return np.array(iterates)


def check_threshold(x, y, w_star, lam, top, steps=40):
    """Gradient descent at 0.9 and 1.1 times 2 / lambda_max, at the predicted rates."""
    for factor in (0.9, 1.1):
        eta = factor * 2 / lam
        errors = gradient_descent(x, y, eta, steps) - w_star
        along_top = errors @ top
        measured = along_top[-1] / along_top[-2]
        size = np.linalg.norm(errors, axis=1)
        print(f"eta = {factor} * 2/lambda_max = {eta:.5f}: |w - w*| {size[0]:.3f} -> {size[-1]:.3e} in "
              f"{steps} steps; along the top eigenvector each step multiplies the error by "
              f"{measured:.10f}, predicted 1 - eta lambda_max = {1 - eta * lam:.10f}")
        np.testing.assert_allclose(measured, 1 - eta * lam, rtol=1e-6)
        if factor < 1:
            np.testing.assert_(size[-1] < 1e-2 * size[0], "gradient descent did not converge")
        else:
            np.testing.assert_(size[-1] > 1e2 * size[0], "gradient descent did not diverge")
    print("   just below the threshold it converges, just above it diverges, at the predicted rate\n")


def sgd(x, y, schedule, steps, seed=0):
    """One sample per step (drawn with replacement): an unbiased estimate of grad f."""
    rng = np.random.default_rng(seed)
    w = minidl.tensor(np.zeros(x.shape[1]), requires_grad=True)
    opt = minidl.optim.SGD([w], lr=schedule(0))
    iterates = []
    for t in range(steps):
        i = rng.integers(len(x))
        loss = 0.5 * ((minidl.tensor(x[i]) @ w - float(y[i])) ** 2)
        opt.param_groups[0]["lr"] = schedule(t)
        opt.zero_grad()
        loss.backward()
        opt.step()
        iterates.append(w.numpy().copy())
    return np.array(iterates)


def check_robbins_monro(x, y, w_star, steps=4000):
    """SGD with Robbins-Monro steps converges; with a constant step it stalls."""
    schedules = {"constant eta = 0.02": lambda t: 0.02,
                 "eta_t = 1 / (t + 50)": lambda t: 1.0 / (t + 50)}
    etas = np.array([schedules["eta_t = 1 / (t + 50)"](t) for t in range(steps)])
    print(f"Robbins-Monro steps 1/(t + 50): sum eta_t = {etas.sum():.3f} (grows like log t), "
          f"sum eta_t^2 = {np.sum(etas ** 2):.6f} (bounded by {np.sum(1 / np.arange(50, 10 ** 6) ** 2):.6f})")
    checkpoints = (steps // 10, steps // 2, steps)
    late_error = {}
    for name, schedule in schedules.items():
        errors = np.sum((sgd(x, y, schedule, steps) - w_star) ** 2, axis=1)
        # mean squared error over the last 10% before each checkpoint (one path is noisy)
        means = [errors[c - steps // 10:c].mean() for c in checkpoints]
        late_error[name] = means
        print(f"   SGD, {name}: mean |w - w*|^2 near t = "
              + ", ".join(f"{c}: {m:.2e}" for c, m in zip(checkpoints, means)))
    decaying, constant = late_error["eta_t = 1 / (t + 50)"], late_error["constant eta = 0.02"]
    np.testing.assert_(decaying[2] < decaying[0] / 5, "the Robbins-Monro steps did not converge")
    np.testing.assert_(decaying[2] < constant[2] / 5, "decaying steps no better than constant")
    print("   decaying steps keep closing in on w*; the constant step stalls at its noise floor")


def main():
    """Run the three checks; 0 on success."""
    x, y, w_star = problem(np.random.default_rng(0))
    lam, top = check_hessian(x, y, w_star)
    check_threshold(x, y, w_star, lam, top)
    check_robbins_monro(x, y, w_star)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
