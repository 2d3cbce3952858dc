"""Synthesis by gradient ascent on the input: activation maximisation, DeepDream, feature
inversion, texture synthesis, style transfer and adversarial examples.

Exact properties run in float64 on small models whose answer is known in closed form;
statistical ones on the small CNN trained once on Shapes (tests/viz_models.py).
"""
import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl import viz
from minidl.data import Shapes
from tests.viz_models import small_cnn, trained_shapes_cnn


def linear_model(in_shape, classes, seed=0):
    """A float64 linear classifier on flattened images: logits = W vec(I) + b."""
    minidl.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(in_shape)), classes)).double()


@pytest.fixture(scope="module")
def shapes():
    """The shared trained CNN and 200 test images with their labels."""
    model, _, test, _ = trained_shapes_cnn()
    images = np.stack([test[i][0] for i in range(200)])
    labels = np.array([test[i][1] for i in range(200)])
    return model, images, labels


def predict(model, images):
    with minidl.no_grad():
        return model(minidl.tensor(np.asarray(images))).numpy().argmax(axis=1)


def relative_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


# --------------------------------------------------------------------------- priors
def test_tv_loss_of_a_ramp_and_its_gradient():
    ramp = np.tile(np.arange(5.0), (2, 4, 1))  # x[c, i, j] = j: horizontal steps of 1
    for beta in (1.0, 2.0, 3.0):
        assert viz.tv_loss(ramp, beta).item() == 2 * 3 * 4
    x = minidl.tensor(np.random.default_rng(0).standard_normal((2, 2, 4, 5)), requires_grad=True)
    for beta in (1.0, 2.0):
        assert minidl.gradcheck(lambda t, beta=beta: viz.tv_loss(t, beta), [x])


def test_alpha_norm_value_and_gradient():
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    assert viz.alpha_norm(x, 6).item() == pytest.approx((x ** 6).sum(), rel=1e-14)
    assert minidl.gradcheck(lambda t: viz.alpha_norm(t, 3.0), [minidl.tensor(x, requires_grad=True)])


def test_gaussian_blur_keeps_constants_and_sums_of_the_interior():
    constant = np.full((3, 9, 9), 0.7)
    np.testing.assert_allclose(viz.gaussian_blur(constant, 1.0), constant, rtol=1e-14)
    impulse = np.zeros((1, 15, 15))
    impulse[0, 7, 7] = 1.0
    blurred = viz.gaussian_blur(impulse, 1.0)  # far from the border: a normalised Gaussian
    assert blurred.sum() == pytest.approx(1.0, rel=1e-14)
    np.testing.assert_allclose(blurred[0], blurred[0].T, rtol=1e-14)
    assert blurred[0, 7, 7] == blurred.max()
    x = minidl.tensor(np.random.default_rng(2).standard_normal((1, 2, 5, 6)), requires_grad=True)
    assert minidl.gradcheck(lambda t: viz.gaussian_blur(t, 0.8), [x], mode="fast")


def test_roll_matches_numpy_and_rolls_the_gradient_back():
    x = np.random.default_rng(3).standard_normal((1, 2, 4, 5))
    rolled = viz.roll(minidl.tensor(x), 1, -2)
    np.testing.assert_array_equal(rolled.numpy(), np.roll(x, (1, -2), axis=(2, 3)))
    t = minidl.tensor(x, requires_grad=True)
    weights = np.random.default_rng(4).standard_normal(x.shape)
    grad = minidl.grad((viz.roll(t, 1, -2) * weights).sum(), t)
    np.testing.assert_array_equal(grad, np.roll(weights, (-1, 2), axis=(2, 3)))


def test_pixel_clipping_priors_zero_the_smallest_pixels():
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal((1, 3, 4, 4)), rng.standard_normal((1, 3, 4, 4))
    by_norm = x.copy()
    viz.Regularizers(norm_percentile=50).project(by_norm, g, 0)
    norms = np.sqrt((x ** 2).sum(axis=1))[0]
    kept = norms >= np.median(norms)
    np.testing.assert_array_equal(by_norm[0], x[0] * kept)
    assert kept.sum() == 8
    by_contribution = x.copy()
    viz.Regularizers(contribution_percentile=25).project(by_contribution, g, 0)
    contribution = np.abs((x * g).sum(axis=1))[0]
    np.testing.assert_array_equal(by_contribution[0] == 0,
                                  np.broadcast_to(contribution < np.percentile(contribution, 25),
                                                  (3, 4, 4)))


