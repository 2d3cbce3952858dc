"""The gallery: every visualization method of ``minidl.viz`` run on one trained model, written
as a static web page (``index.html`` and one PNG per figure) that explains each method.

    from minidl import gallery
    gallery.build_gallery(model, data, "minidl-gallery")     # data: minidl.data.presets.load(...)

``minidl demo`` trains a model and builds its gallery; ``minidl viz`` runs one method on one
image (both in ``minidl.cli``).

The methods run on the model with the data's normalisation put in front of it as a layer
(``Standardize``), so that they see images with pixels in [0, 1]: synthesised images start
from grey, pixel clipping is to [0, 1], and attack budgets (epsilon) are in pixel units.
The layers are chosen from one traced forward pass (``find_layers``), so any convolutional
network of the zoo works: the filters of the first convolution, the last layer of each
resolution ("stages"), the last stage with more than one unit per map for the class
activation maps, and the input of the last linear layer for the embeddings.
"""
from __future__ import annotations

import collections
import dataclasses
import functools
import html
import math
import os
import time
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

import minidl
from minidl import nn, train, viz
from minidl.data import DataLoader
from minidl.models import count_parameters
from minidl.viz._util import model_dtype
from minidl.viz.attribution import predict_logits, target_class
from minidl.viz.network import layer_output

DEFAULT_OUT = "minidl-gallery"
# Attack budgets tried, in pixel units (images in [0, 1]).
EPSILONS = {"linf": tuple(np.array([1, 2, 4, 8, 16, 32, 64]) / 255), "l2": (0.25, 0.5, 1, 2, 4)}


# ----------------------------------------------------------------------------- settings
@dataclasses.dataclass(frozen=True)
class Settings:
    """How much work each method does (with the defaults, the gallery of a small CNN takes
    about half a minute on two CPU cores); ``Settings.quick()`` shrinks everything for tests."""

    images: int = 3             # test images explained one by one (attributions, CAMs, attacks)
    samples: int = 500          # test images for embeddings and top patches
    attack_samples: int = 200   # test images for the accuracy-versus-epsilon curves
    channels: int = 4           # channels shown by top patches
    feature_channels: int = 8   # channels shown by feature visualization
    tsne_iters: int = 500
    noise_samples: int = 50     # SmoothGrad
    ig_steps: int = 32          # Integrated Gradients
    synthesis_steps: int = 200  # class models, feature visualization, feature inversion
    dream_steps: int = 10       # DeepDream, per octave
    style_steps: int = 400      # texture synthesis and style transfer
    attack_steps: int = 10      # PGD
    fooling_steps: int = 100

    @classmethod
    def quick(cls):
        """Tiny step counts: every method runs in well under a second (poor pictures)."""
        return cls(images=1, samples=24, attack_samples=8, channels=2, feature_channels=2,
                   tsne_iters=10, noise_samples=2, ig_steps=2, synthesis_steps=2, dream_steps=1,
                   style_steps=2, attack_steps=2, fooling_steps=2)


# ----------------------------------------------------------------------------- the model
class Standardize(nn.Module):
    """(x - mean) / std per channel: the data's normalisation as a layer, so that the model
    behind it takes images with pixels in [0, 1]."""

    def __init__(self, mean, std, dtype=np.float32):
        super().__init__()
        self.mean = np.asarray(mean, dtype=dtype).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, dtype=dtype).reshape(1, -1, 1, 1)

    def forward(self, x):
        return (x - self.mean) / self.std


class Layers(NamedTuple):
    """The layers the gallery looks at, by name in the user's model (see ``find_layers``)."""

    first_conv: str   # the first convolution: its filters
    stages: list      # the last layer of each resolution with more than one unit per map
    cam: str          # the last stage: class activation maps, feature visualization
    features: str     # the input of the last linear layer (or the last stage): embeddings


def traced_outputs(model, input_shape):
    """(name, output shape) of every named module that runs once in a forward pass of one
    blank image, in the order the calls end (a block ends after the layers inside it)."""
    calls = []
    handles = [module.register_forward_hook(
        lambda m, inputs, output, name=name: calls.append((name, getattr(output, "shape", None))))
        for name, module in model.named_modules() if name]
    try:
        with minidl.no_grad():
            model(minidl.zeros(1, *input_shape, dtype=model_dtype(model)))
    finally:
        for handle in handles:
            handle.remove()
    counts = collections.Counter(name for name, _ in calls)
    return [(name, shape) for name, shape in calls if counts[name] == 1]


def find_stages(outputs):
    """The stages among traced ``outputs`` ((name, shape) in the order calls end): for each
    spatial size larger than 1x1, the module that ends last among the least nested ones
    (fewest dots in the name) with outputs of that size. The stage of a ResNet's resolution
    is its ``layerN`` container, not a layer inside the first block of the next one; sizes
    that do not shrink are left out."""
    best = {}
    for order, (name, shape) in enumerate(outputs):
        if shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1:
            depth, size = name.count("."), shape[2] * shape[3]
            if tuple(shape[2:]) not in best or depth <= best[tuple(shape[2:])][0]:
                best[tuple(shape[2:])] = (depth, order, size, name)
    stages, smallest = [], math.inf
    for _, _, size, name in sorted(best.values(), key=lambda entry: entry[1]):
        if size < smallest:
            stages.append(name)
            smallest = size
    return stages


