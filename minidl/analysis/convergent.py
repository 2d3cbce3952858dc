"""Convergent learning (Li, Yosinski, Clune, Lipson and Hopcroft, "Convergent learning: do
different neural networks learn the same representations?", ICLR 2016).

Two networks of one architecture, trained from different random seeds, are compared unit by
unit. A unit's activation is sampled over images and spatial positions; per layer:

* the within-net correlation matrices (each net's units against each other) and the between-net
  one (net A's units against net B's), from the units' means and standard deviations;
* one-to-one matchings of A's units to B's: greedy (take the most correlated free pair, again
  and again) and bipartite (the assignment with the largest total correlation, by the Hungarian
  method), and the semi-matching (each A unit to its most correlated B unit, repeats allowed);
* the correlation of each unit with its assigned unit, sorted (the paper's Fig. 3), against a
  random one-to-one assignment;
* the mutual information between matched units (binned activations);
* many-to-many clusters: spectral clustering of both nets' units together, and the mean
  correlation of the units of a cluster within each net and between the nets.

The Hungarian method is written here (``hungarian``), so the analysis needs no SciPy.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from minidl import nn

from . import figures
from .common import dataset_arrays, kmeans, layer_io

__all__ = ["Correlations", "LayerComparison", "bipartite_matching", "cluster_similarities",
           "compare_layer", "correlations", "default_layers", "greedy_matching", "hungarian",
           "mutual_information", "run", "semi_matching", "spectral_clusters", "unit_samples"]


# ----------------------------------------------------------------------------- correlations
def unit_samples(activations, max_samples=None, seed=0):
    """Activations (N, C, H, W) or (N, C) as samples (N H W, C): one row per image and
    position, one column per unit; at most ``max_samples`` rows, drawn without replacement."""
    activations = np.asarray(activations)
    if activations.ndim == 4:
        activations = np.moveaxis(activations, 1, -1).reshape(-1, activations.shape[1])
    elif activations.ndim != 2:
        raise ValueError(f"expected activations (N, C, H, W) or (N, C), got {activations.shape}")
    if max_samples is not None and len(activations) > max_samples:
        rows = np.random.default_rng(seed).choice(len(activations), max_samples, replace=False)
        activations = activations[np.sort(rows)]
    return activations.astype(np.float64)


@dataclasses.dataclass
class Correlations:
    """Unit statistics of one layer in two nets: the means and standard deviations over the
    samples (images x positions), and the correlation matrices within A (n, n), within B
    (m, m) and between them (n, m): corr(i, j) = E[(a_i - mu_i)(b_j - mu_j)] / (s_i s_j).
    A unit that never varies (s = 0, a "dead" unit) has correlation 0 with every unit."""
    mean_a: np.ndarray
    std_a: np.ndarray
    mean_b: np.ndarray
    std_b: np.ndarray
    within_a: np.ndarray
    within_b: np.ndarray
    between: np.ndarray


def _standardized(samples):
    mean, std = samples.mean(axis=0), samples.std(axis=0)
    return (samples - mean) / np.where(std > 0, std, np.inf), mean, std


def correlations(samples_a, samples_b):
    """``Correlations`` of two nets' unit samples (S, n) and (S, m) taken on the same inputs
    (row s of both is the same image and position)."""
    if len(samples_a) != len(samples_b):
        raise ValueError(f"the two nets' samples differ in number: {len(samples_a)} and "
                         f"{len(samples_b)}; run both on the same images")
    za, mean_a, std_a = _standardized(np.asarray(samples_a, dtype=np.float64))
    zb, mean_b, std_b = _standardized(np.asarray(samples_b, dtype=np.float64))
    count = len(za)
    within_a, within_b = za.T @ za / count, zb.T @ zb / count
    np.fill_diagonal(within_a, 1.0)
    np.fill_diagonal(within_b, 1.0)
    return Correlations(mean_a, std_a, mean_b, std_b, within_a, within_b, za.T @ zb / count)


# ----------------------------------------------------------------------------- matchings
def semi_matching(corr):
    """Each row's most correlated column (several rows may pick the same column)."""
    return np.asarray(corr).argmax(axis=1)


