"""Reverse-mode automatic differentiation: tensors, Functions, the backward engine."""
from __future__ import annotations

from .engine import AccumulateGrad, run_backward
from .function import Context, Function
from .grad_mode import (AnomalyError, backprop_rule, detect_anomaly, enable_grad,
                        is_grad_enabled, no_grad, set_grad_enabled)
from .gradcheck import GradcheckError, gradcheck
from .tensor import RemovableHandle, Tensor, tensor


def backward(tensors, grad_tensors=None, retain_graph: bool = False) -> None:
    """Accumulate into the leaves the gradients of several outputs at once.

    ``grad_tensors`` holds dL/d(output) for each output (None allowed for one-element outputs).
    """
    tensors = list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]
    grad_tensors = grad_tensors if grad_tensors is not None else [None] * len(tensors)
    grad_tensors = grad_tensors if isinstance(grad_tensors, (list, tuple)) else [grad_tensors]
    run_backward(tensors, [t._root_grad(g) for t, g in zip(tensors, grad_tensors)],
                 retain_graph=retain_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool = False,
         allow_unused: bool = False):
    """The gradients of ``outputs`` with respect to ``inputs``, returned as arrays.

    Unlike ``backward`` nothing is accumulated into ``.grad``, and only the part of the
    graph that leads to ``inputs`` is computed (so asking for an input image's gradient
    skips the weight gradients). An input the outputs do not depend on raises unless
    ``allow_unused=True``, which returns None for it.
    """
    single = not isinstance(inputs, (list, tuple))
    inputs = [inputs] if single else list(inputs)
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    grad_outputs = grad_outputs if grad_outputs is not None else [None] * len(outputs)
    grad_outputs = grad_outputs if isinstance(grad_outputs, (list, tuple)) else [grad_outputs]
    roots = [t._root_grad(g) for t, g in zip(outputs, grad_outputs)]
    result = run_backward(outputs, roots, retain_graph=retain_graph, capture=inputs)
    if not allow_unused and any(g is None for g in result):
        unused = [i for i, g in enumerate(result) if g is None]
        raise RuntimeError(f"grad(): input(s) {unused} are not used by the outputs "
                           "(pass allow_unused=True to get None for them)")
    return result[0] if single else result


__all__ = [
    "AccumulateGrad", "AnomalyError", "Context", "Function", "GradcheckError",
    "RemovableHandle", "Tensor", "backprop_rule", "backward", "detect_anomaly", "enable_grad",
    "grad", "gradcheck", "is_grad_enabled", "no_grad", "set_grad_enabled", "tensor",
]
