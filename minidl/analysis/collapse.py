"""Neural collapse (Papyan, Han and Donoho, "Prevalence of neural collapse during the terminal
phase of deep learning training", PNAS 2020).

Train a classifier past zero training error (the terminal phase of training, TPT) and watch
the last-layer features h (the input of the final linear classifier W, b) of the training
images. With class means mu_c, global mean mu_G, C classes, and

    Sigma_W = Ave_{i,c} (h_ic - mu_c)(h_ic - mu_c)^T      (within-class covariance)
    Sigma_B = Ave_c (mu_c - mu_G)(mu_c - mu_G)^T          (between-class covariance),

the paper's four properties are:

* NC1, variability collapse: Tr(Sigma_W Sigma_B^+) / C -> 0;
* NC2, the centred class means (and the classifier rows w_c) become a simplex equiangular
  tight frame: equal norms (coefficient of variation of ||mu_c - mu_G|| -> 0), equal angles
  (standard deviation of the cosines -> 0) at the largest possible angle (cosines -> -1/(C-1));
  as matrices, M M^T / ||M M^T||_F -> (I - 11^T/C) / sqrt(C - 1), the Gram matrix of the
  simplex ETF M* = sqrt(C/(C-1)) (I - 11^T/C), scaled;
* NC3, self-duality: W / ||W||_F - M / ||M||_F -> 0 (M's rows: mu_c - mu_G);
* NC4, the classifier becomes the nearest-class-mean rule: argmax_c (W h + b)_c agrees with
  argmin_c ||h - mu_c|| on every training image.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from minidl import nn

from . import figures
from .common import dataset_arrays, layer_io, train_classifier

__all__ = ["CollapseMetrics", "class_means", "collapse_metrics", "covariances", "equinorm_cv",
           "etf_distance", "max_angle_deviation", "nc1", "ncc_mismatch", "pairwise_cosines",
           "run", "self_duality", "simplex_etf", "track_collapse"]


# ----------------------------------------------------------------------------- statistics
def class_means(features, labels, num_classes):
    """(global mean mu_G (p,), class means mu_c (C, p)) of features (N, p); a ValueError if a
    class has no sample."""
    features = np.asarray(features, dtype=np.float64)
    counts = np.bincount(labels, minlength=num_classes)
    if np.any(counts == 0):
        raise ValueError(f"every class needs samples; classes {np.flatnonzero(counts == 0).tolist()} "
                         "have none")
    means = np.stack([features[labels == c].mean(axis=0) for c in range(num_classes)])
    return features.mean(axis=0), means


def covariances(features, labels, num_classes):
    """(Sigma_W, Sigma_B, mu_G, mu_c): the within-class covariance averaged over all samples
    and the between-class covariance of the class means about the global mean."""
    features = np.asarray(features, dtype=np.float64)
    global_mean, means = class_means(features, labels, num_classes)
    centred = features - means[labels]
    within = centred.T @ centred / len(features)
    spread = means - global_mean
    return within, spread.T @ spread / num_classes, global_mean, means


def nc1(within, between, num_classes, rtol=1e-10):
    """NC1 = Tr(Sigma_W Sigma_B^+) / C. Sigma_B^+ is the pseudo-inverse on the eigenvectors
    whose eigenvalues exceed ``rtol`` times the largest: Sigma_B has rank at most C (C - 1 for
    balanced classes), far below the feature dimension p, and rounding leaves tiny eigenvalues
    in the other directions that must not be inverted."""
    values, vectors = np.linalg.eigh(between)
    keep = values > rtol * values.max()
    inverse = (vectors[:, keep] / values[keep]) @ vectors[:, keep].T
    return float(np.trace(within @ inverse)) / num_classes


def equinorm_cv(vectors):
    """Std / mean of the row norms of ``vectors`` (C, p): 0 when all have one length."""
    norms = np.linalg.norm(np.asarray(vectors, dtype=np.float64), axis=1)
    return float(norms.std() / norms.mean())


def pairwise_cosines(vectors):
    """The cosines of the angles between distinct rows of ``vectors`` (C, p), c < c'."""
    vectors = np.asarray(vectors, dtype=np.float64)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return (unit @ unit.T)[np.triu_indices(len(vectors), k=1)]


def max_angle_deviation(vectors):
    """Ave_{c != c'} |cos(v_c, v_c') + 1/(C - 1)|: 0 at the simplex ETF's angles."""
    return float(np.abs(pairwise_cosines(vectors) + 1 / (len(vectors) - 1)).mean())


def simplex_etf(num_classes):
    """The standard simplex ETF M* = sqrt(C/(C-1)) (I - 11^T/C), (C, C): C unit vectors with
    pairwise cosines -1/(C-1)."""
    c = num_classes
    return np.sqrt(c / (c - 1)) * (np.eye(c) - np.ones((c, c)) / c)


