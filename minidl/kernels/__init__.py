"""Raw-array kernels, one package per op family, and the rule that picks an implementation.

Kernels take and return arrays, never tensors: they are what a benchmark times. Each family
package (``conv``, ``pooling``, ``normalization``, ``dropout``, ``local``, ``resample``)
holds a ``reference`` module (vectorised NumPy/CuPy), where it pays a ``numba_cpu`` module
(fused Numba CPU kernels) and a ``cuda`` module (Numba-CUDA), and a ``KERNELS`` object
(``selection.KernelFamily``) that a Function asks for the module to call::

    from ..kernels import conv
    y = conv.KERNELS.for_array(x).conv2d_forward(x, weight, bias, ...)

``use("auto" | "reference" | "numba")`` (or ``MINIDL_KERNELS``) chooses globally or for a
block; see ``selection``.
"""
from __future__ import annotations

from .. import backend
from . import numba_threads

numba_threads.configure()  # before any Numba kernel is compiled or launched

from . import conv, dropout, local, normalization, pooling, resample  # noqa: E402
from .selection import CHOICES, KernelFamily, current, use  # noqa: E402

FAMILIES = {"conv": conv.KERNELS, "dropout": dropout.KERNELS, "local": local.KERNELS,
            "normalization": normalization.KERNELS, "pooling": pooling.KERNELS,
            "resample": resample.KERNELS}


def available() -> list:
    """The implementations that can run on this machine."""
    names = ["reference", "numba"]
    if backend.cuda_is_available():
        names.append("cuda")
    return names


__all__ = ["CHOICES", "FAMILIES", "KernelFamily", "available", "conv", "current", "dropout",
           "local", "normalization", "pooling", "resample", "use"]
