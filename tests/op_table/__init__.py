"""The op table: one entry per differentiable op (``OpEntry``), the same battery of tests
for all of them (tests/test_op_battery.py), in the spirit of PyTorch's OpInfo and MyGrad's
test factories. Adding an op means adding an entry here."""
from tests.op_table.entry import SEED, OpEntry
from tests.op_table.nn_ops import NN_OPS
from tests.op_table.tensor_ops import TENSOR_OPS

ENTRIES = TENSOR_OPS + NN_OPS

__all__ = ["ENTRIES", "SEED", "OpEntry"]
