"""How Numba's threads share the two cores with OpenBLAS's (see benchmarks/RESULTS.md).

A conv layer alternates an OpenBLAS GEMM with a parallel Numba kernel (im2col, col2im).
Both libraries keep their worker threads busy-waiting for a while after a parallel region,
and on a two-core machine a spinning thread of one steals a core from the other. Measured
on the CI-class machine (benchmarks/threads.py): OpenMP's default active waiting makes
the alternation many times slower; Numba's "workqueue" layer is about 3x slower than the
two parts alone; the OpenMP layer with passive waiting costs nothing extra. So minidl asks
for the OpenMP layer with OMP_WAIT_POLICY=passive, unless the user chose otherwise.
"""
from __future__ import annotations

import os


def configure() -> None:
    """Choose Numba's threading layer and waiting policy before its first parallel launch."""
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")  # read when libgomp is loaded
    import numba
    if "NUMBA_THREADING_LAYER" not in os.environ:
        numba.config.THREADING_LAYER_PRIORITY = ["omp", "tbb", "workqueue"]
