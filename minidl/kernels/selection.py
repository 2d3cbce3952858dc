"""Which implementation of an op family's kernels runs: ``use``, ``current`` and
``KernelFamily``.

Every op family (``conv``, ``pooling``, ...) is a package with one module per
implementation, all with the same kernel names and signatures:

* ``reference.py``: vectorised array code that runs unchanged on NumPy and CuPy; the
  readable definition and the oracle of the tests;
* ``numba_cpu.py``: fused CPU kernels compiled with Numba;
* ``cuda.py``: Numba-CUDA kernels on CuPy arrays (imported only when a CUDA array arrives,
  because loading ``numba.cuda`` is slow).

The package's ``__init__`` builds one ``KernelFamily`` from them, and a Function asks it
for the module to call: ``conv.KERNELS.for_array(x).conv2d_forward(...)``. Which one
that is follows the global setting (``use(...)`` or the ``MINIDL_KERNELS`` variable):

* ``"reference"``: the reference module;
* ``"numba"``: the Numba module;
* ``"auto"`` (the default): the family's ``auto`` choice, the implementation that won in
  the benchmarks for each kernel (benchmarks/RESULTS.md);

and arrays on the GPU always get the CUDA module. Building a family checks that every
implementation defines every kernel of the reference module with the same parameters, so
a missing or misspelt kernel is an error when minidl is imported, not at the first call.
"""
from __future__ import annotations

import inspect
import os

from .. import backend

CHOICES = ("auto", "reference", "numba")

_setting = os.environ.get("MINIDL_KERNELS", "auto")
if _setting not in CHOICES:
    raise ValueError(f"MINIDL_KERNELS={_setting!r}: expected one of {CHOICES}")


def current() -> str:
    """The active setting: "auto", "reference" or "numba"."""
    return _setting


class use:
    """Select kernels globally (``kernels.use("numba")``) or for a block::

        with minidl.kernels.use("reference"):
            y = model(x)
    """

    def __init__(self, name: str):
        global _setting
        if name not in CHOICES:
            raise ValueError(f"unknown kernel choice {name!r}: expected one of {CHOICES}")
        self._previous = _setting
        _setting = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _setting
        _setting = self._previous
        return False


class KernelFamily:
    """One op family's implementations, and the rule that picks one for an array.

    ``reference``, ``numba`` and ``auto`` are modules (or namespaces) holding every kernel
    the reference module lists in ``__all__``; ``load_cuda`` imports and returns the CUDA
    module (None: the family has no CUDA kernels and the reference kernels run on CuPy).
    """

    def __init__(self, reference, numba=None, auto=None, load_cuda=None):
        self.kernel_names = tuple(reference.__all__)
        self.reference = reference
        self.numba = self._checked(numba or reference)
        self.auto = self._checked(auto or self.numba)
        self._load_cuda = load_cuda
        self._cuda = None

    def for_array(self, array):
        """The module whose kernels run on ``array`` under the current setting."""
        if backend.device_of(array) == "cuda":
            return self.cuda
        if _setting == "reference":
            return self.reference
        if _setting == "numba":
            return self.numba
        return self.auto

    @property
    def cuda(self):
        """The CUDA kernels, imported (and checked) on first use."""
        if self._cuda is None:
            self._cuda = self.reference if self._load_cuda is None else self._checked(
                self._load_cuda())
        return self._cuda

    def _checked(self, implementation):
        """``implementation``, after checking it has every kernel with the reference's
        parameters."""
        for name in self.kernel_names:
            expected = inspect.signature(getattr(self.reference, name)).parameters
            kernel = getattr(implementation, name, None)
            if kernel is None:
                raise ImportError(f"{_name(implementation)} has no kernel {name!r}, which "
                                  f"{_name(self.reference)} defines")
            found = inspect.signature(kernel).parameters
            if list(found) != list(expected):
                raise ImportError(f"{_name(implementation)}.{name} takes ({', '.join(found)}), "
                                  f"but the reference kernel takes ({', '.join(expected)})")
        return implementation


def _name(implementation) -> str:
    return getattr(implementation, "__name__", repr(implementation))


__all__ = ["CHOICES", "KernelFamily", "current", "use"]
