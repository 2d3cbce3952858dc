"""First-layer filters and their quality (Zeiler and Fergus, "Visualizing and understanding
convolutional networks", ECCV 2014, Sec. 4.1 and Fig. 6): AlexNet's 11x11 stride-4 first
layer held a mix of very high and very low frequency filters with little in between, some
"dead" filters, and its large stride caused aliasing; ZFNet's 7x7 stride-2 first layer kept
more filters alive and more mid frequencies.

The measures here, per filter w_o (in, kh, kw) of a bank (out, in, kh, kw):

* spectrum: the power |W_o(f)|^2 of the kernel's 2-D discrete Fourier transform (zero-padded
  to an n x n grid), summed over the input channels, at frequencies f in cycles per pixel;
* energy ||w_o||^2, and low-energy filters (norm below a fraction of the bank's median);
* dead units: channels whose output (after the layer's ReLU) is 0 at every position of every
  image;
* aliasing: a stride-s convolution is the stride-1 one sampled every s pixels, and sampling
  at that rate folds every frequency outside the square |f_x|, |f_y| <= 1/(2s) onto a lower
  one. The fraction of the filter's power outside that square is what it lets alias (for a
  white-noise input, exactly the fraction of the output's power that aliases);
* shift instability: how much the layer's channel means change when the image moves by one
  pixel (Azulay and Weiss, JMLR 2019; Zhang, ICML 2019); a stride-1 layer changes only at
  the borders, a strided one also through aliasing.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from minidl import nn, viz

from . import figures
from .common import dataset_arrays, layer_io

__all__ = ["FilterReport", "aliasing_fraction", "analyse_first_layer", "dead_units",
           "filter_energy", "filter_spectra", "first_conv", "low_energy_filters",
           "mean_frequency", "radial_profile", "run", "shift_instability"]


# ----------------------------------------------------------------------------- spectra
def filter_spectra(weight, size=32):
    """Power spectra (out, size, size) of the kernels (out, in, kh, kw): |DFT|^2 on a
    size x size grid (the kernel zero-padded), summed over input channels; frequencies along
    each axis are ``np.fft.fftfreq(size)`` cycles per pixel."""
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim != 4:
        raise ValueError(f"expected a conv weight (out, in, kh, kw), got shape {weight.shape}")
    if size < max(weight.shape[2:]):
        raise ValueError(f"size must be at least the kernel size {weight.shape[2:]}, got {size}")
    return (np.abs(np.fft.fft2(weight, s=(size, size))) ** 2).sum(axis=1)


def _frequency_grid(size):
    """(f_y, f_x) of a size x size spectrum, in cycles per pixel."""
    f = np.fft.fftfreq(size)
    return np.meshgrid(f, f, indexing="ij")


def radial_profile(power, bins=12):
    """Each spectrum's (out, n, n) mean power in rings of radius |f| from 0 to sqrt(2)/2
    cycles per pixel: (profiles (out, bins), ring centres (bins,)); empty rings are NaN."""
    fy, fx = _frequency_grid(power.shape[-1])
    radius = np.hypot(fy, fx).ravel()
    edges = np.linspace(0, np.sqrt(0.5) + 1e-9, bins + 1)
    ring = np.clip(np.digitize(radius, edges) - 1, 0, bins - 1)
    flat = power.reshape(len(power), -1)
    counts = np.bincount(ring, minlength=bins)
    sums = np.stack([np.bincount(ring, weights=row, minlength=bins) for row in flat])
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts, (edges[:-1] + edges[1:]) / 2


def mean_frequency(power):
    """The power-weighted mean |f| (cycles per pixel) of each spectrum (out, n, n)."""
    fy, fx = _frequency_grid(power.shape[-1])
    total = power.sum(axis=(1, 2))
    return (power * np.hypot(fy, fx)).sum(axis=(1, 2)) / np.where(total > 0, total, 1)


def aliasing_fraction(power, stride):
    """The fraction of each spectrum's (out, n, n) power outside |f_x|, |f_y| <= 1/(2 stride):
    what a stride-``stride`` layer folds onto lower frequencies (0 for stride 1)."""
    if int(stride) < 1:
        raise ValueError(f"stride must be a positive integer, got {stride}")
    fy, fx = _frequency_grid(power.shape[-1])
    outside = (np.abs(fy) > 0.5 / stride) | (np.abs(fx) > 0.5 / stride)
    total = power.sum(axis=(1, 2))
    return (power * outside).sum(axis=(1, 2)) / np.where(total > 0, total, 1)


# ----------------------------------------------------------------------------- energy, dead units
def filter_energy(weight):
    """||w_o||^2 of each filter of a bank (out, ...)."""
    weight = np.asarray(weight, dtype=np.float64)
    return (weight.reshape(len(weight), -1) ** 2).sum(axis=1)


def low_energy_filters(weight, fraction=0.1):
    """Indices of the filters whose norm ||w_o|| is below ``fraction`` times the bank's median
    norm."""
    norms = np.sqrt(filter_energy(weight))
    return np.flatnonzero(norms < fraction * np.median(norms))


def dead_units(activations):
    """Channels of activations (N, C, H, W) (after a ReLU) that are 0 everywhere: dead units.
    Returns (indices, the fraction of positions where each channel is positive)."""
    activations = np.asarray(activations)
    active = (activations > 0).mean(axis=(0, 2, 3))
    return np.flatnonzero(active == 0), active


def shift_instability(model, layer, images, shift=1):
    """Mean over images of ||g(x) - g(x shifted)|| / ||g(x)||, with g the channel means of
    ``layer``'s output and the image shifted right by ``shift`` pixels (the vacated column
    repeats the edge), so a layer that commutes with shifts changes only at its borders."""
    images = np.asarray(images)
    shifted = np.concatenate([np.repeat(images[..., :1], shift, axis=-1), images[..., :-shift]],
                             axis=-1)
    means = [layer_io(model, layer, x).mean(axis=(2, 3)) for x in (images, shifted)]
    change = np.linalg.norm(means[0] - means[1], axis=1)
    size = np.linalg.norm(means[0], axis=1)
    return float(np.mean(change / np.where(size > 0, size, 1)))


# ----------------------------------------------------------------------------- one model
@dataclasses.dataclass
class FilterReport:
    """The quality measures of one model's first convolution (see the module's docstring)."""
    name: str
    kernel: tuple
    stride: int
    filters: int
    energy: np.ndarray
    low_energy: np.ndarray
    dead: np.ndarray
    active_fraction: np.ndarray
    mean_frequency: np.ndarray
    aliasing: np.ndarray
    profile: np.ndarray
    ring_centres: np.ndarray
    shift_instability: float
    grid_shift_instability: float


def first_conv(model):
    """(name, module) of the model's first ``nn.Conv2d``."""
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ValueError("the model has no nn.Conv2d layer")


