"""Looking at the network (minidl.viz.network) and at its representations (minidl.viz.embedding):
filters, activation maps, receptive fields, top-activating patches, PCA and t-SNE."""
import numpy as np
import pytest

import minidl
import minidl.functional as F
import minidl.nn as nn
from minidl import models
from minidl.data import ArrayDataset, DataLoader, Shapes
from minidl.viz import embedding as E
from minidl.viz import network as N
from minidl.viz import plot
from tests.viz_models import small_cnn, trained_shapes_cnn


def positive_weights(model):
    """All weights and biases in [0.1, 1.1): no cancellation, so every path carries gradient."""
    rng = np.random.default_rng(0)
    for p in model.parameters():
        p.data = rng.uniform(0.1, 1.1, p.shape).astype(p.dtype)
    return model


def hooks_left(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


# ---------------------------------------------------------------------------------- PCA
def test_pca_equals_svd_of_centred_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 6)) @ rng.normal(size=(6, 6)) + 3.0
    result = E.pca(x, n_components=4)
    centred = x - x.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    signs = np.sign(np.sum(result.components * vt[:4], axis=1))
    np.testing.assert_allclose(result.components, signs[:, None] * vt[:4], atol=1e-12)
    np.testing.assert_allclose(result.projections, signs * (u[:, :4] * s[:4]), atol=1e-10)
    np.testing.assert_allclose(result.explained_variance, s[:4] ** 2 / (len(x) - 1), rtol=1e-12)
    np.testing.assert_allclose(result.explained_variance_ratio, s[:4] ** 2 / np.sum(s ** 2),
                               rtol=1e-12)
    # An independent route: the eigenvalues of the sample covariance matrix.
    eigenvalues = np.linalg.eigvalsh(np.cov(x, rowvar=False))[::-1]
    np.testing.assert_allclose(result.explained_variance, eigenvalues[:4], rtol=1e-10)
    np.testing.assert_allclose(result.projections, centred @ result.components.T, atol=1e-10)


# ---------------------------------------------------------------------------------- t-SNE
def clusters(n_per=30, dims=10, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 10, (3, dims))
    x = np.concatenate([c + rng.normal(0, 1, (n_per, dims)) for c in centres])
    return x, np.repeat(np.arange(3), n_per)


def conditional_row(d, perplexity):
    """p_{j|i} from the squared distances d to the other points, with log beta found by
    bisection so that the entropy is log(perplexity) (the entropy falls as beta grows)."""
    def row(log_beta):
        e = np.exp(-(d - d.min()) * np.exp(log_beta))
        return e / e.sum()

    def excess_entropy(log_beta):
        p = row(log_beta)
        return -np.sum(p[p > 0] * np.log(p[p > 0])) - np.log(perplexity)

    low, high = -30.0, 30.0
    assert excess_entropy(low) > 0 > excess_entropy(high)
    for _ in range(200):
        middle = (low + high) / 2
        if excess_entropy(middle) > 0:
            low = middle
        else:
            high = middle
    return row((low + high) / 2)


def test_tsne_affinities_reach_the_perplexity():
    """P against a row-by-row root finder written from the definition."""
    x, _ = clusters(n_per=10, dims=4)
    perplexity = 7.0
    P = E.tsne_affinities(x, perplexity)
    d2 = ((x[:, None] - x[None]) ** 2).sum(-1)
    conditional = np.zeros_like(d2)
    for i in range(len(x)):
        others = np.arange(len(x)) != i
        conditional[i, others] = conditional_row(d2[i, others], perplexity)
    expected = (conditional + conditional.T) / (2 * len(x))
    np.testing.assert_allclose(P, expected, rtol=1e-4, atol=1e-12)
    np.testing.assert_allclose(P.sum(), 1.0, rtol=1e-12)
    assert np.array_equal(P, P.T) and np.all(np.diag(P) == 0)


