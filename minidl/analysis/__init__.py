"""Analyses of trained networks, run on minidl's own models and gradients:

* ``circuits``: the lab's procedure for one channel (its filter slices, input channels ranked
  by weight and by contribution, their feature visualizations and dataset examples), expanded
  weights, the SVD of |W| between layers; with ``branches`` (branch specialization) and
  ``equivariance`` (units that are transformed copies of each other);
* ``convergent``: convergent learning of two nets from different seeds (Li et al. 2016);
* ``collapse``: neural collapse into the terminal phase of training (Papyan et al. 2020);
* ``filters``: first-layer filter quality, AlexNet's against ZFNet's first layer;
* ``diverse``: multifaceted, diverse and center-biased feature visualization.

Each module has pure functions returning arrays and dataclasses, and ``run(model_or_models,
dataset, out_dir, quick=False, **options)``, which writes PNG figures and a JSON file of its
numbers into ``out_dir`` and returns the numbers. ``runner.run_method(name, out_dir, ...)``
trains what a method needs on Shapes or MNIST and runs it.
``common`` holds what they share; ``figures`` writes the files.
"""
from . import (branches, circuits, collapse, common, convergent, diverse, equivariance, figures,
               filters)
from .runner import METHODS, run_method

__all__ = ["METHODS", "branches", "circuits", "collapse", "common", "convergent", "diverse",
           "equivariance", "figures", "filters", "run_method"]
