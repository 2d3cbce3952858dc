"""Numba-CUDA kernels against the reference kernels, forward and backward, float32 and
float64, over drawn configurations; repeated backward passes give identical bits; dropout
draws the reference mask bit for bit; and every kernel compiles to PTX for sm_80 and sm_90.

Where the kernels run:
* with CuPy and a GPU, on CuPy arrays (inputs moved with ``backend.to_device``, results
  compared on the host);
* otherwise on the Numba CUDA simulator (tests/conftest.py switches it on before Numba is
  imported), which runs every CUDA thread as a Python thread on NumPy arrays. It is slow,
  so the shapes are tiny and each test draws at most ``SIMULATOR_EXAMPLES`` examples.

The PTX tests run ``compile_ptx`` in a subprocess with the simulator off: compiling needs
NVVM (libNVVM and libdevice), not a GPU.
"""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from tests.conv_strategies import ConvConfig, conv_configs, pool_configs
from hypothesis import example, given, settings
from hypothesis import strategies as st
from numba import config as numba_config

from minidl import backend
from minidl.kernels import FAMILIES

R = type("R", (), {n: staticmethod(getattr(f.reference, n))
                   for f in FAMILIES.values() for n in f.kernel_names})
from minidl.kernels.normalization import cuda as normalization_cuda  # noqa: E402
K = type("K", (), {n: staticmethod(getattr(f.cuda, n)) for f in FAMILIES.values() for n in f.kernel_names})
K.PTX_SIGNATURES = [s for f in FAMILIES.values() if f.cuda is not f.reference
                    for s in f.cuda.PTX_SIGNATURES]

SIMULATOR = bool(numba_config.ENABLE_CUDASIM)
ON_GPU = backend.cuda_is_available() and not SIMULATOR
DEVICE = "cuda" if ON_GPU else "cpu"
runs_kernels = pytest.mark.skipif(not (SIMULATOR or ON_GPU),
                                  reason="no GPU and the CUDA simulator is off")

SIMULATOR_EXAMPLES = {"conv": 8, "pool": 12, "batch_norm": 8, "lrn": 10, "dropout": 10}
DTYPES = st.sampled_from([np.float32, np.float64])
TOLERANCE = {np.float32: dict(rtol=2e-5, atol=2e-5), np.float64: dict(rtol=1e-12, atol=1e-12)}


def examples(kind):
    """Tiny counts on the simulator; the profile's count on a GPU."""
    count = settings.default.max_examples
    return settings(max_examples=min(count, SIMULATOR_EXAMPLES[kind]) if SIMULATOR else count)


def on_device(*arrays):
    """Copies of the arrays where the kernels run (copies on the simulator too, so that
    the originals show whether a kernel wrote to its inputs)."""
    return [None if a is None else backend.to_device(a.copy(), DEVICE) for a in arrays]


def close(mine, reference, dtype):
    mine = backend.to_numpy(mine)
    assert mine.dtype == reference.dtype == dtype
    np.testing.assert_allclose(mine, reference, **TOLERANCE[dtype])


def backward_twice(fn):
    """Run a backward kernel twice on the same inputs: the bits must not change. Returns
    the first result, on the host (a tuple stays a tuple)."""
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
    """The kernels did not write to their inputs: each (device array, host original)."""
    for on_kernel, original in pairs:
        assert np.array_equal(backend.to_numpy(on_kernel), original)


# ------------------------------------------------------------------------------ parity
def _conv(batch, channels, outs, groups, kernel, stride, padding, dilation, size):
    return ConvConfig(batch, channels, outs, groups, kernel, stride, padding, dilation, (0, 0),
                      size)


@runs_kernels
@examples("conv")
@given(st.one_of(conv_configs(max_batch=2, max_channels=4, max_size=5, max_kernel=3),
                 conv_configs(max_batch=2, max_channels=3, max_size=5, max_kernel=3,
                              depthwise=True)), DTYPES)
