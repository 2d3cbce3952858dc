"""Image transforms (minidl/data/transforms.py): deterministic given the generator, and each
one's defining property.
"""
from __future__ import annotations

import numpy as np
import pytest
from minidl.data import transforms as T


IMAGE = np.random.default_rng(0).random((3, 9, 11), dtype=np.float32)


@pytest.mark.parametrize("transform", [
    T.RandomCrop(7, padding=2), T.RandomHorizontalFlip(), T.RandomRotation(30), T.GaussianNoise(0.1),
    T.Cutout(4), T.Compose([T.RandomCrop((9, 11), padding=1), T.RandomRotation(10, "nearest")])])
def test_random_transforms_are_deterministic_given_the_generator(transform):
    before = IMAGE.copy()
    a = transform(IMAGE, np.random.default_rng(5))
    b = transform(IMAGE, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(IMAGE, before)  # the input is never modified
    assert a.dtype == np.float32 and a.shape[0] == 3
    outputs = {transform(IMAGE, np.random.default_rng(s)).tobytes() for s in range(10)}
    assert len(outputs) > 1


def test_to_float_and_normalize():
    pixels = np.array([[[0, 51, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(T.ToFloat()(pixels), [[[0, 0.2, 1]]], rtol=1e-6)
    out = T.Normalize(mean=[0.5, 0.0, 1.0], std=[0.5, 2.0, 0.25])(np.ones((3, 2, 2), np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0], [1.0, 0.5, 0.0])
    with pytest.raises(ValueError):
        T.Normalize(0, 0)


def test_random_crop_with_padding_is_a_window_of_the_padded_image():
    padded = np.pad(IMAGE, ((0, 0), (3, 3), (3, 3)), constant_values=-1)
    positions = set()
    for seed in range(200):
        crop = T.RandomCrop((9, 11), padding=3, fill=-1)(IMAGE, np.random.default_rng(seed))
        assert crop.shape == (3, 9, 11)
        matches = [(t, u) for t in range(7) for u in range(7)
                   if np.array_equal(crop, padded[:, t:t + 9, u:u + 11])]
        assert matches
        positions.update(matches)
    assert len(positions) == 49  # every position of the window is reachable
    edge = T.RandomCrop(9, padding=2, padding_mode="edge")(IMAGE, np.random.default_rng(0))
    assert edge.min() >= IMAGE.min() and edge.max() <= IMAGE.max()
    with pytest.raises(ValueError, match="larger"):
        T.RandomCrop(20)(IMAGE, np.random.default_rng(0))


def test_horizontal_flip():
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(IMAGE), IMAGE[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(IMAGE), IMAGE)
    flips = [not np.array_equal(T.RandomHorizontalFlip()(IMAGE, np.random.default_rng(s)), IMAGE)
             for s in range(400)]
    assert 150 < sum(flips) < 250


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_rotation(interpolation):
    square = IMAGE[:, :9, :9]
    quarter = T.RandomRotation((90, 90), interpolation)(square)
    np.testing.assert_allclose(quarter, np.rot90(square, axes=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(T.RandomRotation(0, interpolation)(IMAGE), IMAGE, atol=1e-6)
    tilted = T.RandomRotation((45, 45), interpolation, fill=-1.0)(IMAGE)
    assert np.all(tilted[:, 0, 0] == -1) and tilted.shape == IMAGE.shape
    assert np.all(tilted[:, 4, 5] == IMAGE[:, 4, 5])  # the centre stays
    if interpolation == "nearest":
        assert np.isin(tilted, np.append(IMAGE, -1)).all()


def test_gaussian_noise_and_cutout():
    grey = np.full((1, 64, 64), 0.5, np.float32)
    noisy = T.GaussianNoise(0.1)(grey, np.random.default_rng(0))
    assert abs(noisy.std() - 0.1) < 0.01 and abs(noisy.mean() - 0.5) < 0.01
    assert T.GaussianNoise(2.0)(grey, np.random.default_rng(0)).max() <= 1
    assert T.GaussianNoise(2.0, clip=False)(grey, np.random.default_rng(0)).max() > 1
    ones = np.ones((2, 20, 20), np.float32)
    for seed in range(30):
        out = T.Cutout(6)(ones, np.random.default_rng(seed))
        holes = np.argwhere(out[0] == 0)
        assert np.array_equal(out[0] == 0, out[1] == 0) and 0 < len(holes) <= 36
        (top, left), (bottom, right) = holes.min(0), holes.max(0)
        assert len(holes) == (bottom - top + 1) * (right - left + 1)  # a rectangle
        if top > 0 and left > 0 and bottom < 19 and right < 19:
            assert len(holes) == 36  # the whole square when it is inside the image


def test_lambda_wraps_a_plain_function():
    assert T.Compose([T.Lambda(lambda x: x * 2), T.Normalize(1, 1)])(np.ones((1, 1, 1)), None)[0, 0, 0] == 1
