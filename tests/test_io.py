"""minidl.io: reading PyTorch checkpoints (written by torch.save) into NumPy arrays."""
import sys

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl.io import load_torch_state_dict


def test_state_dict_written_by_torch_save_loads_into_a_minidl_model(torch, tmp_path):
    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    with torch.no_grad():
        reference[1].running_mean.uniform_(-1, 1)
        reference[1].running_var.uniform_(0.5, 2)
    path = tmp_path / "net.pth"
    torch.save(reference.state_dict(), path)

    state = load_torch_state_dict(path)
    assert list(state) == list(reference.state_dict())
    for name, value in reference.state_dict().items():
        assert isinstance(state[name], np.ndarray) and state[name].dtype == value.numpy().dtype
        np.testing.assert_array_equal(state[name], value.numpy())

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    model.load_state_dict(state, strict=True)
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    with torch.no_grad():
        expected = reference.eval()(torch.from_numpy(x)).numpy()
    with minidl.no_grad():
        np.testing.assert_allclose(model.eval()(minidl.tensor(x)).numpy(), expected,
                                   rtol=1e-5, atol=1e-6)


def test_a_file_that_is_not_a_state_dict_is_refused(torch, tmp_path):
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(ValueError, match="expected a state dict"):
        load_torch_state_dict(path)


def test_without_torch_the_error_is_one_line_naming_the_package(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes "import torch" fail
    with pytest.raises(ImportError) as info:
        load_torch_state_dict(tmp_path / "missing.pth")
    assert "'torch'" in str(info.value) and "\n" not in str(info.value)
