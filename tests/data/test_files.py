"""Data sets read from files: MNIST-style IDX, CIFAR pickles, image folders; bad files give
errors naming the file.
"""
from __future__ import annotations

import gzip
import os
import numpy as np
import pytest
from tests.helpers import MNIST_DIR
from minidl.data import (CIFAR10, CIFAR100, KMNIST, MNIST, DataLoader,
                         FashionMNIST, ImageFolder)
from minidl.data import transforms as T
from tests.data.writers import cifar_batch, idx_bytes, write_cifar10, write_gz, write_mnist, write_pickle













def test_mnist_reads_synthetic_idx_files(tmp_path):
    images, labels = write_mnist(tmp_path, "train", n=7)
    test_images, _ = write_mnist(tmp_path, "t10k", n=3)
    train = MNIST(tmp_path)
    assert len(train) == 7 and train.data.shape == (7, 1, 28, 28)
    image, label = train[2]
    assert image.shape == (1, 28, 28) and image.dtype == np.float32 and label == 2
    np.testing.assert_allclose(image[0], images[2] / 255, rtol=1e-6)
    np.testing.assert_array_equal(MNIST(tmp_path, train=False).data[:, 0], test_images)
    flipped = MNIST(tmp_path, transform=T.RandomHorizontalFlip(1.0))[2][0]
    np.testing.assert_allclose(flipped[0], images[2][:, ::-1] / 255, rtol=1e-6)


def test_mnist_accepts_uncompressed_files_and_reports_a_missing_split(tmp_path):
    images, labels = np.zeros((2, 28, 28)), np.array([3, 4])
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    assert list(MNIST(tmp_path, train=False).targets) == [3, 4]
    with pytest.raises(FileNotFoundError) as error:
        MNIST(tmp_path, train=True)
    message = str(error.value)
    assert str(tmp_path) in message and "train-images-idx3-ubyte.gz" in message
    assert "train-labels-idx1-ubyte.gz" in message


def test_mnist_family_defaults_to_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_DATA_DIR", str(tmp_path))
    write_mnist(tmp_path / "kmnist", "t10k", n=2)
    assert len(KMNIST(train=False)) == 2 and KMNIST.classes[0] == "o"
    with pytest.raises(FileNotFoundError, match="fashion-mnist"):
        FashionMNIST(train=False)


