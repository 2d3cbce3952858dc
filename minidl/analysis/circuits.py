"""Circuits: reading a trained network's weights as an algorithm (Olah, Cammarata, Schubert,
Goh, Petrov and Carter, "Zoom In: an introduction to circuits", Distill 2020, and the
Circuits thread's articles on weights, branch specialization and equivariance).

* The lab's procedure for one output channel c of a convolution: its multi-channel filter
  W[c] (in, kh, kw) is a sum of small filters W[c, i], one per input channel, each applied to
  the previous layer's activation x_i; the pre-activation is exactly
  y_c = b_c + sum_i (W[c, i] * x_i). The input channels are ranked by weight norm
  ||W[c, i]|| and by their contribution W[c, i] * x_i on data (``channel_circuit``).
* Expanded weights: along a path with no non-linearity, weights compose into one kernel
  (``compose_kernels``), batch norm in eval mode folds into the weights, and a residual
  connection adds the identity (``expanded_weights``). Through a ReLU the result is an
  approximation that treats the ReLU as the identity (exact where the units are active).
* The SVD of |W| between two layers orders the neurons of both (``svd_ordering``).
* Branch specialization (``minidl.analysis.branches``: measured proxies, colour versus grey
  and high versus low spatial frequency, and how concentrated each kind is in one branch)
  and equivariance (``minidl.analysis.equivariance``: units whose responses map onto each
  other under input rotations or hue shifts) are the other two parts of ``run``.
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

import minidl
import minidl.functional as F
from minidl import nn, viz

from . import figures
from .branches import branch_specialization, plot_branches, specialization_numbers
from .common import dataset_arrays, eval_mode, layer_io, parameter_dtype
from .equivariance import equivariance, equivariance_numbers, plot_equivariance

__all__ = ["ChannelCircuit", "Residual", "SVDOrdering", "branching_modules", "channel_circuit",
           "colourfulness", "compose_kernels", "conv_layer", "default_expand_path",
           "expanded_weights", "fold_batch_norm", "input_channel_contributions", "input_source",
           "plot_channel_circuit", "plot_expanded", "plot_rankings", "plot_svd",
           "rank_correlation", "run", "svd_ordering", "weight_magnitudes", "with_residual"]


# ----------------------------------------------------------------------------- one channel
def conv_layer(model, layer):
    """``layer`` (a module or dotted name) as an ``nn.Conv2d`` with groups = 1."""
    module = viz.get_module(model, layer)
    if not isinstance(module, nn.Conv2d):
        raise TypeError(f"layer {layer!r} is a {type(module).__name__}, not an nn.Conv2d")
    if module.groups != 1:
        raise ValueError(f"layer {layer!r} has groups={module.groups}; the circuit analysis "
                         "reads every input channel of a filter, so it needs groups=1")
    return module


def input_channel_contributions(conv, inputs, channel):
    """The contribution of each input channel i to output channel c of ``conv``, for its
    inputs x (N, in, H, W): W[c, i] * x_i, (N, in, H', W'), whose sum over i plus the bias b_c
    is the layer's output channel c (the convolution is linear in x and sums over i). Computed
    as a grouped convolution of x with the filter's slices, one per group."""
    weight = conv.weight.numpy()[channel][:, None]
    with minidl.no_grad():
        x = minidl.tensor(np.asarray(inputs, dtype=weight.dtype))
        return F.conv2d(x, minidl.tensor(weight), None, conv.stride, conv.padding, conv.dilation,
                        groups=weight.shape[0]).numpy()


@dataclasses.dataclass
class ChannelCircuit:
    """One output channel's circuit: its filter slices W[c, i] (in, kh, kw); per input channel
    the weight norm ||W[c, i]||, the mean contribution and the mean |contribution| over the
    images and positions (see ``input_channel_contributions``); the input channels ordered by
    weight norm and by mean |contribution| (largest first)."""
    layer: str
    channel: int
    weight: np.ndarray
    weight_norms: np.ndarray
    contributions: np.ndarray
    abs_contributions: np.ndarray
    by_weight: np.ndarray
    by_contribution: np.ndarray


