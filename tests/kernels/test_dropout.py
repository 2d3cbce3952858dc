"""Dropout kernels (minidl/kernels/dropout): the Numba and CUDA kernels draw the reference
mask bit for bit, also over shapes that span several of the Numba kernel's parallel blocks."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl import backend
from minidl.kernels import dropout
from tests.kernels.parity import DTYPES, IMPLEMENTATIONS

R = dropout.reference
SHAPES = [(7,), (3, 5), (2, 3, 2, 3), (1, 1, 1, 1)]
LARGE = [(40_000,), (3, 7, 40, 50)]  # several parallel blocks of the Numba kernel


# The simulator runs the kernel's wrapping uint64 arithmetic on NumPy scalars, which warn
# on overflow; on a GPU and in Numba it wraps silently, as the hash means it to.
@IMPLEMENTATIONS
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_dropout_draws_the_reference_mask(implementation):
    K = implementation.kernels(dropout.KERNELS)
    shapes = SHAPES + ([] if implementation.slow else LARGE)

    @implementation.settings("dropout")
    @given(st.sampled_from(shapes), st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]),
           st.integers(0, 2 ** 64 - 1), DTYPES)
    def check(shape, p, key, dtype):
        x = np.random.default_rng(5).standard_normal(shape).astype(dtype) + 3
        (dx,) = implementation.on_device(x)
        pairs = [(K.dropout_forward, R.dropout_forward), (K.dropout_backward, R.dropout_backward)]
        if len(shape) >= 2:
            pairs += [(K.dropout2d_forward, R.dropout2d_forward),
                      (K.dropout2d_backward, R.dropout2d_backward)]
        for fast, reference in pairs:
            assert np.array_equal(backend.to_numpy(fast(dx, p, key)), reference(x, p, key))

    check()