def greedy_matching(corr):
    """A one-to-one matching built greedily: the largest correlation among the rows and
    columns still free is taken, again and again. Returns the column of each row (rows <=
    columns)."""
    corr = np.asarray(corr)
    _check_rows(corr)
    order = np.argsort(-corr, axis=None, kind="stable")
    column_of = np.full(corr.shape[0], -1)
    taken = np.zeros(corr.shape[1], dtype=bool)
    for row, column in zip(*np.unravel_index(order, corr.shape)):
        if column_of[row] < 0 and not taken[column]:
            column_of[row], taken[column] = column, True
    return column_of


def _check_rows(matrix):
    if matrix.ndim != 2 or matrix.shape[0] > matrix.shape[1]:
        raise ValueError(f"expected a matrix with no more rows than columns, got {matrix.shape}")


def hungarian(cost):
    """The one-to-one assignment of rows to columns (rows <= columns) with the smallest total
    cost (Kuhn 1955, Munkres 1957), as shortest augmenting paths with potentials (Jonker and
    Volgenant 1987). Returns the column of each row.

    Dual potentials u (rows) and v (columns) keep every reduced cost c_ij - u_i - v_j >= 0 and
    0 on the matched pairs. Row i is added by a Dijkstra search over reduced costs from i to a
    free column: each round takes the unvisited column j1 of least tentative distance delta,
    raises the potentials of the visited rows by delta and lowers those of the visited columns
    (keeping the matched pairs tight), and follows j1's match. Flipping the path found adds
    one pair. An assignment with all its pairs tight under feasible potentials is optimal
    (complementary slackness), so after the last row the assignment is a minimum.
    """
    cost = np.asarray(cost, dtype=np.float64)
    _check_rows(cost)
    rows, columns = cost.shape
    u, v = np.zeros(rows + 1), np.zeros(columns + 1)
    row_of = np.zeros(columns + 1, dtype=np.int64)   # column 0 is the search's start
    way = np.zeros(columns + 1, dtype=np.int64)
    for row in range(1, rows + 1):
        row_of[0], column = row, 0
        distance = np.full(columns + 1, np.inf)
        visited = np.zeros(columns + 1, dtype=bool)
        while row_of[column] != 0:
            visited[column] = True
            reduced = cost[row_of[column] - 1] - u[row_of[column]] - v[1:]
            closer = ~visited[1:] & (reduced < distance[1:])
            distance[1:][closer], way[1:][closer] = reduced[closer], column
            free = np.flatnonzero(~visited[1:]) + 1
            nearest = free[np.argmin(distance[free])]
            delta = distance[nearest]
            u[row_of[visited]] += delta
            v[visited] -= delta
            distance[free] -= delta
            column = nearest
        while column:
            previous = way[column]
            row_of[column], column = row_of[previous], previous
    column_of = np.empty(rows, dtype=np.int64)
    column_of[row_of[1:][row_of[1:] > 0] - 1] = np.flatnonzero(row_of[1:] > 0)
    return column_of


def bipartite_matching(corr):
    """The one-to-one matching with the largest total correlation (the Hungarian method on
    -corr). Returns the column of each row."""
    return hungarian(-np.asarray(corr, dtype=np.float64))


