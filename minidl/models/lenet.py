"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-based learning applied to document
recognition", Proc. IEEE 1998): the convolutional network that read cheques, and the
template of every CNN since: convolutions with shared weights, subsampling, and fully
connected layers at the top, all trained end to end by backpropagation.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .. import functional as F
from .. import nn
from ..autograd.functions import ones, zeros
from ._registry import register

# Table I of the paper: which of S2's 6 maps (rows) feed each of C3's 16 maps (columns).
# Maps 0-5 read 3 neighbouring maps, 6-11 read 4 neighbouring ones, 12-14 read 4
# non-neighbouring ones and map 15 reads all 6 ("to break the symmetry in the network").
C3_TABLE = np.array([
    [1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1],
    [1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1],
    [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1],
    [0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1],
    [0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1],
    [0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1, 1],
], dtype=bool)


class ScaledTanh(nn.Module):
    """f(a) = A tanh(S a) with A = 1.7159 and S = 2/3 (the paper's Appendix A), chosen so
    that f(1) = 1 and f(-1) = -1."""

    def forward(self, x):
        return 1.7159 * F.tanh(x * (2.0 / 3.0))


class Subsampling(nn.Module):
    """The paper's subsampling layer: each map's 2x2 averages times a trainable coefficient
    plus a trainable bias (the paper multiplies the 2x2 sum; the coefficient here is 4 times
    that one and starts at 1, so the layer starts as plain average pooling)."""

    def __init__(self, channels):
        super().__init__()
        self.weight = nn.Parameter(ones(channels))
        self.bias = nn.Parameter(zeros(channels))

    def forward(self, x):
        shape = (1, -1, 1, 1)
        return F.avg_pool2d(x, 2) * self.weight.reshape(shape) + self.bias.reshape(shape)

    def extra_repr(self):
        return str(self.weight.shape[0])


class MaskedConv2d(nn.Conv2d):
    """A convolution in which only some (output map, input map) pairs are connected.

    ``connections`` is a boolean (in_channels, out_channels) table. The layer convolves with
    weight * weight_mask, so an unconnected pair contributes nothing and its weights get a
    zero gradient: they are zeroed at construction and stay zero under training.
    """

    def __init__(self, connections, kernel_size):
        in_channels, out_channels = connections.shape
        super().__init__(in_channels, out_channels, kernel_size)
        mask = np.broadcast_to(connections.T[:, :, None, None], self.weight.shape)
        self.register_buffer("weight_mask", mask.astype(self.weight.dtype), persistent=False)
        self.weight.data = self.weight.data * self.weight_mask.data

    def forward(self, x):
        return F.conv2d(x, self.weight * self.weight_mask, self.bias)


class LeNet5(nn.Sequential):
    """LeNet-5 on 32x32 inputs: C1 (6 maps 28x28) - S2 (6x14x14) - C3 (16x10x10) -
    S4 (16x5x5) - C5 (120 maps 1x1) - F6 (84 units) - output, with 5x5 convolutions.

    ``modern=False``, the 1998 network: scaled tanh after every layer up to F6, trainable
    subsampling and, with ``connection_table=True``, C3 wired by the paper's Table I. Its
    60,000 trainable parameters are exactly the paper's; the output layer here is a Linear
    layer (850 more) instead of the paper's Euclidean RBF units with fixed codes.

    ``modern=True``, the version taught today: ReLU, 2x2 max pooling, C3 connected to all of
    S2's maps; 61,706 parameters with 10 classes.
    """

    def __init__(self, num_classes=10, in_channels=1, modern=False, connection_table=True):
        activation = nn.ReLU if modern else ScaledTanh
        if modern or not connection_table:
            c3 = nn.Conv2d(6, 16, 5)
        else:
            c3 = MaskedConv2d(C3_TABLE, 5)
        layers = [("c1", nn.Conv2d(in_channels, 6, 5)), ("c1_act", activation()),
                  ("s2", nn.MaxPool2d(2) if modern else Subsampling(6)),
                  ("c3", c3), ("c3_act", activation()),
                  ("s4", nn.MaxPool2d(2) if modern else Subsampling(16)),
                  ("c5", nn.Conv2d(16, 120, 5)), ("c5_act", activation()),
                  ("flatten", nn.Flatten()),
                  ("f6", nn.Linear(120, 84)), ("f6_act", activation()),
                  ("output", nn.Linear(84, num_classes))]
        if not modern:  # the paper squashes the subsampling layers' outputs too
            layers.insert(3, ("s2_act", ScaledTanh()))
            layers.insert(7, ("s4_act", ScaledTanh()))
        super().__init__(OrderedDict(layers))


@register(input_size=(1, 32, 32))
def lenet5(num_classes=10, in_channels=1, connection_table=True):
    """LeNet-5 as in the 1998 paper (see ``LeNet5``)."""
    return LeNet5(num_classes, in_channels, modern=False, connection_table=connection_table)


@register(input_size=(1, 32, 32))
def lenet5_modern(num_classes=10, in_channels=1):
    """LeNet-5 with ReLU, max pooling and a fully connected C3 (61,706 parameters)."""
    return LeNet5(num_classes, in_channels, modern=True)
