"""minidl.train: fit lowers the loss and writes the run folder, evaluate, bit-exact resume,
crash safety of the saves, the validation split, MNIST padded for LeNet.
"""
from __future__ import annotations

import json
import os
import numpy as np
import pytest
import minidl
import minidl.nn as nn
from minidl import checkpoint, train
from minidl.data import ArrayDataset, DataLoader, Shapes, transforms as T


BARS = ["horizontal bar", "vertical bar"]


def tiny_model(dropout=0.0):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten(),
                         nn.Dropout(dropout), nn.Linear(8 * 16, 2))


def tiny_run(out, epochs, resume=False, interrupt_at_batch=None, seed=0):
    """A complete small run: dropout, shuffling, random crops and flips, OneCycleLR per batch.

    Everything is built afresh from ``seed``, as a new process would; ``interrupt_at_batch``
    raises KeyboardInterrupt from the loss function at that (global, 1-based) batch.
    """
    minidl.manual_seed(seed)
    augment = T.Compose([T.RandomCrop(16, padding=2), T.RandomHorizontalFlip()])
    data = Shapes(96, size=16, classes=BARS, background="plain", transform=augment)
    model = tiny_model(dropout=0.3)
    optimizer = minidl.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(data, 32, shuffle=True)
    scheduler = minidl.optim.OneCycleLR(optimizer, 0.1, epochs=4, steps_per_epoch=len(loader))
    calls = [0]

    def loss_fn(logits, labels):
        calls[0] += 1
        if calls[0] == interrupt_at_batch:
            raise KeyboardInterrupt
        return minidl.functional.cross_entropy(logits, labels)

    history = train.fit(model, optimizer, loader, epochs, scheduler=scheduler, out=out,
                        resume=resume, loss_fn=loss_fn, progress=False, log=None)
    return model, optimizer, history


def without_time(history):
    return [{key: value for key, value in row.items() if key != "seconds"} for row in history]


def test_fit_lowers_the_loss_and_writes_the_run_folder(tmp_path):
    data = Shapes(192, size=16, classes=BARS, background="plain")
    model = tiny_model()
    optimizer = minidl.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    lines = []
    history = train.fit(model, optimizer, DataLoader(data, 32, shuffle=True), 4,
                        val_loader=DataLoader(data, 64), out=tmp_path, progress=False,
                        log=lines.append, meta={"note": "tiny"})
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    assert len(lines) == 4 and lines[-1].startswith("epoch 4/4")
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows == history
    assert set(rows[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = checkpoint.load(tmp_path / "checkpoint.ckpt")
    assert state["epoch"] == 4 and state["meta"] == {"note": "tiny"}
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(state["model"][name], value)
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.ckpt", "curve.png", "metrics.jsonl"]


def test_evaluate_counts_a_known_confusion_matrix():
    # The "model" passes its inputs through: the inputs are the logits.
    logits = np.array([[5, 0, 0], [5, 0, 0], [0, 5, 0], [0, 0, 5], [0, 5, 0]], np.float32)
    labels = np.array([0, 1, 1, 1, 1])
    result = train.evaluate(nn.Identity(), DataLoader(ArrayDataset(logits, labels), 2))
    np.testing.assert_array_equal(result["confusion"], [[1, 0, 0], [1, 2, 1], [0, 0, 0]])
    assert result["accuracy"] == pytest.approx(3 / 5)
    np.testing.assert_allclose(result["per_class_accuracy"], [1.0, 0.5, np.nan])
    expected_loss = minidl.functional.cross_entropy(minidl.tensor(logits), minidl.tensor(labels))
    assert result["loss"] == pytest.approx(expected_loss.item(), rel=1e-6)


def test_evaluate_restores_train_mode_and_leaves_no_graph():
    model = tiny_model(dropout=0.5)
    data = ArrayDataset(np.random.rand(6, 3, 16, 16).astype(np.float32), np.arange(6) % 2)
    result = train.evaluate(model, DataLoader(data, 4))
    assert model.training
    assert result["confusion"].sum() == 6
    assert all(p.grad is None for p in model.parameters())


def test_interrupted_and_resumed_run_ends_with_identical_weights(tmp_path):
    straight, straight_opt, straight_history = tiny_run(tmp_path / "straight", epochs=4)
    # Interrupted in the middle of epoch 3 (3 batches per epoch), as by Ctrl-C.
    with pytest.raises(KeyboardInterrupt):
        tiny_run(tmp_path / "resumed", epochs=4, interrupt_at_batch=8)
    assert checkpoint.load(tmp_path / "resumed" / "checkpoint.ckpt")["epoch"] == 2
    # A new "process": a different seed gives different initial weights and loader seed,
    # which the checkpoint must override.
    resumed, resumed_opt, resumed_history = tiny_run(tmp_path / "resumed", epochs=4, resume=True,
                                                     seed=123)
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items()):
        assert a.tobytes() == b.tobytes(), name
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert straight_opt.state[p]["momentum_buffer"].tobytes() == \
            resumed_opt.state[q]["momentum_buffer"].tobytes()
    assert without_time(straight_history) == without_time(resumed_history)
    metrics = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in metrics] == [1, 2, 3, 4]


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path):
    _, _, history = tiny_run(tmp_path, epochs=1, resume=True)
    assert [row["epoch"] for row in history] == [1]


def test_resume_refuses_a_scheduler_mismatch(tmp_path):
    tiny_run(tmp_path, epochs=1)
    model = tiny_model(dropout=0.3)
    optimizer = minidl.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(Shapes(96, size=16, classes=BARS), 32, shuffle=True)
    with pytest.raises(ValueError, match="learning-rate scheduler"):
        train.fit(model, optimizer, loader, 2, out=tmp_path, resume=True, progress=False, log=None)


def test_a_crash_while_fit_saves_leaves_the_last_good_epoch(tmp_path, monkeypatch):
    tiny_run(tmp_path, epochs=1)
    real_save = checkpoint.save

    def failing_save(obj, path):
        if obj["epoch"] == 2:
            raise OSError("killed (simulated)")
        real_save(obj, path)
    monkeypatch.setattr(checkpoint, "save", failing_save)
    with pytest.raises(OSError, match="simulated"):
        tiny_run(tmp_path, epochs=2, resume=True)
    assert checkpoint.load(tmp_path / "checkpoint.ckpt")["epoch"] == 1
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]






