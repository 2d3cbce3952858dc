"""MNIST, Fashion-MNIST and Kuzushiji-MNIST from their IDX files.

The four files of each dataset sit in one folder (``root``, by default
``$MINIDL_DATA_DIR/<name>``)::

    train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz   (60,000 training images)
    t10k-images-idx3-ubyte.gz   t10k-labels-idx1-ubyte.gz    (10,000 test images)

Only the split asked for has to be there. The IDX format is a big-endian header followed by
the raw values: the magic number 0x0000080N (0x08: unsigned bytes; N: the number of
dimensions), N sizes as 32-bit integers, then the product of the sizes in bytes.
"""
from __future__ import annotations

import gzip
import os
import zlib

import numpy as np

from .download import download
from .image import ImageArrayDataset, default_root

UNSIGNED_BYTE = 0x08


def read_idx(path: str, ndim: int) -> np.ndarray:
    """Read an IDX file of unsigned bytes with ``ndim`` dimensions (gzipped if named .gz).

    Raises ``ValueError`` naming the file when it is not a valid gzip stream, is truncated,
    has a wrong magic number or trailing bytes.
    """
    raw = _read_bytes(path)
    expected = UNSIGNED_BYTE << 8 | ndim
    header = 4 + 4 * ndim
    if len(raw) < 4:
        raise ValueError(f"{path}: truncated file: {len(raw)} bytes, too short for an IDX header")
    magic = int.from_bytes(raw[:4], "big")
    if magic != expected:
        raise ValueError(f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected:08x} "
                         f"(IDX unsigned bytes, {ndim} dimensions)")
    if len(raw) < header:
        raise ValueError(f"{path}: truncated file: {len(raw)} bytes, the header alone needs {header}")
    shape = tuple(int.from_bytes(raw[i:i + 4], "big") for i in range(4, header, 4))
    size = int(np.prod(shape))
    if len(raw) - header < size:
        raise ValueError(f"{path}: truncated file: the header promises {shape} = {size} bytes of data, "
                         f"found {len(raw) - header}")
    if len(raw) - header > size:
        raise ValueError(f"{path}: {len(raw) - header - size} unexpected bytes after the {shape} data")
    return np.frombuffer(raw, np.uint8, size, header).reshape(shape)


def _read_bytes(path: str) -> bytes:
    """The file's bytes, decompressed when its name ends in .gz."""
    if not path.endswith(".gz"):
        with open(path, "rb") as f:
            return f.read()
    try:
        with gzip.open(path, "rb") as f:
            return f.read()
    except (OSError, EOFError, zlib.error) as error:  # BadGzipFile is an OSError
        raise ValueError(f"{path}: not a valid gzip file or truncated ({error})") from None


class MNIST(ImageArrayDataset):
    """The MNIST handwritten digits: (1, 28, 28) float32 images in [0, 1], labels 0 to 9.

    Args:
        root: the folder holding the IDX files (default ``$MINIDL_DATA_DIR/mnist``).
        train: the 60,000 training images, else the 10,000 test images.
        download: fetch the four files from ``mirrors`` first (those already there with the
            right MD5 are kept).
        transform: ``transform(image, rng)`` applied to each image when it is read.
        mirrors: base URLs to download from, in order (default: the class's ``mirrors``).
    """

    name = "mnist"
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    resources = [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                 ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                 ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                 ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six",
               "7 - seven", "8 - eight", "9 - nine"]
    image_size = (28, 28)

    def __init__(self, root=None, train: bool = True, download: bool = False, transform=None,
                 mirrors=None):
        self.root = default_root(self.name) if root is None else os.fspath(root)
        self.train = train
        self.transform = transform
        if download:
            self.download(mirrors)
        images_path, labels_path = self._split_files()
        self.data, self.targets = self._load(images_path, labels_path)

    def download(self, mirrors=None) -> None:
        """Fetch all four files into ``root``, checking their MD5 checksums."""
        for filename, md5 in self.resources:
            download(self.mirrors if mirrors is None else mirrors, filename, self.root, md5)

    def _split_files(self) -> tuple[str, str]:
        """The image and label files of the requested split (gzipped or not)."""
        prefix = "train" if self.train else "t10k"
        names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
        paths = []
        for name in names:
            for candidate in (name, name[:-3]):
                if os.path.isfile(os.path.join(self.root, candidate)):
                    paths.append(os.path.join(self.root, candidate))
                    break
        if len(paths) < 2:
            split = "training" if self.train else "test"
            raise FileNotFoundError(
                f"{type(self).__name__} {split} split not found in {self.root}: expected the files "
                f"{' and '.join(names)}. Pass root=, set MINIDL_DATA_DIR or use download=True.")
        return paths[0], paths[1]

    def _load(self, images_path: str, labels_path: str) -> tuple[np.ndarray, np.ndarray]:
        """Read and cross-check the two files: images (N, 1, H, W) uint8, labels (N,) int64."""
        images = read_idx(images_path, 3)
        labels = read_idx(labels_path, 1)
        if images.shape[1:] != self.image_size:
            raise ValueError(f"{images_path}: wrong dimensions: images are "
                             f"{images.shape[1]}x{images.shape[2]}, expected "
                             f"{self.image_size[0]}x{self.image_size[1]}")
        if len(images) != len(labels):
            raise ValueError(f"count mismatch: {images_path} holds {len(images)} images but "
                             f"{labels_path} holds {len(labels)} labels")
        if len(labels) and labels.max() >= len(self.classes):
            raise ValueError(f"{labels_path}: label {labels.max()} out of range for "
                             f"{len(self.classes)} classes")
        return images[:, None], labels.astype(np.int64)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: 28x28 grayscale clothing images in 10 classes, MNIST's format."""

    name = "fashion-mnist"
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                 ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                 ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                 ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]


class KMNIST(MNIST):
    """Kuzushiji-MNIST: 28x28 grayscale cursive Japanese characters in 10 classes."""

    name = "kmnist"
    mirrors = ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"]
    resources = [("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
                 ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
                 ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
                 ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134")]
    classes = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
