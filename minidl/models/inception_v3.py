"""Inception-v3 (Szegedy, Vanhoucke, Ioffe, Shlens and Wojna, "Rethinking the Inception
architecture for computer vision", CVPR 2016).

The paper's design rules, each visible in a block below:

- factorise large filters: a 5x5 convolution becomes two 3x3 ones (InceptionA, 28% fewer
  multiplications), and an n x n one becomes 1 x n followed by n x 1 (InceptionC, n = 7);
- shrink the grid without a representational bottleneck: a stride-2 convolution branch and a
  stride-2 pooling branch side by side, concatenated (InceptionB and InceptionD);
- widen the coarsest grid (8 x 8) with expanded filter banks whose 3x3 outputs split into a
  1x3 and a 3x1 branch (InceptionE);
- an auxiliary classifier on the 17 x 17 grid, which the paper found to act as a regulariser.

Module names, shapes and the forward follow torchvision's ``Inception3`` (its BasicConv2d is
conv -> batch norm with eps 0.001 -> ReLU), so torchvision's state dict loads and gives the
same logits. 23.8M parameters without the auxiliary head, 27.2M with it, 5.7G multiply-adds
at 299 x 299.
"""
from __future__ import annotations

from collections import namedtuple

from .. import functional as F
from .. import nn
from ..autograd.functions import concatenate
from ._registry import register
from .googlenet import BasicConv2d

InceptionOutputs = namedtuple("InceptionOutputs", ["logits", "aux_logits"])

# transform_input: torchvision's pretrained weights expect inputs scaled to [-1, 1] (as in
# Google's training); the transform maps ImageNet-normalised channels c = (x - mean) / std
# to (x - 0.5) / 0.5 = c * std / 0.5 + (mean - 0.5) / 0.5.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _concat(branches):
    return concatenate(branches, axis=1)


class InceptionA(nn.Module):
    """35 x 35 grid (paper Fig. 5): 1x1; 1x1 -> 5x5; 1x1 -> 3x3 -> 3x3 (the factorised
    5x5); 3x3 average pooling -> 1x1. Output 224 + ``pool_features`` channels."""

    def __init__(self, in_channels, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x):
        branch5x5 = self.branch5x5_2(self.branch5x5_1(x))
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        branch_pool = self.branch_pool(F.avg_pool2d(x, 3, 1, 1))
        return _concat([self.branch1x1(x), branch5x5, branch3x3dbl, branch_pool])


class InceptionB(nn.Module):
    """35 -> 17 grid reduction (paper Fig. 10): a stride-2 3x3 conv, a stride-2 double 3x3,
    and stride-2 max pooling, concatenated (384 + 96 + in_channels channels)."""

    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x):
        branch3x3dbl = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return _concat([self.branch3x3(x), branch3x3dbl, F.max_pool2d(x, 3, 2)])


class InceptionC(nn.Module):
    """17 x 17 grid (paper Fig. 6, n = 7): 7x7 filters factorised into 1x7 and 7x1
    convolutions with ``channels_7x7`` maps inside; 768 output channels."""

    def __init__(self, in_channels, channels_7x7):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x):
        branch7x7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        branch7x7dbl = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                      self.branch7x7dbl_5):
            branch7x7dbl = layer(branch7x7dbl)
        branch_pool = self.branch_pool(F.avg_pool2d(x, 3, 1, 1))
        return _concat([self.branch1x1(x), branch7x7, branch7x7dbl, branch_pool])


class InceptionD(nn.Module):
    """17 -> 8 grid reduction: 1x1 -> stride-2 3x3; 1x1 -> 1x7 -> 7x1 -> stride-2 3x3;
    stride-2 max pooling (320 + 192 + in_channels channels)."""

    def __init__(self, in_channels):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x):
        branch3x3 = self.branch3x3_2(self.branch3x3_1(x))
        branch7x7x3 = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            branch7x7x3 = layer(branch7x7x3)
        return _concat([branch3x3, branch7x7x3, F.max_pool2d(x, 3, 2)])