@pytest.mark.parametrize("exaggeration", [1.0, 4.0])
def test_tsne_autograd_gradient_equals_closed_form(exaggeration):
    x, _ = clusters(n_per=8)
    P = E.tsne_affinities(x, 5.0) * exaggeration
    rng = np.random.default_rng(1)
    y = rng.normal(size=(len(P), 2))
    Y = minidl.tensor(y, dtype=minidl.float64, requires_grad=True)
    grad = minidl.grad(E.tsne_loss(P, Y), Y)
    diff = y[:, None] - y[None]
    kernel = 1 / (1 + (diff ** 2).sum(-1))
    np.fill_diagonal(kernel, 0)
    Q = kernel / kernel.sum()
    expected = 4 * np.sum(((P - Q) * kernel)[..., None] * diff, axis=1)
    assert grad.dtype == np.float64
    np.testing.assert_allclose(grad, expected, rtol=1e-10, atol=1e-14)


def test_tsne_loss_is_the_kl_divergence():
    x, _ = clusters(n_per=8)
    P = E.tsne_affinities(x, 5.0)
    y = np.random.default_rng(2).normal(size=(len(P), 2))
    kernel = 1 / (1 + ((y[:, None] - y[None]) ** 2).sum(-1))
    np.fill_diagonal(kernel, 0)
    Q = kernel / kernel.sum()
    mask = P > 0
    kl = np.sum(P[mask] * np.log(P[mask] / Q[mask]))
    np.testing.assert_allclose(E.tsne_loss(P, minidl.tensor(y, dtype=minidl.float64)).item(),
                               kl, rtol=1e-12)


def test_tsne_descends_and_separates_clusters():
    x, labels = clusters()
    result = E.tsne(x, perplexity=10.0, n_iter=300, exaggeration_iters=50, seed=0)
    after_exaggeration = result.losses[50:]
    assert after_exaggeration[-1] < 0.5 * after_exaggeration[0]
    assert np.all(np.diff(after_exaggeration[100:]) < 1e-6)    # settles without climbing
    y = result.embedding
    d2 = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(d2, np.inf)
    assert np.mean(labels[d2.argmin(axis=1)] == labels) >= 0.95
    again = E.tsne(x, perplexity=10.0, n_iter=300, exaggeration_iters=50, seed=0)
    assert np.array_equal(again.embedding, y)


# ---------------------------------------------------------------------------------- receptive field
@pytest.mark.parametrize("layers, size, jump, start, unit, box", [
    # conv3-conv3: 3 + 2 = 5
    ([nn.Conv2d(1, 1, 3), nn.ReLU(), nn.Conv2d(1, 1, 3)], 5, 1, 2.0, (4, 1), [1, 4, 6, 9]),
    # conv3 stride 2, then conv3: 3 + 2*2 = 7, jump 2
    ([nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3)], 7, 2, 3.0, (2, 3), [6, 4, 13, 11]),
    # dilation 2: effective kernel 5, then conv3: 5 + 2 = 7
    ([nn.Conv2d(1, 1, 3, dilation=2), nn.Conv2d(1, 1, 3)], 7, 1, 3.0, (0, 0), [0, 0, 7, 7]),
    # padding 1 twice: the centre of unit (0, 0) is pixel 0, its box starts at -2 (clipped)
    ([nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1)], 5, 1, 0.0, (0, 0),
     [0, 0, 3, 3]),
    # conv5 s2 p2, max-pool 3 s2 p1: 5 + 2*2 = 9, jump 4, start 0 + (1 - 1)*2 = 0
    ([nn.Conv2d(1, 1, 5, stride=2, padding=2), nn.MaxPool2d(3, 2, padding=1)], 9, 4, 0.0,
     (3, 1), [0, 8, 9, 16]),
    # "same" with an even kernel pads 1 before, 2 after: start = 1.5 - 1
    ([nn.Conv2d(1, 1, 4, padding="same")], 4, 1, 0.5, (15, 15), [14, 14, 16, 16]),
    # pooling 2 then a dilated conv with padding: 2 + 4*2 = 10, start 0.5 + (2 - 2)*2
    ([nn.AvgPool2d(2), nn.Conv2d(1, 1, 3, padding=2, dilation=2)], 10, 2, 0.5, (7, 0),
     [0, 10, 6, 16]),
])
def test_receptive_field_by_hand(layers, size, jump, start, unit, box):
    rf = N.receptive_field(nn.Sequential(*layers), str(len(layers) - 1), (1, 16, 16))
    assert (rf.size, rf.jump, rf.start) == ((size, size), (jump, jump), (start, start))
    np.testing.assert_array_equal(rf.box(*unit), box)


