"""Image transforms on (C, H, W) NumPy arrays, for data augmentation and normalisation.

Every transform is called as ``transform(image, rng)``: ``image`` is a (C, H, W) array
(float32 in [0, 1] for minidl's datasets) and ``rng`` a ``numpy.random.Generator`` that a
random transform draws all its randomness from (the others ignore it). The ``DataLoader``
passes each sample its own generator derived from (seed, epoch, index), so augmentation is
reproducible and independent of batching and prefetching. ``rng=None`` uses
``minidl.backend.host_rng()``.

Transforms never modify their input: a dataset may hand out views of its stored arrays.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..geometry import pair


def _rng(rng):
    return backend.host_rng() if rng is None else rng



class Compose:
    """Apply transforms one after the other, all drawing from the same generator."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, image, rng=None):
        rng = _rng(rng)
        for transform in self.transforms:
            image = transform(image, rng)
        return image

    def __repr__(self):
        inner = ", ".join(repr(t) for t in self.transforms)
        return f"Compose([{inner}])"


class Lambda:
    """Wrap a function of the image alone, ``fn(image)``, as a transform."""

    def __init__(self, fn):
        self.fn = fn

    def __call__(self, image, rng=None):
        return self.fn(image)


class ToFloat:
    """Convert to float32; integer images (uint8 pixels) are scaled by 1/255 into [0, 1]."""

    def __call__(self, image, rng=None):
        image = np.asarray(image)
        if np.issubdtype(image.dtype, np.integer):
            return image.astype(np.float32) * np.float32(1 / 255)
        return image.astype(np.float32)

    def __repr__(self):
        return "ToFloat()"


class Normalize:
    """``(image - mean) / std`` per channel; ``mean`` and ``std`` are numbers or one per channel."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
        if np.any(self.std <= 0):
            raise ValueError(f"std must be positive, got {std}")

    def __call__(self, image, rng=None):
        return ((image - self.mean) / self.std).astype(np.float32, copy=False)

    def __repr__(self):
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


class CenterPad:
    """Zero-pad a (C, h, w) image in the middle of a (C, H, W) one (MNIST's 28x28 digits
    in LeNet-5's 32x32 input, as LeCun et al. did)."""

    def __init__(self, size, fill: float = 0.0):
        self.size = pair(size)
        self.fill = fill

    def __call__(self, image, rng=None):
        (h, w), (H, W) = image.shape[1:], self.size
        if h > H or w > W:
            raise ValueError(f"CenterPad: image {h}x{w} is larger than {H}x{W}")
        top, left = (H - h) // 2, (W - w) // 2
        return np.pad(image, ((0, 0), (top, H - h - top), (left, W - w - left)),
                      constant_values=self.fill)

    def __repr__(self):
        return f"CenterPad(size={self.size})"


class RandomCrop:
    """Pad the image by ``padding`` pixels on each side, then cut out a random ``size`` window.

    ``size`` is an int (square) or (height, width); ``fill`` is the value of the padding
    (``padding_mode="constant"``) or the padding copies the border (``"edge"``) or mirrors
    the image (``"reflect"``), as in ``numpy.pad``. Every window position is equally likely.
    """

    def __init__(self, size, padding: int = 0, fill: float = 0.0, padding_mode: str = "constant"):
        self.size = pair(size)
        self.padding = int(padding)
        self.fill = fill
        self.padding_mode = padding_mode

    def __call__(self, image, rng=None):
        rng = _rng(rng)
        p = self.padding
        if p:
            kwargs = {"constant_values": self.fill} if self.padding_mode == "constant" else {}
            image = np.pad(image, ((0, 0), (p, p), (p, p)), mode=self.padding_mode, **kwargs)
        h, w = self.size
        if image.shape[1] < h or image.shape[2] < w:
            raise ValueError(f"crop size {self.size} is larger than the padded image {image.shape[1:]}")
        top = int(rng.integers(image.shape[1] - h + 1))
        left = int(rng.integers(image.shape[2] - w + 1))
        return image[:, top:top + h, left:left + w].copy()

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror the image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, image, rng=None):
        if _rng(rng).random() < self.p:
            return image[:, :, ::-1].copy()
        return image

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


