"""The model zoo: exact parameter counts, output shapes, the registry, multiply-add counts,
``num_classes``/``in_channels``, one training step on the small models, LeNet's connection
table, and, with torchvision installed, the same parameter names and shapes and the same
logits (float64) for every model torchvision has.

Each registered model is built once per test module (a module-scoped fixture: pytest groups
the tests that use it by model) and runs forward only on small inputs.
"""
import re
import sys

import numpy as np
import pytest

import minidl
import minidl.functional as F
import minidl.models as models
from minidl.models.efficientnet import StochasticDepth
from minidl.models.lenet import C3_TABLE
from minidl.models.vgg import VGG
from tests.torchvision_oracle import torchvision_models

# Parameters with the default classes (1000; 10 for LeNet and the CIFAR ResNets). torchvision
# models: its weights' "num_params" metadata; the others are computed and checked against
# the papers' rounded figures below.
EXPECTED_PARAMS = {
    "lenet5": 60_850, "lenet5_modern": 61_706,
    "alexnet": 61_100_840, "alexnet_paper": 62_378_344, "zfnet": 62_357_608,
    "vgg11": 132_863_336, "vgg13": 133_047_848, "vgg16": 138_357_544, "vgg19": 143_667_240,
    "vgg11_bn": 132_868_840, "vgg13_bn": 133_053_736, "vgg16_bn": 138_365_992,
    "vgg19_bn": 143_678_248,
    "googlenet": 6_624_904,
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "resnet101": 44_549_160, "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904,
    "resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586, "resnet56": 853_018,
    "resnet110": 1_727_962,
    "se_resnet18": 11_778_592, "se_resnet50": 28_088_024,
    "mobilenet_v1": 4_231_976, "mobilenet_v2": 3_504_872,
    "shufflenet_v2_x1_0": 2_278_604, "densenet121": 7_978_856, "squeezenet1_0": 1_248_424,
    "efficientnet_b0": 5_288_548,
    "inception_v3": 27_161_264, "inception_v4": 42_679_816, "inception_resnet_v2": 55_843_464,
    "nasnet_a_mobile": 5_289_978, "amoebanet_a_mobile": 5_086_930,
    # 3*16*9+16 + 32 + 16*32*9+32 + 64 + 32*32*9+32 + 64 + 32*10+10 (convs, BNs, linear)
    "small_cnn": 14_826,
}
# (millions, decimals) as the papers print them: He et al. 2016 Table 6 (CIFAR ResNets),
# Hu et al. (SE-ResNet-50), Howard et al. 2017 (MobileNet v1, 1.0 x 224), Zoph et al. 2018
# Table 3 (NASNet-A 4 @ 1056), Liu et al. 2019 Table 3 (AmoebaNet-A mobile), Real et al.
# 2019 Table 2 (Inception-ResNet-v2); tests/models/ has the sources of the exact counts.
PAPER_MILLIONS = {"resnet20": (0.27, 2), "resnet32": (0.46, 2), "resnet44": (0.66, 2),
                  "resnet56": (0.85, 2), "resnet110": (1.7, 1), "se_resnet50": (28.1, 1),
                  "mobilenet_v1": (4.2, 1), "nasnet_a_mobile": (5.3, 1),
                  "amoebanet_a_mobile": (5.1, 1), "inception_resnet_v2": (55.8, 1)}

# Small inputs the architectures accept (default: 32x32).
SMALL_SIZE = {"alexnet": 64, "alexnet_paper": 96, "zfnet": 64, "squeezenet1_0": 64,
              "inception_v3": 75, "inception_v4": 75, "inception_resnet_v2": 75}

# torchvision's models, with the arguments that give the same architecture.
TORCHVISION = {
    "alexnet": {}, "googlenet": {"aux_logits": False, "init_weights": False},
    "inception_v3": {"init_weights": False},
    "resnet18": {}, "resnet34": {}, "resnet50": {}, "resnet101": {}, "resnet152": {},
    "resnext50_32x4d": {}, "mobilenet_v2": {}, "shufflenet_v2_x1_0": {}, "densenet121": {},
    "squeezenet1_0": {}, "efficientnet_b0": {},
    **{f"vgg{d}{bn}": {"init_weights": False} for d in (11, 13, 16, 19) for bn in ("", "_bn")},
}
# Models that differ from one whose logits are compared only in their layer lists, which
# the names, shapes and counts check (each logits check of a big model copies it to float64).
NAMES_ONLY = {"resnet101", "resnet152", "vgg11", "vgg13", "vgg16", "vgg19", "vgg13_bn",
              "vgg16_bn", "vgg19_bn"}


