"""The one harness of the kernel-parity tests: a fast implementation against the reference
kernels of its family, forward and backward, float32 and float64, with repeated backward
passes giving identical bits and inputs left unchanged.

Where the fast kernels run:

* "numba": on NumPy arrays, as the CPU always does;
* "cuda": with CuPy and a GPU, on CuPy arrays (moved with ``backend.to_device``, compared
  on the host); otherwise on the Numba CUDA simulator (tests/conftest.py switches it on
  before Numba is imported), which runs every CUDA thread as a Python thread. It is slow, so
  its tests draw small shapes and at most ``SIMULATOR_EXAMPLES`` examples.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from numba import config as numba_config

from minidl import backend

SIMULATOR = bool(numba_config.ENABLE_CUDASIM)
ON_GPU = backend.cuda_is_available() and not SIMULATOR
SIMULATOR_EXAMPLES = {"conv": 8, "pool": 12, "batch_norm": 8, "lrn": 10, "dropout": 10}
DTYPES = st.sampled_from([np.float32, np.float64])
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


@dataclass(frozen=True)
class Implementation:
    """A fast implementation as the parity tests run it."""

    name: str
    device: str
    slow: bool  # the simulator: small shapes, few examples

    def __str__(self):
        return self.name

    def kernels(self, family):
        """This implementation's module of a kernel family (``minidl.kernels.conv.KERNELS``)."""
        if self.name == "cuda" and not (SIMULATOR or ON_GPU):
            pytest.skip("no GPU and the CUDA simulator is off")
        return family.numba if self.name == "numba" else family.cuda

    def settings(self, kind):
        """Hypothesis settings: the profile's example count, or a tiny one on the simulator."""
        count = settings.default.max_examples
        return settings(max_examples=min(count, SIMULATOR_EXAMPLES[kind]) if self.slow else count)

    def limits(self, small, large):
        """Strategy limits: the small ones on the simulator."""
        return small if self.slow else large

    def on_device(self, *arrays):
        """Copies of the arrays where the kernels run (copies on the host too, so that the
        originals show whether a kernel wrote to its inputs)."""
        return [None if a is None else backend.to_device(a.copy(), self.device) for a in arrays]


NUMBA = Implementation("numba", "cpu", slow=False)
CUDA = Implementation("cuda", "cuda" if ON_GPU else "cpu", slow=SIMULATOR)
IMPLEMENTATIONS = pytest.mark.parametrize("implementation", [NUMBA, CUDA], ids=str)


def close(mine, reference, dtype):
    mine = backend.to_numpy(mine)
    assert mine.dtype == reference.dtype == dtype
    np.testing.assert_allclose(mine, reference, **TOLERANCE[dtype])


def backward_twice(fn):
    """Run a backward kernel twice on the same inputs: the bits must not change. Returns
    the first result on the host (a tuple stays a tuple)."""
    first, second = fn(), fn()
    single = not isinstance(first, tuple)
    first, second = ((first,), (second,)) if single else (first, second)
    first = tuple(None if a is None else backend.to_numpy(a) for a in first)
    for a, b in zip(first, second):
        assert (a is None) == (b is None)
        if a is not None:
            assert np.array_equal(a, backend.to_numpy(b))
    return first[0] if single else first


def unchanged(*pairs):
    """The kernels did not write to their inputs: each (array the kernel saw, original)."""
    for seen, original in pairs:
        assert np.array_equal(backend.to_numpy(seen), original)
