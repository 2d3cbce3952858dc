"""Parameter counts and costs worked out by hand, checked against
``minidl.models.count_parameters`` and ``minidl.models.complexity``.

1. A conv layer with K filters of F x F over D1 input channels has F*F*D1*K weights and K
   biases (CS231n's example: ten 5x5 filters on a 32x32x3 input, 5*5*3*10 + 10 = 760).
2. Without weight sharing (Goodfellow et al., Deep Learning, Sec. 9.5) every output position
   has its own kernel: a locally connected layer with an OH x OW output has OH*OW times the
   weights (and here a bias per position); tiled convolution with a t x t grid of kernels
   has t*t times the conv layer's, whatever the image size (below: the example above, with
   padding 2, made unshared and tiled 2x2).
3. Three stacked 3x3 convolutions see 7x7 pixels, like one 7x7 layer, with 3 * 3*3*C*C =
   27 C^2 weights instead of 49 C^2 (Simonyan & Zisserman 2015, Sec. 2.3).
4. GoogLeNet "uses 12x fewer parameters than" AlexNet (Szegedy et al. 2015, Sec. 1): the
   Inception modules of its Table 1 counted by hand. The counts give about 9x (7.0M against
   AlexNet's 61M; Table 1's own column sums to about 6.8M), which is what is asserted.
5. A depthwise separable convolution (depthwise Dk x Dk, then pointwise 1x1) costs
   Dk*Dk*M*Df*Df + M*N*Df*Df multiply-adds against Dk*Dk*M*N*Df*Df, a ratio of
   1/N + 1/Dk^2 (Howard et al. 2017, MobileNets, Sec. 3.1): "8 to 9 times" less for 3x3.
6. EfficientNet's compound scaling (Tan & Le 2019, Secs. 3.3, 4): FLOPs grow as d * w^2 * r^2,
   so depth alpha, width beta, resolution gamma with alpha * beta^2 * gamma^2 ~ 2 double the
   FLOPs per step of phi; the paper's grid search gave alpha = 1.2, beta = 1.1, gamma = 1.15.

Counts are integers (exact checks); ratios are checked as exact fractions.

Run:  python examples/parameter_counts.py
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np

import minidl.models as models
import minidl.nn as nn
import minidl.viz

# GoogLeNet's Table 1: (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) and its
# "params" column, in thousands.
INCEPTION = {"3a": ((64, 96, 128, 16, 32, 32), 159), "3b": ((128, 128, 192, 32, 96, 64), 380),
             "4a": ((192, 96, 208, 16, 48, 64), 364), "4b": ((160, 112, 224, 24, 64, 64), 437),
             "4c": ((128, 128, 256, 24, 64, 64), 463), "4d": ((112, 144, 288, 32, 64, 64), 580),
             "4e": ((256, 160, 320, 32, 128, 128), 840),
             "5a": ((256, 160, 320, 32, 128, 128), 1072),
             "5b": ((384, 192, 384, 48, 128, 128), 1388)}
GOOGLENET_TABLE_K = {"conv1": 2.7, "conv2": 112, "fc": 1000}
# AlexNet (Krizhevsky et al. 2012): (in, out, kernel, groups): the two-tower conv2, conv4 and
# conv5 see their own GPU's half of the maps (groups 2); and torchvision's version.
ALEXNET_PAPER = [(3, 96, 11, 1), (96, 256, 5, 2), (256, 384, 3, 1), (384, 384, 3, 2),
                 (384, 256, 3, 2)]
ALEXNET_TORCHVISION = [(3, 64, 11, 1), (64, 192, 5, 1), (192, 384, 3, 1), (384, 256, 3, 1),
                       (256, 256, 3, 1)]
ALEXNET_FC = [(256 * 6 * 6, 4096), (4096, 4096), (4096, 1000)]


def conv_params(d1, k, f, bias=True, groups=1):
    """F*F*(D1/groups)*K weights (+ K biases)."""
    return f * f * (d1 // groups) * k + (k if bias else 0)


def check_conv_layer():
    """The lecture's 760, and the unshared and tiled versions of that layer."""
    hand = conv_params(3, 10, 5)
    print(f"conv layer, ten 5x5 filters on 32x32x3: 5*5*3*10 + 10 = {hand}")
    np.testing.assert_equal(hand, 760)
    np.testing.assert_equal(models.count_parameters(nn.Conv2d(3, 10, 5, padding=2)), hand)
    print("   = the lecture's 760 = count_parameters(nn.Conv2d(3, 10, 5))")

    out = 32                                   # padding 2 keeps 32x32
    unshared = out * out * (5 * 5 * 3 * 10) + 10 * out * out
    print(f"unshared (locally connected), 32x32 output: 32*32*(5*5*3*10) + 10*32*32 = {unshared:,}")
    local = nn.LocallyConnected2d(3, 10, 5, input_size=32, padding=2)
    np.testing.assert_equal(models.count_parameters(local), unshared)
    tiled = 2 * 2 * (5 * 5 * 3 * 10) + 10 * 2 * 2
    print(f"tiled, a 2x2 grid of kernels: 2*2*(5*5*3*10) + 10*2*2 = {tiled:,} for any image size")
    np.testing.assert_equal(models.count_parameters(nn.TiledConv2d(3, 10, 5, 2, padding=2)), tiled)
    print("   = count_parameters(nn.LocallyConnected2d(...)) and (nn.TiledConv2d(...))\n")


