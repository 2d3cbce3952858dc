"""Every CUDA kernel compiles to PTX for sm_80 and sm_90 (in a subprocess with the simulator
off: compiling needs NVVM, libNVVM and libdevice, not a GPU), every ``cuda.jit`` kernel is
listed in its module's PTX_SIGNATURES with float32 and float64 versions, and on a GPU the
kernels are launched only with those signatures."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest

from minidl.kernels import FAMILIES
from tests.kernels.parity import CUDA, ON_GPU

K = types.SimpleNamespace(**{n: getattr(f.cuda, n) for f in FAMILIES.values()
                             for n in f.kernel_names}) if ON_GPU else None
PTX_SIGNATURES = [s for f in FAMILIES.values() if f.cuda is not f.reference
                  for s in f.cuda.PTX_SIGNATURES]


def on_device(*arrays):
    return CUDA.on_device(*arrays)


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
                          text=True, timeout=600, cwd=Path(__file__).resolve().parents[2])
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
    signatures = sum(len(s) for _, s in PTX_SIGNATURES)
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
    for kernel, signatures in PTX_SIGNATURES:
        assert kernel.overloads, kernel.py_func.__name__
        for launched in kernel.overloads:
            assert tuple(launched) in {tuple(s) for s in signatures}, \
                (kernel.py_func.__name__, launched)
