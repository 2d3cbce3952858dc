"""The losses beyond the op-table battery: every option at once, no overflow at +-200, and
errors that name the shapes and the class.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import minidl
import minidl.functional as F
from tests.helpers import check, compare_with_torch, leaf


def test_cross_entropy_all_options_nchw():
    """(N, C, H, W) logits with weights, label smoothing and ignored pixels at once."""
    rng = np.random.default_rng(3)
    logits = leaf(rng.standard_normal((2, 4, 3, 2)))
    target = rng.integers(0, 4, (2, 3, 2))
    target[0, 1, 1] = target[1, 2, 0] = -1
    weight = rng.uniform(0.2, 2.0, 4)
    for reduction in ("mean", "sum", "none"):
        f = (lambda x, r=reduction: F.cross_entropy(x, target, weight=weight, ignore_index=-1,
                                                    reduction=r, label_smoothing=0.2))
        check(f, logits)
        check(f, logits, mode="fast")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_bce_with_logits_does_not_overflow(dtype):
    """loss(x, t) = softplus(x) - t x = log(1 + e^-|x|) + (200 if the sign is wrong else 0)
    at x = +-200, and d/dx = sigmoid(x) - t (hand computed)."""
    x = minidl.tensor(np.array([200.0, 200.0, -200.0, -200.0], dtype=dtype), requires_grad=True)
    t = np.array([1.0, 0.0, 1.0, 0.0], dtype=dtype)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    tiny = np.exp(-200.0)  # log(1 + e^-200) = e^-200 to double precision; 0 in float32
    np.testing.assert_allclose(loss.numpy(), [tiny, 200.0, 200.0, tiny], rtol=1e-6, atol=1e-30)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad, [-tiny, 1.0, -1.0, tiny], rtol=1e-6, atol=1e-30)


def test_torch_cross_entropy_every_option_at_once(torch):
    """Label smoothing AND class weights AND ignore_index, (N, C) and (N, C, H, W)."""
    rng = np.random.default_rng(5)
    for shape in [(5, 4), (2, 4, 3, 2)]:
        logits = rng.standard_normal(shape)
        target = rng.integers(0, 4, shape[:1] + shape[2:])
        target.reshape(-1)[[1, 3]] = 2  # class 2 is the ignored one
        weight = rng.uniform(0.2, 2.0, 4)
        for reduction in ("mean", "sum", "none"):
            compare_with_torch(
                torch, (logits,),
                lambda x, t=target, w=weight, r=reduction: F.cross_entropy(
                    x, t, weight=w, ignore_index=2, reduction=r, label_smoothing=0.25),
                lambda x, t=target, w=weight, r=reduction: torch.nn.functional.cross_entropy(
                    x, torch.from_numpy(t), weight=torch.from_numpy(w), ignore_index=2,
                    reduction=r, label_smoothing=0.25))


def _shapes_pattern(*shapes):
    """A regex matching a message that names every shape, in order."""
    return ".*".join(re.escape(str(tuple(s))) for s in shapes)


def _t(shape):
    return minidl.tensor(np.ones(shape), requires_grad=True)


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("input_shape, target_shape", [((2, 5), (3,)), ((2, 5), (2, 1)),
                                                       ((2, 5, 3, 3), (2, 3)),
                                                       ((2, 5, 3, 3), (2, 3, 4))])
def test_loss_wrong_target_shape_names_shapes(loss, input_shape, target_shape):
    with pytest.raises(ValueError, match=_shapes_pattern(target_shape, input_shape)):
        loss(_t(input_shape), np.zeros(target_shape, dtype=np.int64))


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss])
@pytest.mark.parametrize("bad", [5, 9, -3])
def test_loss_out_of_range_class_names_the_class(loss, bad):
    target = np.array([0, bad, 1])
    with pytest.raises(ValueError, match=rf"class {bad}\b.*\b5 classes"):
        loss(_t((3, 5)), target)


def test_loss_out_of_range_class_in_spatial_target():
    target = np.zeros((2, 3, 3), dtype=np.int64)
    target[1, 2, 0] = 4
    with pytest.raises(ValueError, match=r"class 4\b.*\b4 classes"):
        F.cross_entropy(_t((2, 4, 3, 3)), target, ignore_index=-1)


def test_ignored_targets_are_not_out_of_range():
    """ignore_index may lie outside 0..C-1; those entries are skipped, not rejected."""
    loss = F.cross_entropy(_t((3, 5)), np.array([0, -100, 1]))
    assert np.isfinite(loss.item())
