"""ShuffleNet v2 (Ma, Zhang, Zheng and Sun, "ShuffleNet V2: practical guidelines for
efficient CNN architecture design", ECCV 2018): designed for measured speed rather than
FLOPs. Each block splits the channels in two, transforms one half (1x1, 3x3 depthwise, 1x1,
equal widths) and concatenates it with the other, then shuffles the channels so the halves
mix in the next block.
"""
from __future__ import annotations

from .. import nn
from ..autograd.functions import concatenate
from .. import functional as F
from ._registry import register


def _depthwise(channels, stride):
    return nn.Conv2d(channels, channels, 3, stride, padding=1, groups=channels, bias=False)


def _pointwise(in_channels, out_channels):
    return nn.Conv2d(in_channels, out_channels, 1, bias=False)


class InvertedResidual(nn.Module):
    """Stride 1: keep the first half of the channels, transform the second (``branch2``).
    Stride 2: both halves see the whole input, ``branch1`` (depthwise + 1x1) and ``branch2``,
    doubling the channels while halving the maps. Then a 2-group channel shuffle."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.stride = stride
        half = out_channels // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                _depthwise(in_channels, stride), nn.BatchNorm2d(in_channels),
                _pointwise(in_channels, half), nn.BatchNorm2d(half), nn.ReLU())
        self.branch2 = nn.Sequential(
            _pointwise(in_channels if stride > 1 else half, half), nn.BatchNorm2d(half),
            nn.ReLU(),
            _depthwise(half, stride), nn.BatchNorm2d(half),
            _pointwise(half, half), nn.BatchNorm2d(half), nn.ReLU())

    def forward(self, x):
        if self.stride == 1:
            half = x.shape[1] // 2
            out = concatenate([x[:, :half], self.branch2(x[:, half:])], axis=1)
        else:
            out = concatenate([self.branch1(x), self.branch2(x)], axis=1)
        return F.channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """torchvision's ShuffleNet v2 (names and shapes): ``conv1`` (3x3 stride 2), ``maxpool``,
    ``stage2``-``stage4`` (a stride-2 block, then stride-1 ones), ``conv5`` (1x1), global
    average pooling, ``fc``."""

    def __init__(self, stages_repeats, stages_out_channels, num_classes=1000, in_channels=3):
        super().__init__()
        width = stages_out_channels[0]
        self.conv1 = nn.Sequential(nn.Conv2d(in_channels, width, 3, 2, padding=1, bias=False),
                                   nn.BatchNorm2d(width), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        for i, (repeats, out) in enumerate(zip(stages_repeats, stages_out_channels[1:])):
            blocks = [InvertedResidual(width, out, 2)]
            blocks += [InvertedResidual(out, out, 1) for _ in range(repeats - 1)]
            self.add_module(f"stage{i + 2}", nn.Sequential(*blocks))
            width = out
        last = stages_out_channels[-1]
        self.conv5 = nn.Sequential(_pointwise(width, last), nn.BatchNorm2d(last), nn.ReLU())
        self.fc = nn.Linear(last, num_classes)

    def forward(self, x):
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return self.fc(x.mean((2, 3)))


@register(input_size=(3, 224, 224))
def shufflenet_v2_x1_0(num_classes=1000, in_channels=3):
    """ShuffleNet v2 1.0x: 2,278,604 parameters (the paper's 2.3M)."""
    return ShuffleNetV2([4, 8, 4], [24, 116, 232, 464, 1024], num_classes, in_channels)
