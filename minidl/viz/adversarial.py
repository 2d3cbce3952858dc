"""Adversarial examples: FGSM, iterative FGSM / PGD under L-infinity and L2 threat models,
fooling images pushed to any chosen class, and accuracy-versus-epsilon curves.

Attacks take images (C, H, W) or a batch (N, C, H, W) as NumPy arrays with labels (an int
or an array of N) and return arrays of the same shape. The loss is the summed cross-entropy
of the model's logits, so every image's gradient is its own (no 1/N factor); its gradient
with respect to the pixels comes from ``minidl.grad``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

import minidl
import minidl.functional as F

from . import plot
from ._util import model_dtype

__all__ = ["Fooling", "accuracy_vs_epsilon", "fgsm", "fooling_image", "iterative_fgsm", "pgd",
           "plot_accuracy_vs_epsilon", "plot_adversarial", "plot_fooling", "project",
           "steepest_step"]

NORMS = ("linf", "l2")


# --------------------------------------------------------------------------- building blocks
def _batch(model, images, labels):
    """Images as a (N, C, H, W) array in the model's dtype, labels as int64 (N,), and
    whether a single image was given."""
    x = np.asarray(images).astype(model_dtype(model))
    single = x.ndim == 3
    x = x[None] if single else x
    y = np.broadcast_to(np.asarray(labels, dtype=np.int64).reshape(-1), (len(x),))
    return x, y, single


def _loss_gradient(model, x, labels):
    """d/dx of sum_n cross_entropy(model(x)_n, labels_n), an array like x."""
    x = minidl.tensor(x, requires_grad=True)
    loss = F.cross_entropy(model(x), labels, reduction="sum")
    return minidl.grad(loss, x)


def _probabilities(model, x):
    """The softmax of the model's logits for one image x (1, C, H, W), an array."""
    with minidl.no_grad():
        return model(minidl.tensor(x)).softmax(axis=1).numpy()[0]


def _norms(v, norm):
    """Per-sample norms of a batch v (N, ...), shaped (N, 1, ..., 1) for broadcasting."""
    flat = v.reshape(len(v), -1)
    values = np.abs(flat).max(axis=1) if norm == "linf" else np.sqrt((flat * flat).sum(axis=1))
    return values.reshape((len(v),) + (1,) * (v.ndim - 1))


def _check_norm(norm):
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def steepest_step(grad, step_size, norm="linf"):
    """The step of size ``step_size`` (in ``norm``) that increases a loss most to first order,
    per sample of the batch ``grad`` (N, ...):

        "linf": step_size * sign(g)           (every pixel moves by step_size)
        "l2":   step_size * g / ||g||_2       (L2 norm exactly step_size; 0 where g = 0)
    """
    _check_norm(norm)
    if norm == "linf":
        return step_size * np.sign(grad)
    length = _norms(grad, "l2")
    return step_size * grad / np.where(length > 0, length, 1)


def project(delta, epsilon, norm="linf"):
    """The closest perturbation to ``delta`` (per sample, N, ...) inside the ball of radius
    ``epsilon``: "linf" clips every entry to [-epsilon, epsilon]; "l2" rescales delta by
    min(1, epsilon / ||delta||_2)."""
    _check_norm(norm)
    if norm == "linf":
        return np.clip(delta, -epsilon, epsilon)
    length = _norms(delta, "l2")
    return delta * np.minimum(1, epsilon / np.where(length > 0, length, 1))


def _clip(x, value_range):
    return x if value_range is None else np.clip(x, *value_range)


def _random_start(shape, epsilon, norm, rng):
    """A perturbation drawn uniformly from the ball of radius epsilon (per sample)."""
    if norm == "linf":
        return rng.uniform(-epsilon, epsilon, shape)
    direction = rng.standard_normal(shape)
    direction /= _norms(direction, "l2")
    dims = np.prod(shape[1:])
    radius = epsilon * rng.random((shape[0],) + (1,) * (len(shape) - 1)) ** (1.0 / dims)
    return direction * radius


# --------------------------------------------------------------------------- attacks
def fgsm(model, images, labels, epsilon, targeted=False, value_range=None):
    """Fast gradient sign method (Goodfellow, Shlens & Szegedy, "Explaining and harnessing
    adversarial examples", 2015):

        x' = x + epsilon sign(d/dx L(x, y))      (targeted: x' = x - epsilon sign(d/dx L(x, t)))

    L the cross-entropy; then clipped to ``value_range`` (low, high) if given. For a linear
    model the logit difference moves by epsilon ||w||_1, so the decision flips exactly at
    epsilon = margin / ||w||_1.
    """
    x, y, single = _batch(model, images, labels)
    sign = -1 if targeted else 1
    adversarial = _clip(x + sign * epsilon * np.sign(_loss_gradient(model, x, y)), value_range)
    return adversarial[0] if single else adversarial


def pgd(model, images, labels, epsilon, step_size=None, steps=10, norm="linf",
        random_start=False, targeted=False, value_range=None, seed=0):
    """Projected gradient descent (Madry et al., "Towards deep learning models resistant to
    adversarial attacks", 2018), here ascent on the loss: from x_0 = x (+ a uniform random
    point of the ball if ``random_start``),

        x_{t+1} = clip(x + project(x_t + s_t - x, epsilon, norm)),
        s_t = steepest_step(+-d/dx L(x_t, y), step_size, norm)

    so every iterate stays in the ``norm`` ball of radius epsilon around x (and, with
    ``value_range``, in the valid pixel box: for x inside the box, clipping moves no point
    further from x). ``step_size`` defaults to 2.5 epsilon / steps (Madry et al.).
    ``targeted``: descend the loss of the target labels instead.
    """
    _check_norm(norm)
    x, y, single = _batch(model, images, labels)
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    sign = -1 if targeted else 1
    delta = np.zeros_like(x)
    if random_start:
        delta = _random_start(x.shape, epsilon, norm, np.random.default_rng(seed)).astype(x.dtype)
    adversarial = _clip(x + delta, value_range)
    for _ in range(steps):
        grad = sign * _loss_gradient(model, adversarial, y)
        delta = project(adversarial + steepest_step(grad, step_size, norm) - x, epsilon, norm)
        adversarial = _clip(x + delta, value_range)
    return adversarial[0] if single else adversarial


