"""One method on one image: the ``fig_*`` functions behind ``minidl viz`` and the gallery's
per-image sections (``ONE_IMAGE``), and ``explain``."""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from minidl import viz
from minidl.viz.attribution import predict_logits, target_class

from .settings import EPSILONS


# ----------------------------------------------------------------------------- one image
# Each fig_* function takes the subject, an image (C, H, W) with pixels in [0, 1], the target
# class (None: the predicted one) and a layer name (None for methods that read no layer), and
# returns the method's figure.
def retitle(figure, title):
    """The figure with ``title`` above its panels (the layout redone to make room)."""
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure


def _target(subject, image, target):
    return target_class(subject.net, image, target)


def fig_occlusion(s, image, target, layer):
    patch = max(2, image.shape[-1] // 4)
    sensitivity = viz.occlusion(s.net, image, target, patch=patch, stride=max(1, patch // 4),
                                baseline=s.mean)
    return viz.plot_occlusion(image, sensitivity)


def fig_saliency(s, image, target, layer):
    return viz.plot_saliency(image, *viz.saliency(s.net, image, target))


def fig_gradient_x_input(s, image, target, layer):
    return viz.plot_gradient_x_input(image, viz.gradient_x_input(s.net, image, target))


def fig_smoothgrad(s, image, target, layer):
    gradient = viz.smoothgrad(s.net, image, target, samples=s.settings.noise_samples)
    return viz.plot_smoothgrad(image, gradient)


def fig_integrated_gradients(s, image, target, layer):
    target = _target(s, image, target)
    attributions, gap = viz.integrated_gradients(s.net, image, target, steps=s.settings.ig_steps)
    scores = predict_logits(s.net, np.stack([image, 0 * image]))[:, target]
    return retitle(viz.plot_integrated_gradients(image, attributions),
                   f"Integrated Gradients: sum {attributions.sum():.3g}, y(x) - y(black) = "
                   f"{scores[0] - scores[1]:.3g}, gap {gap:.2g}")


def fig_deconvnet(s, image, target, layer):
    return viz.plot_deconvnet(image, viz.deconvnet(s.net, image, target))


def fig_guided_backprop(s, image, target, layer):
    return viz.plot_guided_backprop(image, viz.guided_backprop(s.net, image, target))


def fig_grad_cam(s, image, target, layer):
    return viz.plot_grad_cam(image, viz.grad_cam(s.net, image, s.layer(layer), target))


def fig_guided_grad_cam(s, image, target, layer):
    return viz.plot_guided_grad_cam(image, viz.guided_grad_cam(s.net, image, s.layer(layer), target))


def fig_grad_cam_plus_plus(s, image, target, layer):
    cam = viz.grad_cam_plus_plus(s.net, image, s.layer(layer), target)
    return viz.plot_grad_cam_plus_plus(image, cam)


def fig_hires_cam(s, image, target, layer):
    return viz.plot_hires_cam(image, viz.hires_cam(s.net, image, s.layer(layer), target))


def fig_score_cam(s, image, target, layer):
    return viz.plot_score_cam(image, viz.score_cam(s.net, image, s.layer(layer), target))


def fig_activations(s, image, target, layer):
    maps = viz.activation_maps(s.net, s.layer(layer), image)
    return viz.plot_activation_maps(maps, limit=32, title=f"layer {layer}: {maps.shape[0]} maps "
                                    f"of {maps.shape[1]}x{maps.shape[2]}")


def fig_deep_dream(s, image, target, layer):
    """Three octaves (scale 1.4) if the network takes the smaller images, else one octave with
    as many steps in all."""
    smallest = image.shape[:1] + tuple(round(n / 1.4 ** 2) for n in image.shape[1:])
    octaves = 3 if _accepts(s.net, smallest) else 1
    dreamt, history = viz.deep_dream(s.net, image, s.layer(layer), lr=0.03, octaves=octaves,
                                     steps=s.settings.dream_steps * 3 // octaves)
    return retitle(viz.plot_deep_dream(image, dreamt, history),
                   f"DeepDream at layer {layer}, {octaves} octave{'s' * (octaves > 1)}")


def _accepts(net, shape):
    """Whether the network runs on an image of ``shape`` (C, H, W)."""
    try:
        predict_logits(net, np.zeros(shape, np.float32))
    except (ValueError, RuntimeError):
        return False
    return True


def fig_inversion(s, image, target, layer):
    reconstruction, history = viz.invert_features(s.net, s.layer(layer), image, tv_weight=0.1,
                                                  steps=s.settings.synthesis_steps)
    return retitle(viz.plot_inversion(image, np.clip(reconstruction, 0, 1), history),
                   f"reconstructed from layer {layer}")


def _smallest_attack(s, image, label, attack, norm):
    """(epsilon, adversarial image) for the smallest budget of ``EPSILONS[norm]`` with which
    ``attack(epsilon)`` changes the prediction (the largest if none does)."""
    for epsilon in EPSILONS[norm]:
        adversarial = attack(epsilon)
        if s.probabilities(adversarial[None])[0].argmax() != label:
            break
    return epsilon, adversarial


def _attack_figure(s, image, label, name, norm, attack):
    epsilon, adversarial = _smallest_attack(s, image, label, attack, norm)
    figure = viz.plot_adversarial(image, adversarial, (s.describe(image), s.describe(adversarial)))
    return retitle(figure, f"{name}: {'L-inf' if norm == 'linf' else 'L2'} epsilon {epsilon:.3g}\n"
                           f"(the smallest tried that changes the prediction)")


def fig_fgsm(s, image, target, layer):
    label = _target(s, image, target)
    return _attack_figure(s, image, label, "FGSM", "linf", lambda epsilon: viz.fgsm(
        s.net, image, label, epsilon, value_range=(0, 1)))


def fig_pgd_linf(s, image, target, layer):
    label, steps = _target(s, image, target), s.settings.attack_steps
    return _attack_figure(s, image, label, f"PGD, {steps} steps", "linf", lambda epsilon: viz.pgd(
        s.net, image, label, epsilon, steps=steps, value_range=(0, 1)))


def fig_pgd_l2(s, image, target, layer):
    label, steps = _target(s, image, target), s.settings.attack_steps
    return _attack_figure(s, image, label, f"PGD, {steps} steps", "l2", lambda epsilon: viz.pgd(
        s.net, image, label, epsilon, steps=steps, norm="l2", value_range=(0, 1)))


def fig_fooling(s, image, target, layer):
    goal = (_target(s, image, None) + 1) % len(s.classes) if target is None else int(target)
    result = viz.fooling_image(s.net, image, goal, step_size=0.1, max_steps=s.settings.fooling_steps,
                               value_range=(0, 1))
    outcome = "reached" if result.fooled else "not reached"
    return retitle(viz.plot_fooling(image, result, s.classes[goal]),
                   f"Fooling: {s.describe(image)} pushed to {s.classes[goal]}, {outcome} in "
                   f"{result.steps} steps of L2 size 0.1")


class OneImage(NamedTuple):
    """A method that explains one image: its figure function ``figure(subject, image, target,
    layer)`` and which of the ``Layers`` it reads by default (None: no layer)."""

    figure: Callable
    layer: str | None = None


ONE_IMAGE = {
    "occlusion": OneImage(fig_occlusion),
    "saliency": OneImage(fig_saliency),
    "gradient-x-input": OneImage(fig_gradient_x_input),
    "smoothgrad": OneImage(fig_smoothgrad),
    "integrated-gradients": OneImage(fig_integrated_gradients),
    "deconvnet": OneImage(fig_deconvnet),
    "guided-backprop": OneImage(fig_guided_backprop),
    "gradcam": OneImage(fig_grad_cam, "cam"),
    "guided-gradcam": OneImage(fig_guided_grad_cam, "cam"),
    "gradcam++": OneImage(fig_grad_cam_plus_plus, "cam"),
    "hirescam": OneImage(fig_hires_cam, "cam"),
    "scorecam": OneImage(fig_score_cam, "cam"),
    "activations": OneImage(fig_activations, "cam"),
    "deepdream": OneImage(fig_deep_dream, "middle"),
    "inversion": OneImage(fig_inversion, "middle"),
    "fgsm": OneImage(fig_fgsm),
    "pgd-linf": OneImage(fig_pgd_linf),
    "pgd-l2": OneImage(fig_pgd_l2),
    "fooling": OneImage(fig_fooling),
}


def default_layer(subject, kind):
    """The layer name a method reads by default: "cam" the last stage, "middle" the middle one."""
    stages = subject.layers.stages
    return {None: None, "cam": subject.layers.cam, "middle": stages[len(stages) // 2]}[kind]


def explain(subject, method, image, target=None, layer=None):
    """The figure of one ``ONE_IMAGE`` method for one image (C, H, W) in [0, 1]; ``layer``
    (a name in the user's model) replaces the method's default layer."""
    if method not in ONE_IMAGE:
        raise ValueError(f"unknown method {method!r}; expected one of: {', '.join(ONE_IMAGE)}")
    if target is not None and not 0 <= target < len(subject.classes):
        raise ValueError(f"target {target} is not a class index 0..{len(subject.classes) - 1}")
    entry = ONE_IMAGE[method]
    if layer is not None and entry.layer is None:
        raise ValueError(f"{method} reads no layer; leave --layer out")
    layer = default_layer(subject, entry.layer) if layer is None else layer
    if layer is not None:
        try:
            subject.layer(layer)
        except KeyError as error:
            raise ValueError(error.args[0]) from None
    return entry.figure(subject, np.asarray(image, np.float32), target, layer)
