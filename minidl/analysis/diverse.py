"""Multifaceted and diverse feature visualization: more than one picture per unit.

* Multifaceted feature visualization (Nguyen, Yosinski and Clune, "Multifaceted feature
  visualization: uncovering the different types of features learned by each neuron in deep
  neural networks", ICML workshop 2016): a unit answers several kinds of input (facets).
  Its top dataset images are embedded (a layer's activations, reduced by PCA), clustered by
  k-means, and activation maximisation starts from each cluster's mean image, giving one
  visualization per facet (``multifaceted_visualization``).
* Diversity (Olah, Mordvintsev and Schubert, "Feature visualization", Distill 2017): a batch
  of images is optimised together, the objective minus a penalty on how alike their styles
  are, the mean cosine similarity of the Gram matrices of a layer's activations over the
  pairs of images (``diverse_visualization``).
* Center-biased regularisation (Nguyen et al. 2016): the image is a canvas larger than the
  network's input, and each step optimises a crop drawn around the canvas's centre (its
  offset normally distributed, so the centre is updated far more often than the border), on
  a canvas that grows in phases and is blurred as it goes: one centred object instead of
  repeated fragments (``center_biased_visualization``; here with Gaussian blur where the
  paper used total-variation denoising).
"""
from __future__ import annotations

import dataclasses

import numpy as np

import minidl
import minidl.functional as F
from minidl import nn, viz

from . import figures
from .common import dataset_arrays, kmeans, layer_io, parameter_dtype

__all__ = ["Facets", "center_biased_visualization", "center_energy", "diverse_visualization",
           "diversity_penalty", "facets", "gram_matrices", "multifaceted_visualization",
           "pairwise_style_similarity", "run", "unit_activations"]


# ----------------------------------------------------------------------------- facets
def unit_activations(model, layer, channel, images):
    """The unit's activation per image (N,): the channel's mean over positions (or the unit
    itself for a layer with flat outputs), as ``viz.feature_visualization`` maximises it."""
    output = layer_io(model, layer, images)[:, channel]
    return output.reshape(len(images), -1).mean(axis=1)


@dataclasses.dataclass
class Facets:
    """The top dataset images of a unit (``indices``, strongest first, and their
    ``activations``) split into facets: ``labels`` (one per top image) and each facet's mean
    image ``centres`` (k, C, H, W)."""
    indices: np.ndarray
    activations: np.ndarray
    labels: np.ndarray
    centres: np.ndarray


def facets(model, layer, channel, images, k=3, top=30, embed_layer=None, components=10, seed=0):
    """The ``Facets`` of a unit: its ``top`` images among ``images``, embedded by the
    flattened output of ``embed_layer`` (default: the unit's own layer), standardised and
    reduced by PCA to ``components`` dimensions, clustered into ``k`` groups by k-means."""
    images = np.asarray(images)
    if not 1 <= k <= top <= len(images):
        raise ValueError(f"need 1 <= k <= top <= number of images, got k={k}, top={top}, "
                         f"{len(images)} images")
    activation = unit_activations(model, layer, channel, images)
    indices = np.argsort(-activation, kind="stable")[:top]
    embedding = layer_io(model, embed_layer or layer, images[indices]).reshape(top, -1)
    embedding = (embedding - embedding.mean(axis=0)) / (embedding.std(axis=0) + 1e-8)
    _, _, vt = np.linalg.svd(embedding, full_matrices=False)
    labels, _ = kmeans(embedding @ vt[:components].T, k, seed=seed)
    centres = np.stack([images[indices][labels == c].mean(axis=0) if np.any(labels == c)
                        else images[indices].mean(axis=0) for c in range(k)])
    return Facets(indices, activation[indices], labels, centres)


def multifaceted_visualization(model, layer, channel, images, k=3, steps=100, seed=0,
                               **options):
    """One feature visualization per facet (see ``facets``): activation maximisation of the
    unit from each facet's mean image (with jitter, blur and a small L2 decay). Returns the
    images (k, C, H, W) and the ``Facets``; ``options`` go to ``facets``."""
    found = facets(model, layer, channel, images, k, seed=seed, **options)
    pictures = [viz.feature_visualization(model, viz.get_module(model, layer), int(channel),
                                          centre.shape, steps=steps, init=centre, init_std=0.0,
                                          jitter=2, blur_every=4, l2=1e-3, seed=seed)[0]
                for centre in found.centres]
    return np.stack(pictures), found


# ----------------------------------------------------------------------------- diversity
def gram_matrices(activations):
    """G_n = F_n F_n^T / (H W) for activations (N, C, H, W) (a tensor), F_n the (C, H W)
    matrix of image n: the style of each image (Gatys et al. 2015). Returns (N, C, C)."""
    n, c = activations.shape[:2]
    flat = activations.reshape(n, c, -1)
    return (flat @ flat.transpose(0, 2, 1)) / flat.shape[-1]


