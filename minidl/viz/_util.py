"""Helpers shared by the visualization methods: finding layers, preparing inputs,
reading a layer's output through a forward hook."""
from __future__ import annotations

import contextlib

import numpy as np

import minidl


def get_module(model, layer):
    """``layer`` as a module: a module passes, a dotted name ("features.3") is looked up."""
    if isinstance(layer, minidl.nn.Module):
        return layer
    modules = dict(model.named_modules())
    if layer not in modules:
        known = ", ".join(name for name in modules if name)
        raise KeyError(f"no layer named {layer!r}; the model has: {known}")
    return modules[layer]


def model_dtype(model):
    """The floating dtype of the model's parameters (float32 if it has none)."""
    for p in model.parameters():
        return p.dtype
    return np.dtype(np.float32)


def as_batch(model, image, requires_grad=False):
    """A (1, C, H, W) tensor in the model's dtype from a (C, H, W) array or tensor."""
    array = image.numpy() if isinstance(image, minidl.Tensor) else np.asarray(image)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4:
        raise ValueError(f"expected an image of shape (C, H, W) or (1, C, H, W), got {array.shape}")
    return minidl.tensor(array.astype(model_dtype(model)), requires_grad=requires_grad)


@contextlib.contextmanager
def capture(module):
    """Record the output of ``module`` during the forward passes inside the block::

        with capture(model.layer4) as seen:
            model(x)
        features = seen[-1]          # the tensor (still in the graph)
    """
    seen = []
    handle = module.register_forward_hook(lambda m, inputs, output: seen.append(output))
    try:
        yield seen
    finally:
        handle.remove()
