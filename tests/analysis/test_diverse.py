"""Multifaceted and diverse feature visualization: the diversity penalty's values, Gram
matrices, facets of separable top images, the penalty's effect, the centre measure and the
center-biased canvas."""
import json

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl.analysis import diverse
from minidl.data import Shapes
from minidl.models import small_cnn


def test_diversity_penalty_is_one_for_identical_and_zero_for_orthogonal_styles():
    single = np.random.default_rng(0).uniform(size=(1, 4, 5, 5))
    same = minidl.tensor(np.repeat(single, 3, axis=0))
    assert diverse.diversity_penalty(same).item() == pytest.approx(1.0)
    apart = np.zeros((2, 2, 3, 3))
    apart[0, 0], apart[1, 1] = 1.0, 2.0          # each image uses its own channel only
    assert diverse.diversity_penalty(minidl.tensor(apart)).item() == pytest.approx(0.0)
    with pytest.raises(ValueError, match="at least 2 images"):
        diverse.diversity_penalty(minidl.tensor(single))


def test_gram_matrices_are_channel_inner_products_over_positions():
    x = np.random.default_rng(1).normal(size=(2, 3, 4, 5))
    expected = np.einsum("nchw,ndhw->ncd", x, x) / 20
    assert np.allclose(diverse.gram_matrices(minidl.tensor(x)).numpy(), expected)


def test_facets_split_top_images_of_two_kinds():
    # a unit (layer "2") that answers both red and green images, embedded by layer "0" (the
    # image itself); its facets are the two colours
    model = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False, dtype=np.float64),
                          nn.Conv2d(3, 1, 1, bias=False, dtype=np.float64), nn.ReLU()).eval()
    model[0].weight.data[...] = np.eye(3)[:, :, None, None]
    model[1].weight.data[...] = np.array([1.0, 1.0, 0.0])[None, :, None, None]
    rng = np.random.default_rng(2)
    images = np.zeros((20, 3, 4, 4))
    images[:10, 0], images[10:, 1] = rng.uniform(0.5, 1, (10, 1, 1)), rng.uniform(0.5, 1, (10, 1, 1))
    found = diverse.facets(model, "2", 0, images, k=2, top=20, embed_layer="0", components=2)
    colour = np.where(found.indices < 10, 0, 1)
    assert len(set(found.labels[colour == 0])) == 1 and len(set(found.labels[colour == 1])) == 1
    assert found.labels[colour == 0][0] != found.labels[colour == 1][0]
    assert found.centres.shape == (2, 3, 4, 4)


def test_the_penalty_makes_a_batch_less_alike():
    minidl.manual_seed(0)
    model = small_cnn(8).eval()
    images = [diverse.diverse_visualization(model, "6", 3, (3, 16, 16), count=3, weight=weight,
                                            steps=15, seed=0)[0] for weight in (5.0, 0.0)]
    similarity = [diverse.pairwise_style_similarity(model, "6", batch) for batch in images]
    assert similarity[0] < similarity[1]


def test_center_energy_and_the_center_biased_canvas():
    assert diverse.center_energy(np.full((1, 8, 8), 1.5)) == pytest.approx(0.25)
    centred = np.full((3, 8, 8), 0.5)
    centred[:, 3:5, 3:5] = 1.0
    assert diverse.center_energy(centred) == pytest.approx(1.0)
    minidl.manual_seed(0)
    canvas = diverse.center_biased_visualization(small_cnn(8).eval(), "13", 2, (3, 16, 16), steps=6)
    assert canvas.shape == (3, 24, 24) and canvas.min() >= 0 and canvas.max() <= 1


def test_run_writes_its_figures(tmp_path):
    minidl.manual_seed(0)
    data = Shapes(40, size=16, seed=0, background="plain")
    numbers = diverse.run(small_cnn(8).eval(), data, tmp_path, quick=True,
                          class_names=data.classes)
    assert len(numbers["channels"]) == 2 and numbers["layer"] == "10"
    written = json.loads((tmp_path / "diverse.json").read_text())
    assert written["figures"] == ["diverse-facets.png", "diverse-diversity.png", "diverse-center.png"]
    assert all((tmp_path / name).stat().st_size > 0 for name in written["figures"])
