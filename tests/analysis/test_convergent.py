"""Convergent learning: correlations, matchings (the hand-written Hungarian method against
brute force and SciPy), mutual information, clusters, and the defining properties on
networks that are exact channel permutations of each other and on two trained nets."""
import itertools
import json

import numpy as np
import pytest

import minidl
from minidl.analysis import convergent
from minidl.analysis.common import layer_io, train_classifier
from minidl.data import Shapes
from minidl.models import small_cnn


# ----------------------------------------------------------------------------- matchings
def test_hungarian_is_optimal_against_brute_force():
    rng = np.random.default_rng(1)
    for trial in range(40):
        rows = int(rng.integers(1, 6))
        columns = rows + int(rng.integers(0, 3))
        cost = rng.normal(size=(rows, columns))
        if trial % 2:
            cost = np.round(cost)  # ties
        assignment = convergent.hungarian(cost)
        assert len(set(assignment.tolist())) == rows
        best = min(cost[np.arange(rows), list(p)].sum()
                   for p in itertools.permutations(range(columns), rows))
        assert cost[np.arange(rows), assignment].sum() == pytest.approx(best, abs=1e-12)


def test_hungarian_matches_scipy_on_larger_matrices():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(2)
    for shape in [(30, 30), (20, 35), (64, 64)]:
        cost = rng.normal(size=shape)
        rows, columns = scipy_optimize.linear_sum_assignment(cost)
        ours = convergent.hungarian(cost)
        assert cost[np.arange(shape[0]), ours].sum() == pytest.approx(cost[rows, columns].sum())


def test_greedy_differs_from_bipartite_where_greed_is_wrong():
    corr = np.array([[0.9, 0.8], [0.8, 0.0]])
    assert convergent.greedy_matching(corr).tolist() == [0, 1]      # total 0.9
    assert convergent.bipartite_matching(corr).tolist() == [1, 0]   # total 1.6
    assert convergent.semi_matching(corr).tolist() == [0, 0]


def test_matchings_reject_more_rows_than_columns():
    with pytest.raises(ValueError, match="no more rows than columns"):
        convergent.hungarian(np.zeros((3, 2)))


# ----------------------------------------------------------------------------- statistics
def test_correlations_of_affine_copies_and_dead_units():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(500, 3))
    b = np.c_[2 * a[:, 2] + 1, -a[:, 0], np.zeros(500)]   # the last unit is dead
    c = convergent.correlations(a, b)
    assert c.between[2, 0] == pytest.approx(1.0)
    assert c.between[0, 1] == pytest.approx(-1.0)
    assert np.all(c.between[:, 2] == 0)
    assert np.allclose(np.diag(c.within_b), 1.0)
    assert np.allclose(c.within_a, np.corrcoef(a.T))


def test_mutual_information_of_a_unit_with_itself_is_its_binned_entropy():
    x = np.repeat(np.arange(16) + 0.5, 10)          # 16 equally filled bins: 4 bits
    assert convergent.mutual_information(x, x, bins=16) == pytest.approx(4.0)
    assert convergent.mutual_information(x, np.zeros_like(x)) == 0.0
    rng = np.random.default_rng(4)
    independent = convergent.mutual_information(rng.normal(size=200_000), rng.normal(size=200_000))
    assert independent < 0.01


def test_spectral_clusters_recover_blocks_and_similarities():
    corr = np.full((6, 6), -0.1)
    corr[:3, :3] = corr[3:, 3:] = 0.8
    np.fill_diagonal(corr, 1.0)
    labels = convergent.spectral_clusters(corr, 2)
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1 and labels[0] != labels[3]
    # two nets of 3 units: units 0, 1 of A with unit 0 of B in one cluster
    c = convergent.correlations(np.zeros((2, 3)), np.zeros((2, 3)))
    c.within_a = np.array([[1, 0.6, 0], [0.6, 1, 0], [0, 0, 1.0]])
    c.within_b = np.eye(3)
    c.between = np.array([[0.9, 0, 0], [0.7, 0, 0], [0, 0.5, 0.5]])
    rows = convergent.cluster_similarities(c, np.array([0, 0, 1, 0, 1, 1]))
    assert rows[0] == {"cluster": 0, "units_a": 2, "units_b": 1, "within": pytest.approx(0.6),
                       "between": pytest.approx(0.8)}
    assert rows[1]["within"] == pytest.approx(0.0) and rows[1]["between"] == pytest.approx(0.5)