def etf_distance(vectors):
    """|| V V^T / ||V V^T||_F - M*^T M* / ||M*^T M*||_F ||_F for the rows of V (C, p): 0 exactly
    when the rows form a simplex ETF of any size and orientation. (M*^T M* is
    C/(C-1) (I - 11^T/C), so its normalised form is (I - 11^T/C) / sqrt(C - 1).)"""
    vectors = np.asarray(vectors, dtype=np.float64)
    gram = vectors @ vectors.T
    target = simplex_etf(len(vectors)).T @ simplex_etf(len(vectors))
    return float(np.linalg.norm(gram / np.linalg.norm(gram) - target / np.linalg.norm(target)))


def self_duality(weight, centred_means):
    """NC3: || W / ||W||_F - M / ||M||_F ||_F^2 for the classifier W (C, p) and the centred
    class means M (C, p)."""
    weight = np.asarray(weight, dtype=np.float64)
    centred_means = np.asarray(centred_means, dtype=np.float64)
    difference = weight / np.linalg.norm(weight) - centred_means / np.linalg.norm(centred_means)
    return float((difference ** 2).sum())


def ncc_mismatch(features, means, logits):
    """NC4: the fraction of samples whose classifier decision argmax logits differs from the
    nearest class mean argmin_c ||h - mu_c||."""
    features = np.asarray(features, dtype=np.float64)
    distances = ((features[:, None] - means[None]) ** 2).sum(axis=-1)
    return float((np.asarray(logits).argmax(axis=1) != distances.argmin(axis=1)).mean())


@dataclasses.dataclass
class CollapseMetrics:
    """The four collapse properties at one moment of training (see the module's docstring);
    ``means_*`` are about the centred class means, ``classifier_*`` about the rows of W."""
    nc1: float
    means_norm_cv: float
    classifier_norm_cv: float
    means_cosine_std: float
    classifier_cosine_std: float
    means_max_angle: float
    classifier_max_angle: float
    means_etf_distance: float
    classifier_etf_distance: float
    self_duality: float
    ncc_mismatch: float


def collapse_metrics(features, labels, weight, bias=None):
    """``CollapseMetrics`` of features (N, p) with labels (N,) and a linear classifier W
    (C, p), b (C,) (the logits W h + b decide NC4)."""
    weight = np.asarray(weight, dtype=np.float64)
    labels = np.asarray(labels)
    num_classes = len(weight)
    within, between, global_mean, means = covariances(features, labels, num_classes)
    centred = means - global_mean
    logits = np.asarray(features, dtype=np.float64) @ weight.T + (0 if bias is None else bias)
    return CollapseMetrics(
        nc1=nc1(within, between, num_classes),
        means_norm_cv=equinorm_cv(centred), classifier_norm_cv=equinorm_cv(weight),
        means_cosine_std=float(pairwise_cosines(centred).std()),
        classifier_cosine_std=float(pairwise_cosines(weight).std()),
        means_max_angle=max_angle_deviation(centred),
        classifier_max_angle=max_angle_deviation(weight),
        means_etf_distance=etf_distance(centred), classifier_etf_distance=etf_distance(weight),
        self_duality=self_duality(weight, centred),
        ncc_mismatch=ncc_mismatch(features, means, logits))


# ----------------------------------------------------------------------------- tracking
def last_linear(model):
    """The model's last ``nn.Linear`` (its classifier)."""
    linears = [module for module in model.modules() if isinstance(module, nn.Linear)]
    if not linears:
        raise ValueError("neural collapse needs a model whose last layer is an nn.Linear; "
                         "this one has none")
    return linears[-1]


def epoch_metrics(model, images, labels):
    """One row of the tracking: the training error and the ``CollapseMetrics`` (as a dict)
    of the last linear layer's input features on ``images``."""
    classifier = last_linear(model)
    features = layer_io(model, classifier, images, which="input").reshape(len(images), -1)
    weight = classifier.weight.numpy()
    bias = None if classifier.bias is None else classifier.bias.numpy()
    metrics = collapse_metrics(features, labels, weight, bias)
    logits = features @ weight.T + (0 if bias is None else bias)
    return {"train_error": float((logits.argmax(axis=1) != labels).mean()),
            **dataclasses.asdict(metrics)}


def track_collapse(model, dataset, epochs, track_images=1000, **training):
    """Train ``model`` on ``dataset`` for ``epochs`` epochs (``common.train_classifier`` with
    the ``training`` options) and measure the collapse on (up to ``track_images`` of) the
    training images before training and after every epoch. Returns a list of dicts, one per
    epoch from 0, each with "epoch", "train_loss" (None at 0), "train_error" and the metrics."""
    images, labels = dataset_arrays(dataset, limit=track_images)
    rows = []

    def measure(epoch, net):
        rows.append({"epoch": epoch, **epoch_metrics(net, images, labels)})

    losses = train_classifier(model, dataset, epochs, on_epoch=measure, **training)
    for row, loss in zip(rows, [None] + losses):
        row["train_loss"] = loss
    return rows


