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
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3),
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
