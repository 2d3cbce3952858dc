"""Equivariance: filters that are exact rotated (or hue-shifted) copies map onto each other
with correlation 1, and the orbit follows the copies."""
import numpy as np
import pytest

import minidl.nn as nn
from minidl.analysis import equivariance


def _rotated_copies():
    """A conv layer whose four filters are one random 3x3 RGB filter rotated by 0, 90, 180 and
    270 degrees, plus one rotation-symmetric filter (its own copy)."""
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 3, 3))
    symmetric = np.ones((3, 3, 3)) + np.pad([[[2.0]]] * 3, ((0, 0), (1, 1), (1, 1)))
    conv = nn.Conv2d(3, 5, 3, padding=1, bias=False).double()
    conv.weight.data[...] = np.stack([np.rot90(base, k, axes=(1, 2)) for k in range(4)] + [symmetric])
    return nn.Sequential(conv, nn.ReLU()).eval()


def test_rotated_filters_map_onto_each_other_with_correlation_one():
    model = _rotated_copies()
    images = np.random.default_rng(1).uniform(size=(6, 3, 10, 10))
    result = equivariance.equivariance(model, "1", images, "rotate", step=1)
    assert result.partner.tolist() == [1, 2, 3, 0, 4]
    assert np.allclose(result.strength, 1.0, atol=1e-10)
    assert equivariance.orbit(result, 0) == [0, 1, 2, 3]
    assert equivariance.orbit(result, 4) == [4]
    numbers = equivariance.equivariance_numbers(result)
    assert numbers["mapped_to_other_unit"] == 4 and numbers["mapped_to_itself"] == 1


def test_hue_shifted_filters_map_onto_each_other():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(3, 1, 1))
    conv = nn.Conv2d(3, 3, 1, bias=False).double()
    conv.weight.data[...] = np.stack([np.roll(base, k, axis=0) for k in range(3)])
    model = nn.Sequential(conv, nn.ReLU()).eval()
    images = rng.uniform(size=(5, 3, 6, 6))
    result = equivariance.equivariance(model, "1", images, "hue", step=1)
    assert result.partner.tolist() == [1, 2, 0]
    assert np.allclose(result.strength, 1.0, atol=1e-10)


def test_transforms_and_their_errors():
    images = np.arange(2 * 3 * 4 * 4, dtype=float).reshape(2, 3, 4, 4)
    assert np.array_equal(equivariance.transform_images(images, "rotate", 4), images)
    assert np.array_equal(equivariance.transform_images(images, "hue", 1)[:, 1], images[:, 0])
    assert np.array_equal(equivariance.transform_maps(images, "hue", 1), images)
    with pytest.raises(ValueError, match="kind must be one of"):
        equivariance.transform_images(images, "flip")
    with pytest.raises(ValueError, match="square"):
        equivariance.equivariance(_rotated_copies(), "1", np.zeros((1, 3, 4, 6)))
