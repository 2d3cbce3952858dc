"""AlexNet (Krizhevsky, Sutskever and Hinton, "ImageNet classification with deep
convolutional neural networks", NeurIPS 2012): the network that won ILSVRC 2012 by a wide
margin and started the deep-learning era, with ReLUs, dropout, overlapping max pooling,
local response normalisation, data augmentation and training on GPUs.

ZFNet (Zeiler and Fergus, "Visualizing and understanding convolutional networks", ECCV 2014,
arXiv 2013): AlexNet's layout retuned with the help of deconvnet visualisations, which
showed aliasing and dead filters from the large, strided first layer; ILSVRC 2013 winner.
"""
from __future__ import annotations

from .. import nn
from ._registry import register


class AlexNet(nn.Module):
    """``features`` (convolutions), ``avgpool`` (adaptive, to 6x6) and ``classifier``
    (dropout and three fully connected layers), torchvision's layout and names."""

    def __init__(self, features, num_classes=1000, dropout=0.5):
        super().__init__()
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


def _lrn():
    """The paper's response normalisation, k = 2, n = 5, alpha = 1e-4, beta = 0.75.
    The paper adds alpha * (sum of squares); minidl (like PyTorch) adds alpha / n * (sum),
    hence alpha = 5e-4 here."""
    return nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)


@register(input_size=(3, 224, 224))
def alexnet(num_classes=1000, in_channels=3, dropout=0.5):
    """torchvision's AlexNet (61,100,840 parameters), from the "one weird trick" paper
    (Krizhevsky 2014): 64-192-384-256-256 filters, no LRN, padding 2 in the first layer."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
    return AlexNet(features, num_classes, dropout)


@register(input_size=(3, 227, 227))
def alexnet_paper(num_classes=1000, in_channels=3, dropout=0.5):
    """AlexNet as in the 2012 paper, on one GPU (one tower): 96-256-384-384-256 filters,
    LRN after the first two ReLUs, overlapping 3x3 max pooling with stride 2, dropout before
    the first two fully connected layers. 62,378,344 parameters with 1000 classes (the
    paper's two-tower version, whose conv2, conv4 and conv5 see only their own GPU's half of
    the maps, has 60,965,224: the "60 million" of the abstract). A 227x227 input gives the
    paper's 55x55 first maps and 6x6 last ones (``avgpool`` is then the identity)."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, 11, stride=4), nn.ReLU(), _lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), _lrn(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
    return AlexNet(features, num_classes, dropout)


@register(input_size=(3, 224, 224))
def zfnet(num_classes=1000, in_channels=3, dropout=0.5):
    """ZFNet (Fig. 3 of the paper): a 7x7 stride-2 first layer instead of 11x11 stride 4,
    a 5x5 stride-2 second layer, each of the first two followed by ReLU, 3x3 max pooling with
    stride 2 and contrast normalisation across maps (AlexNet's LRN, here after the pooling), then
    AlexNet's 384-384-256 layers and classifier. Pooling rounds up (Caffe's rule), which
    gives the figure's 110 -> 55 -> 26 -> 13 -> 6 map sizes on a 224x224 input.
    The paper states no parameter total; counting its Fig. 3 layers gives 62,357,608 with
    1000 classes (AlexNet's single-tower count less the 11x11 -> 7x7 saving in conv1)."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, 7, stride=2, padding=1), nn.ReLU(),
        nn.MaxPool2d(3, 2, ceil_mode=True), _lrn(),
        nn.Conv2d(96, 256, 5, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True), _lrn(),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True))
    return AlexNet(features, num_classes, dropout)