def _activation_after(model, conv_name):
    """The first ReLU module after the convolution in the model's module order, else the
    convolution itself (its output then counts as the activation)."""
    names = [name for name, _ in model.named_modules()]
    for name in names[names.index(conv_name) + 1:]:
        if isinstance(viz.get_module(model, name), nn.ReLU):
            return name
    return conv_name


def analyse_first_layer(model, images, name="model", size=32, fraction=0.1):
    """A ``FilterReport`` of the first convolution of ``model`` on ``images`` (N, C, H, W):
    spectra on a ``size`` grid, low-energy filters below ``fraction`` of the median norm, dead
    units of the ReLU after it, shift instability by one pixel and by one stride."""
    conv_name, conv = first_conv(model)
    weight = conv.weight.numpy()
    stride = int(np.max(conv.stride))  # the larger of the two strides
    power = filter_spectra(weight, max(size, *weight.shape[2:]))
    profile, centres = radial_profile(power)
    activation = _activation_after(model, conv_name)
    dead, active = dead_units(layer_io(model, activation, images))
    return FilterReport(
        name, tuple(weight.shape[2:]), stride, len(weight), filter_energy(weight),
        low_energy_filters(weight, fraction), dead, active, mean_frequency(power),
        aliasing_fraction(power, stride), profile, centres,
        shift_instability(model, activation, images, 1),
        shift_instability(model, activation, images, stride))


def report_numbers(report):
    """The JSON numbers of a ``FilterReport``."""
    return {"kernel": list(report.kernel), "stride": report.stride, "filters": report.filters,
            "low_energy_filters": report.low_energy, "dead_units": report.dead,
            "mean_active_fraction": float(report.active_fraction.mean()),
            "mean_frequency": float(report.mean_frequency.mean()),
            "mean_aliasing_fraction": float(report.aliasing.mean()),
            "shift_instability_1px": report.shift_instability,
            "shift_instability_one_stride": report.grid_shift_instability}


