"""How a ReLU passes a gradient back: backpropagation, the deconvnet and guided backprop,
on the lectures' 3x3 table, checked against ``minidl.backprop_rule``.

Forward: y = max(x, 0). With g = dL/dy the gradient arriving from above, the three rules are

    backpropagation (the true gradient):       g * [x > 0]
    deconvnet (Zeiler & Fergus 2014):           max(g, 0)               (ReLU on the signal going back)
    guided backprop (Springenberg et al. 2015): max(g, 0) * [x > 0]     (both masks)

The lecture's example (Springenberg et al. 2015, Fig. 1, as the lecture shows it):

    x = [[1, -1, 5], [2, -5, -7], [-3, 2, 4]],   g = [[-2, 3, -1], [6, -3, 1], [2, -1, 3]]

gives backprop [[-2, 0, -1], [6, 0, 0], [0, -1, 3]], deconvnet [[0, 3, 0], [6, 0, 1], [2, 0, 3]]
and guided [[0, 0, 0], [6, 0, 0], [0, 0, 3]]. All values are integers: the checks are exact.

Run:  python examples/relu_backprop_rules.py
"""
from __future__ import annotations

import numpy as np

import minidl
import minidl.functional as F
import minidl.nn as nn
import minidl.viz

FORWARD_INPUT = np.array([[1, -1, 5], [2, -5, -7], [-3, 2, 4]], dtype=np.float64)
UPSTREAM = np.array([[-2, 3, -1], [6, -3, 1], [2, -1, 3]], dtype=np.float64)

# The tables as printed in the lecture (not computed here).
LECTURE = {
    "default": [[-2, 0, -1], [6, 0, 0], [0, -1, 3]],
    "deconvnet": [[0, 3, 0], [6, 0, 1], [2, 0, 3]],
    "guided": [[0, 0, 0], [6, 0, 0], [0, 0, 3]],
}
NAMES = {"default": "backpropagation", "deconvnet": "deconvnet", "guided": "guided backprop"}


def show(name, array):
    """Print a small integer array under a title."""
    print(f"{name}:")
    for row in np.atleast_2d(array):
        print("   " + " ".join(f"{v + 0:3.0f}" for v in row))


def by_hand(rule, x, g):
    """The rule's formula, written out: the forward mask [x > 0] and/or the backward one [g > 0]."""
    forward_mask = (x > 0).astype(x.dtype)
    if rule == "default":
        return g * forward_mask
    if rule == "deconvnet":
        return np.maximum(g, 0)
    return np.maximum(g, 0) * forward_mask


def minidl_relu_gradient(rule, x, g):
    """dL/dx of y = relu(x) for the upstream gradient g, under ``minidl.backprop_rule(rule)``."""
    xt = minidl.tensor(x, requires_grad=True)
    y = F.relu(xt)
    with minidl.backprop_rule(rule):
        y.backward(g)
    return xt.grad


def minidl_viz_gradient(rule, x, g):
    """The same through ``minidl.viz``: a model ReLU -> Flatten -> Linear whose weight is g, so
    that the gradient reaching the ReLU's output from the logit is g itself."""
    model = nn.Sequential(nn.ReLU(), nn.Flatten(), nn.Linear(9, 1, bias=False, dtype=minidl.float64))
    model.eval()
    model[2].weight.data = g.reshape(1, 9).copy()
    method = {"default": lambda m, im: minidl.viz.saliency(m, im, target=0)[1],
              "deconvnet": lambda m, im: minidl.viz.deconvnet(m, im, target=0),
              "guided": lambda m, im: minidl.viz.guided_backprop(m, im, target=0)}[rule]
    return method(model, x[None])[0]


def main():
    """Print the three rules on the lecture's table and assert them; 0 on success."""
    show("forward input x", FORWARD_INPUT)
    show("forward mask [x > 0]", FORWARD_INPUT > 0)
    show("upstream gradient g = dL/dy", UPSTREAM)
    show("backward mask [g > 0]", UPSTREAM > 0)
    print()
    for rule, table in LECTURE.items():
        hand = by_hand(rule, FORWARD_INPUT, UPSTREAM)
        ours = minidl_relu_gradient(rule, FORWARD_INPUT, UPSTREAM)
        through_viz = minidl_viz_gradient(rule, FORWARD_INPUT, UPSTREAM)
        show(f"{NAMES[rule]} by hand", hand)
        np.testing.assert_array_equal(hand, table, err_msg=f"{rule}: hand != lecture table")
        np.testing.assert_array_equal(ours, table, err_msg=f"{rule}: minidl != lecture table")
        np.testing.assert_array_equal(through_viz, table, err_msg=f"{rule}: minidl.viz != table")
        print(f"   = the lecture's table = minidl.backprop_rule({rule!r}) = minidl.viz\n")
    print("all three rules agree with the lecture's tables, exactly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
