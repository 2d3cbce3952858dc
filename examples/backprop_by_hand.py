"""Backpropagation derived as the adjoint pass of a Lagrangian, computed by hand in NumPy
and checked against minidl's automatic gradients.

The network (layers l = 1..L, activations f, input x_0):

    A_l = W_l x_{l-1} + b_l          (pre-activation)
    x_l = f(A_l)                     (forward state; the last layer is linear: x_L = A_L)
    J   = loss(x_L)

Training minimises J subject to these constraints. Write the Lagrangian with one
multiplier vector z_l per constraint:

    Lag = loss(x_L) - sum_l z_l^T (A_l - W_l f(A_{l-1}) - b_l)        (f(A_0) := x_0)

At a feasible point (the forward pass) Lag = J for any z, so dJ/dW_l = dLag/dW_l. Choose
the z_l to make Lag stationary in every A_l (the "adjoint equations"):

    dLag/dA_L = dloss/dx_L - z_L = 0                 =>  z_L = dloss/dx_L
    dLag/dA_l = -z_l + f'(A_l) * (W_{l+1}^T z_{l+1}) =>  z_l = f'(A_l) * W_{l+1}^T z_{l+1}

Then the only remaining dependence on the weights is explicit:

    dJ/dW_l = dLag/dW_l = z_l x_{l-1}^T,        dJ/db_l = z_l

The adjoint recursion runs backwards from the loss: it is backpropagation. (For a batch,
the columns are samples and the weight gradients sum over them.)

Run:  python examples/backprop_by_hand.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F

SIZES = (4, 6, 5, 3)   # x_0 has 4 features, two tanh hidden layers, 3 classes
BATCH = 8


def forward_states(weights, biases, x0):
    """Forward pass, keeping every A_l and x_l (samples are rows: A_l = x_{l-1} W_l^T + b_l)."""
    xs, As = [x0], []
    for l, (W, b) in enumerate(zip(weights, biases), start=1):
        A = xs[-1] @ W.T + b
        As.append(A)
        xs.append(A if l == len(weights) else np.tanh(A))
    return xs, As


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy and its derivative dloss/dlogits = (softmax - onehot) / batch."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    n = len(labels)
    loss = -np.log(p[np.arange(n), labels]).mean()
    onehot = np.eye(logits.shape[1])[labels]
    return loss, (p - onehot) / n


def adjoint_pass(weights, xs, As, dloss_dxL):
    """z_L = dloss/dx_L, z_l = f'(A_l) * (W_{l+1}^T z_{l+1}); dJ/dW_l = z_l x_{l-1}^T."""
    L = len(weights)
    z = [None] * (L + 1)
    z[L] = dloss_dxL
    for l in range(L - 1, 0, -1):
        tanh_prime = 1 - np.tanh(As[l - 1]) ** 2           # f'(A_l) for f = tanh
        z[l] = tanh_prime * (z[l + 1] @ weights[l])          # rows: (W_{l+1}^T z_{l+1})^T
    grad_W = [z[l].T @ xs[l - 1] for l in range(1, L + 1)]  # sum over samples of z x^T
    grad_b = [z[l].sum(axis=0) for l in range(1, L + 1)]
    return z, grad_W, grad_b


def lagrangian_stationarity(weights, biases, As, z, x0, loss_fn, eps=1e-6):
    """Check numerically that dLag/dA_l = 0 at the adjoints (for one entry per layer)."""
    def lagrangian(A_list):
        total = loss_fn(A_list[-1])
        prev = x0
        for l, (W, A) in enumerate(zip(weights, A_list), start=1):
            total -= np.sum(z[l] * (A - (prev @ W.T + biases[l - 1])))
            prev = A if l == len(weights) else np.tanh(A)
        return total

    worst = 0.0
    for l in range(len(As)):
        plus = [A.copy() for A in As]
        minus = [A.copy() for A in As]
        plus[l][0, 0] += eps
        minus[l][0, 0] -= eps
        worst = max(worst, abs((lagrangian(plus) - lagrangian(minus)) / (2 * eps)))
    return worst


def main():
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((n_out, n_in)) / np.sqrt(n_in)
               for n_in, n_out in zip(SIZES[:-1], SIZES[1:])]
    biases = [0.1 * rng.standard_normal(n_out) for n_out in SIZES[1:]]
    x0 = rng.standard_normal((BATCH, SIZES[0]))
    labels = rng.integers(0, SIZES[-1], BATCH)

    xs, As = forward_states(weights, biases, x0)
    loss, dloss_dxL = softmax_cross_entropy(xs[-1], labels)
    z, grad_W, grad_b = adjoint_pass(weights, xs, As, dloss_dxL)
    print(f"loss by hand: {loss:.10f}")
    residual = lagrangian_stationarity(
        weights, biases, As, z, x0, lambda logits: softmax_cross_entropy(logits, labels)[0])
    print(f"Lagrangian stationarity |dLag/dA_l| at the adjoints: {residual:.2e}")

    # The same network in minidl (float64), differentiated automatically.
    W_t = [minidl.tensor(W, requires_grad=True) for W in weights]
    b_t = [minidl.tensor(b, requires_grad=True) for b in biases]
    h = minidl.tensor(x0)
    for l, (W, b) in enumerate(zip(W_t, b_t), start=1):
        h = F.linear(h, W, b)
        if l < len(W_t):
            h = h.tanh()
    auto_loss = F.cross_entropy(h, labels)
    auto_loss.backward()
    print(f"loss by minidl: {auto_loss.item():.10f}")

    worst = 0.0
    for l in range(len(weights)):
        dW = np.abs(grad_W[l] - W_t[l].grad).max()
        db = np.abs(grad_b[l] - b_t[l].grad).max()
        worst = max(worst, dW, db)
        print(f"layer {l + 1}: max |dJ/dW by hand - minidl| = {dW:.2e}, "
              f"max |dJ/db by hand - minidl| = {db:.2e}")
    agree = worst < 1e-12 and residual < 1e-6
    print("hand-derived adjoints agree with minidl" if agree else "MISMATCH")
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
