"""First-layer filter quality: spectra of known kernels, the aliasing fraction counted on the
frequency grid, low-energy and dead filters, shift instability, and the comparison run."""
import json

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl.analysis import filters


def _delta_bank():
    weight = np.zeros((1, 1, 5, 5))
    weight[0, 0, 2, 2] = 1.0
    return weight


def test_a_delta_kernel_has_a_flat_spectrum():
    power = filters.filter_spectra(_delta_bank(), size=16)
    assert np.allclose(power, 1.0)
    profile, _ = filters.radial_profile(power)
    assert np.allclose(profile[~np.isnan(profile)], 1.0)


def test_aliasing_fraction_counts_the_grid_outside_the_output_nyquist_square():
    power = filters.filter_spectra(_delta_bank(), size=32)
    assert filters.aliasing_fraction(power, 1)[0] == 0.0
    inside = np.count_nonzero(np.abs(np.fft.fftfreq(32)) <= 0.25)     # 17 of 32 frequencies
    assert filters.aliasing_fraction(power, 2)[0] == pytest.approx(1 - (inside / 32) ** 2)
    checkerboard = np.indices((4, 4)).sum(axis=0) % 2 * 2.0 - 1       # all power at f = 1/2
    power = filters.filter_spectra(checkerboard[None, None], size=4)    # no zero padding
    assert filters.aliasing_fraction(power, 2)[0] == pytest.approx(1.0)
    assert filters.mean_frequency(power)[0] == pytest.approx(np.sqrt(0.5))
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        filters.aliasing_fraction(power, 0)


def test_low_energy_and_dead_filters():
    bank = np.random.default_rng(0).normal(size=(6, 3, 3, 3))
    bank[4] *= 0.01
    assert filters.low_energy_filters(bank).tolist() == [4]
    activations = np.abs(np.random.default_rng(1).normal(size=(4, 3, 5, 5)))
    activations[:, 1] = 0.0
    dead, active = filters.dead_units(activations)
    assert dead.tolist() == [1] and active[1] == 0.0 and active[0] == 1.0


def test_a_strided_layer_is_less_stable_under_one_pixel_shifts():
    rng = np.random.default_rng(2)
    images = rng.uniform(size=(8, 1, 16, 16)).astype(np.float32)
    unstrided, strided = (nn.Sequential(nn.Conv2d(1, 1, 1, stride=s, bias=False)) for s in (1, 2))
    for model in (unstrided, strided):
        model[0].weight.data[...] = 1.0
    assert filters.shift_instability(unstrided, "0", images) < \
        0.5 * filters.shift_instability(strided, "0", images)


def _net(kernel, stride):
    return nn.Sequential(nn.Conv2d(3, 8, kernel, stride=stride, padding=kernel // 2), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))


def test_run_compares_two_first_layers(tmp_path):
    minidl.manual_seed(0)
    models = {"11x11/4": _net(11, 4), "7x7/2": _net(7, 2)}
    images = np.random.default_rng(3).uniform(size=(6, 3, 32, 32)).astype(np.float32)
    numbers = filters.run(models, images, tmp_path)
    assert numbers["models"]["11x11/4"]["stride"] == 4 and numbers["models"]["7x7/2"]["kernel"] == [7, 7]
    written = json.loads((tmp_path / "filters.json").read_text())
    assert written["figures"] == ["filters-banks.png", "filters-spectra.png", "filters-quality.png"]
    assert all((tmp_path / name).stat().st_size > 0 for name in written["figures"])