# --------------------------------------------------------------------------- activation maximisation
def test_class_model_visualization_of_a_linear_model_is_w_over_2_lambda():
    """argmax_I w.I + b - lambda ||I||^2 = I* = w / (2 lambda), the maximum J* = ||w||^2 /
    (4 lambda) + b. From I = 0, plain ascent gives I_t - I* = (1 - 2 lr lambda)^t (-I*), so
    J* - J(I_t) = lambda ||I_t - I*||^2 = 0.64^t (J* - b) for lr = 1, lambda = 0.1."""
    model, lam = linear_model((3, 4, 4), 3), 0.1
    image, history = viz.class_model_visualization(model, 1, (3, 4, 4), steps=200, lr=1.0, l2=lam)
    w, b = model[1].weight.numpy()[1].reshape(3, 4, 4), model[1].bias.numpy()[1]
    np.testing.assert_allclose(image, w / (2 * lam), rtol=1e-12, atol=1e-14)
    best = (w ** 2).sum() / (4 * lam) + b
    assert history[-1] == pytest.approx(best, rel=1e-12)
    np.testing.assert_allclose(best - history[:20], 0.64 ** np.arange(20) * (best - b), rtol=1e-9)


def test_feature_visualization_restarts_keep_the_best_run(shapes):
    model, priors = shapes[0], dict(jitter=1, l2=1e-3, blur_every=5, tv=1e-3)
    with minidl.kernels.use("numba"):
        runs = [viz.feature_visualization(model, "5", 7, (3, 16, 16), steps=15, seed=s, **priors)
                for s in range(3)]
        best, history = viz.feature_visualization(model, "5", 7, (3, 16, 16), steps=15,
                                                  restarts=3, **priors)
    scores = []
    for image, _ in runs:
        with minidl.no_grad():
            x = minidl.tensor(image[None])
            a = viz.layer_activations(model, ["5"], x)[0][0, 7].mean().item()
            scores.append(a - viz.Regularizers(**priors).penalty(x).item())
    assert len(set(scores)) == 3
    np.testing.assert_array_equal(best, runs[int(np.argmax(scores))][0])
    assert history[-1] > history[0]


def test_class_model_visualization_with_all_priors_raises_the_score(shapes):
    model = shapes[0]
    with minidl.kernels.use("numba"):
        image, history = viz.class_model_visualization(
            model, 3, (3, 16, 16), steps=20, lr=0.05, optimizer="adam", init_std=0.1, l2=1e-3,
            decay=1e-3, tv=1e-3, jitter=1, blur_every=4, norm_percentile=5,
            contribution_percentile=5)
    assert image.shape == (3, 16, 16) and np.isfinite(image).all()
    assert history[-1] > history[0]
    assert predict(model, image[None])[0] == 3


def test_deep_dream_amplifies_the_layer_and_stays_in_range(shapes):
    model, images, _ = shapes
    with minidl.kernels.use("numba"):
        dreamt, history = viz.deep_dream(model, images[0], "6", steps=5, octaves=2)
        with minidl.no_grad():
            before, after = (viz.layer_activations(model, ["6"], minidl.tensor(x[None]))[0].numpy()
                             for x in (images[0], dreamt))
    assert dreamt.shape == images[0].shape and len(history) == 10
    assert dreamt.min() >= 0 and dreamt.max() <= 1
    assert (after ** 2).mean() > (before ** 2).mean()


def test_feature_inversion_reduces_the_loss(shapes):
    model, images, _ = shapes
    with minidl.kernels.use("numba"):
        reconstruction, history = viz.invert_features(model, "5", images[1], steps=60)
    assert reconstruction.shape == images[1].shape
    assert history[-1] < 0.2 * history[0]


# --------------------------------------------------------------------------- style
def test_gram_matrix_ignores_where_features_are():
    features = np.random.default_rng(6).standard_normal((2, 3, 4, 5))
    shuffled = features.reshape(2, 3, 20)[:, :, np.random.default_rng(7).permutation(20)]
    gram = viz.gram_matrix(features).numpy()
    np.testing.assert_allclose(viz.gram_matrix(shuffled.reshape(2, 3, 4, 5)).numpy(), gram,
                               rtol=1e-13, atol=1e-15)
    raw = np.einsum("ncp,ndp->ncd", features.reshape(2, 3, 20), features.reshape(2, 3, 20))
    np.testing.assert_allclose(gram, raw / (3 * 20), rtol=1e-13)
    np.testing.assert_allclose(viz.gram_matrix(features, "hw").numpy(), raw / 20, rtol=1e-13)


