"""ArrayDataset, Subset, ConcatDataset and random_split (minidl/data/dataset.py).
"""
from __future__ import annotations

import numpy as np
import pytest
from minidl.data import (ArrayDataset, ConcatDataset, Subset, random_split)


def test_array_dataset_subset_concat_and_random_split():
    x, y = np.arange(10, dtype=np.float32), np.arange(10) * 2
    data = ArrayDataset(x, y, transform=lambda v, rng: v + 100)
    assert len(data) == 10 and data[3] == (103.0, 6)
    with pytest.raises(ValueError, match="different lengths"):
        ArrayDataset(x, y[:5])
    sub = Subset(data, [4, 1])
    assert len(sub) == 2 and sub[0] == (104.0, 8) and sub[-1] == (101.0, 2)
    both = data + sub
    assert isinstance(both, ConcatDataset) and len(both) == 12 and both[11] == (101.0, 2)
    with pytest.raises(IndexError):
        both[12]
    parts = random_split(data, [6, 4], seed=0)
    assert [len(p) for p in parts] == [6, 4]
    assert sorted(np.concatenate([p.indices for p in parts])) == list(range(10))
    np.testing.assert_array_equal(random_split(data, [6, 4], seed=0)[1].indices, parts[1].indices)
    assert [len(p) for p in random_split(data, [0.5, 0.3, 0.2])] == [5, 3, 2]
    with pytest.raises(ValueError, match="add up"):
        random_split(data, [3, 3])
