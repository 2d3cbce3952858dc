"""DataLoader (minidl/data/loader.py): batch sizes, types and dtypes, collation, seeded shuffling
and per-sample randomness, resuming mid-epoch, prefetching, errors reaching the caller.
"""
from __future__ import annotations

import threading
import time
import numpy as np
import pytest
import minidl
from minidl.data import (ArrayDataset, DataLoader,
                         Dataset, Shapes, default_collate,
                         sample_rng)
from minidl.data import transforms as T


def batches_as_arrays(loader):
    """One epoch of a loader as a list of tuples of NumPy arrays."""
    return [tuple(np.asarray(t.data) for t in batch) for batch in loader]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)


class RandomDataset(Dataset):
    """Sample i is (a random vector drawn from the sample's generator, i)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def get(self, index, rng=None):
        return rng.standard_normal(3).astype(np.float32), index


@pytest.mark.skipif(not minidl.cuda_is_available(), reason="no CUDA GPU")
def test_batches_on_the_gpu():
    data = ArrayDataset(np.ones((6, 2), np.float32), np.arange(6))
    x, y = next(iter(DataLoader(data, 3, device="cuda", prefetch=1)))
    assert x.device == "cuda" and y.device == "cuda" and y.dtype == np.int64


def test_batches_have_the_right_sizes_types_and_dtypes():
    images = np.arange(10 * 3 * 2 * 2, dtype=np.float32).reshape(10, 3, 2, 2)
    labels = np.arange(10)
    loader = DataLoader(ArrayDataset(images, labels), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(y) for _, y in batches] == [4, 4, 2]
    x, y = batches[0]
    assert isinstance(x, minidl.Tensor) and x.dtype == np.float32 and x.shape == (4, 3, 2, 2)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([b[0].data for b in batches]), images)
    dropped = DataLoader(ArrayDataset(images, labels), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [len(y) for _, y in dropped] == [4, 4]


def test_default_collate_recurses_into_tuples_and_dicts():
    samples = [({"x": np.ones(2, np.float32), "n": i}, 0.5, "name") for i in range(3)]
    batch = default_collate(samples)
    assert batch[0]["x"].shape == (3, 2) and batch[0]["n"].dtype == np.int64
    assert batch[1].dtype == np.float32 and batch[2] == ["name"] * 3
    loaded = next(iter(DataLoader(samples, batch_size=3)))
    assert isinstance(loaded[0]["x"], minidl.Tensor) and loaded[2] == ["name"] * 3


def test_shuffle_is_a_permutation_reproducible_from_the_seed():
    data = ArrayDataset(np.arange(50))

    def epochs(loader, count):
        return [np.concatenate([b[0].data for b in loader]) for _ in range(count)]

    a = epochs(DataLoader(data, 8, shuffle=True, seed=3), 3)
    b = epochs(DataLoader(data, 8, shuffle=True, seed=3), 3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
        assert sorted(x) == list(range(50))
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    other = epochs(DataLoader(data, 8, shuffle=True, seed=4), 1)
    assert not np.array_equal(a[0], other[0])
    np.testing.assert_array_equal(epochs(DataLoader(data, 8), 1)[0], np.arange(50))


def test_set_epoch_and_state_dict_resume_the_sequence():
    data = ArrayDataset(np.arange(20))
    loader = DataLoader(data, 5, shuffle=True, seed=7)
    full = [batches_as_arrays(loader) for _ in range(3)]
    assert loader.epoch == 3
    resumed = DataLoader(data, 5, shuffle=True, seed=7)
    resumed.set_epoch(2)
    assert_same_batches(batches_as_arrays(resumed), full[2])
    restored = DataLoader(data, 5, shuffle=True, seed=0)
    restored.load_state_dict({"seed": 7, "epoch": 1})
    assert_same_batches(batches_as_arrays(restored), full[1])
    assert restored.state_dict() == {"seed": 7, "epoch": 2}


def test_manual_seed_fixes_the_loader_seed():
    data = ArrayDataset(np.arange(30))
    minidl.manual_seed(5)
    a = batches_as_arrays(DataLoader(data, 10, shuffle=True))
    minidl.manual_seed(5)
    b = batches_as_arrays(DataLoader(data, 10, shuffle=True))
    minidl.manual_seed(6)
    c = batches_as_arrays(DataLoader(data, 10, shuffle=True))
    assert_same_batches(a, b)
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_sample_randomness_depends_only_on_seed_epoch_and_index():
    data = RandomDataset(12)
    one = batches_as_arrays(DataLoader(data, 1, seed=1))
    seven = batches_as_arrays(DataLoader(data, 7, seed=1))
    np.testing.assert_array_equal(np.concatenate([b[0] for b in one]), np.concatenate([b[0] for b in seven]))
    shuffled = DataLoader(data, 4, shuffle=True, seed=1)
    for x, index in batches_as_arrays(shuffled):
        for row, i in zip(x, index):
            np.testing.assert_array_equal(row, sample_rng(1, 0, int(i)).standard_normal(3).astype(np.float32))
    loader = DataLoader(data, 12, seed=1)
    first_epoch, second_epoch = batches_as_arrays(loader), batches_as_arrays(loader)
    assert not np.array_equal(first_epoch[0][0], second_epoch[0][0])  # new epoch, new draws


@pytest.mark.parametrize("prefetch", [1, 3])
def test_prefetch_gives_the_same_batches(prefetch):
    augment = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.GaussianNoise(0.05)])
    data = Shapes(40, transform=augment)
    plain = DataLoader(data, 8, shuffle=True, seed=2)
    ahead = DataLoader(data, 8, shuffle=True, seed=2, prefetch=prefetch)
    for _ in range(2):
        assert_same_batches(batches_as_arrays(ahead), batches_as_arrays(plain))


class FailingDataset(Dataset):
    def __len__(self):
        return 20

    def __getitem__(self, index):
        if index == 13:
            raise KeyError("sample 13 is broken")
        return np.float32(index)


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "minidl-prefetch"]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_dataset_errors_reach_the_caller(prefetch):
    loader = DataLoader(FailingDataset(), 4, prefetch=prefetch)
    seen = []
    with pytest.raises(KeyError, match="sample 13 is broken"):
        for batch in loader:
            seen.append(batch)
    assert len(seen) == 3
    assert not prefetch_threads()


def test_prefetch_thread_stops_when_iteration_stops_early():
    class Slow(Dataset):
        def __len__(self):
            return 100

        def __getitem__(self, index):
            time.sleep(0.001)
            return np.float32(index)

    iterator = iter(DataLoader(Slow(), 2, prefetch=2))
    next(iterator)
    time.sleep(0.05)  # the thread fills the queue and waits for room
    assert len(prefetch_threads()) == 1
    iterator.close()
    assert not prefetch_threads()
    for _ in DataLoader(Slow(), 2, prefetch=1):
        break
    assert not prefetch_threads()