def test_receptive_field_box_is_where_the_gradient_reaches():
    """Every unit of a stack with strides, dilation, pooling and padding: the input pixels
    with a nonzero gradient of the unit (positive weights and inputs, so nothing cancels)
    fill exactly the computed box."""
    model = positive_weights(nn.Sequential(
        nn.Conv2d(1, 2, 3, dilation=2, padding=1), nn.ReLU(),
        nn.Conv2d(2, 2, 3, stride=2, padding=1), nn.ReLU(),
        nn.AvgPool2d(2), nn.Conv2d(2, 1, 3, padding=1))).double()
    image = np.random.default_rng(0).uniform(0.1, 1.0, (1, 1, 20, 20))
    rf = N.receptive_field(model, "5", (1, 20, 20))
    assert rf.size == (17, 17) and rf.jump == (4, 4)
    x = minidl.tensor(image, requires_grad=True)
    out = model(x)
    for y in range(out.shape[2]):
        for x_ in range(out.shape[3]):
            grad = minidl.grad(out[0, 0, y, x_], x, retain_graph=True)[0, 0]
            x0, y0, x1, y1 = rf.box(y, x_)
            expected = np.zeros(grad.shape, bool)
            expected[y0:y1, x0:x1] = True
            assert np.array_equal(grad != 0, expected), (y, x_)


def test_receptive_field_box_bounds_a_dilated_field():
    """A lone dilated conv sees every other pixel: the box is the bounding box of them."""
    model = positive_weights(nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2))).double()
    x = minidl.tensor(np.ones((1, 1, 9, 9)), requires_grad=True)
    reached = minidl.grad(model(x)[0, 0, 1, 2], x)[0, 0] != 0
    rows, cols = np.nonzero(reached)
    x0, y0, x1, y1 = N.receptive_field(model, "0", (1, 9, 9)).box(1, 2)
    assert (x0, y0, x1, y1) == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
    assert reached.sum() == 9


class ForwardOrder(nn.Module):
    """Registers the 3x3 conv before the strided one but calls them the other way round,
    with functional ReLUs between them."""

    def __init__(self):
        super().__init__()
        self.second = nn.Conv2d(1, 1, 3)
        self.first = nn.Conv2d(1, 1, 3, stride=2)

    def forward(self, x):
        return F.relu(self.second(F.relu(self.first(x))))


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 3, padding=1)
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.head = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, x):
        x = self.stem(x)
        return self.head(F.relu(self.conv(x) + x))


def test_receptive_field_walks_in_forward_order():
    assert N.receptive_field(ForwardOrder(), "second", (1, 16, 16)).size == (7, 7)


def test_receptive_field_refuses_an_ambiguous_walk_unless_given_the_path():
    with pytest.raises(ValueError, match="ambiguous at head"):
        N.receptive_field(Residual(), "head", (1, 8, 8))
    rf = N.receptive_field(Residual(), "head", (1, 8, 8), path=["stem", "conv", "head"])
    assert rf.size == (7, 7)
    # Before the merge the walk is a chain.
    assert N.receptive_field(Residual(), "conv", (1, 8, 8)).size == (5, 5)


