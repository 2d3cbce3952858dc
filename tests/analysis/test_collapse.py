"""Neural collapse: the metrics on an exact simplex ETF (all zero), a hand-computed NC1, their
invariances, and NC1 falling while a small CNN trains."""
import json

import numpy as np
import pytest

import minidl
from minidl.analysis import collapse
from minidl.data import Shapes
from minidl.models import small_cnn


def _etf_features(num_classes=5, dim=9, per_class=4, scale=3.0, seed=0):
    """Features whose class means are a rotated, scaled simplex ETF around an offset, with no
    within-class spread; and the centred means (C, p)."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(dim, num_classes)))   # orthonormal columns
    centred = scale * collapse.simplex_etf(num_classes) @ basis.T   # rows: mu_c - mu_G
    offset = rng.normal(size=dim)
    labels = np.repeat(np.arange(num_classes), per_class)
    return centred[labels] + offset, labels, centred


def test_simplex_etf_has_unit_norms_and_cosines_minus_one_over_c_minus_one():
    etf = collapse.simplex_etf(6)
    assert np.allclose(np.linalg.norm(etf, axis=1), 1.0)
    assert np.allclose(collapse.pairwise_cosines(etf), -1 / 5)


def test_exact_simplex_etf_gives_zero_for_every_collapse_metric():
    features, labels, centred = _etf_features()
    metrics = collapse.collapse_metrics(features, labels, weight=2.0 * centred)
    assert metrics.nc1 == pytest.approx(0.0, abs=1e-12)
    for name in ("means_norm_cv", "classifier_norm_cv", "means_cosine_std", "classifier_cosine_std",
                 "means_max_angle", "classifier_max_angle", "means_etf_distance",
                 "classifier_etf_distance", "self_duality"):
        assert getattr(metrics, name) == pytest.approx(0.0, abs=1e-10), name
    assert metrics.ncc_mismatch == 0.0


def test_nc1_by_hand_for_two_classes_on_a_line():
    sigma = 0.3
    features = np.array([[-1 - sigma], [-1 + sigma], [1 - sigma], [1 + sigma]])
    labels = np.array([0, 0, 1, 1])
    within, between, _, _ = collapse.covariances(features, labels, 2)
    assert within[0, 0] == pytest.approx(sigma ** 2)
    assert between[0, 0] == pytest.approx(1.0)
    assert collapse.nc1(within, between, 2) == pytest.approx(sigma ** 2 / 2)


def test_etf_distance_sees_shape_not_size_or_orientation_and_is_positive_otherwise():
    _, _, centred = _etf_features(num_classes=4, dim=6)
    rotation, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 6)))
    assert collapse.etf_distance(7.0 * centred @ rotation) == pytest.approx(0.0, abs=1e-12)
    squashed = centred.copy()
    squashed[0] *= 2
    assert collapse.etf_distance(squashed) > 0.05
    assert collapse.equinorm_cv(squashed) > 0.1


def test_ncc_mismatch_counts_disagreements():
    means = np.array([[0.0, 0.0], [10.0, 0.0]])
    features = np.array([[1.0, 0.0], [9.0, 0.0], [4.0, 0.0]])
    logits = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])   # the second and third disagree
    assert collapse.ncc_mismatch(features, means, logits) == pytest.approx(2 / 3)


def test_missing_class_is_a_clear_error():
    with pytest.raises(ValueError, match="classes \\[2\\] have none"):
        collapse.class_means(np.zeros((4, 3)), np.array([0, 1, 0, 1]), 3)


def test_nc1_falls_while_a_small_cnn_trains(tmp_path):
    minidl.manual_seed(0)
    train = Shapes(256, size=16, seed=0, background="plain")
    numbers = collapse.run(small_cnn(8), train, tmp_path, epochs=6, lr=0.05, batch_size=32)
    first, last = numbers["epochs"][0], numbers["epochs"][-1]
    assert last["nc1"] < 0.5 * first["nc1"]
    assert last["train_error"] < first["train_error"]
    assert [row["epoch"] for row in numbers["epochs"]] == list(range(7))
    written = json.loads((tmp_path / "collapse.json").read_text())
    assert written["figures"] == ["collapse-metrics.png", "collapse-geometry.png"]
    assert all((tmp_path / name).stat().st_size > 0 for name in written["figures"])