# ----------------------------------------------------------------------------- information
def mutual_information(x, y, bins=16):
    """Mutual information I(X; Y) in bits of two unit samples, from their joint histogram on
    ``bins`` equal-width bins over each one's range:
    I = sum_ab p(a, b) log2(p(a, b) / (p(a) p(b))). A constant unit carries 0 bits."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    joint, _, _ = np.histogram2d(x, y, bins=bins)
    joint /= joint.sum()
    px, py = joint.sum(axis=1, keepdims=True), joint.sum(axis=0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log2(joint[nonzero] / (px @ py)[nonzero])).sum())


# ----------------------------------------------------------------------------- clusters
def spectral_clusters(corr, k, seed=0):
    """Spectral clustering of units from their correlation matrix (Ng, Jordan and Weiss 2002):
    affinity A = max(corr, 0) with zero diagonal, the k eigenvectors of the largest
    eigenvalues of D^-1/2 A D^-1/2 (D the row sums) as coordinates, each row scaled to unit
    length, then k-means. Returns a cluster label per unit."""
    affinity = np.clip(np.asarray(corr, dtype=np.float64), 0, None)
    np.fill_diagonal(affinity, 0.0)
    degree = affinity.sum(axis=1)
    scale = 1 / np.sqrt(np.where(degree > 0, degree, 1))
    _, vectors = np.linalg.eigh(scale[:, None] * affinity * scale[None])
    coordinates = vectors[:, -k:]
    norms = np.linalg.norm(coordinates, axis=1, keepdims=True)
    labels, _ = kmeans(coordinates / np.where(norms > 0, norms, 1), k, seed=seed)
    return labels


def cluster_similarities(correlations_, labels):
    """For each cluster of the joint units (net A's n units, then net B's m), the number of
    units from each net and the mean correlation within the nets (pairs of distinct units of
    one net, both nets pooled) and between them (pairs with one unit from each); NaN where a
    cluster has no such pair. Returns a list of dicts, one per cluster label."""
    c = correlations_
    joint = np.block([[c.within_a, c.between], [c.between.T, c.within_b]])
    net = np.r_[np.zeros(len(c.within_a), dtype=int), np.ones(len(c.within_b), dtype=int)]
    rows = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        block, of = joint[np.ix_(members, members)], net[members]
        same = (of[:, None] == of[None]) & ~np.eye(len(members), dtype=bool)
        across = of[:, None] != of[None]
        rows.append({"cluster": int(label), "units_a": int((of == 0).sum()),
                     "units_b": int((of == 1).sum()),
                     "within": float(block[same].mean()) if same.any() else float("nan"),
                     "between": float(block[across].mean()) if across.any() else float("nan")})
    return rows


# ----------------------------------------------------------------------------- one layer
@dataclasses.dataclass
class LayerComparison:
    """Everything the analysis finds for one layer: the ``Correlations``; the column of each
    A unit under each matching (``matches``: "bipartite", "greedy", "semi"; "random" is one
    random permutation); the correlation with the assigned unit, per matching, sorted in
    decreasing order (``sorted_correlation``; "random" averaged over many permutations); the
    mutual information (bits) of the bipartite-matched pairs and of randomly paired units;
    the joint cluster labels and their ``cluster_similarities``."""
    layer: str
    correlations: Correlations
    matches: dict
    sorted_correlation: dict
    mutual_information: dict
    cluster_labels: np.ndarray
    clusters: list


def _random_baseline(corr, rng, draws=200):
    """The sorted correlation with a randomly assigned unit, averaged over ``draws``
    permutations, and one such permutation."""
    curves = [np.sort(corr[np.arange(len(corr)), rng.permutation(corr.shape[1])[:len(corr)]])[::-1]
              for _ in range(draws)]
    return np.mean(curves, axis=0), rng.permutation(corr.shape[1])[:len(corr)]


def compare_layer(samples_a, samples_b, layer="", clusters=None, bins=16, seed=0):
    """Compare one layer of two nets from their unit samples (S, n) and (S, m), n <= m (see
    ``unit_samples``): a ``LayerComparison``. ``clusters``: the number of joint clusters
    (default: about one per four units of a net, at least 2)."""
    c = correlations(samples_a, samples_b)
    rng = np.random.default_rng(seed)
    matches = {"bipartite": bipartite_matching(c.between), "greedy": greedy_matching(c.between),
               "semi": semi_matching(c.between)}
    rows = np.arange(len(c.between))
    curves = {name: np.sort(c.between[rows, cols])[::-1] for name, cols in matches.items()}
    curves["random"], matches["random"] = _random_baseline(c.between, rng)
    information = {
        "bipartite": np.array([mutual_information(samples_a[:, i], samples_b[:, j], bins)
                               for i, j in zip(rows, matches["bipartite"])]),
        "random": np.array([mutual_information(samples_a[:, i], samples_b[:, j], bins)
                            for i, j in zip(rows, matches["random"])])}
    k = clusters or max(2, len(rows) // 4)
    joint = np.block([[c.within_a, c.between], [c.between.T, c.within_b]])
    labels = spectral_clusters(joint, k, seed)
    return LayerComparison(layer, c, matches, curves, information, labels,
                           cluster_similarities(c, labels))


def default_layers(model):
    """The layers compared by default: every ``nn.ReLU`` (the units after their
    non-linearity), or every convolution and linear layer if the model has no ReLU modules."""
    relus = [name for name, module in model.named_modules() if isinstance(module, nn.ReLU)]
    return relus or [name for name, module in model.named_modules()
                     if isinstance(module, (nn.Conv2d, nn.Linear))]


# ----------------------------------------------------------------------------- figures
def _matrix_figure(comparisons):
    """Within A, within B and between (B's units in A's order by the bipartite matching)."""
    fig, axes = figures.subplots(len(comparisons), 3, size=(2.9, 2.5))
    for row, comp in zip(axes, comparisons):
        c, order = comp.correlations, comp.matches["bipartite"]
        panels = [(c.within_a, "within net A"),
                  (c.within_b[np.ix_(order, order)], "within net B (matched order)"),
                  (c.between[:, order], "between A and B (matched order)")]
        for ax, (matrix, title) in zip(row, panels):
            figures.heatmap(ax, matrix, f"{comp.layer}: {title}", cmap="RdBu_r", vmin=-1, vmax=1)
    fig.tight_layout()
    return fig


def _matching_figure(comparisons):
    """Row 1: sorted correlation with the assigned unit; row 2: sorted mutual information."""
    fig, axes = figures.subplots(2, len(comparisons), size=(3.0, 2.5))
    for column, comp in enumerate(comparisons):
        ax = axes[0, column]
        for name, curve in comp.sorted_correlation.items():
            ax.plot(curve, label=name, linestyle="--" if name == "random" else "-")
        ax.set(title=f"{comp.layer}: correlation with match", xlabel="unit (sorted)", ylim=(-0.2, 1.02))
        ax = axes[1, column]
        for name, values in comp.mutual_information.items():
            ax.plot(np.sort(values)[::-1], label=name, linestyle="--" if name == "random" else "-")
        ax.set(title=f"{comp.layer}: mutual information (bits)", xlabel="unit (sorted)")
    for ax in axes.ravel():
        ax.title.set_fontsize(8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def _filter_figure(model_a, model_b, comparison, count=12):
    """The first convolution's filters of net A (top) and their bipartite matches in net B
    (bottom), best-matched first."""
    conv_a = next(m for m in model_a.modules() if isinstance(m, nn.Conv2d))
    conv_b = next(m for m in model_b.modules() if isinstance(m, nn.Conv2d))
    wa, wb = conv_a.weight.numpy(), conv_b.weight.numpy()
    matched = comparison.matches["bipartite"]
    score = comparison.correlations.between[np.arange(len(matched)), matched]
    units = np.argsort(-score)[:count]
    fig, axes = figures.subplots(2, len(units), size=(1.0, 1.2))
    for column, unit in enumerate(units):
        for row, (weight, index) in enumerate([(wa, unit), (wb, matched[unit])]):
            tile = weight[index]
            tile = np.moveaxis(tile, 0, -1) if tile.shape[0] == 3 else tile.mean(axis=0)
            peak = np.abs(tile).max() or 1.0
            axes[row, column].imshow(0.5 + tile / (2 * peak), cmap="gray", vmin=0, vmax=1)
            axes[row, column].set_xticks([])
            axes[row, column].set_yticks([])
            axes[row, column].set_title(f"{'A' if row == 0 else 'B'}{index}"
                                        + (f" r={score[unit]:.2f}" if row == 0 else ""), fontsize=6)
    fig.suptitle("first-layer filters: net A (top) and its matched unit in net B (bottom)", fontsize=8)
    fig.tight_layout()
    return fig


def _cluster_figure(comparisons):
    """Left: the joint correlation matrix of the last layer, units grouped by cluster;
    right: each cluster's within-net against its between-net similarity, every layer."""
    fig, axes = figures.subplots(1, 2, size=(3.6, 3.2))
    last = comparisons[-1]
    c = last.correlations
    joint = np.block([[c.within_a, c.between], [c.between.T, c.within_b]])
    order = np.argsort(last.cluster_labels, kind="stable")
    figures.heatmap(axes[0, 0], joint[np.ix_(order, order)],
                    f"{last.layer}: both nets' units by cluster", cmap="RdBu_r", vmin=-1, vmax=1)
    for comp in comparisons:
        points = np.array([(row["within"], row["between"]) for row in comp.clusters])
        axes[0, 1].scatter(points[:, 0], points[:, 1], s=12, label=comp.layer)
    axes[0, 1].plot([-0.2, 1], [-0.2, 1], color="grey", linewidth=0.8)
    axes[0, 1].set(xlabel="within-net similarity", ylabel="between-net similarity",
                   title="clusters (mean correlation)")
    axes[0, 1].title.set_fontsize(8)
    axes[0, 1].legend(fontsize=6)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- entry point
