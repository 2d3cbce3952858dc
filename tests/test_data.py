"""Tests of minidl.data: datasets, the DataLoader, transforms, file readers and downloads.

Every file read here is written by the test into a temporary folder (tiny synthetic IDX files,
CIFAR pickles, PNGs), except the real MNIST test set in ../shared/data/mnist, used when present.
Downloads go to an HTTP server on 127.0.0.1 run by the test.
"""
import functools
import gzip
import hashlib
import http.server
import os
import pickle
import tarfile
import threading
import time

import numpy as np
import pytest

import minidl
from minidl.data import (CIFAR10, CIFAR100, KMNIST, MNIST, ArrayDataset, ConcatDataset, DataLoader,
                         Dataset, FashionMNIST, ImageFolder, Shapes, Subset, default_collate,
                         random_split, sample_rng)
from minidl.data import transforms as T

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL_MNIST = os.path.join(REPO_ROOT, "..", "shared", "data", "mnist")


def batches_as_arrays(loader):
    """One epoch of a loader as a list of tuples of NumPy arrays."""
    return [tuple(np.asarray(t.data) for t in batch) for batch in loader]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)


class RandomDataset(Dataset):
    """Sample i is (a random vector drawn from the sample's generator, i)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def get(self, index, rng=None):
        return rng.standard_normal(3).astype(np.float32), index


# --------------------------------------------------------------------------- DataLoader
@pytest.mark.skipif(not minidl.cuda_is_available(), reason="no CUDA GPU")
def test_batches_on_the_gpu():
    data = ArrayDataset(np.ones((6, 2), np.float32), np.arange(6))
    x, y = next(iter(DataLoader(data, 3, device="cuda", prefetch=1)))
    assert x.device == "cuda" and y.device == "cuda" and y.dtype == np.int64


def test_batches_have_the_right_sizes_types_and_dtypes():
    images = np.arange(10 * 3 * 2 * 2, dtype=np.float32).reshape(10, 3, 2, 2)
    labels = np.arange(10)
    loader = DataLoader(ArrayDataset(images, labels), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(y) for _, y in batches] == [4, 4, 2]
    x, y = batches[0]
    assert isinstance(x, minidl.Tensor) and x.dtype == np.float32 and x.shape == (4, 3, 2, 2)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([b[0].data for b in batches]), images)
    dropped = DataLoader(ArrayDataset(images, labels), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [len(y) for _, y in dropped] == [4, 4]


def test_default_collate_recurses_into_tuples_and_dicts():
    samples = [({"x": np.ones(2, np.float32), "n": i}, 0.5, "name") for i in range(3)]
    batch = default_collate(samples)
    assert batch[0]["x"].shape == (3, 2) and batch[0]["n"].dtype == np.int64
    assert batch[1].dtype == np.float32 and batch[2] == ["name"] * 3
    loaded = next(iter(DataLoader(samples, batch_size=3)))
    assert isinstance(loaded[0]["x"], minidl.Tensor) and loaded[2] == ["name"] * 3


def test_shuffle_is_a_permutation_reproducible_from_the_seed():
    data = ArrayDataset(np.arange(50))

    def epochs(loader, count):
        return [np.concatenate([b[0].data for b in loader]) for _ in range(count)]

    a = epochs(DataLoader(data, 8, shuffle=True, seed=3), 3)
    b = epochs(DataLoader(data, 8, shuffle=True, seed=3), 3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
        assert sorted(x) == list(range(50))
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    other = epochs(DataLoader(data, 8, shuffle=True, seed=4), 1)
    assert not np.array_equal(a[0], other[0])
    np.testing.assert_array_equal(epochs(DataLoader(data, 8), 1)[0], np.arange(50))


def test_set_epoch_and_state_dict_resume_the_sequence():
    data = ArrayDataset(np.arange(20))
    loader = DataLoader(data, 5, shuffle=True, seed=7)
    full = [batches_as_arrays(loader) for _ in range(3)]
    assert loader.epoch == 3
    resumed = DataLoader(data, 5, shuffle=True, seed=7)
    resumed.set_epoch(2)
    assert_same_batches(batches_as_arrays(resumed), full[2])
    restored = DataLoader(data, 5, shuffle=True, seed=0)
    restored.load_state_dict({"seed": 7, "epoch": 1})
    assert_same_batches(batches_as_arrays(restored), full[1])
    assert restored.state_dict() == {"seed": 7, "epoch": 2}


def test_manual_seed_fixes_the_loader_seed():
    data = ArrayDataset(np.arange(30))
    minidl.manual_seed(5)
    a = batches_as_arrays(DataLoader(data, 10, shuffle=True))
    minidl.manual_seed(5)
    b = batches_as_arrays(DataLoader(data, 10, shuffle=True))
    minidl.manual_seed(6)
    c = batches_as_arrays(DataLoader(data, 10, shuffle=True))
    assert_same_batches(a, b)
    assert not all(np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_sample_randomness_depends_only_on_seed_epoch_and_index():
    data = RandomDataset(12)
    one = batches_as_arrays(DataLoader(data, 1, seed=1))
    seven = batches_as_arrays(DataLoader(data, 7, seed=1))
    np.testing.assert_array_equal(np.concatenate([b[0] for b in one]), np.concatenate([b[0] for b in seven]))
    shuffled = DataLoader(data, 4, shuffle=True, seed=1)
    for x, index in batches_as_arrays(shuffled):
        for row, i in zip(x, index):
            np.testing.assert_array_equal(row, sample_rng(1, 0, int(i)).standard_normal(3).astype(np.float32))
    loader = DataLoader(data, 12, seed=1)
    first_epoch, second_epoch = batches_as_arrays(loader), batches_as_arrays(loader)
    assert not np.array_equal(first_epoch[0][0], second_epoch[0][0])  # new epoch, new draws


@pytest.mark.parametrize("prefetch", [1, 3])
def test_prefetch_gives_the_same_batches(prefetch):
    augment = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.GaussianNoise(0.05)])
    data = Shapes(40, transform=augment)
    plain = DataLoader(data, 8, shuffle=True, seed=2)
    ahead = DataLoader(data, 8, shuffle=True, seed=2, prefetch=prefetch)
    for _ in range(2):
        assert_same_batches(batches_as_arrays(ahead), batches_as_arrays(plain))


class FailingDataset(Dataset):
    def __len__(self):
        return 20

    def __getitem__(self, index):
        if index == 13:
            raise KeyError("sample 13 is broken")
        return np.float32(index)


def prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "minidl-prefetch"]


@pytest.mark.parametrize("prefetch", [0, 2])
def test_dataset_errors_reach_the_caller(prefetch):
    loader = DataLoader(FailingDataset(), 4, prefetch=prefetch)
    seen = []
    with pytest.raises(KeyError, match="sample 13 is broken"):
        for batch in loader:
            seen.append(batch)
    assert len(seen) == 3
    assert not prefetch_threads()


def test_prefetch_thread_stops_when_iteration_stops_early():
    class Slow(Dataset):
        def __len__(self):
            return 100

        def __getitem__(self, index):
            time.sleep(0.001)
            return np.float32(index)

    iterator = iter(DataLoader(Slow(), 2, prefetch=2))
    next(iterator)
    time.sleep(0.05)  # the thread fills the queue and waits for room
    assert len(prefetch_threads()) == 1
    iterator.close()
    assert not prefetch_threads()
    for _ in DataLoader(Slow(), 2, prefetch=1):
        break
    assert not prefetch_threads()


# --------------------------------------------------------------------------- datasets
def test_array_dataset_subset_concat_and_random_split():
    x, y = np.arange(10, dtype=np.float32), np.arange(10) * 2
    data = ArrayDataset(x, y, transform=lambda v, rng: v + 100)
    assert len(data) == 10 and data[3] == (103.0, 6)
    with pytest.raises(ValueError, match="different lengths"):
        ArrayDataset(x, y[:5])
    sub = Subset(data, [4, 1])
    assert len(sub) == 2 and sub[0] == (104.0, 8) and sub[-1] == (101.0, 2)
    both = data + sub
    assert isinstance(both, ConcatDataset) and len(both) == 12 and both[11] == (101.0, 2)
    with pytest.raises(IndexError):
        both[12]
    parts = random_split(data, [6, 4], seed=0)
    assert [len(p) for p in parts] == [6, 4]
    assert sorted(np.concatenate([p.indices for p in parts])) == list(range(10))
    np.testing.assert_array_equal(random_split(data, [6, 4], seed=0)[1].indices, parts[1].indices)
    assert [len(p) for p in random_split(data, [0.5, 0.3, 0.2])] == [5, 3, 2]
    with pytest.raises(ValueError, match="add up"):
        random_split(data, [3, 3])


# --------------------------------------------------------------------------- transforms
IMAGE = np.random.default_rng(0).random((3, 9, 11), dtype=np.float32)


@pytest.mark.parametrize("transform", [
    T.RandomCrop(7, padding=2), T.RandomHorizontalFlip(), T.RandomRotation(30), T.GaussianNoise(0.1),
    T.Cutout(4), T.Compose([T.RandomCrop((9, 11), padding=1), T.RandomRotation(10, "nearest")])])
def test_random_transforms_are_deterministic_given_the_generator(transform):
    before = IMAGE.copy()
    a = transform(IMAGE, np.random.default_rng(5))
    b = transform(IMAGE, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(IMAGE, before)  # the input is never modified
    assert a.dtype == np.float32 and a.shape[0] == 3
    outputs = {transform(IMAGE, np.random.default_rng(s)).tobytes() for s in range(10)}
    assert len(outputs) > 1


def test_to_float_and_normalize():
    pixels = np.array([[[0, 51, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(T.ToFloat()(pixels), [[[0, 0.2, 1]]], rtol=1e-6)
    out = T.Normalize(mean=[0.5, 0.0, 1.0], std=[0.5, 2.0, 0.25])(np.ones((3, 2, 2), np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0], [1.0, 0.5, 0.0])
    with pytest.raises(ValueError):
        T.Normalize(0, 0)


def test_random_crop_with_padding_is_a_window_of_the_padded_image():
    padded = np.pad(IMAGE, ((0, 0), (3, 3), (3, 3)), constant_values=-1)
    positions = set()
    for seed in range(200):
        crop = T.RandomCrop((9, 11), padding=3, fill=-1)(IMAGE, np.random.default_rng(seed))
        assert crop.shape == (3, 9, 11)
        matches = [(t, u) for t in range(7) for u in range(7)
                   if np.array_equal(crop, padded[:, t:t + 9, u:u + 11])]
        assert matches
        positions.update(matches)
    assert len(positions) == 49  # every position of the window is reachable
    edge = T.RandomCrop(9, padding=2, padding_mode="edge")(IMAGE, np.random.default_rng(0))
    assert edge.min() >= IMAGE.min() and edge.max() <= IMAGE.max()
    with pytest.raises(ValueError, match="larger"):
        T.RandomCrop(20)(IMAGE, np.random.default_rng(0))


def test_horizontal_flip():
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(IMAGE), IMAGE[:, :, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(IMAGE), IMAGE)
    flips = [not np.array_equal(T.RandomHorizontalFlip()(IMAGE, np.random.default_rng(s)), IMAGE)
             for s in range(400)]
    assert 150 < sum(flips) < 250


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_rotation(interpolation):
    square = IMAGE[:, :9, :9]
    quarter = T.RandomRotation((90, 90), interpolation)(square)
    np.testing.assert_allclose(quarter, np.rot90(square, axes=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(T.RandomRotation(0, interpolation)(IMAGE), IMAGE, atol=1e-6)
    tilted = T.RandomRotation((45, 45), interpolation, fill=-1.0)(IMAGE)
    assert np.all(tilted[:, 0, 0] == -1) and tilted.shape == IMAGE.shape
    assert np.all(tilted[:, 4, 5] == IMAGE[:, 4, 5])  # the centre stays
    if interpolation == "nearest":
        assert np.isin(tilted, np.append(IMAGE, -1)).all()


def test_gaussian_noise_and_cutout():
    grey = np.full((1, 64, 64), 0.5, np.float32)
    noisy = T.GaussianNoise(0.1)(grey, np.random.default_rng(0))
    assert abs(noisy.std() - 0.1) < 0.01 and abs(noisy.mean() - 0.5) < 0.01
    assert T.GaussianNoise(2.0)(grey, np.random.default_rng(0)).max() <= 1
    assert T.GaussianNoise(2.0, clip=False)(grey, np.random.default_rng(0)).max() > 1
    ones = np.ones((2, 20, 20), np.float32)
    for seed in range(30):
        out = T.Cutout(6)(ones, np.random.default_rng(seed))
        holes = np.argwhere(out[0] == 0)
        assert np.array_equal(out[0] == 0, out[1] == 0) and 0 < len(holes) <= 36
        (top, left), (bottom, right) = holes.min(0), holes.max(0)
        assert len(holes) == (bottom - top + 1) * (right - left + 1)  # a rectangle
        if top > 0 and left > 0 and bottom < 19 and right < 19:
            assert len(holes) == 36  # the whole square when it is inside the image


def test_lambda_wraps_a_plain_function():
    assert T.Compose([T.Lambda(lambda x: x * 2), T.Normalize(1, 1)])(np.ones((1, 1, 1)), None)[0, 0, 0] == 1


# --------------------------------------------------------------------------- Shapes
def test_shapes_is_deterministic_in_the_seed():
    a, b = Shapes(50, seed=1), Shapes(50, seed=1)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.targets, b.targets)
    assert not np.array_equal(a.data, Shapes(50, seed=2).data)
    assert not np.array_equal(a.data, Shapes(50, seed=1, train=False).data)


def test_shapes_classes_are_balanced():
    data = Shapes(203)
    assert len(data.classes) >= 6 and len(set(data.classes)) == len(data.classes)
    counts = np.bincount(data.targets, minlength=len(data.classes))
    assert counts.max() - counts.min() <= 1
    assert Shapes(10, classes=3).classes == ["circle", "square", "triangle"]
    two = Shapes(10, classes=["ring", "cross"])
    assert two.classes == ["ring", "cross"] and set(two.targets) == {0, 1}
    with pytest.raises(ValueError, match="unknown"):
        Shapes(10, classes=["hexagon"])


@pytest.mark.parametrize("size,background", [(16, "texture"), (32, "noise"), (41, "mixed")])
def test_shapes_boxes_are_the_tight_boxes_of_the_masks(size, background):
    data = Shapes(300, size=size, background=background)
    assert data.masks.shape == (300, size, size) and data.boxes.shape == (300, 4)
    for mask, (x0, y0, x1, y1) in zip(data.masks, data.boxes):
        assert 0 <= x0 < x1 <= size and 0 <= y0 < y1 <= size
        inside = np.zeros_like(mask)
        inside[y0:y1, x0:x1] = True
        assert not (mask & ~inside).any()  # nothing outside the box
        assert mask[y0].any() and mask[y1 - 1].any() and mask[:, x0].any() and mask[:, x1 - 1].any()


def test_shapes_masks_match_the_pixels_on_a_plain_background():
    data = Shapes(100, background="plain")
    for image, mask in zip(data.data, data.masks):
        colours = image.reshape(3, -1).T
        on, off = np.unique(colours[mask.ravel()], axis=0), np.unique(colours[~mask.ravel()], axis=0)
        assert len(on) == 1 and len(off) == 1
        assert np.abs(on.astype(int) - off.astype(int)).min() >= 0.35 * 255 - 1


def test_shapes_options_and_items():
    gray = Shapes(20, size=16, channels=1, return_annotations=True)
    image, label, box, mask = gray[3]
    assert image.shape == (1, 16, 16) and image.dtype == np.float32
    assert 0 <= image.min() and image.max() <= 1 and isinstance(label, int)
    np.testing.assert_array_equal(box, gray.boxes[3])
    assert mask.shape == (16, 16) and mask.dtype == np.bool_
    rgb = Shapes(20, size=48, background="texture")
    assert rgb[0][0].shape == (3, 48, 48)
    x, y, boxes, masks = next(iter(DataLoader(gray, 5)))
    assert boxes.shape == (5, 4) and masks.shape == (5, 16, 16)
    for bad in [dict(size=8), dict(channels=2), dict(background="stars")]:
        with pytest.raises(ValueError):
            Shapes(5, **bad)


def test_shapes_generation_is_fast():
    start = time.perf_counter()
    data = Shapes(10000, size=32, channels=3)
    assert time.perf_counter() - start < 10
    assert data.data.shape == (10000, 3, 32, 32) and data.masks.any(axis=(1, 2)).all()


# --------------------------------------------------------------------------- MNIST
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


@pytest.mark.skipif(not os.path.isdir(REAL_MNIST), reason="no MNIST data in ../shared/data/mnist")
def test_real_mnist_test_set():
    data = MNIST(REAL_MNIST, train=False)
    assert len(data) == 10000 and data.data.shape == (10000, 1, 28, 28)
    assert list(data.targets[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert list(np.bincount(data.targets)) == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    images = next(iter(DataLoader(data, 10000)))[0].data
    assert images.dtype == np.float32 and images.min() == 0 and images.max() == 1
    assert abs(images.mean() - 0.1325) < 0.001


# --------------------------------------------------------------------------- CIFAR
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


# --------------------------------------------------------------------------- ImageFolder
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


# --------------------------------------------------------------------------- downloads
class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/"www"; yields (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


@pytest.fixture
def mnist_server(server, monkeypatch):
    """The server with four synthetic MNIST files, and MNIST.resources patched to their MD5s."""
    www, url = server
    write_mnist(www, "train", n=6)
    write_mnist(www, "t10k", n=4)
    resources = [(name, md5(www / name)) for name, _ in MNIST.resources]
    monkeypatch.setattr(MNIST, "resources", resources)
    return www, url


def files_in(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_download_mnist(mnist_server, tmp_path):
    www, url = mnist_server
    root = tmp_path / "mnist"
    data = MNIST(root, train=False, download=True, mirrors=[url + "missing/", url])
    assert len(data) == 4
    assert files_in(root) == sorted(name for name, _ in MNIST.resources)
    for name in files_in(root):
        os.remove(www / name)  # files already there with the right MD5 are not fetched again
    assert len(MNIST(root, download=True, mirrors=[url])) == 6


def test_download_checksum_mismatch_leaves_no_file(mnist_server, tmp_path, monkeypatch):
    www, url = mnist_server
    wrong = [(name, "0" * 32) for name, _ in MNIST.resources]
    monkeypatch.setattr(MNIST, "resources", wrong)
    root = tmp_path / "mnist"
    with pytest.raises(RuntimeError, match="checksum mismatch") as error:
        MNIST(root, download=True, mirrors=[url])
    assert url + "train-images-idx3-ubyte.gz" in str(error.value)
    assert files_in(root) == []


def test_download_404_names_every_url_and_leaves_no_file(server, tmp_path):
    www, url = server
    root = tmp_path / "mnist"
    mirrors = [url + "a/", url + "b/"]
    with pytest.raises(RuntimeError) as error:
        MNIST(root, download=True, mirrors=mirrors)
    message = str(error.value)
    assert "404" in message and all(m + "train-images-idx3-ubyte.gz" in message for m in mirrors)
    assert files_in(root) == []


def test_download_cifar10_archive(server, tmp_path, monkeypatch):
    www, url = server
    write_cifar10(tmp_path / "build" / "cifar-10-batches-py", n=2)
    archive = www / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "build" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(CIFAR10, "archive", ("cifar-10-python.tar.gz", md5(archive)))
    data = CIFAR10(tmp_path / "cifar", download=True, mirrors=[url])
    assert len(data) == 10 and data.classes[0] == "c0"
    assert "test_batch" in files_in(tmp_path / "cifar")
    assert not any(name.endswith(".part") for name in files_in(tmp_path / "cifar"))