def test_receptive_field_of_zoo_models():
    resnet = models.resnet20()
    assert N.receptive_field(resnet, "layer1.0.conv2", (3, 32, 32)).size == (7, 7)
    with pytest.raises(ValueError, match="ambiguous"):
        N.receptive_field(resnet, "layer1.1.conv1", (3, 32, 32))
    lenet = models.lenet5()   # its trainable subsampling has no kernel attributes
    with pytest.raises(ValueError, match="s2"):
        N.receptive_field(lenet, "c3", (1, 32, 32))
    rf = N.receptive_field(lenet, "c3", (1, 32, 32), path=["c1", (2, 2, 0), "c3"])
    assert rf.size == (14, 14) and rf.jump == (2, 2) and rf.output_size == (10, 10)
    with pytest.raises(ValueError, match="spatial"):
        N.receptive_field(lenet, "f6", (1, 32, 32))


def test_receptive_field_leaves_the_model_as_it_was():
    model = small_cnn()
    model.train()
    before = {k: v.copy() for k, v in model.state_dict().items()}
    N.receptive_field(model, "8", (3, 32, 32))
    assert all(m.training for m in model.modules()) and hooks_left(model) == 0
    assert all(np.array_equal(before[k], v) for k, v in model.state_dict().items())


def test_crop_pads_outside_the_image_with_zeros():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1))
    rf = N.receptive_field(model, "1", (1, 6, 6))
    image = np.arange(1, 37, dtype=np.float32).reshape(1, 6, 6)
    patch = rf.crop(image, 0, 1)
    assert patch.shape == (1, 5, 5)
    np.testing.assert_array_equal(patch[:, :2], 0)
    np.testing.assert_array_equal(patch[:, 2:, 1:], image[:, :3, :4])
    np.testing.assert_array_equal(patch[:, 2:, 0], 0)


# ---------------------------------------------------------------------------------- filters, activations
def test_filter_grid_layout_and_values():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 2))
    w0, w2 = model[0].weight.numpy(), model[2].weight.numpy()
    rgb = N.filter_grid(model, "0")                      # 4 colour tiles, 2 per row
    assert rgb.shape == (3, 7, 7)
    np.testing.assert_allclose(rgb[:, 4:7, 0:3], 0.5 + w0[2] / (2 * np.abs(w0[2]).max()))
    assert np.all(rgb[:, 3, :] == 1) and np.all(rgb[:, :, 3] == 1)
    each = N.filter_grid(model, "2")                     # one row per output, one column per input
    assert each.shape == (1, 3 * 3 - 1, 4 * 3 - 1)
    np.testing.assert_allclose(each[0, 3:5, 6:8], 0.5 + w2[1, 2] / (2 * np.abs(w2[1, 2]).max()))
    mean = N.conv_filters(model, "2", channels="mean")
    np.testing.assert_allclose(mean, w2.mean(axis=1, keepdims=True))
    assert N.conv_filters(model, "2").shape == (12, 1, 2, 2)
    with pytest.raises(ValueError):
        N.conv_filters(model, "2", channels="rgb")
    with pytest.raises(TypeError):
        N.conv_filters(model, "1")


def test_activation_maps_equal_the_layer_output_and_leave_no_trace():
    model = small_cnn().eval()
    image = np.random.default_rng(0).uniform(size=(3, 32, 32)).astype(np.float32)
    x = minidl.tensor(image[None])
    with minidl.no_grad():
        before = model(x).numpy()
        direct = model[:7](x).numpy()[0]
    maps = N.activation_maps(model, "6", image)
    assert maps.shape == (32, 16, 16)
    assert np.array_equal(maps, direct)
    N.receptive_field(model, "6", (3, 32, 32))
    assert hooks_left(model) == 0
    with minidl.no_grad():
        assert np.array_equal(model(x).numpy(), before)


