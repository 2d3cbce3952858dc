"""Branch specialization (Voss, Cammarata, Goh, Petrov, Schubert, Egan, Lim and Olah, "Branch
specialization", Distill 2021): in networks whose layers split into parallel branches, such
as the Inception modules of GoogLeNet, features of one kind tend to gather in one branch.

Two kinds of feature are measured here by a proxy on data, per unit u of each branch (the
unit's response r = its mean activation over images and positions):

* colour selectivity (r(x) - r(grey(x))) / (r(x) + r(grey(x))), grey(x) the luminance of x
  in all three channels: > 0 for a unit that answers colour more than its grey version;
* frequency preference (r(high(x)) - r(low(x))) / (r(high(x)) + r(low(x))), low(x) a
  Gaussian blur of x and high(x) = x - low(x) + the image's mean: > 0 for a unit that answers
  fine detail more than coarse structure.

The concentration of a kind: with mass share p_b = sum over branch b's units of
max(score, 0) / the same over all units, and size share q_b = n_b / n, the total variation
distance 1/2 sum_b |p_b - q_b|: 0 when the kind is spread as the units are, up to 1 - q_b
when it sits entirely in branch b. Its chance level comes from assigning the units to
branches at random (the same branch sizes), many times.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from minidl import viz

from . import figures
from .common import layer_io

__all__ = ["BranchSpecialization", "branch_responses", "branch_specialization", "concentration",
           "frequency_split", "grey_images", "permutation_baseline", "plot_branches",
           "selectivity"]

LUMINANCE = np.array([0.299, 0.587, 0.114])  # ITU-R BT.601 weights of R, G, B


def grey_images(images):
    """RGB images (N, 3, H, W) turned to their luminance, repeated in all three channels."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected RGB images (N, 3, H, W), got {images.shape}")
    grey = np.tensordot(LUMINANCE, images, axes=([0], [1]))[:, None]
    return np.repeat(grey, 3, axis=1).astype(images.dtype)


def frequency_split(images, sigma=1.0):
    """(low, high): ``gaussian_blur(images, sigma)`` and images - low + each image-channel's
    mean, so both stay in the images' range of values."""
    images = np.asarray(images)
    low = viz.gaussian_blur(images, sigma)
    high = images - low + images.mean(axis=(2, 3), keepdims=True)
    return low, high


def selectivity(a, b):
    """(a - b) / (a + b) for non-negative responses a, b (0 where both are 0)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    total = a + b
    return np.divide(a - b, total, out=np.zeros_like(total), where=total > 0)


def concentration(scores, branch_of):
    """(total variation distance, mass shares p_b, size shares q_b) of non-negative parts of
    ``scores`` (n,) over the branches ``branch_of`` (n,) (integer labels 0..B-1); see the
    module's docstring. The distance is NaN when no score is positive."""
    mass = np.clip(np.asarray(scores, dtype=np.float64), 0, None)
    branch_of = np.asarray(branch_of)
    count = branch_of.max() + 1
    sizes = np.bincount(branch_of, minlength=count) / len(branch_of)
    if mass.sum() == 0:
        return float("nan"), np.zeros(count), sizes
    shares = np.bincount(branch_of, weights=mass, minlength=count) / mass.sum()
    return float(0.5 * np.abs(shares - sizes).sum()), shares, sizes


def permutation_baseline(scores, branch_of, draws=500, seed=0):
    """(mean distance, p-value) of ``concentration`` when the units are assigned to branches
    at random: the mean over ``draws`` shuffles of ``branch_of``, and the fraction of shuffles
    at least as concentrated as the real assignment (both NaN when no score is positive)."""
    rng = np.random.default_rng(seed)
    observed = concentration(scores, branch_of)[0]
    if np.isnan(observed):
        return float("nan"), float("nan")
    shuffled = np.array([concentration(scores, rng.permutation(branch_of))[0]
                         for _ in range(draws)])
    return float(shuffled.mean()), float((shuffled >= observed - 1e-12).mean())


def branch_responses(model, branches, images):
    """Each unit's response (mean over positions) for ``images``, per branch: a list of
    (N, units) arrays, one per module in ``branches`` (names or modules)."""
    return [output.mean(axis=(2, 3)) for output in layer_io(model, list(branches), images)]