def small_input(name, batch=2, channels=None, dtype=np.float32, seed=0):
    default_channels, size, _ = models.input_size(name)
    size = SMALL_SIZE.get(name, min(size, 32))
    shape = (batch, channels or default_channels, size, size)
    return minidl.tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


@pytest.fixture(scope="module")
def built(request):
    """(name, model) with the default arguments, built once per module per name (the VGGs
    without their N(0, 0.01) re-initialisation of 124M weights, which counts do not need)."""
    options = {"init_weights": False} if request.param.startswith("vgg") else {}
    return request.param, models.get(request.param, **options)


def randomise_batch_norms(torch_model, torch):
    """Non-trivial statistics and affine parameters, so that eval-mode BN is tested."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in torch_model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                for t, lo, hi in ((m.running_mean, -0.5, 0.5), (m.running_var, 0.5, 1.5),
                                  (m.weight, 0.5, 1.5), (m.bias, -0.5, 0.5)):
                    t.copy_(torch.rand(t.shape, generator=generator) * (hi - lo) + lo)


def arrays_of(torch_model):
    return {k: v.numpy() for k, v in torch_model.state_dict().items()}


# ----------------------------------------------------------------------------- every model
def test_every_registered_model_has_an_expected_count():
    assert sorted(EXPECTED_PARAMS) == models.names()


@pytest.mark.parametrize("built", models.names(), indirect=True)
def test_parameter_count(built):
    name, model = built
    assert models.count_parameters(model) == EXPECTED_PARAMS[name]
    if name in PAPER_MILLIONS:
        millions, decimals = PAPER_MILLIONS[name]
        assert round(EXPECTED_PARAMS[name] / 1e6, decimals) == millions


@pytest.mark.parametrize("name", models.names())
def test_docstrings_name_the_paper(name):
    constructor = getattr(models, name)
    assert constructor.__doc__
    family_doc = sys.modules[constructor.__module__].__doc__
    assert re.search(r"\b(19|20)\d\d\b", family_doc), "the family docstring cites the paper"


@pytest.mark.parametrize("name", models.names())
def test_num_classes_in_channels_and_output_shape(name):
    options = {"hidden_features": 16} if name.startswith("vgg") else {}  # not 120M weights
    model = models.get(name, num_classes=5, in_channels=1, **options).eval()
    with minidl.no_grad():
        y = model(small_input(name, channels=1))
    assert y.shape == (2, 5)
    assert np.isfinite(y.numpy()).all()


def test_unknown_name_is_one_line_listing_the_known_names():
    for lookup in (models.get, models.input_size):
        with pytest.raises(ValueError) as info:
            lookup("resnet19")
        message = str(info.value)
        assert "\n" not in message and "'resnet19'" in message
        assert all(name in message for name in models.names())


# ----------------------------------------------------------------------------- complexity
# Multiply-adds at the canonical input, as torchvision's weight metadata gives them ("_ops",
# in G), and as Howard et al. 2017 give them for MobileNet v1 1.0 x 224 (569 million).
@pytest.mark.parametrize("name, giga_macs", [
    ("resnet18", 1.814), ("mobilenet_v2", 0.301), ("shufflenet_v2_x1_0", 0.145),
    ("squeezenet1_0", 0.819), ("efficientnet_b0", 0.386), ("mobilenet_v1", 0.569)])
def test_complexity(name, giga_macs):
    params, macs = models.complexity(models.get(name), models.input_size(name))
    assert params == EXPECTED_PARAMS[name]
    assert round(macs / 1e9, 3) == giga_macs


def test_complexity_of_lenet5_counts_only_connected_weights_and_keeps_modes():
    model = models.lenet5()
    model.f6.eval()
    params, macs = models.complexity(model, (1, 32, 32))
    assert params == 60_850
    # C1 28*28*150 + C3 10*10*1500 (Table I's 60 connections) + C5 120*400 + F6 + output.
    assert macs == 117_600 + 150_000 + 48_000 + 10_080 + 840
    assert model.training and model.c1.training and not model.f6.training


# ----------------------------------------------------------------------------- training
TRAINABLE = {
    "lenet5": lambda: models.lenet5(),
    "lenet5_modern": lambda: models.lenet5_modern(),
    "resnet20": lambda: models.resnet20(),
    "mobilenet_v1_x0.25": lambda: models.mobilenet_v1(num_classes=10, width_mult=0.25),
    "mobilenet_v2_x0.25": lambda: models.mobilenet_v2(num_classes=10, width_mult=0.25),
    "tiny_vgg_bn": lambda: VGG([8, "M", 16, "M"], batch_norm=True, num_classes=10,
                               hidden_features=32),
}


def sgd_step(model, x, labels, **sgd_options):
    """One SGD step on a fixed batch; returns the loss before and after it (same dropout
    masks, by reseeding)."""
    optimizer = minidl.optim.SGD(model.parameters(), **sgd_options)

    def loss():
        minidl.manual_seed(1)
        return F.cross_entropy(model(x), labels)

    before = loss()
    optimizer.zero_grad()
    before.backward()
    optimizer.step()
    with minidl.no_grad():
        return before.item(), loss().item()


@pytest.mark.parametrize("name", sorted(TRAINABLE))
def test_one_sgd_step_lowers_the_loss(name):
    model = TRAINABLE[name]()
    channels = model.c1.in_channels if name.startswith("lenet") else 3
    size = 64 if name.startswith("mobilenet") else 32  # 32 leaves 1x1 maps: BN over 8 values
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.standard_normal((8, channels, size, size)).astype(np.float32))
    labels = minidl.tensor(rng.integers(0, 10, 8))
    before, after = sgd_step(model, x, labels, lr=0.001)  # small enough for first order
    assert after < before


# ----------------------------------------------------------------------------- LeNet-5
def test_c3_table_is_table_one_of_the_paper():
    # Maps 0-5 read 3 neighbouring S2 maps, 6-11 four neighbouring ones, 12-14 the
    # non-neighbouring quadruples {0,1,3,4}, {1,2,4,5}, {0,2,3,5}, and map 15 all six.
    inputs = [{(j + i) % 6 for i in range(3)} for j in range(6)]
    inputs += [{(j + i) % 6 for i in range(4)} for j in range(6)]
    inputs += [{0, 1, 3, 4}, {1, 2, 4, 5}, {0, 2, 3, 5}, set(range(6))]
    assert [set(np.flatnonzero(C3_TABLE[:, j])) for j in range(16)] == inputs


def test_lenet5_has_the_papers_60000_parameters_below_the_output_layer():
    model = models.lenet5()
    output = sum(p.numel() for p in model.output.parameters())
    assert models.count_parameters(model) - output == 60_000
    assert models.count_parameters(model.c3) == 1_516
    assert models.count_parameters(models.lenet5(connection_table=False).c3) == 2_416


def test_lenet5_unconnected_c3_weights_stay_zero_under_training():
    model = models.lenet5()
    unconnected = model.c3.weight_mask.numpy() == 0
    assert unconnected.sum() == 36 * 25
    assert (model.c3.weight.numpy()[unconnected] == 0).all()
    connected_before = model.c3.weight.numpy()[~unconnected].copy()
    rng = np.random.default_rng(0)
    x = minidl.tensor(rng.standard_normal((8, 1, 32, 32)).astype(np.float32))
    labels = minidl.tensor(rng.integers(0, 10, 8))
    before, after = sgd_step(model, x, labels, lr=0.05, momentum=0.9, weight_decay=1e-3)
    assert after < before
    assert (model.c3.weight.grad[unconnected] == 0).all()
    assert (model.c3.weight.numpy()[unconnected] == 0).all()
    assert (model.c3.weight.numpy()[~unconnected] != connected_before).all()


# ----------------------------------------------------------------------------- other parts
def test_cifar_resnet18_stem():
    model = models.resnet18(num_classes=10, stem="cifar")
    assert model.conv1.weight.shape == (64, 3, 3, 3) and model.conv1.stride == (1, 1)
    assert isinstance(model.maxpool, minidl.nn.Identity)
    assert models.count_parameters(model) == 11_173_962
    with minidl.no_grad():
        assert model.eval()(small_input("resnet20")).shape == (2, 10)


def test_option_a_shortcut_is_subsampling_and_zero_channels():
    block = models.resnet20().layer2[0]
    assert list(block.downsample.parameters()) == []
    x = small_input("resnet20", channels=16, dtype=np.float64)
    y = block.downsample(x).numpy()
    assert y.shape == (2, 32, 16, 16)
    np.testing.assert_array_equal(y[:, :16], x.numpy()[:, :, ::2, ::2])
    assert (y[:, 16:] == 0).all()


def test_stochastic_depth_drops_whole_samples_in_training_only():
    x = minidl.ones(64, 3, 2, 2)
    layer = StochasticDepth(0.25)
    y = layer(x).numpy()
    per_sample = y.reshape(64, -1)
    assert set(np.unique(per_sample)) <= {0.0, np.float32(1 / 0.75)}
    assert (per_sample == per_sample[:, :1]).all() and 0 < (per_sample[:, 0] == 0).sum() < 64
    minidl.manual_seed(3)
    first = layer(x).numpy()
    minidl.manual_seed(3)
    np.testing.assert_array_equal(layer(x).numpy(), first)
    assert layer.eval()(x) is x


def test_googlenet_aux_heads_in_training_mode():
    model = models.googlenet(num_classes=7, aux_logits=True)
    assert models.count_parameters(models.googlenet(aux_logits=True)) == 13_004_888
    out = model(small_input("googlenet"))
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 7)] * 3
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    with minidl.no_grad():
        assert model.eval()(small_input("googlenet")).shape == (2, 7)


# ----------------------------------------------------------------------------- torchvision
@pytest.mark.parametrize("built", models.names(), indirect=True)
def test_same_names_shapes_and_logits_as_torchvision(built):
    name, model = built
    if name not in TORCHVISION:
        pytest.skip("torchvision does not have this model")
    tvm = torchvision_models()
    import torch
    assert tvm.get_model_weights(name).DEFAULT.meta["num_params"] == EXPECTED_PARAMS[name]
    reference = tvm.get_model(name, **TORCHVISION[name])
    shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert shapes == [(k, tuple(v.shape)) for k, v in reference.state_dict().items()]
    assert [k for k, _ in model.named_parameters()] == [k for k, _ in reference.named_parameters()]
    if name in NAMES_ONLY:
        return
    randomise_batch_norms(reference, torch)
    reference.double().eval()
    model.double().eval()
    model.load_state_dict(arrays_of(reference), strict=True)
    x = small_input(name, dtype=np.float64)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.numpy())).numpy()
    with minidl.no_grad():
        np.testing.assert_allclose(model(x).numpy(), expected, rtol=1e-9, atol=1e-12)


def test_googlenet_aux_heads_match_torchvision_in_training_mode():
    tvm = torchvision_models()
    import torch
    options = dict(num_classes=10, aux_logits=True, dropout=0.0, dropout_aux=0.0)
    reference = tvm.googlenet(init_weights=False, **options).double()
    model = models.googlenet(**options).double()
    randomise_batch_norms(reference, torch)
    model.load_state_dict(arrays_of(reference), strict=True)
    x = small_input("googlenet", dtype=np.float64)
    expected = reference(torch.from_numpy(x.numpy()))
    for ours, theirs in zip(model(x), expected):
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-9,
                                   atol=1e-12)


@pytest.mark.parametrize("name, options", [
    ("resnet18", {}), ("mobilenet_v2", {"width_mult": 0.25, "dropout": 0.0})])
def test_training_mode_gradients_match_torchvision(name, options):
    tvm = torchvision_models()
    import torch
    reference = tvm.get_model(name, num_classes=10, **options).double()
    model = models.get(name, num_classes=10, **options).double()
    model.load_state_dict(arrays_of(reference), strict=True)
    x = small_input(name, batch=4, dtype=np.float64)
    labels = np.random.default_rng(1).integers(0, 10, 4)
    loss = torch.nn.functional.cross_entropy(reference(torch.from_numpy(x.numpy())),
                                             torch.from_numpy(labels))
    loss.backward()
    ours = F.cross_entropy(model(x), minidl.tensor(labels))
    ours.backward()
    assert ours.item() == pytest.approx(loss.item(), rel=1e-12)
    expected = {k: p.grad.numpy() for k, p in reference.named_parameters()}
    scale = max(np.linalg.norm(g) for g in expected.values())
    # Norm-wise per tensor: an entry that cancels to nearly zero inherits the rounding of the
    # large terms it sums (float64 through a deep stack of batch norms), and some biases have
    # a zero gradient (rounding noise on both sides), so each tensor is compared as a whole.
    for key, p in model.named_parameters():
        error = np.linalg.norm(p.grad - expected[key])
        assert error <= 1e-10 * np.linalg.norm(expected[key]) + 1e-12 * scale, key
