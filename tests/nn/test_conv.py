"""The convolution layers run in float32 and float64.
"""
from __future__ import annotations

import numpy as np
import pytest
import minidl
import minidl.nn as nn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_run_in_float32_and_float64(dtype):
    x = minidl.tensor(np.random.default_rng(0).standard_normal((2, 4, 9, 9)).astype(dtype),
                      requires_grad=True)
    layers = [nn.Conv2d(4, 6, 3, stride=2, padding=1).to(dtype=dtype),
              nn.Conv2d(4, 8, 3, padding="same", groups=4).to(dtype=dtype),
              nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1).to(dtype=dtype)]
    shapes = [(2, 6, 5, 5), (2, 8, 9, 9), (2, 2, 18, 18)]
    for layer, shape in zip(layers, shapes):
        y = layer(x)
        assert y.shape == shape and y.dtype == dtype
        y.sum().backward()
        assert layer.weight.grad.dtype == dtype and x.grad.dtype == dtype
    seq = minidl.tensor(np.ones((1, 3, 10), dtype))
    assert nn.Conv1d(3, 5, 3, padding="causal", dilation=2).to(dtype=dtype)(seq).shape == (1, 5, 10)
