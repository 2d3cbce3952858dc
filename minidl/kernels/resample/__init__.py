"""Interpolation kernels (nearest and bilinear) as separable interpolation matrices. Only the
reference implementation exists; it runs on NumPy and CuPy.
"""
from . import reference
from ..selection import KernelFamily

KERNELS = KernelFamily(reference)