def check_stacked_3x3(channels=64):
    """27 C^2 against 49 C^2 weights for the same 7x7 receptive field."""
    c = channels
    stack = nn.Sequential(*[nn.Conv2d(c, c, 3, bias=False) for _ in range(3)])
    single = nn.Sequential(nn.Conv2d(c, c, 7, bias=False))
    print(f"three 3x3 convs, C = {c}: 3 * (3*3*C*C) = 27 C^2 = {27 * c * c:,};"
          f" one 7x7: 49 C^2 = {49 * c * c:,}")
    np.testing.assert_equal(models.count_parameters(stack), 27 * c * c)
    np.testing.assert_equal(models.count_parameters(single), 49 * c * c)
    fields = [minidl.viz.receptive_field(net, net[len(net) - 1], (c, 15, 15)).size
              for net in (stack, single)]
    np.testing.assert_equal(fields, [(7, 7), (7, 7)])
    print(f"   = count_parameters; receptive fields {fields[0]} and {fields[1]} "
          f"(minidl.viz.receptive_field): the same view, {27 / 49:.0%} of the weights\n")


def inception_weights(in_channels, filters, k5, per_channel):
    """Weights of one Inception module with a k5 x k5 "5x5" branch, plus ``per_channel``
    parameters for each conv's output channel (1 for a bias, 2 for a batch norm)."""
    c1, r3, c3, r5, c5, pool_proj = filters
    weights = (in_channels * c1 + in_channels * r3 + 9 * r3 * c3 + in_channels * r5
               + k5 * k5 * r5 * c5 + in_channels * pool_proj)
    return weights + per_channel * sum(filters), c1 + c3 + c5 + pool_proj


def googlenet_by_hand(k5, per_channel):
    """Total parameters: the stem convs, the nine Inception modules, the classifier; and the
    per-module weight counts (per_channel = 0) for Table 1."""
    stem = [(3, 64, 7), (64, 64, 1), (64, 192, 3)]
    total = sum(conv_params(i, o, f, bias=False) + per_channel * o for i, o, f in stem)
    channels, modules = 192, {}
    for name, (filters, _) in INCEPTION.items():
        count, out = inception_weights(channels, filters, k5, per_channel)
        modules[name] = inception_weights(channels, filters, k5, 0)[0]
        total, channels = total + count, out
    return total + 1024 * 1000 + 1000, modules


def check_googlenet_vs_alexnet():
    """GoogLeNet and AlexNet counted by hand against count_parameters, and their ratio."""
    minidl_hand, _ = googlenet_by_hand(k5=3, per_channel=2)
    googlenet = models.count_parameters(models.googlenet())
    print(f"GoogLeNet as in torchvision (batch norm, its '5x5' branch a 3x3 conv): {minidl_hand:,}")
    np.testing.assert_equal(googlenet, minidl_hand)
    print("   = count_parameters(minidl.models.googlenet())")

    paper, modules = googlenet_by_hand(k5=5, per_channel=1)
    print(f"GoogLeNet as in the paper (5x5 branch, biases, no batch norm): {paper:,}; its modules'"
          " weights against Table 1's 'params' column (printed only: the column is approximate):")
    for name, (_, table_k) in INCEPTION.items():
        print(f"   inception {name}: {modules[name]:>9,}   (Table 1: {table_k}K)")
    table_sum = sum(k for _, k in INCEPTION.values()) + sum(GOOGLENET_TABLE_K.values())
    print(f"   conv1 has 7*7*3*64 = {7 * 7 * 3 * 64:,} weights (Table 1: "
          f"{GOOGLENET_TABLE_K['conv1']}K); the column sums to {table_sum:,.0f}K")
    tower = sum(conv_params(i, o, f, groups=g) for i, o, f, g in ALEXNET_PAPER)
    fc = sum(i * o + o for i, o in ALEXNET_FC)
    grouped = [nn.Conv2d(i, o, f, groups=g) for i, o, f, g in ALEXNET_PAPER]
    np.testing.assert_equal(sum(models.count_parameters(m) for m in grouped), tower)
    alexnet_paper = tower + fc
    print(f"AlexNet, two towers (conv2, 4, 5 with groups=2): {alexnet_paper:,} "
          "(the paper's '60 million')")
    np.testing.assert_equal(alexnet_paper, 60_965_224)
    alexnet_tv = sum(conv_params(i, o, f) for i, o, f, _ in ALEXNET_TORCHVISION) + fc
    np.testing.assert_equal(models.count_parameters(models.alexnet()), alexnet_tv)
    print(f"AlexNet as in torchvision: {alexnet_tv:,} = count_parameters(minidl.models.alexnet())")
    paper_ratio, tv_ratio = alexnet_paper / paper, alexnet_tv / googlenet
    print(f"ratio AlexNet / GoogLeNet: papers {alexnet_paper:,} / {paper:,} = {paper_ratio:.1f}x,"
          f" torchvision {tv_ratio:.1f}x")
    np.testing.assert_(8 < paper_ratio < 10 and 8 < tv_ratio < 10, "ratio")
    print("   the counts give about 9x, not the paper's '12x' (that would need GoogLeNet at"
          f" {alexnet_paper / 12 / 1e6:.1f}M parameters; Table 1 itself sums to about 6.8M)\n")