# Always covered, whatever is drawn: grouped, depthwise with a channel multiplier, plain.
@example(_conv(2, 4, 4, 2, (3, 2), (2, 1), (1, 1), (1, 2), (5, 4)), np.float64)
@example(_conv(2, 2, 4, 2, (3, 3), (1, 2), (1, 2), (2, 1), (4, 5)), np.float32)
@example(_conv(2, 3, 2, 1, (3, 3), (1, 1), (1, 1), (1, 1), (4, 4)), np.float32)
def test_conv2d_parity(config, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(config.input_shape).astype(dtype)
    w = rng.standard_normal(config.weight_shape).astype(dtype)
    b = rng.standard_normal(config.out_channels).astype(dtype)
    conf = (config.stride, tuple((p, p) for p in config.padding), config.dilation,
            config.groups)
    dx, dw, db = on_device(x, w, b)
    y = K.conv2d_forward(dx, dw, db, *conf)
    close(y, R.conv2d_forward(x, w, b, *conf), dtype)
    gy = rng.standard_normal(y.shape).astype(dtype)
    (dgy,) = on_device(gy)
    close(backward_twice(lambda: K.conv2d_backward_input(dgy, dw, x.shape, *conf)),
          R.conv2d_backward_input(gy, w, x.shape, *conf), dtype)
    close(backward_twice(lambda: K.conv2d_backward_weight(dx, dgy, w.shape, *conf)),
          R.conv2d_backward_weight(x, gy, w.shape, *conf), dtype)
    unchanged((dx, x), (dw, w), (dgy, gy))


@runs_kernels
@examples("pool")
@given(pool_configs(max_batch=2, max_channels=2, max_size=6, max_kernel=3), DTYPES)
def test_max_pool_parity(config, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(config.input_shape).astype(dtype)
    conf = (config.kernel, config.stride, config.padding, config.dilation)
    (dx,) = on_device(x)
    y, idx = K.max_pool2d_forward(dx, *conf, config.ceil_mode)
    ref_y, ref_idx = R.max_pool2d_forward(x, *conf, config.ceil_mode)
    assert np.array_equal(backend.to_numpy(y), ref_y)
    assert np.array_equal(backend.to_numpy(idx), ref_idx)
    gy = rng.standard_normal(ref_y.shape).astype(dtype)
    (dgy,) = on_device(gy)
    close(backward_twice(lambda: K.max_pool2d_backward(dgy, idx, x.shape, *conf)),
          R.max_pool2d_backward(gy, ref_idx, x.shape, *conf), dtype)
    unchanged((dgy, gy), (idx, ref_idx))


@runs_kernels
def test_max_pool_nan_wins_and_a_padding_only_window_is_empty():
    """PyTorch's rule: a NaN is the max of its window; a window that holds only padding
    (here: the one-pixel row with dilation 2 and padding 1) gives -inf and index -1 and
    passes no gradient back."""
    x = np.array([[[[1.0, np.nan, 3.0, 2.0]]]], np.float32)
    conf = ((2, 2), (1, 2), (1, 1), (2, 1))
    (dx,) = on_device(x)
    y, idx = K.max_pool2d_forward(dx, *conf, False)
    ref_y, ref_idx = R.max_pool2d_forward(x, *conf, False)
    assert np.isneginf(ref_y).all() and (ref_idx == -1).all()
    np.testing.assert_array_equal(backend.to_numpy(y), ref_y)
    np.testing.assert_array_equal(backend.to_numpy(idx), ref_idx)
    (gy,) = on_device(np.ones(ref_y.shape, np.float32))
    assert not backend.to_numpy(K.max_pool2d_backward(gy, idx, x.shape, *conf)).any()
    y, idx = K.max_pool2d_forward(dx, (1, 2), (1, 1), (0, 0), (1, 1), False)
    np.testing.assert_array_equal(backend.to_numpy(idx), [[[[1, 1, 2]]]])
    assert np.isnan(backend.to_numpy(y)[0, 0, 0, :2]).all()


@runs_kernels
@examples("pool")
@given(pool_configs(max_batch=2, max_channels=2, max_size=6, max_kernel=3, dilation=False),
       st.booleans(), st.sampled_from([None, 3]), DTYPES)
def test_avg_pool_parity(config, count_include_pad, divisor_override, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(config.input_shape).astype(dtype)
    conf = (config.kernel, config.stride, config.padding)
    (dx,) = on_device(x)
    y = K.avg_pool2d_forward(dx, *conf, config.ceil_mode, count_include_pad, divisor_override)
    ref_y = R.avg_pool2d_forward(x, *conf, config.ceil_mode, count_include_pad,
                                 divisor_override)
    close(y, ref_y, dtype)
    gy = rng.standard_normal(ref_y.shape).astype(dtype)
    (dgy,) = on_device(gy)
    tail = (*conf, count_include_pad, divisor_override)
    close(backward_twice(lambda: K.avg_pool2d_backward(dgy, x.shape, *tail)),
          R.avg_pool2d_backward(gy, x.shape, *tail), dtype)
    unchanged((dgy, gy))


@st.composite
def norm_shapes(draw):
    """(N, C) to (N, C, H, W), at most 4 per axis (and N >= 2)."""
    rank = draw(st.integers(2, 4))
    return tuple(draw(st.integers(1 if i else 2, 4)) for i in range(rank))


@runs_kernels
@examples("batch_norm")
@given(norm_shapes(), st.booleans(),
       st.sampled_from([(True, True, True), (True, False, False), (False, True, True)]), DTYPES)
def test_batch_norm_parity(shape, affine, needs, dtype):
    rng = np.random.default_rng(3)
    x = (3 + 2 * rng.standard_normal(shape)).astype(dtype)
    w = rng.standard_normal(shape[1]).astype(dtype) if affine else None
    b = rng.standard_normal(shape[1]).astype(dtype) if affine else None
    dx, dw, db = on_device(x, w, b)
    y, mean, var = K.batch_norm_forward_train(dx, dw, db, 1e-5)
    for mine, theirs in zip((y, mean, var), R.batch_norm_forward_train(x, w, b, 1e-5)):
        close(mine, theirs, dtype)
    mean, var = backend.to_numpy(mean), backend.to_numpy(var)
    dmean, dvar = on_device(mean, var)
    close(K.batch_norm_forward_eval(dx, dw, db, dmean, dvar, 1e-5),
          R.batch_norm_forward_eval(x, w, b, mean, var, 1e-5), dtype)
    gy = rng.standard_normal(shape).astype(dtype)
    (dgy,) = on_device(gy)
    needs = needs if affine else (True, False, False)
    for kind in ("train", "eval"):
        mine = backward_twice(lambda: getattr(K, f"batch_norm_backward_{kind}")(
            dgy, dx, dw, dmean, dvar, 1e-5, needs))
        theirs = getattr(R, f"batch_norm_backward_{kind}")(gy, x, w, mean, var, 1e-5, needs)
        for a, c in zip(mine, theirs):
            assert (a is None) == (c is None)
            if a is not None:
                close(a, c, dtype)
    unchanged((dx, x), (dgy, gy), (dmean, mean), (dvar, var))


@runs_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_sums_over_several_blocks_per_channel(dtype):
    """The two-level reduction with a channel split over several blocks (forced on a tiny
    input by allowing 2 threads a block) gives the channel sums, the same bits each run."""
    rng = np.random.default_rng(7)
    u, v = (rng.standard_normal((3, 2, 32)).astype(dtype) for _ in range(2))
    u0, v0 = rng.standard_normal(2), rng.standard_normal(2)
    arrays = on_device(u, u0, v, v0)
    first = [backend.to_numpy(a) for a in normalization_cuda._channel_sums(*arrays, max_threads=2)]
    again = [backend.to_numpy(a) for a in normalization_cuda._channel_sums(*arrays, max_threads=2)]
    a = u.astype(np.float64) - u0[:, None]
    expected = (a.sum(axis=(0, 2)), (a * (v - v0[:, None])).sum(axis=(0, 2)))
    for mine, repeat, theirs in zip(first, again, expected):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-12)
        assert np.array_equal(mine, repeat)


@runs_kernels
@examples("lrn")
@given(st.integers(1, 2), st.integers(1, 6), st.integers(1, 3), st.integers(1, 5), DTYPES)
def test_local_response_norm_parity(n, c, hw, size, dtype):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
    (dx,) = on_device(x)
    y, scale = K.local_response_norm_forward(dx, size, 1e-2, 0.75, 2.0)
    ref_y, ref_scale = R.local_response_norm_forward(x, size, 1e-2, 0.75, 2.0)
    close(y, ref_y, dtype)
    close(scale, ref_scale, dtype)
    gy = rng.standard_normal(x.shape).astype(dtype)
    (dgy,) = on_device(gy)
    close(backward_twice(lambda: K.local_response_norm_backward(dgy, dx, y, scale, size,
                                                                1e-2, 0.75)),
          R.local_response_norm_backward(gy, x, ref_y, ref_scale, size, 1e-2, 0.75), dtype)
    unchanged((dx, x), (dgy, gy))


# The simulator runs the kernel's wrapping uint64 arithmetic on NumPy scalars, which warn
# on overflow; on a GPU it wraps silently, as the hash means it to.
@runs_kernels
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
@examples("dropout")
@given(st.sampled_from([(7,), (3, 5), (2, 3, 2, 3), (1, 1, 1, 1)]),
       st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), st.integers(0, 2 ** 64 - 1), DTYPES)
def test_dropout_draws_the_reference_mask(shape, p, key, dtype):
    x = np.random.default_rng(5).standard_normal(shape).astype(dtype) + 3
    (dx,) = on_device(x)
    pairs = [("dropout_forward", "dropout_backward")]
    if len(shape) >= 2:
        pairs.append(("dropout2d_forward", "dropout2d_backward"))
    for names in pairs:
        for name in names:
            assert np.array_equal(backend.to_numpy(getattr(K, name)(dx, p, key)),
                                  getattr(R, name)(x, p, key))


# ------------------------------------------------------------------------------- PTX
PTX_SCRIPT = textwrap.dedent('''
    """Compile every kernel in PTX_SIGNATURES to PTX for sm_80 and sm_90; print a JSON report.

    A kernel that calls a device function makes numba-cuda compile that device function
    for the current device's compute capability, and there is no device here: a stand-in
    that reports the compute capability being compiled for takes the device's place.
    """
    import json, types as pytypes

    import numba.cuda.dispatcher as dispatcher
    from numba import cuda, types

    from minidl.kernels import FAMILIES, cuda_common

    def name_of(kernel):
        return f"{kernel.py_func.__module__}.{kernel.py_func.__name__}"

    modules = [cuda_common] + [f.cuda for f in FAMILIES.values() if f.cuda is not f.reference]
    kernels = set()
    for module in modules:
        for obj in vars(module).values():
            if (isinstance(obj, dispatcher.CUDADispatcher)
                    and not obj.targetoptions.get("device")):
                kernels.add(name_of(obj))
    listed, floats, failures, compiled = [], {}, [], 0
    signatures_of = [s for m in modules for s in getattr(m, "PTX_SIGNATURES", [])]
    for kernel, signatures in signatures_of:
        listed.append(name_of(kernel))
        floats[name_of(kernel)] = sorted({str(t.dtype) for s in signatures for t in s
                                          if isinstance(t, types.Array)
                                          and t.dtype in (types.float32, types.float64)})
    for cc in ((8, 0), (9, 0)):
        dispatcher.get_current_device = lambda cc=cc: pytypes.SimpleNamespace(
            compute_capability=cc)
        for kernel, signatures in signatures_of:
            for signature in signatures:
                try:
                    ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=cc)
                    assert f".target sm_{cc[0]}{cc[1]}" in ptx, "wrong target"
                    compiled += 1
                except Exception as error:
                    failures.append(f"{name_of(kernel)}{signature} sm_{cc[0]}{cc[1]}: "
                                    f"{type(error).__name__}: {error}")
    print(json.dumps(dict(kernels=sorted(kernels), listed=listed, floats=floats,
                          failures=failures, compiled=compiled)))
''')


@pytest.fixture(scope="module")
def ptx_report():
    """The PTX script's report, run once with the simulator off."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    done = subprocess.run([sys.executable, "-c", PTX_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=600, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_cuda_kernel_has_ptx_signatures(ptx_report):
    """Every ``cuda.jit`` kernel of the package is in PTX_SIGNATURES, once, with float32 and
    float64 versions (a kernel that only ever sees float64, like the second level of the
    batch-norm reduction, has just that one)."""
    listed = ptx_report["listed"]
    assert sorted(listed) == ptx_report["kernels"]
    assert len(set(listed)) == len(listed)
    for name, floats in ptx_report["floats"].items():
        assert floats in (["float32", "float64"], ["float64"]), name


def test_every_cuda_kernel_compiles_to_ptx_for_sm80_and_sm90(ptx_report):
    assert ptx_report["failures"] == []
    signatures = sum(len(s) for _, s in K.PTX_SIGNATURES)
    assert ptx_report["compiled"] == 2 * signatures


@pytest.mark.skipif(not ON_GPU, reason="needs a GPU: the simulator does not type arguments")
def test_launches_use_the_ptx_signatures():
    """On a GPU, the argument types every kernel is launched with (float32 and float64 runs
    of each public kernel) are ones PTX_SIGNATURES lists, so the PTX test covers them."""
    rng = np.random.default_rng(6)
    conv = ((1, 1), ((1, 1), (1, 1)), (1, 1))
    for dtype in (np.float32, np.float64):
        x, g = on_device(*(rng.standard_normal((2, 2, 4, 4)).astype(dtype) for _ in range(2)))
        for weight_shape, groups in (((2, 2, 3, 3), 1), ((4, 1, 3, 3), 2)):
            (w,) = on_device(rng.standard_normal(weight_shape).astype(dtype))
            y = K.conv2d_forward(x, w, None, *conv, groups)
            K.conv2d_backward_input(y, w, x.shape, *conv, groups)
            K.conv2d_backward_weight(x, y, w.shape, *conv, groups)
        y, idx = K.max_pool2d_forward(x, (2, 2), (2, 2), (1, 1), (1, 1), False)
        K.max_pool2d_backward(y, idx, x.shape, (2, 2), (2, 2), (1, 1), (1, 1))
        y = K.avg_pool2d_forward(x, (2, 2), (2, 2), (1, 1), True, False, None)
        K.avg_pool2d_backward(y, x.shape, (2, 2), (2, 2), (1, 1), False, None)
        y, mean, var = K.batch_norm_forward_train(x, None, None, 1e-5)
        K.batch_norm_forward_eval(x, None, None, mean, var, 1e-5)
        for kind in ("train", "eval"):
            getattr(K, f"batch_norm_backward_{kind}")(g, x, None, mean, var, 1e-5,
                                                      (True, True, True))
        y, scale = K.local_response_norm_forward(x, 3, 1e-2, 0.75, 2.0)
        K.local_response_norm_backward(g, x, y, scale, 3, 1e-2, 0.75)
        K.dropout_forward(x, 0.5, 7)
        K.dropout2d_forward(x, 0.5, 7)
    for kernel, signatures in K.PTX_SIGNATURES:
        assert kernel.overloads, kernel.py_func.__name__
        for launched in kernel.overloads:
            assert tuple(launched) in {tuple(s) for s in signatures}, \
                (kernel.py_func.__name__, launched)
