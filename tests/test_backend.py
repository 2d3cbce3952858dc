"""Devices and seeding (minidl/backend.py): mixed devices name both, a fake device keeps its
arrays, moving to CUDA without CuPy is a clear error, manual_seed reproduces.
"""
from __future__ import annotations

import numpy as np
import pytest

import minidl
import minidl.nn as nn


def f64(values, requires_grad=True):
    return minidl.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


class FakeCuda(np.ndarray):
    """A NumPy array that minidl.backend believes lives on the GPU."""


@pytest.fixture
def fake_cuda(monkeypatch):
    table = dict(minidl.backend._DEVICE_OF_TYPE)
    table[FakeCuda] = "cuda"
    monkeypatch.setattr(minidl.backend, "_DEVICE_OF_TYPE", table)
    return lambda values: minidl.Tensor(np.asarray(values, dtype=np.float64).view(FakeCuda))


def test_mixed_devices_raise_an_error_naming_both(fake_cuda):
    gpu = fake_cuda([1.0, 2.0])
    cpu = f64([3.0, 4.0], requires_grad=False)
    assert gpu.device == "cuda" and cpu.device == "cpu"
    with pytest.raises(RuntimeError, match=r"Add: expected all tensors on the same device, "
                                           r"but found tensors on cuda and cpu"):
        gpu + cpu
    with pytest.raises(RuntimeError, match=r"Mul: .*same device.*cpu and cuda"):
        cpu * gpu
    with pytest.raises(RuntimeError, match=r"MatMul: .*on cpu and cuda"):
        cpu @ gpu


def test_same_fake_device_computes_and_stays_on_it(fake_cuda):
    a, b = fake_cuda([1.0, 2.0]), fake_cuda([3.0, 4.0])
    c = a * b
    assert c.device == "cuda"
    np.testing.assert_array_equal(np.asarray(c.data), [3.0, 8.0])


def test_backward_grad_on_another_device(fake_cuda):
    x = fake_cuda([1.0, 2.0]).requires_grad_()
    with pytest.raises(RuntimeError, match=r"grad is on cpu but the tensor is on cuda"):
        (x * 2).backward(np.ones(2))


def test_to_cuda_without_cupy_is_a_clear_error():
    if minidl.cuda_is_available():
        pytest.skip("a GPU is available here")
    with pytest.raises(RuntimeError, match=r"device 'cuda' is not available"):
        minidl.tensor([1.0, 2.0]).to("cuda")
    with pytest.raises(RuntimeError, match=r"device 'cuda' is not available"):
        nn.Linear(2, 2).to("cuda")
    with pytest.raises(ValueError, match=r"unknown device 'tpu'"):
        minidl.backend.normalize_device("tpu")


def test_manual_seed_makes_randn_and_init_reproducible():
    minidl.manual_seed(123)
    a = minidl.randn(4, 5).numpy().copy()
    la = nn.Linear(5, 3)
    minidl.manual_seed(123)
    b = minidl.randn(4, 5).numpy().copy()
    lb = nn.Linear(5, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la.weight.data, lb.weight.data)
    np.testing.assert_array_equal(la.bias.data, lb.bias.data)
    minidl.manual_seed(124)
    assert not np.array_equal(minidl.randn(4, 5).numpy(), a)


def test_rng_state_round_trip():
    minidl.manual_seed(7)
    minidl.randn(3)
    state = minidl.get_rng_state()
    first = minidl.rand(5).numpy().copy()
    minidl.set_rng_state(state)
    np.testing.assert_array_equal(minidl.rand(5).numpy(), first)
