"""torchvision as an optional oracle for the model zoo tests.

torchvision's compiled extension does not load with the CPU build of PyTorch used here
(install it with ``pip install --no-deps torchvision==0.28.0``). Its model code does not need
the extension; only importing ``torchvision._meta_registrations`` fails, so an empty module
takes that name first.
"""
import sys
import types

import pytest


def torchvision_models():
    """``torchvision.models``, or skip the calling test when torch or torchvision is missing."""
    torch = pytest.importorskip("torch")
    # PyTorch's OpenMP threads and OpenBLAS's (NumPy) spin-wait against each other on two
    # cores: alternating minidl and torch forwards made one torchvision forward take 30 s.
    torch.set_num_threads(1)
    sys.modules.setdefault("torchvision._meta_registrations",
                           types.ModuleType("torchvision._meta_registrations"))
    try:
        import torchvision.models
    except ImportError as error:
        pytest.skip(f"torchvision is not usable: {error}")
    return torchvision.models
