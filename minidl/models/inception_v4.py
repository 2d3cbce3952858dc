"""Inception-v4 and Inception-ResNet-v2 (Szegedy, Ioffe, Vanhoucke and Alemi, "Inception-v4,
Inception-ResNet and the impact of residual connections on learning", AAAI 2017;
arXiv 2016).

Inception-v4 makes the Inception-v3 recipe uniform: one stem (paper Fig. 3), then 4 x
Inception-A on the 35 x 35 grid, Reduction-A, 7 x Inception-B on 17 x 17, Reduction-B and
3 x Inception-C on 8 x 8 (Figs. 4-8), every convolution followed by batch norm and ReLU.

Inception-ResNet-v2 ("Inception-v4 = ResNet + Inception" in the lectures) replaces the
concatenating modules by residual ones: the branches are concatenated, projected back to the
input width by a linear 1x1 convolution (no batch norm, no ReLU) and added to the input,
y = relu(x + s * branch(x)). Section 3.3: with more than ~1000 filters the residual
variants "died" early in training unless the branch was scaled down by s = 0.1 ... 0.3.

The paper's figures for Inception-ResNet-v2 disagree with one another on channel counts
(e.g. its Reduction-A output, 1152, does not match what Fig. 17's block projects to); the
55.8M parameters and 13.2G multiply-adds quoted for it (Zoph et al. 2018 Table 2, Real et al.
2019 Table 2) are those of the released TF-slim model, whose widths are used here: 320
channels on 35 x 35 (stem ending in an Inception-v3-like "Mixed_5b"), 1088 on 17 x 17, 2080
on 8 x 8, and scales 0.17, 0.10, 0.20.
"""
from __future__ import annotations

from .. import functional as F
from .. import nn
from ..autograd.functions import concatenate
from ._registry import register
from .googlenet import BasicConv2d


def _concat(branches):
    return concatenate(branches, axis=1)


def _chain(*layers):
    return nn.Sequential(*layers)


def _avg_pool_then(conv):
    """3x3 average pooling (stride 1, padding not counted, as in TF) followed by ``conv``."""
    return nn.Sequential(nn.AvgPool2d(3, 1, 1, count_include_pad=False), conv)


class Concat(nn.Module):
    """Runs ``branches`` on the same input and concatenates their outputs on the channels."""

    def __init__(self, *branches):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x):
        return _concat([branch(x) for branch in self.branches])


# ----------------------------------------------------------------------------- Inception-v4
def stem_v4(in_channels):
    """Fig. 3: 299 x 299 x 3 -> 35 x 35 x 384 (three conv layers, then three splits whose
    halves are concatenated: 64 + 96, 96 + 96, 192 + 192 channels)."""
    return _chain(
        BasicConv2d(in_channels, 32, 3, stride=2), BasicConv2d(32, 32, 3),
        BasicConv2d(32, 64, 3, padding=1),
        Concat(nn.MaxPool2d(3, 2), BasicConv2d(64, 96, 3, stride=2)),
        Concat(_chain(BasicConv2d(160, 64, 1), BasicConv2d(64, 96, 3)),
               _chain(BasicConv2d(160, 64, 1), BasicConv2d(64, 64, (7, 1), padding=(3, 0)),
                      BasicConv2d(64, 64, (1, 7), padding=(0, 3)), BasicConv2d(64, 96, 3))),
        Concat(BasicConv2d(192, 192, 3, stride=2), nn.MaxPool2d(3, 2)))


def inception_a():
    """Fig. 4 (35 x 35, 384 -> 384): 1x1 96; 1x1 64 -> 3x3 96; 1x1 64 -> 3x3 96 -> 3x3 96;
    average pooling -> 1x1 96."""
    return Concat(BasicConv2d(384, 96, 1),
                  _chain(BasicConv2d(384, 64, 1), BasicConv2d(64, 96, 3, padding=1)),
                  _chain(BasicConv2d(384, 64, 1), BasicConv2d(64, 96, 3, padding=1),
                         BasicConv2d(96, 96, 3, padding=1)),
                  _avg_pool_then(BasicConv2d(384, 96, 1)))


def reduction_a(in_channels, k, l, m, n):
    """Fig. 7 (35 -> 17): stride-2 3x3 with n maps; 1x1 k -> 3x3 l -> stride-2 3x3 m;
    stride-2 max pooling. Table 1 gives (k, l, m, n) = (192, 224, 256, 384) for v4 and
    (256, 256, 384, 384) for Inception-ResNet-v2."""
    return Concat(BasicConv2d(in_channels, n, 3, stride=2),
                  _chain(BasicConv2d(in_channels, k, 1), BasicConv2d(k, l, 3, padding=1),
                         BasicConv2d(l, m, 3, stride=2)),
                  nn.MaxPool2d(3, 2))


