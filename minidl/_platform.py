"""Process-wide performance settings that must be made before NumPy and Numba load their
native libraries, so ``minidl/__init__.py`` runs ``configure()`` before importing NumPy.
Standard library only. Every setting yields to a value the user already put in the
environment. The measurements behind them are in benchmarks/RESULTS.md.

* OPENBLAS_CORETYPE: NumPy's OpenBLAS is built for many CPUs and picks its kernels at load
  time. On the AMD EPYC (Zen 4) machines minidl is benchmarked on it picks its AVX2
  ("Haswell"/"Zen") kernels, although the CPU has AVX-512; forcing the AVX-512 "SkylakeX"
  kernels raises float32 GEMM from about 210 to 280-400 GFLOP/s. Set only when the CPU
  reports the AVX-512 subsets those kernels use.
* OMP_WAIT_POLICY=passive: Numba's OpenMP threads otherwise busy-wait after each parallel
  kernel and steal a core from the OpenBLAS GEMM that follows (two-core machines).
"""
from __future__ import annotations

import os
import sys

AVX512_FLAGS = {"avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"}


def cpu_flags() -> set:
    """The CPU feature flags from /proc/cpuinfo (empty where that file does not exist)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def configure() -> None:
    """Apply the settings above, unless the user chose otherwise or it is too late."""
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    numpy_loaded = "numpy" in sys.modules
    if not numpy_loaded and "OPENBLAS_CORETYPE" not in os.environ and AVX512_FLAGS <= cpu_flags():
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
