"""EfficientNet (Tan and Le, "EfficientNet: rethinking model scaling for convolutional neural
networks", ICML 2019): a baseline found by architecture search (B0: MobileNet v2's inverted
residual blocks with squeeze-and-excitation and SiLU) scaled up in depth, width and
resolution together by one compound coefficient (B1-B7).
"""
from __future__ import annotations

import math

from .. import functional as F
from .. import nn
from ..autograd.functions import ones
from ._blocks import conv_bn_act, make_divisible
from ._registry import register
from .senet import SqueezeExcitation

# EfficientNet-B0 (Table 1): expansion, kernel, first stride, input and output channels,
# repeats of each MBConv stage.
B0_STAGES = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
             (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
             (6, 3, 1, 192, 320, 1)]


class StochasticDepth(nn.Module):
    """Stochastic depth (Huang et al. 2016), "row" mode: in training, drop a residual
    branch for a whole sample with probability ``p`` and scale the kept ones by 1/(1-p);
    the identity in eval mode. The per-sample mask is dropout of a (N, 1, 1, 1) tensor of
    ones, so it comes from minidl's seeded dropout stream."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        keep = F.dropout(ones(x.shape[0], *(1,) * (x.ndim - 1), dtype=x.dtype, device=x.device),
                         self.p)
        return x * keep

    def extra_repr(self):
        return f"p={self.p}"


class MBConv(nn.Module):
    """Mobile inverted bottleneck: 1x1 expansion (unless 1x), k x k depthwise conv, SE
    (squeezing to a quarter of the block's input channels), linear 1x1 projection, and, when
    the shape is kept, stochastic depth on the branch plus the input."""

    def __init__(self, expand_ratio, kernel, stride, in_channels, out_channels,
                 stochastic_depth_prob):
        super().__init__()
        self.use_res_connect = stride == 1 and in_channels == out_channels
        hidden = make_divisible(in_channels * expand_ratio)
        layers = []
        if hidden != in_channels:
            layers.append(conv_bn_act(in_channels, hidden, 1, activation=nn.SiLU))
        layers += [conv_bn_act(hidden, hidden, kernel, stride, groups=hidden, activation=nn.SiLU),
                   SqueezeExcitation(hidden, max(1, in_channels // 4), activation=nn.SiLU),
                   conv_bn_act(hidden, out_channels, 1, activation=None)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(stochastic_depth_prob)

    def forward(self, x):
        if self.use_res_connect:
            return self.stochastic_depth(self.block(x)) + x
        return self.block(x)


class EfficientNet(nn.Module):
    """torchvision's EfficientNet-B0 (names, shapes, initialisation): ``features`` (3x3
    stride-2 conv, seven MBConv stages, 1x1 conv to 4 x 320 = 1280 maps), global average
    pooling and ``classifier`` (dropout, FC). The stochastic depth probability grows
    linearly from 0 to ``stochastic_depth_prob`` over the blocks."""

    def __init__(self, stages=B0_STAGES, num_classes=1000, in_channels=3, dropout=0.2,
                 stochastic_depth_prob=0.2):
        super().__init__()
        layers = [conv_bn_act(in_channels, stages[0][3], 3, 2, activation=nn.SiLU)]
        total_blocks = sum(stage[-1] for stage in stages)
        block_id = 0
        for expand, kernel, stride, cin, cout, repeats in stages:
            blocks = []
            for i in range(repeats):
                p = stochastic_depth_prob * block_id / total_blocks
                blocks.append(MBConv(expand, kernel, stride if i == 0 else 1,
                                     cin if i == 0 else cout, cout, p))
                block_id += 1
            layers.append(nn.Sequential(*blocks))
        last = 4 * stages[-1][4]
        layers.append(conv_bn_act(stages[-1][4], last, 1, activation=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(last, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)).flatten(1))


@register(input_size=(3, 224, 224))
def efficientnet_b0(num_classes=1000, in_channels=3, dropout=0.2, stochastic_depth_prob=0.2):
    """EfficientNet-B0: 5,288,548 parameters (the paper's 5.3M)."""
    return EfficientNet(B0_STAGES, num_classes, in_channels, dropout, stochastic_depth_prob)
