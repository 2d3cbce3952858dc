"""Networks whose cells were found by architecture search, with each cell written as data.

NASNet-A (Zoph, Vasudevan, Shlens and Le, "Learning transferable architectures for scalable
image recognition", CVPR 2018): a recurrent controller trained by reinforcement learning
picked, on CIFAR-10, the operations and inputs of two cells, a "normal" cell that keeps the
grid and a "reduction" cell that halves it; the ImageNet network stacks them (N normal
cells between reductions) and scales the filter count F.

AmoebaNet-A (Real, Aggarwal, Huang and Le, "Regularized evolution for image classifier
architecture search", AAAI 2019): the same search space, searched by aging evolution
(tournament selection in which the oldest model dies), giving different cells.

A cell is a ``CellSpec``: five blocks, each (input, op, input, op). The cell starts from two
states, 0 = h_i (the previous cell's output, through ReLU -> 1x1 conv -> BN to F channels)
and 1 = h_{i-1} (the output of the cell before it, brought to the same shape); block b applies
its two ops to the states it names and adds the results, giving state 2 + b. The cell's
output is the concatenation of the states listed in ``concat``. In a reduction cell the ops
that read states 0 and 1 have stride 2. Ops:

- ``sepKxK``: ReLU -> separable conv (depthwise K x K, then pointwise 1x1) -> BN, twice;
- ``avg3x3``, ``max3x3``: 3x3 pooling (padding not counted in the average);
- ``identity``: the state itself (a strided ReLU -> 1x1 conv -> BN where the shape changes);
- ``conv1x7_7x1``: ReLU -> 1x1 conv to F/4 -> BN -> ReLU -> 1x7 conv -> BN -> ReLU -> 7x1
  conv -> BN -> ReLU -> 1x1 conv back to F -> BN.

Drop-path (Larsson et al. 2017, used by both papers) drops the output of every op other
than the identity for a whole sample, with a probability that grows linearly with the
cell's depth. The cell descriptions, the stem (3x3 stride-2 conv, then two reduction cells
with F/4 and F/2 filters) and the ops' details are those of the authors' TensorFlow code
(tensorflow/models research/slim/nets/nasnet and tensorflow/tpu models/official/amoeba_net);
``draw_cell`` draws a cell diagram from the same description.

Where TensorFlow pads "SAME" asymmetrically (stride 2 on an even grid: nothing before, one
after), the convolutions and poolings here pad symmetrically: the output sizes, parameter
counts and multiply-adds are the same, the values shifted by a pixel.
"""
from __future__ import annotations

from collections import namedtuple

from .. import functional as F
from .. import nn
from ..autograd.functions import concatenate, pad
from ._registry import register
from .efficientnet import StochasticDepth

CellSpec = namedtuple("CellSpec", ["name", "blocks", "concat", "reduction"])

# NASNet-A (Zoph et al. 2018, Fig. 4; slim's NasNetANormalCell / NasNetAReductionCell).
NASNET_A_NORMAL = CellSpec("NASNet-A normal cell", (
    (0, "sep5x5", 1, "sep3x3"),
    (1, "sep5x5", 1, "sep3x3"),
    (0, "avg3x3", 1, "identity"),
    (1, "avg3x3", 1, "avg3x3"),
    (0, "sep3x3", 0, "identity")), (1, 2, 3, 4, 5, 6), False)
NASNET_A_REDUCTION = CellSpec("NASNet-A reduction cell", (
    (0, "sep5x5", 1, "sep7x7"),
    (0, "max3x3", 1, "sep7x7"),
    (0, "avg3x3", 1, "sep5x5"),
    (3, "identity", 2, "avg3x3"),
    (2, "sep3x3", 0, "max3x3")), (3, 4, 5, 6), True)

# AmoebaNet-A (Real et al. 2019, Fig. 6; the tpu code's "amoeba_net_a").
AMOEBANET_A_NORMAL = CellSpec("AmoebaNet-A normal cell", (
    (0, "avg3x3", 0, "max3x3"),
    (1, "sep3x3", 1, "identity"),
    (0, "identity", 1, "avg3x3"),
    (0, "sep3x3", 2, "sep5x5"),
    (5, "avg3x3", 0, "sep3x3")), (1, 3, 4, 6), False)
AMOEBANET_A_REDUCTION = CellSpec("AmoebaNet-A reduction cell", (
    (1, "sep3x3", 0, "avg3x3"),
    (0, "max3x3", 2, "sep7x7"),
    (1, "max3x3", 0, "max3x3"),
    (4, "sep3x3", 0, "conv1x7_7x1"),
    (1, "avg3x3", 0, "sep7x7")), (2, 3, 4, 5, 6), True)

