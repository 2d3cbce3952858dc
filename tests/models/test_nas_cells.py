"""NASNet-A Mobile and AmoebaNet-A: cells as data, the published parameter counts and
multiply-adds at 224 x 224 (one full-size forward each), a few SGD steps on Shapes at
reduced width, separable convolutions, factorized reduction, drop-path and the cell diagram.
"""
import numpy as np
import pytest

import minidl
import minidl.functional as F
import minidl.models as models
import minidl.nn as nn
from minidl.data import Shapes
from minidl.models.nas_cells import (AMOEBANET_A_NORMAL, AMOEBANET_A_REDUCTION, NASNET_A_NORMAL,
                                     NASNET_A_REDUCTION, Cell, CellSpec, FactorizedReduction,
                                     SeparableConv2d, check_spec, draw_cell)

SPECS = [NASNET_A_NORMAL, NASNET_A_REDUCTION, AMOEBANET_A_NORMAL, AMOEBANET_A_REDUCTION]


@pytest.fixture(scope="module")
def nasnet():
    return models.nasnet_a_mobile()


@pytest.fixture(scope="module")
def amoebanet():
    return models.amoebanet_a_mobile()


def full_size_complexity(model, name):
    """(params, multiply-adds, output shape) of one forward at the canonical input."""
    shapes = []
    handle = model.register_forward_hook(lambda m, i, o: shapes.append(o.shape))
    params, macs = models.complexity(model, models.input_size(name))
    handle.remove()
    return params, macs, shapes[0]


def batch_norm_statistics(model):
    return sum(2 * m.num_features for m in model.modules() if isinstance(m, nn.BatchNorm2d))


# ----------------------------------------------------------------------------- published counts
def test_nasnet_a_mobile_has_the_papers_size_and_cost(nasnet):
    # Zoph et al. 2018, Table 3 (and the table in Keras's nasnet docstring): NASNet-A
    # (4 @ 1056), 5.3M parameters, 564M multiply-adds at 224 x 224. The exact count is that
    # of imgclsmob's port of the TF model (its test: weight_count == 5289978) and, with the
    # batch norms' running mean and variance, Keras's NASNetMobile ("5,326,716" parameters).
    params, macs, output = full_size_complexity(nasnet, "nasnet_a_mobile")
    assert params == 5_289_978
    assert params + batch_norm_statistics(nasnet) == 5_326_716
    assert round(params / 1e6, 1) == 5.3
    assert round(macs / 1e6) == 564
    assert output == (1, 1000)


def test_amoebanet_a_mobile_has_the_papers_size_and_cost(amoebanet):
    # Liu et al. 2019 (DARTS), Table 3, mobile setting: "AmoebaNet-A (Real et al., 2018)
    # ... 5.1 [M params] 555 [M multiply-adds]"; the AdaXpert table (citing Real et al.
    # 2019) gives the same 555M for AmoebaNet-A (N = 4, F = 50).
    params, macs, output = full_size_complexity(amoebanet, "amoebanet_a_mobile")
    assert round(params / 1e6, 1) == 5.1
    assert round(macs / 1e6) == 555
    assert output == (1, 1000)


def test_network_layout(nasnet):
    # Two stem cells (F/4 = 11 and F/2 = 22 filters), 4 normal cells of F = 44, a reduction
    # with 88, 4 normal, a reduction with 176, 4 normal: 16 cells; the last concatenates
    # 6 states of 4F = 176 channels (the "1056" of "4 @ 1056").
    channels = [cell.channels for cell in nasnet.cells]
    assert channels == [11, 22] + [44] * 4 + [88] * 5 + [176] * 5
    reductions = [i for i, cell in enumerate(nasnet.cells) if cell.spec.reduction]
    assert reductions == [0, 1, 6, 11]
    assert nasnet.fc.in_features == 1056


# ----------------------------------------------------------------------------- cells as data
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_cell_descriptions_are_valid_data(spec):
    check_spec(spec)
    assert len(spec.blocks) == 5 and all(len(block) == 4 for block in spec.blocks)


def test_cell_output_is_the_concatenation_of_the_named_states():
    cell = Cell(NASNET_A_NORMAL, in_channels=12, prev_channels=12, channels=8).eval()
    x, x_prev = (minidl.tensor(np.random.default_rng(s).standard_normal((2, 12, 9, 9)))
                 for s in (0, 1))
    cell.double()
    with minidl.no_grad():
        y = cell(x, x_prev).numpy()
        state1 = cell.preprocess1(x_prev).numpy()
    assert y.shape == (2, 6 * 8, 9, 9)
    np.testing.assert_array_equal(y[:, :8], state1)  # state 1 (h_{i-1}) comes first


