"""Batch norm, local response norm and dropout.

* Backward passes against central finite differences (``minidl.gradcheck``, float64, default
  tolerances) on shapes drawn by Hypothesis.
* Forward passes against naive loop implementations written here, and, where PyTorch is
  installed, forward and backward against ``torch.nn.functional`` and BatchNorm2d's running
  statistics against torch's.
* Dropout masks against an independent pure-Python implementation of the mask spec
  (``minidl.kernels.reference.dropout``), and their statistics.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import minidl
import minidl.functional as F
import minidl.nn as nn
from minidl import backend


def leaf(array, requires_grad=True):
    """A float64 tensor holding a copy of ``array``."""
    return minidl.tensor(np.asarray(array, dtype=np.float64), requires_grad=requires_grad)


def check(fn, *inputs):
    out = fn(*inputs)
    assert np.isfinite(out.numpy()).all()
    assert minidl.gradcheck(fn, inputs)


def grads(fn, inputs, grad_y):
    """dL/d(inputs) for L = <grad_y, fn(*inputs)>, as NumPy arrays (None where not needed)."""
    y = fn(*inputs)
    return y, minidl.grad(y, list(inputs), grad_y, allow_unused=True)


# ============================================================================ batch norm
def naive_batch_norm(x, weight, bias, eps, running=None):
    """Channel by channel with Python sums: batch statistics, or the given (mean, var)."""
    y = np.empty_like(x)
    for c in range(x.shape[1]):
        values = x[:, c]
        if running is None:
            flat = [float(v) for v in values.ravel()]
            mean = math.fsum(flat) / len(flat)
            var = math.fsum((v - mean) ** 2 for v in flat) / len(flat)
        else:
            mean, var = running[0][c], running[1][c]
        y[:, c] = (values - mean) / math.sqrt(var + eps)
        if weight is not None:
            y[:, c] = y[:, c] * weight[c] + bias[c]
    return y


@st.composite
def batch_norm_cases(draw, training):
    """(x, weight, bias, running_mean, running_var) as float64 arrays; shapes of rank 2-4."""
    rank = draw(st.sampled_from([2, 3, 4]))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    shape += tuple(draw(st.integers(1, 3)) for _ in range(rank - 2))
    values_per_channel = math.prod(shape) // shape[1]
    assume(values_per_channel >= 2 or not training)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    x = rng.standard_normal(shape)
    # Keep the batch variance away from 0, where batch norm is ill-conditioned.
    assume(not training or x.var(axis=(0,) + tuple(range(2, rank))).min() > 0.05)
    affine = draw(st.booleans())
    weight = rng.uniform(0.5, 2.0, shape[1]) * rng.choice([-1, 1], shape[1]) if affine else None
    bias = rng.standard_normal(shape[1]) if affine else None
    return x, weight, bias, rng.standard_normal(shape[1]), rng.uniform(0.5, 2.0, shape[1])


@pytest.mark.parametrize("training", [True, False])
@given(data=st.data())
def test_batch_norm_gradcheck(training, data):
    x, weight, bias, running_mean, running_var = data.draw(batch_norm_cases(training))
    wanted = data.draw(st.lists(st.booleans(), min_size=3, max_size=3))
    wanted[0] = wanted[0] or weight is None or not any(wanted)
    rm, rv = leaf(running_mean, False), leaf(running_var, False)
    inputs = [leaf(x, wanted[0])]
    if weight is not None:
        inputs += [leaf(weight, wanted[1]), leaf(bias, wanted[2])]

    def fn(x, weight=None, bias=None):
        return F.batch_norm(x, rm, rv, weight, bias, training=training)

    check(fn, *inputs)


@pytest.mark.parametrize("shape", [(4, 2), (2, 3, 3), (2, 2, 2, 3)])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck_every_rank(shape, affine, training):
    rng = np.random.default_rng(14)
    rm, rv = leaf(rng.standard_normal(shape[1]), False), leaf(rng.uniform(0.5, 2, shape[1]), False)
    inputs = [leaf(rng.standard_normal(shape))]
    if affine:
        inputs += [leaf(rng.standard_normal(shape[1])), leaf(rng.standard_normal(shape[1]))]
    check(lambda *t: F.batch_norm(t[0], rm, rv, *t[1:], training=training), *inputs)


@pytest.mark.parametrize("training", [True, False])
@given(data=st.data())
def test_batch_norm_forward_matches_loops(training, data):
    x, weight, bias, running_mean, running_var = data.draw(batch_norm_cases(training))
    running = None if training else (running_mean, running_var)
    y = F.batch_norm(leaf(x), leaf(running_mean), leaf(running_var),
                     None if weight is None else leaf(weight),
                     None if bias is None else leaf(bias), training=training)
    expected = naive_batch_norm(x, weight, bias, 1e-5, running)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-12)


def test_batch_norm_updates_running_statistics_in_place():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 3, 4))
    rm, rv = leaf(np.zeros(3), False), leaf(np.ones(3), False)
    same_mean, same_var = rm, rv
    F.batch_norm(leaf(x), rm, rv, training=True, momentum=0.25)
    assert rm is same_mean and rv is same_var
    np.testing.assert_allclose(rm.numpy(), 0.25 * x.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.75 + 0.25 * x.var(axis=(0, 2), ddof=1), rtol=1e-12)


def test_batch_norm_without_running_statistics_uses_the_batch():
    x = np.random.default_rng(2).standard_normal((4, 2))
    y = F.batch_norm(leaf(x), None, None, training=True)
    np.testing.assert_allclose(y.numpy(), naive_batch_norm(x, None, None, 1e-5), rtol=1e-10)


@pytest.mark.parametrize("call, message", [
    (lambda x: F.batch_norm(x, None, None, training=False), "evaluation mode"),
    (lambda x: F.batch_norm(x, minidl.zeros(3), None, training=True), "both be None"),
    (lambda x: F.batch_norm(x[:1, :, :1], None, None, training=True), "more than 1 value"),
    (lambda x: F.batch_norm(x, minidl.zeros(4), minidl.ones(4)), "one entry per channel"),
    (lambda x: F.batch_norm(x, None, None, minidl.ones(2), training=True),
     "one entry per channel"),
    (lambda x: nn.BatchNorm2d(3)(x), r"4-D \(N, C, H, W\)"),
    (lambda x: nn.BatchNorm1d(3)(x.reshape(2, 3, 2, 2)), r"2-D \(N, C\) or 3-D"),
    (lambda x: nn.BatchNorm1d(4)(x), "has 3 channels"),
])
def test_batch_norm_errors(call, message):
    x = minidl.randn(2, 3, 4)
    with pytest.raises(ValueError, match=message):
        call(x)


def test_batch_norm_type_errors():
    x = minidl.randn(2, 3, 4)
    with pytest.raises(TypeError, match="must be tensors"):
        F.batch_norm(x, np.zeros(3), np.ones(3))
    with pytest.raises(TypeError, match="momentum=None"):
        F.batch_norm(x, minidl.zeros(3), minidl.ones(3), training=True, momentum=None)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5), (2, 3, 4, 5), (3, 2, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_torch(torch, shape, training, affine):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape) * 2 + 1
    g = rng.standard_normal(shape)
    weight, bias = (rng.standard_normal(shape[1]), rng.standard_normal(shape[1])) if affine \
        else (None, None)
    running = rng.standard_normal(shape[1]), rng.uniform(0.5, 2, shape[1])

    ours = [leaf(x)] + ([leaf(weight), leaf(bias)] if affine else [])
    rm, rv = leaf(running[0], False), leaf(running[1], False)
    y, our_grads = grads(lambda *t: F.batch_norm(t[0], rm, rv, *t[1:], training=training,
                                                 momentum=0.3), ours, g)

    theirs = [torch.tensor(a, requires_grad=True) for a in [x] + ([weight, bias] if affine
                                                                 else [])]
    trm, trv = torch.tensor(running[0]), torch.tensor(running[1])
    ty = torch.nn.functional.batch_norm(theirs[0], trm, trv, *theirs[1:], training=training,
                                        momentum=0.3)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours_g, t in zip(our_grads, theirs, strict=True):
        np.testing.assert_allclose(ours_g, t.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-12)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm2d_running_statistics_match_torch(torch, momentum):
    ours = nn.BatchNorm2d(3, momentum=momentum, dtype=np.float64)
    theirs = torch.nn.BatchNorm2d(3, momentum=momentum).double()
    rng = np.random.default_rng(4)
    for step in range(5):
        x = rng.standard_normal((4, 3, 5, 6)) * (step + 1) + step
        ours(leaf(x, False))
        theirs(torch.tensor(x))
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-12,
                                   err_msg=name)
    assert ours.num_batches_tracked.dtype == np.int64 and int(ours.num_batches_tracked) == 5

    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 4, 4))
    np.testing.assert_allclose(ours(leaf(x, False)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_batchnorm_loads_a_torch_state_dict(torch):
    theirs = torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        for tensor in (theirs.weight, theirs.bias):
            tensor.copy_(torch.randn(4))
    theirs(torch.randn(8, 4, 3, 3))
    theirs.eval()
    ours = nn.BatchNorm2d(4).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(5).standard_normal((2, 4, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(minidl.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6)])
@pytest.mark.parametrize("track", [True, False])
def test_batchnorm1d_matches_torch_in_both_modes(torch, shape, track):
    ours = nn.BatchNorm1d(3, track_running_stats=track, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(3, track_running_stats=track).double()
    rng = np.random.default_rng(6)
    for training in (True, True, False):
        ours.train(training)
        theirs.train(training)
        x = rng.standard_normal(shape)
        np.testing.assert_allclose(ours(leaf(x, False)).numpy(),
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
    assert list(ours.state_dict()) == list(theirs.state_dict())


# ============================================================================ local response norm
def naive_local_response_norm(x, size, alpha, beta, k):
    """PyTorch's definition, one channel and one window position at a time."""
    y = np.empty_like(x)
    channels = x.shape[1]
    for c in range(channels):
        total = np.zeros_like(x[:, c])
        for j in range(c - size // 2, c + (size - 1) // 2 + 1):
            if 0 <= j < channels:
                total += x[:, j] ** 2
        y[:, c] = x[:, c] / (k + alpha / size * total) ** beta
    return y


@st.composite
def lrn_cases(draw):
    rank = draw(st.sampled_from([3, 4]))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 6)))
    shape += tuple(draw(st.integers(1, 3)) for _ in range(rank - 2))
    x = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1))).standard_normal(shape) * 1.5
    return (x, draw(st.integers(1, 7)), draw(st.sampled_from([1e-4, 0.3, 2.0])),
            draw(st.sampled_from([0.5, 0.75, 2.0])), draw(st.sampled_from([0.5, 1.0, 2.0])))


