"""Attribution for one input and one class: how much each pixel counts for the class score.

Every method takes a model, an image (C, H, W) (a NumPy array or a tensor) and a target class
(default: the class the model predicts) and explains the target's logit y_c, the score before
softmax. Results are NumPy arrays in the model's dtype.

The methods expect the model in eval mode (``model.eval()``) and do not switch it: in training
mode batch norm and dropout would make the score of one image depend on the rest of the batch
and on chance (several methods push batches of perturbed images through the model at once).

* Perturbation: ``occlusion`` (Zeiler & Fergus, 2014).
* Gradients: ``saliency`` (Simonyan et al., 2014), ``gradient_x_input`` (Shrikumar et al.,
  2016), ``smoothgrad`` (Smilkov et al., 2017), ``integrated_gradients`` (Sundararajan et al.,
  2017).
* Modified backward passes: ``deconvnet`` (Zeiler & Fergus, 2014) and ``guided_backprop``
  (Springenberg et al., 2015), the ordinary backward under ``minidl.backprop_rule``.
"""
from __future__ import annotations

import numpy as np

import minidl
from ..geometry import pair

from . import plot
from ._util import as_batch

__all__ = [
    "deconvnet", "gradient_x_input", "guided_backprop", "integrated_gradients", "occlusion",
    "plot_deconvnet", "plot_gradient_x_input", "plot_guided_backprop",
    "plot_integrated_gradients", "plot_occlusion", "plot_saliency", "plot_smoothgrad",
    "saliency", "smoothgrad",
]

RIEMANN_RULES = ("left", "right", "midpoint", "trapezoid")


# ---------------------------------------------------------------------------- shared steps
def predict_logits(model, images, batch_size=64):
    """The logits (N, K) of images (N, C, H, W) or of one image (C, H, W), without a graph."""
    batch = as_batch(model, images).numpy()
    with minidl.no_grad():
        return np.concatenate([model(minidl.tensor(batch[part])).numpy()
                               for part in _chunks(len(batch), batch_size)])


def target_class(model, image, target=None):
    """``target`` as an int; None means the class the model predicts for ``image``."""
    if target is not None:
        return int(target)
    return int(predict_logits(model, image)[0].argmax())


def input_gradients(model, images, target, rule="default", batch_size=64):
    """dy_target/dx for each image of a batch (N, C, H, W), under a ReLU backprop rule.

    Each chunk's target logits are summed before one backward pass: in eval mode an image's
    logits depend on that image only, so the gradient of the sum is the stack of the
    per-image gradients.
    """
    batch = as_batch(model, images).numpy()
    return np.concatenate([_chunk_gradient(model, batch[part], target, rule)
                           for part in _chunks(len(batch), batch_size)])


def _chunk_gradient(model, images, target, rule):
    x = minidl.tensor(images, requires_grad=True)
    with minidl.backprop_rule(rule):
        return minidl.grad(model(x)[:, target].sum(), x)


def _chunks(n, size):
    return [slice(start, start + size) for start in range(0, n, size)]


def _image(model, image):
    """The image as a (C, H, W) array in the model's dtype."""
    return as_batch(model, image).numpy()[0]


def _max_abs_over_channels(gradient):
    return np.abs(gradient).max(axis=0)


# ---------------------------------------------------------------------------- perturbation
def occlusion(model, image, target=None, patch=8, stride=4, baseline=0.0, batch_size=64):
    """Occlusion sensitivity (Zeiler & Fergus, "Visualizing and understanding convolutional
    networks", 2014): the drop in the target logit when a patch is hidden.

    A ``patch`` x ``patch`` window (an int or (height, width)) slides with ``stride`` (the
    last window of a row or column is moved flush with the border, so every pixel is covered).
    For each window p the image x_p has the window set to ``baseline`` (a number, or an array
    broadcastable to (C, H, W)) in every channel, and

        drop_p = y_c(x) - y_c(x_p),    map(i, j) = mean of drop_p over the windows p covering (i, j).

    With 1 x 1 patches and stride 1 the map is exactly drop_(i, j). Returns the map (H, W);
    positive where hiding the pixels lowers the score.
    """
    x = _image(model, image)
    target = target_class(model, x, target)
    fill = np.broadcast_to(np.asarray(baseline, x.dtype), x.shape)
    windows = _windows(x.shape[1:], pair(patch), pair(stride))
    drops = predict_logits(model, x)[0, target] - np.concatenate([
        predict_logits(model, _occluded(x, fill, windows[part]), batch_size)[:, target]
        for part in _chunks(len(windows), batch_size)])
    total, count = np.zeros(x.shape[1:], x.dtype), np.zeros(x.shape[1:], x.dtype)
    for window, drop in zip(windows, drops):
        total[window] += drop
        count[window] += 1
    return total / count



