"""Looking at the network itself: its filters, its activation maps, the receptive field of a
unit, and the dataset patches that excite a unit most (Zeiler & Fergus, "Visualizing and
understanding convolutional networks", ECCV 2014).

Everything reads the model through the public API: parameters, forward hooks and
``minidl.grad``. Boxes are (x0, y0, x1, y1) with exclusive ends, as ``Shapes.boxes``, so
``image[:, y0:y1, x0:x1]`` is the patch.
"""
from __future__ import annotations

import contextlib
import math
from typing import NamedTuple

import numpy as np

import minidl
from minidl import nn
from minidl.data import ArrayDataset, DataLoader

from ..geometry import pair
from . import plot
from ._util import capture, get_module, model_dtype

__all__ = ["ReceptiveField", "TopPatches", "activation_maps", "conv_filters", "filter_grid",
           "plot_activation_maps", "plot_filters", "plot_receptive_field", "plot_top_patches",
           "receptive_field", "top_patches"]


# ---------------------------------------------------------------------------------- data
def image_batches(data, batch_size=64):
    """(images, labels or None) NumPy batches from a DataLoader (iterated as it is), a dataset
    (read in order) or an array of images (N, C, H, W)."""
    if isinstance(data, (np.ndarray, minidl.Tensor)):
        data = ArrayDataset(data)
    if not isinstance(data, DataLoader):
        data = DataLoader(data, batch_size=batch_size, seed=0)
    for batch in data:
        if isinstance(batch, (tuple, list)):
            images, labels = batch[0], (batch[1] if len(batch) > 1 else None)
        else:
            images, labels = batch, None
        yield np.asarray(images), (None if labels is None else np.asarray(labels))


def layer_output(model, layer, images):
    """The output of ``layer`` for a batch of images (N, C, H, W), as a NumPy array, read by a
    forward hook under ``no_grad``."""
    module = get_module(model, layer)
    with minidl.no_grad(), capture(module) as seen:
        model(minidl.tensor(np.asarray(images).astype(model_dtype(model))))
    return seen[-1].numpy()


# ---------------------------------------------------------------------------------- filters
def _conv_weight(model, layer):
    module = get_module(model, layer)
    if not isinstance(module, nn.Conv2d):
        raise TypeError(f"expected an nn.Conv2d layer, got {type(module).__name__}")
    return module.weight.numpy()


def _channel_mode(weight, channels):
    if channels == "auto":
        return "rgb" if weight.shape[1] == 3 else "each"
    if channels not in ("rgb", "each", "mean"):
        raise ValueError(f"channels must be 'auto', 'rgb', 'each' or 'mean', got {channels!r}")
    if channels == "rgb" and weight.shape[1] != 3:
        raise ValueError(f"channels='rgb' needs 3 input channels per group, the layer has "
                         f"{weight.shape[1]}")
    return channels


def _tiles(weight, mode):
    if mode == "rgb":
        return weight
    if mode == "mean":
        return weight.mean(axis=1, keepdims=True)
    return weight.reshape(-1, 1, *weight.shape[2:])


def conv_filters(model, layer, channels="auto"):
    """The kernels of a convolution layer as tiles (n, c, kh, kw), c = 1 (grey) or 3 (colour).

    The weight W has shape (out, in/groups, kh, kw). ``channels`` picks the tiles:
    "rgb": W itself, one colour tile per output channel (the way the first layer of an RGB
    network is shown, Krizhevsky et al. 2012, Fig. 3); needs in/groups = 3;
    "each": one grey tile per (output, input) channel pair, output-major, n = out * in/groups;
    "mean": one grey tile per output channel, W averaged over its input channels;
    "auto": "rgb" when the layer reads 3 channels per group, otherwise "each".
    """
    weight = _conv_weight(model, layer)
    return _tiles(weight, _channel_mode(weight, channels))


