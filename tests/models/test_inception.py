"""Inception-v3 (torchvision's names, shapes and logits), Inception-v4 and
Inception-ResNet-v2 (the published parameter counts and multiply-adds).

Each big model is built once per module; forwards at 299 x 299 run on one image.
"""
import numpy as np
import pytest

import minidl
import minidl.models as models
from minidl.models.inception_v3 import InceptionOutputs
from minidl.models.inception_v4 import block35
from tests.torchvision_oracle import torchvision_models


@pytest.fixture(scope="module")
def v3():
    return models.inception_v3()


@pytest.fixture(scope="module")
def v4():
    return models.inception_v4()


@pytest.fixture(scope="module")
def resnet_v2():
    return models.inception_resnet_v2()


def randomise_batch_norms(torch_model, torch):
    """Non-trivial running statistics and affine parameters, so eval-mode BN is exercised."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in torch_model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                for t, lo, hi in ((m.running_mean, -0.5, 0.5), (m.running_var, 0.5, 1.5),
                                  (m.weight, 0.5, 1.5), (m.bias, -0.5, 0.5)):
                    t.copy_(torch.rand(t.shape, generator=generator) * (hi - lo) + lo)


def arrays_of(torch_module):
    return {k: v.numpy() for k, v in torch_module.state_dict().items()}


def image(batch, size, channels=3, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return minidl.tensor(rng.standard_normal((batch, channels, size, size)).astype(dtype))


# ----------------------------------------------------------------------------- Inception-v3
def test_inception_v3_counts_match_the_published_figures(v3):
    # torchvision's weights metadata: 27,161,264 parameters with the auxiliary head and
    # "_ops" 5.713 (G multiply-adds at 299); Tan and Le 2019 (EfficientNet, Table 2) list
    # Inception-v3 at 24M parameters and 5.7B FLOPs, i.e. without the auxiliary head.
    params, macs = models.complexity(v3, models.input_size("inception_v3"))
    assert params == 27_161_264
    assert round(macs / 1e9, 3) == 5.713
    without_aux = models.count_parameters(models.inception_v3(aux_logits=False))
    assert round(without_aux / 1e6) == 24


@pytest.mark.parametrize("aux_logits", [True, False])
def test_inception_v3_has_torchvisions_names_shapes_and_count(aux_logits, v3):
    tvm = torchvision_models()
    reference = tvm.inception_v3(init_weights=False, aux_logits=aux_logits)
    model = v3 if aux_logits else models.inception_v3(aux_logits=False)
    ours = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    assert ours == [(k, tuple(v.shape)) for k, v in reference.state_dict().items()]
    assert models.count_parameters(model) == sum(p.numel() for p in reference.parameters())


def test_inception_v3_gives_torchvisions_logits_for_its_weights():
    tvm = torchvision_models()
    import torch
    reference = tvm.inception_v3(init_weights=False, transform_input=True).double().eval()
    randomise_batch_norms(reference, torch)
    model = models.inception_v3(transform_input=True).double().eval()
    model.load_state_dict(arrays_of(reference), strict=True)
    x = image(1, 299)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x.numpy())).numpy()
    with minidl.no_grad():
        logits = model(x).numpy()
    assert np.abs(expected).max() > 1e-2  # the comparison is not between near-zeros
    np.testing.assert_allclose(logits, expected, rtol=1e-9, atol=1e-12)


def test_inception_v3_aux_head_matches_torchvision_in_training_mode():
    # The head alone, on a 17 x 17 x 768 map (its input in the network), with batch-norm
    # statistics from the batch: the full network would need two 299 x 299 forwards.
    tvm = torchvision_models()
    import torch
    reference = tvm.inception_v3(init_weights=False, num_classes=7).AuxLogits.double()
    head = models.inception_v3(num_classes=7).AuxLogits.double()
    head.load_state_dict(arrays_of(reference), strict=True)
    x = np.random.default_rng(1).standard_normal((3, 768, 17, 17))
    expected = reference(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(head(minidl.tensor(x)).numpy(), expected, rtol=1e-9, atol=1e-12)


def test_inception_v3_returns_aux_logits_only_in_training_mode():
    model = models.inception_v3(num_classes=4, in_channels=1)
    with minidl.no_grad():
        out = model(image(2, 299, channels=1, dtype=np.float32))
        assert isinstance(out, InceptionOutputs)
        assert out.logits.shape == (2, 4) and out.aux_logits.shape == (2, 4)
        assert model.eval()(image(1, 75, channels=1, dtype=np.float32)).shape == (1, 4)


def test_transform_input_needs_three_channels():
    with pytest.raises(ValueError, match="in_channels=1"):
        models.inception_v3(in_channels=1, transform_input=True)


# ----------------------------------------------------------------------------- v4, ResNet-v2
def test_inception_v4_counts_and_grids(v4):
    # Szegedy et al. 2017 give no count; 42,679,816 is the count of the released model as
    # keras-hub's inception_v4_imagenet preset ("params": 42679816) and imgclsmob's test
    # (weight_count == 42679816) state it; timm's model card: 42.7M params, 12.3 GMACs.
    # The grids (paper Fig. 9): 35 x 35 x 384 after the stem, 17 x 17 x 1024 after
    # Reduction-A, 8 x 8 x 1536 after Reduction-B, seen by hooks during the counting forward.
    shapes = []
    handles = [v4.features[i].register_forward_hook(lambda m, i, o: shapes.append(o.shape[1:]))
               for i in (0, 5, 13)]
    params, macs = models.complexity(v4, models.input_size("inception_v4"))
    for handle in handles:
        handle.remove()
    assert params == 42_679_816
    assert round(macs / 1e9, 1) == 12.3
    assert shapes == [(384, 35, 35), (1024, 17, 17), (1536, 8, 8)]


def test_inception_resnet_v2_counts(resnet_v2):
    # Real et al. 2019 (AmoebaNet), Table 2: "Incep-ResNet V2 (Szegedy et al. 2017) 55.8M
    # parameters, 13.2B multiply-adds"; imgclsmob's test: weight_count == 55843464.
    params, macs = models.complexity(resnet_v2, models.input_size("inception_resnet_v2"))
    assert params == 55_843_464
    assert round(macs / 1e9, 1) == 13.2


def test_residual_block_adds_the_scaled_branch():
    block = block35(scale=0.17).eval()
    x = image(2, 5, channels=320)
    with minidl.no_grad():
        branch = block.up(block.branches(x)).numpy()
        expected = np.maximum(x.numpy() + 0.17 * branch, 0)
        np.testing.assert_allclose(block(x).numpy(), expected, rtol=1e-12, atol=1e-12)
