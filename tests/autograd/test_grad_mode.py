"""Grad modes and anomaly detection (minidl/autograd/grad_mode.py).
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl


def f64(values, requires_grad=True):
    return minidl.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


def test_no_grad_records_nothing():
    x = f64([1.0, 2.0])
    with minidl.no_grad():
        y = x * 2 + 1
        assert not minidl.is_grad_enabled()
    assert minidl.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    np.testing.assert_array_equal(y.data, [3.0, 5.0])


def test_no_grad_and_enable_grad_nest():
    x = f64([1.0, 2.0])
    with minidl.no_grad():
        with minidl.enable_grad():
            assert minidl.is_grad_enabled()
            y = x * 2
            with minidl.no_grad():
                z = x * 2
            assert minidl.is_grad_enabled()
        assert not minidl.is_grad_enabled()
        w = x * 2
    assert y.requires_grad and y.grad_fn is not None
    assert not z.requires_grad and z.grad_fn is None
    assert not w.requires_grad and w.grad_fn is None


def test_grad_modes_as_decorators():
    x = f64([1.0, 2.0])

    @minidl.no_grad()
    def infer(t):
        return t * 2

    @minidl.enable_grad()
    def train(t):
        return t * 2

    assert infer(x).grad_fn is None
    with minidl.no_grad():
        assert train(x).grad_fn is not None
    assert minidl.is_grad_enabled()


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ValueError):
        with minidl.no_grad():
            raise ValueError("boom")
    assert minidl.is_grad_enabled()


def test_set_grad_enabled():
    try:
        minidl.set_grad_enabled(False)
        assert (f64([1.0]) * 2).grad_fn is None
    finally:
        minidl.set_grad_enabled(True)
    assert (f64([1.0]) * 2).grad_fn is not None


def test_detect_anomaly_names_the_first_forward_op_producing_nan():
    x = f64([1.0, -1.0])
    with minidl.detect_anomaly():
        with pytest.raises(minidl.AnomalyError, match=r"^Log returned NaN or Inf in its forward") as info:
            with np.errstate(invalid="ignore"):
                (x * 2).log().exp() * 3
    assert "test_grad_mode.py" in str(info.value)  # points at the user's line


def test_without_anomaly_mode_nan_propagates_silently():
    x = f64([1.0, -1.0])
    with np.errstate(invalid="ignore"):
        y = (x * 2).log()
    assert np.isnan(y.data[1])


def test_detect_anomaly_names_the_backward_op_producing_inf():
    x = f64([0.0, 4.0])
    with minidl.detect_anomaly():
        loss = (x.sqrt() * 2).sum()
        with pytest.raises(minidl.AnomalyError,
                           match=r"backward of Sqrt returned NaN or Inf in the gradient for input 0"
                                 r".*forward called at .*test_grad_mode\.py"):
            with np.errstate(divide="ignore"):
                loss.backward()
    assert isinstance(minidl.AnomalyError("x"), FloatingPointError)


def test_detect_anomaly_is_quiet_on_finite_values_and_switches_off():
    x = f64([1.0, 4.0])
    with minidl.detect_anomaly():
        (x.sqrt() * x.log()).sum().backward()
    np.testing.assert_allclose(x.grad, np.log(x.data) / (2 * np.sqrt(x.data)) + 1 / np.sqrt(x.data))
    with np.errstate(divide="ignore"):
        (f64([0.0]).sqrt()).sum().backward()  # no anomaly mode: no error
