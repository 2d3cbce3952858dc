"""Equivariance (Olah, Cammarata, Voss, Schubert and Goh, "Naturally occurring equivariance in
neural networks", Distill 2020): many features come in families that are transformed copies
of each other, such as curve detectors at several orientations or colour-contrast units at
several hues.

A transformation T of the input (here a rotation by a multiple of 90 degrees, or a hue shift
that cycles the colour channels R -> G -> B) maps a unit i onto a unit j when j's response to
T(x) is i's response to x, transformed like the input: a_j(T x) = T_map(a_i(x)), where T_map
rotates the maps for a rotation and leaves them alone for a hue shift. For each pair the
match is the correlation over images and positions of T_map(a_i(x)) and a_j(T x), and each
unit's partner is its most correlated unit. A convolution whose filters are exact rotated
copies, w_j = rot90(w_i), maps i onto j with correlation 1 (for odd kernels and 'same'
padding, correlating rot90(x) with rot90(w) gives rot90 of x correlated with w).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from minidl import viz

from . import figures
from .common import layer_io
from .convergent import correlations, unit_samples

__all__ = ["Equivariance", "equivariance", "orbit", "plot_equivariance", "transform_images",
           "transform_maps"]

KINDS = ("rotate", "hue")


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def transform_images(images, kind, step=1):
    """T^step of images (N, C, H, W): rotation by step x 90 degrees counter-clockwise, or the
    hue shift that moves channel c to c + step (mod C)."""
    _check_kind(kind)
    images = np.asarray(images)
    if kind == "rotate":
        return np.ascontiguousarray(np.rot90(images, step, axes=(-2, -1)))
    return np.roll(images, step, axis=1)


def transform_maps(maps, kind, step=1):
    """What T^step does to a layer's maps (N, C, H, W): the same rotation, or nothing for a
    hue shift (it moves no pixel)."""
    _check_kind(kind)
    maps = np.asarray(maps)
    return np.ascontiguousarray(np.rot90(maps, step, axes=(-2, -1))) if kind == "rotate" else maps


@dataclasses.dataclass
class Equivariance:
    """The unit-to-unit map of one layer under a transformation: ``correlation`` (C, C),
    entry (i, j) the correlation of T_map(a_i(x)) with a_j(T x); ``partner`` of each unit (its
    most correlated unit) and ``strength`` (that correlation)."""
    layer: str
    kind: str
    step: int
    correlation: np.ndarray
    partner: np.ndarray
    strength: np.ndarray


def equivariance(model, layer, images, kind="rotate", step=1, max_samples=200_000, seed=0):
    """``Equivariance`` of ``layer``'s units on ``images`` (N, C, H, W; square for rotations)
    under T^step of ``kind``."""
    _check_kind(kind)
    images = np.asarray(images)
    if kind == "rotate" and images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rotations need square images, got {images.shape[-2:]}")
    before = layer_io(model, layer, images)
    after = layer_io(model, layer, transform_images(images, kind, step))
    if before.ndim != 4:
        raise ValueError(f"layer {layer!r} gives outputs of shape {before.shape}; equivariance "
                         "needs maps (N, C, H, W)")
    expected = transform_maps(before, kind, step)
    corr = correlations(unit_samples(expected, max_samples, seed),
                        unit_samples(after, max_samples, seed)).between
    partner = corr.argmax(axis=1)
    return Equivariance(str(layer), kind, int(step), corr, partner,
                        corr[np.arange(len(corr)), partner])


def orbit(result, unit, length=4):
    """The units unit, partner(unit), partner(partner(unit)), ... (``length`` of them, fewer
    if the chain comes back to a unit already seen)."""
    chain = [int(unit)]
    while len(chain) < length and int(result.partner[chain[-1]]) not in chain:
        chain.append(int(result.partner[chain[-1]]))
    return chain


def equivariance_numbers(result, threshold=0.5):
    """The JSON numbers: how many units map onto another unit (partner != itself) or onto
    themselves (invariant) with correlation above ``threshold``, and the strongest pairs."""
    others = (result.partner != np.arange(len(result.partner))) & (result.strength > threshold)
    selves = (result.partner == np.arange(len(result.partner))) & (result.strength > threshold)
    order = np.argsort(-np.where(others, result.strength, -np.inf))[:int(others.sum())]
    return {"kind": result.kind, "step": result.step, "units": len(result.partner),
            "mapped_to_other_unit": int(others.sum()), "mapped_to_itself": int(selves.sum()),
            "threshold": threshold,
            "pairs": [{"unit": int(i), "partner": int(result.partner[i]),
                       "correlation": float(result.strength[i])} for i in order]}


def _visualize(model, layer, channel, shape, steps):
    """A feature visualization of one channel, from grey, with jitter and blur."""
    return viz.feature_visualization(model, viz.get_module(model, layer), int(channel), shape,
                                     steps=steps, init=0.5, init_std=0.1, jitter=2,
                                     blur_every=4, l2=1e-3)[0]


def plot_equivariance(model, result, shape, units=3, steps=100):
    """Left: the correlation matrix; right: for the ``units`` units with the strongest
    partner other than themselves, the feature visualizations along their orbit (unit,
    partner, partner's partner, ...), with T applied to the first for comparison."""
    numbers = equivariance_numbers(result, threshold=-1.0)
    starts = [pair["unit"] for pair in numbers["pairs"][:units]]
    chains = [orbit(result, unit) for unit in starts]
    columns = 1 + max([len(chain) for chain in chains], default=0)
    fig, axes = figures.subplots(max(1, len(chains)), columns + 1, size=(1.6, 1.7))
    for row in axes:
        for ax in row:
            ax.axis("off")
    axes[0, 0].axis("on")
    figures.heatmap(axes[0, 0], result.correlation, f"{result.layer}: corr(T a_i, a_j(T x))",
                    cmap="RdBu_r", vmin=-1, vmax=1, colorbar=False)
    for r, chain in enumerate(chains):
        images = [_visualize(model, result.layer, unit, shape, steps) for unit in chain]
        transformed = transform_images(images[0][None], result.kind, result.step)[0]
        tiles = [(transformed, f"T(unit {chain[0]})")] + [
            (image, f"unit {unit}" + ("" if k == 0 else f" r={result.strength[chain[k - 1]]:.2f}"))
            for k, (unit, image) in enumerate(zip(chain, images))]
        for c, (image, title) in enumerate(tiles):
            axes[r, c + 1].axis("on")
            viz.plot.show(axes[r, c + 1], image, title)
    fig.suptitle(f"{result.kind} by {result.step}: units and their transformed copies", fontsize=9)
    fig.tight_layout()
    return fig