def channel_circuit(model, layer, images, channel):
    """The ``ChannelCircuit`` of ``channel`` of the convolution ``layer`` on ``images``
    (N, C, H, W); the layer's inputs are read by a forward hook."""
    conv = conv_layer(model, layer)
    if not 0 <= channel < conv.out_channels:
        raise ValueError(f"channel must be in [0, {conv.out_channels}), got {channel}")
    inputs = layer_io(model, conv, images, which="input")
    parts = input_channel_contributions(conv, inputs, channel)
    weight = conv.weight.numpy()[channel]
    norms = np.sqrt((weight.reshape(len(weight), -1) ** 2).sum(axis=1))
    mean_abs = np.abs(parts).mean(axis=(0, 2, 3))
    return ChannelCircuit(str(layer), int(channel), weight, norms, parts.mean(axis=(0, 2, 3)),
                          mean_abs, np.argsort(-norms, kind="stable"),
                          np.argsort(-mean_abs, kind="stable"))


def input_source(model, layer, input_shape):
    """The name of the module whose output ``layer`` reads (found by running one blank image
    of ``input_shape`` (C, H, W) with forward hooks): where the layer's input channels can be
    visualised and their dataset examples found. A ValueError if no module's output is the
    layer's input (it is then computed outside a module, e.g. by a concatenation)."""
    target = viz.get_module(model, layer)
    produced, read = [], []   # the outputs are kept, so no tensor's identity is reused

    def producer(name):
        def hook(module, inputs, output):   # returns None: the output is left as it is
            produced.append((name, output))
        return hook

    hooks = [module.register_forward_hook(producer(name))
             for name, module in model.named_modules() if name and module is not target]
    hooks.append(target.register_forward_hook(lambda m, inputs, output: read.append(inputs[0])))
    try:
        with eval_mode(model), minidl.no_grad():
            model(minidl.zeros(1, *input_shape, dtype=parameter_dtype(model)))
    finally:
        for hook in hooks:
            hook.remove()
    for name, output in produced:
        if read and output is read[0]:
            return name
    raise ValueError(f"no module of the model outputs what layer {layer!r} reads")


# ----------------------------------------------------------------------------- expanded weights
def _as_kernel(weight):
    weight = np.asarray(weight, dtype=np.float64)
    return weight if weight.ndim == 4 else weight[:, :, None, None]


def compose_kernels(first, second, first_stride=1):
    """The expanded weight of two linear layers applied one after the other: ``first``
    (m, i, k1h, k1w) then ``second`` (o, m, k2h, k2w); 2-D (Linear) weights count as 1x1.

    For convolutions (cross-correlations) with strides s1, s2 and no padding,
    y_o(p) = sum_m sum_q W2[o, m, q] h_m(s2 p + q) and h_m(r) = sum_i sum_t W1[m, i, t]
    x_i(s1 r + t), so y_o(p) = sum_i sum_u E[o, i, u] x_i(s1 s2 p + u) with
    E[o, i, s1 q + t] = sum_m W2[o, m, q] W1[m, i, t]: a kernel of size k1 + s1 (k2 - 1),
    applied with stride s1 s2 and padding p1 + s1 p2 (exact away from the borders). For 1x1
    kernels and Linear layers E is the matrix product W2 W1 (returned 2-D if both were).
    """
    a, b = _as_kernel(first), _as_kernel(second)
    if a.shape[0] != b.shape[1]:
        raise ValueError(f"the second layer reads {b.shape[1]} channels but the first has "
                         f"{a.shape[0]} outputs")
    s = int(first_stride)
    expanded = np.zeros((b.shape[0], a.shape[1], a.shape[2] + s * (b.shape[2] - 1),
                         a.shape[3] + s * (b.shape[3] - 1)))
    for qy in range(b.shape[2]):
        for qx in range(b.shape[3]):
            expanded[:, :, s * qy:s * qy + a.shape[2], s * qx:s * qx + a.shape[3]] += np.einsum(
                "om,mihw->oihw", b[:, :, qy, qx], a)
    both_flat = np.ndim(first) == 2 and np.ndim(second) == 2
    return expanded[:, :, 0, 0] if both_flat else expanded


