"""Dropout kernels: the counter-based mask (a SplitMix64 hash of key and element index) applied
to the input and, regenerated from the key, to the gradient. The three implementations
draw the same mask bit for bit; "auto" runs the Numba kernels.
"""
from . import numba_cpu, reference
from ..selection import KernelFamily


def _load_cuda():
    from . import cuda
    return cuda


KERNELS = KernelFamily(reference, numba=numba_cpu, load_cuda=_load_cuda)
