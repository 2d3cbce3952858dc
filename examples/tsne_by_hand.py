"""t-SNE by hand (van der Maaten & Hinton, "Visualizing data using t-SNE", JMLR 2008),
checked against ``minidl.viz.tsne_affinities``, ``minidl.viz.tsne_loss`` and minidl's autograd.

1. Conditional affinities with a Gaussian per point, its width sigma_i set by bisection so
   that the perplexity 2^H(P_i) (H in bits) equals the chosen one (Sec. 2):

       p_{j|i} = exp(-|x_i - x_j|^2 / 2 sigma_i^2) / sum_{k != i} exp(-|x_i - x_k|^2 / 2 sigma_i^2)

2. Symmetrised (Sec. 3.1): p_ij = (p_{j|i} + p_{i|j}) / 2n, which sums to 1.
3. The map points y_i get a Student-t kernel (Sec. 3.3):

       q_ij = (1 + |y_i - y_j|^2)^-1 / sum_{k != l} (1 + |y_k - y_l|^2)^-1

4. The cost and its gradient (Sec. 3.3):

       C = KL(P || Q) = sum_{i != j} p_ij log(p_ij / q_ij)
       dC/dy_i = 4 sum_j (p_ij - q_ij)(y_i - y_j)(1 + |y_i - y_j|^2)^-1

The bisection here is on sigma_i and minidl's on beta_i = 1 / 2 sigma_i^2, both run to a
tolerance of 1e-12 in entropy, so P agrees to that tolerance; C and its gradient are
closed forms and agree to float64 rounding.

Run:  python examples/tsne_by_hand.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.viz

PERPLEXITY = 4.0
POINTS_PER_CLUSTER = 6


def three_clusters(rng, dims=5):
    """Three Gaussian clusters in 5-D and their labels."""
    centres = np.array([[0.0] * dims, [6.0] + [0.0] * (dims - 1), [0.0, 6.0] + [0.0] * (dims - 2)])
    x = np.concatenate([c + rng.standard_normal((POINTS_PER_CLUSTER, dims)) for c in centres])
    return x, np.repeat(np.arange(3), POINTS_PER_CLUSTER)


def conditional_row(distances_i, i, sigma):
    """p_{.|i} for one sigma, and its entropy in bits."""
    logits = -distances_i / (2 * sigma ** 2)
    logits[i] = -np.inf
    p = np.exp(logits - logits.max())
    p /= p.sum()
    positive = p[p > 0]
    return p, -np.sum(positive * np.log2(positive))


def affinities_by_hand(x, perplexity, verbose_row=0):
    """Bisection on log sigma_i until 2^H = perplexity (to 1e-12 in H), then symmetrise."""
    n = len(x)
    distances = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    target = np.log2(perplexity)
    conditional = np.zeros((n, n))
    for i in range(n):
        low, high = -10.0, 10.0                                # log sigma
        for _ in range(200):
            sigma = np.exp((low + high) / 2)
            p, entropy = conditional_row(distances[i], i, sigma)
            if abs(entropy - target) < 1e-12:
                break
            low, high = (low, np.log(sigma)) if entropy > target else (np.log(sigma), high)
        conditional[i] = p
        if i == verbose_row:
            print(f"   point {i}: sigma = {sigma:.6f}, H(P_{i}) = {entropy:.12f} bits, "
                  f"perplexity 2^H = {2 ** entropy:.10f}")
    return (conditional + conditional.T) / (2 * n)


def kl_and_gradient_by_hand(P, Y):
    """C = KL(P || Q) and its gradient, with explicit sums over j."""
    n = len(Y)
    kernel = 1 / (1 + ((Y[:, None, :] - Y[None, :, :]) ** 2).sum(axis=2))
    np.fill_diagonal(kernel, 0.0)
    Q = kernel / kernel.sum()
    off = ~np.eye(n, dtype=bool)
    cost = np.sum(P[off] * np.log(P[off] / Q[off]))
    gradient = np.zeros_like(Y)
    for i in range(n):
        for j in range(n):
            gradient[i] += 4 * (P[i, j] - Q[i, j]) * (Y[i] - Y[j]) * kernel[i, j]
    return cost, gradient, Q


def check_affinities(x):
    """P by hand against viz.tsne_affinities; returns P."""
    print(f"affinities, perplexity {PERPLEXITY}: bisection on sigma_i for every point")
    P = affinities_by_hand(x, PERPLEXITY)
    np.testing.assert_allclose(P.sum(), 1.0, rtol=1e-14)
    np.testing.assert_allclose(P, P.T, rtol=0, atol=0)
    ours = minidl.viz.tsne_affinities(x, PERPLEXITY, tol=1e-12, max_iter=400)
    np.testing.assert_allclose(ours, P, rtol=1e-9, atol=1e-15)
    print(f"   P symmetric, sums to 1; = viz.tsne_affinities (largest difference "
          f"{np.abs(ours - P).max():.1e})\n")
    return P


def check_cost_and_gradient(P, rng):
    """KL(P || Q) and its gradient by hand against viz.tsne_loss and minidl.grad."""
    Y = rng.standard_normal((len(P), 2))
    cost, gradient, Q = kl_and_gradient_by_hand(P, Y)
    print(f"a random map Y: sum q_ij = {Q.sum():.15f}, KL(P || Q) = {cost:.12f}")
    y_t = minidl.tensor(Y, requires_grad=True)
    loss = minidl.viz.tsne_loss(P, y_t)
    np.testing.assert_allclose(loss.item(), cost, rtol=1e-12)
    np.testing.assert_allclose(minidl.grad(loss, y_t), gradient, rtol=1e-10, atol=1e-14)
    print(f"   = viz.tsne_loss; the gradient by hand = minidl.grad (dC/dy_0 = {np.round(gradient[0], 6)})\n")


def check_embedding(x, labels):
    """A short viz.tsne run lowers the cost and keeps the clusters apart."""
    result = minidl.viz.tsne(x, perplexity=PERPLEXITY, n_iter=300, learning_rate=10.0, seed=0)
    after_exaggeration = result.losses[50]
    final_cost, _, _ = kl_and_gradient_by_hand(result.P, result.embedding)
    print(f"viz.tsne, 300 iterations: KL {after_exaggeration:.4f} (after early exaggeration) -> "
          f"{final_cost:.4f} (by hand, at the final map)")
    np.testing.assert_(final_cost < after_exaggeration, "t-SNE did not lower the cost")
    distances = ((result.embedding[:, None] - result.embedding[None]) ** 2).sum(axis=2)
    np.fill_diagonal(distances, np.inf)
    same = labels[distances.argmin(axis=1)] == labels
    print(f"   every point's nearest map neighbour is in its own cluster: {bool(same.all())}")
    np.testing.assert_(same.all(), "clusters mixed in the map")


def main():
    """Run the three checks; 0 on success."""
    rng = np.random.default_rng(0)
    x, labels = three_clusters(rng)
    P = check_affinities(x)
    check_cost_and_gradient(P, rng)
    check_embedding(x, labels)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