@given(case=lrn_cases())
def test_local_response_norm_gradcheck(case):
    x, size, alpha, beta, k = case
    check(lambda t: F.local_response_norm(t, size, alpha, beta, k), leaf(x))


@given(case=lrn_cases())
def test_local_response_norm_forward_matches_loops(case):
    x, size, alpha, beta, k = case
    np.testing.assert_allclose(F.local_response_norm(leaf(x), size, alpha, beta, k).numpy(),
                               naive_local_response_norm(x, size, alpha, beta, k), rtol=1e-12)


@pytest.mark.parametrize("shape", [(2, 7, 3, 4), (3, 5, 6), (1, 4, 2, 2, 3)])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8])
def test_local_response_norm_matches_torch(torch, shape, size):
    rng = np.random.default_rng(7)
    x, g = rng.standard_normal(shape) * 2, rng.standard_normal(shape)
    y, (gx,) = grads(lambda t: F.local_response_norm(t, size, 0.5, 0.75, 1.5), [leaf(x)], g)
    tx = torch.tensor(x, requires_grad=True)
    ty = torch.nn.functional.local_response_norm(tx, size, 0.5, 0.75, 1.5)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gx, tx.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_local_response_norm_layer_and_errors():
    layer = nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0)
    assert repr(layer) == "LocalResponseNorm(5, alpha=0.0001, beta=0.75, k=2.0)"
    x = np.random.default_rng(8).standard_normal((2, 6, 3, 3))
    np.testing.assert_allclose(layer(leaf(x)).numpy(),
                               naive_local_response_norm(x, 5, 1e-4, 0.75, 2.0), rtol=1e-12)
    with pytest.raises(ValueError, match="3 or more dimensions"):
        F.local_response_norm(minidl.randn(2, 3), 2)
    with pytest.raises(ValueError, match="positive int"):
        F.local_response_norm(minidl.randn(2, 3, 4), 0)


