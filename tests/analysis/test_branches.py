"""Branch specialization: the concentration statistic, the colour and frequency proxies, and
a constructed two-branch module whose colour units all sit in one branch."""
import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl.analysis import branches


class TwoBranches(nn.Module):
    """branch1: two 1x1 convolutions that read luminance only (blind to colour); branch2:
    two red-green opponent units (silent on grey images); concatenated, then pooled."""

    def __init__(self):
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False, dtype=np.float64), nn.ReLU())
        self.branch2 = nn.Sequential(nn.Conv2d(3, 2, 1, bias=False, dtype=np.float64), nn.ReLU())
        self.branch1[0].weight.data[...] = np.array([[1.0], [2.0]])[:, :, None, None] \
            * branches.LUMINANCE[None, :, None, None]
        self.branch2[0].weight.data[...] = np.array([[1, -1, 0], [-1, 1, 0]],
                                                    dtype=np.float64)[:, :, None, None]

    def forward(self, x):
        return minidl.concatenate([self.branch1(x), self.branch2(x)], axis=1)


class Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.mixed = TwoBranches()

    def forward(self, x):
        return self.mixed(x).mean(axis=(2, 3))


def test_concentration_is_zero_when_spread_and_one_minus_the_share_when_in_one_branch():
    branch_of = np.array([0, 0, 0, 1, 1, 2])
    distance, shares, sizes = branches.concentration(np.ones(6), branch_of)
    assert distance == pytest.approx(0.0) and np.allclose(shares, sizes)
    distance, shares, _ = branches.concentration([0, 0, 0, 0.5, 2.0, -1.0], branch_of)
    assert distance == pytest.approx(1 - 2 / 6) and np.allclose(shares, [0, 1, 0])
    assert np.isnan(branches.concentration(-np.ones(6), branch_of)[0])


def test_grey_images_and_the_frequency_split_keep_constants():
    image = np.random.default_rng(0).uniform(size=(2, 3, 8, 8))
    grey = branches.grey_images(image)
    assert np.allclose(grey[:, 0], np.tensordot(branches.LUMINANCE, image, axes=([0], [1])))
    assert np.allclose(grey[:, 0], grey[:, 2])
    flat = np.full((1, 3, 10, 10), 0.3)
    low, high = branches.frequency_split(flat, sigma=1.5)
    assert np.allclose(low, 0.3) and np.allclose(high, 0.3)
    with pytest.raises(ValueError, match="RGB"):
        branches.grey_images(np.zeros((1, 1, 4, 4)))


def test_colour_units_in_one_branch_give_full_concentration():
    model = Wrapper().eval()
    images = np.random.default_rng(1).uniform(size=(16, 3, 8, 8))
    result = branches.branch_specialization(model, "mixed", images, draws=100)
    assert result.branches == ["mixed.branch1", "mixed.branch2"]
    assert np.allclose(result.colour, [0, 0, 1, 1], atol=1e-12)
    colour = result.kinds["colour"]
    assert colour["concentration"] == pytest.approx(0.5)       # 1 - the branch's share 1/2
    assert np.allclose(colour["shares"], [0, 1])
    assert colour["chance"] < colour["concentration"]
    numbers = branches.specialization_numbers(result)
    assert numbers["units"] == {"mixed.branch1": 2, "mixed.branch2": 2}
