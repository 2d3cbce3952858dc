"""CIFAR-10 and CIFAR-100 from the python versions of the datasets.

The archive (``cifar-10-python.tar.gz``) unpacks into a folder of pickled dicts: for
CIFAR-10 ``data_batch_1`` ... ``data_batch_5`` (10,000 training images each), ``test_batch``
and ``batches.meta``; for CIFAR-100 ``train``, ``test`` and ``meta``. ``root`` is that
folder (default ``$MINIDL_DATA_DIR/cifar-10-batches-py``); the folder holding it is
accepted too. Each dict's ``"data"`` is a uint8 (N, 3072) array whose rows are the red, green
and blue 32x32 planes one after the other: reshaping to (N, 3, 32, 32) is all it takes.
"""
from __future__ import annotations

import os
import pickle
import tarfile
import tempfile

import numpy as np

from .download import download
from .image import ImageArrayDataset, default_root


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds NumPy arrays: a data file cannot run code."""

    allowed = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self.allowed:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def load_pickle(path: str) -> dict:
    """Read one CIFAR pickle (a dict); raise ``ValueError`` naming the file if it is not one."""
    try:
        with open(path, "rb") as f:
            content = _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(f"{path}: not a CIFAR python batch ({type(error).__name__}: {error})") from None
    if not isinstance(content, dict):
        raise ValueError(f"{path}: not a CIFAR python batch (holds a {type(content).__name__}, not a dict)")
    return content


class CIFAR10(ImageArrayDataset):
    """CIFAR-10: (3, 32, 32) float32 colour images in [0, 1], in 10 classes.

    Args:
        root: the folder holding the batch files (default ``$MINIDL_DATA_DIR/cifar-10-batches-py``).
        train: the 50,000 training images, else the 10,000 test images.
        download: fetch and unpack the archive from ``mirrors`` first, unless the files are there.
        transform: ``transform(image, rng)`` applied to each image when it is read.
        mirrors: base URLs to download from, in order (default: the class's ``mirrors``).
    """

    name = "cifar-10-batches-py"
    mirrors = ["https://www.cs.toronto.edu/~kriz/"]
    archive = ("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")
    train_files = [f"data_batch_{i}" for i in range(1, 6)]
    test_files = ["test_batch"]
    meta_file, names_key, labels_key = "batches.meta", "label_names", "labels"
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    def __init__(self, root=None, train: bool = True, download: bool = False, transform=None,
                 mirrors=None):
        root = default_root(self.name) if root is None else os.fspath(root)
        nested = os.path.join(root, self.name)
        self.root = nested if os.path.isdir(nested) else root
        self.train = train
        self.transform = transform
        files = self.train_files if train else self.test_files
        if download and not all(os.path.isfile(os.path.join(self.root, f)) for f in files):
            self.download(mirrors)
        missing = [f for f in files if not os.path.isfile(os.path.join(self.root, f))]
        if missing:
            split = "training" if train else "test"
            raise FileNotFoundError(
                f"{type(self).__name__} {split} split not found in {self.root}: expected the files "
                f"{', '.join(files)} (missing: {', '.join(missing)}). Pass root=, set MINIDL_DATA_DIR "
                "or use download=True.")
        self.data, self.targets = self._load([os.path.join(self.root, f) for f in files])
        self.classes = self._class_names()

    def download(self, mirrors=None) -> None:
        """Fetch the archive into ``root`` (checking its MD5) and unpack its files there."""
        filename, md5 = self.archive
        path = download(self.mirrors if mirrors is None else mirrors, filename, self.root, md5)
        extract_folder(path, self.name, self.root)

    def _load(self, paths) -> tuple[np.ndarray, np.ndarray]:
        images, labels = [], []
        for path in paths:
            batch = load_pickle(path)
            for key in ("data", self.labels_key):
                if key not in batch:
                    raise ValueError(f"{path}: not a CIFAR python batch (no {key!r} entry)")
            data = np.asarray(batch["data"], dtype=np.uint8)
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
                raise ValueError(f"{path}: wrong dimensions: 'data' is {data.shape}, expected (N, 3072)")
            if len(batch[self.labels_key]) != len(data):
                raise ValueError(f"{path}: count mismatch: {len(data)} images but "
                                 f"{len(batch[self.labels_key])} labels")
            images.append(data.reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[self.labels_key], dtype=np.int64))
        return np.concatenate(images), np.concatenate(labels)

    def _class_names(self) -> list[str]:
        """The names from the meta file when it is there, else the class's list."""
        path = os.path.join(self.root, self.meta_file)
        if os.path.isfile(path):
            return list(load_pickle(path)[self.names_key])
        return list(self.classes)


class CIFAR100(CIFAR10):
    """CIFAR-100: like CIFAR-10 with 100 classes (the "fine" labels)."""

    name = "cifar-100-python"
    archive = ("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85")
    train_files = ["train"]
    test_files = ["test"]
    meta_file, names_key, labels_key = "meta", "fine_label_names", "fine_labels"
    classes = [str(i) for i in range(100)]  # the names come from the meta file


def extract_folder(archive: str, folder: str, dest: str) -> None:
    """Unpack the files directly inside ``folder/`` of a .tar.gz archive into ``dest``.

    Each file is written to a temporary name and renamed, so an interrupted extraction leaves
    no partial file; names with further path parts are skipped (no writing outside ``dest``).
    """
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            head, _, name = member.name.partition("/")
            if not member.isfile() or head != folder or not name or "/" in name or name.startswith("."):
                continue
            fd, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(tar.extractfile(member).read())
                os.replace(partial, os.path.join(dest, name))
            finally:
                if os.path.exists(partial):
                    os.remove(partial)
