"""Convolution kernels: conv2d forward, input gradient and weight gradient.

``reference`` (im2col + one GEMM per group), ``numba_cpu`` (channel-major im2col as shifted
copies, 1x1 convolutions as plain GEMMs, a direct depthwise kernel) and ``cuda``. "auto"
runs the Numba kernels, which won every conv row of benchmarks/RESULTS.md.
"""
from . import numba_cpu, reference
from ..selection import KernelFamily


def _load_cuda():
    from . import cuda
    return cuda


KERNELS = KernelFamily(reference, numba=numba_cpu, load_cuda=_load_cuda)
