"""Writers of small synthetic data files in the real formats (IDX .gz, CIFAR pickles).
"""
from __future__ import annotations

import gzip
import os
import pickle
import numpy as np


def idx_bytes(array, magic=None):
    array = np.asarray(array, dtype=np.uint8)
    magic = 0x0800 | array.ndim if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.tobytes()


def write_gz(path, content):
    with gzip.open(path, "wb") as f:
        f.write(content)


def write_mnist(folder, prefix="train", n=5, images=None, labels=None):
    rng = np.random.default_rng(len(prefix))
    images = rng.integers(0, 256, (n, 28, 28)) if images is None else images
    labels = np.arange(n) % 10 if labels is None else labels
    os.makedirs(folder, exist_ok=True)
    write_gz(os.path.join(folder, f"{prefix}-images-idx3-ubyte.gz"), idx_bytes(images))
    write_gz(os.path.join(folder, f"{prefix}-labels-idx1-ubyte.gz"), idx_bytes(labels))
    return np.asarray(images, np.uint8), np.asarray(labels)


def cifar_batch(n, labels_key="labels", offset=0):
    data = (np.arange(n * 3072) + offset) % 251
    return {"data": data.astype(np.uint8).reshape(n, 3072), labels_key: [(i + offset) % 10 for i in range(n)],
            "batch_label": "synthetic"}


def write_pickle(path, content):
    with open(path, "wb") as f:
        pickle.dump(content, f, protocol=2)


def write_cifar10(folder, n=3):
    os.makedirs(folder, exist_ok=True)
    for i in range(1, 6):
        write_pickle(os.path.join(folder, f"data_batch_{i}"), cifar_batch(n, offset=i))
    write_pickle(os.path.join(folder, "test_batch"), cifar_batch(2, offset=9))
    write_pickle(os.path.join(folder, "batches.meta"), {"label_names": [f"c{i}" for i in range(10)]})
