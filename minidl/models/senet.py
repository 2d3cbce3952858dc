"""Squeeze-and-Excitation networks (Hu, Shen and Sun, "Squeeze-and-excitation networks",
CVPR 2018): a block learns one weight per channel from the whole image (squeeze: global
average pooling; excitation: FC-ReLU-FC-sigmoid) and rescales its channels by them, a cheap
form of attention that won ILSVRC 2017.
"""
from __future__ import annotations

from .. import nn
from ._registry import register
from .resnet import BasicBlock, Bottleneck, ResNet


class SqueezeExcitation(nn.Module):
    """x * sigmoid(fc2(act(fc1(mean of x over H, W)))): the "FC" layers are 1x1
    convolutions on the 1x1 pooled map, as in torchvision (same parameters as Linear)."""

    def __init__(self, channels, squeeze_channels, activation=nn.ReLU):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = activation()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x):
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


class SEBasicBlock(BasicBlock):
    """ResNet's basic block with SE (reduction 16) on the residual, before the addition."""

    def __init__(self, in_channels, planes, stride=1, downsample=None, groups=1, base_width=64,
                 reduction=16):
        super().__init__(in_channels, planes, stride, downsample, groups, base_width)
        channels = planes * self.expansion
        self.se = SqueezeExcitation(channels, channels // reduction)

    def residual(self, x):
        return self.se(super().residual(x))


class SEBottleneck(Bottleneck):
    """ResNet's bottleneck block with SE (reduction 16) on the residual, before the addition."""

    def __init__(self, in_channels, planes, stride=1, downsample=None, groups=1, base_width=64,
                 reduction=16):
        super().__init__(in_channels, planes, stride, downsample, groups, base_width)
        channels = planes * self.expansion
        self.se = SqueezeExcitation(channels, channels // reduction)

    def residual(self, x):
        return self.se(super().residual(x))


@register(input_size=(3, 224, 224))
def se_resnet18(num_classes=1000, in_channels=3):
    """SE-ResNet-18: 11,778,592 parameters (ResNet-18's 11,689,512 plus 89,080 in the SE
    blocks)."""
    return ResNet(SEBasicBlock, [2, 2, 2, 2], num_classes, in_channels)


@register(input_size=(3, 224, 224))
def se_resnet50(num_classes=1000, in_channels=3):
    """SE-ResNet-50: 28,088,024 parameters (28.09M), ResNet-50's 25,557,032 plus 2,530,992
    in the SE blocks: the paper's "~2.5 million additional parameters" and 28.1M."""
    return ResNet(SEBottleneck, [3, 4, 6, 3], num_classes, in_channels)
