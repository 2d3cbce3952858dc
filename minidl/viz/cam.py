"""Class activation maps: where in a convolutional layer's feature maps the class evidence lies.

Every method takes a model, an image (C, H, W) (a NumPy array or a tensor), a layer (a module
or a dotted name such as ``"features.8"``, whose output (1, K, h, w) is read through a
forward hook) and a target class (default: the predicted class). With A_k (h, w) the k-th
feature map of the layer and y_c the target's logit (before softmax), each method weighs the
maps and sums them; the map (h, w) is then upsampled bilinearly to the image size with
``minidl.functional.interpolate`` (``upsample=False`` keeps the layer's resolution). Results
are NumPy arrays in the model's dtype; ``plot.overlay`` blends one on the image.

The methods expect the model in eval mode (``model.eval()``) and do not switch it. The layer
must run exactly once per forward pass.

* ``grad_cam`` (Selvaraju et al., 2017) and ``guided_grad_cam``,
* ``grad_cam_plus_plus`` (Chattopadhyay et al., 2018),
* ``hires_cam`` (Draelos & Carin, 2020),
* ``score_cam`` (Wang et al., 2020), gradient-free.
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F

from . import plot
from ._util import as_batch, capture, get_module
from .attribution import guided_backprop, predict_logits, target_class

__all__ = [
    "grad_cam", "grad_cam_plus_plus", "guided_grad_cam", "hires_cam", "plot_grad_cam",
    "plot_grad_cam_plus_plus", "plot_guided_grad_cam", "plot_hires_cam", "plot_score_cam",
    "score_cam",
]


# ---------------------------------------------------------------------------- shared steps
def layer_activation(model, image, layer):
    """The layer's output for the image, a tensor (1, K, h, w) still in the graph, and the
    logits (1, classes) of the same forward pass."""
    module = get_module(model, layer)
    with capture(module) as seen:
        logits = model(as_batch(model, image, requires_grad=True))
    if len(seen) != 1:
        raise ValueError(f"the layer ran {len(seen)} times in one forward pass; "
                         "a class activation map needs a layer that runs once")
    if seen[0].ndim != 4:
        raise ValueError(f"the layer's output has shape {seen[0].shape}; expected (1, K, h, w)")
    return seen[0], logits


def activation_and_gradient(model, image, layer, target=None):
    """(A, dy_c/dA, y_c, c): the layer's feature maps A (K, h, w) for the image, the gradient
    of the target logit with respect to them, the logit and the target class."""
    activation, logits = layer_activation(model, image, layer)
    target = int(logits.numpy()[0].argmax()) if target is None else int(target)
    score = logits[0, target]
    gradient = minidl.grad(score, activation)
    return activation.numpy()[0], gradient[0], float(score.item()), target


def _weighted_sum(weights, maps):
    """sum_k weights_k * maps_k for weights (K,) and maps (K, h, w)."""
    return np.tensordot(weights, maps, axes=1)


def _finish(cam, image, relu, upsample):
    """Apply the ReLU and the upsampling to the image size (H, W) as asked."""
    if relu:
        cam = np.maximum(cam, 0)
    return upsample_maps(cam[None], tuple(image.shape[-2:]))[0] if upsample else cam


def upsample_maps(maps, size):
    """Bilinear resize of maps (K, h, w) to (K, *size) (``F.interpolate``, pixel centres
    aligned, ``align_corners=False``)."""
    with minidl.no_grad():
        resized = F.interpolate(minidl.tensor(maps[:, None]), size=size, mode="bilinear",
                                align_corners=False)
    return resized.numpy()[:, 0]


# ---------------------------------------------------------------------------- methods
def grad_cam(model, image, layer, target=None, relu=True, upsample=True):
    """Grad-CAM (Selvaraju et al., "Grad-CAM: visual explanations from deep networks via
    gradient-based localization", 2017):

        alpha_k = (1 / hw) sum_ij dy_c/dA_k(i, j),    L = ReLU(sum_k alpha_k A_k).

    ``relu=False`` returns the map before the ReLU. For a network ending in global average
    pooling and one linear layer, y_c = sum_k w_ck mean(A_k) + b_c, so alpha_k = w_ck / hw and
    hw times the pre-ReLU map is CAM (Zhou et al., 2016), sum_k w_ck A_k, which sums to
    y_c - b_c. Returns (H, W), or (h, w) with ``upsample=False``.
    """
    maps, gradient, _, _ = activation_and_gradient(model, image, layer, target)
    cam = _weighted_sum(gradient.mean(axis=(1, 2)), maps)
    return _finish(cam, image, relu, upsample)


def guided_grad_cam(model, image, layer, target=None):
    """Guided Grad-CAM (Selvaraju et al., 2017): guided backpropagation (C, H, W) times the
    upsampled Grad-CAM map (H, W), pixel by pixel: fine detail, restricted to the class's
    region. Returns (C, H, W)."""
    target = target_class(model, image, target)
    return guided_backprop(model, image, target) * grad_cam(model, image, layer, target)


def grad_cam_plus_plus(model, image, layer, target=None, upsample=True):
    """Grad-CAM++ (Chattopadhyay et al., "Grad-CAM++: generalized gradient-based visual
    explanations for deep convolutional networks", 2018), in its closed form.

    The paper explains S = exp(y_c). With g = dy_c/dA and y_c piecewise linear in A (ReLU
    networks: higher derivatives of y_c vanish), the derivatives of S are exp(y_c) g,
    exp(y_c) g^2 and exp(y_c) g^3, and

        alpha_k(i, j) = g^2 / (2 g^2 + sum_ab A_k(a, b) g^3)    (0 where the denominator is 0),
        w_k = sum_ij alpha_k(i, j) ReLU(dS/dA_k(i, j)) = exp(y_c) sum_ij alpha_k(i, j) ReLU(g),
        L = ReLU(sum_k w_k A_k).

    exp(y_c) cancels in alpha and only scales the map (it overflows beyond a logit of about
    88 in float32, 709 in float64). Returns (H, W), or (h, w) with ``upsample=False``.
    """
    maps, gradient, score, _ = activation_and_gradient(model, image, layer, target)
    g2, g3 = gradient ** 2, gradient ** 3
    denominator = 2 * g2 + maps.sum(axis=(1, 2), keepdims=True) * g3
    alpha = g2 / np.where(denominator != 0, denominator, 1)
    weights = np.exp(score) * (alpha * np.maximum(gradient, 0)).sum(axis=(1, 2))
    return _finish(_weighted_sum(weights.astype(maps.dtype), maps), image, True, upsample)


def hires_cam(model, image, layer, target=None, relu=False, upsample=True):
    """HiResCAM (Draelos & Carin, "Use HiResCAM instead of Grad-CAM for faithful explanations
    of convolutional neural networks", 2020): the gradient times the feature maps, element by
    element, summed over channels,

        L(i, j) = sum_k dy_c/dA_k(i, j) A_k(i, j),

    signed by default (``relu=True`` clips it). Unlike Grad-CAM's averaged gradients it is
    zero wherever the score does not read the features. Returns (H, W), or (h, w) with
    ``upsample=False``.
    """
    maps, gradient, _, _ = activation_and_gradient(model, image, layer, target)
    return _finish((gradient * maps).sum(axis=0), image, relu, upsample)


def score_cam(model, image, layer, target=None, upsample=True, batch_size=32):
    """Score-CAM (Wang et al., "Score-CAM: score-weighted visual explanations for
    convolutional neural networks", 2020), without gradients.

    Each feature map A_k is upsampled to the image size and min-max normalised to a mask
    H_k in [0, 1] (a constant map gives H_k = 0); its weight is the increase in confidence
    (softmax probability p_c) it brings over the baseline, the fully masked image x * 0:

        alpha_k = p_c(x * H_k) - p_c(0),    L = ReLU(sum_k alpha_k A_k).

    Returns (H, W), or (h, w) with ``upsample=False``.
    """
    with minidl.no_grad():
        activation, logits = layer_activation(model, image, layer)
    target = int(logits.numpy()[0].argmax()) if target is None else int(target)
    maps = activation.numpy()[0]
    x = as_batch(model, image).numpy()
    masked = x * _normalise(upsample_maps(maps, x.shape[-2:]))[:, None]
    probs = _softmax(predict_logits(model, np.concatenate([masked, 0 * x]), batch_size))
    weights = probs[:-1, target] - probs[-1, target]
    return _finish(_weighted_sum(weights, maps), image, True, upsample)


def _normalise(maps):
    """Each map (K, h, w) min-max scaled to [0, 1]; a constant map becomes 0."""
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1), 0).astype(maps.dtype)


def _softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------------------- figures
def plot_grad_cam(image, cam):
    """Image, Grad-CAM map and overlay (the map at the image's size)."""
    return _plot_cam(image, cam, "Grad-CAM")


def plot_grad_cam_plus_plus(image, cam):
    """Image, Grad-CAM++ map and overlay (the map at the image's size)."""
    return _plot_cam(image, cam, "Grad-CAM++")


def plot_hires_cam(image, cam):
    """Image, HiResCAM map (signed) and overlay of its positive part (at the image's size)."""
    return _plot_cam(image, cam, "HiResCAM", style="signed")


def plot_score_cam(image, cam):
    """Image, Score-CAM map and overlay (the map at the image's size)."""
    return _plot_cam(image, cam, "Score-CAM")


def plot_guided_grad_cam(image, guided_cam):
    """Image and Guided Grad-CAM (C, H, W), min-max scaled as an image."""
    return plot.panel_row([("image", image, "image"), ("guided Grad-CAM", guided_cam, "image")],
                          suptitle="Guided Grad-CAM")


def _plot_cam(image, cam, title, style="heat"):
    return plot.panel_row([("image", image, "image"), ("map", cam, style),
                           ("overlay", plot.overlay(image, np.maximum(cam, 0)), "rgb")],
                          suptitle=title)
