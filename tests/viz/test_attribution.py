"""Attribution (minidl/viz/attribution.py) and class activation maps (minidl/viz/cam.py).

Exact properties in float64 on small networks built here (linear models, a network ending
in global average pooling, a score read from one region of a feature map, a tiny ReLU
network whose backward passes are worked out by hand), then statistical properties on the
small CNN trained once on Shapes (tests/viz_models.py).
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import minidl
import minidl.nn as nn
from minidl import viz
from minidl.viz import attribution as A
from minidl.viz import cam as C
from minidl.viz import plot
from tests.viz_models import small_cnn, trained_shapes_cnn


def logits_of(model, images):
    with minidl.no_grad():
        return model(minidl.tensor(np.asarray(images))).numpy()


def random_cnn():
    """small_cnn (conv-bn-relu-pool x2, conv-bn-relu, GAP, linear) in float64, eval mode."""
    return small_cnn().double().eval()


def linear_model(shape=(3, 6, 5), classes=4):
    """nn.Sequential(Flatten, Linear) in float64, and its weights reshaped to (K, C, H, W)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(shape)), classes)).double().eval()
    return model, model[1].weight.numpy().reshape((classes,) + shape)


# ---------------------------------------------------------------------------- gradients
def test_saliency_is_the_finite_difference_gradient_of_the_logit():
    model, x = random_cnn(), np.random.rand(3, 32, 32)
    target, eps = 5, 1e-6
    saliency_map, gradient = viz.saliency(model, x, target)
    for c, i, j in [(0, 3, 4), (1, 16, 16), (2, 30, 1), (0, 20, 27), (2, 9, 12)]:
        step = np.zeros_like(x)
        step[c, i, j] = eps
        scores = logits_of(model, np.stack([x + step, x - step]))[:, target]
        assert_allclose(gradient[c, i, j], (scores[0] - scores[1]) / (2 * eps), rtol=1e-6, atol=1e-9)
    assert_array_equal(saliency_map, np.abs(gradient).max(axis=0))


def test_default_target_is_the_predicted_class():
    model, x = random_cnn(), np.random.rand(3, 32, 32)
    predicted = int(logits_of(model, x[None])[0].argmax())
    assert_array_equal(viz.saliency(model, x)[1], viz.saliency(model, x, predicted)[1])
    assert_array_equal(viz.grad_cam(model, x, "8"), viz.grad_cam(model, x, "8", predicted))


def test_images_may_be_tensors_and_layers_modules_or_dotted_names():
    model, x = random_cnn(), np.random.rand(3, 32, 32)
    assert_array_equal(viz.saliency(model, minidl.tensor(x), 1)[1], viz.saliency(model, x, 1)[1])
    assert_array_equal(viz.grad_cam(model, minidl.tensor(x), model[10], 1),
                       viz.grad_cam(model, x, "10", 1))
    with pytest.raises(KeyError, match="no layer named"):
        viz.grad_cam(model, x, "layer4")


def test_linear_model_saliency_gradient_x_input_and_smoothgrad():
    model, w = linear_model()
    x = np.random.rand(3, 6, 5)
    saliency_map, gradient = viz.saliency(model, x, 2)
    assert_allclose(gradient, w[2], rtol=1e-14)
    assert_allclose(saliency_map, np.abs(w[2]).max(axis=0), rtol=1e-14)
    assert_allclose(viz.gradient_x_input(model, x, 2), w[2] * x, rtol=1e-14)
    assert_allclose(viz.smoothgrad(model, x, 2, noise=0.3, samples=7), w[2], rtol=1e-13)


def test_linear_model_occlusion_1x1_is_the_channel_sum_of_w_times_x():
    model, w = linear_model()
    x = np.random.rand(3, 6, 5)
    sensitivity = viz.occlusion(model, x, 1, patch=1, stride=1, baseline=0.0)
    assert_allclose(sensitivity, (w[1] * x).sum(axis=0), rtol=1e-10, atol=1e-13)


def test_occlusion_of_the_whole_image_is_the_score_difference_to_the_baseline():
    model, x = random_cnn(), np.random.rand(3, 32, 32)
    sensitivity = viz.occlusion(model, x, 3, patch=32, stride=32, baseline=0.5)
    scores = logits_of(model, np.stack([x, np.full_like(x, 0.5)]))[:, 3]
    assert_allclose(sensitivity, np.full((32, 32), scores[0] - scores[1]), rtol=1e-12)