OPS = ("sep3x3", "sep5x5", "sep7x7", "avg3x3", "max3x3", "identity", "conv1x7_7x1")


def check_spec(spec):
    """Raise ValueError naming the problem if ``spec`` is not a valid cell description."""
    if not isinstance(spec, CellSpec):
        raise TypeError(f"spec must be a CellSpec, got {type(spec).__name__}")
    for b, block in enumerate(spec.blocks):
        if len(block) != 4:
            raise ValueError(f"{spec.name}: block {b} is {block!r}, not (input, op, input, op)")
        for state, op in (block[:2], block[2:]):
            if op not in OPS:
                raise ValueError(f"{spec.name}: block {b} has unknown op {op!r}; ops: {OPS}")
            if not 0 <= state < 2 + b:
                raise ValueError(f"{spec.name}: block {b} reads state {state}, which does not "
                                 f"exist yet (states 0 to {1 + b})")
    if not spec.concat or not all(0 <= s < 2 + len(spec.blocks) for s in spec.concat):
        raise ValueError(f"{spec.name}: concat {spec.concat!r} must name existing states")
    if spec.reduction and min(spec.concat) < 2:
        raise ValueError(f"{spec.name}: a reduction cell can only concatenate block outputs "
                         f"(states >= 2), got concat {spec.concat!r}")


# ----------------------------------------------------------------------------- operations
def relu_conv_bn(in_channels, out_channels, kernel_size=1, stride=1, padding=0):
    """ReLU -> conv (no bias) -> batch norm (eps 1e-3, as in the TF code)."""
    return nn.Sequential(nn.ReLU(), nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                                              padding, bias=False),
                         nn.BatchNorm2d(out_channels, eps=1e-3))


class SeparableConv2d(nn.Module):
    """Depthwise K x K convolution (one filter per channel, stride here) followed by a
    pointwise 1x1 convolution: k^2 C + C C' weights instead of k^2 C C'."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1):
        super().__init__()
        self.depthwise = nn.Conv2d(in_channels, in_channels, kernel_size, stride,
                                   kernel_size // 2, groups=in_channels, bias=False)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.depthwise(x))


def stacked_separable(in_channels, out_channels, kernel_size, stride):
    """The papers' "sep K x K": (ReLU -> separable conv -> BN) twice, stride on the first."""
    return nn.Sequential(
        nn.ReLU(), SeparableConv2d(in_channels, out_channels, kernel_size, stride),
        nn.BatchNorm2d(out_channels, eps=1e-3),
        nn.ReLU(), SeparableConv2d(out_channels, out_channels, kernel_size),
        nn.BatchNorm2d(out_channels, eps=1e-3))


def pooling(kind, in_channels, out_channels, stride):
    """3x3 max or average pooling, then a 1x1 conv + BN if the channels must change."""
    pool = (nn.MaxPool2d(3, stride, 1) if kind == "max"
            else nn.AvgPool2d(3, stride, 1, count_include_pad=False))
    if in_channels == out_channels:
        return pool
    return nn.Sequential(pool, nn.Conv2d(in_channels, out_channels, 1, bias=False),
                         nn.BatchNorm2d(out_channels, eps=1e-3))


