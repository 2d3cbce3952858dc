"""Receptive fields of stacked convolutions by hand, checked two ways with minidl: by
``minidl.viz.receptive_field`` (receptive field arithmetic read from the layers) and by the
gradient, whose non-zero entries are exactly the input pixels a unit depends on.

Layer l with kernel k_l, dilation d_l and stride s_l grows the receptive field r and the
jump j (input pixels between neighbouring units) as (Araujo, Norris & Sim, "Computing
receptive fields of convolutional neural networks", Distill 2019):

    r_l = r_{l-1} + (k_l - 1) d_l j_{l-1},    j_l = j_{l-1} s_l,    r_0 = j_0 = 1

* three 3x3 convolutions, stride 1: r = 3, 5, 7 (the lectures' "three 3x3 see 7x7");
* 3x3 convolutions with dilations 1, 2, 4: r = 3, 7, 15, exponential growth with depth
  (Yu & Koltun 2016, "Multi-scale context aggregation by dilated convolutions");
* WaveNet (van den Oord et al. 2016, Sec. 2.1): causal 1-D convolutions of width 2 with
  dilations 1, 2, 4, 8 see 1 + 1 + 2 + 4 + 8 = 16 steps, all in the past: the gradient of
  output t with respect to input t + 1 (or any later one) is exactly zero.

Run:  python examples/receptive_fields.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F
import minidl.nn as nn
import minidl.viz

SIZE = 33                     # input height and width; the centre unit is (16, 16)


def receptive_field_by_hand(kernels, dilations, strides):
    """r_l for each layer, printing the recursion."""
    r, j, sizes = 1, 1, []
    for k, d, s in zip(kernels, dilations, strides):
        new_r = r + (k - 1) * d * j
        print(f"   r = {r} + ({k} - 1) * {d} * {j} = {new_r}")
        r, j = new_r, j * s
        sizes.append(r)
    return sizes


def gradient_support(model, upto):
    """The rows and columns of the input that the centre unit of layer ``upto`` depends on:
    where d unit / d input is non-zero (all weights are positive, so nothing cancels)."""
    x = minidl.tensor(np.zeros((1, 1, SIZE, SIZE)), requires_grad=True)
    out = model[:upto + 1](x)
    centre = out[0, 0, SIZE // 2, SIZE // 2]
    g = minidl.grad(centre, x)[0, 0]
    rows, cols = np.nonzero(g)
    np.testing.assert_(np.all(g[rows.min():rows.max() + 1, cols.min():cols.max() + 1] > 0),
                       "the support has holes")
    return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1


def check_stack(name, dilations, expected):
    """A stack of 3x3 convolutions (padding = dilation keeps the size) with weights 1."""
    print(f"{name}: 3x3 convolutions, dilations {dilations}")
    hand = receptive_field_by_hand([3] * len(dilations), dilations, [1] * len(dilations))
    np.testing.assert_equal(hand, expected)
    convs = [nn.Conv2d(1, 1, 3, padding=d, dilation=d, bias=False, dtype=minidl.float64)
             for d in dilations]
    for conv in convs:
        nn.init.ones_(conv.weight)
    model = nn.Sequential(*convs)
    for layer, r in enumerate(expected):
        arithmetic = minidl.viz.receptive_field(model, model[layer], (1, SIZE, SIZE)).size
        support = gradient_support(model, layer)
        np.testing.assert_equal(arithmetic, (r, r))
        np.testing.assert_equal(support, (r, r))
        print(f"   layer {layer + 1}: viz.receptive_field {arithmetic[0]}x{arithmetic[1]}, "
              f"non-zero gradient {support[0]}x{support[1]}")
    print(f"   = {', '.join(map(str, expected))} as stated\n")


def wavenet_stack(x, weights, dilations, padding):
    """Width-2 (or width-k) 1-D convolutions with tanh between them."""
    for w, d in zip(weights, dilations):
        x = F.conv1d(x, w, padding=padding if padding == "causal" else d, dilation=d).tanh()
    return x


def check_wavenet(rng, length=32, t=24):
    """16 steps seen by the causal dilated stack, and an exactly zero future gradient."""
    dilations = [1, 2, 4, 8]
    print(f"WaveNet: causal width-2 convolutions, dilations {dilations}")
    field = 1 + sum(d * (2 - 1) for d in dilations)
    print(f"   receptive field 1 + sum of d (k - 1) = 1 + {' + '.join(map(str, dilations))} = {field}")
    np.testing.assert_equal(field, 16)
    weights = [minidl.tensor(rng.uniform(0.5, 1.0, (1, 1, 2))) for _ in dilations]
    x = minidl.tensor(rng.standard_normal((1, 1, length)), requires_grad=True)
    out = wavenet_stack(x, weights, dilations, "causal")
    np.testing.assert_equal(out.shape, (1, 1, length))
    g = minidl.grad(out[0, 0, t], x)[0, 0]
    seen = np.nonzero(g)[0]
    print(f"   d out[{t}] / d input is non-zero at steps {seen.min()}..{seen.max()} "
          f"({len(seen)} steps); at steps {t + 1}..{length - 1}: {np.abs(g[t + 1:]).max()}")
    np.testing.assert_array_equal(seen, np.arange(t - 15, t + 1))
    np.testing.assert_array_equal(g[t + 1:], 0.0)
    print("   16 steps, and the future's gradient is exactly zero (F.conv1d(padding='causal'))")

    symmetric = [minidl.tensor(rng.uniform(0.5, 1.0, (1, 1, 3))) for _ in dilations]
    out = wavenet_stack(x, symmetric, dilations, "symmetric")
    future = minidl.grad(out[0, 0, t], x)[0, 0][t + 1:]
    np.testing.assert_(np.abs(future[0]) > 0, "a non-causal stack did not see the next step")
    print(f"   (a non-causal width-3 stack with padding d does see step {t + 1}: "
          f"gradient {future[0]:.3f})")


def main():
    """Run the three stacks; 0 on success."""
    check_stack("regular stack", [1, 1, 1], [3, 5, 7])
    check_stack("dilated stack", [1, 2, 4], [3, 7, 15])
    check_wavenet(np.random.default_rng(0))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