def test_occlusion_covers_every_pixel_when_the_stride_does_not_divide_the_size():
    model, w = linear_model(shape=(3, 7, 7))
    x = np.random.rand(3, 7, 7)
    sensitivity = viz.occlusion(model, x, 0, patch=3, stride=3, baseline=0.0)
    # windows start at 0, 3 and 4 (flush with the border): pixels 4 and 5 have two windows
    drop = [[(w[0] * x)[:, i:i + 3, j:j + 3].sum() for j in (0, 3, 4)] for i in (0, 3, 4)]
    assert_allclose(sensitivity[0, 0], drop[0][0], rtol=1e-10)
    assert_allclose(sensitivity[6, 6], drop[2][2], rtol=1e-10)
    assert_allclose(sensitivity[5, 0], (drop[1][0] + drop[2][0]) / 2, rtol=1e-10)


@pytest.mark.parametrize("riemann", A.RIEMANN_RULES)
def test_linear_model_integrated_gradients_is_w_times_x_minus_baseline(riemann):
    model, w = linear_model()
    x, baseline = np.random.rand(3, 6, 5), np.random.rand(3, 6, 5)
    attributions, gap = viz.integrated_gradients(model, x, 3, baseline=baseline, steps=7,
                                                 riemann=riemann)
    assert_allclose(attributions, w[3] * (x - baseline), rtol=1e-12, atol=1e-15)
    assert abs(gap) < 1e-12


def test_riemann_rules_on_a_linear_integrand():
    # integral_0^1 a da = 1/2: midpoint and trapezoid are exact, left and right are off by
    # -1/(2m) and +1/(2m) with m steps.
    for riemann, error in [("left", -1 / 20), ("right", 1 / 20), ("midpoint", 0), ("trapezoid", 0)]:
        alphas, weights = A.riemann_points(10, riemann)
        assert len(alphas) == 10
        assert_allclose(weights.sum(), 1.0, rtol=1e-15)
        assert_allclose((weights * alphas).sum() - 0.5, error, atol=1e-15)
    with pytest.raises(ValueError):
        A.riemann_points(10, "simpson")


def test_smoothgrad_is_seeded():
    model, x = random_cnn(), np.random.rand(3, 32, 32)
    first = viz.smoothgrad(model, x, 1, samples=6, seed=3)
    assert_array_equal(first, viz.smoothgrad(model, x, 1, samples=6, seed=3))
    assert not np.array_equal(first, viz.smoothgrad(model, x, 1, samples=6, seed=4))
    assert_allclose(viz.smoothgrad(model, x, 1, noise=0.0, samples=3), viz.saliency(model, x, 1)[1],
                    rtol=1e-14, atol=1e-18)


# ---------------------------------------------------------------------------- backprop rules
def hand_network():
    """x (1, 1, 2) -> Linear(2, 2) -> ReLU -> Linear(2, 2) -> ReLU -> Linear(2, 2).

    With x = (1, 2):  a1 = W1 x + b1 = (-1, 2) + (0, -1) = (-1, 1), h1 = (0, 1);
                      a2 = W2 h1 + b2 = (1, -1) + (0, 2) = (1, 1),  h2 = (1, 1);
                      y0 = (1, -2) . h2 = -1.
    """
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2), nn.ReLU(),
                          nn.Linear(2, 2, bias=False)).double().eval()
    for layer, weight, bias in [(model[1], [[1, -1], [0, 1]], [0, -1]),
                                (model[3], [[2, 1], [1, -1]], [0, 2])]:
        layer.weight, layer.bias = nn.Parameter(np.array(weight, float)), nn.Parameter(np.array(bias, float))
    model[5].weight = nn.Parameter(np.array([[1, -2], [0, 1]], float))
    return model, np.array([[[1.0, 2.0]]])


