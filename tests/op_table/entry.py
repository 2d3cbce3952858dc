"""One entry of the op table: everything the battery needs to test a differentiable op."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import strategies as st

SEED = 1234  # the battery calls minidl.manual_seed(SEED) before every call of an op


@dataclass(frozen=True)
class OpEntry:
    """A differentiable op, as the battery (tests/test_op_battery.py) tests it.

    * ``draw`` draws ``(arrays, params)``: the float64 arrays the op is differentiated with
      respect to, and everything else (hyper-parameters, targets, indices);
    * ``fn(params, *tensors)`` runs minidl's op on tensors made from the arrays;
    * ``oracle(params, *arrays)``: an independent NumPy computation of the forward (naive
      loops for the window ops), or None; ``exact``: the op only moves values, so the
      forward must equal the oracle bit for bit;
    * ``composed(params, *tensors)``: the composition of simpler differentiable ops that a
      fused Function replaces (its executable definition), or None;
    * ``torch(torch, params, *torch_tensors)``: the same op in PyTorch, or None;
    * ``kernels``: the op runs through a kernel family with a Numba implementation, whose
      results must agree with the reference kernels';
    * ``gradcheck``: "full" (every Jacobian entry) or "fast" (random directions).
    """

    name: str
    draw: st.SearchStrategy
    fn: Callable
    oracle: Callable | None = None
    exact: bool = False
    composed: Callable | None = None
    torch: Callable | None = None
    kernels: bool = False
    gradcheck: str = "full"

    def __repr__(self):
        return self.name


def inputs(*strategies, params=None):
    """A ``draw`` strategy from array strategies and an optional params strategy."""
    return st.tuples(st.tuples(*strategies), st.none() if params is None else params)
