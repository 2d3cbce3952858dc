"""The gallery's settings: how much work each method does, and the attack budgets."""
from __future__ import annotations

import dataclasses

import numpy as np

DEFAULT_OUT = "minidl-gallery"
# Attack budgets tried, in pixel units (images in [0, 1]).
EPSILONS = {"linf": tuple(np.array([1, 2, 4, 8, 16, 32, 64]) / 255), "l2": (0.25, 0.5, 1, 2, 4)}


# ----------------------------------------------------------------------------- settings
@dataclasses.dataclass(frozen=True)
class Settings:
    """How much work each method does (with the defaults, the gallery of a small CNN takes
    about half a minute on two CPU cores); ``Settings.quick()`` shrinks everything for tests."""

    images: int = 3             # test images explained one by one (attributions, CAMs, attacks)
    samples: int = 500          # test images for embeddings and top patches
    attack_samples: int = 200   # test images for the accuracy-versus-epsilon curves
    channels: int = 4           # channels shown by top patches
    feature_channels: int = 8   # channels shown by feature visualization
    tsne_iters: int = 500
    noise_samples: int = 50     # SmoothGrad
    ig_steps: int = 32          # Integrated Gradients
    synthesis_steps: int = 200  # class models, feature visualization, feature inversion
    dream_steps: int = 10       # DeepDream, per octave
    style_steps: int = 400      # texture synthesis and style transfer
    attack_steps: int = 10      # PGD
    fooling_steps: int = 100

    @classmethod
    def quick(cls):
        """Tiny step counts: every method runs in well under a second (poor pictures)."""
        return cls(images=1, samples=24, attack_samples=8, channels=2, feature_channels=2,
                   tsne_iters=10, noise_samples=2, ig_steps=2, synthesis_steps=2, dream_steps=1,
                   style_steps=2, attack_steps=2, fooling_steps=2)
