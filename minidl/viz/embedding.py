"""Looking at what a layer represents: its features over a dataset, projected to a plane by
PCA or by t-SNE (van der Maaten & Hinton, "Visualizing data using t-SNE", JMLR 2008).

The t-SNE descent runs on minidl's own autograd: the map points Y are a tensor that
requires grad, the KL divergence is built from tensor ops (``tsne_loss``), and
``minidl.grad`` gives dKL/dY.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

import minidl

from . import plot
from .network import image_batches, layer_output

__all__ = ["PCA", "TSNE", "layer_features", "pca", "plot_embedding", "plot_explained_variance",
           "plot_tsne_loss", "tsne", "tsne_affinities", "tsne_loss"]


def layer_features(model, layer, data, pool="flatten", batch_size=64):
    """(features (N, D), labels (N,) or None): the output of ``layer`` for every sample of
    ``data`` (a DataLoader, a dataset or an array of images), read by a forward hook under
    ``no_grad``. ``pool="flatten"`` keeps every unit (D = C*H*W); ``pool="mean"`` averages
    each channel over its positions (global average pooling, D = C)."""
    if pool not in ("flatten", "mean"):
        raise ValueError(f"pool must be 'flatten' or 'mean', got {pool!r}")
    features, labels = [], []
    for images, batch_labels in image_batches(data, batch_size):
        output = layer_output(model, layer, images)
        if pool == "mean" and output.ndim > 2:
            output = output.mean(axis=tuple(range(2, output.ndim)))
        features.append(output.reshape(len(output), -1))
        labels.append(batch_labels)
    labels = None if labels[0] is None else np.concatenate(labels)
    return np.concatenate(features), labels


# ---------------------------------------------------------------------------------- PCA
class PCA(NamedTuple):
    """components (k, D): unit principal directions, by decreasing variance;
    explained_variance (k,); explained_variance_ratio (k,): its share of the total variance;
    projections (N, k): the centred data in those directions; mean (D,)."""
    components: np.ndarray
    explained_variance: np.ndarray
    explained_variance_ratio: np.ndarray
    projections: np.ndarray
    mean: np.ndarray


def pca(features, n_components=2):
    """Principal component analysis by the SVD of the centred data X - mean = U S V^T:
    components = the first k rows of V^T, explained variance = S^2 / (N - 1) (the variance
    along each), projections = (X - mean) V_k = U_k S_k."""
    features = np.asarray(features, dtype=np.float64)
    mean = features.mean(axis=0)
    u, s, vt = np.linalg.svd(features - mean, full_matrices=False)
    variance = s ** 2 / (len(features) - 1)
    k = n_components
    return PCA(vt[:k], variance[:k], variance[:k] / variance.sum(), u[:, :k] * s[:k], mean)


def plot_explained_variance(result, title=None):
    """Bars of each component's share of the variance and the cumulative share."""
    plt = plot.pyplot()
    ratio = result.explained_variance_ratio
    fig, ax = plt.subplots(figsize=(4, 3))
    components = np.arange(1, len(ratio) + 1)
    ax.bar(components, ratio, label="component")
    ax.plot(components, np.cumsum(ratio), "o-", color="black", label="cumulative")
    ax.set_xlabel("principal component", fontsize=8)
    ax.set_ylabel("share of variance", fontsize=8)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------- t-SNE
def _squared_distances(x):
    """|x_i - x_j|^2 for all pairs, as |x_i|^2 + |x_j|^2 - 2 x_i.x_j (clipped at 0)."""
    norms = (x * x).sum(axis=1)
    return np.maximum(norms[:, None] + norms[None, :] - 2 * x @ x.T, 0)


def _conditional(distances, beta):
    """p_{j|i} = exp(-beta_i d_ij) / sum_{k != i} exp(-beta_i d_ik) and its entropy in nats,
    H_i = log Z_i + beta_i sum_j p_{j|i} d_ij. ``distances`` has a zero diagonal and each
    row's smallest off-diagonal distance subtracted (which leaves p unchanged and keeps the
    largest term at exp(0), so Z_i never underflows)."""
    e = np.exp(-distances * beta[:, None])
    np.fill_diagonal(e, 0.0)
    z = e.sum(axis=1)
    p = e / z[:, None]
    return p, np.log(z) + beta * (p * distances).sum(axis=1)


def tsne_affinities(features, perplexity=30.0, tol=1e-5, max_iter=200):
    """The symmetric t-SNE affinities P (N, N), summing to 1 (van der Maaten & Hinton 2008,
    Sec. 2-3): p_{j|i} = exp(-|x_i - x_j|^2 / 2 sigma_i^2) / sum_{k != i} (same), with each
    sigma_i found by bisection on beta_i = 1 / (2 sigma_i^2) so that the perplexity 2^H(P_i)
    equals ``perplexity`` (to ``tol`` in entropy); then p_ij = (p_{j|i} + p_{i|j}) / (2N)."""
    x = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    n = len(x)
    if not 1 <= perplexity < n - 1:
        raise ValueError(f"perplexity must be in [1, N - 1) = [1, {n - 1}), got {perplexity}")
    distances = _squared_distances(x) + np.diag(np.full(n, np.inf))
    distances = distances - distances.min(axis=1, keepdims=True)
    np.fill_diagonal(distances, 0.0)
    target = np.log(perplexity)
    beta, low, high = np.ones(n), np.zeros(n), np.full(n, np.inf)
    for _ in range(max_iter):
        p, entropy = _conditional(distances, beta)
        if np.all(np.abs(entropy - target) < tol):
            break
        too_flat = entropy > target          # sigma too large: raise beta
        low, high = np.where(too_flat, beta, low), np.where(too_flat, high, beta)
        beta = np.where(np.isinf(high), 2 * beta, (low + high) / 2)
    return (p + p.T) / (2 * n)