def diversity_penalty(activations):
    """The mean cosine similarity of the flattened Gram matrices over the ordered pairs of
    distinct images, (1 / (N (N - 1))) sum_{k != l} <G_k, G_l> / (|G_k| |G_l|): 1 for a batch
    of identical images (a tensor; needs N >= 2)."""
    n = activations.shape[0]
    if n < 2:
        raise ValueError(f"the diversity penalty needs at least 2 images, got {n}")
    grams = gram_matrices(activations).reshape(n, -1)
    unit = grams / ((grams * grams).sum(axis=1, keepdims=True).sqrt() + 1e-12)
    similarity = unit @ unit.T
    return (similarity.sum() - (similarity * minidl.tensor(np.eye(n, dtype=unit.dtype))).sum()) \
        / (n * (n - 1))


def pairwise_style_similarity(model, layer, images):
    """``diversity_penalty`` of ``images`` (N, C, H, W) at ``layer``, as a number."""
    with minidl.no_grad():
        x = minidl.tensor(np.asarray(images, dtype=parameter_dtype(model)))
        return float(diversity_penalty(viz.layer_activations(model, [layer], x)[0]).item())


def diverse_visualization(model, layer, channel, shape, count=4, weight=1.0, style_layer=None,
                          steps=100, lr=0.05, jitter=2, seed=0):
    """``count`` images optimised together (Adam on the pixels, from grey plus noise) to
    maximise mean_n a(x_n) - weight * diversity_penalty(style_layer(x)) (default style
    layer: the unit's own), with jitter and a blur every 4 steps. ``weight`` is in the units
    of the activation a. Returns the images (count, C, H, W) and the objective per step."""
    rng = np.random.default_rng(seed)
    style_layer = style_layer or layer
    start = (0.5 + 0.1 * rng.standard_normal((count, *shape))).astype(parameter_dtype(model))

    def loss(x):
        shifted = viz.roll(x, *rng.integers(-jitter, jitter + 1, size=2))
        unit, style = viz.layer_activations(model, [layer, style_layer], shifted)
        unit = unit[:, channel]
        activation = unit.reshape(count, -1).mean()
        return weight * diversity_penalty(style) - activation

    priors = viz.Regularizers(blur_every=4, blur_sigma=0.5)
    images, history = viz.optimize_image(loss, start, steps, lr, "adam", priors.project)
    return images, -history


# ----------------------------------------------------------------------------- centre bias
def _objective(model, layer, channel):
    """x -> the unit's activation for a batch of one (the channel's mean over positions)."""
    def objective(x):
        a = viz.layer_activations(model, [layer], x)[0][0, channel]
        return a if a.ndim == 0 else a.mean()
    return objective


def _crop_step(canvas, objective, size, window, lr, rng):
    """One normalised gradient-ascent step on a crop of ``size`` drawn around the canvas's
    centre (offset ~ N(middle, window x the spare room), clipped)."""
    spare = np.array(canvas.shape[-2:]) - np.array(size)
    offset = np.clip(np.round(rng.normal(spare / 2, window * spare + 1e-9)), 0, spare).astype(int)
    box = (slice(None), slice(offset[0], offset[0] + size[0]), slice(offset[1], offset[1] + size[1]))
    crop = minidl.tensor(canvas[box][None], requires_grad=True)
    gradient = minidl.grad(objective(crop), crop)[0]
    canvas[box] += lr * gradient / (np.abs(gradient).mean() + 1e-12)
    np.clip(canvas, 0.0, 1.0, out=canvas)


PHASES = ({"scale": 1.0, "fraction": 0.5, "window": 0.3, "sigma": 1.0, "lr": 0.02},
          {"scale": 1.25, "fraction": 0.3, "window": 0.3, "sigma": 0.7, "lr": 0.015},
          {"scale": 1.5, "fraction": 0.2, "window": 0.15, "sigma": 0.5, "lr": 0.01})


def center_biased_visualization(model, layer, channel, shape, steps=150, phases=PHASES, seed=0,
                                blur_every=4):
    """Activation maximisation with center-biased regularisation (see the module's
    docstring): for each phase, the canvas is resized (bilinear) to ``scale`` times the
    input size, then ``fraction`` of the ``steps`` steps each optimise a crop of the input's
    size around the centre (``window``: the offset's standard deviation as a fraction of the
    spare room; ``lr``: the normalised step), blurring the canvas with ``sigma`` every
    ``blur_every`` steps; pixels stay in [0, 1]. Returns the final canvas (C, H', W')."""
    rng = np.random.default_rng(seed)
    dtype = parameter_dtype(model)
    canvas = (0.5 + 0.05 * rng.standard_normal(shape)).astype(dtype)
    objective = _objective(model, layer, channel)
    for phase in phases:
        size = [int(round(phase["scale"] * n)) for n in shape[1:]]
        with minidl.no_grad():
            canvas = F.interpolate(minidl.tensor(canvas[None]), size=tuple(size),
                                   mode="bilinear").numpy()[0]
        for step in range(max(1, int(round(phase["fraction"] * steps)))):
            _crop_step(canvas, objective, shape[1:], phase["window"], phase["lr"], rng)
            if (step + 1) % blur_every == 0:
                canvas = viz.gaussian_blur(canvas, phase["sigma"])
    return canvas