POOLING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def find_layers(model, input_shape):
    """The ``Layers`` of a convolutional network for images of ``input_shape`` (C, H, W).

    Pooling layers are not stages: the stages are the features before they are pooled, as
    Grad-CAM reads the last convolutional layer (for LeNet-5, C3's 10x10 maps, not S4's
    5x5 maxima, where Grad-CAM is often zero everywhere)."""
    outputs = traced_outputs(model, input_shape)
    stages = find_stages([(name, shape) for name, shape in outputs
                          if not isinstance(viz.get_module(model, name), POOLING)])
    convs = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    if not stages or not convs:
        raise ValueError("the gallery needs a convolutional network: no convolution with "
                         "feature maps larger than 1x1 found")
    names = [name for name, _ in outputs]
    linears = [k for k, name in enumerate(names) if isinstance(viz.get_module(model, name),
                                                               nn.Linear)]
    features = names[linears[-1] - 1] if linears and linears[-1] > 0 else stages[-1]
    return Layers(convs[0], stages, stages[-1], features)


class Subject:
    """A trained classifier ready to be explained: ``net`` (the model behind ``Standardize``,
    in eval mode), its ``layers``, ``classes`` and ``input_shape``, the data's mean pixel
    (``mean``, (C, 1, 1)) and the ``settings``."""

    def __init__(self, model, input, input_shape, classes, settings=None):
        model.eval()
        dtype = model_dtype(model)
        self.model, self.classes, self.input_shape = model, list(classes), tuple(input_shape)
        self.net = nn.Sequential(Standardize(input["mean"], input["std"], dtype), model).eval()
        self.mean = np.asarray(input["mean"], dtype=dtype).reshape(-1, 1, 1)
        self.layers = find_layers(model, input_shape)
        self.settings = settings or Settings()

    def layer(self, name):
        """The module of the user's model called ``name``."""
        return viz.get_module(self.model, name)

    @functools.cached_property
    def traceable_layer(self):
        """(name, ``ReceptiveField``) of the deepest layer whose receptive field can be traced:
        a stage, else any layer with maps (skip connections make a ResNet stage's ambiguous)."""
        maps = [name for name, shape in traced_outputs(self.model, self.input_shape)
                if shape is not None and len(shape) == 4 and shape[2] * shape[3] > 1]
        for name in dict.fromkeys(self.layers.stages[::-1] + maps[::-1]):
            try:
                return name, viz.receptive_field(self.net, self.layer(name), self.input_shape)
            except (ValueError, TypeError):
                continue
        raise ValueError("no layer whose receptive field can be traced")

    def probabilities(self, images):
        """Softmax probabilities (N, K) of images (N, C, H, W) in [0, 1]."""
        logits = predict_logits(self.net, images)
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def describe(self, image, label=None):
        """``"circle (97%)"``, the prediction for one image, after the true class if given."""
        p = self.probabilities(image[None])[0]
        guess = f"{self.classes[p.argmax()]} ({p.max():.0%})"
        return guess if label is None else f"true {self.classes[label]}, predicted {guess}"


# ----------------------------------------------------------------------------- data
def pixel_images(data, indices):
    """The evaluation images of ``data`` (a ``presets.Data``) at ``indices`` with the
    normalisation undone (pixels in [0, 1]), and their labels."""
    samples = [data.eval[i] for i in indices]
    mean = np.asarray(data.input["mean"], np.float32).reshape(-1, 1, 1)
    std = np.asarray(data.input["std"], np.float32).reshape(-1, 1, 1)
    images = np.stack([image * std + mean for image, _ in samples]).astype(np.float32)
    return images, np.array([label for _, label in samples])


def explained_images(subject, images, labels, count):
    """Indices of up to ``count`` images of different classes, each the first of its class
    that the model gets right with at least 90% confidence (clear cases explain best), else
    right, else any."""
    p = subject.probabilities(images)
    right = p.argmax(axis=1) == labels
    order = np.concatenate([np.flatnonzero(right & (p.max(axis=1) >= 0.9)),
                            np.flatnonzero(right & (p.max(axis=1) < 0.9)), np.flatnonzero(~right)])
    chosen, seen = [], set()
    for i in order:
        if labels[i] not in seen:
            chosen.append(int(i))
            seen.add(labels[i])
    return (chosen + [int(i) for i in order if i not in chosen])[:count]


# ----------------------------------------------------------------------------- one image
# Each fig_* function takes the subject, an image (C, H, W) with pixels in [0, 1], the target
# class (None: the predicted one) and a layer name (None for methods that read no layer), and
# returns the method's figure.
def retitle(figure, title):
    """The figure with ``title`` above its panels (the layout redone to make room)."""
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def _target(subject, image, target):
    return target_class(subject.net, image, target)


