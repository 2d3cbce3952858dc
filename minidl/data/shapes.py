"""Shapes: the built-in dataset, drawn by code, so nothing has to be downloaded.

Each image holds one object (circle, square, triangle, ...) at a random position and size,
with a random aspect ratio and colour, on a plain, noisy or textured background. The object's
tight bounding box and its binary mask are kept, so the same data serves classification,
localisation and segmentation demos.

How an image is drawn (all of it vectorised over a chunk of images):

1. The object's frame: centre (cx, cy) and half-sizes (hx, hy) in pixels. A pixel whose
   centre is at (x, y) has object coordinates u = (x - cx) / hx, v = (y - cy) / hy, and every
   shape is a test on (u, v) inside the square [-1, 1]^2 (a circle is u^2 + v^2 <= 1).
2. The colours: the object's colour is uniform in [0, 1] per channel and the background's is
   shifted from it by 0.35 to 0.65 (wrapping around 1), so every channel keeps a contrast of
   at least 0.35.
3. The background is the flat colour, plus a texture (stripes, checkerboard or smooth noise)
   for "texture", and the whole image gets pixel noise for "noise" and "texture".
"""
from __future__ import annotations

import numpy as np

from .image import ImageArrayDataset


def _circle(u, v):
    return u * u + v * v <= 1


def _square(u, v):
    return np.maximum(np.abs(u), np.abs(v)) <= 0.8


def _triangle(u, v):  # apex at the top (v = -1), base at v = 0.8
    return (v <= 0.8) & (np.abs(u) <= (v + 1) / 2)


def _horizontal_bar(u, v):
    return (np.abs(u) <= 1) & (np.abs(v) <= 0.3)


def _vertical_bar(u, v):
    return (np.abs(u) <= 0.3) & (np.abs(v) <= 1)


def _cross(u, v):
    return _horizontal_bar(u, v) | _vertical_bar(u, v)


def _ring(u, v):
    r2 = u * u + v * v
    return (r2 <= 1) & (r2 >= 0.5**2)


def _diamond(u, v):
    return np.abs(u) + np.abs(v) <= 1


SHAPES = {
    "circle": _circle, "square": _square, "triangle": _triangle, "cross": _cross,
    "horizontal bar": _horizontal_bar, "vertical bar": _vertical_bar, "ring": _ring,
    "diamond": _diamond,
}
BACKGROUNDS = ("plain", "noise", "texture")
_CHUNK = 1024  # images drawn at once


class Shapes(ImageArrayDataset):
    """Images of one geometric object each, generated from ``seed`` (no files needed).

    Args:
        n: number of images.
        size: image height and width in pixels (at least 16).
        channels: 3 (RGB) or 1 (grayscale).
        classes: None (all of ``SHAPES``), a number k (the first k) or a list of names.
        background: "noise" (flat colour plus pixel noise), "texture" (random stripes,
            checkerboard or smooth noise, plus pixel noise), "plain" (flat colour) or "mixed"
            (each image picks one of the three).
        seed: the images are a pure function of (seed, train, the arguments).
        train: the training split; ``train=False`` draws an independent test split.
        transform: ``transform(image, rng)`` applied to each image when it is read.
        return_annotations: items are (image, label, box, mask) instead of (image, label).
        scale: range of the object's radius as a fraction of ``size`` (at least 3 pixels).
        noise: standard deviation of the pixel noise.
        texture: amplitude of the background texture.

    Attributes:
        data: uint8 images (n, channels, size, size); items are float32 in [0, 1].
        targets: int64 class indices into ``classes``.
        boxes: int64 (n, 4) tight boxes (x0, y0, x1, y1) of the masks, ends exclusive, so
            ``masks[i, y0:y1, x0:x1]`` holds the whole object.
        masks: bool (n, size, size), True on the object's pixels.
    """

    def __init__(self, n: int = 1000, size: int = 32, channels: int = 3, classes=None,
                 background: str = "noise", seed: int = 0, train: bool = True, transform=None,
                 return_annotations: bool = False, scale=(0.15, 0.42), noise: float = 0.1,
                 texture: float = 0.15):
        if size < 16:
            raise ValueError(f"size must be at least 16, got {size}")
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if background not in BACKGROUNDS + ("mixed",):
            raise ValueError(f"background must be one of {BACKGROUNDS + ('mixed',)}, got {background!r}")
        self.classes = _class_names(classes)
        self.transform = transform
        self.return_annotations = return_annotations
        # Two-word keys: (split, 0) draws the per-image parameters, (split, 1 + c) the pixels of chunk c.
        split = 0 if train else 1
        param_rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(split, 0)))
        params = _draw_parameters(param_rng, n, size, channels, len(self.classes), background, scale)
        self.targets = params["label"]
        self.data = np.empty((n, channels, size, size), np.uint8)
        self.masks = np.empty((n, size, size), np.bool_)
        for chunk, start in enumerate(range(0, n, _CHUNK)):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(split, 1 + chunk)))
            part = {key: value[start:start + _CHUNK] for key, value in params.items()}
            self.data[start:start + _CHUNK], self.masks[start:start + _CHUNK] = _draw_images(
                part, self.classes, size, rng, noise, texture)
        self.boxes = masks_to_boxes(self.masks)

    def get(self, index, rng=None):
        image, label = self.image(index, rng), int(self.targets[index])
        if self.return_annotations:
            return image, label, self.boxes[index], self.masks[index]
        return image, label


