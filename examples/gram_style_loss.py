"""Gram matrices, the style loss and the content loss of Gatys, Ecker & Bethge ("A neural
algorithm of artistic style", 2015, and "Texture synthesis using convolutional neural
networks", 2015) by hand, with their gradients, checked against ``minidl.viz.gram_matrix``,
``minidl.viz.style_loss``, ``minidl.viz.content_loss`` and ``minidl.grad``.

A layer's activations (C, H, W) reshaped to F (N x M), N = C filters, M = H*W positions:

    G_ij = sum_k F_ik F_jk                  (G = F F^T, the Gram matrix)
    E_l  = 1 / (4 N^2 M^2) sum_ij (G_ij - A_ij)^2        (A: the style image's Gram matrix)
    dE_l/dF_ij = 1 / (N^2 M^2) (F^T (G - A))_ji   if F_ij > 0, else 0

(the "if F_ij > 0" is the ReLU that produced F; below, the gradient is taken both with
respect to F and with respect to the ReLU's input). The content loss and its gradient:

    L_content = 1/2 sum_ij (F_ij - P_ij)^2,    dL/dF_ij = (F - P)_ij   if F_ij > 0, else 0

minidl's ``gram_matrix`` divides by N*M by default; then ``style_loss`` = 1/4 |G - A|^2 is
exactly E_l, as checked below.

Run:  python examples/gram_style_loss.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F
import minidl.viz

SMALL = np.array([[[1, 2], [0, 3]], [[2, 0], [1, 1]]], dtype=np.float64)     # (C=2, 2, 2)
TOLERANCE = dict(rtol=1e-12, atol=1e-15)


def show(name, array, digits=0):
    """Print an array under a title."""
    print(f"{name}:")
    for row in np.atleast_2d(array):
        print("   " + " ".join(f"{v:8.{digits}f}" for v in row))


def gram_by_hand(features):
    """G_ij = sum_k F_ik F_jk with F the (C, H*W) reshape, written as a double loop."""
    flat = features.reshape(features.shape[0], -1)
    n = len(flat)
    return np.array([[np.dot(flat[i], flat[j]) for j in range(n)] for i in range(n)])


def style_by_hand(features, target_gram_raw):
    """E_l and dE_l/dF (shaped like the features), the paper's formulas."""
    n, m = features.shape[0], features[0].size
    flat = features.reshape(n, -1)
    difference = gram_by_hand(features) - target_gram_raw
    loss = (difference ** 2).sum() / (4 * n ** 2 * m ** 2)
    gradient = (flat.T @ difference).T / (n ** 2 * m ** 2)        # (F^T (G - A))_ji
    return loss, gradient.reshape(features.shape)


def check_small_gram():
    """G = F F^T of a 2-channel integer example, and its normalised and permuted versions."""
    show("F (C = 2 channels, reshaped to 2 x 4)", SMALL.reshape(2, -1))
    hand = gram_by_hand(SMALL)
    show("G = F F^T by hand", hand)
    np.testing.assert_array_equal(hand, [[14, 5], [5, 6]])
    np.testing.assert_array_equal(minidl.viz.gram_matrix(SMALL, normalize=None).numpy(), hand)
    np.testing.assert_allclose(minidl.viz.gram_matrix(SMALL).numpy(), hand / 8, **TOLERANCE)
    print("   = viz.gram_matrix(F, normalize=None), and viz.gram_matrix(F) = G / (N M) = G / 8")
    permuted = SMALL.reshape(2, -1)[:, [3, 0, 2, 1]].reshape(SMALL.shape)
    np.testing.assert_array_equal(gram_by_hand(permuted), hand)
    print("   moving the positions around leaves G unchanged: it keeps which features occur "
          "together, not where\n")


def check_style_loss(rng, shape=(3, 4, 5)):
    """E_l and its gradient by hand against viz.style_loss and minidl.grad, with and without the ReLU."""
    pre = rng.standard_normal(shape)
    features = np.maximum(pre, 0)                   # the activations after a ReLU
    style = np.maximum(rng.standard_normal(shape), 0)
    loss, grad_f = style_by_hand(features, gram_by_hand(style))
    n, m = shape[0], shape[1] * shape[2]
    print(f"style loss, N = {n}, M = {m}: E_l = 1/(4 N^2 M^2) sum (G - A)^2 = {loss:.12f}")
    f_t = minidl.tensor(features, requires_grad=True)
    ours = minidl.viz.style_loss(f_t, minidl.viz.gram_matrix(style))
    np.testing.assert_allclose(ours.item(), loss, **TOLERANCE)
    np.testing.assert_allclose(minidl.grad(ours, f_t), grad_f, **TOLERANCE)
    print("   = viz.style_loss(F, viz.gram_matrix(style)); dE/dF = 1/(N^2 M^2) (F^T (G - A))^T "
          "= minidl.grad")
    pre_t = minidl.tensor(pre, requires_grad=True)
    through_relu = minidl.grad(minidl.viz.style_loss(F.relu(pre_t), minidl.viz.gram_matrix(style)),
                               pre_t)
    np.testing.assert_allclose(through_relu, np.where(features > 0, grad_f, 0), **TOLERANCE)
    print(f"   through the ReLU: the same where F_ij > 0 and 0 at the other "
          f"{int((features == 0).sum())} entries, the paper's 'if F_ij > 0'\n")


def check_content_loss(rng, shape=(3, 4, 5)):
    """The content loss and its gradient through the ReLU against viz.content_loss."""
    pre, content = rng.standard_normal(shape), np.maximum(rng.standard_normal(shape), 0)
    features = np.maximum(pre, 0)
    hand = 0.5 * ((features - content) ** 2).sum()
    pre_t = minidl.tensor(pre, requires_grad=True)
    ours = minidl.viz.content_loss(F.relu(pre_t), minidl.tensor(content))
    np.testing.assert_allclose(ours.item(), hand, **TOLERANCE)
    np.testing.assert_allclose(minidl.grad(ours, pre_t), np.where(features > 0, features - content, 0),
                               **TOLERANCE)
    print(f"content loss 1/2 sum (F - P)^2 = {hand:.12f} = viz.content_loss; its gradient "
          "(F - P) where F > 0, else 0 = minidl.grad through the ReLU")


def main():
    """Run the three checks; 0 on success."""
    rng = np.random.default_rng(0)
    check_small_gram()
    check_style_loss(rng)
    check_content_loss(rng)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
