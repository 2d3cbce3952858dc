"""Building blocks shared by several families."""
from __future__ import annotations

from .. import nn


def conv_bn_act(in_channels, out_channels, kernel_size=3, stride=1, groups=1,
                activation=nn.ReLU, eps=1e-5):
    """Conv (no bias, padding (k - 1) // 2 so stride 1 keeps the size) -> BatchNorm ->
    activation, as a Sequential named "0", "1", "2": torchvision's ``Conv2dNormActivation``.
    ``activation=None`` leaves the activation out."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2,
                        groups=groups, bias=False),
              nn.BatchNorm2d(out_channels, eps=eps)]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


def make_divisible(value, divisor=8):
    """Round a channel count to the nearest multiple of ``divisor`` (at least ``divisor``),
    never going more than 10% below ``value`` (the TensorFlow MobileNet rule)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded
