"""Shared test set-up: Hypothesis profiles and the optional PyTorch oracle.

Profiles (choose with HYPOTHESIS_PROFILE): "ci" (the default; bounded so the whole suite
stays under 10 minutes on two cores), "dev" (more examples), "thorough" (many more).
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minidl

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
