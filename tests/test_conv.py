"""conv2d, conv1d and conv_transpose2d: gradients, the definition, PyTorch, errors."""
import numpy as np
import pytest
from tests.conv_strategies import conv_configs
from hypothesis import given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
import minidl.nn as nn


def naive_conv2d(x, w, b, stride, padding, dilation, groups):
    """The definition, one multiply-add at a time."""
    n_batch, _, h, wd = x.shape
    out_c, cg, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh_n = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow_n = (wd + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    y = np.zeros((n_batch, out_c, oh_n, ow_n))
    per_group = out_c // groups
    for n in range(n_batch):
        for o in range(out_c):
            g = o // per_group
            for oh in range(oh_n):
                for ow in range(ow_n):
                    total = 0.0 if b is None else b[o]
                    for c in range(cg):
                        for i in range(kh):
                            for j in range(kw):
                                total += (w[o, c, i, j]
                                          * xpad[n, g * cg + c, oh * sh + i * dh, ow * sw + j * dw])
                    y[n, o, oh, ow] = total
    return y


def naive_conv_transpose2d(x, w, b, stride, padding, output_padding, dilation, groups, out_size):
    """Every input pixel scatters its kernel-weighted copy into the output."""
    n_batch, in_c, h, wd = x.shape
    _, og, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    y = np.zeros((n_batch, og * groups, *out_size))
    cg = in_c // groups
    for n in range(n_batch):
        for c in range(in_c):
            g = c // cg
            for ih in range(h):
                for iw in range(wd):
                    for o in range(og):
                        for i in range(kh):
                            for j in range(kw):
                                oh, ow = ih * sh - ph + i * dh, iw * sw - pw + j * dw
                                if 0 <= oh < out_size[0] and 0 <= ow < out_size[1]:
                                    y[n, g * og + o, oh, ow] += x[n, c, ih, iw] * w[c, o, i, j]
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y


def _arrays(config, rng, transposed=False):
    x = rng.standard_normal(config.input_shape)
    shape = config.transposed_weight_shape if transposed else config.weight_shape
    return x, rng.standard_normal(shape), rng.standard_normal(config.out_channels)


small = dict(max_batch=2, max_channels=4, max_size=5, max_kernel=3)


@given(conv_configs(**small), st.booleans())
def test_conv2d_gradcheck_full(config, with_bias):
    rng = np.random.default_rng(0)
    x, w, b = _arrays(config, rng)
    inputs = [minidl.tensor(a, requires_grad=True) for a in (x, w, b)]
    fn = lambda x, w, b: F.conv2d(x, w, b if with_bias else None, config.stride,
                                  config.padding, config.dilation, config.groups)
    assert minidl.gradcheck(fn, inputs if with_bias else inputs[:2] + [inputs[2].detach()])


@given(conv_configs(max_channels=8, max_size=10, max_kernel=5))
def test_conv2d_gradcheck_fast_larger(config):
    rng = np.random.default_rng(1)
    inputs = [minidl.tensor(a, requires_grad=True) for a in _arrays(config, rng)]
    fn = lambda x, w, b: F.conv2d(x, w, b, config.stride, config.padding,
                                  config.dilation, config.groups)
    assert minidl.gradcheck(fn, inputs, mode="fast")


@given(conv_configs(**small, depthwise=True))
def test_depthwise_conv2d_gradcheck(config):
    rng = np.random.default_rng(2)
    inputs = [minidl.tensor(a, requires_grad=True) for a in _arrays(config, rng)]
    assert config.groups == config.in_channels
    fn = lambda x, w, b: F.conv2d(x, w, b, config.stride, config.padding,
                                  config.dilation, config.groups)
    assert minidl.gradcheck(fn, inputs)


@given(conv_configs(**small, transposed=True), st.booleans())
def test_conv_transpose2d_gradcheck(config, with_bias):
    rng = np.random.default_rng(3)
    x, w, b = _arrays(config, rng, transposed=True)
    inputs = [minidl.tensor(a, requires_grad=True) for a in (x, w)]
    bias = minidl.tensor(b, requires_grad=True) if with_bias else None
    fn = lambda x, w, *rest: F.conv_transpose2d(
        x, w, rest[0] if rest else None, config.stride, config.padding, config.output_padding,
        config.groups, config.dilation)
    assert minidl.gradcheck(fn, inputs + ([bias] if with_bias else []))


@given(conv_configs(max_channels=4, max_size=6, max_kernel=3), st.booleans())
def test_conv2d_forward_matches_definition(config, with_bias):
    rng = np.random.default_rng(4)
    x, w, b = _arrays(config, rng)
    b = b if with_bias else None
    y = F.conv2d(minidl.tensor(x), minidl.tensor(w), None if b is None else minidl.tensor(b),
                 config.stride, config.padding, config.dilation, config.groups)
    expected = naive_conv2d(x, w, b, config.stride, config.padding, config.dilation, config.groups)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


@given(conv_configs(max_channels=4, max_size=5, max_kernel=3, transposed=True))
def test_conv_transpose2d_forward_matches_definition(config):
    rng = np.random.default_rng(5)
    x, w, b = _arrays(config, rng, transposed=True)
    y = F.conv_transpose2d(minidl.tensor(x), minidl.tensor(w), minidl.tensor(b), config.stride,
                           config.padding, config.output_padding, config.groups, config.dilation)
    expected = naive_conv_transpose2d(x, w, b, config.stride, config.padding,
                                      config.output_padding, config.dilation, config.groups,
                                      config.transposed_output_size())
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)


