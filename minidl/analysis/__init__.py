"""Analyses of trained networks, run on minidl's own models and gradients.

``common`` holds what they share (datasets as arrays, a layer's inputs or outputs by forward
hooks, a plain training loop, k-means); ``figures`` writes their PNG figures and JSON numbers.
"""
from . import common, figures

__all__ = ["common", "figures"]