def filter_grid(model, layer, channels="auto", ncols=None, pad=1):
    """The filters of a convolution as one image (c, H, W) in [0, 1] (see ``conv_filters``).

    Each tile is scaled by its own largest |w|: 0.5 + w / (2 max|w|), so a zero weight is
    mid-grey, positive weights bright and negative ones dark. Tiles are ``pad`` white
    pixels apart, ``ncols`` per row (default: one row per output channel for "each",
    otherwise a near-square grid).
    """
    weight = _conv_weight(model, layer)
    mode = _channel_mode(weight, channels)
    tiles = _tiles(weight, mode)
    peak = np.abs(tiles).max(axis=(1, 2, 3), keepdims=True)
    scaled = 0.5 + tiles / (2 * np.where(peak > 0, peak, 1))
    if ncols is None:
        ncols = weight.shape[1] if mode == "each" else math.ceil(math.sqrt(len(tiles)))
    return plot.mosaic(scaled, ncols, pad, fill=1.0)


def plot_filters(grid, title=None, size=4.0):
    """Figure of a ``filter_grid`` image (shown as it is: values in [0, 1])."""
    plt = plot.pyplot()
    height, width = grid.shape[1:]
    fig, ax = plt.subplots(figsize=(size, size * height / width + 0.3))
    shown = grid[0] if grid.shape[0] == 1 else np.moveaxis(grid, 0, -1)
    ax.imshow(shown, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------- activations
def activation_maps(model, layer, image):
    """The output of ``layer`` for one image (C, H, W): (C', H', W') for a convolutional layer,
    read by a forward hook under ``no_grad`` (the model's output is not changed and the hook is
    removed afterwards)."""
    return layer_output(model, layer, np.asarray(image)[None])[0]


def plot_activation_maps(maps, ncols=8, limit=64, title=None):
    """Grid of the first ``limit`` activation maps (C, H, W), each scaled to its own range."""
    maps = np.asarray(maps)[:limit]
    return plot.image_grid(list(maps), [str(c) for c in range(len(maps))], ncols=ncols,
                           cmap="viridis", suptitle=title)


# ---------------------------------------------------------------------------------- receptive field
class ReceptiveField:
    """The receptive field of the units of one layer, found by ``receptive_field``.

    size r, jump j and start, per axis as (height, width), are the standard receptive field
    arithmetic (see ``_compose``): r input pixels per unit, j input pixels between
    neighbouring units, and the input coordinate of the centre of unit (0, 0) (negative when
    padding puts it outside the image). ``windows`` holds each layer's window, input_size
    and output_size the image's and the layer's (H, W).
    """

    def __init__(self, windows, input_size, output_size):
        self.windows = windows
        self.input_size, self.output_size = tuple(input_size), tuple(output_size)
        size, jump, start = _compose(windows)
        self.size, self.jump = tuple(int(v) for v in size), tuple(int(v) for v in jump)
        self.start = tuple(float(v) for v in start)

    def __repr__(self):
        return (f"ReceptiveField(size={self.size}, jump={self.jump}, start={self.start}, "
                f"input_size={self.input_size}, output_size={self.output_size})")

    def box(self, y, x, clip=True):
        """The input box (x0, y0, x1, y1), ends exclusive, that unit (y, x) sees.

        The unit is followed back layer by layer: units [a, b] of a layer's output read its
        input [a s - p, b s - p + d (k - 1)]. Without ``clip`` that is the arithmetic's window,
        r pixels from start - (r - 1)/2 + unit j. With ``clip`` the span is cut to each layer's
        input as it goes, so padding, and the last rows a floor-mode layer drops, are not
        seen. The box bounds the field: with dilation, or strides larger than kernels, the
        pixels inside that reach the unit may leave holes.
        """
        if not (0 <= y < self.output_size[0] and 0 <= x < self.output_size[1]):
            raise IndexError(f"unit ({y}, {x}) is outside the layer's output {self.output_size}")
        low = high = np.array([y, x], dtype=np.int64)
        for window in reversed(self.windows):
            low = low * window.stride - window.padding
            high = high * window.stride - window.padding + window.dilation * (window.kernel - 1)
            if clip:
                low, high = np.maximum(low, 0), np.minimum(high, window.input_size - 1)
        return np.array([low[1], low[0], high[1] + 1, high[0] + 1], dtype=np.int64)

    def crop(self, image, y, x):
        """The r_h x r_w window of ``image`` (C, H, W) around unit (y, x), with the pixels the
        unit does not see (outside ``box(y, x)``: padding, dropped rows) set to 0, so every patch has the
        receptive field's size."""
        x0, y0, _, _ = self.box(y, x, clip=False)
        cx0, cy0, cx1, cy1 = self.box(y, x)
        patch = np.zeros((image.shape[0], *self.size), dtype=image.dtype)
        patch[:, cy0 - y0:cy1 - y0, cx0 - x0:cx1 - x0] = image[:, cy0:cy1, cx0:cx1]
        return patch


class _Window(NamedTuple):
    """One layer's sliding window as (height, width) pairs: kernel, stride, top/left padding,
    dilation, and the layer's input size."""
    kernel: np.ndarray
    stride: np.ndarray
    padding: np.ndarray
    dilation: np.ndarray
    input_size: np.ndarray


class _Step(NamedTuple):
    """One call of a leaf module in the traced forward pass."""
    module: object
    name: str
    input: object
    output: object


class _Stop(Exception):
    """Raised by a hook to end the traced forward pass once the target layer has run."""


def _pair_array(value):
    """An int or an (h, w) pair as an int64 array of 2."""
    return np.array(pair(value), dtype=np.int64)


@contextlib.contextmanager
def _eval_mode(model):
    """Eval mode inside the block (no batch statistics updated, no dropout drawn), then every
    module's own flag back."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, flag in flags:
            module.training = flag


def _trace(model, target, input_shape):
    """Run one blank image (1, *input_shape) through the model, in eval mode with gradients
    on, until ``target`` has run. Every leaf module's output is replaced (by a forward hook)
    with a fresh leaf tensor of the same values, cutting the graph there: the gradient of a
    later tensor then says which layer outputs it is computed from.

    Returns (the input x, the leaf calls as ``_Step``s in forward order, target's output).
    """
    names = {id(module): name for name, module in model.named_modules()}
    x = minidl.zeros(1, *input_shape, dtype=model_dtype(model), requires_grad=True)
    steps, seen = [], []

    def cut(module, inputs, output):
        if not isinstance(output, minidl.Tensor):
            raise TypeError(f"receptive_field: layer {names[id(module)]!r} returns a "
                            f"{type(output).__name__}, not a tensor")
        leaf = output.detach().requires_grad_()
        steps.append(_Step(module, names[id(module)], inputs[0] if inputs else None, leaf))
        return leaf

    def stop(module, inputs, output):
        seen.append(output)
        raise _Stop

    leaves = [m for m in model.modules() if next(m.children(), None) is None]
    handles = [m.register_forward_hook(cut) for m in leaves]
    handles.append(target.register_forward_hook(stop))
    try:
        with _eval_mode(model), minidl.enable_grad():
            model(x)
    except _Stop:
        pass
    finally:
        for handle in handles:
            handle.remove()
    if not seen:
        raise ValueError(f"layer {names.get(id(target), target)!r} is not called by the "
                         "model's forward")
    return x, steps, seen[0]


def _sources_of(tensor, sources):
    """Indices of the ``sources`` (graph leaves) that ``tensor`` is computed from."""
    if not isinstance(tensor, minidl.Tensor) or not tensor.requires_grad:
        return []
    grads = minidl.grad(tensor.sum(), sources, retain_graph=True, allow_unused=True)
    return [i for i, g in enumerate(grads) if g is not None]


def _check_chain(x, steps, output):
    """The walk is unambiguous when every leaf reads only the previous leaf's output (the
    first leaf: the image), at the same shape (so only pointwise functions, such as
    ``F.relu``, may sit between layers), and the layer's output is the last leaf's."""
    sources = [x] + [step.output for step in steps]
    readers = [(step.name, step.input) for step in steps]
    if not steps or output is not steps[-1].output:
        readers.append(("the layer's output", output))
    names = ["the input"] + [step.name for step in steps]
    for k, (name, tensor) in enumerate(readers):
        used = _sources_of(tensor, sources[:k + 1])
        if used != [k] or tensor.shape != sources[k].shape:
            raise ValueError(
                f"receptive_field: the walk is ambiguous at {name}: it is computed from "
                f"{[names[i] for i in used] or 'none of the layers'} (shape "
                f"{getattr(tensor, 'shape', None)}), not from {names[k]} alone (shape "
                f"{sources[k].shape}); branches, skip connections or resizing between layers. "
                "Pass path=[...], the layers from the input to the unit's layer.")


def _leading_padding(padding, kernel, dilation):
    """Top/left padding: an int or pair, "valid" (0) or "same" (d(k-1)//2, as F.conv2d)."""
    if padding == "valid":
        return np.zeros(2, dtype=np.int64)
    if padding == "same":
        return dilation * (kernel - 1) // 2
    return _pair_array(padding)


def _window(step):
    """The ``_Window`` of one traced layer, from its attributes.

    Layers with a ``kernel_size`` (convolutions, pooling, locally connected) give theirs;
    adaptive pooling from H to H/n is a window n, stride n; a layer that keeps the spatial
    size and has no kernel is pointwise (activations, normalisation, dropout): window 1."""
    module, in_shape, out_shape = step.module, step.input.shape, step.output.shape
    if isinstance(module, (nn.ConvTranspose2d, nn.MaxUnpool2d)) or len(in_shape) != 4 \
            or len(out_shape) != 4:
        raise ValueError(f"receptive_field: layer {step.name!r} ({type(module).__name__}, "
                         f"{tuple(in_shape)} -> {tuple(out_shape)}) is not a 2-D sliding window")
    size_in, size_out = np.array(in_shape[2:]), np.array(out_shape[2:])
    one = np.ones(2, dtype=np.int64)
    if hasattr(module, "kernel_size"):
        kernel = _pair_array(module.kernel_size)
        dilation = _pair_array(getattr(module, "dilation", 1))
        padding = _leading_padding(module.padding, kernel, dilation)
        return _Window(kernel, _pair_array(module.stride), padding, dilation, size_in)
    adaptive = isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d))
    if adaptive and not np.any(size_in % size_out):
        return _Window(size_in // size_out, size_in // size_out, 0 * one, one, size_in)
    if np.array_equal(size_in, size_out):
        return _Window(one, one, 0 * one, one, size_in)
    raise ValueError(f"receptive_field: cannot tell the window of layer {step.name!r} "
                     f"({type(module).__name__}, {in_shape[2:]} -> {out_shape[2:]}); pass "
                     "path=[...] with a (kernel, stride, padding[, dilation]) tuple in its place")


def _path_windows(model, path, steps, image_size):
    """The windows of the ``path`` entries: layers (modules or names) that ran before the
    unit's layer, or (kernel, stride, padding[, dilation]) tuples, whose output size follows
    floor((n + 2p - d(k - 1) - 1) / s) + 1."""
    windows, size = [], np.array(image_size)
    for entry in path:
        if isinstance(entry, tuple):
            kernel, stride, padding, dilation = map(_pair_array, (*entry, 1)[:4])
            windows.append(_Window(kernel, stride, padding, dilation, size))
            size = (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
            continue
        module = get_module(model, entry)
        step = next((step for step in steps if step.module is module), None)
        if step is None:
            raise ValueError(f"receptive_field: path entry {entry!r} is not a leaf layer that "
                             "runs before the unit's layer")
        windows.append(_window(step))
        size = np.array(step.output.shape[2:])
    return windows


def _compose(windows):
    """Receptive field arithmetic (Dumoulin & Visin 2016; Araujo et al., "Computing receptive
    fields of convolutional neural networks", Distill 2019), per axis, from r=1, j=1, start=0:
    k_eff = d (k - 1) + 1, r <- r + (k_eff - 1) j, start <- start + ((k_eff - 1)/2 - p) j,
    j <- j s (r and start use the incoming j)."""
    size, jump, start = np.ones(2, dtype=np.int64), np.ones(2, dtype=np.int64), np.zeros(2)
    for window in windows:
        span = window.dilation * (window.kernel - 1)
        start = start + (span / 2 - window.padding) * jump
        size = size + span * jump
        jump = jump * window.stride
    return size, jump, start


def receptive_field(model, layer, input_shape, path=None):
    """The receptive field of the units of ``layer`` for images of shape (C, H, W).

    The layers are walked in forward order, found by running one blank image through the
    model with forward hooks (so ``nn.Sequential`` models and models whose forward calls
    layers one after another, with pointwise functions such as ``F.relu`` between them, are
    supported), and composed by receptive field arithmetic (see ``_compose``). If the walk is
    ambiguous (branches, skip connections, merges, resizing outside a layer) a ValueError
    says where; then ``path`` lists the layers from the input to ``layer`` in order
    (modules or dotted names; a ``(kernel, stride, padding[, dilation])`` tuple stands for a
    layer whose window cannot be read from its attributes).

    Returns a ``ReceptiveField``; ``.box(y, x)`` is the input box unit (y, x) sees.
    """
    target = get_module(model, layer)
    x, steps, output = _trace(model, target, tuple(input_shape))
    if output.ndim != 4:
        raise ValueError(f"receptive_field: layer {layer!r} has output shape {output.shape}; "
                         "units at (y, x) need a spatial (N, C, H, W) output")
    if path is None:
        _check_chain(x, steps, output)
        windows = [_window(step) for step in steps]
    else:
        windows = _path_windows(model, path, steps, input_shape[-2:])
    return ReceptiveField(windows, input_shape[-2:], output.shape[-2:])


def plot_receptive_field(image, boxes, title=None, size=3.0):
    """The image with one box (x0, y0, x1, y1) or several (n, 4) drawn on it."""
    plt = plot.pyplot()
    from matplotlib.patches import Rectangle
    fig, ax = plt.subplots(figsize=(size, size))
    plot.show(ax, image, title)
    for x0, y0, x1, y1 in np.atleast_2d(boxes):
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False,
                               edgecolor="red", linewidth=1.5))
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------- top patches
class TopPatches(NamedTuple):
    """The strongest activations of one channel over a dataset, strongest first.

    patches (k, C, r_h, r_w): the receptive fields of the units (0 outside the image);
    values (k,): the activations; indices (k,): the samples' positions in the data;
    units (k, 2): the units' (y, x) in the layer's output; boxes (k, 4): the clipped input
    boxes (x0, y0, x1, y1).
    """
    patches: np.ndarray
    values: np.ndarray
    indices: np.ndarray
    units: np.ndarray
    boxes: np.ndarray


