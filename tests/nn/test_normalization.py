"""The BatchNorm layers against PyTorch: running statistics, state dicts, both modes.
"""
from __future__ import annotations

import numpy as np
import pytest
import minidl
from tests.helpers import leaf
import minidl.nn as nn


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm2d_running_statistics_match_torch(torch, momentum):
    ours = nn.BatchNorm2d(3, momentum=momentum, dtype=np.float64)
    theirs = torch.nn.BatchNorm2d(3, momentum=momentum).double()
    rng = np.random.default_rng(4)
    for step in range(5):
        x = rng.standard_normal((4, 3, 5, 6)) * (step + 1) + step
        ours(leaf(x, False))
        theirs(torch.tensor(x))
    for name, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[name], value.numpy(), rtol=1e-12,
                                   err_msg=name)
    assert ours.num_batches_tracked.dtype == np.int64 and int(ours.num_batches_tracked) == 5

    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 4, 4))
    np.testing.assert_allclose(ours(leaf(x, False)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10, atol=1e-12)


def test_batchnorm_loads_a_torch_state_dict(torch):
    theirs = torch.nn.BatchNorm2d(4)
    with torch.no_grad():
        for tensor in (theirs.weight, theirs.bias):
            tensor.copy_(torch.randn(4))
    theirs(torch.randn(8, 4, 3, 3))
    theirs.eval()
    ours = nn.BatchNorm2d(4).eval()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(5).standard_normal((2, 4, 3, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(minidl.tensor(x)).numpy(),
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 6)])
@pytest.mark.parametrize("track", [True, False])
def test_batchnorm1d_matches_torch_in_both_modes(torch, shape, track):
    ours = nn.BatchNorm1d(3, track_running_stats=track, dtype=np.float64)
    theirs = torch.nn.BatchNorm1d(3, track_running_stats=track).double()
    rng = np.random.default_rng(6)
    for training in (True, True, False):
        ours.train(training)
        theirs.train(training)
        x = rng.standard_normal(shape)
        np.testing.assert_allclose(ours(leaf(x, False)).numpy(),
                                   theirs(torch.tensor(x)).detach().numpy(), rtol=1e-10,
                                   atol=1e-12)
    assert list(ours.state_dict()) == list(theirs.state_dict())