def test_mnist_bad_files_give_errors_naming_the_file(tmp_path):
    write_mnist(tmp_path, "train", n=4)
    images_path = os.path.join(tmp_path, "train-images-idx3-ubyte.gz")
    labels_path = os.path.join(tmp_path, "train-labels-idx1-ubyte.gz")
    good = idx_bytes(np.zeros((4, 28, 28)))

    def expect(path, content, pattern):
        write_gz(path, content)
        with pytest.raises(ValueError, match=pattern) as error:
            MNIST(tmp_path)
        assert path in str(error.value)
        write_gz(path, good if path == images_path else idx_bytes(np.arange(4)))

    expect(images_path, good[:-10], "truncated file")
    expect(images_path, good[:10], "truncated file")
    expect(images_path, idx_bytes(np.zeros((4, 28, 28)), magic=0x0801), "wrong magic number 0x00000801")
    expect(labels_path, idx_bytes(np.zeros((4, 1))), "wrong magic number")
    expect(labels_path, idx_bytes(np.arange(3)), "count mismatch.*4 images.*3 labels")
    expect(images_path, idx_bytes(np.zeros((4, 32, 32))), "wrong dimensions.*32x32")
    expect(labels_path, idx_bytes(np.array([1, 2, 3, 12])), "label 12 out of range")
    compressed = gzip.compress(good)
    with open(images_path, "wb") as f:
        f.write(compressed[:len(compressed) // 2])
    with pytest.raises(ValueError, match="gzip") as error:
        MNIST(tmp_path)
    assert images_path in str(error.value)


@pytest.mark.skipif(not os.path.isdir(MNIST_DIR), reason="no MNIST data in ../shared/data/mnist")
def test_real_mnist_test_set():
    data = MNIST(MNIST_DIR, train=False)
    assert len(data) == 10000 and data.data.shape == (10000, 1, 28, 28)
    assert list(data.targets[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert list(np.bincount(data.targets)) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    images = next(iter(DataLoader(data, 10000)))[0].data
    assert images.dtype == np.float32 and images.min() == 0 and images.max() == 1
    assert abs(images.mean() - 0.1325) < 0.001








def test_cifar10_reads_synthetic_batches(tmp_path):
    write_cifar10(tmp_path / "cifar-10-batches-py")
    train = CIFAR10(tmp_path / "cifar-10-batches-py")
    assert len(train) == 15 and train.classes[3] == "c3"
    image, label = train[3]  # the first image of data_batch_2
    assert image.shape == (3, 32, 32) and image.dtype == np.float32 and label == 2
    expected = cifar_batch(3, offset=2)["data"][0]
    np.testing.assert_allclose(image[1, 0, :4], expected[1024:1028] / 255, rtol=1e-6)  # green plane
    test = CIFAR10(tmp_path, train=False)  # the folder holding cifar-10-batches-py works too
    assert len(test) == 2 and list(test.targets) == [9, 0]


def test_cifar100_reads_synthetic_pickles(tmp_path):
    write_pickle(tmp_path / "train", cifar_batch(4, "fine_labels"))
    write_pickle(tmp_path / "test", cifar_batch(2, "fine_labels"))
    write_pickle(tmp_path / "meta", {"fine_label_names": [f"f{i}" for i in range(100)]})
    data = CIFAR100(tmp_path)
    assert len(data) == 4 and data.classes[99] == "f99" and data[1][1] == 1


def test_cifar_bad_files(tmp_path):
    write_cifar10(tmp_path)
    os.remove(tmp_path / "test_batch")
    with pytest.raises(FileNotFoundError, match="test_batch"):
        CIFAR10(tmp_path, train=False)
    path = str(tmp_path / "data_batch_2")
    write_pickle(path, {"data": np.zeros((2, 100), np.uint8), "labels": [0, 1]})
    with pytest.raises(ValueError, match="wrong dimensions") as error:
        CIFAR10(tmp_path)
    assert path in str(error.value)
    write_pickle(path, {"data": np.zeros((2, 3072), np.uint8), "labels": [0]})
    with pytest.raises(ValueError, match="count mismatch"):
        CIFAR10(tmp_path)
    write_pickle(path, {"data": os.getcwd})  # would call code when unpickled
    with pytest.raises(ValueError, match="refusing to load"):
        CIFAR10(tmp_path)
    with open(path, "wb") as f:
        f.write(b"not a pickle")
    with pytest.raises(ValueError, match="not a CIFAR python batch"):
        CIFAR10(tmp_path)


def test_image_folder_reads_pngs(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    written = {}
    for name, count in [("dog", 2), ("cat", 3)]:
        os.makedirs(tmp_path / name)
        for i in range(count):
            pixels = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i}.png")
            written[(name, i)] = pixels
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    data = ImageFolder(tmp_path)
    assert data.classes == ["cat", "dog"] and len(data) == 5
    assert list(data.targets) == [0, 0, 0, 1, 1]
    image, label = data[3]
    assert label == 1 and image.shape == (3, 6, 5) and image.dtype == np.float32
    np.testing.assert_allclose(image, written[("dog", 0)].transpose(2, 0, 1) / 255, rtol=1e-6)
    small = ImageFolder(tmp_path, size=(4, 3), grayscale=True)
    assert small[0][0].shape == (1, 4, 3)
    x, y = next(iter(DataLoader(small, 5)))
    assert x.shape == (5, 1, 4, 3) and list(y.data) == [0, 0, 0, 1, 1]
    with pytest.raises(FileNotFoundError, match="no .png"):
        ImageFolder(tmp_path / "cat")
