"""Switches that change how operations record the graph: ``no_grad``, ``enable_grad``,
``detect_anomaly`` and ``backprop_rule``.

Each is a context manager (``with minidl.no_grad(): ...``) and also works as a
decorator. The state is process-wide and restored on exit, even after an exception.
"""
from __future__ import annotations

import contextlib


class _State:
    """Process-wide switches read by ``Function.apply`` and the backward engine."""

    grad_enabled = True
    anomaly = False
    relu_rule = "default"


STATE = _State()

BACKPROP_RULES = ("default", "guided", "deconvnet")


class AnomalyError(FloatingPointError):
    """Raised in ``detect_anomaly`` mode by the first op whose forward or backward gives NaN or Inf."""


class _Switch(contextlib.ContextDecorator):
    """Set one attribute of STATE for the duration of a ``with`` block."""

    _attribute = ""
    _value = None

    def __enter__(self):
        self._previous = getattr(STATE, self._attribute)
        setattr(STATE, self._attribute, self._value)
        return self

    def __exit__(self, *exc):
        setattr(STATE, self._attribute, self._previous)
        return False


class no_grad(_Switch):
    """Operations inside the block record no graph (inference, parameter updates)."""

    _attribute, _value = "grad_enabled", False


class enable_grad(_Switch):
    """Record the graph again inside a ``no_grad`` block."""

    _attribute, _value = "grad_enabled", True


class detect_anomaly(_Switch):
    """Check every forward output and every backward gradient for NaN or Inf.

    The first op that produces one raises ``AnomalyError`` naming the op (and, for a
    backward, the line of user code that ran its forward). Slow: for debugging only.
    """

    _attribute, _value = "anomaly", True


class backprop_rule(_Switch):
    """Choose how ReLU passes gradients back inside the block.

    * ``"default"``: the true gradient, ``g * (x > 0)``.
    * ``"deconvnet"`` (Zeiler & Fergus): ReLU applied to the gradient, ``max(g, 0)``,
      ignoring where the forward input was positive.
    * ``"guided"`` (Springenberg et al., guided backprop): both, ``max(g, 0) * (x > 0)``.

    Everything else in the backward is unchanged, so these are the ordinary backward pass
    with a different ReLU rule. The rule in force when ``backward()`` runs is the one used.
    """

    def __init__(self, rule: str):
        if rule not in BACKPROP_RULES:
            raise ValueError(f"unknown backprop rule {rule!r}: expected one of {BACKPROP_RULES}")
        self._attribute, self._value = "relu_rule", rule


def is_grad_enabled() -> bool:
    """True unless inside ``no_grad``."""
    return STATE.grad_enabled


def set_grad_enabled(mode: bool) -> None:
    """Switch graph recording on or off globally."""
    STATE.grad_enabled = bool(mode)

