"""Texture synthesis and neural style transfer (Gatys, Ecker & Bethge), by gradient descent on
the pixels of an image, matching Gram matrices of a trained network's activations.

Normalisation used throughout: ``gram_matrix`` divides by C*H*W by default, and then the
style loss of one layer, ``style_loss`` = 1/4 ||G - A||_F^2, is exactly the layer loss E_l of
Gatys et al. (2015), 1/(4 N_l^2 M_l^2) sum (G_raw - A_raw)^2 with N_l = C and M_l = H*W.
"""
from __future__ import annotations

import numpy as np

import minidl

from . import plot
from ._util import as_batch, model_dtype
from .synthesis import layer_activations, optimize_image

__all__ = ["content_loss", "gram_matrix", "plot_style_transfer", "plot_texture", "style_loss",
           "style_transfer", "texture_synthesis"]


def gram_matrix(features, normalize="chw"):
    """Gram matrices of activations (N, C, H, W) (or (C, H, W)), a tensor (N, C, C) (or (C, C)):

        G[c, d] = sum over positions p of F[c, p] F[d, p] / Z,   F = features reshaped (C, H*W)

    with Z = C*H*W (``normalize="chw"``, the default; Johnson et al. 2016), Z = H*W
    (``"hw"``: the mean over positions of the outer products F_p F_p^T) or Z = 1 (``None``, the
    raw Gram matrix of Gatys et al.). G sums over positions, so it forgets where features
    are: permuting the positions leaves it unchanged.
    """
    features = features if isinstance(features, minidl.Tensor) else minidl.tensor(features)
    batched = features if features.ndim == 4 else features.unsqueeze(0)
    n, c, h, w = batched.shape
    flat = batched.reshape(n, c, h * w)
    divisor = {"chw": c * h * w, "hw": h * w, None: 1}[normalize]
    gram = flat @ flat.transpose(0, 2, 1) / divisor
    return gram if features.ndim == 4 else gram.squeeze(0)


def style_loss(features, target_gram):
    """E_l = 1/4 ||G(features) - A||_F^2, G with the default C*H*W normalisation and A the
    target's Gram matrix (same normalisation), summed over the batch; a scalar tensor. Equals
    Gatys et al.'s 1/(4 N^2 M^2) sum (G_raw - A_raw)^2 (N channels, M positions)."""
    difference = gram_matrix(features) - target_gram
    return 0.25 * (difference * difference).sum()


def content_loss(features, target_features):
    """1/2 ||F - P||^2 between the activations of the image and of the content image at one
    layer (Gatys, Ecker & Bethge 2016, eq. 1); a scalar tensor."""
    difference = features - target_features
    return 0.5 * (difference * difference).sum()


def _target_grams(model, layers, image):
    with minidl.no_grad():
        return [gram_matrix(a) for a in layer_activations(model, layers, as_batch(model, image))]


def _weighted_style_loss(model, layers, weights, grams, x):
    """sum_l w_l E_l at the image x (the activations of all layers from one forward pass)."""
    activations = layer_activations(model, layers, x)
    return sum(w * style_loss(a, g) for w, a, g in zip(weights, activations, grams))


def _noise(model, shape, seed, mean=0.5, std=0.1):
    rng = np.random.default_rng(seed)
    return (mean + std * rng.standard_normal((1,) + tuple(shape))).astype(model_dtype(model))


def texture_synthesis(model, texture, layers, layer_weights=None, shape=None, steps=300, lr=0.02,
                      seed=0):
    """Texture synthesis (Gatys, Ecker & Bethge, "Texture synthesis using convolutional neural
    networks", 2015): from noise (0.5 + 0.1 N(0, 1), of ``shape``, by default the texture's),
    minimise by Adam on the pixels

        L(x) = sum over l in layers of w_l E_l(x),   E_l = 1/4 ||G_l(x) - G_l(texture)||_F^2

    (``style_loss``; w_l = 1 by default). Returns the image (C, H, W) and L before each step.
    """
    texture = np.asarray(texture)
    weights = [1.0] * len(layers) if layer_weights is None else list(layer_weights)
    grams = _target_grams(model, layers, texture)
    start = _noise(model, texture.shape if shape is None else shape, seed)
    image, history = optimize_image(
        lambda x: _weighted_style_loss(model, layers, weights, grams, x), start, steps, lr, "adam")
    return image[0], history


def style_transfer(model, content, style, content_layer, style_layers, content_weight=1.0,
                   style_weight=1e4, style_layer_weights=None, init="content", steps=300, lr=0.02,
                   seed=0):
    """Neural style transfer (Gatys, Ecker & Bethge, "Image style transfer using convolutional
    neural networks", 2016): minimise by Adam on the pixels

        L(x) = content_weight * 1/2 ||F(x) - F(content)||^2                 (at content_layer)
             + style_weight * sum_l w_l E_l(x; style)                       (at style_layers)

    starting from the content image (``init="content"``) or from noise (``"noise"``:
    0.5 + 0.1 N(0, 1)). With style_weight = 0 and the content start, the gradient is 0 and the
    content image is returned unchanged. Returns the image (C, H, W) and the history
    {"content", "style", "total"} of the weighted terms before each step.
    """
    if init not in ("content", "noise"):
        raise ValueError(f"init must be 'content' or 'noise', got {init!r}")
    weights = [1.0] * len(style_layers) if style_layer_weights is None else list(style_layer_weights)
    grams = _target_grams(model, style_layers, style)
    with minidl.no_grad():
        target = layer_activations(model, [content_layer], as_batch(model, content))[0]
    start = as_batch(model, content).numpy() if init == "content" else _noise(
        model, np.shape(content), seed)
    terms = {"content": [], "style": []}

    def loss(x):
        activations = layer_activations(model, [content_layer] + list(style_layers), x)
        content_term = content_weight * content_loss(activations[0], target)
        style_term = style_weight * sum(
            w * style_loss(a, g) for w, a, g in zip(weights, activations[1:], grams))
        terms["content"].append(float(content_term))
        terms["style"].append(float(style_term))
        return content_term + style_term

    image, total = optimize_image(loss, start, steps, lr, "adam")
    history = {name: np.array(values) for name, values in terms.items()}
    history["total"] = total
    return image[0], history


def plot_texture(texture, synthesized, history=None):
    """The texture, the synthesised image and the style loss per step if given."""
    curves = None if history is None else {"style loss": history}
    return plot.images_with_curves([texture, synthesized], ["texture", "synthesised"], curves,
                                   logy=True)


def plot_style_transfer(content, style, result, history=None):
    """Content, style and result images, and the loss terms per step if given."""
    return plot.images_with_curves([content, style, result], ["content", "style", "result"],
                                   history, logy=True)