def factorized_1x7_7x1(in_channels, out_channels, stride):
    """AmoebaNet's "1x7 then 7x1" with a 1x1 bottleneck to out_channels // 4."""
    mid = max(1, out_channels // 4)
    return nn.Sequential(
        relu_conv_bn(in_channels, mid),
        relu_conv_bn(mid, mid, (1, 7), (1, stride), (0, 3)),
        relu_conv_bn(mid, mid, (7, 1), (stride, 1), (3, 0)),
        relu_conv_bn(mid, out_channels))


def make_op(name, in_channels, out_channels, stride):
    """The module for op ``name`` (see the module docstring), or None for a plain identity."""
    if name.startswith("sep"):
        return stacked_separable(in_channels, out_channels, int(name[3]), stride)
    if name in ("avg3x3", "max3x3"):
        return pooling(name[:3], in_channels, out_channels, stride)
    if name == "conv1x7_7x1":
        return factorized_1x7_7x1(in_channels, out_channels, stride)
    if stride > 1 or in_channels != out_channels:
        return relu_conv_bn(in_channels, out_channels, 1, stride)
    return None


class FactorizedReduction(nn.Module):
    """Halve the grid without dropping pixels (Zoph et al.): ReLU, then two stride-2 1x1
    convolutions, one on the even pixels and one on the grid shifted by one (zero-padded at
    the bottom and right), concatenated (out_channels split between them) -> BN."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        half = out_channels // 2
        self.path1 = nn.Conv2d(in_channels, half, 1, 2, bias=False)
        self.path2 = nn.Conv2d(in_channels, out_channels - half, 1, 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)

    def forward(self, x):
        x = F.relu(x)
        shifted = pad(x, ((0, 0), (0, 0), (0, 1), (0, 1)))[:, :, 1:, 1:]
        return self.bn(concatenate([self.path1(x), self.path2(shifted)], axis=1))


# ----------------------------------------------------------------------------- the cell
class Cell(nn.Module):
    """A cell built from ``spec``. ``in_channels``: channels of h_i; ``prev_channels``:
    channels of h_{i-1}, or None when there is no earlier output (the first stem cell, where
    h_{i-1} is h_i itself, as in the TF code); ``prev_stride``: 2 when h_{i-1} is on a grid
    twice as fine as h_i. ``drop_path``: probability of dropping an op's output."""

    def __init__(self, spec, in_channels, prev_channels, channels, prev_stride=1, drop_path=0.0):
        super().__init__()
        check_spec(spec)
        self.spec, self.channels = spec, channels
        self.preprocess0 = relu_conv_bn(in_channels, channels)
        self.preprocess1, state1_channels = self._adjust(prev_channels, in_channels, channels,
                                                         prev_stride)
        self.ops = nn.ModuleList()
        for block in spec.blocks:
            for state, name in (block[:2], block[2:]):
                stride = 2 if spec.reduction and state < 2 else 1
                source = state1_channels if state == 1 else channels
                self.ops.append(make_op(name, source, channels, stride) or nn.Identity())
        self.drop = StochasticDepth(drop_path)
        self.out_channels = channels * len(spec.concat)

    @staticmethod
    def _adjust(prev_channels, in_channels, channels, prev_stride):
        """The module that brings h_{i-1} to F channels on h_i's grid, and the channels of
        state 1 it leaves."""
        if prev_channels is None:
            return nn.Identity(), in_channels
        if prev_stride == 2:
            return FactorizedReduction(prev_channels, channels), channels
        if prev_channels != channels:
            return relu_conv_bn(prev_channels, channels), channels
        return nn.Identity(), channels

    def forward(self, x, x_prev=None):
        states = [self.preprocess0(x), self.preprocess1(x if x_prev is None else x_prev)]
        for b, block in enumerate(self.spec.blocks):
            total = None
            for k, (state, name) in enumerate((block[:2], block[2:])):
                y = self.ops[2 * b + k](states[state])
                y = y if name == "identity" else self.drop(y)
                total = y if total is None else total + y
            states.append(total)
        return concatenate([states[s] for s in self.spec.concat], axis=1)


# ----------------------------------------------------------------------------- the diagram
OP_COLOURS = {"sep": "#9ecae1", "avg": "#fdd0a2", "max": "#fdae6b", "ide": "#d9d9d9",
              "con": "#a1d99b"}


def _cell_layout(spec):
    """(x, y) of every state's node: states 0 and 1 at the bottom, each block one row
    above the highest state it reads, blocks of a row side by side; and the concat's y."""
    level = {0: 0, 1: 0}
    for b, block in enumerate(spec.blocks):
        level[2 + b] = 1 + max(level[block[0]], level[block[2]])
    position = {1: (-1.6, 0.0), 0: (1.6, 0.0)}
    for row in range(1, max(level.values()) + 1):
        states = [s for s in sorted(level) if s >= 2 and level[s] == row]
        for i, s in enumerate(states):
            position[s] = (3.2 * (i - (len(states) - 1) / 2), 2.2 * row)
    return position, 2.2 * max(level.values()) + 1.8


def _arrow(ax, start, end):
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="->", color="#555555", lw=0.9,
                                shrinkA=9, shrinkB=9))


def _draw_block(ax, spec, b, position):
    """The two op boxes of block b, the arrows into them and the "+" node they feed."""
    x, y = position[2 + b]
    block = spec.blocks[b]
    for side, (state, name) in zip((-0.8, 0.8), (block[:2], block[2:])):
        box = (x + side, y - 1.0)
        stride = " /2" if spec.reduction and state < 2 else ""
        ax.text(*box, name + stride, ha="center", va="center", fontsize=7,
                bbox=dict(boxstyle="round", fc=OP_COLOURS[name[:3]], ec="#555555"))
        _arrow(ax, position[state], box)
        _arrow(ax, box, (x, y))
    ax.text(x, y, "+", ha="center", va="center", fontsize=10,
            bbox=dict(boxstyle="circle", fc="white", ec="#555555"))


