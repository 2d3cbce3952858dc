"""The layer shapes the benchmark times: real layers of LeNet-5, AlexNet, VGG-16,
ResNet-18 (CIFAR and ImageNet stems) and MobileNet, at the batch sizes used to train them
on a CPU (ImageNet-size networks at batch 8 so a full run stays within minutes).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..geometry import conv_output_length


@dataclass(frozen=True)
class ConvCase:
    net: str
    layer: str
    batch: int
    in_channels: int
    size: int
    out_channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    groups: int = 1

    @property
    def input_shape(self):
        return (self.batch, self.in_channels, self.size, self.size)

    @property
    def weight_shape(self):
        return (self.out_channels, self.in_channels // self.groups, self.kernel, self.kernel)

    @property
    def out_size(self):
        return conv_output_length(self.size, self.kernel, self.stride, 2 * self.padding)

    @property
    def flops(self):
        """Forward multiply-adds times two."""
        per_output = 2 * (self.in_channels // self.groups) * self.kernel ** 2
        return per_output * self.batch * self.out_channels * self.out_size ** 2

    @property
    def name(self):
        kind = "dw" if self.groups > 1 else f"{self.kernel}x{self.kernel}"
        return (f"{self.net} {self.layer} {kind} {self.in_channels}->{self.out_channels} "
                f"@{self.size} s{self.stride} (N={self.batch})")


@dataclass(frozen=True)
class MemoryCase:
    op: str            # max_pool2d, avg_pool2d, batch_norm, dropout, local_response_norm
    net: str
    shape: tuple
    params: tuple = ()

    @property
    def name(self):
        extra = f" {self.params}" if self.params else ""
        return f"{self.op} {self.net} {self.shape}{extra}"


CONV = [
    ConvCase("LeNet-5", "C1", 64, 1, 32, 6, 5),
    ConvCase("LeNet-5", "C3", 64, 6, 14, 16, 5),
    ConvCase("AlexNet", "conv1", 8, 3, 224, 64, 11, 4, 2),
    ConvCase("AlexNet", "conv2", 8, 64, 27, 192, 5, 1, 2),
    ConvCase("AlexNet", "conv3", 8, 192, 13, 384, 3, 1, 1),
    ConvCase("AlexNet", "conv5", 8, 256, 13, 256, 3, 1, 1),
    ConvCase("VGG-16", "conv1_2", 4, 64, 224, 64, 3, 1, 1),
    ConvCase("VGG-16", "conv3_2", 4, 256, 56, 256, 3, 1, 1),
    ConvCase("VGG-16", "conv5_2", 4, 512, 14, 512, 3, 1, 1),
    ConvCase("ResNet-18 CIFAR", "stem", 32, 3, 32, 64, 3, 1, 1),
    ConvCase("ResNet-18 CIFAR", "layer1", 32, 64, 32, 64, 3, 1, 1),
    ConvCase("ResNet-18 CIFAR", "layer2.0", 32, 64, 32, 128, 3, 2, 1),
    ConvCase("ResNet-18 CIFAR", "layer2", 32, 128, 16, 128, 3, 1, 1),
    ConvCase("ResNet-18 CIFAR", "layer2.down", 32, 64, 32, 128, 1, 2, 0),
    ConvCase("ResNet-18 CIFAR", "layer3.0", 32, 128, 16, 256, 3, 2, 1),
    ConvCase("ResNet-18 CIFAR", "layer3", 32, 256, 8, 256, 3, 1, 1),
    ConvCase("ResNet-18 CIFAR", "layer4.0", 32, 256, 8, 512, 3, 2, 1),
    ConvCase("ResNet-18 CIFAR", "layer4", 32, 512, 4, 512, 3, 1, 1),
    ConvCase("ResNet-18", "conv1", 8, 3, 224, 64, 7, 2, 3),
    ConvCase("ResNet-18", "layer1", 8, 64, 56, 64, 3, 1, 1),
    ConvCase("ResNet-18", "layer3", 8, 256, 14, 256, 3, 1, 1),
    ConvCase("ResNet-18", "layer4", 8, 512, 7, 512, 3, 1, 1),
    ConvCase("MobileNet", "dw1", 16, 32, 112, 32, 3, 1, 1, 32),
    ConvCase("MobileNet", "dw2", 16, 64, 112, 64, 3, 2, 1, 64),
    ConvCase("MobileNet", "dw4", 16, 128, 56, 128, 3, 2, 1, 128),
    ConvCase("MobileNet", "dw6", 16, 256, 28, 256, 3, 2, 1, 256),
    ConvCase("MobileNet", "dw8", 16, 512, 14, 512, 3, 1, 1, 512),
    ConvCase("MobileNet", "dw13", 16, 1024, 7, 1024, 3, 1, 1, 1024),
    ConvCase("MobileNet", "pw1", 16, 32, 112, 64, 1),
    ConvCase("MobileNet", "pw5", 16, 256, 28, 256, 1),
    ConvCase("MobileNet", "pw8", 16, 512, 14, 512, 1),
    ConvCase("MobileNet", "pw13", 16, 1024, 7, 1024, 1),
]

TARGET_SHAPE = (32, 64, 32, 32)

MEMORY = [
    MemoryCase("max_pool2d", "target", TARGET_SHAPE, (2, 2)),
    MemoryCase("batch_norm", "target", TARGET_SHAPE),
    MemoryCase("dropout", "target", TARGET_SHAPE, (0.5,)),
    MemoryCase("max_pool2d", "LeNet-5", (64, 6, 28, 28), (2, 2)),
    MemoryCase("max_pool2d", "AlexNet", (8, 64, 55, 55), (3, 2)),
    MemoryCase("max_pool2d", "ResNet-18", (8, 64, 112, 112), (3, 2, 1)),
    MemoryCase("max_pool2d", "VGG-16", (4, 128, 112, 112), (2, 2)),
    MemoryCase("avg_pool2d", "LeNet-5 classic", (64, 6, 28, 28), (2, 2)),
    MemoryCase("avg_pool2d", "ResNet-18 CIFAR", (32, 512, 4, 4), (4, 4)),
    MemoryCase("batch_norm", "ResNet-18 CIFAR", (32, 128, 16, 16)),
    MemoryCase("batch_norm", "ResNet-18 CIFAR", (32, 512, 4, 4)),
    MemoryCase("batch_norm", "ResNet-18", (8, 64, 112, 112)),
    MemoryCase("dropout", "AlexNet", (8, 4096), (0.5,)),
    MemoryCase("local_response_norm", "AlexNet", (8, 64, 55, 55), (5,)),
]

QUICK_CONV = [CONV[0], CONV[10], CONV[24], CONV[30]]
QUICK_MEMORY = MEMORY[:3]

# The ops whose ratio to PyTorch has a target (issue: fused kernels and benchmarks).
CIFAR_CONV = [c for c in CONV if c.net == "ResNet-18 CIFAR"]
MOBILENET_DEPTHWISE = [c for c in CONV if c.net == "MobileNet" and c.groups > 1]
