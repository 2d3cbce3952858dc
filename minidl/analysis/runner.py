"""Run one analysis end to end: train what it needs, run it, write its figures and numbers.

    from minidl.analysis import runner
    numbers = runner.run_method("collapse", "out/collapse")                  # built-in Shapes
    numbers = runner.run_method("convergent", "out/conv", data="mnist",
                                data_dir="../shared/data/mnist")

What each method trains (on 32x32 RGB Shapes, or on MNIST's 28x28 digits from a folder):

* "circuits": ``mini_googlenet``, two convolutions and two Inception modules of the zoo's
  GoogLeNet (``minidl.models.googlenet.Inception``) at small widths;
* "convergent": two ``small_cnn`` from different seeds;
* "collapse": one ``small_cnn``, trained inside the analysis into the terminal phase;
* "filters": two ``first_layer_net`` that differ only in the first layer: AlexNet's 11x11
  stride 4 and ZFNet's 7x7 stride 2;
* "diverse": one ``small_cnn``.
"""
from __future__ import annotations

import dataclasses
import time

from minidl import backend, nn
from minidl.data import MNIST, Shapes, Subset
from minidl.models import small_cnn
from minidl.models.googlenet import BasicConv2d, Inception

from . import circuits, collapse, convergent, diverse, figures, filters
from .common import accuracy, dataset_arrays, train_classifier

__all__ = ["METHODS", "Budget", "first_layer_net", "load_data", "mini_googlenet", "run_method"]

METHODS = ("circuits", "convergent", "collapse", "filters", "diverse")
DATA = ("shapes", "mnist")


@dataclasses.dataclass(frozen=True)
class Budget:
    """How much each run trains and looks at: training images and epochs for the trained
    models, the images the analyses read, and the collapse run's own training set and epochs."""
    train: int = 4000
    eval: int = 500
    epochs: int = 12
    collapse_train: int = 800
    collapse_epochs: int = 40


FULL = Budget()
QUICK = Budget(train=256, eval=64, epochs=1, collapse_train=128, collapse_epochs=3)


# ----------------------------------------------------------------------------- models
class MiniGoogLeNet(nn.Module):
    """A small GoogLeNet for 32x32 (or 28x28) images: conv3x3 (16), 2x2 max pooling,
    conv3x3 (32), 2x2 max pooling, two Inception modules (64 and 88 channels), global
    average pooling and a linear classifier. The layers are the zoo's ``BasicConv2d``
    (conv, batch norm, ReLU) and ``Inception``."""

    def __init__(self, num_classes=8, in_channels=3):
        super().__init__()
        self.stem1 = BasicConv2d(in_channels, 16, 3, padding=1)
        self.pool1 = nn.MaxPool2d(2)
        self.stem2 = BasicConv2d(16, 32, 3, padding=1)
        self.pool2 = nn.MaxPool2d(2)
        self.inception3a = Inception(32, 16, 16, 24, 8, 12, 12)
        self.inception3b = Inception(64, 24, 24, 32, 8, 16, 16)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(88, num_classes)

    def forward(self, x):
        x = self.pool2(self.stem2(self.pool1(self.stem1(x))))
        x = self.inception3b(self.inception3a(x))
        return self.fc(self.flatten(self.avgpool(x)))


def mini_googlenet(num_classes=8, in_channels=3):
    """``MiniGoogLeNet``: the circuits analysis's model (branches for branch specialization,
    1x1 bottlenecks for expanded weights)."""
    return MiniGoogLeNet(num_classes, in_channels)


