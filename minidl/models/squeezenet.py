"""SqueezeNet (Iandola et al., "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters
and <0.5MB model size", 2016): Fire modules squeeze the channels with 1x1 convolutions and
expand them again with a mix of 1x1 and 3x3 ones, pooling comes late, and a 1x1 conv with
global average pooling replaces the fully connected layers.
"""
from __future__ import annotations

from .. import nn
from ..autograd.functions import concatenate
from .. import functional as F
from ._registry import register


class Fire(nn.Module):
    """1x1 squeeze conv + ReLU, then 1x1 and 3x3 expand convs (+ ReLU) side by side,
    concatenated."""

    def __init__(self, in_channels, squeeze, expand1x1, expand3x3):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.squeeze(x))
        return concatenate([F.relu(self.expand1x1(x)), F.relu(self.expand3x3(x))], axis=1)


class SqueezeNet(nn.Module):
    """torchvision's SqueezeNet 1.0 (names, shapes, initialisation): ``features`` (7x7
    stride-2 conv with 96 maps, eight Fire modules, max poolings after conv1, fire4 and
    fire8) and ``classifier`` (dropout, 1x1 conv to the classes, ReLU, global average
    pooling)."""

    def __init__(self, num_classes=1000, in_channels=3, dropout=0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 7, stride=2), nn.ReLU(),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(512, 64, 256, 256))
        final_conv = nn.Conv2d(512, num_classes, 1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), final_conv, nn.ReLU(),
                                        nn.AdaptiveAvgPool2d((1, 1)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, 0.0, 0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.features(x)).flatten(1)


@register(input_size=(3, 224, 224))
def squeezenet1_0(num_classes=1000, in_channels=3, dropout=0.5):
    """SqueezeNet 1.0: 1,248,424 parameters (the paper's 1.2M)."""
    return SqueezeNet(num_classes, in_channels, dropout)
