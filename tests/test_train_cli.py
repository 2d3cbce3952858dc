"""The training loop, checkpoints and the ``minidl`` command.

fit/evaluate/checkpoints use tiny nn.Sequential models on tiny Shapes data sets; the
command-line tests train the zoo's smallest model for an epoch on a few hundred images.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minidl
import minidl.nn as nn
from minidl import checkpoint, cli, train
from minidl.data import ArrayDataset, DataLoader, Shapes, transforms as T

MNIST_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")
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


# ----------------------------------------------------------------------------- fit, evaluate
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


# ----------------------------------------------------------------------------- resume
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


# ----------------------------------------------------------------------------- checkpoint files
def test_checkpoint_round_trips_nested_values(tmp_path):
    value = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), 3: (1, 2.5, None, True, "x"),
             "scalars": [np.float32(1.5), np.int64(7)], "big": 2**100, "empty": {},
             (1, "a"): [np.zeros((2, 0)), {"nested": np.array(True)}]}
    checkpoint.save(value, tmp_path / "c.ckpt")
    back = checkpoint.load(tmp_path / "c.ckpt")
    assert list(back) == list(value)
    assert back[3] == value[3] and back["big"] == 2**100 and back["empty"] == {}
    assert back["w"].dtype == np.float32 and np.array_equal(back["w"], value["w"])
    assert type(back["scalars"][0]) is np.float32 and back["scalars"][1] == 7
    assert back[(1, "a")][0].shape == (2, 0) and back[(1, "a")][1]["nested"]


def test_checkpoint_refuses_what_it_cannot_store_safely(tmp_path):
    with pytest.raises(TypeError, match="cannot save"):
        checkpoint.save({"f": print}, tmp_path / "c.ckpt")
    with pytest.raises(TypeError, match="Python objects"):
        checkpoint.save({"a": np.array([{}], dtype=object)}, tmp_path / "c.ckpt")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("fail", ["while writing", "at the rename"])
def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path, monkeypatch, fail):
    path = tmp_path / "checkpoint.ckpt"
    checkpoint.save({"epoch": 1, "w": np.ones(1000)}, path)
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated)")

    if fail == "while writing":  # half the archive is on disk when the error comes
        write_zip = checkpoint._write_zip

        def crash_midway(f, manifest, arrays):
            write_zip(f, manifest, arrays)
            f.truncate(f.tell() // 2)
            crash()
        monkeypatch.setattr(checkpoint, "_write_zip", crash_midway)
    else:
        monkeypatch.setattr(checkpoint.os, "replace", crash)
    with pytest.raises(OSError, match="simulated"):
        checkpoint.save({"epoch": 2, "w": np.zeros(1000)}, path)
    assert os.listdir(tmp_path) == ["checkpoint.ckpt"]  # no temporary file left behind
    assert path.read_bytes() == before
    assert checkpoint.load(path)["epoch"] == 1


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


def test_truncated_or_foreign_files_give_one_clear_error(tmp_path):
    path = tmp_path / "run.ckpt"
    checkpoint.save({"w": np.ones(100)}, path)
    data = path.read_bytes()
    for cut in (0, 10, len(data) // 2, len(data) - 1):
        path.write_bytes(data[:cut])
        with pytest.raises(checkpoint.CheckpointError, match="run.ckpt: not a readable minidl checkpoint"):
            checkpoint.load(path)
    flipped = bytearray(data)
    flipped[data.index(b"\x93NUMPY") + 200] ^= 0xFF  # inside the array's bytes: the CRC catches it
    path.write_bytes(bytes(flipped))
    with pytest.raises(checkpoint.CheckpointError, match="CRC"):
        checkpoint.load(path)
    np.savez(tmp_path / "other.npz", w=np.ones(3))
    with pytest.raises(checkpoint.CheckpointError, match="other.npz"):
        checkpoint.load(tmp_path / "other.npz")
    with pytest.raises(FileNotFoundError, match="missing.ckpt"):
        checkpoint.load(tmp_path / "missing.ckpt")


# ----------------------------------------------------------------------------- data for the CLI
def load(argv, model_input=(3, 32, 32), train_too=True):
    args = cli.build_parser().parse_args(["train", "lenet5_modern", *argv])
    return cli.load_data(args, model_input, train=train_too)


def test_val_split_holds_out_the_last_fraction_deterministically():
    data = load(["--shapes-n", "100", "--shapes-test-n", "10", "--val-split", "0.2"])
    assert list(data.train.indices) == list(range(80)) and list(data.eval.indices) == list(range(80, 100))
    assert data.eval_name == "the last 20 images of the shapes training set"
    plain = load(["--shapes-n", "100", "--shapes-test-n", "10"])
    assert len(plain.train) == 100 and len(plain.eval) == 10 and plain.input["pad_to"] is None


@pytest.mark.skipif(not os.path.isdir(MNIST_DIR), reason="the MNIST test files are not there")
def test_mnist_with_only_the_test_split_trains_on_its_first_part_padded_for_lenet():
    data = load(["--data", "mnist", "--data-dir", MNIST_DIR, "--val-split", "0.2"], (1, 32, 32))
    assert (len(data.train), len(data.eval)) == (8000, 2000)
    assert data.eval_name == "the last 2000 images of the mnist test split"
    assert data.input_shape == (1, 32, 32) and data.eval.get(0)[0].shape == (1, 32, 32)
    with pytest.raises(FileNotFoundError, match="--val-split"):
        load(["--data", "mnist", "--data-dir", MNIST_DIR], (1, 32, 32))


# ----------------------------------------------------------------------------- the command
def run_cli(capsys, *argv):
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("command", [[], ["train"], ["eval"], ["models"]])
def test_every_subcommand_has_help(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: minidl" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "no_such_net"], "unknown model 'no_such_net'"),
    (["train", "lenet5", "--data", "mnist", "--data-dir", "/no/such/folder"],
     "/no/such/folder does not exist"),
    (["train", "lenet5", "--data", "folder:/no/such/folder"], "/no/such/folder does not exist"),
    (["train", "lenet5", "--data", "imagenet"], "unknown data set 'imagenet'"),
    (["models", "no_such_net"], "unknown model"),
])
def test_user_errors_are_one_line_on_stderr(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert code == 1
    assert err.count("\n") == 1 and message in err and err.startswith(f"minidl {argv[0]}: error:")


def test_a_corrupt_checkpoint_is_one_line_on_stderr(capsys, tmp_path):
    path = tmp_path / "checkpoint.ckpt"
    path.write_bytes(b"PK\x03\x04 this is not a whole zip file")
    code, _, err = run_cli(capsys, "eval", path)
    assert code == 1 and err.count("\n") == 1 and str(path) in err


def test_a_checkpoint_without_a_model_description_is_one_line_on_stderr(capsys, tmp_path):
    checkpoint.save({"epoch": 1, "model": {}}, tmp_path / "other.ckpt")
    code, _, err = run_cli(capsys, "eval", tmp_path / "other.ckpt")
    assert code == 1 and err.count("\n") == 1 and "written by `minidl train`" in err


def test_errors_in_a_real_process_have_no_traceback(tmp_path):
    (tmp_path / "bad.ckpt").write_bytes(b"garbage")
    result = subprocess.run([sys.executable, "-m", "minidl.cli", "eval", str(tmp_path / "bad.ckpt")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "bad.ckpt: not a readable minidl checkpoint" in result.stderr


SMALL_SHAPES = ["--shapes-n", 160, "--shapes-test-n", 64, "--batch-size", 32, "--no-progress"]


def test_train_then_eval_end_to_end(capsys, tmp_path):
    out = tmp_path / "run"
    code, stdout, _ = run_cli(capsys, "train", "lenet5_modern", *SMALL_SHAPES, "--epochs", 1,
                              "--augment", "--schedule", "onecycle", "--out", out)
    assert code == 0
    summary = stdout.strip().splitlines()[-1]
    assert summary.startswith("test accuracy ") and "wall time" in summary
    assert sorted(os.listdir(out)) == ["checkpoint.ckpt", "curve.png", "metrics.jsonl"]
    meta = checkpoint.load(out / "checkpoint.ckpt")["meta"]
    assert meta["model"] == "lenet5_modern" and meta["model_args"] == {"num_classes": 8, "in_channels": 3}

    code, stdout, _ = run_cli(capsys, "eval", out / "checkpoint.ckpt")
    assert code == 0
    accuracy = summary.split()[2]
    assert f"accuracy {accuracy}" in stdout  # same model, same test set
    assert "circle" in stdout and (out / "confusion.png").exists()

    code, _, err = run_cli(capsys, "train", "lenet5_modern", *SMALL_SHAPES, "--epochs", 2,
                           "--lr", 0.01, "--out", out, "--resume")
    assert code == 1 and "--lr 0.05 -> 0.01" in err


def test_cli_resume_continues_exactly(capsys, tmp_path):
    common = ["train", "lenet5_modern", *SMALL_SHAPES, "--augment"]
    assert run_cli(capsys, *common, "--epochs", 2, "--out", tmp_path / "straight")[0] == 0
    assert run_cli(capsys, *common, "--epochs", 1, "--out", tmp_path / "resumed")[0] == 0
    assert run_cli(capsys, *common, "--epochs", 2, "--out", tmp_path / "resumed", "--resume")[0] == 0
    a = checkpoint.load(tmp_path / "straight" / "checkpoint.ckpt")["model"]
    b = checkpoint.load(tmp_path / "resumed" / "checkpoint.ckpt")["model"]
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    code, _, err = run_cli(capsys, *common, "--epochs", 3, "--schedule", "step", "--out",
                           tmp_path / "resumed", "--resume")
    assert code == 1 and "--schedule none -> step" in err


def test_train_on_an_image_folder(capsys, tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("dark", "light"):
        os.makedirs(tmp_path / "images" / label)
        for i in range(5):
            pixels = rng.integers(0, 100, (12, 10, 3)) + (150 if label == "light" else 0)
            Image.fromarray(pixels.astype(np.uint8)).save(tmp_path / "images" / label / f"{i}.png")
    code, stdout, _ = run_cli(capsys, "train", "lenet5_modern", "--data", f"folder:{tmp_path / 'images'}",
                              "--val-split", 0.2, "--epochs", 1, "--no-progress",
                              "--out", tmp_path / "run")
    assert code == 0 and "the last 2 images of the images in" in stdout


def test_models_lists_parameters_and_multiply_adds(capsys, tmp_path):
    code, stdout, _ = run_cli(capsys, "models", "lenet5_modern", "resnet20", "--out", tmp_path / "c.png")
    assert code == 0
    assert "61,706" in stdout and "269,722" in stdout and "40,551,040" in stdout
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