def inception_b():
    """Fig. 5 (17 x 17, 1024 -> 1024): 1x1 384; 1x1 192 -> 1x7 224 -> 7x1 256;
    1x1 192 -> 1x7 192 -> 7x1 224 -> 1x7 224 -> 7x1 256; average pooling -> 1x1 128."""
    def conv(cin, cout, kernel):
        return BasicConv2d(cin, cout, kernel, padding=(kernel[0] // 2, kernel[1] // 2))
    return Concat(BasicConv2d(1024, 384, 1),
                  _chain(BasicConv2d(1024, 192, 1), conv(192, 224, (1, 7)),
                         conv(224, 256, (7, 1))),
                  _chain(BasicConv2d(1024, 192, 1), conv(192, 192, (1, 7)),
                         conv(192, 224, (7, 1)), conv(224, 224, (1, 7)),
                         conv(224, 256, (7, 1))),
                  _avg_pool_then(BasicConv2d(1024, 128, 1)))


def reduction_b():
    """Fig. 8 (17 -> 8, 1024 -> 1536): 1x1 192 -> stride-2 3x3 192; 1x1 256 -> 1x7 256 ->
    7x1 320 -> stride-2 3x3 320; stride-2 max pooling."""
    return Concat(_chain(BasicConv2d(1024, 192, 1), BasicConv2d(192, 192, 3, stride=2)),
                  _chain(BasicConv2d(1024, 256, 1),
                         BasicConv2d(256, 256, (1, 7), padding=(0, 3)),
                         BasicConv2d(256, 320, (7, 1), padding=(3, 0)),
                         BasicConv2d(320, 320, 3, stride=2)),
                  nn.MaxPool2d(3, 2))


class SplitBranch(nn.Module):
    """``stem`` followed by a 1x3 and a 3x1 convolution side by side, concatenated
    (Inception-C's expanded filter bank, as in Inception-v3's 8 x 8 blocks)."""

    def __init__(self, stem, channels, out_each):
        super().__init__()
        self.stem = stem
        self.left = BasicConv2d(channels, out_each, (1, 3), padding=(0, 1))
        self.right = BasicConv2d(channels, out_each, (3, 1), padding=(1, 0))

    def forward(self, x):
        x = self.stem(x)
        return _concat([self.left(x), self.right(x)])


def inception_c():
    """Fig. 6 (8 x 8, 1536 -> 1536): 1x1 256; 1x1 384 -> (1x3 256 | 3x1 256);
    1x1 384 -> 1x3 448 -> 3x1 512 -> (1x3 256 | 3x1 256); average pooling -> 1x1 256."""
    deep = _chain(BasicConv2d(1536, 384, 1), BasicConv2d(384, 448, (1, 3), padding=(0, 1)),
                  BasicConv2d(448, 512, (3, 1), padding=(1, 0)))
    return Concat(BasicConv2d(1536, 256, 1), SplitBranch(BasicConv2d(1536, 384, 1), 384, 256),
                  SplitBranch(deep, 512, 256), _avg_pool_then(BasicConv2d(1536, 256, 1)))


class InceptionV4(nn.Module):
    """``features`` (stem, 4 x A, Reduction-A, 7 x B, Reduction-B, 3 x C: 299 -> 8 x 8 x
    1536), global average pooling, dropout (keep 0.8 in the paper) and ``fc``."""

    def __init__(self, num_classes=1000, in_channels=3, dropout=0.2):
        super().__init__()
        self.features = nn.Sequential(
            stem_v4(in_channels), *[inception_a() for _ in range(4)],
            reduction_a(384, 192, 224, 256, 384), *[inception_b() for _ in range(7)],
            reduction_b(), *[inception_c() for _ in range(3)])
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1536, num_classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1)).flatten(1)
        return self.fc(self.dropout(x))


# ----------------------------------------------------------------------- Inception-ResNet-v2
class ResidualInception(nn.Module):
    """y = relu(x + scale * up(concat(branches(x)))), ``up`` a linear 1x1 convolution (with
    bias, no batch norm) back to the input's channels; ``activate=False`` leaves out the
    final ReLU (the last 8 x 8 block)."""

    def __init__(self, channels, branches, scale, activate=True):
        super().__init__()
        self.branches = Concat(*branches)
        width = sum(_out_channels(b) for b in branches)
        self.up = nn.Conv2d(width, channels, 1)
        self.scale, self.activate = scale, activate

    def forward(self, x):
        y = x + self.up(self.branches(x)) * self.scale
        return F.relu(y) if self.activate else y

    def extra_repr(self):
        return f"scale={self.scale}, activate={self.activate}"


def _out_channels(branch):
    last = branch[-1] if isinstance(branch, nn.Sequential) else branch
    return last.conv.out_channels