def test_style_loss_is_gatys_layer_loss_and_passes_gradcheck():
    rng = np.random.default_rng(8)
    features, target = rng.standard_normal((1, 3, 4, 5)), rng.standard_normal((1, 3, 4, 5))
    raw = [viz.gram_matrix(f, None).numpy() for f in (features, target)]
    gatys = ((raw[0] - raw[1]) ** 2).sum() / (4 * 3 ** 2 * 20 ** 2)
    target_gram = viz.gram_matrix(target)
    assert viz.style_loss(features, target_gram).item() == pytest.approx(gatys, rel=1e-12)
    x = minidl.tensor(features, requires_grad=True)
    assert minidl.gradcheck(lambda t: viz.style_loss(t, target_gram), [x])
    assert minidl.gradcheck(lambda t: viz.gram_matrix(t, "hw"), [x])
    assert minidl.gradcheck(lambda t: viz.content_loss(t, minidl.tensor(target)), [x])


def test_style_transfer_without_style_reproduces_the_content(shapes):
    model, images, _ = shapes
    content, style = images[3], images[5]
    same, history = viz.style_transfer(model, content, style, "6", ["2", "6"], style_weight=0,
                                       init="content", steps=3)
    np.testing.assert_array_equal(same, content)  # zero gradient: Adam does not move
    assert not history["total"].any()
    with minidl.kernels.use("numba"):  # a pre-ReLU layer: a convex quadratic in the pixels
        _, history = viz.style_transfer(model, content, style, "1", ["2"], style_weight=0,
                                        init="noise", steps=300, lr=0.02)
    assert history["content"][-1] < 1e-4 * history["content"][0]
    np.testing.assert_array_equal(history["style"], 0)


def test_texture_synthesis_matches_the_gram_matrices(shapes):
    model, layers = shapes[0], ["2", "6", "10"]
    texture = Shapes(n=1, size=32, seed=1, background="texture")[0][0]
    with minidl.no_grad():
        targets = [viz.gram_matrix(a).numpy() for a in
                   viz.layer_activations(model, layers, minidl.tensor(texture[None]))]
    weights = [1 / (t ** 2).sum() for t in targets]  # every layer's loss relative
    with minidl.kernels.use("numba"):
        image, history = viz.texture_synthesis(model, texture, layers, weights, steps=1000, lr=0.01)
        with minidl.no_grad():
            grams = [viz.gram_matrix(a).numpy() for a in
                     viz.layer_activations(model, layers, minidl.tensor(image[None]))]
    assert history[-1] < 0.01 * history[0]
    for gram, target in zip(grams, targets):
        assert relative_error(gram, target) < 0.05


# --------------------------------------------------------------------------- adversarial
def test_fgsm_flips_a_linear_model_exactly_at_margin_over_l1_norm():
    """The logit difference d = (w1 - w0).x + (b1 - b0) moves by -epsilon ||w1 - w0||_1."""
    model = linear_model((1, 4, 4), 2, seed=1)
    w = (model[1].weight.numpy()[1] - model[1].weight.numpy()[0]).reshape(1, 4, 4)
    b = model[1].bias.numpy()[1] - model[1].bias.numpy()[0]
    for seed in range(4):
        x = np.random.default_rng(seed).standard_normal((1, 4, 4))
        label = predict(model, x[None])[0]
        flip = abs((w * x).sum() + b) / np.abs(w).sum()
        below = viz.fgsm(model, x, label, flip * (1 - 1e-9))
        above = viz.fgsm(model, x, label, flip * (1 + 1e-9))
        assert predict(model, below[None])[0] == label
        assert predict(model, above[None])[0] == 1 - label


