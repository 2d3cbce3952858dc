"""Which threading layer Numba's parallel kernels use (see benchmarks/RESULTS.md).

A conv layer alternates an OpenBLAS GEMM with a parallel Numba kernel (im2col, col2im). On
a two-core machine a thread that busy-waits after its parallel region steals a core from
the other library. Measured (``python -m minidl.bench.threads``): the OpenMP layer with
active waiting makes the alternation several times slower; the "workqueue" layer costs
about half again; the OpenMP layer with passive waiting (OMP_WAIT_POLICY=passive, which
``minidl._platform`` sets before any library loads) costs nothing extra. So minidl asks
for the OpenMP layer first, unless NUMBA_THREADING_LAYER says otherwise.
"""
from __future__ import annotations

import os


def configure() -> None:
    """Prefer the OpenMP layer; must run before Numba's first parallel launch."""
    import numba
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