def block35(scale=0.17):
    """Inception-ResNet-A (Fig. 16) on 35 x 35 x 320: 1x1 32; 1x1 32 -> 3x3 32;
    1x1 32 -> 3x3 48 -> 3x3 64; linear 1x1 back to 320."""
    return ResidualInception(320, [
        BasicConv2d(320, 32, 1),
        _chain(BasicConv2d(320, 32, 1), BasicConv2d(32, 32, 3, padding=1)),
        _chain(BasicConv2d(320, 32, 1), BasicConv2d(32, 48, 3, padding=1),
               BasicConv2d(48, 64, 3, padding=1))], scale)


def block17(scale=0.10):
    """Inception-ResNet-B (Fig. 17) on 17 x 17 x 1088: 1x1 192; 1x1 128 -> 1x7 160 ->
    7x1 192; linear 1x1 back to 1088."""
    return ResidualInception(1088, [
        BasicConv2d(1088, 192, 1),
        _chain(BasicConv2d(1088, 128, 1), BasicConv2d(128, 160, (1, 7), padding=(0, 3)),
               BasicConv2d(160, 192, (7, 1), padding=(3, 0)))], scale)


def block8(scale=0.20, activate=True):
    """Inception-ResNet-C (Fig. 19) on 8 x 8 x 2080: 1x1 192; 1x1 192 -> 1x3 224 ->
    3x1 256; linear 1x1 back to 2080."""
    return ResidualInception(2080, [
        BasicConv2d(2080, 192, 1),
        _chain(BasicConv2d(2080, 192, 1), BasicConv2d(192, 224, (1, 3), padding=(0, 1)),
               BasicConv2d(224, 256, (3, 1), padding=(1, 0)))], scale, activate)


def stem_resnet_v2(in_channels):
    """The released model's stem: Inception-v3's (299 -> 35 x 35 x 192) and a
    "Mixed_5b" module (1x1 96; 1x1 48 -> 5x5 64; 1x1 64 -> 3x3 96 -> 3x3 96; average
    pooling -> 1x1 64), 320 channels."""
    return _chain(
        BasicConv2d(in_channels, 32, 3, stride=2), BasicConv2d(32, 32, 3),
        BasicConv2d(32, 64, 3, padding=1), nn.MaxPool2d(3, 2), BasicConv2d(64, 80, 1),
        BasicConv2d(80, 192, 3), nn.MaxPool2d(3, 2),
        Concat(BasicConv2d(192, 96, 1),
               _chain(BasicConv2d(192, 48, 1), BasicConv2d(48, 64, 5, padding=2)),
               _chain(BasicConv2d(192, 64, 1), BasicConv2d(64, 96, 3, padding=1),
                      BasicConv2d(96, 96, 3, padding=1)),
               _avg_pool_then(BasicConv2d(192, 64, 1))))


def reduction_b_resnet_v2():
    """Fig. 18 (17 -> 8, 1088 -> 2080): 1x1 256 -> stride-2 3x3 384; 1x1 256 -> stride-2
    3x3 288; 1x1 256 -> 3x3 288 -> stride-2 3x3 320; stride-2 max pooling."""
    return Concat(_chain(BasicConv2d(1088, 256, 1), BasicConv2d(256, 384, 3, stride=2)),
                  _chain(BasicConv2d(1088, 256, 1), BasicConv2d(256, 288, 3, stride=2)),
                  _chain(BasicConv2d(1088, 256, 1), BasicConv2d(256, 288, 3, padding=1),
                         BasicConv2d(288, 320, 3, stride=2)),
                  nn.MaxPool2d(3, 2))


class InceptionResNetV2(nn.Module):
    """``features`` (stem, 10 x block35, Reduction-A, 20 x block17, Reduction-B, 9 x
    block8 and a final block8 without ReLU, 1x1 conv to 1536), global average pooling,
    dropout (keep 0.8) and ``fc``."""

    def __init__(self, num_classes=1000, in_channels=3, dropout=0.2):
        super().__init__()
        self.features = nn.Sequential(
            stem_resnet_v2(in_channels), *[block35() for _ in range(10)],
            reduction_a(320, 256, 256, 384, 384), *[block17() for _ in range(20)],
            reduction_b_resnet_v2(), *[block8() for _ in range(9)],
            block8(scale=1.0, activate=False), BasicConv2d(2080, 1536, 1))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(1536, num_classes)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1)).flatten(1)
        return self.fc(self.dropout(x))


@register(input_size=(3, 299, 299))
def inception_v4(num_classes=1000, in_channels=3, **kwargs):
    """Inception-v4: 42,679,816 parameters (42.7M), 12.3G multiply-adds at 299 x 299."""
    return InceptionV4(num_classes, in_channels, **kwargs)


@register(input_size=(3, 299, 299))
def inception_resnet_v2(num_classes=1000, in_channels=3, **kwargs):
    """Inception-ResNet-v2: 55,843,464 parameters (55.8M), 13.2G multiply-adds at 299."""
    return InceptionResNetV2(num_classes, in_channels, **kwargs)