def test_steepest_steps_and_projections():
    grad = np.random.default_rng(9).standard_normal((3, 2, 4, 4))
    step = viz.steepest_step(grad, 0.7, "l2")
    np.testing.assert_allclose(np.sqrt((step ** 2).sum(axis=(1, 2, 3))), 0.7, rtol=1e-14)
    np.testing.assert_allclose(step / grad, np.broadcast_to(
        step[:, :1, :1, :1] / grad[:, :1, :1, :1], grad.shape), rtol=1e-12)  # along g
    np.testing.assert_array_equal(viz.steepest_step(grad, 0.1, "linf"), 0.1 * np.sign(grad))
    delta = 3 * grad
    inside = viz.project(delta, 0.5, "l2")
    np.testing.assert_allclose(np.sqrt((inside ** 2).sum(axis=(1, 2, 3))), 0.5, rtol=1e-14)
    np.testing.assert_array_equal(viz.project(0.01 * grad, 10.0, "l2"), 0.01 * grad)
    np.testing.assert_array_equal(viz.project(delta, 0.2, "linf"), np.clip(delta, -0.2, 0.2))


@pytest.mark.parametrize("norm, epsilon", [("l2", 0.5), ("linf", 0.05)])
def test_pgd_stays_in_the_ball_and_the_pixel_box(norm, epsilon):
    minidl.manual_seed(0)
    model = small_cnn().double().eval()
    x = np.random.default_rng(10).random((4, 3, 16, 16))
    labels = predict(model, x)
    adversarial = viz.pgd(model, x, labels, epsilon, step_size=epsilon / 2, steps=5, norm=norm,
                          random_start=True, value_range=(0.0, 1.0))
    delta = (adversarial - x).reshape(4, -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.sqrt((delta ** 2).sum(axis=1))
    assert np.all(size <= epsilon * (1 + 1e-12))
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    with minidl.no_grad():
        loss = [minidl.functional.cross_entropy(model(minidl.tensor(v)), labels).item()
                for v in (x, adversarial)]
    assert loss[1] > loss[0]


def test_pgd_is_no_weaker_than_fgsm(shapes):
    model, images, labels = shapes[0], shapes[1][:100], shapes[2][:100]
    epsilons = [0.01, 0.02, 0.04]
    with minidl.kernels.use("numba"):
        clean = viz.accuracy_vs_epsilon(model, images, labels, [0.0], "fgsm")
        fgsm = viz.accuracy_vs_epsilon(model, images, labels, epsilons, "fgsm", value_range=(0, 1))
        pgd = viz.accuracy_vs_epsilon(model, images, labels, epsilons, "pgd", steps=10,
                                      value_range=(0, 1))
    assert clean[0] == (predict(model, images) == labels).mean()
    assert np.all(fgsm < clean) and np.all(pgd <= fgsm)


def test_fooling_images_reach_every_chosen_class(shapes):
    model, images, _ = shapes
    with minidl.kernels.use("numba"):
        for image in images[:3]:
            for target in range(8):
                result = viz.fooling_image(model, image, target, step_size=0.1, max_steps=200,
                                           value_range=(0, 1))
                assert result.fooled and predict(model, result.image[None])[0] == target
                np.testing.assert_array_equal(result.perturbation, result.image - image)
                assert result.l2 == pytest.approx(np.sqrt((result.perturbation ** 2).sum()))
                assert len(result.target_probability) == result.steps + 1
                assert 0 <= result.image.min() and result.image.max() <= 1


# --------------------------------------------------------------------------- figures
def test_every_plot_helper_returns_a_figure(shapes):
    from matplotlib.figure import Figure
    plt = viz.plot.pyplot()
    model, images, _ = shapes
    image, other, curve = images[0], images[1], np.linspace(2, 1, 5)
    fooling = viz.fooling_image(model, image, 0, step_size=0.1, value_range=(0, 1))
    figures = [
        viz.plot_visualizations([image, other], ["a", "b"]),
        viz.plot_deep_dream(image, other, curve),
        viz.plot_inversion(image, other, curve),
        viz.plot_texture(image, other, curve),
        viz.plot_style_transfer(image, other, image, {"content": curve, "style": curve,
                                                      "total": 2 * curve}),
        viz.plot_adversarial(image, other),
        viz.plot_fooling(image, fooling, "circle"),
        viz.plot_accuracy_vs_epsilon([0, 0.1], {"FGSM": [0.9, 0.5], "PGD": [0.9, 0.2]}),
    ]
    for figure in figures:
        assert isinstance(figure, Figure)
        plt.close(figure)