def check_depthwise_separable(m=32, n=64, dk=3, df=16):
    """MobileNet's cost ratio 1/N + 1/Dk^2, exactly, from parameter and multiply-add counts."""
    standard = nn.Sequential(nn.Conv2d(m, n, dk, padding=1, bias=False))
    separable = nn.Sequential(nn.Conv2d(m, m, dk, padding=1, groups=m, bias=False),
                              nn.Conv2d(m, n, 1, bias=False))
    (p_std, mac_std), (p_sep, mac_sep) = (models.complexity(net, (m, df, df))
                                          for net in (standard, separable))
    hand_std, hand_sep = dk * dk * m * n * df * df, dk * dk * m * df * df + m * n * df * df
    print(f"depthwise separable, M={m}, N={n}, Dk={dk}, Df={df}: standard Dk^2 M N Df^2 = "
          f"{hand_std:,}, separable Dk^2 M Df^2 + M N Df^2 = {hand_sep:,} multiply-adds")
    np.testing.assert_equal((mac_std, mac_sep), (hand_std, hand_sep))
    formula = Fraction(1, n) + Fraction(1, dk * dk)
    np.testing.assert_equal(Fraction(mac_sep, mac_std), formula)
    np.testing.assert_equal(Fraction(p_sep, p_std), formula)
    print(f"   = minidl.models.complexity; cost ratio = params ratio = 1/N + 1/Dk^2 = {formula}"
          " exactly (nn.Conv2d(groups=M) for the depthwise part)")
    for width in (128, 256, 512, 1024):
        saving = 1 / (Fraction(1, width) + Fraction(1, 9))
        np.testing.assert_(8 <= saving < 9, f"N={width}")
        print(f"   N = {width:4d}: 3x3 separable is {float(saving):.2f}x cheaper", end="")
        print(" (the paper's '8 to 9 times')" if width == 1024 else "")
    print()


def conv_stack(layers, width):
    """``layers`` 3x3 convolutions from ``width`` to ``width`` channels, size-preserving."""
    return nn.Sequential(*[nn.Conv2d(width, width, 3, padding=1, bias=False)
                           for _ in range(layers)])


def check_compound_scaling(layers=2, width=8, resolution=8):
    """FLOPs ~ d w^2 r^2 on a conv stack, and EfficientNet's alpha beta^2 gamma^2."""
    base = models.complexity(conv_stack(layers, width), (width, resolution, resolution))[1]
    np.testing.assert_equal(base, layers * 9 * width * width * resolution * resolution)
    deeper = models.complexity(conv_stack(2 * layers, width), (width, resolution, resolution))[1]
    wider = models.complexity(conv_stack(layers, 2 * width), (2 * width, resolution, resolution))[1]
    sharper = models.complexity(conv_stack(layers, width), (width, 2 * resolution, 2 * resolution))[1]
    print(f"conv stack FLOPs (multiply-adds) = L * 9 * C^2 * R^2 = {base:,}; doubling depth, "
          f"width, resolution multiplies them by {deeper // base}, {wider // base}, {sharper // base}")
    np.testing.assert_equal((deeper / base, wider / base, sharper / base), (2, 4, 4))
    alpha, beta, gamma = 1.2, 1.1, 1.15
    factor = alpha * beta ** 2 * gamma ** 2
    print(f"EfficientNet: alpha * beta^2 * gamma^2 = 1.2 * 1.1^2 * 1.15^2 = {factor:.4f} ~ 2: "
          "each step of phi about doubles the FLOPs")
    np.testing.assert_(abs(factor - 1.92) < 0.001 and abs(factor - 2) < 0.1, "compound factor")


def main():
    """Run every count; 0 on success."""
    check_conv_layer()
    check_stacked_3x3()
    check_googlenet_vs_alexnet()
    check_depthwise_separable()
    check_compound_scaling()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
