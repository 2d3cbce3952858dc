"""minidl.gradcheck itself: fast mode on larger inputs, a wrong backward is caught, NaN
gradients are rejected.
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl
from minidl import Function
import minidl.functional as F
from tests.helpers import check, leaf


def test_fast_mode_on_larger_inputs():
    """Random-direction checks (mode="fast") where the full Jacobian would be large."""
    rng = np.random.default_rng(4)
    x = leaf(rng.standard_normal((8, 16, 10)))
    w = leaf(rng.standard_normal((10, 12)))
    check(lambda a, b: (a @ b).tanh().logsumexp(axis=(0, 2)), x, w, mode="fast")
    check(lambda a: a.softmax(axis=1).var(axis=0, correction=0), x, mode="fast")
    check(lambda a: a[:, [3, 3, 0, 15, 3]].max(axis=-1), leaf(
        rng.permutation(8 * 16 * 10).reshape(8, 16, 10) * 0.01), mode="fast")
    logits = leaf(rng.standard_normal((6, 7, 5, 4)))
    target = rng.integers(0, 7, (6, 5, 4))
    weight = rng.uniform(0.5, 1.5, 7)
    check(lambda a: F.cross_entropy(a, target, weight=weight, label_smoothing=0.1), logits,
          mode="fast")
    t = leaf(rng.uniform(0, 1, (6, 7, 5, 4)))
    check(lambda a, b: F.binary_cross_entropy_with_logits(
        a, b, pos_weight=np.linspace(0.5, 2.0, 4)), logits, t, mode="fast")


def test_gradcheck_detects_a_wrong_backward():
    """The harness must be able to fail: a Function with a deliberately wrong backward."""
    class WrongSquare(minidl.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 2.1 * x * g

    x = leaf(np.array([0.5, -1.0, 2.0]))
    with pytest.raises(minidl.GradcheckError):
        minidl.gradcheck(WrongSquare.apply, (x,))
    with pytest.raises(minidl.GradcheckError):
        minidl.gradcheck(WrongSquare.apply, (x,), mode="fast")


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_gradcheck_rejects_nan_gradients(mode):
    class NanBackward(minidl.Function):
        @staticmethod
        def forward(ctx, x):
            return 2 * x

        @staticmethod
        def backward(ctx, g):
            return g * np.nan

    with pytest.raises(minidl.GradcheckError):
        minidl.gradcheck(NanBackward.apply, (leaf(np.array([1.0, 2.0])),), mode=mode)





def f64(values, requires_grad=True):
    return minidl.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


class MulWithOneWrongEntry(Function):
    """y = a * b, whose backward gets one Jacobian entry of b wrong (at b[1, 2])."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        scale = np.ones_like(b)
        scale[1, 2] = 1.5
        return g * b, g * a * scale


class CorrectMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        return g * b, g * a


def _gradcheck_inputs():
    rng = np.random.default_rng(0)
    a = f64(rng.uniform(0.5, 2.0, (2, 3)))
    b = f64(rng.uniform(0.5, 2.0, (2, 3)))
    return a, b


def test_gradcheck_failure_names_the_input_and_the_location():
    with pytest.raises(minidl.GradcheckError,
                       match=r"gradcheck failed for input 1 \(shape \(2, 3\)\): 1 of 36 Jacobian "
                             r"entries differ.*at output element 5, input index \(1, 2\)"):
        minidl.gradcheck(MulWithOneWrongEntry.apply, _gradcheck_inputs())


def test_gradcheck_fast_mode_also_catches_it_and_can_return_false():
    inputs = _gradcheck_inputs()
    with pytest.raises(minidl.GradcheckError, match=r"input 1 .*along a random direction"):
        minidl.gradcheck(MulWithOneWrongEntry.apply, inputs, mode="fast")
    assert minidl.gradcheck(MulWithOneWrongEntry.apply, inputs, raise_exception=False) is False


def test_gradcheck_passes_a_correct_function_and_rejects_float32():
    a, b = _gradcheck_inputs()
    assert minidl.gradcheck(CorrectMul.apply, (a, b))
    assert minidl.gradcheck(CorrectMul.apply, (a, b), mode="fast")
    with pytest.raises(TypeError, match="float64"):
        minidl.gradcheck(CorrectMul.apply, (a.float().detach().requires_grad_(), b))
