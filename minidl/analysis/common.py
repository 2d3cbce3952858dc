"""Helpers the analyses share: datasets as arrays, a layer's input or output over many
images (read by forward hooks), a plain training loop, and k-means.

Everything runs through the public API: ``Module.register_forward_hook``, ``no_grad`` and
``backward``. Arrays follow the framework's layout (images (N, C, H, W)).
"""
from __future__ import annotations

import contextlib

import numpy as np

import minidl
import minidl.functional as F
from minidl import viz
from minidl.data import DataLoader

__all__ = ["accuracy", "dataset_arrays", "eval_mode", "kmeans", "layer_io", "parameter_dtype",
           "train_classifier"]


def parameter_dtype(model):
    """The floating dtype of the model's parameters (float32 if it has none)."""
    for parameter in model.parameters():
        return parameter.dtype
    return np.dtype(np.float32)


def dataset_arrays(data, limit=None):
    """(images (N, C, H, W) float array, labels (N,) int64 or None) from a dataset (its first
    ``limit`` samples, read in order), an array of images, or an (images, labels) pair."""
    if isinstance(data, tuple) and len(data) == 2:
        images, labels = np.asarray(data[0]), None if data[1] is None else np.asarray(data[1])
    elif isinstance(data, (np.ndarray, minidl.Tensor)):
        images, labels = np.asarray(data), None
    elif hasattr(data, "__len__") and hasattr(data, "__getitem__"):
        count = len(data) if limit is None else min(limit, len(data))
        samples = [data[i] for i in range(count)]
        images = np.stack([np.asarray(sample[0]) for sample in samples])
        labels = np.array([int(sample[1]) for sample in samples], dtype=np.int64)
    else:
        raise TypeError(f"data must be a dataset, an array of images or an (images, labels) "
                        f"pair, got {type(data).__name__}")
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {images.shape}")
    if limit is not None:
        images, labels = images[:limit], None if labels is None else labels[:limit]
    return images, labels


@contextlib.contextmanager
def eval_mode(model):
    """Eval mode inside the block (running batch-norm statistics, no dropout), then every
    module's own training flag back."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


def layer_io(model, layers, images, which="output", batch_size=256):
    """The outputs (or, with ``which="input"``, the first inputs) of ``layers`` (modules or
    dotted names; one or a list) for ``images`` (N, C, H, W), as NumPy arrays.

    The model runs in eval mode under ``no_grad``, ``batch_size`` images at a time; a forward
    hook on each layer records what it sees. Returns one array, or a list for a list of layers.
    """
    if which not in ("input", "output"):
        raise ValueError(f"which must be 'input' or 'output', got {which!r}")
    single = not isinstance(layers, (list, tuple))
    modules = [viz.get_module(model, layer) for layer in ([layers] if single else layers)]
    seen = [[] for _ in modules]

    def recorder(k):
        def hook(module, inputs, output):
            seen[k].append((inputs[0] if which == "input" else output).numpy())
        return hook

    handles = [module.register_forward_hook(recorder(k)) for k, module in enumerate(modules)]
    dtype = parameter_dtype(model)
    try:
        with eval_mode(model), minidl.no_grad():
            for start in range(0, len(images), batch_size):
                model(minidl.tensor(np.asarray(images[start:start + batch_size], dtype=dtype)))
    finally:
        for handle in handles:
            handle.remove()
    arrays = [np.concatenate(parts) for parts in seen]
    return arrays[0] if single else arrays


def accuracy(model, images, labels, batch_size=256):
    """The fraction of ``images`` whose largest logit is at their label (eval mode)."""
    dtype = parameter_dtype(model)
    correct = 0
    with eval_mode(model), minidl.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(minidl.tensor(np.asarray(images[start:start + batch_size], dtype=dtype)))
            correct += int((logits.numpy().argmax(axis=1) == labels[start:start + batch_size]).sum())
    return correct / len(images)


def train_classifier(model, dataset, epochs, lr=0.003, batch_size=64, seed=0, optimizer="adam",
                     weight_decay=0.0, momentum=0.9, cosine=False, on_epoch=None):
    """Train ``model`` on ``dataset`` ((image, label) samples) with cross-entropy: a plain loop,
    ``epochs`` passes in an order drawn from ``seed``.

    ``optimizer``: "adam" or "sgd" (with ``momentum``); ``cosine``: the learning rate follows
    a cosine from ``lr`` down to 0 over the epochs; ``on_epoch(epoch, model)`` is called
    before the first epoch (epoch 0) and after each one. Returns the mean training loss of
    each epoch; the model is left in eval mode.
    """
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if optimizer == "adam":
        opt = minidl.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        opt = minidl.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                               weight_decay=weight_decay)
    schedule = minidl.optim.CosineAnnealingLR(opt, T_max=epochs) if cosine else None
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, seed=seed)
    losses = []
    if on_epoch is not None:
        on_epoch(0, model)
    for epoch in range(1, epochs + 1):
        model.train()
        total, seen = 0.0, 0
        for images, labels in loader:
            loss = F.cross_entropy(model(images), labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, seen = total + loss.item() * len(labels), seen + len(labels)
        losses.append(total / seen)
        if schedule is not None:
            schedule.step()
        if on_epoch is not None:
            on_epoch(epoch, model)
    model.eval()
    return losses


def kmeans(points, k, seed=0, iterations=100):
    """k-means (Lloyd's algorithm) of ``points`` (n, d) from k-means++ starts (Arthur &
    Vassilvitskii 2007: each new centre drawn with probability proportional to the squared
    distance to the nearest centre chosen so far).

    Alternates assigning each point to its nearest centre and moving each centre to the mean
    of its points, until the assignment stops changing; a centre left without points stays
    where it is. Returns (labels (n,), centres (k, d)).
    """
    points = np.asarray(points, dtype=np.float64)
    if not 1 <= k <= len(points):
        raise ValueError(f"k must be between 1 and the number of points ({len(points)}), got {k}")
    rng = np.random.default_rng(seed)
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):
        nearest = ((points[:, None] - np.array(centres)[None]) ** 2).sum(-1).min(axis=1)
        weights = nearest / nearest.sum() if nearest.sum() > 0 else None
        centres.append(points[rng.choice(len(points), p=weights)])
    centres, labels = np.array(centres), None
    for _ in range(iterations):
        new = ((points[:, None] - centres[None]) ** 2).sum(-1).argmin(axis=1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        for cluster in range(k):
            if np.any(labels == cluster):
                centres[cluster] = points[labels == cluster].mean(axis=0)
    return labels, centres
