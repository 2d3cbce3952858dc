"""Locally connected (unshared) convolution kernels: im2col, then one small product per output
position. Only the reference implementation exists; it runs on NumPy and CuPy.
"""
from . import reference
from ..selection import KernelFamily

KERNELS = KernelFamily(reference)