def _layer_numbers(comp):
    """The JSON numbers of one ``LayerComparison``."""
    bipartite = comp.sorted_correlation["bipartite"]
    return {"units": len(bipartite),
            "mean_matched_correlation": {name: float(curve.mean())
                                         for name, curve in comp.sorted_correlation.items()},
            "units_matched_above_0.9": int((bipartite > 0.9).sum()),
            "semi_matching_distinct_targets": int(len(np.unique(comp.matches["semi"]))),
            "mean_mutual_information_bits": {name: float(values.mean()) for name, values
                                             in comp.mutual_information.items()},
            "clusters": comp.clusters,
            "bipartite_matching": comp.matches["bipartite"]}


def run(models, dataset, out_dir, quick=False, layers=None, images=None, max_samples=None,
        seed=0):
    """Compare two trained nets (``models`` = (net A, net B), one architecture) on the images
    of ``dataset`` (default: its first 500, 100 with ``quick``) at ``layers`` (default:
    ``default_layers``). Writes convergent-correlations.png, convergent-matching.png,
    convergent-filters.png, convergent-clusters.png and convergent.json into ``out_dir``;
    returns the numbers (per layer: mean matched correlation per matching and for a random
    assignment, mutual information, clusters)."""
    if len(models) != 2:
        raise ValueError(f"convergent learning compares two nets, got {len(models)}")
    model_a, model_b = models
    layers = layers or default_layers(model_a)
    pictures, _ = dataset_arrays(dataset, limit=images or (100 if quick else 500))
    cap = max_samples or (20_000 if quick else 200_000)
    outputs_a = layer_io(model_a, layers, pictures)
    outputs_b = layer_io(model_b, layers, pictures)
    comparisons = [compare_layer(unit_samples(a, cap, seed), unit_samples(b, cap, seed), name,
                                 seed=seed)
                   for name, a, b in zip(layers, outputs_a, outputs_b)]
    numbers = {"layers": {comp.layer: _layer_numbers(comp) for comp in comparisons},
               "images": len(pictures)}
    numbers["figures"] = [
        figures.save_figure(_matrix_figure(comparisons), out_dir, "convergent-correlations.png"),
        figures.save_figure(_matching_figure(comparisons), out_dir, "convergent-matching.png"),
        figures.save_figure(_filter_figure(model_a, model_b, comparisons[0]), out_dir,
                            "convergent-filters.png"),
        figures.save_figure(_cluster_figure(comparisons), out_dir, "convergent-clusters.png")]
    figures.write_json(numbers, out_dir, "convergent.json")
    return figures.jsonable(numbers)
