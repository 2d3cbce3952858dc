"""Reading PyTorch checkpoints into NumPy arrays (for ``Module.load_state_dict``).

    state = minidl.io.load_torch_state_dict("resnet18-f37072fd.pth")
    minidl.models.resnet18().load_state_dict(state)
"""
from __future__ import annotations

from collections import OrderedDict


def load_torch_state_dict(path):
    """The state dict saved by ``torch.save(model.state_dict(), path)`` (a .pth or .pt file)
    as an OrderedDict {name: numpy array}. Needs PyTorch; only tensors are loaded
    (``weights_only=True``), so the file cannot run code."""
    try:
        import torch
    except ImportError:
        raise ImportError("load_torch_state_dict needs PyTorch (the 'torch' package), which "
                          "is not installed") from None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict (a dict of tensors), got "
                         f"{type(state).__name__}")
    return OrderedDict((name, tensor.detach().numpy()) for name, tensor in state.items())