# ============================================================================ dropout
def spec_keep_mask(key, count, p):
    """The mask spec with Python ints: element i is kept iff its 24-bit draw >= round(p 2^24)."""
    threshold = round(p * 2 ** 24)
    keep = []
    for i in range(count):
        z = (key + (i + 1) * 0x9E3779B97F4A7C15) % 2 ** 64
        keep.append(backend.mix64(z) >> 40 >= threshold)
    return np.array(keep)


def next_key(seed):
    """The key the next dropout call after ``manual_seed(seed)`` takes."""
    minidl.manual_seed(seed)
    return backend.next_random_stream()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.7])
def test_dropout_mask_follows_the_spec(p):
    key = next_key(11)
    minidl.manual_seed(11)
    y = F.dropout(minidl.ones(3, 4, 5), p)
    np.testing.assert_array_equal(y.numpy() != 0, spec_keep_mask(key, 60, p).reshape(3, 4, 5))
    np.testing.assert_array_equal(y.numpy()[y.numpy() != 0], np.float32(1 / (1 - p)))


def test_dropout_drops_exactly_the_draws_below_the_threshold():
    key = next_key(13)
    draw = backend.mix64((key + 0x9E3779B97F4A7C15) % 2 ** 64) >> 40  # element 0's 24 bits
    for p, kept in ((draw / 2 ** 24, True), ((draw + 1) / 2 ** 24, False)):
        minidl.manual_seed(13)
        assert (F.dropout(minidl.ones(1), p).numpy()[0] != 0) == kept