def _windows(size, patch, stride):
    """The patch positions as (rows, columns) slices."""
    if any(p > n for p, n in zip(patch, size)):
        raise ValueError(f"occlusion: patch {patch} is larger than the image {size}")
    starts = [_starts(n, p, s) for n, p, s in zip(size, patch, stride)]
    return [(slice(i, i + patch[0]), slice(j, j + patch[1]))
            for i in starts[0] for j in starts[1]]


def _starts(n, patch, stride):
    starts = list(range(0, n - patch + 1, stride))
    return starts if starts[-1] == n - patch else starts + [n - patch]


def _occluded(x, fill, windows):
    """Copies of x (C, H, W), the k-th with windows[k] set to the fill in every channel."""
    batch = np.repeat(x[None], len(windows), axis=0)
    for k, (rows, cols) in enumerate(windows):
        batch[k, :, rows, cols] = fill[:, rows, cols]
    return batch


# ---------------------------------------------------------------------------- gradients
def saliency(model, image, target=None):
    """Image-specific class saliency (Simonyan, Vedaldi & Zisserman, "Deep inside convolutional
    networks", 2014): how much a small change of each pixel changes the target logit,

        g = dy_c/dx (C, H, W),    M(i, j) = max over channels c of |g(c, i, j)|.

    Returns ``(M, g)``: the map (H, W) and the raw gradient (C, H, W).
    """
    x = _image(model, image)
    gradient = input_gradients(model, x[None], target_class(model, x, target))[0]
    return _max_abs_over_channels(gradient), gradient


def gradient_x_input(model, image, target=None):
    """Gradient times input (Shrikumar et al., "Not just a black box", 2016): the
    first-order Taylor term of each input, ``x * dy_c/dx`` (C, H, W).

    For a linear model y_c = w . x + b it is w * x, which sums to y_c(x) - b.
    """
    x = _image(model, image)
    return x * input_gradients(model, x[None], target_class(model, x, target))[0]


def smoothgrad(model, image, target=None, noise=0.15, samples=50, seed=0, batch_size=64):
    """SmoothGrad (Smilkov et al., "SmoothGrad: removing noise by adding noise", 2017): the
    gradient averaged over noisy copies of the image,

        (1/n) sum_k dy_c/dx (x + e_k),    e_k ~ N(0, sigma^2),  sigma = noise * (max x - min x),

    with n = ``samples`` copies drawn from ``numpy.random.default_rng(seed)``. Returns the
    mean gradient (C, H, W); its max over channels of |.| is the smoothed saliency map.
    """
    x = _image(model, image)
    target = target_class(model, x, target)
    sigma = noise * (x.max() - x.min())
    noisy = x + sigma * np.random.default_rng(seed).standard_normal((samples,) + x.shape)
    return input_gradients(model, noisy, target, batch_size=batch_size).mean(axis=0)


def integrated_gradients(model, image, target=None, baseline=None, steps=50,
                         riemann="midpoint", batch_size=64):
    """Integrated Gradients (Sundararajan, Taly & Yan, "Axiomatic attribution for deep
    networks", 2017): the gradient integrated along the straight path from a baseline x'
    (default: zeros, a black image) to x,

        IG(x) = (x - x') * integral_0^1 dy_c/dx (x' + a (x - x')) da
              ~ (x - x') * sum_k w_k dy_c/dx (x' + a_k (x - x')),

    a Riemann sum with ``steps`` gradient evaluations at the points a_k with weights w_k:
    ``"left"`` a_k = k/m, ``"right"`` a_k = (k + 1)/m (the paper's eq. 3), ``"midpoint"``
    a_k = (k + 1/2)/m, all with w_k = 1/m, for k = 0..m-1; ``"trapezoid"`` a_k = k/(m - 1)
    with w_k = 1/(m - 1), halved at both ends.

    Completeness: the attributions sum to y_c(x) - y_c(x') when the integral is exact.
    Returns ``(attributions, gap)``: attributions (C, H, W) and the completeness gap
    sum(IG) - (y_c(x) - y_c(x')), the error of the Riemann sum.
    """
    x = _image(model, image)
    target = target_class(model, x, target)
    x0 = np.broadcast_to(np.asarray(0 if baseline is None else baseline, x.dtype), x.shape)
    alphas, weights = riemann_points(steps, riemann)
    path = x0 + alphas.astype(x.dtype)[:, None, None, None] * (x - x0)
    gradients = input_gradients(model, path, target, batch_size=batch_size)
    attributions = (x - x0) * np.tensordot(weights.astype(x.dtype), gradients, axes=1)
    scores = predict_logits(model, np.stack([x, x0]))[:, target]
    return attributions, float(attributions.sum() - (scores[0] - scores[1]))