def draw_cell(description, path):
    """Draw the cell ``description`` (a CellSpec) as a PNG at ``path``: the inputs h_i and
    h_{i-1} at the bottom, each block's two ops feeding a "+" node, and the concatenation
    of the ``concat`` states at the top. Returns the matplotlib Figure."""
    check_spec(description)
    from matplotlib.figure import Figure  # the object API: no pyplot, no global backend
    position, top = _cell_layout(description)
    width = max(abs(x) for x, _ in position.values()) * 2 + 3.5
    fig = Figure(figsize=(max(5.0, width * 0.75), top * 0.75 + 1.2))
    ax = fig.add_subplot()
    for state, label in ((0, "h_i"), (1, "h_{i-1}")):
        ax.text(*position[state], f"${label}$", ha="center", va="center", fontsize=9,
                bbox=dict(boxstyle="round", fc="white", ec="black"))
    for b in range(len(description.blocks)):
        _draw_block(ax, description, b, position)
    ax.text(0, top, "concat", ha="center", va="center", fontsize=9,
            bbox=dict(boxstyle="round", fc="#fff5b1", ec="black"))
    for state in description.concat:
        _arrow(ax, position[state], (0, top))
    ax.set_xlim(-width / 2, width / 2)
    ax.set_ylim(-0.8, top + 0.8)
    ax.set_title(description.name, fontsize=10)
    ax.axis("off")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


# ----------------------------------------------------------------------------- the network
class NASNetwork(nn.Module):
    """The ImageNet layout shared by NASNet-A and AmoebaNet-A: ``conv0`` (3x3 stride 2,
    ``stem_filters`` maps, no padding) -> BN, two reduction "stem" cells with F/4 and F/2
    filters, then N normal cells, a reduction cell, N normal cells, a reduction cell and N
    normal cells with F, 2F and 4F filters; ReLU, global average pooling, dropout, ``fc``.
    Each cell reads the two outputs before it. Drop-path grows linearly to ``drop_path``
    at the last cell."""

    def __init__(self, normal, reduction, num_classes=1000, in_channels=3, filters=44,
                 repeats=4, stem_filters=32, drop_path=0.0, dropout=0.5):
        super().__init__()
        for name, value in (("filters", filters), ("repeats", repeats),
                            ("stem_filters", stem_filters)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        self.conv0 = nn.Conv2d(in_channels, stem_filters, 3, 2, bias=False)
        self.conv0_bn = nn.BatchNorm2d(stem_filters, eps=1e-3)
        plan = [(reduction, filters // 4), (reduction, filters // 2)]
        for stack in range(3):
            plan += [(reduction, filters * 2 ** stack)] if stack else []
            plan += [(normal, filters * 2 ** stack)] * repeats
        self.cells = nn.ModuleList()
        outputs = [(None, 0), (stem_filters, 1)]  # (channels, grid level) of each output
        for index, (spec, channels) in enumerate(plan):
            (prev, prev_level), (current, level) = outputs[-2], outputs[-1]
            cell = Cell(spec, current, prev, channels, 2 if prev_level < level else 1,
                        drop_path * (index + 1) / len(plan))
            self.cells.append(cell)
            outputs.append((cell.out_channels, level + spec.reduction))
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(outputs[-1][0], num_classes)

    def features(self, x):
        """The last cell's output (before the final ReLU)."""
        outputs = [None, self.conv0_bn(self.conv0(x))]
        for cell in self.cells:
            outputs.append(cell(outputs[-1], outputs[-2]))
            outputs.pop(0)
        return outputs[-1]

    def forward(self, x):
        x = F.adaptive_avg_pool2d(F.relu(self.features(x)), (1, 1)).flatten(1)
        return self.fc(self.dropout(x))


@register(input_size=(3, 224, 224))
def nasnet_a_mobile(num_classes=1000, in_channels=3, filters=44, repeats=4, **kwargs):
    """NASNet-A (4 @ 1056), the mobile ImageNet model: N = 4, F = 44 (1056 = 6 x 4F
    channels at the end); 5,289,978 parameters and 564M multiply-adds at 224 x 224 (paper:
    5.3M, 564M)."""
    return NASNetwork(NASNET_A_NORMAL, NASNET_A_REDUCTION, num_classes, in_channels, filters,
                      repeats, **kwargs)


@register(input_size=(3, 224, 224))
def amoebanet_a_mobile(num_classes=1000, in_channels=3, filters=50, repeats=4, **kwargs):
    """AmoebaNet-A (N = 4, F = 50), the mobile ImageNet model (paper: 5.1M parameters,
    555M multiply-adds at 224 x 224). F/2 = 25 is odd, so the stem's factorized reduction
    splits its 25 channels 12 + 13 (the TF code requires an even count)."""
    return NASNetwork(AMOEBANET_A_NORMAL, AMOEBANET_A_REDUCTION, num_classes, in_channels,
                      filters, repeats, **kwargs)
