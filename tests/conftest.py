"""Shared test set-up: the CUDA simulator switch, Hypothesis profiles and the optional
PyTorch oracle.

Profiles (choose with HYPOTHESIS_PROFILE): "ci" (the default; bounded so the whole suite
stays under 10 minutes on two cores), "dev" (more examples), "thorough" (many more).

Without a usable GPU (CuPy installed and seeing a device) the CUDA kernels run on the
Numba CUDA simulator. Numba reads NUMBA_ENABLE_CUDASIM once, when it is first imported, so
the switch comes before anything here imports minidl (which imports Numba); an explicit
NUMBA_ENABLE_CUDASIM in the environment wins.
"""
import importlib.util
import os


def _gpu_usable() -> bool:
    """True when CuPy is installed and sees a CUDA device (checked without importing Numba)."""
    if importlib.util.find_spec("cupy") is None:
        return False
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # CuPy installed but no driver or no GPU.
        return False


if not _gpu_usable():
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import minidl  # noqa: E402  (first: it chooses OpenBLAS's kernels before NumPy loads)
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same random state."""
    minidl.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(scope="session")
def torch():
    """The PyTorch module, or skip the test when it is not installed."""
    return pytest.importorskip("torch")
