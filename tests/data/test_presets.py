"""The named data sets of the command line (minidl/data/presets.py): the validation split holds
out the last fraction; MNIST's test split alone trains on its first part, padded for LeNet.
"""
from __future__ import annotations

import os
import pytest
from tests.helpers import MNIST_DIR
from minidl import cli




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
