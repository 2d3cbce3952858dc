"""ResNet (He, Zhang, Ren and Sun, "Deep residual learning for image recognition", CVPR 2016):
each block learns a residual F(x) and outputs relu(F(x) + x), so an identity is easy to
represent and gradients reach early layers through the shortcuts; this made networks of
100+ layers trainable and won ILSVRC 2015 (152 layers). Also the paper's CIFAR-10 networks
(Sec. 4.2: ResNet-20 to ResNet-110, with parameter-free "option A" shortcuts).

ResNeXt (Xie et al., "Aggregated residual transformations for deep neural networks",
CVPR 2017): the bottleneck's 3x3 convolution split into 32 groups ("cardinality"), wider
for the same cost.
"""
from __future__ import annotations

from .. import functional as F
from .. import nn
from ..autograd.functions import pad
from ._registry import register


def conv3x3(in_channels, out_channels, stride=1, groups=1):
    return nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, groups=groups,
                     bias=False)


def conv1x1(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)


class PaddedIdentity(nn.Module):
    """Shortcut "option A" of the paper (Sec. 3.3 and 4.2): no parameters; subsample by
    ``stride`` and append zero channels up to ``out_channels``."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.extra, self.stride = out_channels - in_channels, stride

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        return pad(x, ((0, 0), (0, self.extra), (0, 0), (0, 0)))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm: relu(bn2(conv2(relu(bn1(conv1 x)))) + shortcut)."""

    expansion = 1

    def __init__(self, in_channels, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock supports only groups=1 and base_width=64")
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def residual(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(self.residual(x) + shortcut)


class Bottleneck(nn.Module):
    """1x1 (reduce to ``width``) -> 3x3 (stride, groups) -> 1x1 (expand to 4 * planes), each
    with batch norm; the stride sits on the 3x3 convolution, as in torchvision ("v1.5")."""

    expansion = 4

    def __init__(self, in_channels, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample

    def residual(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.bn3(self.conv3(x))

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(self.residual(x) + shortcut)


class ResNet(nn.Module):
    """A stem, ``len(layers)`` stages of blocks (``layer1``, ``layer2``, ...; every stage
    after the first halves the maps), global average pooling and ``fc``.

    ``stem``: "imagenet" (7x7 stride-2 conv and 3x3 stride-2 max pooling) or "cifar"
    (one 3x3 stride-1 conv). ``shortcut`` when a block changes shape: "B" (1x1 conv and
    batch norm, torchvision's) or "A" (``PaddedIdentity``). torchvision's names, shapes and
    initialisation.
    """

    def __init__(self, block, layers, num_classes=1000, in_channels=3,
                 widths=(64, 128, 256, 512), stem="imagenet", shortcut="B", groups=1,
                 width_per_group=64):
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem must be 'imagenet' or 'cifar', got {stem!r}")
        self.groups, self.base_width, self.shortcut = groups, width_per_group, shortcut
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, widths[0], 7, 2, padding=3, bias=False)
        else:
            self.conv1 = conv3x3(in_channels, widths[0])
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.MaxPool2d(3, 2, padding=1) if stem == "imagenet" else nn.Identity()
        self.num_stages = len(layers)
        channels = widths[0]
        for i, (width, blocks) in enumerate(zip(widths, layers)):
            stage = self._make_layer(block, channels, width, blocks, stride=1 if i == 0 else 2)
            self.add_module(f"layer{i + 1}", stage)
            channels = width * block.expansion
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[-1] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, in_channels, planes, blocks, stride):
        """A stage of ``blocks`` blocks; the first one changes stride and width."""
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or in_channels != out_channels:
            if self.shortcut == "A":
                downsample = PaddedIdentity(in_channels, out_channels, stride)
            else:
                downsample = nn.Sequential(conv1x1(in_channels, out_channels, stride),
                                           nn.BatchNorm2d(out_channels))
        options = dict(groups=self.groups, base_width=self.base_width)
        layers = [block(in_channels, planes, stride, downsample, **options)]
        layers += [block(out_channels, planes, **options) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        for i in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(self.avgpool(x).flatten(1))


@register(input_size=(3, 224, 224))
def resnet18(num_classes=1000, in_channels=3, stem="imagenet"):
    """ResNet-18 (11,689,512 parameters); ``stem="cifar"`` gives the "ResNet-18 for CIFAR"
    of the benchmarks: a 3x3 stride-1 first conv and no max pooling (11,173,962 parameters
    with 10 classes)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, in_channels, stem=stem)


@register(input_size=(3, 224, 224))
def resnet34(num_classes=1000, in_channels=3):
    """ResNet-34 (21,797,672 parameters)."""
    return ResNet(BasicBlock, [3, 4, 6, 3], num_classes, in_channels)


@register(input_size=(3, 224, 224))
def resnet50(num_classes=1000, in_channels=3):
    """ResNet-50 (25,557,032 parameters)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels)


@register(input_size=(3, 224, 224))
def resnet101(num_classes=1000, in_channels=3):
    """ResNet-101 (44,549,160 parameters)."""
    return ResNet(Bottleneck, [3, 4, 23, 3], num_classes, in_channels)


@register(input_size=(3, 224, 224))
def resnet152(num_classes=1000, in_channels=3):
    """ResNet-152 (60,192,808 parameters)."""
    return ResNet(Bottleneck, [3, 8, 36, 3], num_classes, in_channels)


@register(input_size=(3, 224, 224))
def resnext50_32x4d(num_classes=1000, in_channels=3):
    """ResNeXt-50 with 32 groups of width 4 (25,028,904 parameters)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes, in_channels, groups=32,
                  width_per_group=4)


def cifar_resnet(depth, num_classes=10, in_channels=3):
    """The CIFAR-10 ResNets of the paper's Sec. 4.2: depth = 6n + 2, a 3x3 conv with 16
    maps, three stages of n basic blocks with 16, 32, 64 maps on 32x32, 16x16, 8x8 maps,
    global average pooling and a 10-way FC; option A (parameter-free) shortcuts."""
    if (depth - 2) % 6:
        raise ValueError(f"a CIFAR ResNet has depth 6n + 2, got {depth}")
    n = (depth - 2) // 6
    return ResNet(BasicBlock, [n, n, n], num_classes, in_channels, widths=(16, 32, 64),
                  stem="cifar", shortcut="A")


@register(input_size=(3, 32, 32))
def resnet20(num_classes=10, in_channels=3):
    """ResNet-20 for CIFAR: 269,722 parameters (the paper's Table 6: 0.27M)."""
    return cifar_resnet(20, num_classes, in_channels)


@register(input_size=(3, 32, 32))
def resnet32(num_classes=10, in_channels=3):
    """ResNet-32 for CIFAR: 464,154 parameters (Table 6: 0.46M)."""
    return cifar_resnet(32, num_classes, in_channels)


@register(input_size=(3, 32, 32))
def resnet44(num_classes=10, in_channels=3):
    """ResNet-44 for CIFAR: 658,586 parameters (Table 6: 0.66M)."""
    return cifar_resnet(44, num_classes, in_channels)


@register(input_size=(3, 32, 32))
def resnet56(num_classes=10, in_channels=3):
    """ResNet-56 for CIFAR: 853,018 parameters (Table 6: 0.85M)."""
    return cifar_resnet(56, num_classes, in_channels)


@register(input_size=(3, 32, 32))
def resnet110(num_classes=10, in_channels=3):
    """ResNet-110 for CIFAR: 1,727,962 parameters (Table 6: 1.7M)."""
    return cifar_resnet(110, num_classes, in_channels)
