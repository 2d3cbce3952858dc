"""The optimiser base class: parameter groups, per-parameter state, state dicts."""
from __future__ import annotations

import copy

from .. import backend
from ..autograd import Tensor, no_grad


class Optimizer:
    """Holds ``param_groups`` (dicts with "params" and hyper-parameters) and ``state``.

    Subclasses implement ``_update(param, grad, state, group)`` on raw arrays; ``step()``
    calls it for every parameter that has a gradient.
    """

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state = {}
        self.param_groups = []
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor) or not p.requires_grad:
                raise TypeError("optimizers take tensors that require grad (model.parameters())")
        existing = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in existing for p in group["params"]):
            raise ValueError("a parameter appears in more than one parameter group")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None if set_to_none or p.grad is None else p.grad * 0

    @no_grad()
    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.shape != p.shape:
                    raise RuntimeError(f"gradient of shape {p.grad.shape} for a parameter of "
                                       f"shape {p.shape}")
                state = self.state.setdefault(p, {})
                self._update(p.data, p.grad, state, group)

    def _update(self, param, grad, state, group):
        raise NotImplementedError

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict:
        """{"state": {index: {name: value}}, "param_groups": [...]} with parameters as indices."""
        index = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": copy.deepcopy(groups)}

    def load_state_dict(self, state_dict: dict) -> None:
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)):
            raise ValueError("optimizer state_dict does not match this optimizer's parameter groups")
        by_index = {}
        for saved, own in zip(groups, self.param_groups):
            for i, p in zip(saved["params"], own["params"]):
                by_index[i] = p
            own.update({k: copy.deepcopy(v) for k, v in saved.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            self.state[p] = {k: _like(v, p.data) for k, v in s.items()}


def _like(value, param):
    """State arrays come back on the parameter's device; numbers stay numbers."""
    if hasattr(value, "shape") and value.shape == param.shape:
        return backend.to_device(value, backend.device_of(param)).astype(param.dtype, copy=True)
    return value