def test_dropout2d_mask_follows_the_spec_and_drops_whole_channels():
    key = next_key(12)
    minidl.manual_seed(12)
    x = minidl.tensor(np.random.default_rng(9).uniform(0.5, 2, (5, 6, 3, 4)))
    y = F.dropout2d(x, 0.4).numpy()
    keep = spec_keep_mask(key, 30, 0.4).reshape(5, 6)
    assert keep.any() and not keep.all()
    np.testing.assert_array_equal(y[~keep], 0)
    np.testing.assert_allclose(y[keep], x.numpy()[keep] / 0.6, rtol=1e-15)


@pytest.mark.parametrize("function", [F.dropout, F.dropout2d])
@pytest.mark.parametrize("p", [0.2, 0.6])
def test_dropout_gradient_is_the_scaled_mask(function, p):
    g = np.random.default_rng(10).standard_normal((4, 5, 3, 2))
    x = minidl.ones(4, 5, 3, 2, dtype=np.float64, requires_grad=True)
    y = function(x, p)
    y.backward(g)
    mask = (y.numpy() != 0) / (1 - p)
    np.testing.assert_array_equal(y.numpy(), mask)
    np.testing.assert_array_equal(x.grad, g * mask)


@pytest.mark.parametrize("function", [F.dropout, F.dropout2d])
def test_dropout_gradcheck(function):
    def fn(x):
        minidl.manual_seed(21)
        return function(x, 0.3)

    check(fn, leaf(np.random.default_rng(11).standard_normal((2, 4, 3, 3))))


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9])
def test_dropout_keeps_a_fraction_one_minus_p(p):
    n = 1_000_000
    kept = int((F.dropout(minidl.ones(n), p).numpy() != 0).sum())
    assert abs(kept - n * (1 - p)) < 5 * math.sqrt(n * p * (1 - p))
    channels_kept = int((F.dropout2d(minidl.ones(500, 400, 1, 1), p).numpy() != 0).sum())
    assert abs(channels_kept - 200_000 * (1 - p)) < 5 * math.sqrt(200_000 * p * (1 - p))