# ----------------------------------------------------------------------------- figures
def _bank_figure(models, reports):
    """Each model's first-layer filters as colour (or grey) tiles."""
    plt = viz.plot.pyplot()
    fig, axes = plt.subplots(1, len(models), figsize=(4.0 * len(models), 4.3), squeeze=False)
    for ax, model, report in zip(axes[0], models, reports):
        grid = viz.filter_grid(model, first_conv(model)[0],
                               channels="rgb" if model_input_channels(model) == 3 else "mean")
        ax.imshow(grid[0] if grid.shape[0] == 1 else np.moveaxis(grid, 0, -1), cmap="gray",
                  vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{report.name}: {report.kernel[0]}x{report.kernel[1]} stride {report.stride}\n"
                     f"{len(report.low_energy)} low-energy, {len(report.dead)} dead of "
                     f"{report.filters}", fontsize=9)
    fig.tight_layout()
    return fig


def model_input_channels(model):
    """The number of input channels of the model's first convolution."""
    return first_conv(model)[1].weight.shape[1]


def _spectrum_figure(reports):
    """Mean radial power (each filter normalised to total 1) per model, with each model's
    output Nyquist frequency 1/(2s); and mean frequency against norm, per filter."""
    fig, axes = figures.subplots(1, 2, size=(3.8, 3.0))
    for k, report in enumerate(reports):
        colour = f"C{k}"
        profile = report.profile / np.nansum(report.profile, axis=1, keepdims=True)
        axes[0, 0].plot(report.ring_centres, np.nanmean(profile, axis=0), "o-", color=colour,
                        markersize=3, label=report.name)
        axes[0, 0].axvline(0.5 / report.stride, color=colour, linestyle=":", linewidth=1)
        axes[0, 1].scatter(report.mean_frequency, np.sqrt(report.energy), s=10, color=colour,
                           label=report.name)
    axes[0, 0].set(xlabel="|f| (cycles per pixel)", ylabel="share of power",
                   title="radial spectrum (dotted: output Nyquist 1/2s)")
    axes[0, 1].set(xlabel="mean frequency (cycles per pixel)", ylabel="filter norm",
                   title="each filter")
    for ax in axes[0]:
        ax.title.set_fontsize(8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _quality_figure(reports):
    """Bars per model: low-energy and dead filter fractions, mean aliasing fraction, shift
    instability by one pixel and by one stride."""
    keys = [("low-energy filters", lambda r: len(r.low_energy) / r.filters),
            ("dead units", lambda r: len(r.dead) / r.filters),
            ("power beyond Nyquist", lambda r: float(r.aliasing.mean())),
            ("change, 1-pixel shift", lambda r: r.shift_instability),
            ("change, 1-stride shift", lambda r: r.grid_shift_instability)]
    fig, axes = figures.subplots(1, 1, size=(6.5, 3.0))
    ax, width = axes[0, 0], 0.8 / len(reports)
    for k, report in enumerate(reports):
        ax.bar(np.arange(len(keys)) + k * width, [value(report) for _, value in keys], width,
               label=f"{report.name} ({report.kernel[0]}x{report.kernel[1]}, stride {report.stride})")
    ax.set_xticks(np.arange(len(keys)) + width * (len(reports) - 1) / 2)
    ax.set_xticklabels([label for label, _ in keys], fontsize=7)
    ax.set_ylabel("fraction", fontsize=8)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- entry point
def run(models, dataset, out_dir, quick=False, names=None, images=None):
    """Compare the first-layer filters of trained ``models`` (a list, or a dict name -> model,
    e.g. an 11x11 stride-4 and a 7x7 stride-2 first layer) on ``dataset``'s images (its first
    500, 100 with ``quick``). Writes filters-banks.png, filters-spectra.png,
    filters-quality.png and filters.json into ``out_dir``; returns the numbers per model."""
    if isinstance(models, dict):
        names, models = list(models), list(models.values())
    names = names or [f"model {k + 1}" for k in range(len(models))]
    pictures, _ = dataset_arrays(dataset, limit=images or (100 if quick else 500))
    reports = [analyse_first_layer(model, pictures, name) for name, model in zip(names, models)]
    numbers = {"models": {report.name: report_numbers(report) for report in reports},
               "images": len(pictures)}
    numbers["figures"] = [
        figures.save_figure(_bank_figure(models, reports), out_dir, "filters-banks.png"),
        figures.save_figure(_spectrum_figure(reports), out_dir, "filters-spectra.png"),
        figures.save_figure(_quality_figure(reports), out_dir, "filters-quality.png")]
    figures.write_json(numbers, out_dir, "filters.json")
    return figures.jsonable(numbers)
