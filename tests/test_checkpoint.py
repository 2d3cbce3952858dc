"""The checkpoint format (minidl/checkpoint.py): nested values round-trip, what cannot be stored
safely is refused, a crash while saving keeps the previous file, damaged files give one
clear error.
"""
from __future__ import annotations

import os
import numpy as np
import pytest
from minidl import checkpoint, cli


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


def load(argv, model_input=(3, 32, 32), train_too=True):
    args = cli.build_parser().parse_args(["train", "lenet5_modern", *argv])
    return cli.load_data(args, model_input, train=train_too)