def tsne_loss(P, Y):
    """KL(P || Q) as a minidl scalar, differentiable in the map points ``Y`` (a tensor).

    q_ij = (1 + |y_i - y_j|^2)^-1 / Z with Z = sum_{k != l} (1 + |y_k - y_l|^2)^-1 (a
    Student t kernel with one degree of freedom, Sec. 3.3). Since sum p = 1,
    KL = sum p log p + sum_ij p_ij log(1 + |y_i - y_j|^2) + log Z, whose gradient is the
    paper's Eq. 5, 4 sum_j (p_ij - q_ij)(y_i - y_j)(1 + |y_i - y_j|^2)^-1. An exaggerated P
    (alpha P, summing to alpha) gives the early-exaggeration gradient with alpha p_ij.
    """
    n = Y.shape[0]
    diff = Y.reshape(n, 1, -1) - Y.reshape(1, n, -1)
    one_plus_d2 = (diff * diff).sum(axis=2) + 1               # 1 + |y_i - y_j|^2
    z = (1 / one_plus_d2).sum() - n                           # the diagonal terms are 1
    positive = P[P > 0]
    entropy = float(np.sum(positive * np.log(positive)))
    return (minidl.tensor(P, dtype=Y.dtype) * one_plus_d2.log()).sum() + z.log() + entropy


class TSNE(NamedTuple):
    """embedding (N, d): the map points; losses (n_iter,): the objective at each iteration
    (the exaggerated one during early exaggeration); P (N, N): the input affinities."""
    embedding: np.ndarray
    losses: np.ndarray
    P: np.ndarray


def tsne(features, n_components=2, perplexity=30.0, n_iter=1000, learning_rate=100.0,
         exaggeration=4.0, exaggeration_iters=50, momentum=(0.5, 0.8), momentum_switch=250,
         seed=0):
    """t-SNE (van der Maaten & Hinton 2008, Algorithm 1 and Sec. 3.4) with the gradient from
    minidl's autograd.

    Y starts from N(0, 10^-4 I) drawn with ``seed``, then, with g = dKL/dY from
    ``minidl.grad`` of ``tsne_loss``: Y_t = Y_{t-1} + v_t, v_t = alpha(t) v_{t-1} - eta G_t g,
    with momentum alpha = 0.5 for the first ``momentum_switch`` iterations and 0.8 after,
    eta = ``learning_rate`` scaled per coordinate by Jacobs' (1988) adaptive gains G
    (+0.2 when g and v have opposite signs, i.e. the steps keep going downhill, x0.8
    otherwise, at least 0.01), and P multiplied by ``exaggeration`` for the first
    ``exaggeration_iters`` iterations (early exaggeration). Returns ``TSNE``.
    """
    P = tsne_affinities(features, perplexity)
    rng = np.random.default_rng(seed)
    Y = minidl.tensor(rng.normal(0.0, 1e-2, (len(P), n_components)), dtype=minidl.float64,
                      requires_grad=True)
    velocity, gains, losses = np.zeros(Y.shape), np.ones(Y.shape), []
    for t in range(n_iter):
        loss = tsne_loss(P * (exaggeration if t < exaggeration_iters else 1.0), Y)
        g = minidl.grad(loss, Y)
        gains = np.maximum(np.where((g > 0) != (velocity > 0), gains + 0.2, gains * 0.8), 0.01)
        alpha = momentum[0] if t < momentum_switch else momentum[1]
        velocity = alpha * velocity - learning_rate * gains * g
        Y.data = Y.data + velocity
        losses.append(loss.item())
    return TSNE(Y.numpy(), np.array(losses), P)


def plot_tsne_loss(result, title=None):
    """The t-SNE objective per iteration (the early-exaggeration phase included)."""
    plt = plot.pyplot()
    fig, ax = plt.subplots(figsize=(4, 3))
    plot.draw_curves(ax, {"KL(P || Q)": result.losses}, xlabel="iteration", title=title)
    fig.tight_layout()
    return fig


def plot_embedding(points, labels=None, class_names=None, title=None, size=4.0):
    """Scatter of 2-D points (N, 2) (PCA projections or a t-SNE embedding), coloured by class."""
    plt = plot.pyplot()
    points = np.asarray(points)
    fig, ax = plt.subplots(figsize=(size, size))
    groups = [(None, np.ones(len(points), bool))] if labels is None else \
        [(c, np.asarray(labels) == c) for c in np.unique(labels)]
    colours = plt.get_cmap("tab10" if len(groups) <= 10 else "tab20")
    for k, (label, chosen) in enumerate(groups):
        name = None if label is None else (class_names[label] if class_names else str(label))
        ax.scatter(points[chosen, 0], points[chosen, 1], s=8, color=colours(k % colours.N),
                   label=name)
    if labels is not None:
        ax.legend(fontsize=7, markerscale=2)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
