"""Circuits: the per-input-channel contributions add up to the layer's output, expanded
weights equal the product (and the composed convolution) exactly, batch norm folds exactly,
the residual identity, the SVD ordering separates blocks, and the run writes its figures."""
import json

import numpy as np
import pytest

import minidl
import minidl.functional as F
import minidl.nn as nn
from minidl.analysis import circuits
from minidl.analysis.common import layer_io
from minidl.models import small_cnn
from minidl.models.googlenet import BasicConv2d, Inception


def _conv(x, weight, stride=1, padding=0):
    return F.conv2d(minidl.tensor(x), minidl.tensor(weight), None, stride, padding).numpy()


def test_expanded_weights_of_two_linear_layers_are_their_product():
    model = nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3)).double()
    expanded = circuits.expanded_weights(model, ["0", "2"])
    assert expanded.shape == (3, 5)
    assert np.array_equal(expanded, model[2].weight.numpy() @ model[0].weight.numpy())


@pytest.mark.parametrize("first_stride, second_stride", [(1, 1), (2, 1), (1, 2), (2, 3)])
def test_composed_kernels_equal_two_convolutions(first_stride, second_stride):
    rng = np.random.default_rng(first_stride * 10 + second_stride)
    x = rng.normal(size=(2, 3, 17, 17))
    w1, w2 = rng.normal(size=(4, 3, 3, 2)), rng.normal(size=(5, 4, 2, 3))
    two_layers = _conv(_conv(x, w1, first_stride), w2, second_stride)
    expanded = circuits.compose_kernels(w1, w2, first_stride)
    one_layer = _conv(x, expanded, first_stride * second_stride)
    assert one_layer.shape == two_layers.shape
    assert np.allclose(one_layer, two_layers, atol=1e-12)


def test_residual_block_expands_to_identity_plus_branch_away_from_the_border():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 4, 12, 12))
    w1, w2 = rng.normal(size=(4, 4, 3, 3)), rng.normal(size=(4, 4, 3, 3))
    block = x + _conv(_conv(x, w1, padding=1), w2, padding=1)
    model = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False),
                          nn.Conv2d(4, 4, 3, padding=1, bias=False)).double()
    model[0].weight.data[...], model[1].weight.data[...] = w1, w2
    expanded = circuits.expanded_weights(model, [circuits.Residual(["0", "1"])])
    one_layer = _conv(x, expanded, padding=2)
    assert np.allclose(one_layer[..., 2:-2, 2:-2], block[..., 2:-2, 2:-2], atol=1e-12)


def test_batch_norm_folds_into_the_weight_exactly():
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4)).double().eval()
    rng = np.random.default_rng(1)
    model[1].running_mean.data[...] = rng.normal(size=4)
    model[1].running_var.data[...] = rng.uniform(0.5, 2.0, size=4)
    model[1].weight.data[...] = rng.normal(size=4)
    x = rng.normal(size=(2, 3, 8, 8))
    with minidl.no_grad():
        shifted = model(minidl.tensor(x)).numpy() - model(minidl.tensor(np.zeros_like(x))).numpy()
    folded = circuits.expanded_weights(model, ["0", "1"])
    assert np.allclose(_conv(x, folded), shifted, atol=1e-12)


def test_svd_ordering_keeps_the_blocks_of_a_block_structured_matrix_together():
    rng = np.random.default_rng(2)
    rows, columns = np.r_[np.zeros(5, int), np.ones(7, int)], np.r_[np.zeros(4, int), np.ones(6, int)]
    matrix = 0.02 * rng.uniform(size=(12, 10))
    matrix += (rows[:, None] == columns[None]) * rng.uniform(0.5, 1.5, size=(12, 10))
    shuffle_rows, shuffle_columns = rng.permutation(12), rng.permutation(10)
    ordering = circuits.svd_ordering(matrix[np.ix_(shuffle_rows, shuffle_columns)])
    for labels, order in ((rows[shuffle_rows], ordering.input_order),
                          (columns[shuffle_columns], ordering.output_order)):
        in_order = labels[order]
        assert np.count_nonzero(np.diff(in_order)) == 1, in_order


def test_contributions_add_up_to_the_output_and_rank_the_inputs():
    model = small_cnn(8).double().eval()
    images = np.random.default_rng(3).uniform(size=(3, 3, 12, 12))
    circuit = circuits.channel_circuit(model, "4", images, channel=5)
    inputs = layer_io(model, "4", images, which="input")
    parts = circuits.input_channel_contributions(model[4], inputs, 5)
    output = layer_io(model, "4", images)[:, 5]
    assert np.allclose(parts.sum(axis=1) + model[4].bias.numpy()[5], output, atol=1e-12)
    assert np.array_equal(circuit.by_contribution, np.argsort(-np.abs(parts).mean(axis=(0, 2, 3))))
    norms = np.linalg.norm(model[4].weight.numpy()[5].reshape(16, -1), axis=1)
    assert np.allclose(circuit.weight_norms[circuit.by_weight], np.sort(norms)[::-1])
    assert circuits.input_source(model, "4", (3, 12, 12)) == "3"


def test_bad_layers_and_channels_are_clear_errors():
    model = small_cnn(8)
    with pytest.raises(TypeError, match="not an nn.Conv2d"):
        circuits.conv_layer(model, "1")
    with pytest.raises(ValueError, match="channel must be in"):
        circuits.channel_circuit(model, "4", np.zeros((1, 3, 8, 8), np.float32), 99)
    with pytest.raises(ValueError, match="reads 4 channels"):
        circuits.compose_kernels(np.zeros((3, 2)), np.zeros((5, 4)))


def test_colourfulness_of_grey_and_single_channel_filters():
    grey = np.ones((1, 3, 3, 3))
    red = np.zeros((1, 3, 3, 3))
    red[:, 0] = 1
    assert circuits.colourfulness(np.concatenate([grey, red])) == pytest.approx([0.0, 2 / 3])


def test_run_on_a_small_inception_net_writes_every_figure(tmp_path):
    minidl.manual_seed(0)
    model = nn.Sequential(BasicConv2d(3, 8, 3, padding=1), nn.MaxPool2d(2),
                          BasicConv2d(8, 16, 3, padding=1), nn.MaxPool2d(2),
                          Inception(16, 8, 8, 12, 4, 6, 6), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(32, 8)).eval()
    images = np.random.default_rng(4).uniform(size=(12, 3, 16, 16)).astype(np.float32)
    numbers = circuits.run(model, images, tmp_path, quick=True)
    assert numbers["channel"]["layer"] == "2.conv" and numbers["channel"]["input_source"] == "1"
    assert numbers["expanded"]["path"] == ["4.branch2.0.conv", "4.branch2.0.bn", "4.branch2.1.conv",
                                           "4.branch2.1.bn"]
    assert numbers["expanded"]["shape"] == [12, 16, 3, 3]
    assert list(numbers["branches"]) == ["4"]
    written = json.loads((tmp_path / "circuits.json").read_text())
    assert len(written["figures"]) == 7
    assert all((tmp_path / name).stat().st_size > 0 for name in written["figures"])