@pytest.mark.parametrize("spec, message", [
    (CellSpec("bad op", ((0, "conv9x9", 1, "sep3x3"),), (2,), False), "unknown op 'conv9x9'"),
    (CellSpec("bad input", ((0, "sep3x3", 2, "sep3x3"),), (2,), False), "reads state 2"),
    (CellSpec("bad concat", ((0, "sep3x3", 1, "sep3x3"),), (7,), False), "concat"),
    (CellSpec("reduction", ((0, "sep3x3", 1, "sep3x3"),), (1, 2), True), "block outputs")])
def test_bad_cell_descriptions_are_rejected(spec, message):
    with pytest.raises(ValueError, match=message):
        check_spec(spec)


def test_draw_cell_draws_every_op_of_the_description(tmp_path):
    path = tmp_path / "cell.png"
    figure = draw_cell(AMOEBANET_A_REDUCTION, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    labels = [t.get_text() for t in figure.axes[0].texts]  # arrows are empty texts
    op_labels = [t for t in labels if t and t not in ("+", "concat", "$h_i$", "$h_{i-1}$")]
    expected = [name + (" /2" if state < 2 else "")
                for block in AMOEBANET_A_REDUCTION.blocks
                for state, name in (block[:2], block[2:])]
    assert sorted(op_labels) == sorted(expected)
    assert labels.count("+") == 5


# ----------------------------------------------------------------------------- operations
def test_separable_conv_is_depthwise_then_pointwise():
    layer = SeparableConv2d(6, 10, 5).double()
    assert models.count_parameters(layer) == 5 * 5 * 6 + 6 * 10
    x = minidl.tensor(np.random.default_rng(0).standard_normal((2, 6, 7, 7)))
    depthwise = F.conv2d(x, layer.depthwise.weight, padding=2, groups=6)
    expected = F.conv2d(depthwise, layer.pointwise.weight).numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-12, atol=1e-12)


def test_factorized_reduction_reads_the_even_and_the_shifted_pixels():
    layer = FactorizedReduction(4, 6).double().eval()
    x = np.random.default_rng(0).standard_normal((2, 4, 6, 6))
    with minidl.no_grad():
        y = layer(minidl.tensor(x)).numpy()
    relu = np.maximum(x, 0)
    w1 = layer.path1.weight.numpy()[:, :, 0, 0]
    w2 = layer.path2.weight.numpy()[:, :, 0, 0]
    paths = np.concatenate([np.einsum("oc,nchw->nohw", w1, relu[:, :, ::2, ::2]),
                            np.einsum("oc,nchw->nohw", w2, relu[:, :, 1::2, 1::2])], axis=1)
    bn = layer.bn  # eval mode, fresh statistics: (y - 0) / sqrt(1 + eps)
    np.testing.assert_allclose(y, paths / np.sqrt(1 + bn.eps), rtol=1e-12, atol=1e-12)


def test_drop_path_grows_with_depth():
    model = models.nasnet_a_mobile(num_classes=3, filters=8, repeats=1, drop_path=0.3)
    probabilities = [cell.drop.p for cell in model.cells]
    np.testing.assert_allclose(probabilities, 0.3 * np.arange(1, 8) / 7)


def test_drop_path_drops_whole_samples_in_training_only():
    cell = Cell(AMOEBANET_A_NORMAL, in_channels=8, prev_channels=8, channels=8, drop_path=0.5)
    rng = np.random.default_rng(0)
    x, x_prev = (minidl.tensor(rng.standard_normal((16, 8, 5, 5)).astype(np.float32))
                 for _ in range(2))
    with minidl.no_grad():
        outputs = []
        for seed in (0, 1, 0):
            minidl.manual_seed(seed)
            outputs.append(cell(x, x_prev).numpy())
        cell.eval()
        evaluated = cell(x, x_prev).numpy()
        cell.drop.p = 0.0
        undropped = cell(x, x_prev).numpy()
    assert not np.allclose(outputs[0], outputs[1])
    np.testing.assert_array_equal(outputs[0], outputs[2])
    np.testing.assert_array_equal(evaluated, undropped)


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize("constructor", [models.nasnet_a_mobile, models.amoebanet_a_mobile])
def test_reduced_width_networks_learn_shapes(constructor):
    data = Shapes(n=32, size=32, classes=4, seed=0)
    x = minidl.tensor(np.stack([data[i][0] for i in range(len(data))]))
    labels = minidl.tensor(data.targets)
    model = constructor(num_classes=4, filters=8, repeats=1, stem_filters=8, dropout=0.0)
    optimizer = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for _ in range(6):
        loss = F.cross_entropy(model(x), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
