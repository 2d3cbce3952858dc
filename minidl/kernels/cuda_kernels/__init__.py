"""Numba-CUDA kernels on CuPy arrays: the same signatures as ``..reference``.

The registry (``minidl.kernels.get``) picks these for arrays on the "cuda" device. Arrays
reach the kernels through ``__cuda_array_interface__`` (no copies), outputs are allocated
with the array module of the inputs, and the GEMMs of convolution use that module's
``matmul``. With NumPy arrays the same code runs on the Numba CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1``), which is how the tests check it on machines without a GPU.

Determinism: backward passes are gathers (one thread per element of the result, summing its
contributions in a fixed order) and reductions are fixed trees in shared memory, never
atomics, so running a kernel twice on the same inputs gives the same bits.

``PTX_SIGNATURES`` lists every kernel with the argument types it is compiled for (float32
and float64 versions); the tests compile each one to PTX for sm_80 and sm_90.
"""
from . import conv, dropout, norm, pool
from .conv import *
from .dropout import *
from .norm import *
from .pool import *

PTX_SIGNATURES = conv.PTX_SIGNATURES + pool.PTX_SIGNATURES + norm.PTX_SIGNATURES \
    + dropout.PTX_SIGNATURES
