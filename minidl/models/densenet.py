"""DenseNet (Huang, Liu, van der Maaten and Weinberger, "Densely connected convolutional
networks", CVPR 2017): inside a dense block every layer receives the concatenation of all
earlier layers' maps and adds ``growth_rate`` new ones, so features are reused rather than
relearned, and every layer has a short path to the loss; transitions (1x1 conv, 2x2 average
pooling) halve the maps and the channels between blocks.
"""
from __future__ import annotations

from collections import OrderedDict

from .. import nn
from ..autograd.functions import concatenate
from .. import functional as F
from ._registry import register


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (to bn_size * growth_rate maps), BN-ReLU-3x3 conv (growth_rate maps),
    applied to the concatenation of all earlier maps of the block."""

    def __init__(self, in_channels, growth_rate, bn_size):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, features):
        x = self.conv1(self.relu1(self.norm1(concatenate(features, axis=1))))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    """``num_layers`` dense layers ("denselayer1", ...); returns all their maps and the
    input's, concatenated."""

    def __init__(self, num_layers, in_channels, growth_rate, bn_size):
        super().__init__()
        for i in range(num_layers):
            self[f"denselayer{i + 1}"] = DenseLayer(in_channels + i * growth_rate, growth_rate,
                                                    bn_size)

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return concatenate(features, axis=1)


def transition(in_channels, out_channels):
    """BN-ReLU-1x1 conv-2x2 average pooling between dense blocks."""
    return nn.Sequential(OrderedDict(
        norm=nn.BatchNorm2d(in_channels), relu=nn.ReLU(),
        conv=nn.Conv2d(in_channels, out_channels, 1, bias=False), pool=nn.AvgPool2d(2, 2)))


class DenseNet(nn.Module):
    """torchvision's DenseNet-BC (names, shapes, initialisation): ``features`` (7x7 stride-2
    conv, max pooling, dense blocks with compression-0.5 transitions, a final BN) and
    ``classifier``."""

    def __init__(self, growth_rate=32, block_config=(6, 12, 24, 16), num_init_features=64,
                 bn_size=4, num_classes=1000, in_channels=3):
        super().__init__()
        self.features = nn.Sequential(OrderedDict(
            conv0=nn.Conv2d(in_channels, num_init_features, 7, 2, padding=3, bias=False),
            norm0=nn.BatchNorm2d(num_init_features), relu0=nn.ReLU(),
            pool0=nn.MaxPool2d(3, 2, padding=1)))
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size)
            self.features.add_module(f"denseblock{i + 1}", block)
            channels += num_layers * growth_rate
            if i != len(block_config) - 1:
                self.features.add_module(f"transition{i + 1}", transition(channels, channels // 2))
                channels //= 2
        self.features.add_module("norm5", nn.BatchNorm2d(channels))
        self.classifier = nn.Linear(channels, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(F.relu(self.features(x)), (1, 1))
        return self.classifier(x.flatten(1))


@register(input_size=(3, 224, 224))
def densenet121(num_classes=1000, in_channels=3):
    """DenseNet-121 (growth rate 32, blocks of 6, 12, 24, 16 layers): 7,978,856 parameters."""
    return DenseNet(32, (6, 12, 24, 16), 64, 4, num_classes, in_channels)