def _strongest_units(maps, unit):
    """Per image of ``maps`` (N, H, W): (value, (y, x)) of the given unit, or of the largest."""
    if unit is not None:
        units = np.tile(np.asarray(unit, dtype=np.int64), (len(maps), 1))
    else:
        flat = maps.reshape(len(maps), -1).argmax(axis=1)
        units = np.stack(np.unravel_index(flat, maps.shape[1:]), axis=1)
    return maps[np.arange(len(maps)), units[:, 0], units[:, 1]], units


def _keep_top(fields, k):
    """The ``k`` rows of ``fields`` (values first) with the largest values, earliest first on ties."""
    order = np.argsort(-fields[0], kind="stable")[:k]
    return [field[order] for field in fields]


def top_patches(model, layer, data, channel, k=9, unit=None, batch_size=64, path=None):
    """The ``k`` dataset patches that most activate ``channel`` of ``layer`` (Zeiler & Fergus
    2014, Sec. 4 and Fig. 2: the top activations of a feature map over the dataset, each
    shown as the image patch in its receptive field).

    Each image counts once, with its strongest unit of the channel (or the given
    ``unit=(y, x)``); the data (a DataLoader, a dataset or an array of images) is read in
    batches under ``no_grad``. ``path`` goes to ``receptive_field``. Returns ``TopPatches``.
    """
    best, field, start = None, None, 0
    for images, _ in image_batches(data, batch_size):
        if field is None:
            field = receptive_field(model, layer, images.shape[1:], path)
        values, units = _strongest_units(layer_output(model, layer, images)[:, channel], unit)
        index = np.arange(start, start + len(images))
        values, index, units = _keep_top([values, index, units], k)
        patches = np.stack([field.crop(images[i - start], *u) for i, u in zip(index, units)])
        found = [values, index, units, patches]
        best = found if best is None else _keep_top(
            [np.concatenate(pair) for pair in zip(best, found)], k)
        start += len(images)
    values, index, units, patches = best
    boxes = np.stack([field.box(*u) for u in units])
    return TopPatches(patches, values, index, units, boxes)


def plot_top_patches(top, ncols=9, title=None):
    """Grid of ``TopPatches`` patches, each titled with its sample index and activation."""
    titles = [f"#{i}: {v:.3g}" for i, v in zip(top.indices, top.values)]
    return plot.image_grid(list(top.patches), titles, ncols=ncols, suptitle=title)