def iterative_fgsm(model, images, labels, epsilon, step_size=None, steps=10, targeted=False,
                   value_range=None):
    """Iterative FGSM (Kurakin, Goodfellow & Bengio, "Adversarial examples in the physical
    world", 2017): FGSM steps of ``step_size``, each followed by clipping into the
    L-infinity ball of radius epsilon; that is ``pgd`` with norm "linf" and no random start."""
    return pgd(model, images, labels, epsilon, step_size, steps, "linf", False, targeted,
               value_range)


class Fooling(NamedTuple):
    """The result of ``fooling_image``."""

    image: np.ndarray              # the fooling image (C, H, W)
    perturbation: np.ndarray       # image - original (C, H, W)
    target_probability: np.ndarray  # softmax probability of the target before each step
    steps: int                     # steps taken
    fooled: bool                   # whether the model predicts the target class
    l2: float                      # ||perturbation||_2
    linf: float                    # ||perturbation||_inf


def fooling_image(model, image, target_class, step_size=0.05, max_steps=200, norm="l2",
                  value_range=None):
    """Push any image to any chosen class (Szegedy et al., "Intriguing properties of neural
    networks", 2014; Nguyen et al. 2015): repeat

        x <- clip(x - steepest_step(d/dx L(x, target), step_size, norm))

    (an unbounded targeted attack, L the cross-entropy) until the model predicts the target
    or ``max_steps`` is reached. Returns a ``Fooling`` with the image, the perturbation and its
    L2 and L-infinity sizes, and the target's probability per step.
    """
    x, target, _ = _batch(model, image, target_class)
    original, target = x, target[0]
    p = _probabilities(model, x)
    history = [p[target]]
    while p.argmax() != target and len(history) <= max_steps:
        grad = _loss_gradient(model, x, [target])
        x = _clip(x - steepest_step(grad, step_size, norm), value_range)
        p = _probabilities(model, x)
        history.append(p[target])
    perturbation = (x - original)[0]
    return Fooling(x[0], perturbation, np.array(history), len(history) - 1,
                   bool(p.argmax() == target), float(np.sqrt((perturbation ** 2).sum())),
                   float(np.abs(perturbation).max()))


ATTACKS = {"fgsm": fgsm, "pgd": pgd, "iterative_fgsm": iterative_fgsm}


def accuracy_vs_epsilon(model, images, labels, epsilons, attack="fgsm", batch_size=100,
                        **attack_options):
    """The accuracy of ``model`` on adversarial versions of ``images`` (N, C, H, W) for each
    epsilon in ``epsilons`` (epsilon 0: the clean accuracy). ``attack`` is "fgsm", "pgd",
    "iterative_fgsm" or a function with ``fgsm``'s signature; ``attack_options`` go to it
    (norm, steps, value_range, ...). Returns an array of accuracies, one per epsilon."""
    attack = ATTACKS[attack] if isinstance(attack, str) else attack
    labels = np.asarray(labels)
    accuracies = []
    for epsilon in epsilons:
        correct = 0
        for start in range(0, len(images), batch_size):
            x, y = images[start:start + batch_size], labels[start:start + batch_size]
            adversarial = attack(model, x, y, epsilon, **attack_options)
            with minidl.no_grad():
                logits = model(minidl.tensor(adversarial)).numpy()
            correct += int((logits.argmax(axis=1) == y).sum())
        accuracies.append(correct / len(images))
    return np.array(accuracies)


# --------------------------------------------------------------------------- figures
def plot_adversarial(image, adversarial, titles=("original", "adversarial")):
    """The image, the perturbation (min-max scaled, its norms in the title) and the
    adversarial image; ``titles`` may carry the predictions."""
    delta = np.asarray(adversarial, dtype=np.float64) - np.asarray(image, dtype=np.float64)
    norms = f"perturbation\nL2 {np.sqrt((delta ** 2).sum()):.3g}, Linf {np.abs(delta).max():.3g}"
    return plot.images_with_curves([image, delta, adversarial], [titles[0], norms, titles[1]])


def plot_fooling(original, result, target_name="target"):
    """Original, perturbation and image of a ``Fooling`` result, and the probability of the
    target class per step."""
    return plot.images_with_curves(
        [original, result.perturbation, result.image],
        ["original", f"perturbation\nL2 {result.l2:.3g}, Linf {result.linf:.3g}",
         f"fooling image ({target_name})"],
        {f"p({target_name})": result.target_probability}, ylabel="probability")


def plot_accuracy_vs_epsilon(epsilons, curves, title=None):
    """Accuracy against epsilon for each attack ({name: accuracies}); returns the figure."""
    plt = plot.pyplot()
    fig, ax = plt.subplots(figsize=(3.6, 2.8))
    for name, accuracies in curves.items():
        ax.plot(epsilons, accuracies, marker="o", label=name)
    ax.set_xlabel("epsilon")
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