def test_dropout_masks_repeat_with_the_seed_and_differ_between_calls():
    x = minidl.ones(8, 16)
    minidl.manual_seed(5)
    first, second = F.dropout(x).numpy(), F.dropout(x).numpy()
    minidl.manual_seed(5)
    np.testing.assert_array_equal(F.dropout(x).numpy(), first)
    np.testing.assert_array_equal(F.dropout(x).numpy(), second)
    assert (first != second).any()


def test_dropout_edge_probabilities_and_eval():
    x = minidl.randn(3, 4, 2, 2)
    for function in (F.dropout, F.dropout2d):
        np.testing.assert_array_equal(function(x, 1.0).numpy(), 0)
        np.testing.assert_array_equal(function(x, 0.0).numpy(), x.numpy())
        assert function(x, 0.5, training=False) is x
        for p in (-0.1, 1.5):
            with pytest.raises(ValueError, match="between 0 and 1"):
                function(x, p)
    with pytest.raises(ValueError, match="4-D input"):
        F.dropout2d(minidl.randn(3, 4), 0.5)


@pytest.mark.parametrize("layer_type", [nn.Dropout, nn.Dropout2d])
def test_dropout_layers(layer_type):
    layer = layer_type(0.25)
    assert repr(layer) == f"{layer_type.__name__}(p=0.25)"
    x = minidl.ones(6, 8, 2, 2)
    assert (layer(x).numpy() == 0).any()
    assert layer.eval()(x) is x
    with pytest.raises(ValueError, match="between 0 and 1"):
        layer_type(2.0)


# ============================================================================ dtypes, invariants
LAYERS = [lambda: nn.BatchNorm2d(3), lambda: nn.LocalResponseNorm(2), lambda: nn.Dropout(0.5),
          lambda: nn.Dropout2d(0.5)]
FUNCTIONS = [lambda x: F.batch_norm(x, None, None, training=True),
             lambda x: F.local_response_norm(x, 3), lambda x: F.dropout(x, 0.5),
             lambda x: F.dropout2d(x, 0.5)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index", range(4))
def test_float32_and_float64(dtype, index):
    x = minidl.tensor(np.random.default_rng(12).standard_normal((4, 3, 2, 2)), dtype=dtype,
                      requires_grad=True)
    for y in (FUNCTIONS[index](x), LAYERS[index]().to(dtype=dtype)(x)):
        assert y.dtype == dtype
        y.backward(np.ones(y.shape))
        assert x.grad.dtype == dtype and np.isfinite(x.grad).all()


@pytest.mark.parametrize("training", [True, False])
def test_backward_is_repeatable_and_leaves_the_gradient_alone(training):
    rng = np.random.default_rng(13)
    x, w, b = leaf(rng.standard_normal((3, 2, 2, 2))), leaf([1.5, -2.0]), leaf([0.1, 0.2])
    g = rng.standard_normal((3, 2, 2, 2))
    g_before = g.copy()
    for fn in (lambda: F.batch_norm(x, leaf(np.zeros(2), False), leaf(np.ones(2), False), w, b,
                                    training=training),
               lambda: F.local_response_norm(x, 3, 0.5), lambda: F.dropout(x, 0.5)):
        y = fn()
        first = minidl.grad(y, [x], g, retain_graph=True, allow_unused=True)
        second = minidl.grad(y, [x], g, allow_unused=True)
        np.testing.assert_array_equal(first[0], second[0])
        np.testing.assert_array_equal(g, g_before)
