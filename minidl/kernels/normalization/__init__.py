"""Normalisation kernels: batch norm (training and evaluation) and local response norm.

``auto`` takes each kernel from the implementation that won in benchmarks/RESULTS.md: the
fused Numba batch norm, and NumPy for LRN (its whole-array b^-beta beats the Numba loop).
"""
from . import numba_cpu, reference
from ..selection import KernelFamily


class Auto:
    """The kernels "auto" runs on the CPU."""

    batch_norm_forward_train = numba_cpu.batch_norm_forward_train
    batch_norm_backward_train = numba_cpu.batch_norm_backward_train
    batch_norm_forward_eval = numba_cpu.batch_norm_forward_eval
    batch_norm_backward_eval = numba_cpu.batch_norm_backward_eval
    local_response_norm_forward = reference.local_response_norm_forward
    local_response_norm_backward = reference.local_response_norm_backward


def _load_cuda():
    from . import cuda
    return cuda


KERNELS = KernelFamily(reference, numba=numba_cpu, auto=Auto, load_cuda=_load_cuda)