class RandomRotation:
    """Rotate by an angle drawn uniformly from ``degrees`` about the image centre.

    ``degrees`` is ``d`` (meaning [-d, d]) or a (low, high) pair; positive angles turn the
    picture counter-clockwise as displayed (row 0 at the top), as ``np.rot90`` does.
    Output pixel (y, x) samples the input at the point that the rotation carries onto it:

        [x_in - cx]   [ cos a   -sin a] [x - cx]
        [y_in - cy] = [ sin a    cos a] [y - cy]      (cx, cy: the centre, (W-1)/2, (H-1)/2)

    with ``interpolation="bilinear"`` (weights of the four neighbours) or ``"nearest"``;
    points falling outside the input read ``fill``.
    """

    def __init__(self, degrees, interpolation: str = "bilinear", fill: float = 0.0):
        low, high = (-degrees, degrees) if np.isscalar(degrees) else degrees
        self.degrees = (float(low), float(high))
        if interpolation not in ("bilinear", "nearest"):
            raise ValueError(f"interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
        self.interpolation = interpolation
        self.fill = fill

    def __call__(self, image, rng=None):
        angle = _rng(rng).uniform(*self.degrees)
        return rotate(image, angle, self.interpolation, self.fill)

    def __repr__(self):
        return f"RandomRotation(degrees={self.degrees}, interpolation={self.interpolation!r})"


def rotate(image, angle: float, interpolation: str = "bilinear", fill: float = 0.0) -> np.ndarray:
    """Rotate a (C, H, W) image by ``angle`` degrees counter-clockwise (see ``RandomRotation``)."""
    c, h, w = image.shape
    a = math.radians(angle)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    x_in = math.cos(a) * (x - cx) - math.sin(a) * (y - cy) + cx
    y_in = math.sin(a) * (x - cx) + math.cos(a) * (y - cy) + cy
    # Pad by one pixel of fill: a clipped index then lands on fill, never on the image.
    padded = np.pad(image, ((0, 0), (1, 1), (1, 1)), constant_values=fill)
    x_in, y_in = x_in + 1, y_in + 1

    def at(yi, xi):
        return padded[:, np.clip(yi, 0, h + 1), np.clip(xi, 0, w + 1)]

    if interpolation == "nearest":
        return at(np.floor(y_in + 0.5).astype(int), np.floor(x_in + 0.5).astype(int)).astype(image.dtype)
    x0, y0 = np.floor(x_in).astype(int), np.floor(y_in).astype(int)
    fx, fy = x_in - x0, y_in - y0
    out = (at(y0, x0) * ((1 - fy) * (1 - fx)) + at(y0, x0 + 1) * ((1 - fy) * fx)
           + at(y0 + 1, x0) * (fy * (1 - fx)) + at(y0 + 1, x0 + 1) * (fy * fx))
    return out.astype(image.dtype)


class GaussianNoise:
    """Add independent normal noise of standard deviation ``std`` to every pixel.

    With ``clip=True`` the result is clipped to [0, 1] (so use it before ``Normalize``).
    """

    def __init__(self, std: float = 0.05, clip: bool = True):
        self.std = std
        self.clip = clip

    def __call__(self, image, rng=None):
        noise = _rng(rng).standard_normal(image.shape, dtype=np.float32) * np.float32(self.std)
        out = image + noise
        return np.clip(out, 0, 1, out=out) if self.clip else out

    def __repr__(self):
        return f"GaussianNoise(std={self.std}, clip={self.clip})"


class Cutout:
    """Set a ``size`` x ``size`` square at a random centre to ``fill`` (DeVries & Taylor, 2017).

    The centre is any pixel of the image, so the square may be partly outside it (then only
    the part inside is filled), as in the paper.
    """

    def __init__(self, size: int, fill: float = 0.0):
        self.size = int(size)
        self.fill = fill

    def __call__(self, image, rng=None):
        rng = _rng(rng)
        _, h, w = image.shape
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        top, left = max(cy - self.size // 2, 0), max(cx - self.size // 2, 0)
        bottom, right = min(cy - self.size // 2 + self.size, h), min(cx - self.size // 2 + self.size, w)
        out = image.copy()
        out[:, top:bottom, left:right] = self.fill
        return out

    def __repr__(self):
        return f"Cutout(size={self.size})"
