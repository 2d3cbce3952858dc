"""Choosing kernels (minidl/kernels/selection.py): ``use``/``current``/``available``, what each
setting runs, the import-time checks of a family, and the same training curve under the
reference and the Numba kernels."""
from __future__ import annotations

import types

import numpy as np
import pytest

import minidl
import minidl.functional as F
import minidl.nn as nn
from minidl.kernels import FAMILIES, conv, normalization, pooling
from minidl.kernels.selection import KernelFamily


def test_selection_api():
    assert {"reference", "numba"} <= set(minidl.kernels.available())
    array = np.zeros(1)
    with minidl.kernels.use("reference"):
        assert minidl.kernels.current() == "reference"
        assert conv.KERNELS.for_array(array) is conv.reference
        with minidl.kernels.use("numba"):
            assert conv.KERNELS.for_array(array) is conv.numba_cpu
        assert minidl.kernels.current() == "reference"
    with pytest.raises(ValueError, match="unknown kernel choice"):
        minidl.kernels.use("fastest")


def test_auto_takes_each_kernel_from_the_measured_winner():
    """benchmarks/RESULTS.md: Numba wins max pooling and batch norm, NumPy average pooling
    and LRN."""
    with minidl.kernels.use("auto"):
        auto = pooling.KERNELS.for_array(np.zeros(1))
        assert auto.max_pool2d_forward is pooling.numba_cpu.max_pool2d_forward
        assert auto.avg_pool2d_forward is pooling.reference.avg_pool2d_forward
        norms = normalization.KERNELS.for_array(np.zeros(1))
        assert norms.batch_norm_forward_train is normalization.numba_cpu.batch_norm_forward_train
        assert norms.local_response_norm_forward is normalization.reference.local_response_norm_forward


@pytest.mark.parametrize("name, family", sorted(FAMILIES.items()))
def test_every_implementation_has_every_kernel_of_its_family(name, family):
    for implementation in (family.reference, family.numba, family.auto):
        for kernel in family.kernel_names:
            assert callable(getattr(implementation, kernel)), (name, kernel)


def _reference_module():
    def square_forward(x, power):
        return x ** power
    return types.SimpleNamespace(__name__="toy.reference", __all__=["square_forward"],
                                 square_forward=square_forward)


def test_a_missing_kernel_is_an_error_when_the_family_is_built():
    fast = types.SimpleNamespace(__name__="toy.numba_cpu")
    with pytest.raises(ImportError, match="toy.numba_cpu has no kernel 'square_forward'"):
        KernelFamily(_reference_module(), numba=fast)


def test_a_kernel_with_other_parameters_is_an_error_when_the_family_is_built():
    fast = types.SimpleNamespace(__name__="toy.numba_cpu", square_forward=lambda x, p: x ** p)
    with pytest.raises(ImportError, match=r"square_forward takes \(x, p\), but the reference "
                                          r"kernel takes \(x, power\)"):
        KernelFamily(_reference_module(), numba=fast)


def _train_small_cnn(choice, steps=6):
    """A small CNN with every fast op, trained a few steps; returns the loss curve."""
    minidl.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16),
        nn.ReLU(), nn.LocalResponseNorm(3), nn.AvgPool2d(2), nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(16 * 4 * 4, 4))
    opt = minidl.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.standard_normal((16, 3, 16, 16)).astype(np.float32))
    y = minidl.tensor(rng.integers(0, 4, 16))
    losses = []
    with minidl.kernels.use(choice):
        for _ in range(steps):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
    return np.array(losses)


def test_training_curve_is_the_same_under_reference_and_numba():
    reference, fast = _train_small_cnn("reference"), _train_small_cnn("numba")
    assert reference[-1] < reference[0]
    np.testing.assert_allclose(fast, reference, rtol=1e-4)
