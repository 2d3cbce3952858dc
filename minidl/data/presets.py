"""Named data sets with the conventions of the ``minidl`` command, for training and
evaluating a model of a given input size.

    data = presets.load("mnist", model_input=(1, 32, 32), data_dir="../shared/data/mnist",
                        val_split=0.2)
    data.train, data.eval          # Subsets with the preprocessing applied
    data.input                     # the preprocessing, to store in a checkpoint

Preprocessing: images smaller than a small model's input (at most 64 pixels, like LeNet-5's
32x32) are zero-padded to it (MNIST's 28x28 for LeNet-5); then each channel is normalised
with the training images' mean and standard deviation.
"""
from __future__ import annotations

import collections
import copy
import os

from . import transforms as T
from .cifar import CIFAR10
from .dataset import Subset
from .folder import ImageFolder
from .loader import default_collate
from .mnist import MNIST, FashionMNIST
from .shapes import Shapes

__all__ = ["DATASETS", "Data", "data_name", "load"]

DATASETS = ("shapes", "mnist", "fashion-mnist", "cifar10", "folder:PATH")
_FILES = {"mnist": MNIST, "fashion-mnist": FashionMNIST, "cifar10": CIFAR10}


class Data:
    """What ``load`` found: the training and evaluation sets and how to feed a model.

    Attributes: ``train`` (None when only evaluating), ``eval``, ``eval_name`` (in words),
    ``classes``, ``channels``, ``input_shape`` (C, H, W after padding) and ``input``
    (the preprocessing, stored in checkpoints: ``pad_to``, ``mean``, ``std``).
    """

    def __init__(self, **fields):
        self.__dict__.update(fields)


def data_name(spec: str) -> str:
    """A short name for a data spec ("folder:/a/b" -> "b")."""
    if spec.startswith("folder:"):
        return os.path.basename(os.path.normpath(spec[len("folder:"):]))
    return spec


def load(spec="shapes", model_input=(3, 32, 32), data_dir=None, val_split=0.0, train=True,
         augment=False, input=None, shapes_n=4000, shapes_test_n=1000, shapes_size=32) -> Data:
    """The data set ``spec`` preprocessed for a model whose canonical input is ``model_input``.

    ``val_split`` F > 0 evaluates on the last fraction F of the training split (or of the only
    split on disk) and trains on the rest; otherwise the test split is evaluated. ``input``
    gives the preprocessing instead of computing it (as stored in a checkpoint).
    """
    train_split, test_split = _splits(spec, data_dir, model_input, shapes_n, shapes_test_n,
                                      shapes_size)
    train_part, eval_part, eval_name = _parts(spec, val_split, train_split, test_split, train)
    source = eval_part[0].dataset
    image_shape = source.get(0)[0].shape
    if input is None:
        input = _preprocessing(train_part[0].dataset, train_part[1], image_shape, model_input)
    return Data(train=_transformed(train_part, spec, input, augment) if train else None,
                eval=_transformed(eval_part, spec, input, False), eval_name=eval_name,
                classes=list(source.classes), channels=image_shape[0],
                input_shape=(image_shape[0], *(input["pad_to"] or image_shape[1:])), input=input)


_Split = collections.namedtuple("_Split", "dataset name")  # name: in words, for messages


def _parts(spec, val_split, train_split, test_split, train: bool) -> tuple:
    """(training part, evaluation part, the evaluation part in words); a part is a
    (split, indices) pair."""
    if val_split:
        source = train_split or test_split
        n = len(source.dataset)
        n_eval = round(val_split * n)
        if not 0 < n_eval < n:
            raise ValueError(f"--val-split {val_split} of {n} images leaves nothing to "
                             "train or to evaluate on")
        return ((source, range(n - n_eval)), (source, range(n - n_eval, n)),
                f"the last {n_eval} images of {source.name}")
    if test_split is None:
        raise ValueError(f"{spec} has no separate test split here: pass --val-split F to "
                         "evaluate on the last fraction F of the training images")
    if train_split is None and train:
        raise FileNotFoundError(f"{spec}: only the test split is on disk: pass --val-split F "
                                "to train on its first part and evaluate on the last fraction F")
    train_part = (train_split or test_split, range(len((train_split or test_split).dataset)))
    return (train_part, (test_split, range(len(test_split.dataset))),
            f"{test_split.name} ({len(test_split.dataset)} images)")