def test_guided_backprop_and_deconvnet_match_the_hand_computation():
    # Backward from y0: dy0/dh2 = (1, -2); then at ReLU 2 (inputs a2 = (1, 1), both positive)
    #   default g2 = (1, -2) * (1, 1) = (1, -2);  guided and deconvnet: max(., 0) = (1, 0).
    # dy0/dh1 = g2 W2: default (1, -2) W2 = (0, 3); guided and deconvnet (1, 0) W2 = (2, 1).
    # ReLU 1 (inputs a1 = (-1, 1)): default (0, 3) * (0, 1) = (0, 3);
    #   guided max((2, 1), 0) * (0, 1) = (0, 1);  deconvnet max((2, 1), 0) = (2, 1).
    # dy0/dx = g1 W1 with W1 = [[1, -1], [0, 1]]: default (0, 3), guided (0, 1), deconvnet (2, -1).
    model, x = hand_network()
    assert_array_equal(logits_of(model, x[None])[0], [-1.0, 1.0])
    assert_array_equal(viz.saliency(model, x, 0)[1], [[[0.0, 3.0]]])
    assert_array_equal(viz.guided_backprop(model, x, 0), [[[0.0, 1.0]]])
    assert_array_equal(viz.deconvnet(model, x, 0), [[[2.0, -1.0]]])


def test_deconvnet_without_max_pooling_does_not_depend_on_the_input():
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.Conv2d(6, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 5)).double().eval()
    x1, x2 = np.random.rand(3, 12, 12), np.random.randn(3, 12, 12)
    assert_array_equal(viz.deconvnet(model, x1, 2), viz.deconvnet(model, x2, 2))
    assert not np.allclose(viz.guided_backprop(model, x1, 2), viz.guided_backprop(model, x2, 2))


# ---------------------------------------------------------------------------- class activation maps
def gap_network_parts(model, x, layer="10"):
    """The feature maps A (K, h, w) of the last ReLU, the logits, W and b of the last layer."""
    with viz.capture(viz.get_module(model, layer)) as seen:
        logits = logits_of(model, x[None])[0]
    return seen[0].numpy()[0], logits, model[13].weight.numpy(), model[13].bias.numpy()


def test_grad_cam_on_a_gap_network_is_cam():
    model, x, c = random_cnn(), np.random.rand(3, 32, 32), 4
    maps, logits, w, b = gap_network_parts(model, x)
    cam = np.tensordot(w[c], maps, axes=1)  # Zhou et al.: sum_k w_ck A_k
    hw = maps.shape[1] * maps.shape[2]
    before_relu = viz.grad_cam(model, x, "10", c, relu=False, upsample=False)
    assert_allclose(hw * before_relu, cam, rtol=1e-12, atol=1e-14)
    assert_allclose(before_relu.sum(), logits[c] - b[c], rtol=1e-12)
    assert_allclose(viz.grad_cam(model, x, "10", c, upsample=False), np.maximum(before_relu, 0))
    assert_allclose(viz.hires_cam(model, x, "10", c, upsample=False), cam / hw, rtol=1e-12, atol=1e-15)


def test_grad_cam_plus_plus_on_a_gap_network_matches_its_closed_form():
    # dy_c/dA_k = w_ck / hw everywhere, so alpha_k = 1 / (2 + S_k w_ck / hw) with S_k = sum A_k
    # and the weight is exp(y_c) * hw * alpha_k * ReLU(w_ck / hw).
    model, x, c = random_cnn(), np.random.rand(3, 32, 32), 2
    maps, logits, w, _ = gap_network_parts(model, x)
    hw = maps.shape[1] * maps.shape[2]
    g = w[c] / hw
    weights = np.exp(logits[c]) * hw * np.maximum(g, 0) / (2 + maps.sum(axis=(1, 2)) * g)
    expected = np.maximum(np.tensordot(weights, maps, axes=1), 0)
    assert_allclose(viz.grad_cam_plus_plus(model, x, "10", c, upsample=False), expected,
                    rtol=1e-12, atol=1e-15)


def softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_score_cam_on_a_linear_model_follows_its_formula():
    # The layer is a ReLU on a positive image: its maps A_k are the channels x_k themselves,
    # already at the image's size, and the masked images' logits are w . (x * H_k) + b.
    model = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(90, 4)).double().eval()
    w, b = model[2].weight.numpy().reshape(4, 3, 6, 5), model[2].bias.numpy()
    x, c = np.random.rand(3, 6, 5), 1
    low, high = x.min(axis=(1, 2), keepdims=True), x.max(axis=(1, 2), keepdims=True)
    masks = (x - low) / (high - low)
    masked_logits = np.stack([(w * x * mask).sum(axis=(1, 2, 3)) + b for mask in masks])
    weights = softmax(masked_logits)[:, c] - softmax(b)[c]
    expected = np.maximum(np.tensordot(weights, x, axes=1), 0)
    assert_allclose(viz.score_cam(model, x, "0", c), expected, rtol=1e-12, atol=1e-15)


