"""The gallery's sections: every method with its title and explanation (``METHODS``), each
one a function of a ``GalleryRun`` that returns its figures."""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from minidl import nn, viz
from minidl.viz.network import layer_output

from .figures import default_layer, explain
from .settings import EPSILONS
from .tracing import explained_images


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
