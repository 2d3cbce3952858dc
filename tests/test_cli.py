"""The minidl command (minidl/cli.py): help for every subcommand, user errors as one line,
train then eval end to end, resume, image folders, the model list.
"""
from __future__ import annotations

import os
import subprocess
import sys
import numpy as np
import pytest
from minidl import checkpoint, cli




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
