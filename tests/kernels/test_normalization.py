"""Normalisation kernels (minidl/kernels/normalization): batch norm (training and evaluation,
forward and backward, with and without the affine parameters and for every set of needed
gradients) and local response norm, Numba and CUDA against the reference; the CUDA
reduction split over several blocks per channel."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl import backend
from minidl.kernels import normalization
from tests.kernels.parity import CUDA, DTYPES, IMPLEMENTATIONS, backward_twice, close, unchanged

R = normalization.reference
NEEDS = st.sampled_from([(True, True, True), (True, False, False), (False, True, True)])


@st.composite
def norm_shapes(draw, side):
    """(N, C) to (N, C, H, W), at most ``side`` per axis (and N >= 2)."""
    rank = draw(st.integers(2, 4))
    return tuple(draw(st.integers(1 if i else 2, side)) for i in range(rank))


@IMPLEMENTATIONS
def test_batch_norm_parity(implementation):
    K = implementation.kernels(normalization.KERNELS)

    @implementation.settings("batch_norm")
    @given(norm_shapes(implementation.limits(4, 5)), st.booleans(), NEEDS, DTYPES)
    def check(shape, affine, needs, dtype):
        rng = np.random.default_rng(3)
        x = (3 + 2 * rng.standard_normal(shape)).astype(dtype)
        w = rng.standard_normal(shape[1]).astype(dtype) if affine else None
        b = rng.standard_normal(shape[1]).astype(dtype) if affine else None
        dx, dw, db = implementation.on_device(x, w, b)
        y, mean, var = K.batch_norm_forward_train(dx, dw, db, 1e-5)
        for mine, theirs in zip((y, mean, var), R.batch_norm_forward_train(x, w, b, 1e-5)):
            close(mine, theirs, dtype)
        mean, var = backend.to_numpy(mean), backend.to_numpy(var)
        dmean, dvar = implementation.on_device(mean, var)
        close(K.batch_norm_forward_eval(dx, dw, db, dmean, dvar, 1e-5),
              R.batch_norm_forward_eval(x, w, b, mean, var, 1e-5), dtype)
        gy = rng.standard_normal(shape).astype(dtype)
        (dgy,) = implementation.on_device(gy)
        needs = needs if affine else (True, False, False)
        for fast, reference in ((K.batch_norm_backward_train, R.batch_norm_backward_train),
                                (K.batch_norm_backward_eval, R.batch_norm_backward_eval)):
            mine = backward_twice(lambda: fast(dgy, dx, dw, dmean, dvar, 1e-5, needs))
            for a, c in zip(mine, reference(gy, x, w, mean, var, 1e-5, needs)):
                assert (a is None) == (c is None)
                if a is not None:
                    close(a, c, dtype)
        unchanged((dx, x), (dgy, gy), (dmean, mean), (dvar, var))

    check()


@IMPLEMENTATIONS
def test_local_response_norm_parity(implementation):
    K = implementation.kernels(normalization.KERNELS)
    channels, side = implementation.limits((6, 3), (9, 6))

    @implementation.settings("lrn")
    @given(st.integers(1, 3), st.integers(1, channels), st.integers(1, side), st.integers(1, 7),
           DTYPES)
    def check(n, c, hw, size, dtype):
        rng = np.random.default_rng(4)
        x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
        (dx,) = implementation.on_device(x)
        y, scale = K.local_response_norm_forward(dx, size, 1e-2, 0.75, 2.0)
        ref_y, ref_scale = R.local_response_norm_forward(x, size, 1e-2, 0.75, 2.0)
        close(y, ref_y, dtype)
        close(scale, ref_scale, dtype)
        gy = rng.standard_normal(x.shape).astype(dtype)
        (dgy,) = implementation.on_device(gy)
        close(backward_twice(lambda: K.local_response_norm_backward(dgy, dx, y, scale, size,
                                                                    1e-2, 0.75)),
              R.local_response_norm_backward(gy, x, ref_y, ref_scale, size, 1e-2, 0.75), dtype)
        unchanged((dx, x), (dgy, gy))

    check()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_batch_norm_sums_over_several_blocks_per_channel(dtype):
    """The two-level reduction with a channel split over several blocks (forced on a tiny
    input by allowing 2 threads a block) gives the channel sums, the same bits each run."""
    cuda_kernels = CUDA.kernels(normalization.KERNELS)
    rng = np.random.default_rng(7)
    u, v = (rng.standard_normal((3, 2, 32)).astype(dtype) for _ in range(2))
    u0, v0 = rng.standard_normal(2), rng.standard_normal(2)
    arrays = CUDA.on_device(u, u0, v, v0)
    first = [backend.to_numpy(a) for a in cuda_kernels.channel_sums(*arrays, max_threads=2)]
    again = [backend.to_numpy(a) for a in cuda_kernels.channel_sums(*arrays, max_threads=2)]
    a = u.astype(np.float64) - u0[:, None]
    expected = (a.sum(axis=(0, 2)), (a * (v - v0[:, None])).sum(axis=(0, 2)))
    for mine, repeat, theirs in zip(first, again, expected):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)
        assert np.array_equal(mine, repeat)
