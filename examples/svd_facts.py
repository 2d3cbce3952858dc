"""Facts about the singular value decomposition, checked on the weight matrix of a layer
trained inside this script (a few steps of SGD), with minidl tensors and autograd.

For W (m x n) of rank r, W = U S V^T with U (m x r) and V (n x r) orthonormal and S the
singular values s_1 >= ... >= s_r > 0 on a diagonal (Strang, Linear Algebra and Learning
from Data, Sec. I.8; Goodfellow et al., Deep Learning, Sec. 2.8):

    U^T U = I,   V^T V = I,   W v_i = s_i u_i,   W^T u_i = s_i v_i
    (W W^T) u_i = s_i^2 u_i:   the u_i are the eigenvectors of W W^T, the v_i those of W^T W
    |W|_F^2 = trace(W^T W) = sum_i s_i^2
    |W - W_k|_F^2 = sum_{i > k} s_i^2  for W_k = sum_{i <= k} s_i u_i v_i^T (Eckart-Young)
    s_1 = max over unit v of |W v|, and ds_1/dW = u_1 v_1^T

The last one by the envelope theorem: at the maximiser v_1 the derivative of |W v| with v
held fixed is already the full derivative, W v_1 v_1^T / |W v_1| = u_1 v_1^T. minidl has
no SVD; it computes s_1 by power iteration with its tensor ops and its gradient by autograd.

Run:  python examples/svd_facts.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F
import minidl.nn as nn

TOLERANCE = dict(rtol=1e-10, atol=1e-12)


def trained_layer(rng, steps=60):
    """nn.Linear(6, 4) fitted by SGD to a noisy linear teacher."""
    minidl.manual_seed(0)
    layer = nn.Linear(6, 4, dtype=minidl.float64)
    teacher = rng.standard_normal((4, 6))
    x = rng.standard_normal((64, 6))
    y = minidl.tensor(x @ teacher.T + 0.1 * rng.standard_normal((64, 4)))
    opt = minidl.optim.SGD(layer.parameters(), lr=0.1)
    losses = []
    for _ in range(steps):
        loss = F.mse_loss(layer(minidl.tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    print(f"trained nn.Linear(6, 4) for {steps} SGD steps: loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    np.testing.assert_(losses[-1] < 0.1 * losses[0], "the layer did not train")
    return layer


def check_decomposition(w, weight):
    """The SVD identities on the trained weight; returns u_1, s_1, v_1."""
    u, s, vt = np.linalg.svd(w, full_matrices=False)
    v = vt.T
    print(f"W is {w.shape[0]} x {w.shape[1]}; singular values {np.round(s, 6).tolist()}")
    np.testing.assert_allclose(u @ np.diag(s) @ vt, w, **TOLERANCE)
    np.testing.assert_allclose(u.T @ u, np.eye(len(s)), **TOLERANCE)
    np.testing.assert_allclose(v.T @ v, np.eye(len(s)), **TOLERANCE)
    print("   W = U S V^T, U^T U = I, V^T V = I")
    gram_rows, gram_cols = (weight @ weight.T).numpy(), (weight.T @ weight).numpy()
    np.testing.assert_allclose(gram_rows @ u, u * s ** 2, **TOLERANCE)
    np.testing.assert_allclose(gram_cols @ v, v * s ** 2, **TOLERANCE)
    np.testing.assert_allclose((weight @ minidl.tensor(v)).numpy(), u * s, **TOLERANCE)
    np.testing.assert_allclose((weight.T @ minidl.tensor(u)).numpy(), v * s, **TOLERANCE)
    print("   (W W^T) u_i = s_i^2 u_i and (W^T W) v_i = s_i^2 v_i (W W^T from minidl's matmul);"
          " W v_i = s_i u_i, W^T u_i = s_i v_i")
    eigenvalues, eigenvectors = np.linalg.eigh(gram_rows)
    np.testing.assert_allclose(eigenvalues[::-1], s ** 2, **TOLERANCE)
    alignment = np.abs(np.sum(eigenvectors[:, ::-1] * u, axis=0))
    np.testing.assert_allclose(alignment, 1.0, **TOLERANCE)
    print(f"   eigh(W W^T): eigenvalues = s^2, eigenvectors = the u_i up to sign (|u_i . e_i| = "
          f"{np.round(alignment, 12).tolist()})")
    frobenius = (weight * weight).sum().item()
    np.testing.assert_allclose(frobenius, np.sum(s ** 2), **TOLERANCE)
    rank_one = s[0] * np.outer(u[:, 0], v[:, 0])
    np.testing.assert_allclose(np.sum((w - rank_one) ** 2), np.sum(s[1:] ** 2), **TOLERANCE)
    print(f"   |W|_F^2 = {frobenius:.10f} = sum s_i^2; |W - s_1 u_1 v_1^T|_F^2 = sum_(i>1) s_i^2")
    return u[:, 0], s[0], v[:, 0]


def power_iteration(weight, steps=200):
    """v <- W^T W v / |W^T W v|, with minidl tensor ops; returns v_1 as an array."""
    v = minidl.tensor(np.ones(weight.shape[1]) / np.sqrt(weight.shape[1]))
    for _ in range(steps):
        v = weight.T @ (weight @ v)
        v = v / (v * v).sum().sqrt()
    return v.numpy()


def check_top_singular_value(weight, u1, s1, v1):
    """s_1 by power iteration in minidl and ds_1/dW = u_1 v_1^T by autograd."""
    with minidl.no_grad():
        v = power_iteration(weight)
    w = minidl.tensor(weight.numpy(), requires_grad=True)
    wv = w @ minidl.tensor(v)
    sigma = (wv * wv).sum().sqrt()
    np.testing.assert_allclose(sigma.item(), s1, **TOLERANCE)
    np.testing.assert_allclose(np.abs(v @ v1), 1.0, **TOLERANCE)
    print(f"power iteration in minidl: s_1 = |W v| = {sigma.item():.12f}, v = +-v_1")
    gradient = minidl.grad(sigma, w)
    np.testing.assert_allclose(gradient, np.outer(u1, v1), **TOLERANCE)
    print("   minidl.grad of |W v| (v held fixed) = u_1 v_1^T: the derivative of s_1")
    rng = np.random.default_rng(1)
    direction, h = rng.standard_normal(weight.shape), 1e-6
    top = lambda m: np.linalg.svd(m, compute_uv=False)[0]
    numeric = (top(weight.numpy() + h * direction) - top(weight.numpy() - h * direction)) / (2 * h)
    np.testing.assert_allclose(numeric, np.sum(gradient * direction), rtol=1e-6)
    print(f"   central difference of s_1 along a random direction: {numeric:.8f} = "
          f"u_1^T E v_1 = {np.sum(gradient * direction):.8f}")


def main():
    """Train the layer and run the checks; 0 on success."""
    layer = trained_layer(np.random.default_rng(0))
    weight = layer.weight.detach()
    u1, s1, v1 = check_decomposition(weight.numpy(), weight)
    check_top_singular_value(weight, u1, s1, v1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