def test_cams_are_upsampled_bilinearly_to_the_image_size():
    model, x = random_cnn(), np.random.rand(3, 32, 32)
    small = viz.grad_cam(model, x, "6", 1, upsample=False)
    assert small.shape == (16, 16)
    assert_array_equal(viz.grad_cam(model, x, "6", 1), C.upsample_maps(small[None], (32, 32))[0])
    for method in (viz.grad_cam_plus_plus, viz.hires_cam, viz.score_cam):
        assert method(model, x, "6", 1).shape == (32, 32)
    assert viz.guided_grad_cam(model, x, "6", 1).shape == (3, 32, 32)


class ReadRegion(nn.Module):
    """Logits = the mean of each channel of a feature map over rows x cols."""

    def __init__(self, rows, cols):
        super().__init__()
        self.rows, self.cols = rows, cols

    def forward(self, x):
        return x[:, :, self.rows, self.cols].mean(axis=(2, 3))


def outside(shape, rows, cols, grow):
    """Mask of the pixels outside rows x cols widened by ``grow`` on every side."""
    mask = np.ones(shape, bool)
    mask[max(rows.start - grow, 0):rows.stop + grow, max(cols.start - grow, 0):cols.stop + grow] = False
    return mask


@pytest.mark.parametrize("rows, cols", [(slice(5, 6), slice(6, 7)), (slice(3, 5), slice(6, 9))])
def test_gradients_and_hires_cam_vanish_outside_the_receptive_field(rows, cols):
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Conv2d(3, 3, 3, padding=1),
                          nn.ReLU(), nn.Conv2d(3, 4, 3, padding=1), ReadRegion(rows, cols))
    model = model.double().eval()
    x = np.random.rand(2, 14, 14)
    gradient = viz.saliency(model, x, 1)[1]
    assert np.all(gradient[:, outside((14, 14), rows, cols, 3)] == 0)  # three 3x3 convs
    assert np.any(gradient[:, ~outside((14, 14), rows, cols, 3)] != 0)
    for layer, grow in [("3", 1), ("1", 2)]:
        hires = viz.hires_cam(model, x, layer, 1, upsample=False)
        assert np.all(hires[outside((14, 14), rows, cols, grow)] == 0)
        assert np.any(hires != 0)
    # Grad-CAM spreads the averaged gradient over the whole feature map.
    grad_cam = viz.grad_cam(model, x, "3", 1, relu=False, upsample=False)
    assert np.any(grad_cam[outside((14, 14), rows, cols, 1)] != 0)


# ---------------------------------------------------------------------------- no side effects
def test_hooks_and_backprop_rules_leave_forward_and_gradients_unchanged():
    model, x = random_cnn(), np.random.rand(3, 32, 32)
    logits, gradient = logits_of(model, x[None]), viz.saliency(model, x, 3)[1]
    with viz.capture(model[6]):
        assert_array_equal(logits_of(model, x[None]), logits)
    for rule in ("guided", "deconvnet"):
        with minidl.backprop_rule(rule):
            image = minidl.tensor(x[None], requires_grad=True)
            scores = model(image)
            assert_array_equal(scores.numpy(), logits)
            assert not np.array_equal(minidl.grad(scores[0, 3], image)[0], gradient)
            # a method states its own rule: saliency is the true gradient in any context
            assert_array_equal(viz.saliency(model, x, 3)[1], gradient)
    viz.guided_grad_cam(model, x, "6", 3)
    viz.score_cam(model, x, "10", 3)
    viz.deconvnet(model, x, 3)
    assert_array_equal(logits_of(model, x[None]), logits)
    assert_array_equal(viz.saliency(model, x, 3)[1], gradient)
    with pytest.raises(RuntimeError, match="inside"), minidl.backprop_rule("deconvnet"):
        raise RuntimeError("an error inside the context")
    assert_array_equal(viz.saliency(model, x, 3)[1], gradient)
    assert all(not module._forward_hooks for module in model.modules())