@given(conv_configs(max_channels=6, max_size=9, max_kernel=4))
def test_conv2d_matches_torch(torch, config):
    rng = np.random.default_rng(6)
    x, w, b = _arrays(config, rng)
    mx, mw, mb = (minidl.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(mx, mw, mb, config.stride, config.padding, config.dilation, config.groups)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, config.stride, config.padding, config.dilation,
                                    config.groups)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    for mine, theirs in ((mx, tx), (mw, tw), (mb, tb)):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


@given(conv_configs(max_channels=6, max_size=7, max_kernel=4, transposed=True))
def test_conv_transpose2d_matches_torch(torch, config):
    rng = np.random.default_rng(7)
    x, w, b = _arrays(config, rng, transposed=True)
    mx, mw, mb = (minidl.tensor(a, requires_grad=True) for a in (x, w, b))
    args = (config.stride, config.padding, config.output_padding, config.groups, config.dilation)
    y = F.conv_transpose2d(mx, mw, mb, *args)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, *args)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    for mine, theirs in ((mx, tx), (mw, tw), (mb, tb)):
        np.testing.assert_allclose(mine.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-10)


@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5), st.integers(1, 3),
       st.sampled_from([0, 1, "same", "valid"]), st.integers(4, 12))
def test_conv1d_matches_torch_and_gradcheck(torch, channels, out_channels, kernel, dilation,
                                            padding, length):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, channels, length))
    w = rng.standard_normal((out_channels, channels, kernel))
    if (length + 2 * (padding if isinstance(padding, int) else 0)
            - dilation * (kernel - 1) - 1) < 0 and padding != "same":
        with pytest.raises(ValueError, match="empty output"):
            F.conv1d(minidl.tensor(x), minidl.tensor(w), None, 1, padding, dilation)
        return
    y = F.conv1d(minidl.tensor(x), minidl.tensor(w), None, 1, padding, dilation)
    ty = torch.nn.functional.conv1d(torch.tensor(x), torch.tensor(w), None, 1, padding, dilation)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-10, atol=1e-10)
    inputs = [minidl.tensor(x, requires_grad=True), minidl.tensor(w, requires_grad=True)]
    assert minidl.gradcheck(lambda a, b: F.conv1d(a, b, None, 1, padding, dilation), inputs)


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


def test_output_size_formula():
    assert F.conv_output_size(7, 3, 1, 0) == 5       # the lecture's 7x7 input, 3x3 filter
    assert F.conv_output_size(7, 3, 2, 0) == 3
    assert F.conv_output_size(7, 3, 3, 0) == 2       # floor((7 - 3) / 3) + 1
    assert F.conv_output_size(32, 5, 1, 2) == 32     # padding (F - 1) / 2 keeps the size
    assert F.conv_output_size(10, 3, 1, 0, dilation=2) == 6
    assert F.conv_output_size((7, 9), 3, (1, 2), 1) == (7, 5)
    with pytest.raises(ValueError, match="input 5 with kernel 7, padding 0, stride 1 gives an empty output"):
        F.conv_output_size(5, 7)


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