# ---------------------------------------------------------------------------------- top patches
def blob_data():
    """20 faint noise images; image 13 has a bright 3x3 blob centred at (10, 5), image 5 a
    dimmer one centred at (3, 12)."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 0.1, (20, 1, 16, 16)).astype(np.float32)
    images[13, 0, 9:12, 4:7] = 1.0
    images[5, 0, 2:5, 11:14] = 0.6
    return images


def blob_detector():
    """Two 3x3 box filters: the composite 5x5 kernel weighs (1 2 3 2 1) per axis, so a 3x3
    blob excites most the unit centred on it."""
    model = nn.Sequential(nn.Conv2d(1, 1, 3, bias=False), nn.ReLU(), nn.Conv2d(1, 1, 3, bias=False))
    for conv in (model[0], model[2]):
        conv.weight.data = np.ones_like(conv.weight.data)
    return model


def test_top_patches_find_the_blob():
    images = blob_data()
    loader = DataLoader(ArrayDataset(images, np.zeros(20, np.int64)), batch_size=8)
    top = N.top_patches(blob_detector(), "2", loader, channel=0, k=3)
    assert list(top.indices[:2]) == [13, 5]
    np.testing.assert_array_equal(top.units[:2], [[8, 3], [1, 10]])
    np.testing.assert_array_equal(top.boxes[0], [3, 8, 8, 13])
    assert top.patches.shape == (3, 1, 5, 5)
    np.testing.assert_array_equal(top.patches[0], images[13, :, 8:13, 3:8])
    assert np.all(np.diff(top.values) <= 0)
    fixed = N.top_patches(blob_detector(), "2", images, channel=0, k=2, unit=(1, 10))
    assert fixed.indices[0] == 5 and np.all(fixed.units == [1, 10])


# ---------------------------------------------------------------------------------- features
def test_layer_features_flattened_or_averaged():
    model = small_cnn().eval()
    data = Shapes(n=10, size=32, seed=1, background="plain")
    flat, labels = E.layer_features(model, "6", data, batch_size=4)
    mean, _ = E.layer_features(model, "6", data, pool="mean", batch_size=4)
    images = np.stack([data[i][0] for i in range(10)])
    # The same batches of 4 (float32 GEMMs block differently for other batch sizes).
    direct = np.concatenate([N.layer_output(model, "6", images[i:i + 4]) for i in (0, 4, 8)])
    assert flat.shape == (10, 32 * 16 * 16) and mean.shape == (10, 32)
    np.testing.assert_array_equal(flat, direct.reshape(10, -1))
    np.testing.assert_allclose(mean, direct.mean(axis=(2, 3)), rtol=1e-6)
    np.testing.assert_array_equal(labels, data.targets)
    assert E.layer_features(model, "6", images)[1] is None


# ---------------------------------------------------------------------------------- figures
def test_every_plot_returns_a_figure():
    from matplotlib.figure import Figure
    model = blob_detector()
    images = blob_data()
    x, labels = clusters(n_per=10)
    rf = N.receptive_field(model, "2", (1, 16, 16))
    figures = [
        N.plot_filters(N.filter_grid(small_cnn(), "0")),
        N.plot_filters(N.filter_grid(small_cnn(), "4", channels="mean")),
        N.plot_activation_maps(N.activation_maps(small_cnn().eval(), "2", images[0].repeat(3, 0))),
        N.plot_receptive_field(images[13], rf.box(8, 3)),
        N.plot_receptive_field(images[13], np.stack([rf.box(8, 3), rf.box(1, 1)])),
        N.plot_top_patches(N.top_patches(model, "2", images, channel=0, k=4)),
        E.plot_embedding(E.pca(x).projections, labels, ["a", "b", "c"]),
        E.plot_embedding(E.pca(x).projections),
        E.plot_explained_variance(E.pca(x, n_components=5)),
        E.plot_tsne_loss(E.tsne(x, perplexity=5.0, n_iter=20)),
    ]
    assert all(isinstance(fig, Figure) for fig in figures)
    plot.pyplot().close("all")


def test_trained_shapes_first_layer_filters():
    from matplotlib.figure import Figure
    model = trained_shapes_cnn()[0]
    grid = N.filter_grid(model, "0")                   # 16 colour 3x3 filters, 4 per row
    assert grid.shape == (3, 15, 15) and 0 <= grid.min() and grid.max() <= 1
    assert isinstance(N.plot_filters(grid, "first layer"), Figure)
    plot.pyplot().close("all")
