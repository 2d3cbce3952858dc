"""Raw-array kernels and the registry that picks an implementation.

Every hot op has up to three implementations with the same signature, one module each:

* ``reference``: vectorised array code that runs unchanged on NumPy and CuPy (im2col +
  GEMM, loops over kernel offsets). The readable definition and the oracle in tests.
* ``numba``: fused CPU kernels compiled with Numba (parallel where it pays).
* ``cuda``: Numba-CUDA kernels on CuPy arrays.

Kernels take and return arrays, never tensors. The autograd Functions ask ``get(name, x)``
for the kernel to call; the choice follows ``use(...)``/``MINIDL_KERNELS``:

* ``"reference"``: always the reference kernel;
* ``"numba"``: the Numba kernel where one exists (an error if Numba is not installed);
* ``"auto"`` (default): per op, the implementation measured fastest on this kind of
  machine (``FASTEST``); on a GPU the CUDA kernel where one exists.
"""
from __future__ import annotations

import importlib
import os

from .. import backend
from . import reference

CHOICES = ("auto", "reference", "numba")

# Which CPU implementation won in benchmarks/RESULTS.md, per kernel (missing: reference).
# Average pooling and LRN stay with NumPy: on the benchmarked shapes its whole-array
# operations (SIMD power for LRN's b^-beta) beat the Numba loops.
_NUMBA_WINS = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight",
               "max_pool2d_forward", "max_pool2d_backward", "batch_norm_forward_train",
               "batch_norm_backward_train", "batch_norm_forward_eval", "batch_norm_backward_eval",
               "dropout_forward", "dropout_backward", "dropout2d_forward", "dropout2d_backward")
FASTEST = {name: "numba" for name in _NUMBA_WINS}

_modules = {"reference": reference}
_setting = os.environ.get("MINIDL_KERNELS", "auto")
if _setting not in CHOICES:
    raise ValueError(f"MINIDL_KERNELS={_setting!r}: expected one of {CHOICES}")


def _load(name):
    """The implementation module, imported on first use; None when it cannot load here."""
    if name not in _modules:
        try:
            _modules[name] = importlib.import_module(f".{name}_kernels", __name__)
        except ImportError:
            _modules[name] = None
    return _modules[name]


def available() -> list:
    """The implementations that can run on this machine."""
    names = ["reference"]
    if _load("numba") is not None:
        names.append("numba")
    if backend.cuda_is_available() and _load("cuda") is not None:
        names.append("cuda")
    return names


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
        if name == "numba" and _load("numba") is None:
            raise RuntimeError("numba kernels are not available: Numba is not installed")
        self._previous = _setting
        _setting = name

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        global _setting
        _setting = self._previous
        return False


def get(name: str, array):
    """The kernel ``name`` to run on ``array``'s device under the current setting."""
    if backend.device_of(array) == "cuda":
        return _pick(("cuda", "reference"), name)
    if _setting == "reference":
        return getattr(reference, name)
    if _setting == "numba":
        return _pick(("numba", "reference"), name)
    return _pick((FASTEST.get(name, "reference"), "reference"), name)


def _pick(order, name):
    for implementation in order:
        module = _load(implementation)
        kernel = getattr(module, name, None) if module is not None else None
        if kernel is not None:
            return kernel
    raise AttributeError(f"no kernel named {name!r}")
