"""``Tensor``: an array plus what autograd needs to know about it.

A tensor holds its values in ``.data`` (a NumPy or CuPy array) and, when it takes part in
differentiation, either

* is a **leaf** (``requires_grad=True``, no ``grad_fn``): its gradient is accumulated
  into ``.grad`` by ``backward()``; parameters are leaves;
* or is the output of a Function: ``grad_fn`` is the graph node that made it.

Tensors are never modified in place by autograd; every op returns a new tensor.
"""
from __future__ import annotations

import weakref

import numpy as np

from .. import backend


class RemovableHandle:
    """Returned by ``register_*hook``; ``remove()`` takes the hook out again."""

    def __init__(self, hooks: list, hook):
        self._hooks = hooks
        self._hook = hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _normalize_scalar(value):
    """NumPy scalars would promote float32 to float64 (NEP 50); Python numbers do not."""
    if isinstance(value, np.generic):
        return value.item()
    return value


def _unwrap_index(index):
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in index)
    if isinstance(index, list):
        return np.asarray([i.item() if isinstance(i, Tensor) else i for i in index])
    return index


class Tensor:
    """A multi-dimensional array that can record the operations applied to it."""

    __slots__ = ("data", "grad", "requires_grad", "grad_fn", "_output_index", "_hooks",
                 "_accumulator_node", "__weakref__")
    __array_ufunc__ = None  # NumPy defers to Tensor's operators: ndarray + Tensor is a Tensor.

    def __init__(self, data, requires_grad: bool = False):
        if isinstance(data, Tensor):
            data = data.data
        array = _to_array(data, None)
        self._init(array, requires_grad, None, 0)
        if requires_grad:
            _check_can_require_grad(array.dtype)

    @classmethod
    def _make(cls, data, requires_grad=False, grad_fn=None, output_index=0):
        """Wrap an array without copying or checking (used by Function.apply)."""
        t = object.__new__(cls)
        t._init(data, requires_grad, grad_fn, output_index)
        return t

    def _init(self, data, requires_grad, grad_fn, output_index):
        self.data = data
        self.grad = None
        self.requires_grad = requires_grad
        self.grad_fn = grad_fn
        self._output_index = output_index
        self._hooks = None
        self._accumulator_node = None

    # ------------------------------------------------------------------ description
    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> str:
        return backend.device_of(self.data)

    @property
    def ndim(self) -> int:
        return self.data.ndim

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return int(self.data.size)

    def size(self, dim=None):
        """The shape, or one entry of it (PyTorch's ``size``)."""
        return self.data.shape if dim is None else self.data.shape[dim]

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __repr__(self):
        body = np.array2string(backend.to_numpy(self.data), separator=", ", prefix="tensor(")
        extra = []
        if self.data.dtype != backend.get_default_dtype() and self.data.dtype.kind == "f":
            extra.append(f"dtype={self.data.dtype}")
        if self.device != "cpu":
            extra.append(f"device='{self.device}'")
        if self.grad_fn is not None:
            extra.append(f"grad_fn={self.grad_fn!r}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extra) + ")"

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (copied to the host when on the GPU)."""
        return backend.to_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        array = self.numpy()
        return array if dtype is None else array.astype(dtype)

    def item(self):
        """The single value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous")
        return bool(self.item())

    def detach(self) -> "Tensor":
        """The same values, cut from the graph (shares the array)."""
        return Tensor._make(self.data)

    def clone(self) -> "Tensor":
        """A copy of the values that stays in the graph (gradient flows through)."""
        return _ops.CloneFunction.apply(self)

    def to(self, device=None, dtype=None) -> "Tensor":
        """Move to a device and/or cast to a dtype: ``to("cuda")``, ``to(np.float64)``."""
        if dtype is None and device is not None and not _looks_like_device(device):
            device, dtype = None, device
        result = self
        if dtype is not None and backend.as_dtype(dtype) != self.dtype:
            result = _ops.CastFunction.apply(result, backend.as_dtype(dtype))
        if device is not None and backend.normalize_device(device) != result.device:
            result = _ops.ToDeviceFunction.apply(result, backend.normalize_device(device))
        return result

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

    def float(self) -> "Tensor":
        return self.to(dtype=np.float32)

    def double(self) -> "Tensor":
        return self.to(dtype=np.float64)

    def astype(self, dtype) -> "Tensor":
        return self.to(dtype=dtype)

    # ------------------------------------------------------------------ autograd
    def requires_grad_(self, requires_grad: bool = True) -> "Tensor":
        """Make a leaf tensor start (or stop) recording gradients; returns itself."""
        if not self.is_leaf:
            raise RuntimeError("requires_grad can only be changed on leaf tensors; "
                               "use detach() to get a leaf from a computed tensor")
        if requires_grad:
            _check_can_require_grad(self.dtype)
        self.requires_grad = requires_grad
        return self

    def _accumulator(self):
        if self._accumulator_node is None:
            from .engine import AccumulateGrad
            self._accumulator_node = AccumulateGrad(self)
        return self._accumulator_node

    def _edge(self):
        """The graph edge that leads to whoever produced this tensor."""
        if self.grad_fn is not None:
            return (self.grad_fn, self._output_index)
        return (self._accumulator(), 0)

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) * grad into ``.grad`` of every leaf that needs it.

        ``grad`` is dL/d(self); it may be left out only for a one-element tensor (then 1).
        The graph is freed afterwards unless ``retain_graph=True``.
        """
        from .engine import run_backward
        run_backward([self], [self._root_grad(grad)], retain_graph=retain_graph)

    def _root_grad(self, grad):
        if not self.requires_grad:
            raise RuntimeError("backward() called on a tensor that does not require grad "
                               "(no input had requires_grad=True, or it was made under no_grad)")
        xp = backend.get_array_module(self.data)
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError("backward() needs a `grad` argument for a non-scalar output; "
                                   f"got a tensor of shape {self.shape}")
            return xp.ones(self.shape, self.dtype)
        grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad)
        if grad.shape != self.shape:
            raise RuntimeError(f"backward(): grad has shape {grad.shape} but the tensor has "
                               f"shape {self.shape}")
        if backend.device_of(grad) != self.device:
            raise RuntimeError(f"backward(): grad is on {backend.device_of(grad)} but the tensor "
                               f"is on {self.device}")
        return grad.astype(self.dtype, copy=False)

    def register_hook(self, hook) -> RemovableHandle:
        """Call ``hook(grad)`` when this tensor's gradient is computed.

        The hook may return a new array (same shape) that replaces the gradient from then on.
        """
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that does not require grad")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            table = self.grad_fn.__dict__.setdefault("_tensor_hooks", {})
            hooks = table.setdefault(self._output_index, [])
        engine_hook = _array_hook(hook)
        hooks.append(engine_hook)
        return RemovableHandle(hooks, engine_hook)

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor too (leaves always keep theirs)."""
        if self.grad_fn is None:
            if not self.requires_grad:
                raise RuntimeError("retain_grad() on a tensor that does not require grad")
            return
        table = self.grad_fn.__dict__.setdefault("_retained", {})
        table[self._output_index] = weakref.ref(self)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other):
        return _ops.AddFunction.apply(self, _normalize_scalar(other))

    def __radd__(self, other):
        return _ops.AddFunction.apply(_normalize_scalar(other), self)

    def __sub__(self, other):
        return _ops.SubFunction.apply(self, _normalize_scalar(other))

    def __rsub__(self, other):
        return _ops.SubFunction.apply(_normalize_scalar(other), self)

    def __mul__(self, other):
        return _ops.MulFunction.apply(self, _normalize_scalar(other))

    def __rmul__(self, other):
        return _ops.MulFunction.apply(_normalize_scalar(other), self)

    def __truediv__(self, other):
        return _ops.DivFunction.apply(self, _normalize_scalar(other))

    def __rtruediv__(self, other):
        return _ops.DivFunction.apply(_normalize_scalar(other), self)

    def __pow__(self, other):
        return _ops.PowFunction.apply(self, _normalize_scalar(other))

    def __rpow__(self, other):
        return _ops.PowFunction.apply(_normalize_scalar(other), self)

    def __neg__(self):
        return _ops.NegFunction.apply(self)

    def __pos__(self):
        return self

    def __matmul__(self, other):
        return _ops.MatMulFunction.apply(self, other)

    def __rmatmul__(self, other):
        return _ops.MatMulFunction.apply(other, self)

    def matmul(self, other):
        return _ops.MatMulFunction.apply(self, other)

    def pow(self, exponent):
        return self ** exponent

    # comparisons give tensors without gradient
    def _compare(self, other, op):
        other = other.data if isinstance(other, Tensor) else _normalize_scalar(other)
        return Tensor._make(op(self.data, other))

    def __lt__(self, other):
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, lambda a, b: a >= b)

    def __eq__(self, other):
        return self._compare(other, lambda a, b: a == b)

    def __ne__(self, other):
        return self._compare(other, lambda a, b: a != b)

    __hash__ = object.__hash__

    # ------------------------------------------------------------------ elementwise
    def exp(self):
        return _ops.ExpFunction.apply(self)

    def log(self):
        return _ops.LogFunction.apply(self)

    def sqrt(self):
        return _ops.SqrtFunction.apply(self)

    def abs(self):
        return _ops.AbsFunction.apply(self)

    def __abs__(self):
        return _ops.AbsFunction.apply(self)

    def tanh(self):
        return _ops.TanhFunction.apply(self)

    def sigmoid(self):
        return _ops.SigmoidFunction.apply(self)

    def relu(self):
        return _ops.ReLUFunction.apply(self)

    def leaky_relu(self, negative_slope: float = 0.01):
        return _ops.LeakyReLUFunction.apply(self, negative_slope)

    def clip(self, min=None, max=None):
        return _ops.ClipFunction.apply(self, min, max)

    clamp = clip

    def maximum(self, other):
        return _ops.MaximumFunction.apply(self, _normalize_scalar(other))

    def minimum(self, other):
        return _ops.MinimumFunction.apply(self, _normalize_scalar(other))

    # ------------------------------------------------------------------ reductions
    def sum(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
        return _ops.SumFunction.apply(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def mean(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
        return _ops.MeanFunction.apply(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def var(self, axis=None, keepdims: bool = False, *, correction: int = 1, dim=None,
            keepdim=None):
        """Variance with PyTorch's default ``correction=1`` (unbiased); 0 gives the biased one."""
        return _ops.VarFunction.apply(self, _axis(axis, dim), _keep(keepdims, keepdim), correction)

    def std(self, axis=None, keepdims: bool = False, *, correction: int = 1, dim=None,
            keepdim=None):
        return self.var(axis, keepdims, correction=correction, dim=dim, keepdim=keepdim).sqrt()

    def max(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
        """Largest values over ``axis`` (like ``numpy.max``/``torch.amax``); ties share the gradient."""
        return _ops.MaxFunction.apply(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def min(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
        return _ops.MinFunction.apply(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def logsumexp(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
        return _ops.LogSumExpFunction.apply(self, _axis(axis, dim), _keep(keepdims, keepdim))

    def argmax(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
        axis = _axis(axis, dim)
        return Tensor._make(self.data.argmax(axis=axis, keepdims=_keep(keepdims, keepdim)))

    def argmin(self, axis=None, keepdims: bool = False, *, dim=None, keepdim=None):
        axis = _axis(axis, dim)
        return Tensor._make(self.data.argmin(axis=axis, keepdims=_keep(keepdims, keepdim)))

    def softmax(self, axis=-1, *, dim=None):
        return _ops.SoftmaxFunction.apply(self, _axis(axis, dim))

    def log_softmax(self, axis=-1, *, dim=None):
        return _ops.LogSoftmaxFunction.apply(self, _axis(axis, dim))

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return _ops.reshape(self, tuple(shape))

    view = reshape

    def transpose(self, *axes):
        """NumPy's transpose: no argument reverses the axes, two axes swap, n axes permute."""
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        n = self.ndim
        if len(axes) == 0:
            perm = tuple(reversed(range(n)))
        elif len(axes) == 2:
            a, b = (ax % n for ax in axes)
            perm = list(range(n))
            perm[a], perm[b] = perm[b], perm[a]
        else:
            perm = axes
        return _ops.PermuteFunction.apply(self, tuple(perm))

    def permute(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return _ops.PermuteFunction.apply(self, tuple(axes))

    @property
    def T(self):
        return self.transpose()

    def squeeze(self, axis=None, *, dim=None):
        return _ops.squeeze(self, _axis(axis, dim))

    def unsqueeze(self, axis):
        return _ops.unsqueeze(self, axis)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return _ops.flatten(self, start_dim, end_dim)

    def __getitem__(self, index):
        return _ops.GetItemFunction.apply(self, _unwrap_index(index))

    def __setitem__(self, index, value):
        raise TypeError("tensors are not modified in place: build a new tensor (minidl.where, "
                        "minidl.concatenate, ...) or, outside autograd, write into tensor.data")


def _array_hook(hook):
    """``hook`` as the engine runs it: on the gradient array, returning an array or None
    (a returned tensor gives its array)."""
    def run(grad):
        new = hook(grad)
        return new.data if isinstance(new, Tensor) else new
    return run


def _looks_like_device(value) -> bool:
    return isinstance(value, str) and value.split(":")[0].lower() in backend.DEVICES


def _axis(axis, dim):
    return axis if dim is None else dim


def _keep(keepdims, keepdim):
    return keepdims if keepdim is None else keepdim


def _check_can_require_grad(dtype):
    if dtype.kind not in "fc":
        raise TypeError(f"only floating-point tensors can require gradients, got {dtype}")


def _to_array(data, dtype):
    """An array from a tensor, array or nested Python data, with minidl's dtype rules.

    Python floats become the default float dtype (float32); arrays keep their dtype.
    """
    if backend.device_of(data) == "cuda":
        return data if dtype is None else data.astype(dtype)
    from_python = not isinstance(data, np.ndarray)
    array = np.asarray(data, dtype=dtype)
    if from_python and dtype is None and array.dtype == np.float64:
        array = array.astype(backend.get_default_dtype())
    return array


def tensor(data, requires_grad: bool = False, dtype=None, device=None) -> Tensor:
    """Make a new leaf tensor holding a copy of ``data`` (array, list, number or tensor).

    Python floats give float32 (the default dtype); integers give int64; NumPy arrays keep
    their dtype unless ``dtype`` is given.
    """
    if isinstance(data, Tensor):
        data = data.data
    dtype = backend.as_dtype(dtype)
    array = _to_array(data, dtype)
    if array is data:
        array = array.copy()
    if device is not None:
        array = backend.to_device(array, device)
    if requires_grad:
        _check_can_require_grad(array.dtype)
    return Tensor._make(array, bool(requires_grad))


from . import ops as _ops  # noqa: E402  (the ops are Functions, which need Tensor)