def riemann_points(steps, riemann="midpoint"):
    """Points a_k in [0, 1] and weights w_k of a Riemann rule (see ``integrated_gradients``)."""
    if riemann not in RIEMANN_RULES:
        raise ValueError(f"unknown Riemann rule {riemann!r}: expected one of {RIEMANN_RULES}")
    if riemann == "trapezoid":
        if steps < 2:
            raise ValueError(f"the trapezoid rule needs at least 2 steps, got {steps}")
        weights = np.full(steps, 1.0 / (steps - 1))
        weights[[0, -1]] /= 2
        return np.linspace(0.0, 1.0, steps), weights
    offset = {"left": 0.0, "right": 1.0, "midpoint": 0.5}[riemann]
    return (np.arange(steps) + offset) / steps, np.full(steps, 1.0 / steps)


# ---------------------------------------------------------------------------- backprop rules
def deconvnet(model, image, target=None):
    """Deconvnet reconstruction (Zeiler & Fergus, 2014): the backward pass of dy_c/dx in which
    every ReLU passes max(g, 0) of its incoming gradient g, whatever its forward input was
    (``minidl.backprop_rule("deconvnet")``); max-pooling keeps its switches. Returns (C, H, W).

    Without max-pooling the result does not depend on the image at all: every other step of
    the backward pass is linear in g with weights that do not depend on x.
    """
    x = _image(model, image)
    return input_gradients(model, x[None], target_class(model, x, target), "deconvnet")[0]


def guided_backprop(model, image, target=None):
    """Guided backpropagation (Springenberg et al., "Striving for simplicity: the all
    convolutional net", 2015): the backward pass of dy_c/dx in which every ReLU passes
    max(g, 0) * [x > 0], only the positive gradient where its forward input was positive
    (``minidl.backprop_rule("guided")``). Returns (C, H, W).
    """
    x = _image(model, image)
    return input_gradients(model, x[None], target_class(model, x, target), "guided")[0]


# ---------------------------------------------------------------------------- figures
def plot_occlusion(image, sensitivity):
    """Image, occlusion map (signed: red where hiding lowers the score) and overlay."""
    return plot.panel_row([("image", image, "image"), ("score drop", sensitivity, "signed"),
                           ("overlay", plot.overlay(image, np.maximum(sensitivity, 0)), "rgb")],
                          suptitle="Occlusion sensitivity")


def plot_saliency(image, saliency_map, gradient=None):
    """Image, raw gradient (if given, min-max scaled), saliency map and overlay."""
    panels = [("image", image, "image")]
    if gradient is not None:
        panels.append(("gradient", gradient, "image"))
    panels += [("max_c |gradient|", saliency_map, "heat"),
               ("overlay", plot.overlay(image, saliency_map), "rgb")]
    return plot.panel_row(panels, suptitle="Saliency")


def plot_gradient_x_input(image, attributions):
    """Image and the attributions summed over channels (signed)."""
    return _plot_signed(image, attributions, "Gradient x input")


def plot_smoothgrad(image, gradient):
    """Image, smoothed saliency map max_c |mean gradient| and overlay."""
    smooth = _max_abs_over_channels(gradient)
    return plot.panel_row([("image", image, "image"), ("max_c |mean gradient|", smooth, "heat"),
                           ("overlay", plot.overlay(image, smooth), "rgb")],
                          suptitle="SmoothGrad")


def plot_integrated_gradients(image, attributions, gap=None):
    """Image and the attributions summed over channels (signed), with the completeness gap."""
    title = "Integrated Gradients" + ("" if gap is None else f" (gap {gap:.3g})")
    return _plot_signed(image, attributions, title)


def plot_deconvnet(image, reconstruction):
    """Image and the deconvnet reconstruction, min-max scaled as an image."""
    return plot.panel_row([("image", image, "image"), ("deconvnet", reconstruction, "image")],
                          suptitle="Deconvnet")


def plot_guided_backprop(image, gradient):
    """Image and the guided backpropagation gradient, min-max scaled as an image."""
    return plot.panel_row([("image", image, "image"), ("guided backprop", gradient, "image")],
                          suptitle="Guided backpropagation")


def _plot_signed(image, attributions, title):
    summed = np.asarray(attributions).sum(axis=0)
    return plot.panel_row([("image", image, "image"), ("sum over channels", summed, "signed"),
                           ("overlay |sum|", plot.overlay(image, np.abs(summed)), "rgb")],
                          suptitle=title)
