"""ImageFolder: images sorted into one sub-folder per class, read with Pillow."""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from .. import backend
from .dataset import Dataset

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def load_image(path: str, size=None, grayscale: bool = False) -> np.ndarray:
    """Read an image file as a (C, H, W) float32 array in [0, 1] (C = 1 or 3).

    ``size`` (an int for a square, or (height, width)) resizes it bilinearly.
    """
    with Image.open(path) as image:
        image = image.convert("L" if grayscale else "RGB")
        if size is not None:
            height, width = (size, size) if np.isscalar(size) else size
            image = image.resize((int(width), int(height)), Image.Resampling.BILINEAR)
        pixels = np.asarray(image, dtype=np.uint8)
    pixels = pixels[None] if grayscale else pixels.transpose(2, 0, 1)
    return pixels.astype(np.float32) * np.float32(1 / 255)


class ImageFolder(Dataset):
    """Images in ``root/<class>/<name>.png|jpg|jpeg``; the classes are the sub-folders, sorted.

    Images are read when a sample is asked for. Give ``size`` so that all images have one
    shape and can be batched; ``grayscale=True`` gives one channel instead of three.

    Attributes:
        classes: the class names (sub-folder names), sorted.
        class_to_idx: name -> label.
        samples: (path, label) for every image, by class then by file name.
        targets: the labels, int64.
    """

    def __init__(self, root, transform=None, size=None, grayscale: bool = False):
        self.root = os.fspath(root)
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"ImageFolder: {self.root} is not a folder")
        self.transform = transform
        self.size = size
        self.grayscale = grayscale
        self.classes = sorted(entry.name for entry in os.scandir(self.root) if entry.is_dir())
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.samples = [(os.path.join(self.root, name, file), label)
                        for name, label in self.class_to_idx.items()
                        for file in sorted(os.listdir(os.path.join(self.root, name)))
                        if file.lower().endswith(IMAGE_EXTENSIONS)]
        if not self.samples:
            raise FileNotFoundError(f"ImageFolder: no {'/'.join(IMAGE_EXTENSIONS)} images in class "
                                    f"sub-folders of {self.root} (found folders: {self.classes})")
        self.targets = np.array([label for _, label in self.samples], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        return self.get(index)

    def get(self, index, rng=None):
        path, label = self.samples[index]
        image = load_image(path, self.size, self.grayscale)
        if self.transform is not None:
            image = self.transform(image, backend.host_rng() if rng is None else rng)
        return image, label
