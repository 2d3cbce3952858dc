"""Model size and cost: trainable parameters and multiply-adds of one forward pass.

Multiply-adds (MACs) are counted the way the usual tables count them: the products of the
convolution and fully connected layers, which dominate the cost; normalisation, pooling,
activations and bias additions are left out.
"""
from __future__ import annotations

import numpy as np

from .. import nn
from ..autograd import no_grad
from ..autograd.functions import zeros


def _weight_count(module):
    """Weights the layer really has: a ``weight_mask`` buffer (LeNet's C3) marks the
    entries that exist, the others being fixed at zero."""
    mask = getattr(module, "weight_mask", None)
    return module.weight.numel() if mask is None else int(mask.data.sum())


def count_parameters(model):
    """Trainable parameters, not counting weight entries a ``weight_mask`` fixes at zero."""
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    for module in model.modules():
        if getattr(module, "weight_mask", None) is not None:
            total -= module.weight.numel() - _weight_count(module)
    return total


def _macs(module, inputs, output):
    """Every weight is used once per output position (conv), per input position
    (transposed conv) or per row (linear)."""
    if isinstance(module, nn.Linear):
        positions = output.numel() // module.out_features
    elif isinstance(module, nn.ConvTranspose2d):
        x = inputs[0]
        positions = x.shape[0] * int(np.prod(x.shape[2:]))
    else:
        positions = output.shape[0] * int(np.prod(output.shape[2:]))
    return positions * _weight_count(module)


def complexity(model, input_shape):
    """(trainable parameters, multiply-adds) of ``model`` on one input of ``input_shape``
    (C, H, W), counted by forward hooks on the Conv and Linear layers in eval mode."""
    counted = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
    total = [0]

    def hook(module, inputs, output):
        total[0] += _macs(module, inputs, output)

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, counted)]
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        dtype = next(model.parameters()).dtype
        with no_grad():
            model(zeros(1, *input_shape, dtype=dtype))
    finally:
        for module, training in modes:
            module.training = training
        for handle in handles:
            handle.remove()
    return count_parameters(model), total[0]
