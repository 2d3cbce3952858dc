"""Datasets: indexable collections of samples, and ways to combine them.

A dataset is anything with ``__len__`` and ``__getitem__`` (PyTorch's map-style datasets).
minidl's datasets add one method, ``get(index, rng)``: the same sample, with any random
transform drawing its randomness from ``rng``. The ``DataLoader`` calls ``get`` with a
generator derived from (seed, epoch, index), so a random augmentation is a pure function
of those three numbers: prefetching, resuming or re-running gives the same data.
"""
from __future__ import annotations

import bisect
import math

import numpy as np

from .. import backend
from ..autograd import Tensor


class Dataset:
    """Base class of map-style datasets: override ``__len__`` and ``__getitem__``.

    Datasets with random transforms also override ``get`` so that the randomness can be
    supplied by the caller; ``dataset[i]`` is then ``dataset.get(i)``.
    """

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def get(self, index, rng: np.random.Generator | None = None):
        """Sample ``index``, drawing any randomness from ``rng``.

        The default ignores ``rng`` and returns ``self[index]``, which is right for datasets
        without random transforms.
        """
        return self[index]

    def __add__(self, other: "Dataset") -> "ConcatDataset":
        return ConcatDataset([self, other])


def _as_array(a) -> np.ndarray:
    """A NumPy array from an array, a minidl tensor or nested Python data."""
    return backend.to_numpy(a.data) if isinstance(a, Tensor) else np.asarray(a)


class ArrayDataset(Dataset):
    """Samples are the rows of equally long arrays (PyTorch's ``TensorDataset``).

    ``ArrayDataset(images, labels)[i]`` is ``(images[i], labels[i])``. ``transform``, if given,
    is applied to the first array's row as ``transform(row, rng)``.
    """

    def __init__(self, *arrays, transform=None):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.arrays = tuple(_as_array(a) for a in arrays)
        lengths = {len(a) for a in self.arrays}
        if len(lengths) != 1:
            raise ValueError(f"arrays have different lengths: {[len(a) for a in self.arrays]}")
        self.transform = transform

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        return self.get(index)

    def get(self, index, rng=None):
        first, *rest = (a[index] for a in self.arrays)
        if self.transform is not None:
            first = self.transform(first, backend.host_rng() if rng is None else rng)
        return (first, *rest)


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64).reshape(-1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        return self.get(index)

    def get(self, index, rng=None):
        return get_sample(self.dataset, int(self.indices[index]), rng)


class ConcatDataset(Dataset):
    """Several datasets one after the other."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        return self.get(index)

    def get(self, index, rng=None):
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} samples")
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which > 0 else 0
        return get_sample(self.datasets[which], index - start, rng)


def get_sample(dataset, index: int, rng=None):
    """``dataset.get(index, rng)`` for minidl datasets, ``dataset[index]`` for anything else."""
    if isinstance(dataset, Dataset):
        return dataset.get(index, rng)
    return dataset[index]


def _split_lengths(lengths, n: int) -> list[int]:
    """Integer lengths summing to ``n`` from integers or from fractions summing to 1.

    Fractions are floored and the remaining samples handed out one each, first split first.
    """
    if all(isinstance(x, (int, np.integer)) for x in lengths):
        lengths = [int(x) for x in lengths]
    elif math.isclose(sum(lengths), 1.0, abs_tol=1e-6):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    else:
        raise ValueError(f"lengths must be integers or fractions summing to 1, got {lengths}")
    if any(x < 0 for x in lengths) or sum(lengths) != n:
        raise ValueError(f"lengths {lengths} do not add up to the dataset's {n} samples")
    return lengths


def random_split(dataset, lengths, seed: int | None = None) -> list[Subset]:
    """Split ``dataset`` at random into non-overlapping subsets of the given lengths.

    ``lengths`` are sample counts summing to ``len(dataset)`` or fractions summing to 1.
    The split is a permutation drawn from ``seed``; without one, a seed is drawn from
    ``minidl.backend.host_rng()`` (so ``minidl.manual_seed`` fixes it).
    """
    n = len(dataset)
    lengths = _split_lengths(list(lengths), n)
    if seed is None:
        seed = int(backend.host_rng().integers(2**63))
    order = np.random.default_rng(seed).permutation(n)
    ends = np.cumsum(lengths)
    return [Subset(dataset, order[end - length:end]) for length, end in zip(lengths, ends)]
