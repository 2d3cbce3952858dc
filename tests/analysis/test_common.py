"""The shared helpers: datasets as arrays, layer inputs and outputs by hooks, the training
loop, k-means, and the JSON conversion of results."""
import json
import math

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl.analysis import common, figures
from minidl.data import Shapes


def test_dataset_arrays_from_datasets_arrays_and_pairs():
    data = Shapes(10, size=16, seed=0)
    images, labels = common.dataset_arrays(data, limit=4)
    assert images.shape == (4, 3, 16, 16) and labels.tolist() == data.targets[:4].tolist()
    assert common.dataset_arrays(images)[1] is None
    assert common.dataset_arrays((images, labels), limit=2)[0].shape[0] == 2
    with pytest.raises(TypeError, match="data must be"):
        common.dataset_arrays(42)
    with pytest.raises(ValueError, match="expected images of shape"):
        common.dataset_arrays(np.zeros((3, 4)))


def test_layer_io_reads_inputs_and_outputs_in_batches_and_leaves_the_model_alone():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.5)).train()
    x = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    inputs, again = common.layer_io(model, ["1", "1"], x, which="input", batch_size=3)
    outputs = common.layer_io(model, "1", x, batch_size=4)
    with minidl.no_grad():
        expected = model[0](minidl.tensor(x)).numpy()
    assert np.allclose(inputs, expected) and np.array_equal(inputs, again)
    assert np.allclose(outputs, np.maximum(expected, 0))
    assert model.training and model[2].training          # the flags are restored
    with minidl.no_grad():
        assert np.allclose(model.eval()[1](minidl.tensor(expected)).numpy(), outputs)
    with pytest.raises(ValueError, match="which must be"):
        common.layer_io(model, "1", x, which="gradient")


def test_train_classifier_lowers_the_loss_and_calls_back_every_epoch():
    minidl.manual_seed(0)
    data = Shapes(64, size=16, seed=0, background="plain")
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 8))
    seen = []
    losses = common.train_classifier(model, data, 3, lr=1e-3, on_epoch=lambda e, m: seen.append(e))
    assert seen == [0, 1, 2, 3] and losses[-1] < losses[0] and not model.training
    with pytest.raises(ValueError, match="optimizer must be"):
        common.train_classifier(model, data, 1, optimizer="lbfgs")


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [10, 0], [0, 10]])
    points = np.concatenate([c + rng.normal(size=(20, 2)) for c in centres])
    labels, found = common.kmeans(points, 3, seed=0)
    for block in range(3):
        assert len(set(labels[20 * block:20 * block + 20])) == 1
    assert len(set(labels)) == 3
    assert np.allclose(np.sort(found[:, 0] + 100 * found[:, 1]),
                       np.sort([points[labels == c].mean(0) @ [1, 100] for c in range(3)]))
    with pytest.raises(ValueError, match="k must be between"):
        common.kmeans(points, 0)


def test_jsonable_turns_numpy_values_and_non_finite_numbers_into_json(tmp_path):
    value = {"a": np.arange(3), "b": np.float32(1.5), "c": [np.int64(2), math.nan], 4: np.bool_(True)}
    assert figures.jsonable(value) == {"a": [0, 1, 2], "b": 1.5, "c": [2, None], "4": True}
    figures.write_json(value, tmp_path, "x.json")
    assert json.loads((tmp_path / "x.json").read_text())["c"] == [2, None]
