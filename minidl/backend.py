"""Array backends, devices, dtypes and seeding.

minidl stores every tensor's values in a plain array: a ``numpy.ndarray`` on the
``"cpu"`` device and a ``cupy.ndarray`` on the ``"cuda"`` device. This module is
the only place that imports CuPy; everything above it asks for the array module
of an array (``get_array_module``) and writes code that runs on either.

Seeding lives here too. ``manual_seed(s)`` resets two sources of randomness:

* a ``numpy.random.Generator`` used for parameter initialisation, data shuffling
  and anything else drawn on the host (``host_rng()``);
* a counter for the counter-based random streams used by dropout: every call to
  ``next_random_stream()`` returns a fresh 64-bit key derived from (seed, counter),
  and the mask element ``i`` of that call is a pure function of (key, i), so the
  NumPy, Numba and CUDA kernels draw identical masks.
"""
from __future__ import annotations

import numpy as np

try:  # CuPy is optional: everything works without it.
    import cupy as _cupy

    try:
        _CUDA_AVAILABLE = _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # CuPy installed but no driver or no GPU.
        _CUDA_AVAILABLE = False
except ImportError:
    _cupy = None
    _CUDA_AVAILABLE = False

DEVICES = ("cpu", "cuda")

# Array types and the device they live on. Tests may register a stand-in type.
_DEVICE_OF_TYPE = {np.ndarray: "cpu"}
if _cupy is not None:
    _DEVICE_OF_TYPE[_cupy.ndarray] = "cuda"


def cuda_is_available() -> bool:
    """True when CuPy is installed and sees at least one GPU."""
    return _CUDA_AVAILABLE


def device_of(array) -> str:
    """The device (``"cpu"`` or ``"cuda"``) an array lives on."""
    device = _DEVICE_OF_TYPE.get(type(array))
    if device is not None:
        return device
    for array_type, name in _DEVICE_OF_TYPE.items():
        if isinstance(array, array_type):
            return name
    return "cpu"


def get_array_module(*arrays):
    """``numpy`` or ``cupy``, whichever holds the given arrays (or tensors)."""
    if _cupy is None:
        return np
    for a in arrays:
        if isinstance(a, _cupy.ndarray) or isinstance(getattr(a, "data", None), _cupy.ndarray):
            return _cupy
    return np


def normalize_device(device) -> str:
    """Accept ``"cpu"``, ``"cuda"``, ``"cuda:0"`` or None (meaning cpu); return the name."""
    if device is None:
        return "cpu"
    name = str(device).split(":")[0].lower()
    if name not in DEVICES:
        raise ValueError(f"unknown device {device!r}: expected one of {DEVICES}")
    return name


def check_device_available(device: str) -> None:
    """Raise a clear error when ``device`` cannot be used on this machine."""
    if device == "cuda" and not _CUDA_AVAILABLE:
        reason = "CuPy is not installed" if _cupy is None else "CuPy found no CUDA GPU"
        raise RuntimeError(f"device 'cuda' is not available: {reason} (pip install minidl[cuda])")


def to_device(array, device: str):
    """Return ``array`` on ``device``, copying only when it has to move."""
    device = normalize_device(device)
    if device_of(array) == device:
        return array
    check_device_available(device)
    if device == "cuda":
        return _cupy.asarray(array)
    return _cupy.asnumpy(array)


def to_numpy(array) -> np.ndarray:
    """The array as a NumPy array on the host."""
    if isinstance(array, np.ndarray):
        return array
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return np.asarray(array)


# ----------------------------------------------------------------------------- dtypes
_default_dtype = np.dtype(np.float32)


def get_default_dtype() -> np.dtype:
    """The floating dtype given to tensors made from Python floats (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype) -> None:
    """Set the floating dtype for tensors made from Python floats (float32 or float64)."""
    global _default_dtype
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"default dtype must be float32 or float64, got {dtype}")
    _default_dtype = dtype


def as_dtype(dtype):
    """Turn a dtype given as a NumPy dtype, type or string into a ``numpy.dtype`` (None passes)."""
    if dtype is None:
        return None
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"not a dtype: {dtype!r}") from None


# ----------------------------------------------------------------------------- seeding
_seed = 0
_stream_counter = 0
_host_rng = np.random.default_rng(0)


def manual_seed(seed: int) -> None:
    """Make everything random in minidl reproducible from ``seed``."""
    global _seed, _stream_counter, _host_rng
    seed = int(seed)
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    _seed = seed
    _stream_counter = 0
    _host_rng = np.random.default_rng(seed)
    np.random.seed(seed % 2**32)
    if _CUDA_AVAILABLE:
        _cupy.random.seed(seed % 2**32)


def initial_seed() -> int:
    """The seed last given to ``manual_seed`` (0 at start-up)."""
    return _seed


def host_rng() -> np.random.Generator:
    """The host random generator (parameter initialisation, shuffling, host-side noise)."""
    return _host_rng


def get_rng_state() -> dict:
    """Everything needed to continue the random streams exactly (for checkpoints)."""
    return {"seed": _seed, "stream_counter": _stream_counter,
            "host_rng": _host_rng.bit_generator.state}


def set_rng_state(state: dict) -> None:
    """Restore a state returned by ``get_rng_state``."""
    global _seed, _stream_counter
    _seed = int(state["seed"])
    _stream_counter = int(state["stream_counter"])
    _host_rng.bit_generator.state = state["host_rng"]


_MASK64 = (1 << 64) - 1


def mix64(z: int) -> int:
    """SplitMix64's finaliser on a Python int: a bijection of 64-bit words that avalanches."""
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _MASK64
    return z ^ (z >> 31)


def next_random_stream() -> int:
    """A fresh 64-bit key for one counter-based random draw (one dropout call).

    The key is ``mix64(seed * golden + counter)``; the counter advances by one per call,
    so two runs from the same ``manual_seed`` draw the same sequence of keys.
    """
    global _stream_counter
    key = mix64((_seed * 0x9E3779B97F4A7C15 + _stream_counter) & _MASK64)
    _stream_counter += 1
    return key