class InceptionE(nn.Module):
    """8 x 8 grid with expanded filter banks (paper Fig. 7): the 3x3 outputs split into
    parallel 1x3 and 3x1 convolutions, concatenated; 2048 output channels."""

    def __init__(self, in_channels):
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x):
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = _concat([self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)])
        branch3x3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        branch3x3dbl = _concat([self.branch3x3dbl_3a(branch3x3dbl),
                                self.branch3x3dbl_3b(branch3x3dbl)])
        branch_pool = self.branch_pool(F.avg_pool2d(x, 3, 1, 1))
        return _concat([self.branch1x1(x), branch3x3, branch3x3dbl, branch_pool])


class InceptionAux(nn.Module):
    """Auxiliary classifier on the 17 x 17 grid: 5x5 average pooling with stride 3 (to
    5 x 5), 1x1 conv to 128 maps, 5x5 conv to 768 (to 1 x 1), linear layer."""

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.conv0 = BasicConv2d(in_channels, 128, 1)
        self.conv1 = BasicConv2d(128, 768, 5)
        self.fc = nn.Linear(768, num_classes)

    def forward(self, x):
        x = self.conv1(self.conv0(F.avg_pool2d(x, 5, 3)))
        return self.fc(F.adaptive_avg_pool2d(x, (1, 1)).flatten(1))


class Inception3(nn.Module):
    """torchvision's Inception3: the stem (five convolutions, two max poolings: 299 -> 35),
    InceptionA x 3, B, C x 4, the optional auxiliary head, D, E x 2, global average
    pooling, dropout and ``fc``. In training mode with ``aux_logits`` the forward returns
    ``InceptionOutputs(logits, aux_logits)``, otherwise the logits. ``transform_input``
    re-scales ImageNet-normalised input to [-1, 1] (see IMAGENET_MEAN above)."""

    def __init__(self, num_classes=1000, in_channels=3, aux_logits=True, transform_input=False,
                 dropout=0.5):
        super().__init__()
        if transform_input and in_channels != 3:
            raise ValueError(f"transform_input=True needs in_channels=3, got "
                             f"in_channels={in_channels}")
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.Conv2d_1a_3x3 = BasicConv2d(in_channels, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.maxpool1 = nn.MaxPool2d(3, 2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.maxpool2 = nn.MaxPool2d(3, 2)
        self.Mixed_5b, self.Mixed_5c = InceptionA(192, 32), InceptionA(256, 64)
        self.Mixed_5d, self.Mixed_6a = InceptionA(288, 64), InceptionB(288)
        self.Mixed_6b, self.Mixed_6c = InceptionC(768, 128), InceptionC(768, 160)
        self.Mixed_6d, self.Mixed_6e = InceptionC(768, 160), InceptionC(768, 192)
        self.AuxLogits = InceptionAux(768, num_classes) if aux_logits else None
        self.Mixed_7a, self.Mixed_7b, self.Mixed_7c = (InceptionD(768), InceptionE(1280),
                                                       InceptionE(2048))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2048, num_classes)
        self._init_weights()

    def _init_weights(self):
        """torchvision's: truncated normal std 0.1 (aux conv1 0.01, aux fc 0.001)."""
        stddev = {}
        if self.AuxLogits is not None:
            stddev = {id(self.AuxLogits.conv1.conv): 0.01, id(self.AuxLogits.fc): 0.001}
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, 0.0, stddev.get(id(m), 0.1), -2.0, 2.0)

    def _scaled_input(self, x):
        channels = [x[:, c:c + 1] * (std / 0.5) + (mean - 0.5) / 0.5
                    for c, (mean, std) in enumerate(zip(IMAGENET_MEAN, IMAGENET_STD))]
        return _concat(channels)

    def forward(self, x):
        if self.transform_input:
            x = self._scaled_input(x)
        x = self.maxpool1(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
                      self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e):
            x = block(x)
        with_aux = self.AuxLogits is not None and self.training
        aux = self.AuxLogits(x) if with_aux else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        logits = self.fc(self.dropout(self.avgpool(x)).flatten(1))
        return InceptionOutputs(logits, aux) if with_aux else logits


@register(input_size=(3, 299, 299))
def inception_v3(num_classes=1000, in_channels=3, aux_logits=True, **kwargs):
    """Inception-v3 as torchvision builds it (``aux_logits=True`` by default, as there):
    27,161,264 parameters with the auxiliary head, 23,834,568 without; the smallest input
    it accepts is 75 x 75."""
    return Inception3(num_classes, in_channels, aux_logits, **kwargs)
