"""A small CNN trained on the built-in Shapes data, shared by the visualization tests.

``trained_shapes_cnn()`` trains once per test process (plain backgrounds, so a few epochs
suffice) and caches the result; every call returns the same model (in eval mode) and data.
Training always runs on the Numba kernels (fast, and the same model whichever kernel setting
the first caller had: kernels differ in the last bits, and training amplifies that).
"""
from __future__ import annotations

import functools

import numpy as np

import minidl
import minidl.functional as F
from minidl import models
from minidl.data import DataLoader, Shapes


def small_cnn(num_classes=8, in_channels=3):
    """The zoo's ``small_cnn`` (conv-bn-relu-pool x2, conv-bn-relu, global average pooling,
    linear: CAM-ready), with Shapes' 8 classes by default."""
    return models.small_cnn(num_classes, in_channels)


@functools.cache
def trained_shapes_cnn(size=32, n_train=2000, epochs=5, seed=0):
    """(model, train set, test set, test accuracy) of a small CNN trained on Shapes."""
    minidl.manual_seed(seed)
    train = Shapes(n=n_train, size=size, seed=seed, background="plain")
    test = Shapes(n=400, size=size, seed=seed, train=False, background="plain")
    model = small_cnn(len(train.classes))
    opt = minidl.optim.Adam(model.parameters(), lr=0.003)
    loader = DataLoader(train, batch_size=64, shuffle=True, seed=seed)
    model.train()
    with minidl.kernels.use("numba"):
        for _ in range(epochs):
            for x, y in loader:
                loss = F.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
    model.eval()
    with minidl.no_grad():
        images = np.stack([test[i][0] for i in range(len(test))])
        labels = np.array([test[i][1] for i in range(len(test))])
        accuracy = (model(minidl.tensor(images)).numpy().argmax(1) == labels).mean()
    return model, train, test, float(accuracy)