def first_layer_net(num_classes=8, in_channels=3, kernel=11, stride=4, width=32):
    """A classifier whose first layer is a ``kernel`` x ``kernel`` convolution with ``stride``
    (padding kernel // 2) and a ReLU, as in AlexNet and ZFNet (no batch norm there), then
    conv3x3 (64) with batch norm and ReLU, global average pooling and a linear layer."""
    return nn.Sequential(
        nn.Conv2d(in_channels, width, kernel, stride=stride, padding=kernel // 2), nn.ReLU(),
        nn.Conv2d(width, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))


# ----------------------------------------------------------------------------- data
def load_data(data="shapes", data_dir=None, train=4000, eval=500, seed=0):
    """(training set, evaluation set, class names): Shapes (32x32 RGB, noisy backgrounds,
    drawn from ``seed``) or MNIST read from ``data_dir`` (either split on disk; its first
    ``train`` images train, the last ``eval`` are looked at)."""
    if data == "shapes":
        train_set = Shapes(train, size=32, seed=seed, background="noise")
        return train_set, Shapes(eval, size=32, seed=seed, train=False), list(train_set.classes)
    if data != "mnist":
        raise ValueError(f"data must be one of {DATA}, got {data!r}")
    try:
        digits = MNIST(data_dir, train=True)
    except FileNotFoundError:
        digits = MNIST(data_dir, train=False)
    if train + eval > len(digits):
        raise ValueError(f"MNIST in {digits.root} holds {len(digits)} images, fewer than "
                         f"train + eval = {train + eval}")
    return (Subset(digits, range(train)), Subset(digits, range(len(digits) - eval, len(digits))),
            list(digits.classes))


def _trained(build, train_set, epochs, seed):
    """A model from ``build()`` with the seed set first, trained by SGD (momentum 0.9, weight
    decay 5e-4, learning rate 0.05 along a cosine to 0, batches of 64)."""
    backend.manual_seed(seed)
    model = build()
    train_classifier(model, train_set, epochs, lr=0.05, optimizer="sgd", weight_decay=5e-4,
                     cosine=True, seed=seed)
    return model


# ----------------------------------------------------------------------------- methods
def _models_for(name, train_set, classes, channels, budget, seed):
    """(models to analyse, their names) for one method; "collapse" gets an untrained model."""
    count = len(classes)
    cnn = lambda: small_cnn(count, channels)
    if name == "circuits":
        return [_trained(lambda: mini_googlenet(count, channels), train_set, budget.epochs, seed)]
    if name == "convergent":
        return [_trained(cnn, train_set, budget.epochs, seed + k) for k in range(2)]
    if name == "collapse":
        backend.manual_seed(seed)
        return [cnn()]
    if name == "filters":
        shapes = {"AlexNet-like": (11, 4), "ZFNet-like": (7, 2)}
        return {label: _trained(lambda k=k, s=s: first_layer_net(count, channels, k, s), train_set,
                                budget.epochs, seed) for label, (k, s) in shapes.items()}
    return [_trained(cnn, train_set, budget.epochs, seed)]


def _analyse(name, models, train_set, eval_set, classes, out_dir, quick, seed):
    """Run the method's ``run`` on what ``_models_for`` made."""
    if name == "circuits":
        return circuits.run(models[0], eval_set, out_dir, quick=quick)
    if name == "convergent":
        return convergent.run(models, eval_set, out_dir, quick=quick, seed=seed)
    if name == "collapse":
        return collapse.run(models[0], train_set, out_dir, quick=quick, seed=seed, lr=0.05,
                            epochs=QUICK.collapse_epochs if quick else FULL.collapse_epochs)
    if name == "filters":
        return filters.run(models, eval_set, out_dir, quick=quick)
    return diverse.run(models[0], eval_set, out_dir, quick=quick, class_names=classes, seed=seed)


def _accuracies(name, models, eval_set):
    """Each trained model's accuracy on the evaluation images (none for "collapse", which
    trains inside the analysis)."""
    if name == "collapse":
        return {}
    images, labels = dataset_arrays(eval_set)
    named = models if isinstance(models, dict) else {f"model {k + 1}": m for k, m in enumerate(models)}
    return {label: accuracy(model, images, labels) for label, model in named.items()}


def run_method(name, out_dir, data="shapes", data_dir=None, quick=False, seed=0):
    """Train what analysis ``name`` (one of ``METHODS``) needs on ``data`` ("shapes", or
    "mnist" from ``data_dir``), run it and write its PNG figures and ``<name>.json`` (the
    numbers returned) into ``out_dir``. ``quick``: tiny training and analysis budgets (for
    tests; poor pictures).

    Returns the method's numbers plus "method", "data", "accuracy" (of the trained models
    on the evaluation images), "train_seconds" and "analysis_seconds"; "figures" lists the
    PNG files written.
    """
    if name not in METHODS:
        raise ValueError(f"unknown analysis {name!r}: expected one of {', '.join(METHODS)}")
    budget = QUICK if quick else FULL
    size = budget.collapse_train if name == "collapse" else budget.train
    train_set, eval_set, classes = load_data(data, data_dir, size, budget.eval, seed)
    channels = train_set[0][0].shape[0]
    started = time.perf_counter()
    models = _models_for(name, train_set, classes, channels, budget, seed)
    trained_at = time.perf_counter()
    numbers = _analyse(name, models, train_set, eval_set, classes, out_dir, quick, seed)
    finished = time.perf_counter()
    result = {"method": name, "data": data, **numbers,
              "accuracy": _accuracies(name, models, eval_set),
              "train_seconds": trained_at - started, "analysis_seconds": finished - trained_at}
    figures.write_json(result, out_dir, f"{name}.json")
    return figures.jsonable(result)
