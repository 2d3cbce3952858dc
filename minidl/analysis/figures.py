"""Writing an analysis's results: PNG figures and one JSON file of its numbers, plus the few
drawing helpers the analyses share (matplotlib, Agg backend, through ``minidl.viz.plot``)."""
from __future__ import annotations

import json
import math
import os

import numpy as np

from minidl.viz import plot

__all__ = ["heatmap", "jsonable", "save_figure", "signed_tiles", "subplots", "write_json"]


def subplots(nrows, ncols, size=(3.0, 2.6), **kwargs):
    """A figure with an (nrows, ncols) array of axes, ``size`` inches per axis."""
    plt = plot.pyplot()
    return plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False,
                        **kwargs)


def save_figure(fig, out_dir, name):
    """Save ``fig`` as ``out_dir/name`` (a .png name), close it, and return the file name."""
    os.makedirs(out_dir, exist_ok=True)
    fig.savefig(os.path.join(out_dir, name), dpi=100)
    plot.pyplot().close(fig)
    return name


def jsonable(value):
    """``value`` with NumPy arrays and scalars turned into lists and Python numbers (NaN and
    infinities become None, which JSON can hold), recursively through dicts and lists."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    return value


def write_json(numbers, out_dir, name):
    """Write ``numbers`` (see ``jsonable``) as ``out_dir/name``; return the file name."""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, name), "w") as f:
        json.dump(jsonable(numbers), f, indent=1)
    return name


def heatmap(ax, matrix, title=None, cmap="viridis", vmin=None, vmax=None, colorbar=True,
            xlabel=None, ylabel=None):
    """Draw a matrix as an image with a colour bar; rows go down, columns across."""
    image = ax.imshow(np.asarray(matrix, dtype=np.float64), cmap=cmap, vmin=vmin, vmax=vmax,
                      interpolation="nearest", aspect="auto")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title, fontsize=8)
    ax.set_xlabel(xlabel or "", fontsize=8)
    ax.set_ylabel(ylabel or "", fontsize=8)
    ax.tick_params(labelsize=7)
    return image


def signed_tiles(ax, kernel, title=None, limit=None):
    """Draw one kernel (kh, kw) with positive weights red and negative ones blue around a white
    zero, scaled to ``limit`` (default: its own largest |w|)."""
    kernel = np.asarray(kernel, dtype=np.float64)
    limit = limit or float(np.abs(kernel).max()) or 1.0
    ax.imshow(kernel, cmap="bwr", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7)