def center_energy(image, background=0.5):
    """The share of the image's energy |x - background|^2 that lies in its central half
    (the middle H/2 x W/2 window): 1/4 for energy spread evenly, up to 1 when it is all in
    the centre."""
    energy = ((np.asarray(image, dtype=np.float64) - background) ** 2).sum(axis=0)
    h, w = energy.shape
    centre = energy[h // 4:h // 4 + h // 2, w // 4:w // 4 + w // 2].sum()
    return float(centre / energy.sum()) if energy.sum() > 0 else 0.0


# ----------------------------------------------------------------------------- entry point
def _multifaceted_units(model, layer, images, labels, count, top):
    """The ``count`` channels whose ``top`` images spread over the most classes (the largest
    entropy of their labels), ties to the more active channel."""
    output = layer_io(model, layer, images)
    means = output.reshape(*output.shape[:2], -1).mean(axis=2)
    scores = []
    for channel in range(means.shape[1]):
        best = labels[np.argsort(-means[:, channel])[:top]]
        p = np.bincount(best) / len(best)
        p = p[p > 0]
        scores.append((-(p * np.log(p)).sum(), means[:, channel].mean()))
    order = sorted(range(len(scores)), key=lambda c: scores[c], reverse=True)
    return order[:count]


def _facet_figure(rows, k):
    fig, axes = figures.subplots(len(rows), 1 + 2 * k, size=(1.45, 1.6))
    for row, (channel, single, pictures, found) in zip(axes, rows):
        viz.plot.show(row[0], single, f"unit {channel}: one start")
        for c in range(k):
            size = int((found.labels == c).sum())
            viz.plot.show(row[1 + 2 * c], found.centres[c], f"facet {c + 1} mean ({size})")
            viz.plot.show(row[2 + 2 * c], pictures[c], f"facet {c + 1} vis")
    fig.suptitle("multifaceted feature visualization: from each cluster's mean image", fontsize=9)
    fig.tight_layout()
    return fig


def _diversity_figure(rows):
    count = len(rows[0][1])
    fig, axes = figures.subplots(2 * len(rows), count, size=(1.4, 1.55))
    for r, (channel, diverse, plain, similarity) in enumerate(rows):
        for c in range(count):
            viz.plot.show(axes[2 * r, c], diverse[c], f"unit {channel} diverse" if c == 0 else None)
            viz.plot.show(axes[2 * r + 1, c], plain[c], "independent" if c == 0 else None)
        axes[2 * r, -1].set_title(f"style sim. {similarity[0]:.2f}", fontsize=7)
        axes[2 * r + 1, -1].set_title(f"style sim. {similarity[1]:.2f}", fontsize=7)
    fig.suptitle("joint optimisation with a diversity penalty (rows 1, 3) against independent "
                 "starts", fontsize=8)
    fig.tight_layout()
    return fig


def _center_figure(plain, centred, names):
    fig, axes = figures.subplots(2, len(names), size=(1.5, 1.7))
    for c, name in enumerate(names):
        viz.plot.show(axes[0, c], plain[c], f"{name}\ncentre {center_energy(plain[c]):.2f}")
        viz.plot.show(axes[1, c], centred[c], f"center-biased {center_energy(centred[c]):.2f}")
    fig.suptitle("class visualizations: plain (top) and center-biased (bottom); share of "
                 "energy in the central half", fontsize=8)
    fig.tight_layout()
    return fig


def _visualize(model, layer, channel, shape, steps, seed=0):
    """The ordinary single feature visualization (from grey, jitter, blur, small L2)."""
    return viz.feature_visualization(model, viz.get_module(model, layer), int(channel), shape,
                                     steps=steps, init=0.5, init_std=0.1, jitter=2, blur_every=4,
                                     l2=1e-3, seed=seed)[0]


def _facets_part(model, layer, channels, images, labels, k, steps, seed):
    """Multifaceted visualizations of ``channels``: numbers, figure rows and the facets."""
    numbers, rows = {}, []
    for channel in channels:
        single = _visualize(model, layer, channel, images.shape[1:], steps, seed)
        pictures, found = multifaceted_visualization(model, layer, channel, images, k, steps, seed)
        reached = unit_activations(model, layer, channel, np.concatenate([single[None], pictures]))
        numbers[str(channel)] = {
            "top_image_activation": float(found.activations[0]),
            "facet_sizes": np.bincount(found.labels, minlength=k),
            "facet_classes": [np.bincount(labels[found.indices][found.labels == c]).tolist()
                              for c in range(k)],
            "activation_single_start": float(reached[0]), "activation_per_facet": reached[1:]}
        rows.append((channel, single, pictures, found))
    return numbers, rows


def _diversity_part(model, layer, channels, shape, count, steps, scales, seed):
    """Joint optimisation with and without the diversity penalty (same starts)."""
    numbers, rows = {}, []
    for channel, scale in zip(channels, scales):
        results = [diverse_visualization(model, layer, channel, shape, count, weight, steps=steps,
                                         seed=seed)[0] for weight in (scale, 0.0)]
        similarity = [pairwise_style_similarity(model, layer, images) for images in results]
        reached = [unit_activations(model, layer, channel, images).mean() for images in results]
        numbers[str(channel)] = {"penalty_weight": float(scale),
                                 "style_similarity": {"diverse": similarity[0],
                                                      "independent": similarity[1]},
                                 "mean_activation": {"diverse": float(reached[0]),
                                                     "independent": float(reached[1])}}
        rows.append((channel, results[0], results[1], similarity))
    return numbers, rows


def _center_part(model, classifier, classes, shape, steps, seed):
    """Class visualizations with the same steps, without and with the centre bias."""
    plain_phase = ({"scale": 1.0, "fraction": 1.0, "window": 0.3, "sigma": 1.0, "lr": 0.02},)
    plain = [center_biased_visualization(model, classifier, c, shape, steps, plain_phase, seed)
             for c in classes]
    centred = [center_biased_visualization(model, classifier, c, shape, steps, seed=seed)
               for c in classes]
    numbers = {"center_energy": {"plain": [center_energy(image) for image in plain],
                                 "center_biased": [center_energy(image) for image in centred]}}
    return numbers, plain, centred


def _default_layer(model):
    """The last ReLU module (the deepest features with maps), else the last convolution."""
    for kinds in ((nn.ReLU,), (nn.Conv2d,)):
        names = [name for name, m in model.named_modules() if isinstance(m, kinds)]
        if names:
            return names[-1]
    raise ValueError("the model has no ReLU module or convolution to visualise")


def run(model, dataset, out_dir, quick=False, layer=None, units=2, k=3, count=4, steps=None,
        images=None, class_names=None, seed=0):
    """Multifaceted, diverse and center-biased visualizations of a trained ``model`` on the
    first ``images`` images of ``dataset`` (500; 64 with ``quick``): for the ``units``
    channels of ``layer`` (default: the last ReLU) whose top images span the most classes,
    ``k`` facets each and ``count`` images optimised with and without the diversity penalty
    (weighted by the unit's mean top-image activation); and the class logits of the last
    linear layer visualised with and without the centre bias. ``steps`` per optimisation:
    100 (2 with quick). Writes diverse-facets.png, diverse-diversity.png, diverse-center.png
    and diverse.json into ``out_dir``; returns the numbers."""
    pictures, labels = dataset_arrays(dataset, limit=images or (64 if quick else 500))
    if labels is None:
        raise ValueError("diverse.run needs labelled data (a dataset of (image, label) samples)")
    steps, layer = steps or (2 if quick else 100), layer or _default_layer(model)
    top = min(30, len(pictures))
    channels = _multifaceted_units(model, layer, pictures, labels, units, top)
    numbers = {"layer": layer, "channels": channels, "images": len(pictures)}
    numbers["facets"], facet_rows = _facets_part(model, layer, channels, pictures, labels,
                                                 min(k, top), steps, seed)
    scales = [row[3].activations.mean() for row in facet_rows]
    numbers["diversity"], diversity_rows = _diversity_part(model, layer, channels,
                                                           pictures.shape[1:], count, steps,
                                                           scales, seed)
    classifier = [name for name, m in model.named_modules() if isinstance(m, nn.Linear)][-1]
    classes = list(range(min(8, viz.get_module(model, classifier).weight.shape[0])))
    numbers["center"], plain, centred = _center_part(model, classifier, classes,
                                                     pictures.shape[1:], steps, seed)
    names = [str(class_names[c]) if class_names else f"class {c}" for c in classes]
    numbers["figures"] = [
        figures.save_figure(_facet_figure(facet_rows, min(k, top)), out_dir, "diverse-facets.png"),
        figures.save_figure(_diversity_figure(diversity_rows), out_dir, "diverse-diversity.png"),
        figures.save_figure(_center_figure(plain, centred, names), out_dir, "diverse-center.png")]
    figures.write_json(numbers, out_dir, "diverse.json")
    return figures.jsonable(numbers)