def fig_occlusion(s, image, target, layer):
    patch = max(2, image.shape[-1] // 4)
    sensitivity = viz.occlusion(s.net, image, target, patch=patch, stride=max(1, patch // 4),
                                baseline=s.mean)
    return viz.plot_occlusion(image, sensitivity)


def fig_saliency(s, image, target, layer):
    return viz.plot_saliency(image, *viz.saliency(s.net, image, target))


def fig_gradient_x_input(s, image, target, layer):
    return viz.plot_gradient_x_input(image, viz.gradient_x_input(s.net, image, target))


def fig_smoothgrad(s, image, target, layer):
    gradient = viz.smoothgrad(s.net, image, target, samples=s.settings.noise_samples)
    return viz.plot_smoothgrad(image, gradient)


def fig_integrated_gradients(s, image, target, layer):
    target = _target(s, image, target)
    attributions, gap = viz.integrated_gradients(s.net, image, target, steps=s.settings.ig_steps)
    scores = predict_logits(s.net, np.stack([image, 0 * image]))[:, target]
    return retitle(viz.plot_integrated_gradients(image, attributions),
                   f"Integrated Gradients: sum {attributions.sum():.3g}, y(x) - y(black) = "
                   f"{scores[0] - scores[1]:.3g}, gap {gap:.2g}")


def fig_deconvnet(s, image, target, layer):
    return viz.plot_deconvnet(image, viz.deconvnet(s.net, image, target))


def fig_guided_backprop(s, image, target, layer):
    return viz.plot_guided_backprop(image, viz.guided_backprop(s.net, image, target))


def fig_grad_cam(s, image, target, layer):
    return viz.plot_grad_cam(image, viz.grad_cam(s.net, image, s.layer(layer), target))


def fig_guided_grad_cam(s, image, target, layer):
    return viz.plot_guided_grad_cam(image, viz.guided_grad_cam(s.net, image, s.layer(layer), target))


def fig_grad_cam_plus_plus(s, image, target, layer):
    cam = viz.grad_cam_plus_plus(s.net, image, s.layer(layer), target)
    return viz.plot_grad_cam_plus_plus(image, cam)


def fig_hires_cam(s, image, target, layer):
    return viz.plot_hires_cam(image, viz.hires_cam(s.net, image, s.layer(layer), target))


def fig_score_cam(s, image, target, layer):
    return viz.plot_score_cam(image, viz.score_cam(s.net, image, s.layer(layer), target))


def fig_activations(s, image, target, layer):
    maps = viz.activation_maps(s.net, s.layer(layer), image)
    return viz.plot_activation_maps(maps, limit=32, title=f"layer {layer}: {maps.shape[0]} maps "
                                    f"of {maps.shape[1]}x{maps.shape[2]}")


def fig_deep_dream(s, image, target, layer):
    """Three octaves (scale 1.4) if the network takes the smaller images, else one octave with
    as many steps in all."""
    smallest = image.shape[:1] + tuple(round(n / 1.4 ** 2) for n in image.shape[1:])
    octaves = 3 if _accepts(s.net, smallest) else 1
    dreamt, history = viz.deep_dream(s.net, image, s.layer(layer), lr=0.03, octaves=octaves,
                                     steps=s.settings.dream_steps * 3 // octaves)
    return retitle(viz.plot_deep_dream(image, dreamt, history),
                   f"DeepDream at layer {layer}, {octaves} octave{'s' * (octaves > 1)}")


def _accepts(net, shape):
    """Whether the network runs on an image of ``shape`` (C, H, W)."""
    try:
        predict_logits(net, np.zeros(shape, np.float32))
    except (ValueError, RuntimeError):
        return False
    return True


def fig_inversion(s, image, target, layer):
    reconstruction, history = viz.invert_features(s.net, s.layer(layer), image, tv_weight=0.1,
                                                  steps=s.settings.synthesis_steps)
    return retitle(viz.plot_inversion(image, np.clip(reconstruction, 0, 1), history),
                   f"reconstructed from layer {layer}")


def _smallest_attack(s, image, label, attack, norm):
    """(epsilon, adversarial image) for the smallest budget of ``EPSILONS[norm]`` with which
    ``attack(epsilon)`` changes the prediction (the largest if none does)."""
    for epsilon in EPSILONS[norm]:
        adversarial = attack(epsilon)
        if s.probabilities(adversarial[None])[0].argmax() != label:
            break
    return epsilon, adversarial


def _attack_figure(s, image, label, name, norm, attack):
    epsilon, adversarial = _smallest_attack(s, image, label, attack, norm)
    figure = viz.plot_adversarial(image, adversarial, (s.describe(image), s.describe(adversarial)))
    return retitle(figure, f"{name}: {'L-inf' if norm == 'linf' else 'L2'} epsilon {epsilon:.3g}\n"
                           f"(the smallest tried that changes the prediction)")


def fig_fgsm(s, image, target, layer):
    label = _target(s, image, target)
    return _attack_figure(s, image, label, "FGSM", "linf", lambda epsilon: viz.fgsm(
        s.net, image, label, epsilon, value_range=(0, 1)))


def fig_pgd_linf(s, image, target, layer):
    label, steps = _target(s, image, target), s.settings.attack_steps
    return _attack_figure(s, image, label, f"PGD, {steps} steps", "linf", lambda epsilon: viz.pgd(
        s.net, image, label, epsilon, steps=steps, value_range=(0, 1)))


def fig_pgd_l2(s, image, target, layer):
    label, steps = _target(s, image, target), s.settings.attack_steps
    return _attack_figure(s, image, label, f"PGD, {steps} steps", "l2", lambda epsilon: viz.pgd(
        s.net, image, label, epsilon, steps=steps, norm="l2", value_range=(0, 1)))


def fig_fooling(s, image, target, layer):
    goal = (_target(s, image, None) + 1) % len(s.classes) if target is None else int(target)
    result = viz.fooling_image(s.net, image, goal, step_size=0.1, max_steps=s.settings.fooling_steps,
                               value_range=(0, 1))
    outcome = "reached" if result.fooled else "not reached"
    return retitle(viz.plot_fooling(image, result, s.classes[goal]),
                   f"Fooling: {s.describe(image)} pushed to {s.classes[goal]}, {outcome} in "
                   f"{result.steps} steps of L2 size 0.1")


class OneImage(NamedTuple):
    """A method that explains one image: its figure function ``figure(subject, image, target,
    layer)`` and which of the ``Layers`` it reads by default (None: no layer)."""

    figure: Callable
    layer: str | None = None


ONE_IMAGE = {
    "occlusion": OneImage(fig_occlusion),
    "saliency": OneImage(fig_saliency),
    "gradient-x-input": OneImage(fig_gradient_x_input),
    "smoothgrad": OneImage(fig_smoothgrad),
    "integrated-gradients": OneImage(fig_integrated_gradients),
    "deconvnet": OneImage(fig_deconvnet),
    "guided-backprop": OneImage(fig_guided_backprop),
    "gradcam": OneImage(fig_grad_cam, "cam"),
    "guided-gradcam": OneImage(fig_guided_grad_cam, "cam"),
    "gradcam++": OneImage(fig_grad_cam_plus_plus, "cam"),
    "hirescam": OneImage(fig_hires_cam, "cam"),
    "scorecam": OneImage(fig_score_cam, "cam"),
    "activations": OneImage(fig_activations, "cam"),
    "deepdream": OneImage(fig_deep_dream, "middle"),
    "inversion": OneImage(fig_inversion, "middle"),
    "fgsm": OneImage(fig_fgsm),
    "pgd-linf": OneImage(fig_pgd_linf),
    "pgd-l2": OneImage(fig_pgd_l2),
    "fooling": OneImage(fig_fooling),
}


def default_layer(subject, kind):
    """The layer name a method reads by default: "cam" the last stage, "middle" the middle one."""
    stages = subject.layers.stages
    return {None: None, "cam": subject.layers.cam, "middle": stages[len(stages) // 2]}[kind]


def explain(subject, method, image, target=None, layer=None):
    """The figure of one ``ONE_IMAGE`` method for one image (C, H, W) in [0, 1]; ``layer``
    (a name in the user's model) replaces the method's default layer."""
    if method not in ONE_IMAGE:
        raise ValueError(f"unknown method {method!r}; expected one of: {', '.join(ONE_IMAGE)}")
    if target is not None and not 0 <= target < len(subject.classes):
        raise ValueError(f"target {target} is not a class index 0..{len(subject.classes) - 1}")
    entry = ONE_IMAGE[method]
    if layer is not None and entry.layer is None:
        raise ValueError(f"{method} reads no layer; leave --layer out")
    layer = default_layer(subject, entry.layer) if layer is None else layer
    if layer is not None:
        try:
            subject.layer(layer)
        except KeyError as error:
            raise ValueError(error.args[0]) from None
    return entry.figure(subject, np.asarray(image, np.float32), target, layer)


# ----------------------------------------------------------------------------- the sections
class Method(NamedTuple):
    """One section of the gallery: ``run(gallery_run)`` returns [(figure, caption), ...]."""

    key: str
    title: str
    about: str      # two sentences: what the method is, and what to look for
    run: Callable


METHODS = []


def method(key, title, about):
    """Decorator: add the section ``run`` to ``METHODS`` (the page shows them in this order)."""
    def register(run):
        METHODS.append(Method(key, title, about, run))
        return run
    return register


def per_image(key, title, about):
    """Add a section showing the ``ONE_IMAGE`` method ``key`` for each explained image."""
    def run(g):
        return [(explain(g.subject, key, g.images[i]), g.caption(i)) for i in g.chosen]
    METHODS.append(Method(key, title, about, run))


class GalleryRun:
    """What the sections share: the ``subject``, test ``images`` (pixels in [0, 1]) with their
    ``labels``, and the indices of the images explained one by one (``chosen``)."""

    def __init__(self, subject, images, labels):
        self.subject, self.images, self.labels = subject, images, labels
        self.chosen = explained_images(subject, images, labels, subject.settings.images)

    def caption(self, i):
        return f"test image {i}: {self.subject.describe(self.images[i], self.labels[i])}"

    def samples(self):
        """The test images (and labels) for the methods that look at many."""
        n = self.subject.settings.samples
        return self.images[:n], self.labels[:n]

    def strongest_channels(self, layer, k):
        """The ``k`` channels of ``layer`` with the largest mean activation over the samples."""
        maps = layer_output(self.subject.net, self.subject.layer(layer), self.samples()[0])
        return np.argsort(-maps.mean(axis=(0, 2, 3)), kind="stable")[:k]


@method("filters", "Convolution filters",
        "The weights of the first convolution, one tile per output channel, drawn in colour "
        "when it reads RGB images (mid-grey is a zero weight), and those of the second "
        "averaged over their input channels. Look for oriented edges, colour blobs and "
        "smooth, structured kernels: noisy filters mean too little training or data.")
def _filters(g):
    model = g.subject.model
    convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)][:2]
    figures = []
    for name, channels in zip(convs, ("auto", "mean")):
        weight = viz.get_module(model, name).weight
        ncols = math.ceil(math.sqrt(weight.shape[0])) if weight.shape[1] in (1, 3) else None
        grid = viz.filter_grid(model, name, channels, ncols)
        title = f"layer {name}: {weight.shape[0]} filters of {weight.shape[1]}x" \
                f"{weight.shape[2]}x{weight.shape[3]}" + (", mean over inputs" * (channels == "mean"))
        figures.append((viz.plot_filters(grid, title), f"convolution {name}"))
    return figures


@method("activations", "Activation maps",
        "The feature maps one image produces at an early and at the last convolutional stage, "
        "each scaled to its own range. Early maps still look like the image (edges, colours); "
        "late ones are coarse and light up only where a part of the object is.")
def _activations(g):
    stages, image = g.subject.layers.stages, g.images[g.chosen[0]]
    return [(explain(g.subject, "activations", image, layer=name), g.caption(g.chosen[0]))
            for name in dict.fromkeys([stages[0], stages[-1]])]


@method("receptive-field", "Receptive field",
        "The input pixels a unit of a deep layer can see, from the kernel sizes, strides and "
        "paddings of the layers below it (receptive field arithmetic). Look at how much of the "
        "image one unit covers: the centre unit's box (large) and a corner unit's box, cut by "
        "the padding.")
def _receptive_field(g):
    name, field = g.subject.traceable_layer
    h, w = field.output_size
    boxes = [field.box(h // 2, w // 2), field.box(0, 0)]
    title = f"layer {name}: {field.size[0]}x{field.size[1]} pixels, jump {field.jump[0]}"
    return [(viz.plot_receptive_field(g.images[g.chosen[0]], boxes, title),
             f"units ({h // 2}, {w // 2}) and (0, 0) of the {h}x{w} maps")]


@method("top-patches", "Top dataset patches",
        "For a few channels of a deep layer, the test-image patches (each unit's receptive "
        "field) that excite the channel most, strongest first (Zeiler & Fergus). A channel "
        "whose patches share a shape, an edge or a colour has learned that feature.")
def _top_patches(g):
    name, _ = g.subject.traceable_layer
    images = g.samples()[0]
    figures = []
    for channel in g.strongest_channels(name, g.subject.settings.channels):
        top = viz.top_patches(g.subject.net, g.subject.layer(name), images, int(channel), k=9)
        figures.append((viz.plot_top_patches(top, title=f"layer {name}, channel {channel}"),
                        f"the 9 strongest of {len(images)} test images"))
    return figures


def _features(g):
    layer = g.subject.layers.features
    images, labels = g.samples()
    features, _ = viz.layer_features(g.subject.net, g.subject.layer(layer), images, pool="mean")
    return layer, features, labels


@method("pca", "Embedding: PCA",
        "The features feeding the classifier for many test images, projected onto their two "
        "directions of largest variance. Classes that form separate clusters are easy for the "
        "last layer; overlapping ones are the classes the model confuses.")
def _pca(g):
    layer, features, labels = _features(g)
    result = viz.pca(features)
    title = f"PCA of layer {layer} ({features.shape[1]} features): " \
            f"{result.explained_variance_ratio.sum():.0%} of the variance"
    return [(viz.plot_embedding(result.projections, labels, g.subject.classes, title),
             f"{len(labels)} test images, coloured by their true class")]


@method("tsne", "Embedding: t-SNE",
        "The same features laid out by t-SNE, which keeps near neighbours near (distances "
        "between clusters mean little). Tight, separate clusters per class show a representation "
        "that makes the classes easy; stray points are often the misclassified images.")
def _tsne(g):
    layer, features, labels = _features(g)
    perplexity = min(30.0, (len(features) - 1) / 3)
    result = viz.tsne(features, perplexity=perplexity, n_iter=g.subject.settings.tsne_iters)
    title = f"t-SNE of layer {layer} (perplexity {perplexity:.0f})"
    return [(viz.plot_embedding(result.embedding, labels, g.subject.classes, title),
             f"{len(labels)} test images, coloured by their true class")]


per_image("occlusion", "Occlusion sensitivity",
          "A grey patch (the mean colour) slides over the image, and the map shows how much the "
          "predicted class's score drops when each place is hidden (Zeiler & Fergus). Red where "
          "the object is means the model looks at the object, not at the background.")
per_image("saliency", "Saliency (gradient)",
          "The gradient of the class score with respect to the pixels, its largest absolute "
          "value over the colour channels (Simonyan et al.). Bright pixels change the score most; "
          "on a good model they trace the object's outline.")
per_image("gradient-x-input", "Gradient x input",
          "Each pixel's gradient times its value, the first-order estimate of its contribution "
          "to the score, summed over the channels. Red pixels push the score up, blue ones down; "
          "on dark backgrounds the map is blank, since those pixels are near zero.")
per_image("smoothgrad", "SmoothGrad",
          "The gradient averaged over noisy copies of the image (Smilkov et al.), which removes "
          "the speckle of the plain saliency map. Compare with the saliency section: the object "
          "should stand out more cleanly.")
per_image("integrated-gradients", "Integrated Gradients",
          "The gradient integrated along the straight path from a black image to the image, times "
          "the difference (Sundararajan et al.), so the attributions add up to the score "
          "difference. The title gives the sum, y(x) - y(black) and their gap, the error of the "
          "Riemann sum: it shrinks with more steps.")
per_image("deconvnet", "Deconvnet",
          "The backward pass in which every ReLU passes only positive gradients, whatever its "
          "input was (Zeiler & Fergus). It shows edges and textures the layers respond to, but "
          "hardly depends on the class: a reconstruction of the image more than an explanation.")
per_image("guided-backprop", "Guided backpropagation",
          "The backward pass in which a ReLU passes a gradient only where it is positive and its "
          "input was positive (Springenberg et al.). Expect sharp, image-like detail of the "
          "object; like deconvnet it changes little with the class.")
per_image("gradcam", "Grad-CAM",
          "The last convolutional stage's feature maps weighted by the average gradient of the "
          "class score, summed and rectified (Selvaraju et al.), at the stage's coarse resolution "
          "and upsampled. The warm region is where the evidence for the class lies.")
per_image("guided-gradcam", "Guided Grad-CAM",
          "Guided backpropagation multiplied by the Grad-CAM map: the fine detail of the one "
          "inside the class region of the other. Detail should remain on the object only.")
per_image("gradcam++", "Grad-CAM++",
          "Grad-CAM with per-position weights from higher-order derivatives (Chattopadhyay et "
          "al.), which credits every instance of a class rather than the strongest one. With one "
          "object per image it should agree with Grad-CAM.")
per_image("hirescam", "HiResCAM",
          "The gradient times the feature maps, position by position, summed over channels "
          "(Draelos & Carin), signed: red raises the score, blue lowers it. For a network ending "
          "in global average pooling and a linear layer it is proportional to the class "
          "activation map of Zhou et al.")
per_image("scorecam", "Score-CAM",
          "Each feature map, upsampled and used as a mask on the image, is weighted by how much "
          "the masked image raises the class probability (Wang et al.), with no gradients at "
          "all. Overlaid on the input, it should cover the object.")


@method("class-models", "Class model visualization",
        "For each class, the image that maximises its score by gradient ascent from grey "
        "(Simonyan et al.), first with only an L2 penalty, then with the priors the lecture "
        "adds: jitter, blur every few steps and clipping of weak pixels (Yosinski et al.). "
        "Look for the class's shape or colour repeated over the image; the priors make it "
        "smoother and more readable.")
def _class_models(g):
    s = g.subject
    variants = [("L2 penalty only", {"l2": 1e-3}),
                ("L2, jitter, blur, pixel clipping",
                 {"l2": 1e-3, "jitter": 2, "blur_every": 4, "blur_sigma": 0.5,
                  "norm_percentile": 10})]
    figures = []
    for name, priors in variants:
        images = [viz.class_model_visualization(
            s.net, c, s.input_shape, steps=s.settings.synthesis_steps, lr=0.05, optimizer="adam",
            init=0.5, init_std=0.1, **priors)[0] for c in range(len(s.classes))]
        ncols = len(images) if len(images) <= 10 else 8
        figures.append((viz.plot_visualizations(images, s.classes, ncols, suptitle=name), name))
    return figures


@method("feature-vis", "Feature visualization",
        "For the most active channels of the last stage, the image that maximises the channel's "
        "mean activation, by gradient ascent with jitter and blur (Olah et al.). Compare with "
        "the top patches: both show what the channel is looking for.")
def _feature_vis(g):
    s, layer = g.subject, g.subject.layers.cam
    channels = g.strongest_channels(layer, s.settings.feature_channels)
    images = [viz.feature_visualization(s.net, s.layer(layer), int(c), s.input_shape,
                                        steps=s.settings.synthesis_steps, init=0.5,
                                        jitter=2, blur_every=4, l2=1e-3)[0] for c in channels]
    titles = [f"channel {c}" for c in channels]
    return [(viz.plot_visualizations(images, titles, ncols=min(len(images), 8),
                                     suptitle=f"layer {layer}"), f"layer {layer}")]


@method("deepdream", "DeepDream",
        "Gradient ascent on the image itself to amplify whatever a layer already sees, at "
        "several scales if the network takes smaller images (Mordvintsev et al.). Patterns the "
        "layer detects grow out of the image, larger and more object-like at a deeper layer.")
def _deep_dream(g):
    i, stages = g.chosen[0], g.subject.layers.stages
    return [(explain(g.subject, "deepdream", g.images[i], layer=name), g.caption(i))
            for name in dict.fromkeys([default_layer(g.subject, "middle"), stages[-1]])]


@method("inversion", "Feature inversion",
        "An image reconstructed from noise so that its features at one layer match those of "
        "the original, with total variation and norm priors (Mahendran & Vedaldi). What "
        "survives is what the layer keeps: early layers keep nearly everything, deep ones "
        "keep the shape and lose the exact colours and positions.")
def _inversion(g):
    i, stages = g.chosen[0], g.subject.layers.stages
    return [(explain(g.subject, "inversion", g.images[i], layer=name), g.caption(i))
            for name in dict.fromkeys([stages[0], stages[-1]])]


def style_layers(subject):
    """The layers whose Gram matrices make a style: the first convolution (linear in the
    pixels, so it keeps the colours) and every stage but the last (too coarse on small images)."""
    stages = subject.layers.stages
    return list(dict.fromkeys([subject.layers.first_conv] + stages[:max(1, len(stages) - 1)]))


@method("texture", "Texture synthesis",
        "An image made from noise whose Gram matrices (the correlations between channels) at "
        "the first convolution and the early stages match those of a test image (Gatys et al.). "
        "It keeps the image's local statistics (colours, edges, pieces of strokes) and throws "
        "away where they are.")
def _texture(g):
    s, texture, names = g.subject, g.images[g.chosen[0]], style_layers(g.subject)
    image, history = viz.texture_synthesis(s.net, texture, [s.layer(name) for name in names],
                                           steps=s.settings.style_steps, lr=0.05)
    return [(viz.plot_texture(texture, np.clip(image, 0, 1), history),
             f"test image {g.chosen[0]}; Gram matrices of layers {', '.join(names)}")]


@method("style-transfer", "Neural style transfer",
        "An image optimised to keep the features of a content image at a middle layer and the "
        "Gram matrices of a style image at the texture layers (Gatys et al.). Look for the "
        "content's layout painted in the style image's colours and strokes.")
def _style_transfer(g):
    s, content = g.subject, g.chosen[0]
    others = np.flatnonzero(g.labels != g.labels[content])  # a style from another class
    style = int(others[0]) if len(others) else (content + 1) % len(g.labels)
    middle = default_layer(s, "middle")
    image, history = viz.style_transfer(
        s.net, g.images[content], g.images[style], s.layer(middle),
        [s.layer(name) for name in style_layers(s)], style_weight=1e5,
        steps=s.settings.style_steps, lr=0.05)
    return [(viz.plot_style_transfer(g.images[content], g.images[style], np.clip(image, 0, 1),
                                     history),
             f"content: test image {content} at layer {middle}; style: test image {style} at "
             f"layers {', '.join(style_layers(s))}")]


per_image("fgsm", "FGSM adversarial example",
          "One step of size epsilon along the sign of the loss gradient, every pixel moving by "
          "epsilon (Goodfellow et al.), with the smallest epsilon from 1/255 up that changes the "
          "prediction. The titles give the predictions before and after: a change too small to "
          "notice can change the class.")
per_image("pgd-linf", "PGD adversarial example (L-inf)",
          "Several small signed gradient steps, each projected back into the L-inf ball of "
          "radius epsilon around the image (Madry et al.), again with the smallest epsilon "
          "that works. It usually needs a smaller epsilon than FGSM.")
per_image("pgd-l2", "PGD adversarial example (L2)",
          "Projected gradient steps in the L2 ball: the total size of the change is bounded, not "
          "each pixel's. The perturbation concentrates on fewer pixels, often around the "
          "object.")
per_image("fooling", "Fooling images",
          "Gradient steps on the image towards another class, as many as it takes for the model "
          "to predict it (Szegedy et al.). The perturbation that changes the class is usually "
          "faint: see its norms and the target's probability per step.")


@method("accuracy-vs-epsilon", "Accuracy versus epsilon",
        "The accuracy on adversarial versions of many test images as the attack's budget "
        "grows, for FGSM and PGD under L-inf and for PGD under L2. The steeper the fall, the "
        "less robust the model; PGD, the stronger attack, usually lies below FGSM.")
def _accuracy_vs_epsilon(g):
    s = g.subject
    n = s.settings.attack_samples
    images, labels = g.images[:n], g.labels[:n]
    options = {"steps": s.settings.attack_steps, "value_range": (0, 1)}
    linf, l2 = (0,) + EPSILONS["linf"], (0,) + EPSILONS["l2"]
    curves = {"FGSM": viz.accuracy_vs_epsilon(s.net, images, labels, linf, "fgsm",
                                              value_range=(0, 1)),
              "PGD": viz.accuracy_vs_epsilon(s.net, images, labels, linf, "pgd", **options)}
    l2_curve = viz.accuracy_vs_epsilon(s.net, images, labels, l2, "pgd", norm="l2", **options)
    figures = [epsilon_axis(viz.plot_accuracy_vs_epsilon(linf, curves, "L-inf"), linf, 255,
                            "epsilon (x 1/255)"),
               epsilon_axis(viz.plot_accuracy_vs_epsilon(l2, {"PGD": l2_curve}, "L2"), l2)]
    return [(figure, f"{n} test images; epsilon on a log scale (linear between 0 and the "
             "first budget)") for figure in figures]


def epsilon_axis(figure, epsilons, scale=1, label="epsilon"):
    """The figure's epsilon axis on a log scale, as the budgets double (linear between 0 and
    the first one), with a tick at each budget labelled epsilon * ``scale``."""
    ax = figure.axes[0]
    ax.set_xscale("symlog", linthresh=epsilons[1])
    ax.set_xlim(0, epsilons[-1] * 1.2)
    ax.set_xticks(epsilons, [f"{epsilon * scale:.3g}" for epsilon in epsilons], fontsize=8)
    ax.xaxis.set_minor_locator(viz.plot.pyplot().NullLocator())
    ax.set_xlabel(label)
    figure.tight_layout()
    return figure


# ----------------------------------------------------------------------------- the page
class Section(NamedTuple):
    """A method's results on the page: its figures as (file name, caption), the seconds it
    took and an error message if it failed."""

    method: Method
    figures: list
    seconds: float
    error: str | None


def slug(key):
    """The method's name in file names and page anchors ("gradcam++" -> "gradcam-pp")."""
    return key.replace("++", "-pp")


def run_method(method, run, out):
    """Run one section and save its figures as PNGs in ``out``; a failure is recorded, not
    raised, so that one method cannot lose the others."""
    plt = viz.plot.pyplot()
    start = time.perf_counter()
    try:
        results = method.run(run)
    except Exception as error:  # any failure: shown on the page and in the log
        return Section(method, [], time.perf_counter() - start, f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - start
    figures = []
    for k, (figure, caption) in enumerate(results, 1):
        name = f"{slug(method.key)}-{k}.png"
        figure.savefig(os.path.join(out, name), dpi=100)
        plt.close(figure)
        figures.append((name, caption))
    return Section(method, figures, seconds, None)


def build_gallery(model, data, out=DEFAULT_OUT, name=None, settings=None, notes=(), started=None,
                  progress=True, log=print):
    """Run every method of ``METHODS`` on a trained ``model`` and write ``<out>/index.html``
    with one PNG per figure; return the page's path.

    ``data`` is a ``minidl.data.presets.Data`` (its evaluation images, classes and
    preprocessing); ``name`` names the model on the page; ``notes`` are extra lines for the
    page's header; the total time counts from ``started`` (a ``time.perf_counter()`` value,
    default: now). Failed methods are reported by ``log`` and on the page.
    """
    from tqdm import tqdm

    gallery_started = time.perf_counter()
    started = gallery_started if started is None else started
    settings = settings or Settings()
    subject = Subject(model, data.input, data.input_shape, data.classes, settings)
    accuracy = train.evaluate(model, DataLoader(data.eval, 256))["accuracy"]
    n = min(len(data.eval), max(settings.samples, settings.attack_samples))
    run = GalleryRun(subject, *pixel_images(data, range(n)))
    os.makedirs(out, exist_ok=True)
    sections = []
    for method in tqdm(METHODS, desc="gallery", disable=not progress, leave=False):
        sections.append(run_method(method, run, out))
        if sections[-1].error:
            log(f"gallery: {method.key} failed: {sections[-1].error}")
    facts = {"model": name or type(model).__name__, "parameters": count_parameters(model),
             "data": data.eval_name, "accuracy": accuracy, "layers": subject.layers,
             "seconds": time.perf_counter() - started,
             "gallery_seconds": time.perf_counter() - gallery_started}
    path = os.path.join(out, "index.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page(facts, sections, notes))
    return path


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       line-height: 1.45; color: #222; }
header { border-bottom: 1px solid #ccc; margin-bottom: 1em; }
nav { columns: 3; font-size: 0.9em; margin-bottom: 2em; }
section { border-top: 1px solid #eee; padding-top: 0.5em; margin-top: 1.5em; }
.about { max-width: 50em; }
.meta { color: #666; font-size: 0.85em; }
.error { color: #b00; }
figure { display: inline-block; margin: 0.5em 1em 0.5em 0; vertical-align: top; }
figure img { max-width: 100%; }
figcaption { color: #555; font-size: 0.85em; }
"""


def page(facts, sections, notes=()):
    """The gallery's HTML: a header with the facts, a table of contents and the sections."""
    e = html.escape
    layers = facts["layers"]
    lines = [f"model <b>{e(facts['model'])}</b> ({facts['parameters']:,} parameters) on "
             f"<b>{e(facts['data'])}</b>: test accuracy <b>{facts['accuracy']:.2%}</b>",
             f"total time <b>{facts['seconds']:.0f} s</b> (the gallery "
             f"{facts['gallery_seconds']:.0f} s): {len(sections)} methods, "
             f"{sum(len(s.figures) for s in sections)} figures",
             f"layers: first convolution {e(layers.first_conv)}; stages "
             f"{e(', '.join(layers.stages))}; class activation maps at {e(layers.cam)}; "
             f"embeddings from {e(layers.features)}"] + [e(note) for note in notes]
    header = "".join(f"<p>{line}</p>\n" for line in lines)
    toc = "".join(f'<a href="#{slug(s.method.key)}">{e(s.method.title)}</a><br>\n'
                  for s in sections)
    title = f"minidl gallery: {facts['model']}"
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<header>\n<h1>{e(title)}</h1>\n{header}</header>\n<nav>\n{toc}</nav>\n"
            + "".join(section_html(s) for s in sections) + "</body>\n</html>\n")


def section_html(section):
    """One method's section: title, explanation, time, figures with captions."""
    e = html.escape
    method = section.method
    figures = "".join(f'<figure><img src="{e(name)}" alt="{e(method.title)}">'
                      f"<figcaption>{e(caption)}</figcaption></figure>\n"
                      for name, caption in section.figures)
    error = f'<p class="error">failed: {e(section.error)}</p>\n' if section.error else ""
    return (f'<section id="{slug(method.key)}">\n<h2>{e(method.title)}</h2>\n'
            f'<p class="about">{e(method.about)}</p>\n'
            f'<p class="meta">{section.seconds:.1f} s</p>\n{error}{figures}</section>\n')
