"""``Function``: the one way an operation is defined in minidl.

A Function pairs a ``forward`` and a ``backward``, both on raw arrays::

    class Square(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return 2 * x * grad          # dL/dx = dL/dy * dy/dx

    y = Square.apply(t)

``apply`` unwraps tensor arguments to arrays, runs ``forward`` and, when gradients are
wanted, wraps the result in tensors whose ``grad_fn`` is the context ``ctx``. The context
is the graph node: it remembers the saved arrays, which inputs need a gradient
(``ctx.needs_input_grad``), and the edges to the nodes that produced the inputs.

``backward`` receives one gradient per output (dL/d output) and returns one per positional
input of ``forward`` (dL/d input, or None), each with the shape and dtype of that input.
"""
from __future__ import annotations

import os
import traceback

import numpy as np

from .. import backend
from .grad_mode import STATE, AnomalyError

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


class Context:
    """A node of the graph: what one call of a Function's forward leaves for its backward.

    Users may attach any attribute (``ctx.stride = 2``); after the backward pass has used
    the node it is freed (unless ``retain_graph=True``) and those attributes are dropped.
    """

    def __init__(self, function, needs_input_grad):
        self._function = function
        self.needs_input_grad = needs_input_grad
        self._saved = ()
        self._non_differentiable = ()
        self._freed = False

    # -- the API a Function's forward and backward use ---------------------------------
    def save_for_backward(self, *arrays):
        """Keep arrays for the backward pass (freed with the graph)."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        """The arrays given to ``save_for_backward``."""
        if self._freed:
            raise RuntimeError(_freed_message(self))
        return self._saved

    def mark_non_differentiable(self, *arrays):
        """Declare outputs (such as argmax indices) that never carry a gradient."""
        self._non_differentiable = tuple(id(a) for a in arrays)

    # -- used by the engine -----------------------------------------------------------
    @property
    def name(self) -> str:
        """The op's name without the "Function" suffix: ``<AddBackward>`` for AddFunction."""
        return op_name(self._function)

    def _free(self):
        """Drop everything the backward needed, keeping only the name for error messages."""
        function = self._function
        self.__dict__.clear()
        self._function = function
        self._freed = True

    def __repr__(self):
        return f"<{self.name}Backward>"


def op_name(function) -> str:
    """A Function's name as messages show it, without the "Function" suffix ("Conv2d")."""
    return function.__name__.removesuffix("Function")


def _freed_message(node) -> str:
    return (f"trying to run backward through {node.name} a second time: its saved values were "
            "freed after the first backward. Pass retain_graph=True to the first backward() "
            "if you need to backward through the same graph twice.")


class Function:
    """Base class of every differentiable operation (see the module docstring)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("a Function must define forward(ctx, ...)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("a Function must define backward(ctx, *grad_outputs)")

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run the op on tensors (and plain values), recording the graph when needed."""
        record = STATE.grad_enabled
        arrays = []
        needs = []
        edges = []
        any_needs = False
        first_type = None
        for arg in args:
            if isinstance(arg, Tensor):
                data = arg.data
                if first_type is None:
                    first_type = type(data)
                elif type(data) is not first_type:
                    _check_same_device(cls, args)
                arrays.append(data)
                if record and arg.requires_grad:
                    needs.append(True)
                    edges.append(arg._edge())
                    any_needs = True
                else:
                    needs.append(False)
                    edges.append(None)
            else:
                arrays.append(arg)
                needs.append(False)
                edges.append(None)
        ctx = Context(cls, tuple(needs))
        if STATE.anomaly:
            ctx._forward_stack = traceback.extract_stack()[:-1]
        outputs = cls.forward(ctx, *arrays, **kwargs)
        if STATE.anomaly:
            _check_forward_finite(ctx, outputs)
        if not any_needs:
            if isinstance(outputs, tuple):
                return tuple(Tensor._make(_as_array(o)) for o in outputs)
            return Tensor._make(_as_array(outputs))
        ctx._next_edges = edges
        ctx._input_meta = [(a.shape, a.dtype) if n else None for a, n in zip(arrays, needs)]
        return _wrap_outputs(ctx, outputs)


def _wrap_outputs(ctx, outputs):
    """Turn forward's array(s) into tensors that point back at ``ctx``."""
    if not isinstance(outputs, tuple):
        return Tensor._make(_as_array(outputs), True, ctx, 0)
    ctx._output_meta = [(o.shape, o.dtype) for o in outputs]
    ctx._differentiable = [id(o) not in ctx._non_differentiable for o in outputs]
    return tuple(
        Tensor._make(_as_array(o), True, ctx, i) if diff else Tensor._make(_as_array(o))
        for i, (o, diff) in enumerate(zip(outputs, ctx._differentiable)))


def _as_array(value):
    """Reductions on NumPy return scalars; a tensor always holds an array."""
    if isinstance(value, np.ndarray):
        return value
    if backend.device_of(value) == "cuda":
        return value
    return np.asarray(value)


def _check_same_device(function, args):
    devices = [backend.device_of(a.data) for a in args if isinstance(a, Tensor)]
    if len(set(devices)) > 1:
        first = devices[0]
        other = next(d for d in devices if d != first)
        raise RuntimeError(f"{op_name(function)}: expected all tensors on the same device, "
                           f"but found tensors on {first} and {other}")


def _check_forward_finite(ctx, outputs):
    for out in outputs if isinstance(outputs, tuple) else (outputs,):
        xp = backend.get_array_module(out)
        arr = xp.asarray(out)
        if arr.dtype.kind in "fc" and not bool(xp.isfinite(arr).all()):
            raise AnomalyError(f"{ctx.name} returned NaN or Inf in its forward output"
                               f"{forward_location(ctx)}")


def forward_location(ctx) -> str:
    """Where the user's code called the op, when anomaly mode recorded it."""
    stack = getattr(ctx, "_forward_stack", None)
    if not stack:
        return ""
    user = [f for f in stack if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)] or stack
    frame = user[-1]
    return f" (forward called at {frame.filename}:{frame.lineno}: {frame.line})"


from .tensor import Tensor  # noqa: E402  (Tensor's methods are built on Function)