@dataclasses.dataclass
class BranchSpecialization:
    """The measured proxies of one module's branches: per unit (all branches' units in
    order, ``branch_of`` saying whose), colour selectivity (None for grey inputs) and
    frequency preference; per kind, ``concentration``'s distance, shares and its chance
    level (mean distance and p-value under random assignment)."""
    module: str
    branches: list
    branch_of: np.ndarray
    colour: np.ndarray | None
    frequency: np.ndarray
    kinds: dict


def _mean_responses(model, branches, images):
    """(every unit's mean response over ``images`` (units,), the branch of each unit)."""
    parts = branch_responses(model, branches, images)
    branch_of = np.concatenate([np.full(part.shape[1], k) for k, part in enumerate(parts)])
    return np.concatenate(parts, axis=1).mean(axis=0), branch_of


def _kind_numbers(scores, branch_of, draws, seed):
    distance, shares, sizes = concentration(scores, branch_of)
    chance, p_value = permutation_baseline(scores, branch_of, draws, seed)
    return {"concentration": distance, "shares": shares, "size_shares": sizes,
            "chance": chance, "p_value": p_value}


def branch_specialization(model, module, images, branches=None, sigma=1.0, draws=500, seed=0):
    """``BranchSpecialization`` of ``module`` (name) whose parallel ``branches`` (names;
    default its children, as in ``minidl.models.googlenet.Inception``) are concatenated.
    RGB ``images`` also give the colour selectivity."""
    if branches is None:
        branches = [f"{module}.{name}" for name, _ in viz.get_module(model, module).named_children()]
    images = np.asarray(images)
    low, high = frequency_split(images, sigma)
    base, branch_of = _mean_responses(model, branches, images)
    frequency = selectivity(_mean_responses(model, branches, high)[0],
                            _mean_responses(model, branches, low)[0])
    colour = None
    if images.shape[1] == 3:
        colour = selectivity(base, _mean_responses(model, branches, grey_images(images))[0])
    kinds = {"high frequency": _kind_numbers(frequency, branch_of, draws, seed),
             "low frequency": _kind_numbers(-frequency, branch_of, draws, seed)}
    if colour is not None:
        kinds = {"colour": _kind_numbers(colour, branch_of, draws, seed), **kinds}
    return BranchSpecialization(str(module), list(branches), branch_of, colour, frequency, kinds)


def specialization_numbers(result):
    """The JSON numbers of a ``BranchSpecialization``."""
    units = {name: int((result.branch_of == k).sum()) for k, name in enumerate(result.branches)}
    means = {}
    for k, name in enumerate(result.branches):
        mine = result.branch_of == k
        means[name] = {"frequency": float(result.frequency[mine].mean()),
                       **({} if result.colour is None
                          else {"colour": float(result.colour[mine].mean())})}
    return {"units": units, "mean_scores": means, "kinds": result.kinds}


def plot_branches(results):
    """Per module: each unit's scores by branch (dots), and each kind's share per branch
    against the branch's share of units (bars)."""
    fig, axes = figures.subplots(len(results), 2, size=(3.6, 2.8))
    for row, result in zip(axes, results):
        short = [name.rsplit(".", 1)[-1] for name in result.branches]
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(result.branch_of))
        for offset, (label, scores) in enumerate((("colour", result.colour),
                                                  ("frequency", result.frequency))):
            if scores is not None:
                row[0].scatter(result.branch_of + jitter + 0.3 * offset - 0.15, scores, s=6,
                               label=label)
        row[0].axhline(0, color="grey", linewidth=0.6)
        row[0].set_xticks(range(len(short)))
        row[0].set_xticklabels(short, fontsize=7)
        row[0].set_title(f"{result.module}: colour / frequency score per unit", fontsize=8)
        row[0].legend(fontsize=6)
        width = 0.8 / (len(result.kinds) + 1)
        sizes = next(iter(result.kinds.values()))["size_shares"]
        row[1].bar(np.arange(len(short)), sizes, width, color="lightgrey", label="units")
        for k, (kind, info) in enumerate(result.kinds.items()):
            row[1].bar(np.arange(len(short)) + (k + 1) * width, info["shares"], width,
                       label=f"{kind} (TV {info['concentration']:.2f}, chance {info['chance']:.2f})")
        row[1].set_xticks(np.arange(len(short)) + width * len(result.kinds) / 2)
        row[1].set_xticklabels(short, fontsize=7)
        row[1].set_title(f"{result.module}: share of each kind per branch", fontsize=8)
        row[1].legend(fontsize=5)
    fig.tight_layout()
    return fig
