"""conv2d, conv1d and conv_transpose2d beyond the op-table battery: causal convolution never
sees the future, only the needed gradients are computed, and bad configurations name
the problem.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
import minidl
import minidl.functional as F
import minidl.nn as nn


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(5, 12))
def test_causal_conv1d_never_sees_the_future(channels, kernel, dilation, length):
    """Output t depends on inputs <= t only, and the length is kept (WaveNet)."""
    rng = np.random.default_rng(9)
    w = minidl.tensor(rng.standard_normal((2, channels, kernel)))
    x = minidl.tensor(rng.standard_normal((1, channels, length)), requires_grad=True)
    y = F.conv1d(x, w, None, padding="causal", dilation=dilation)
    assert y.shape == (1, 2, length)
    for t in range(length):
        x.grad = None
        y[0, :, t].sum().backward(retain_graph=True)
        assert np.all(x.grad[..., t + 1:] == 0)
    assert minidl.gradcheck(lambda a: F.conv1d(a, w.double(), None, padding="causal",
                                               dilation=dilation), [x])


def test_first_layer_does_not_compute_input_gradient(monkeypatch):
    """DESIGN: the backward computes only the gradients that are needed."""
    from minidl.kernels.conv import reference
    calls = []
    original = reference.conv2d_backward_input
    monkeypatch.setattr(reference, "conv2d_backward_input",
                        lambda *a: calls.append(1) or original(*a))
    with minidl.kernels.use("reference"):
        layer = nn.Conv2d(1, 2, 3)
        layer(minidl.randn(1, 1, 5, 5)).sum().backward()
    assert calls == [] and layer.weight.grad is not None


@pytest.mark.parametrize("call, message", [
    (lambda: F.conv2d(minidl.randn(1, 1, 5, 5), minidl.randn(1, 1, 7, 7)),
     "input 5x5 with kernel 7x7, padding 0, stride 1 gives an empty output"),
    (lambda: F.conv2d(minidl.randn(1, 5, 5, 5), minidl.randn(4, 3, 3, 3), groups=2),
     "input has 5 channels but the weight .* expects 6"),
    (lambda: F.conv2d(minidl.randn(1, 4, 5, 5), minidl.randn(3, 2, 3, 3), groups=2),
     "3 output channels are not divisible by groups=2"),
    (lambda: F.conv2d(minidl.randn(4, 5, 5), minidl.randn(3, 4, 3, 3)),
     "expected a 4-D input"),
    (lambda: F.conv2d(minidl.randn(1, 1, 5, 5), minidl.randn(1, 1, 3, 3), stride=2,
                      padding="same"), "padding='same' needs stride 1"),
    (lambda: F.conv2d(minidl.randn(1, 1, 5, 5), minidl.randn(2, 1, 3, 3), minidl.randn(3)),
     "bias of shape"),
    (lambda: F.conv_transpose2d(minidl.randn(1, 2, 3, 3), minidl.randn(2, 1, 3, 3), stride=2,
                                output_padding=2), "output_padding"),
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "divisible by groups=2"),
])
def test_bad_configurations_name_the_problem(call, message):
    with pytest.raises(ValueError, match=message):
        call()