def _class_names(classes) -> list[str]:
    names = list(SHAPES)
    if classes is None:
        return names
    if isinstance(classes, int):
        if not 2 <= classes <= len(names):
            raise ValueError(f"classes must be between 2 and {len(names)}, got {classes}")
        return names[:classes]
    unknown = [c for c in classes if c not in SHAPES]
    if unknown:
        raise ValueError(f"unknown shape classes {unknown}; known: {names}")
    return list(classes)


def _draw_parameters(rng, n, size, channels, num_classes, background, scale) -> dict:
    """Per-image labels (balanced), object frames, colours and background choices."""
    label = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    radius = np.maximum(rng.uniform(*scale, n) * size, 3.0)
    aspect = np.exp(rng.uniform(np.log(0.8), np.log(1.25), n))
    hx = np.minimum(radius * np.sqrt(aspect), size / 2)
    hy = np.minimum(radius / np.sqrt(aspect), size / 2)
    cx = hx + rng.random(n) * (size - 2 * hx)
    cy = hy + rng.random(n) * (size - 2 * hy)
    colour = rng.random((n, channels))
    bg_colour = (colour + rng.uniform(0.35, 0.65, (n, channels))) % 1.0
    kinds = (rng.integers(len(BACKGROUNDS), size=n) if background == "mixed"
             else np.full(n, BACKGROUNDS.index(background)))
    return {"label": label, "cx": cx, "cy": cy, "hx": hx, "hy": hy, "colour": colour,
            "bg_colour": bg_colour, "kind": kinds, "pattern": rng.integers(3, size=n),
            "period": rng.uniform(3, 8, n).astype(np.float32),
            "angle": rng.uniform(0, np.pi, n).astype(np.float32),
            "phase": rng.uniform(0, 2 * np.pi, (n, 2)).astype(np.float32)}


def _draw_images(p: dict, classes, size, rng, noise, texture):
    """Draw the images of one chunk: uint8 (m, C, size, size) and bool masks (m, size, size)."""
    m, channels = p["colour"].shape
    centres = np.arange(size, dtype=np.float32) + 0.5
    u = (centres[None, None, :] - p["cx"][:, None, None]) / p["hx"][:, None, None]
    v = (centres[None, :, None] - p["cy"][:, None, None]) / p["hy"][:, None, None]
    masks = np.empty((m, size, size), np.bool_)
    for k, name in enumerate(classes):
        chosen = p["label"] == k
        masks[chosen] = SHAPES[name](u[chosen], v[chosen])
    images = np.empty((m, channels, size, size), np.float32)
    images[:] = p["bg_colour"][:, :, None, None]
    textured = p["kind"] == BACKGROUNDS.index("texture")
    if textured.any():
        images[textured] += texture * _textures({k: x[textured] for k, x in p.items()}, size, rng)[:, None]
    images = np.where(masks[:, None], p["colour"][:, :, None, None].astype(np.float32), images)
    noise_std = np.where(p["kind"] == BACKGROUNDS.index("plain"), 0, noise).astype(np.float32)
    images += noise_std[:, None, None, None] * rng.standard_normal(images.shape, dtype=np.float32)
    return np.rint(np.clip(images, 0, 1) * 255).astype(np.uint8), masks


def _textures(p: dict, size, rng) -> np.ndarray:
    """Background patterns in [-1, 1], (m, size, size): stripes, checkerboard or smooth noise."""
    patterns = np.empty((len(p["label"]), size, size), np.float32)
    for kind, draw in enumerate((_stripes, _checkerboard, _smooth_noise)):
        chosen = p["pattern"] == kind
        patterns[chosen] = draw({k: x[chosen] for k, x in p.items()}, size, rng)
    return patterns


def _pixel_grid(size):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return y, x


def _stripes(p: dict, size, rng) -> np.ndarray:
    """Sine stripes of period 3 to 8 pixels at a random angle."""
    y, x = _pixel_grid(size)
    angle, period = p["angle"][:, None, None], p["period"][:, None, None]
    return np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period + p["phase"][:, 0, None, None])


def _checkerboard(p: dict, size, rng) -> np.ndarray:
    """A checkerboard (values -1 and 1) with squares of 3 to 8 pixels."""
    y, x = _pixel_grid(size)
    period, phase = p["period"][:, None, None], p["phase"][:, :, None, None]
    return np.sign(np.sin(np.pi * x / period + phase[:, 0]) * np.sin(np.pi * y / period + phase[:, 1]))


def _smooth_noise(p: dict, size: int, rng, cells: int = 5) -> np.ndarray:
    """Noise on a coarse (cells x cells) grid, upsampled bilinearly, scaled into [-1, 1]."""
    coarse = rng.standard_normal((len(p["label"]), cells, cells)).astype(np.float32)
    # Row i of the interpolation matrix holds the weights of the coarse points for pixel i.
    pos = np.linspace(0, cells - 1, size, dtype=np.float32)
    weights = np.maximum(0, 1 - np.abs(pos[:, None] - np.arange(cells, dtype=np.float32)[None, :]))
    fine = weights @ coarse @ weights.T
    return fine / np.abs(fine).max(axis=(1, 2), keepdims=True)


def masks_to_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight boxes (x0, y0, x1, y1), ends exclusive, of boolean masks (n, H, W); int64 (n, 4).

    An empty mask gets the empty box (0, 0, 0, 0).
    """
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    h, w = masks.shape[1:]
    y0, x0 = rows.argmax(axis=1), cols.argmax(axis=1)
    y1, x1 = h - rows[:, ::-1].argmax(axis=1), w - cols[:, ::-1].argmax(axis=1)
    boxes = np.stack([x0, y0, x1, y1], axis=1).astype(np.int64)
    boxes[~rows.any(axis=1)] = 0
    return boxes
