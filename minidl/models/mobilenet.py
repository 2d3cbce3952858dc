"""MobileNets for phones.

MobileNet v1 (Howard et al., "MobileNets: efficient convolutional neural networks for mobile
vision applications", 2017): every 3x3 convolution factored into a depthwise 3x3 (one filter
per channel) and a pointwise 1x1, about 8-9 times cheaper, plus width and resolution
multipliers to trade accuracy for cost.

MobileNet v2 (Sandler et al., "MobileNetV2: inverted residuals and linear bottlenecks",
CVPR 2018): blocks expand a thin bottleneck by 6 with a 1x1 conv, filter it depthwise and
project it back with a linear (activation-free) 1x1 conv, with the shortcut between the
thin ends; ReLU6 activations.
"""
from __future__ import annotations

from collections import OrderedDict

from .. import nn
from ._blocks import conv_bn_act, make_divisible
from ._registry import register

# MobileNet v1 (Table 1): output channels and stride of the 13 depthwise separable layers.
# (The table's stride 2 on the second 1024 layer is a typo: the maps stay 7x7.)
V1_LAYERS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
             (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]

# MobileNet v2 (Table 2): expansion t, output channels c, repeats n, first stride s.
V2_SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
              [6, 160, 3, 2], [6, 320, 1, 1]]


def depthwise_separable(in_channels, out_channels, stride):
    """3x3 depthwise conv -> BN -> ReLU, then 1x1 pointwise conv -> BN -> ReLU."""
    return nn.Sequential(OrderedDict(
        depthwise=conv_bn_act(in_channels, in_channels, 3, stride, groups=in_channels),
        pointwise=conv_bn_act(in_channels, out_channels, 1)))


class MobileNetV1(nn.Module):
    """``features`` (a 3x3 stride-2 conv with 32 maps, then the 13 depthwise separable
    layers), global average pooling and ``fc``. ``width_mult`` is the paper's alpha: it
    scales every layer's channels. ReLU as in the paper (TensorFlow's code uses ReLU6)."""

    def __init__(self, num_classes=1000, in_channels=3, width_mult=1.0):
        super().__init__()
        width = int(32 * width_mult)
        layers = [conv_bn_act(in_channels, width, 3, 2)]
        for channels, stride in V1_LAYERS:
            layers.append(depthwise_separable(width, int(channels * width_mult), stride))
            width = int(channels * width_mult)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.fc(self.avgpool(self.features(x)).flatten(1))


class InvertedResidual(nn.Module):
    """1x1 expansion (unless t = 1) -> 3x3 depthwise -> linear 1x1 projection, all with
    batch norm (``conv``), plus the input when stride 1 keeps the shape."""

    def __init__(self, in_channels, out_channels, stride, expand_ratio):
        super().__init__()
        hidden = int(round(in_channels * expand_ratio))
        self.use_res_connect = stride == 1 and in_channels == out_channels
        layers = []
        if expand_ratio != 1:
            layers.append(conv_bn_act(in_channels, hidden, 1, activation=nn.ReLU6))
        layers += [conv_bn_act(hidden, hidden, 3, stride, groups=hidden, activation=nn.ReLU6),
                   nn.Conv2d(hidden, out_channels, 1, bias=False),
                   nn.BatchNorm2d(out_channels)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """torchvision's MobileNet v2 (names, shapes, initialisation): ``features`` (3x3 stride-2
    conv with 32 maps, the inverted residual blocks, 1x1 conv to 1280) and ``classifier``
    (dropout, FC). ``width_mult`` scales the channels (rounded to multiples of 8)."""

    def __init__(self, num_classes=1000, in_channels=3, width_mult=1.0, dropout=0.2):
        super().__init__()
        width = make_divisible(32 * width_mult)
        last = make_divisible(1280 * max(1.0, width_mult))
        layers = [conv_bn_act(in_channels, width, 3, 2, activation=nn.ReLU6)]
        for t, c, n, s in V2_SETTING:
            out = make_divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(width, out, s if i == 0 else 1, t))
                width = out
        layers.append(conv_bn_act(width, last, 1, activation=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


@register(input_size=(3, 224, 224))
def mobilenet_v1(num_classes=1000, in_channels=3, width_mult=1.0):
    """MobileNet v1; 4,231,976 parameters at width 1.0 (the paper's 4.2M)."""
    return MobileNetV1(num_classes, in_channels, width_mult)


@register(input_size=(3, 224, 224))
def mobilenet_v2(num_classes=1000, in_channels=3, width_mult=1.0, dropout=0.2):
    """MobileNet v2; 3,504,872 parameters at width 1.0 (the paper's 3.4M)."""
    return MobileNetV2(num_classes, in_channels, width_mult, dropout)