# ----------------------------------------------------------------------------- permuted nets
def _centre_batch_norms(model, images):
    """Set every batch norm's running statistics to its input's mean and variance on the
    images, so that every unit after it varies (none is dead)."""
    convs = [m for m in model.modules() if isinstance(m, minidl.nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, minidl.nn.BatchNorm2d)]
    for conv, norm in zip(convs, norms):
        out = layer_io(model, conv, images)
        norm.running_mean.data[...] = out.mean(axis=(0, 2, 3))
        norm.running_var.data[...] = out.var(axis=(0, 2, 3))


def _permuted_copy(model, perms):
    """small_cnn with the output channels of its three convolutions permuted by ``perms``
    (and everything that reads them permuted alike): the same function."""
    state = {k: np.array(v) for k, v in model.state_dict().items()}
    convs, norms, reads = ["0", "4", "8"], ["1", "5", "9"], ["4", "8", "13"]
    for conv, norm, reader, perm in zip(convs, norms, reads, perms):
        for key in ("weight", "bias"):
            state[f"{conv}.{key}"] = state[f"{conv}.{key}"][perm]
        for key in ("weight", "bias", "running_mean", "running_var"):
            state[f"{norm}.{key}"] = state[f"{norm}.{key}"][perm]
        state[f"{reader}.weight"] = state[f"{reader}.weight"][:, perm]
    copy = small_cnn(8)
    copy.load_state_dict(state)
    return copy.eval()


def test_permuted_network_gives_between_correlation_one_and_matching_recovers_it(tmp_path):
    images = Shapes(40, size=16, seed=1, background="noise").data.astype(np.float32) / 255
    net_a = small_cnn(8).eval()
    _centre_batch_norms(net_a, images)
    rng = np.random.default_rng(5)
    perms = [rng.permutation(16), rng.permutation(32), rng.permutation(32)]
    net_b = _permuted_copy(net_a, perms)
    assert np.allclose(layer_io(net_a, "13", images), layer_io(net_b, "13", images), atol=1e-5)
    numbers = convergent.run([net_a, net_b], images, tmp_path, quick=True)
    for layer, perm in zip(["2", "6", "10"], perms):
        # unit i of A is unit inverse(perm)[i] of B: B's channel j holds A's channel perm[j]
        expected = np.argsort(perm)
        assert numbers["layers"][layer]["bipartite_matching"] == expected.tolist()
        matched = numbers["layers"][layer]["mean_matched_correlation"]["bipartite"]
        assert matched == pytest.approx(1.0, abs=1e-5)
    samples = [convergent.unit_samples(layer_io(net, "2", images)) for net in (net_a, net_b)]
    between = convergent.correlations(*samples).between
    assert np.allclose(between[np.arange(16), np.argsort(perms[0])], 1.0, atol=1e-5)
    written = json.loads((tmp_path / "convergent.json").read_text())
    assert set(written["figures"]) == {"convergent-correlations.png", "convergent-matching.png",
                                       "convergent-filters.png", "convergent-clusters.png"}
    assert all((tmp_path / name).stat().st_size > 0 for name in written["figures"])


def test_trained_nets_conv1_matches_beat_a_random_permutation():
    train = Shapes(320, size=16, seed=0, background="plain")
    images = Shapes(60, size=16, seed=0, train=False, background="plain").data.astype(np.float32) / 255
    nets = []
    for seed in (0, 1):
        minidl.manual_seed(seed)
        net = small_cnn(8)
        train_classifier(net, train, 2, lr=0.05, optimizer="sgd", seed=seed)
        nets.append(net)
    samples = [convergent.unit_samples(layer_io(net, "2", images)) for net in nets]
    comparison = convergent.compare_layer(*samples, layer="2")
    matched = comparison.sorted_correlation["bipartite"].mean()
    random = comparison.sorted_correlation["random"].mean()
    assert matched > random + 0.2
