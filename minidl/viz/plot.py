"""Figure helpers shared by the visualization methods (matplotlib, Agg backend).

Arrays follow the framework's layout: images are (C, H, W) with C = 1 or 3; maps are (H, W).
"""
from __future__ import annotations

import numpy as np


def pyplot():
    """matplotlib.pyplot on a backend that needs no screen."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def to_display(image):
    """(C, H, W) -> (H, W) or (H, W, 3), min-max scaled to [0, 1] for showing."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        image = image[0] if image.shape[0] == 1 else np.moveaxis(image, 0, -1)
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def show(ax, image, title=None, cmap=None):
    """Draw one image (C, H, W) or map (H, W) on an axis without ticks."""
    shown = to_display(image)
    ax.imshow(shown, cmap=cmap or ("gray" if shown.ndim == 2 else None), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def overlay(image, heatmap, alpha=0.5, cmap="jet"):
    """The image with a heat map (H, W, values scaled to [0, 1]) blended on top, as RGB."""
    plt = pyplot()
    base = to_display(image)
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=-1)
    heat = plt.get_cmap(cmap)(to_display(heatmap))[..., :3]
    return (1 - alpha) * base + alpha * heat


def image_grid(images, titles=None, ncols=8, size=1.4, cmap=None, suptitle=None):
    """A figure showing images (each (C, H, W) or (H, W)) in a grid; returns the figure."""
    plt = pyplot()
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = -(-n // ncols)
    title_room = 0.25 if titles is not None else 0.0   # inches above each row's tiles
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + title_room) * nrows + 0.3),
                             squeeze=False)
    for k, ax in enumerate(axes.ravel()):
        if k < n:
            show(ax, images[k], None if titles is None else titles[k], cmap)
        else:
            ax.axis("off")
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def draw_curves(ax, curves, xlabel="step", ylabel=None, logy=False, title=None):
    """Draw named 1-D curves ({label: values}) on an axis, with a legend when there are
    several; on a log scale, values <= 0 are left out."""
    for label, values in curves.items():
        values = np.asarray(values, dtype=np.float64)
        if logy:
            values = np.where(values > 0, values, np.nan)
        ax.plot(np.arange(len(values)), values, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel, fontsize=8)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=8)
    if title:
        ax.set_title(title, fontsize=8)
    if len(curves) > 1:
        ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)


def images_with_curves(images, titles=None, curves=None, xlabel="step", ylabel=None, logy=False,
                       size=2.0, suptitle=None):
    """A row of images (each (C, H, W) or (H, W)), then, if ``curves`` ({label: values}) is
    given, one axis with the curves; returns the figure."""
    plt = pyplot()
    n = len(images) + (curves is not None)
    fig, axes = plt.subplots(1, n, figsize=(size * n + 0.4 * (curves is not None), size + 0.4),
                             squeeze=False)
    for k, image in enumerate(images):
        show(axes[0, k], image, None if titles is None else titles[k])
    if curves is not None:
        draw_curves(axes[0, -1], curves, xlabel, ylabel, logy)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def mosaic(tiles, ncols, pad=1, fill=1.0):
    """Tiles (n, C, h, w) laid out row by row, ``ncols`` per row and ``pad`` pixels of
    ``fill`` between them, as one image (C, H, W)."""
    tiles = np.asarray(tiles)
    n, channels, h, w = tiles.shape
    nrows = -(-n // ncols)
    grid = np.full((channels, nrows * (h + pad) - pad, ncols * (w + pad) - pad), fill,
                   dtype=np.result_type(tiles.dtype, np.float32))
    for k, tile in enumerate(tiles):
        top, left = (k // ncols) * (h + pad), (k % ncols) * (w + pad)
        grid[:, top:top + h, left:left + w] = tile
    return grid


def show_signed(ax, values, title=None, cmap="bwr"):
    """Draw a signed map (H, W) with zero at the centre of a diverging colour map."""
    values = np.asarray(values, dtype=np.float64)
    limit = np.abs(values).max() or 1.0
    ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit, interpolation="nearest")
    _label(ax, title)


def show_rgb(ax, rgb, title=None):
    """Draw an (H, W, 3) array with values in [0, 1] as it is (e.g. an ``overlay``)."""
    ax.imshow(np.clip(rgb, 0, 1), interpolation="nearest")
    _label(ax, title)


def _label(ax, title):
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


PANEL_STYLES = {
    "image": show,
    "heat": lambda ax, values, title: show(ax, values, title, cmap="inferno"),
    "signed": show_signed,
    "rgb": show_rgb,
}


def panel_row(panels, size=2.2, suptitle=None):
    """A figure with one row of panels, each ``(title, array, style)``; returns the figure.

    Styles (``PANEL_STYLES``): ``"image"`` an image (C, H, W) or map (H, W), min-max scaled
    (grey for a map); ``"heat"`` a map (H, W), min-max scaled, in the "inferno" colour map;
    ``"signed"`` a map with zero at the centre of a blue-white-red colour map; ``"rgb"`` an
    (H, W, 3) array in [0, 1] as it is (an ``overlay``).
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(size * len(panels), size + 0.3),
                             squeeze=False)
    for ax, (title, array, style) in zip(axes[0], panels):
        PANEL_STYLES[style](ax, array, title)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig
