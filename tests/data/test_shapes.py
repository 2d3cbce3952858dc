"""The built-in Shapes data set (minidl/data/shapes.py): seeded, balanced, boxes and masks.
"""
from __future__ import annotations

import time
import numpy as np
import pytest
from minidl.data import (DataLoader,
                         Shapes)


def test_shapes_is_deterministic_in_the_seed():
    a, b = Shapes(50, seed=1), Shapes(50, seed=1)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.array_equal(a.data, Shapes(50, seed=2).data)
    assert not np.array_equal(a.data, Shapes(50, seed=1, train=False).data)


def test_shapes_classes_are_balanced():
    data = Shapes(203)
    assert len(data.classes) >= 6 and len(set(data.classes)) == len(data.classes)
    counts = np.bincount(data.targets, minlength=len(data.classes))
    assert counts.max() - counts.min() <= 1
    assert Shapes(10, classes=3).classes == ["circle", "square", "triangle"]
    two = Shapes(10, classes=["ring", "cross"])
    assert two.classes == ["ring", "cross"] and set(two.targets) == {0, 1}
    with pytest.raises(ValueError, match="unknown"):
        Shapes(10, classes=["hexagon"])


@pytest.mark.parametrize("size,background", [(16, "texture"), (32, "noise"), (41, "mixed")])
def test_shapes_boxes_are_the_tight_boxes_of_the_masks(size, background):
    data = Shapes(300, size=size, background=background)
    assert data.masks.shape == (300, size, size) and data.boxes.shape == (300, 4)
    for mask, (x0, y0, x1, y1) in zip(data.masks, data.boxes):
        assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size
        inside = np.zeros_like(mask)
        inside[y0:y1, x0:x1] = True
        assert not (mask & ~inside).any()  # nothing outside the box
        assert mask[y0].any() and mask[y1 - 1].any() and mask[:, x0].any() and mask[:, x1 - 1].any()


def test_shapes_masks_match_the_pixels_on_a_plain_background():
    data = Shapes(100, background="plain")
    for image, mask in zip(data.data, data.masks):
        colours = image.reshape(3, -1).T
        on, off = np.unique(colours[mask.ravel()], axis=0), np.unique(colours[~mask.ravel()], axis=0)
        assert len(on) == 1 and len(off) == 1
        assert np.abs(on.astype(int) - off.astype(int)).min() >= 0.35 * 255 - 1


def test_shapes_options_and_items():
    gray = Shapes(20, size=16, channels=1, return_annotations=True)
    image, label, box, mask = gray[3]
    assert image.shape == (1, 16, 16) and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 1 and isinstance(label, int)
    np.testing.assert_array_equal(box, gray.boxes[3])
    assert mask.shape == (16, 16) and mask.dtype == np.bool_
    rgb = Shapes(20, size=48, background="texture")
    assert rgb[0][0].shape == (3, 48, 48)
    x, y, boxes, masks = next(iter(DataLoader(gray, 5)))
    assert boxes.shape == (5, 4) and masks.shape == (5, 16, 16)
    for bad in [dict(size=8), dict(channels=2), dict(background="stars")]:
        with pytest.raises(ValueError):
            Shapes(5, **bad)


def test_shapes_generation_is_fast():
    start = time.perf_counter()
    data = Shapes(10000, size=32, channels=3)
    assert time.perf_counter() - start < 10
    assert data.data.shape == (10000, 3, 32, 32) and data.masks.any(axis=(1, 2)).all()