def _splits(spec, root, model_input, shapes_n, shapes_test_n, shapes_size) -> tuple:
    """(training split, test split) as ``_Split``s, either None when it is not on disk."""
    if spec == "shapes":
        return (_Split(Shapes(shapes_n, size=shapes_size, train=True), "the shapes training set"),
                _Split(Shapes(shapes_test_n, size=shapes_size, train=False),
                       "the shapes test set"))
    if spec.startswith("folder:"):
        return _folder_splits(spec[len("folder:"):], model_input[1:])
    if spec not in _FILES:
        raise ValueError(f"unknown data set {spec!r}: expected one of {', '.join(DATASETS)}")
    if root is not None and not os.path.isdir(root):
        raise FileNotFoundError(f"data folder {root} does not exist")
    splits, errors = [], []
    for is_train in (True, False):
        try:
            dataset = _FILES[spec](root, train=is_train)
            splits.append(_Split(dataset, f"the {spec} {'training' if is_train else 'test'} split"))
        except FileNotFoundError as error:
            splits.append(None)
            errors.append(str(error))
    if splits == [None, None]:
        raise FileNotFoundError(" / ".join(errors))
    return tuple(splits)


def _folder_splits(path: str, size) -> tuple:
    """``path/train`` and ``path/val`` (or ``path/test``) if there, else ``path`` alone, as a
    training split; images are resized to the model's input size ``size`` (H, W)."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"data folder {path} does not exist")
    if not os.path.isdir(os.path.join(path, "train")):
        return _Split(ImageFolder(path, size=size), f"the images in {path}"), None
    test = next((os.path.join(path, name) for name in ("val", "test")
                 if os.path.isdir(os.path.join(path, name))), None)
    return (_Split(ImageFolder(os.path.join(path, "train"), size=size), f"{path}/train"),
            _Split(ImageFolder(test, size=size), test) if test else None)


def _preprocessing(dataset, train_indices, image_shape, model_input) -> dict:
    """pad_to (H, W or None), mean and std per channel of (up to 10,000) training images."""
    _, h, w = image_shape
    _, H, W = model_input
    pad = (h, w) != (H, W) and h <= H <= 64 and w <= W <= 64
    indices = list(train_indices if train_indices is not None else range(len(dataset)))[:10000]
    if hasattr(dataset, "data"):  # uint8 arrays in memory
        images = dataset.data[indices].astype("float32") / 255
    else:
        images = default_collate([dataset.get(i)[0] for i in indices[:500]])
    return {"pad_to": [H, W] if pad else None,
            "mean": images.mean(axis=(0, 2, 3)).tolist(),
            "std": (images.std(axis=(0, 2, 3)) + 1e-6).tolist()}


def _transformed(part, spec: str, input: dict, augment: bool):
    """The subset ``part`` = (split, indices) with the preprocessing (and augmentation)."""
    split, indices = part
    steps = []
    if input["pad_to"]:
        steps.append(T.CenterPad(input["pad_to"]))
    if augment:
        size = input["pad_to"] or split.dataset.get(0)[0].shape[1:]
        steps.append(T.RandomCrop(size, padding=max(2, size[0] // 8)))
        if spec != "mnist":  # digits are not mirror-symmetric
            steps.append(T.RandomHorizontalFlip())
    steps.append(T.Normalize(input["mean"], input["std"]))
    dataset = copy.copy(split.dataset)  # shares the images; only the transform differs
    dataset.transform = T.Compose(steps)
    return Subset(dataset, list(indices))
