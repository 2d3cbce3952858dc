"""The common base of datasets held in memory as uint8 image arrays."""
from __future__ import annotations

import os

import numpy as np

from .. import backend
from .dataset import Dataset


def default_root(folder: str) -> str:
    """Where a dataset's files live by default: ``$MINIDL_DATA_DIR/<folder>``.

    Without ``MINIDL_DATA_DIR`` the data directory is ``~/.minidl/data``.
    """
    base = os.environ.get("MINIDL_DATA_DIR") or os.path.join(os.path.expanduser("~"), ".minidl", "data")
    return os.path.join(base, folder)


class ImageArrayDataset(Dataset):
    """Images in ``data`` (uint8, (N, C, H, W)) with class indices in ``targets`` (int64).

    Sample ``i`` is ``(image, label)``: the image as float32 in [0, 1], passed through
    ``transform(image, rng)`` when there is one, and the label as a Python int.
    Subclasses fill in ``data``, ``targets`` and ``classes``.
    """

    data: np.ndarray
    targets: np.ndarray
    classes: list
    transform = None

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index):
        return self.get(index)

    def get(self, index, rng=None):
        return self.image(index, rng), int(self.targets[index])

    def image(self, index, rng=None) -> np.ndarray:
        """Image ``index`` as float32 in [0, 1], transformed (drawing from ``rng``)."""
        image = self.data[index].astype(np.float32) * np.float32(1 / 255)
        if self.transform is not None:
            image = self.transform(image, backend.host_rng() if rng is None else rng)
        return image

    def __repr__(self):
        shape = "x".join(str(s) for s in self.data.shape[1:])
        return f"{type(self).__name__}({len(self)} images of {shape}, {len(self.classes)} classes)"
