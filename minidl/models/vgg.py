"""VGG (Simonyan and Zisserman, "Very deep convolutional networks for large-scale image
recognition", ICLR 2015): depth as the design variable. Only 3x3 convolutions (two stacked
see 5x5, three see 7x7, with fewer parameters and more nonlinearities) and 2x2 max pooling,
in 11 to 19 weight layers; second in ILSVRC 2014 and long the standard feature extractor.
The ``_bn`` variants add batch normalisation (Ioffe and Szegedy 2015) after every conv.
"""
from __future__ import annotations

from .. import nn
from ._registry import register

# The paper's configurations A, B, D, E (Table 1): conv widths, "M" a 2x2 max pooling.
CONFIGS = {
    11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
         512, 512, 512, "M"],
    19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"],
}


def make_layers(config, batch_norm=False, in_channels=3):
    """The ``features`` Sequential of a configuration: 3x3 convs with padding 1 (each
    followed by BatchNorm if asked, then ReLU) and 2x2 max poolings."""
    layers = []
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(nn.Conv2d(in_channels, v, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU())
        in_channels = v
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """``features`` from ``make_layers``, ``avgpool`` (adaptive, to 7x7) and ``classifier``:
    two fully connected layers of ``hidden_features`` (4096 in the paper) with dropout, then
    the output layer. torchvision's names; ``init_weights`` applies its initialisation
    (He normal for the convs, N(0, 0.01) for the FC layers as in the paper), otherwise the
    layers keep their defaults."""

    def __init__(self, config, batch_norm=False, num_classes=1000, in_channels=3,
                 hidden_features=4096, dropout=0.5, init_weights=True):
        super().__init__()
        self.features = make_layers(config, batch_norm, in_channels)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        last = [v for v in config if v != "M"][-1]
        self.classifier = nn.Sequential(
            nn.Linear(last * 7 * 7, hidden_features), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden_features, hidden_features), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden_features, num_classes))
        if init_weights:
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.Linear):
                    nn.init.normal_(m.weight, 0.0, 0.01)
                    nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


@register(input_size=(3, 224, 224))
def vgg11(num_classes=1000, in_channels=3, **kwargs):
    """VGG-11, configuration A."""
    return VGG(CONFIGS[11], False, num_classes, in_channels, **kwargs)


@register(input_size=(3, 224, 224))
def vgg13(num_classes=1000, in_channels=3, **kwargs):
    """VGG-13, configuration B."""
    return VGG(CONFIGS[13], False, num_classes, in_channels, **kwargs)


@register(input_size=(3, 224, 224))
def vgg16(num_classes=1000, in_channels=3, **kwargs):
    """VGG-16, configuration D."""
    return VGG(CONFIGS[16], False, num_classes, in_channels, **kwargs)


@register(input_size=(3, 224, 224))
def vgg19(num_classes=1000, in_channels=3, **kwargs):
    """VGG-19, configuration E."""
    return VGG(CONFIGS[19], False, num_classes, in_channels, **kwargs)


@register(input_size=(3, 224, 224))
def vgg11_bn(num_classes=1000, in_channels=3, **kwargs):
    """VGG-11, configuration A, with batch norm."""
    return VGG(CONFIGS[11], True, num_classes, in_channels, **kwargs)


@register(input_size=(3, 224, 224))
def vgg13_bn(num_classes=1000, in_channels=3, **kwargs):
    """VGG-13, configuration B, with batch norm."""
    return VGG(CONFIGS[13], True, num_classes, in_channels, **kwargs)


@register(input_size=(3, 224, 224))
def vgg16_bn(num_classes=1000, in_channels=3, **kwargs):
    """VGG-16, configuration D, with batch norm."""
    return VGG(CONFIGS[16], True, num_classes, in_channels, **kwargs)


@register(input_size=(3, 224, 224))
def vgg19_bn(num_classes=1000, in_channels=3, **kwargs):
    """VGG-19, configuration E, with batch norm."""
    return VGG(CONFIGS[19], True, num_classes, in_channels, **kwargs)