def terminal_phase_start(rows):
    """The first epoch with zero training error (the start of the TPT), or None."""
    return next((row["epoch"] for row in rows if row["train_error"] == 0), None)


# ----------------------------------------------------------------------------- figures
PANELS = [("train_error", None, "training error", False),
          ("nc1", None, "NC1: Tr(Sw Sb+)/C", True),
          ("means_norm_cv", "classifier_norm_cv", "NC2 equinorm: CV of norms", False),
          ("means_cosine_std", "classifier_cosine_std", "NC2 equiangular: std of cosines", False),
          ("means_max_angle", "classifier_max_angle", "NC2 max angle: avg |cos + 1/(C-1)|", False),
          ("means_etf_distance", "classifier_etf_distance", "NC2: distance to simplex ETF", False),
          ("self_duality", None, "NC3: ||W/|W| - M/|M| ||^2", False),
          ("ncc_mismatch", None, "NC4: mismatch with nearest class mean", False)]


def _metrics_figure(rows):
    """The paper's plots, one panel per quantity against the epoch, class means solid and the
    classifier dashed, a vertical line where the training error first reaches zero."""
    fig, axes = figures.subplots(2, 4, size=(3.0, 2.4))
    epochs = [row["epoch"] for row in rows]
    start = terminal_phase_start(rows)
    for ax, (key, dual, title, logy) in zip(axes.ravel(), PANELS):
        ax.plot(epochs, [row[key] for row in rows], "o-", markersize=2,
                label="class means" if dual else None)
        if dual:
            ax.plot(epochs, [row[dual] for row in rows], "s--", markersize=2, label="classifier")
            ax.legend(fontsize=6)
        if logy:
            ax.set_yscale("log")
        if start is not None:
            ax.axvline(start, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def _geometry_figure(first, last, num_classes):
    """Cosines between the centred class means before and after training, and the simplex
    ETF's (1 on the diagonal, -1/(C-1) elsewhere)."""
    fig, axes = figures.subplots(1, 3, size=(3.0, 2.6))
    etf = simplex_etf(num_classes)
    panels = [(first, "centred class means, epoch 0"), (last, "centred class means, last epoch"),
              (etf.T @ etf / (num_classes / (num_classes - 1)), "simplex ETF")]
    for ax, (matrix, title) in zip(axes[0], panels):
        figures.heatmap(ax, matrix, title, cmap="RdBu_r", vmin=-1, vmax=1)
    fig.tight_layout()
    return fig


def _mean_cosines(model, images, labels, num_classes):
    features = layer_io(model, last_linear(model), images, which="input").reshape(len(images), -1)
    global_mean, means = class_means(features, labels, num_classes)
    unit = (means - global_mean) / np.linalg.norm(means - global_mean, axis=1, keepdims=True)
    return unit @ unit.T


def run(model, dataset, out_dir, quick=False, epochs=None, lr=0.05, weight_decay=5e-4,
        batch_size=32, track_images=1000, seed=0):
    """Train ``model`` (freshly initialised) on ``dataset`` into the terminal phase with SGD
    (momentum 0.9, weight decay as in the paper, cosine learning rate) for ``epochs``
    (default 40, 3 with ``quick``), tracking the collapse each epoch. Writes
    collapse-metrics.png, collapse-geometry.png and collapse.json into ``out_dir``; returns
    the numbers (every epoch's metrics, the first zero-error epoch, the last epoch's)."""
    epochs = epochs or (3 if quick else 40)
    images, labels = dataset_arrays(dataset, limit=track_images)
    num_classes = last_linear(model).weight.shape[0]
    first = _mean_cosines(model, images, labels, num_classes)
    rows = track_collapse(model, dataset, epochs, track_images=track_images, lr=lr,
                          weight_decay=weight_decay, batch_size=batch_size, seed=seed,
                          optimizer="sgd", cosine=True)
    last = _mean_cosines(model, images, labels, num_classes)
    numbers = {"epochs": rows, "terminal_phase_start": terminal_phase_start(rows),
               "final": rows[-1], "initial": rows[0], "classes": num_classes,
               "tracked_images": len(images)}
    numbers["figures"] = [
        figures.save_figure(_metrics_figure(rows), out_dir, "collapse-metrics.png"),
        figures.save_figure(_geometry_figure(first, last, num_classes), out_dir,
                            "collapse-geometry.png")]
    figures.write_json(numbers, out_dir, "collapse.json")
    return figures.jsonable(numbers)
