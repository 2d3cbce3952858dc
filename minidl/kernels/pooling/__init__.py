"""Pooling kernels: max and average pooling, unpooling and the adaptive poolings.

``auto`` takes each kernel from the implementation that won in benchmarks/RESULTS.md: the
Numba max pooling, and NumPy's whole-array sums for average pooling. The adaptive poolings
and unpooling have only reference kernels.
"""
from . import numba_cpu, reference
from ..selection import KernelFamily


class Auto:
    """The kernels "auto" runs on the CPU."""

    max_pool2d_forward = numba_cpu.max_pool2d_forward
    max_pool2d_backward = numba_cpu.max_pool2d_backward
    avg_pool2d_forward = reference.avg_pool2d_forward
    avg_pool2d_backward = reference.avg_pool2d_backward
    adaptive_avg_pool2d_forward = reference.adaptive_avg_pool2d_forward
    adaptive_avg_pool2d_backward = reference.adaptive_avg_pool2d_backward
    adaptive_max_pool2d_forward = reference.adaptive_max_pool2d_forward
    adaptive_max_pool2d_backward = reference.adaptive_max_pool2d_backward
    max_unpool2d_forward = reference.max_unpool2d_forward
    max_unpool2d_backward = reference.max_unpool2d_backward


def _load_cuda():
    from . import cuda
    return cuda


KERNELS = KernelFamily(reference, numba=numba_cpu, auto=Auto, load_cuda=_load_cuda)
