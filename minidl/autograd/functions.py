"""Tensor factories and the function forms of tensor operations (``minidl.exp(x)``,
``minidl.where(c, x, y)``, ``minidl.concatenate([a, b])``, ...)."""
from __future__ import annotations

import numpy as np

from .. import backend
from . import ops
from .tensor import Tensor, tensor

# ---------------------------------------------------------------------------- factories


def _factory(make, shape, dtype, device, requires_grad):
    shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
    dtype = backend.as_dtype(dtype) or backend.get_default_dtype()
    array = backend.to_device(make(shape, dtype), backend.normalize_device(device))
    return tensor(array, requires_grad=requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _factory(np.zeros, shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _factory(np.ones, shape, dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _factory(lambda s, d: np.full(s, fill_value, d), (shape,), dtype, device, requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples from the host generator seeded by ``manual_seed``."""
    return _factory(lambda s, d: backend.host_rng().standard_normal(s).astype(d),
                    shape, dtype, device, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1) from the host generator seeded by ``manual_seed``."""
    return _factory(lambda s, d: backend.host_rng().random(s).astype(d),
                    shape, dtype, device, requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad=False) -> Tensor:
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device, requires_grad=requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None) -> Tensor:
    """Like ``numpy.arange``; integer arguments give int64, float ones the default dtype."""
    array = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None and array.dtype.kind == "f":
        dtype = backend.get_default_dtype()
    return tensor(array, dtype=dtype, device=device)


def eye(n, m=None, dtype=None, device=None) -> Tensor:
    return tensor(np.eye(n, m, dtype=backend.as_dtype(dtype) or backend.get_default_dtype()),
                  device=device)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (no copy, dtype kept)."""
    return Tensor._make(array)


# ---------------------------------------------------------------------------- operations
def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, sharing its memory where it can (PyTorch's ``as_tensor``).

    A tensor passes unchanged (cast or moved only when ``dtype``/``device`` ask); an array
    is wrapped without a copy; numbers and nested lists become a new constant tensor.
    """
    if not isinstance(data, Tensor):
        data = Tensor(data)
    return data if dtype is None and device is None else data.to(device=device, dtype=dtype)


def exp(x):
    return as_tensor(x).exp()


def log(x):
    return as_tensor(x).log()


def sqrt(x):
    return as_tensor(x).sqrt()


def abs(x):
    return as_tensor(x).abs()


def tanh(x):
    return as_tensor(x).tanh()


def sigmoid(x):
    return as_tensor(x).sigmoid()


def relu(x):
    return as_tensor(x).relu()


def leaky_relu(x, negative_slope=0.01):
    return as_tensor(x).leaky_relu(negative_slope)


def clip(x, min=None, max=None):
    return as_tensor(x).clip(min, max)


def maximum(x, y):
    return ops.MaximumFunction.apply(x, y)


def minimum(x, y):
    return ops.MinimumFunction.apply(x, y)


def where(condition, x, y):
    """Elements of ``x`` where ``condition`` holds, else of ``y`` (broadcasting)."""
    condition = condition.data if isinstance(condition, Tensor) else condition
    return ops.WhereFunction.apply(condition, x, y)


def matmul(x, y):
    return ops.MatMulFunction.apply(x, y)


def sum(x, axis=None, keepdims=False):
    return as_tensor(x).sum(axis, keepdims)


def mean(x, axis=None, keepdims=False):
    return as_tensor(x).mean(axis, keepdims)


def var(x, axis=None, keepdims=False, correction=1):
    return as_tensor(x).var(axis, keepdims, correction=correction)


def max(x, axis=None, keepdims=False):
    return as_tensor(x).max(axis, keepdims)


def min(x, axis=None, keepdims=False):
    return as_tensor(x).min(axis, keepdims)


def logsumexp(x, axis=None, keepdims=False):
    return as_tensor(x).logsumexp(axis, keepdims)


def softmax(x, axis=-1):
    return as_tensor(x).softmax(axis)


def log_softmax(x, axis=-1):
    return as_tensor(x).log_softmax(axis)


def reshape(x, shape):
    return as_tensor(x).reshape(shape)


def transpose(x, *axes):
    return as_tensor(x).transpose(*axes)


def permute(x, axes):
    return as_tensor(x).permute(axes)


def squeeze(x, axis=None):
    return as_tensor(x).squeeze(axis)


def unsqueeze(x, axis):
    return as_tensor(x).unsqueeze(axis)


def flatten(x, start_dim=0, end_dim=-1):
    return as_tensor(x).flatten(start_dim, end_dim)


def concatenate(tensors, axis=0):
    """Join tensors along an existing axis (``torch.cat``)."""
    return ops.ConcatenateFunction.apply(*tensors, axis=axis)


def stack(tensors, axis=0):
    """Join tensors of one shape along a new axis."""
    return ops.StackFunction.apply(*tensors, axis=axis)


def pad(x, pad_width, value=0.0):
    """Constant padding with NumPy's ``pad_width`` ((before, after) per axis, or one int)."""
    x = as_tensor(x)
    return ops.PadFunction.apply(x, ops.normalize_pad_width(pad_width, x.ndim), value)