def test_a_layer_that_runs_twice_is_refused_and_its_hook_removed():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Conv2d(1, 2, 3), relu, nn.Conv2d(2, 2, 3), relu, nn.Flatten(),
                          nn.Linear(2 * 4 * 4, 3)).double().eval()
    with pytest.raises(ValueError, match="ran 2 times"):
        viz.grad_cam(model, np.random.rand(1, 8, 8), relu)
    assert not relu._forward_hooks


def test_methods_run_in_float32_and_return_float32():
    model, x = small_cnn().eval(), np.random.rand(3, 32, 32)
    results = [viz.saliency(model, x)[0], viz.gradient_x_input(model, x), viz.deconvnet(model, x),
               viz.smoothgrad(model, x, samples=3), viz.integrated_gradients(model, x, steps=4)[0],
               viz.occlusion(model, x, patch=8, stride=8), viz.grad_cam(model, x, "10"),
               viz.score_cam(model, x, "10"), viz.grad_cam_plus_plus(model, x, "10")]
    assert all(r.dtype == np.float32 for r in results)


# ---------------------------------------------------------------------------- trained model
@pytest.fixture(scope="module")
def shapes():
    """The shared trained CNN and the first 60 test images it classifies correctly."""
    model, _, test, _ = trained_shapes_cnn()
    images = np.stack([test[i][0] for i in range(60)])
    right = np.flatnonzero(logits_of(model, images).argmax(axis=1) == test.targets[:60])
    return model, images[right], test.targets[right], test.boxes[right]


def test_integrated_gradients_completeness_on_the_trained_model(shapes):
    model, images, labels, _ = shapes
    for x, label in zip(images[:10], labels[:10]):
        attributions, gap = viz.integrated_gradients(model, x, steps=50)
        scores = logits_of(model, np.stack([x, np.zeros_like(x)]))[:, label]
        difference = scores[0] - scores[1]
        assert_allclose(gap, attributions.sum() - difference, rtol=1e-4, atol=1e-4)
        assert abs(gap) <= 0.05 * abs(difference)


def test_grad_cam_mass_lies_mostly_inside_the_object_box(shapes):
    model, images, _, boxes = shapes
    inside, area = [], []
    for x, (x0, y0, x1, y1) in zip(images, boxes):
        cam = viz.grad_cam(model, x, "10")
        inside.append(cam[y0:y1, x0:x1].sum() / cam.sum())
        area.append((x1 - x0) * (y1 - y0) / cam.size)
    inside, area = np.array(inside), np.array(area)
    assert len(inside) >= 40
    assert inside.mean() > 0.5
    assert np.mean(inside > area) >= 0.9  # more than a uniform map would put in the box


def test_every_plot_returns_a_figure(shapes):
    from matplotlib.figure import Figure
    model, images, _, _ = shapes
    x = images[0]
    saliency_map, gradient = viz.saliency(model, x)
    figures = [
        viz.plot_occlusion(x, viz.occlusion(model, x)),
        viz.plot_saliency(x, saliency_map, gradient),
        viz.plot_saliency(x, saliency_map),
        viz.plot_gradient_x_input(x, viz.gradient_x_input(model, x)),
        viz.plot_smoothgrad(x, viz.smoothgrad(model, x, samples=4)),
        viz.plot_integrated_gradients(x, *viz.integrated_gradients(model, x, steps=8)),
        viz.plot_deconvnet(x, viz.deconvnet(model, x)),
        viz.plot_guided_backprop(x, viz.guided_backprop(model, x)),
        viz.plot_grad_cam(x, viz.grad_cam(model, x, "10")),
        viz.plot_guided_grad_cam(x, viz.guided_grad_cam(model, x, "10")),
        viz.plot_grad_cam_plus_plus(x, viz.grad_cam_plus_plus(model, x, "10")),
        viz.plot_hires_cam(x, viz.hires_cam(model, x, "10")),
        viz.plot_score_cam(x, viz.score_cam(model, x, "10")),
    ]
    assert all(isinstance(fig, Figure) for fig in figures)
    plot.pyplot().close("all")
