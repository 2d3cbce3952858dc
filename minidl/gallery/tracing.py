"""The gallery's subject: the model behind the data's normalisation, and the layers it looks
at, found from one traced forward pass (``find_layers``); the test images it explains."""
from __future__ import annotations

import collections
import functools
import math
from typing import NamedTuple

import numpy as np

import minidl
from minidl import nn, viz
from minidl.viz import model_dtype
from minidl.viz.attribution import predict_logits

from .settings import Settings


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
