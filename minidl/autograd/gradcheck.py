"""Checking backward passes against central finite differences.

For a function f of inputs x_1..x_m, the backward pass computes vector-Jacobian products
v^T J. Central differences estimate the same derivatives from values alone:

    df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)        error O(eps^2)

``mode="full"`` builds both Jacobians of every input, one column per input element (two
evaluations of f each) and one row per output element (one backward each).
``mode="fast"`` compares along random directions instead: for random unit u (inputs) and
v (outputs), v^T J u from the backward pass against
(<v, f(x + eps u)> - <v, f(x - eps u)>) / (2 eps), which scales to conv layers.

Everything runs in float64: in float32 the rounding error of the difference quotient
(about 1e-7 / eps) swamps the comparison.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .engine import run_backward
from .grad_mode import enable_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """The analytical and numerical gradients disagree (the message says where)."""


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              mode: str = "full", n_directions: int = 4, seed: int = 0,
              raise_exception: bool = True) -> bool:
    """Check ``fn``'s backward against finite differences for every input that requires grad.

    ``fn`` takes the tensors in ``inputs`` and returns a tensor or a tuple of tensors.
    The check passes where |analytical - numerical| <= atol + rtol * |numerical|.
    Returns True, or raises ``GradcheckError`` naming the input, the largest absolute and
    relative errors and where they are (returns False instead if ``raise_exception=False``).
    """
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need "
                            "float64 inputs (use tensor.double())")
    if mode not in ("full", "fast"):
        raise ValueError(f"gradcheck: mode must be 'full' or 'fast', got {mode!r}")
    check = _check_full if mode == "full" else _check_fast
    try:
        check(fn, inputs, checked, eps, atol, rtol, n_directions, seed)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def _outputs(fn, inputs):
    with enable_grad():
        out = fn(*inputs)
    return out if isinstance(out, tuple) else (out,)


def _flat_value(fn, inputs):
    """All outputs of fn, concatenated into one flat float64 NumPy vector."""
    return np.concatenate([backend.to_numpy(o.data).astype(np.float64).ravel()
                           for o in _outputs(fn, inputs)])


def _vjp(outs, inputs, checked, cotangent):
    """Gradients of <cotangent, outs> with respect to the checked inputs (backward pass).

    The graph of ``outs`` is kept, so several cotangents can reuse one forward.
    """
    grads, start = [], 0
    for o in outs:
        n = o.data.size
        part = cotangent[start:start + n].reshape(o.shape).astype(o.dtype)
        grads.append(backend.to_device(part, o.device))
        start += n
    differentiable = [(o, g) for o, g in zip(outs, grads) if o.requires_grad]
    if not differentiable:
        return [np.zeros(inputs[i].shape) for i in checked]
    roots, root_grads = zip(*differentiable)
    result = run_backward(list(roots), list(root_grads), retain_graph=True,
                          capture=[inputs[i] for i in checked])
    return [np.zeros(inputs[i].shape) if g is None else backend.to_numpy(g).astype(np.float64)
            for i, g in zip(checked, result)]


def _perturbed(inputs, i, direction, eps):
    """Copies of ``inputs`` with input i moved by +eps*direction and -eps*direction."""
    x = inputs[i]
    delta = backend.to_device(direction.reshape(x.shape) * eps, x.device)
    plus, minus = list(inputs), list(inputs)
    plus[i] = Tensor._make(x.data + delta, True)
    minus[i] = Tensor._make(x.data - delta, True)
    return plus, minus


def _check_full(fn, inputs, checked, eps, atol, rtol, n_directions, seed):
    outs = _outputs(fn, inputs)
    n_out = sum(o.data.size for o in outs)
    analytical = {i: np.zeros((n_out, inputs[i].data.size)) for i in checked}
    for row in range(n_out):
        basis = np.zeros(n_out)
        basis[row] = 1.0
        for i, g in zip(checked, _vjp(outs, inputs, checked, basis)):
            analytical[i][row] = g.ravel()
    for i in checked:
        size = inputs[i].data.size
        numerical = np.zeros((n_out, size))
        for col in range(size):
            unit = np.zeros(size)
            unit[col] = 1.0
            plus, minus = _perturbed(inputs, i, unit, eps)
            numerical[:, col] = (_flat_value(fn, plus) - _flat_value(fn, minus)) / (2 * eps)
        _compare(i, inputs[i].shape, analytical[i], numerical, atol, rtol, jacobian=True)


def _check_fast(fn, inputs, checked, eps, atol, rtol, n_directions, seed):
    rng = np.random.default_rng(seed)
    outs = _outputs(fn, inputs)
    n_out = sum(o.data.size for o in outs)
    for _ in range(n_directions):
        v = rng.standard_normal(n_out)
        v /= np.linalg.norm(v) or 1.0
        grads = _vjp(outs, inputs, checked, v)
        for i, g in zip(checked, grads):
            u = rng.standard_normal(inputs[i].data.size)
            u /= np.linalg.norm(u) or 1.0
            plus, minus = _perturbed(inputs, i, u, eps)
            numerical = v @ (_flat_value(fn, plus) - _flat_value(fn, minus)) / (2 * eps)
            analytical = g.ravel() @ u
            _compare(i, inputs[i].shape, np.array([analytical]), np.array([numerical]),
                     atol, rtol, jacobian=False)


def _compare(i, shape, analytical, numerical, atol, rtol, jacobian):
    error = np.abs(analytical - numerical)
    bad = ~(error <= atol + rtol * np.abs(numerical))  # NaN on either side fails too
    if not bad.any():
        return
    worst_abs = np.unravel_index(np.argmax(np.where(np.isnan(error), np.inf, error)), error.shape)
    relative = error / np.maximum(np.abs(numerical), 1e-300)
    worst_rel = np.unravel_index(np.argmax(np.where(bad, relative, 0)), error.shape)
    raise GradcheckError(
        f"gradcheck failed for input {i} (shape {shape}): {int(bad.sum())} of {bad.size} "
        f"{'Jacobian entries' if jacobian else 'directional derivatives'} differ; "
        f"largest absolute error {error[worst_abs]:.3e} {_where(worst_abs, shape, jacobian)} "
        f"(analytical {analytical[worst_abs]:.6g}, numerical {numerical[worst_abs]:.6g}); "
        f"largest relative error {relative[worst_rel]:.3e} {_where(worst_rel, shape, jacobian)} "
        f"(analytical {analytical[worst_rel]:.6g}, numerical {numerical[worst_rel]:.6g})")


def _where(position, shape, jacobian):
    if not jacobian:
        return "along a random direction"
    row, col = position
    index = tuple(int(i) for i in np.unravel_index(col, shape))
    return f"at output element {row}, input index {index}"