def fold_batch_norm(weight, batch_norm):
    """The weight of a layer followed by ``batch_norm`` in eval mode, which maps channel o to
    gamma_o (y_o - mean_o) / sqrt(var_o + eps) + beta_o: row o scaled by
    gamma_o / sqrt(var_o + eps) (the shift only changes the bias)."""
    if batch_norm.running_var is None:
        raise ValueError("fold_batch_norm needs running statistics (track_running_stats=True)")
    scale = 1 / np.sqrt(batch_norm.running_var.numpy().astype(np.float64) + batch_norm.eps)
    if batch_norm.weight is not None:
        scale = scale * batch_norm.weight.numpy()
    weight = np.asarray(weight, dtype=np.float64)
    if len(weight) != len(scale):
        raise ValueError(f"batch norm of {len(scale)} channels after a layer of {len(weight)}")
    return weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))


def with_residual(weight):
    """The expanded weight of x -> x + f(x) from f's (o, o, kh, kw), odd kh and kw, 'same'
    padded: the identity added at the centre tap (a 2-D weight gets the identity matrix)."""
    weight = np.array(weight, dtype=np.float64)
    if weight.shape[0] != weight.shape[1]:
        raise ValueError(f"a residual connection needs as many outputs as inputs, got {weight.shape}")
    if weight.ndim == 2:
        return weight + np.eye(len(weight))
    if weight.shape[2] % 2 == 0 or weight.shape[3] % 2 == 0:
        raise ValueError(f"the identity needs an odd kernel to sit at its centre, got {weight.shape}")
    weight[np.arange(len(weight)), np.arange(len(weight)), weight.shape[2] // 2,
           weight.shape[3] // 2] += 1.0
    return weight


class Residual(NamedTuple):
    """A residual block in an ``expanded_weights`` path: ``path`` lists the layers of its
    branch f, and the block maps x to x + f(x) (an identity shortcut)."""
    path: list


def _expand(model, path):
    """(expanded weight, total stride) of a path; see ``expanded_weights``."""
    expanded, stride = None, 1
    for entry in path:
        if isinstance(entry, Residual):
            branch, branch_stride = _expand(model, entry.path)
            if branch_stride != 1:
                raise ValueError("a residual branch with an identity shortcut must keep the "
                                 f"resolution; this one has stride {branch_stride}")
            weight, step = with_residual(branch), 1
        else:
            module = viz.get_module(model, entry)
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                if expanded is None:
                    raise ValueError(f"path entry {entry!r}: a batch norm must follow a layer")
                expanded = fold_batch_norm(expanded, module)
                continue
            if isinstance(module, nn.Conv2d):
                weight, step = conv_layer(model, entry).weight.numpy(), int(module.stride[0])
            elif isinstance(module, nn.Linear):
                weight, step = module.weight.numpy(), 1
            else:
                raise TypeError(f"path entry {entry!r} is a {type(module).__name__}; a path holds "
                                "Conv2d, Linear and BatchNorm layers and Residual blocks")
        expanded = weight if expanded is None else compose_kernels(expanded, weight, stride)
        stride *= step
    return expanded, stride


def expanded_weights(model, path):
    """The expanded weight (out, in, kh, kw) (or (out, in) for Linear layers only) from the
    input of the first layer of ``path`` to the output of its last: ``path`` lists, in order,
    Conv2d and Linear layers (names or modules), BatchNorm layers (folded into the layer
    before them, eval mode) and ``Residual`` blocks. Whatever lies between them (ReLUs) is
    treated as the identity: an approximation, exact where those units are active."""
    return _expand(model, list(path))[0]


# ----------------------------------------------------------------------------- SVD of |W|
def weight_magnitudes(weight):
    """|W| between two layers as a matrix (in, out): entry (i, o) is sum over the taps of
    |W[o, i]|, the strength of the connection from neuron i of layer L to neuron o of L+1."""
    weight = np.abs(np.asarray(weight, dtype=np.float64))
    return (weight.sum(axis=(2, 3)) if weight.ndim == 4 else weight).T


@dataclasses.dataclass
class SVDOrdering:
    """|W| = U S V^T with u_1, v_1 made non-negative in sum; every neuron's angle in the plane
    of the first two singular vectors (atan2(u_2, u_1) for layer L's neurons, the rows;
    atan2(v_2, v_1) for layer L+1's, the columns); the neurons ordered by those angles."""
    u: np.ndarray
    s: np.ndarray
    vt: np.ndarray
    input_angle: np.ndarray
    output_angle: np.ndarray
    input_order: np.ndarray
    output_order: np.ndarray


def svd_ordering(matrix):
    """``SVDOrdering`` of a non-negative matrix (in, out) such as ``weight_magnitudes``.

    For a positive matrix u_1 and v_1 are positive (Perron-Frobenius): how strongly each
    neuron is connected. u_2 and v_2 hold the main contrast after it (in the lectures, colour
    against black-and-white neurons), and the angle atan2(u_2, u_1) places a neuron on that
    contrast whatever its strength. Neurons of two disconnected blocks lie on two rays of
    that plane, so the order keeps each block together."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or min(matrix.shape) < 2:
        raise ValueError(f"expected a matrix of at least 2 x 2, got shape {matrix.shape}")
    u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    sign = np.where(u[:, 0].sum() < 0, -1.0, 1.0)
    u[:, 0], vt[0] = sign * u[:, 0], sign * vt[0]
    input_angle = np.arctan2(u[:, 1], u[:, 0])
    output_angle = np.arctan2(vt[1], vt[0])
    return SVDOrdering(u, s, vt, input_angle, output_angle, np.argsort(input_angle, kind="stable"),
                       np.argsort(output_angle, kind="stable"))


def colourfulness(weight):
    """For RGB filters (out, 3, kh, kw): the share of each filter's energy off the grey axis,
    ||W - grey(W)||^2 / ||W||^2 with grey(W) the mean over the three channels (0 for a
    black-and-white filter, up to 2/3 for one that sees a single colour channel)."""
    weight = np.asarray(weight, dtype=np.float64)
    grey = weight.mean(axis=1, keepdims=True)
    total = (weight ** 2).sum(axis=(1, 2, 3))
    return ((weight - grey) ** 2).sum(axis=(1, 2, 3)) / np.where(total > 0, total, 1)


def rank_correlation(x, y):
    """Spearman's rank correlation of two samples (ranks by sorting; ties broken by order)."""
    rx = np.argsort(np.argsort(x, kind="stable")).astype(np.float64)
    ry = np.argsort(np.argsort(y, kind="stable")).astype(np.float64)
    return float(np.corrcoef(rx, ry)[0, 1])


# ----------------------------------------------------------------------------- figures
def _feature(model, layer, channel, shape, steps):
    """A feature visualization of one channel (from grey, with jitter and blur)."""
    return viz.feature_visualization(model, viz.get_module(model, layer), int(channel), shape,
                                     steps=steps, init=0.5, init_std=0.1, jitter=2,
                                     blur_every=4, l2=1e-3)[0]


def _examples(model, layer, images, channel, count):
    """The ``count`` strongest dataset patches of a channel, or [] when the layer's receptive
    field cannot be traced (branches before it)."""
    try:
        return list(viz.top_patches(model, viz.get_module(model, layer), images, int(channel),
                                    k=count).patches)
    except ValueError:
        return []


def plot_channel_circuit(model, circuit, source, images, shape, top=4, steps=100, examples=3):
    """The lab's figure: the output channel's feature visualization and dataset examples on
    top; below, for its ``top`` input channels by contribution, the weight slice W[c, i]
    (positive red, negative blue, one scale for all slices), the input channel's feature
    visualization at ``source`` and its dataset examples."""
    inputs = circuit.by_contribution[:top]
    fig, axes = figures.subplots(1 + len(inputs), 2 + examples, size=(1.5, 1.6))
    for ax in axes.ravel():
        ax.axis("off")
    rows = [(None, circuit.layer, circuit.channel)] + [(i, source, i) for i in inputs]
    limit = float(np.abs(circuit.weight[inputs]).max())
    for row, (slice_of, layer, channel) in zip(axes, rows):
        if slice_of is None:
            row[0].text(0.5, 0.5, f"{layer}\nchannel {channel}", ha="center", va="center",
                        fontsize=8)
        else:
            row[0].axis("on")
            figures.signed_tiles(row[0], circuit.weight[slice_of], f"W[{circuit.channel}, {slice_of}] "
                                 f"|c|={circuit.abs_contributions[slice_of]:.2g}", limit)
        panels = [_feature(model, layer, channel, shape, steps)]
        panels += _examples(model, layer, images, channel, examples)
        for k, image in enumerate(panels):
            row[1 + k].axis("on")
            viz.plot.show(row[1 + k], image, "feature vis" if k == 0 else f"example {k}")
    fig.suptitle(f"{circuit.layer} channel {circuit.channel}: its top input channels "
                 f"(from {source})", fontsize=9)
    fig.tight_layout()
    return fig


def plot_rankings(circuit):
    """Every input channel's weight norm and mean |contribution|, both scaled to their
    largest, in the order of the contribution ranking; bars coloured by the sign of the
    mean contribution."""
    order = circuit.by_contribution
    fig, axes = figures.subplots(1, 1, size=(max(4.0, 0.18 * len(order)), 2.6))
    ax, x = axes[0, 0], np.arange(len(order))
    colours = np.where(circuit.contributions[order] >= 0, "tab:red", "tab:blue")
    ax.bar(x, circuit.abs_contributions[order] / circuit.abs_contributions.max(), color=colours,
           label="mean |contribution| (red: excites on average, blue: inhibits)")
    ax.plot(x, circuit.weight_norms[order] / circuit.weight_norms.max(), "ko", markersize=3,
            label="weight norm ||W[c, i]||")
    ax.set_xticks(x)
    ax.set_xticklabels([str(i) for i in order], fontsize=6)
    ax.set(xlabel="input channel", ylabel="relative to the largest",
           title=f"{circuit.layer} channel {circuit.channel}: input channels ranked "
                 f"(Spearman {rank_correlation(circuit.weight_norms, circuit.abs_contributions):.2f})")
    ax.title.set_fontsize(8)
    ax.legend(fontsize=6)
    fig.tight_layout()
    return fig


def plot_expanded(weight, title, units=4, inputs=6):
    """For the ``units`` output units with the largest expanded weights, their ``inputs``
    strongest input channels' expanded kernels (positive red, negative blue)."""
    norms = np.sqrt((weight ** 2).sum(axis=(2, 3)))
    outputs = np.argsort(-norms.sum(axis=1))[:units]
    fig, axes = figures.subplots(len(outputs), inputs, size=(1.2, 1.3))
    for row, unit in zip(axes, outputs):
        strongest = np.argsort(-norms[unit])[:inputs]
        for ax, channel in zip(row, strongest):
            figures.signed_tiles(ax, weight[unit, channel], f"{unit} <- {channel}")
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    return fig


def plot_svd(matrix, ordering, first_filters=None, labels=("layer L", "layer L+1")):
    """|W| with both layers' neurons in the SVD order, the neurons' angles, and (for an RGB
    first layer) its filters in that order."""
    fig, axes = figures.subplots(1, 3 if first_filters is not None else 2, size=(3.4, 3.0))
    figures.heatmap(axes[0, 0], matrix[np.ix_(ordering.input_order, ordering.output_order)],
                    "|W| in SVD order", cmap="magma", xlabel=f"{labels[1]} neuron (ordered)",
                    ylabel=f"{labels[0]} neuron (ordered)")
    axes[0, 1].plot(np.sort(ordering.input_angle), "o-", markersize=3, label=labels[0])
    axes[0, 1].plot(np.sort(ordering.output_angle), "s-", markersize=3, label=labels[1])
    axes[0, 1].set(xlabel="neuron (ordered)", ylabel="atan2(2nd, 1st singular vector)",
                   title=f"singular values {ordering.s[0]:.2g}, {ordering.s[1]:.2g}, ...")
    axes[0, 1].title.set_fontsize(8)
    axes[0, 1].legend(fontsize=7)
    if first_filters is not None:
        tiles = first_filters[ordering.input_order]
        peak = np.abs(tiles).max(axis=(1, 2, 3), keepdims=True)
        grid = viz.plot.mosaic(0.5 + tiles / (2 * np.where(peak > 0, peak, 1)),
                               ncols=int(np.ceil(np.sqrt(len(tiles)))))
        axes[0, 2].imshow(np.moveaxis(grid, 0, -1), interpolation="nearest")
        axes[0, 2].set_title(f"{labels[0]} filters in SVD order (row by row)", fontsize=8)
        axes[0, 2].axis("off")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- entry point
def branching_modules(model):
    """Names of the modules whose children are all called "branch..." (two or more), such as
    the Inception modules of ``minidl.models.googlenet``."""
    found = []
    for name, module in model.named_modules():
        children = [child for child, _ in module.named_children()]
        if len(children) >= 2 and all(child.startswith("branch") for child in children):
            found.append(name)
    return found


def default_expand_path(model):
    """The conv and batch-norm layers of the first branch of the first branching module
    that is an ``nn.Sequential`` with two or more convolutions (in a Sequential, module order
    is the data flow): for an Inception module, the 1x1 bottleneck and the 3x3 after it.
    None if the model has no such branch."""
    for parent in branching_modules(model):
        for child, branch in viz.get_module(model, parent).named_children():
            layers = [f"{parent}.{child}.{name}" for name, module in branch.named_modules()
                      if isinstance(module, (nn.Conv2d, nn.BatchNorm2d))]
            convs = [m for m in branch.modules() if isinstance(m, nn.Conv2d)]
            if isinstance(branch, nn.Sequential) and len(convs) >= 2:
                return layers
    return None


def _lab(model, images, layer, channel, top, steps, out_dir):
    """The lab's procedure on one channel: numbers and two figures."""
    shape = images.shape[1:]
    if channel is None:
        channel = int(layer_io(model, layer, images).mean(axis=(0, 2, 3)).argmax())
    circuit = channel_circuit(model, layer, images, channel)
    source = input_source(model, layer, shape)
    files = [figures.save_figure(plot_channel_circuit(model, circuit, source, images, shape, top,
                                                      steps), out_dir, "circuits-channel.png"),
             figures.save_figure(plot_rankings(circuit), out_dir, "circuits-ranking.png")]
    numbers = {"layer": circuit.layer, "channel": circuit.channel, "input_source": source,
               "by_weight": circuit.by_weight, "by_contribution": circuit.by_contribution,
               "weight_norms": circuit.weight_norms, "mean_contributions": circuit.contributions,
               "mean_abs_contributions": circuit.abs_contributions,
               "rank_correlation": rank_correlation(circuit.weight_norms, circuit.abs_contributions)}
    return numbers, files


def _expanded(model, path, out_dir):
    weight = expanded_weights(model, path)
    norms = np.sqrt((weight ** 2).sum(axis=(2, 3)))
    title = f"expanded weights {path[0]} -> {path[-1]} (ReLUs taken as identity)"
    files = [figures.save_figure(plot_expanded(weight, title), out_dir, "circuits-expanded.png")]
    strongest = np.dstack(np.unravel_index(np.argsort(-norms, axis=None)[:10], norms.shape))[0]
    return {"path": list(path), "shape": weight.shape,
            "strongest": [{"output": int(o), "input": int(i), "norm": float(norms[o, i])}
                          for o, i in strongest]}, files


def _svd(model, layer, out_dir):
    matrix = weight_magnitudes(conv_layer(model, layer).weight.numpy())
    ordering = svd_ordering(matrix)
    first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    rgb = first.weight.shape[1] == 3 and first.weight.shape[0] == matrix.shape[0] \
        and first is not conv_layer(model, layer)
    filters = first.weight.numpy() if rgb else None
    files = [figures.save_figure(plot_svd(matrix, ordering, filters), out_dir, "circuits-svd.png")]
    numbers = {"layer": str(layer), "singular_values": ordering.s,
               "input_order": ordering.input_order, "output_order": ordering.output_order}
    if rgb:
        numbers["colourfulness_vs_angle_rank_correlation"] = rank_correlation(
            ordering.input_angle, colourfulness(filters))
    return numbers, files


def _branches(model, modules, images, out_dir):
    results = [branch_specialization(model, name, images) for name in modules]
    files = [figures.save_figure(plot_branches(results), out_dir, "circuits-branches.png")]
    return {result.module: specialization_numbers(result) for result in results}, files


def _equivariance(model, layer, images, steps, out_dir):
    numbers, files = {}, []
    for kind in ("rotate", "hue") if images.shape[1] == 3 else ("rotate",):
        result = equivariance(model, layer, images, kind)
        numbers[kind] = equivariance_numbers(result)
        files.append(figures.save_figure(plot_equivariance(model, result, images.shape[1:],
                                                           units=2, steps=steps),
                                         out_dir, f"circuits-equivariance-{kind}.png"))
    return numbers, files


def run(model, dataset, out_dir, quick=False, layer=None, channel=None, expand_path=None,
        svd_layer=None, branch_modules=None, equivariance_layer=None, images=None, top=4,
        steps=None):
    """The circuit analyses of one trained ``model`` on ``dataset``'s first ``images`` images
    (500; 64 with ``quick``), feature visualizations of ``steps`` steps (100; 2 with quick):

    the lab's procedure on ``channel`` (default: the most active) of the convolution ``layer``
    (default: the second) with its ``top`` input channels; expanded weights along
    ``expand_path`` (default: ``default_expand_path``, skipped if None); the SVD of |W| of
    ``svd_layer`` (default: ``layer``); branch specialization of ``branch_modules`` (default:
    ``branching_modules``); equivariance under rotations and hue shifts at
    ``equivariance_layer`` (default: ``layer``). Writes circuits-*.png and circuits.json into
    ``out_dir``; returns the numbers."""
    pictures, _ = dataset_arrays(dataset, limit=images or (64 if quick else 500))
    steps = steps or (2 if quick else 100)
    convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    layer = layer or convs[min(1, len(convs) - 1)]
    numbers, files = {}, []
    numbers["channel"], new = _lab(model, pictures, layer, channel, top, steps, out_dir)
    files += new
    expand_path = expand_path or default_expand_path(model)
    if expand_path:
        numbers["expanded"], new = _expanded(model, expand_path, out_dir)
        files += new
    numbers["svd"], new = _svd(model, svd_layer or layer, out_dir)
    files += new
    modules = branching_modules(model) if branch_modules is None else branch_modules
    if modules:
        numbers["branches"], new = _branches(model, modules, pictures, out_dir)
        files += new
    numbers["equivariance"], new = _equivariance(model, equivariance_layer or layer, pictures,
                                                 steps, out_dir)
    numbers["figures"] = files + new
    numbers["images"] = len(pictures)
    figures.write_json(numbers, out_dir, "circuits.json")
    return figures.jsonable(numbers)
