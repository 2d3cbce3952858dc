"""``Module`` and ``Parameter``: containers of state that call ``minidl.functional``.

A module registers what is assigned to it: a ``Parameter`` becomes a learnable weight, a
``Module`` a submodule, and ``register_buffer`` adds state that is saved but not learned
(batch-norm running statistics). Names are dotted paths (``features.0.weight``), exactly
as in PyTorch, so state dicts carry over.
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend
from ..autograd import RemovableHandle, Tensor


class Parameter(Tensor):
    """A leaf tensor that a module learns (``requires_grad=True`` by default)."""

    def __init__(self, data, requires_grad: bool = True):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of every layer and model."""

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", [])
        object.__setattr__(self, "_forward_pre_hooks", [])

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {name!r} before Module.__init__() is called")
        params, buffers, modules = self._parameters, self._buffers, self._modules
        if isinstance(value, Parameter):
            self._forget(name)
            params[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            modules[name] = value
        elif name in params:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to parameter {name!r} "
                                "(use nn.Parameter, or None)")
            params[name] = None
        elif name in buffers:
            buffers[name] = _as_buffer(name, value)
        elif name in modules:
            if value is not None:
                raise TypeError(f"cannot assign a {type(value).__name__} to submodule {name!r}")
            modules[name] = None
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        # Only called when normal lookup fails: look in the registries.
        d = self.__dict__
        for registry in ("_parameters", "_buffers", "_modules"):
            table = d.get(registry)
            if table is not None and name in table:
                return table[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute {name!r}")

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            if name in table:
                del table[name]
                self._non_persistent.discard(name)
                return
        object.__delattr__(self, name)

    def _forget(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        self.__dict__.pop(name, None)

    def register_parameter(self, name: str, param) -> None:
        """Add a parameter (or None, to declare an absent optional one such as a bias)."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"register_parameter({name!r}) needs an nn.Parameter or None")
        self._forget(name)
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add state that is not learned; ``persistent=False`` keeps it out of state_dict."""
        self._forget(name)
        self._buffers[name] = _as_buffer(name, tensor)
        if persistent:
            self._non_persistent.discard(name)
        else:
            self._non_persistent.add(name)

    def add_module(self, name: str, module) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"add_module({name!r}) needs a Module, got {type(module).__name__}")
        self._forget(name)
        self._modules[name] = module

    # ------------------------------------------------------------------ calling
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        for hook in list(self._forward_pre_hooks):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        output = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks):
            result = hook(self, args, output)
            if result is not None:
                output = result
        return output

    def register_forward_hook(self, hook) -> RemovableHandle:
        """``hook(module, inputs, output)`` runs after forward; a non-None return replaces output."""
        self._forward_hooks.append(hook)
        return RemovableHandle(self._forward_hooks, hook)

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """``hook(module, inputs)`` runs before forward; a non-None return replaces the inputs."""
        self._forward_pre_hooks.append(hook)
        return RemovableHandle(self._forward_pre_hooks, hook)

    # ------------------------------------------------------------------ traversal
    def named_modules(self, prefix: str = "", remove_duplicate: bool = True):
        """(name, module) for this module and every submodule, depth first.

        A module registered under several names is listed once, unless
        ``remove_duplicate=False`` (state dicts list it under every name, as PyTorch does).
        """
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in seen:
                    continue
                seen.add(id(module))
            yield name, module
            children = [(f"{name}.{n}" if name else n, m) for n, m in module._modules.items()
                        if m is not None]
            stack.extend(reversed(children))

    def modules(self):
        for _, module in self.named_modules():
            yield module

    def named_children(self):
        for name, module in self._modules.items():
            if module is not None:
                yield name, module

    def children(self):
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry, recurse, prefix=""):
        seen = set()
        modules = self.named_modules(prefix) if recurse else [(prefix, self)]
        for module_name, module in modules:
            for name, value in getattr(module, registry).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        """(dotted name, parameter) pairs; a parameter shared by two modules appears once."""
        return self._named_members("_parameters", recurse, prefix)

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        return self._named_members("_buffers", recurse, prefix)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn):
        """Call ``fn(module)`` on every submodule and then on this one; returns self."""
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ modes and moves
    def train(self, mode: bool = True):
        """Training mode (batch statistics, dropout on); ``train(False)`` equals ``eval()``.

        Sets this module's flag and calls ``train(mode)`` on each child, as PyTorch does, so
        a submodule that overrides ``train`` (say, to keep frozen layers in eval) is obeyed.
        """
        object.__setattr__(self, "training", bool(mode))
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad = p.grad * 0

    def to(self, device=None, dtype=None):
        """Move parameters and buffers (in place, same objects) and/or cast floating ones."""
        if dtype is None and device is not None and not _is_device(device):
            device, dtype = None, device
        device = None if device is None else backend.normalize_device(device)
        dtype = backend.as_dtype(dtype)
        if dtype is not None and dtype.kind != "f":
            raise TypeError(f"Module.to() casts only to floating dtypes, got {dtype}")
        for t in list(self.parameters()) + list(self.buffers()):
            t.data = _moved(t.data, device, dtype)
            if t.grad is not None:
                t.grad = _moved(t.grad, device, dtype)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    # ------------------------------------------------------------------ state
    def state_dict(self, prefix: str = "") -> OrderedDict:
        """Parameters and persistent buffers as {dotted name: array} (sharing memory)."""
        return OrderedDict((k, t.data) for k, t in self._state_tensors(prefix).items())

    def _state_tensors(self, prefix: str = "") -> OrderedDict:
        state = OrderedDict()
        for module_name, module in self.named_modules(prefix, remove_duplicate=False):
            dot = module_name + "." if module_name else ""
            for name, p in module._parameters.items():
                if p is not None:
                    state[dot + name] = p
            for name, b in module._buffers.items():
                if b is not None and name not in module._non_persistent:
                    state[dot + name] = b
        return state

    def load_state_dict(self, state_dict, strict: bool = True) -> IncompatibleKeys:
        """Copy arrays (or tensors) into the parameters and buffers of the same names.

        With ``strict`` a missing or unexpected key is an error; a wrong shape always is.
        The error lists every offending key at once.
        """
        own = self._state_tensors()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        wrong_shape = [f"{k}: checkpoint {tuple(_array_of(state_dict[k]).shape)} vs model "
                       f"{own[k].shape}" for k in own
                       if k in state_dict and tuple(_array_of(state_dict[k]).shape) != own[k].shape]
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if wrong_shape:
            problems.append("wrong shapes: " + "; ".join(wrong_shape))
        if problems:
            raise RuntimeError(f"load_state_dict for {type(self).__name__} failed: "
                           + " | ".join(problems))
        for key, target in own.items():
            if key in state_dict:
                value = backend.to_device(_array_of(state_dict[key]), target.device)
                target.data = value.astype(target.dtype, copy=True)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = []
        for name, module in self._modules.items():
            child = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


def _as_buffer(name, value):
    if value is None or isinstance(value, Tensor):
        return value
    if hasattr(value, "shape"):
        return Tensor(value)
    raise TypeError(f"buffer {name!r} must be a tensor, an array or None, got {type(value).__name__}")


def _array_of(value):
    if isinstance(value, Tensor):
        return value.data
    return value if hasattr(value, "shape") else np.asarray(value)


def _is_device(value):
    return isinstance(value, str) and value.split(":")[0].lower() in backend.DEVICES


def _moved(array, device, dtype):
    if dtype is not None and array.dtype.kind == "f" and array.dtype != dtype:
        array = array.astype(dtype)
    if device is not None:
        array = backend.to_device(array, device)
    return array
