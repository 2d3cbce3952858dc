"""A small CNN for the visualization gallery and the tests: three 3x3 convolutions with batch
norm, global average pooling and one linear layer. It trains to high accuracy on the built-in
Shapes data in a minute on a laptop CPU, and its last convolution feeds the classifier
through global average pooling only, which is the architecture for which class activation
maps are exact (Lin, Chen and Yan, "Network in network", ICLR 2014; Zhou et al., "Learning
deep features for discriminative localization", CVPR 2016).
"""
from __future__ import annotations

from .. import nn
from ._registry import register


@register(input_size=(3, 32, 32))
def small_cnn(num_classes=10, in_channels=3, width=16):
    """(conv3x3-bn-relu-maxpool) x2, conv3x3-bn-relu, global average pooling, linear.

    For the gallery (``minidl demo``) and for tests of the visualization methods: small enough
    to train in seconds, deep enough to have early and late features, and CAM-ready (the
    class score is a linear function of the channel means of the last ReLU, layer "10").
    Channels: ``width``, 2 ``width``, 2 ``width``. The convolutions keep their biases, as in
    the usual tutorial CNN, though batch norm makes them redundant (80 parameters). An
    ``nn.Sequential``, so its layers are named "0" to "13"; 14,826 parameters with the
    defaults. Any input size of at least 4x4 works.
    """
    wide = 2 * width
    return nn.Sequential(
        nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, wide, 3, padding=1), nn.BatchNorm2d(wide), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(wide, wide, 3, padding=1), nn.BatchNorm2d(wide), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(wide, num_classes))
