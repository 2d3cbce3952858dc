"""Window geometry in one place: the argument normalisers and the output-size formulas that
functional, kernels, layers, models and the benchmark all use.

A window op (convolution, pooling) slides a kernel of size k, dilated by d (d - 1 gaps
between taps, so it spans d(k - 1) + 1 pixels), in steps of s over an input of size W
padded by P_total pixels in all. The window fits floor((W + P_total - d(k - 1) - 1) / s) + 1
times: the lecture formula floor((W - F + 2P) / S) + 1 is the case d = 1, P_total = 2P.
"""
from __future__ import annotations

import numbers


def pair(value, name: str = "value") -> tuple:
    """An int, or a pair of ints, as an (h, w) tuple: ``3 -> (3, 3)``, ``(3, 5)`` stays.

    Anything else (a float, a string, three numbers) raises a ValueError naming ``name``.
    """
    if _is_int(value):
        return (int(value), int(value))
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(values) != 2 or not all(_is_int(v) for v in values):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return (int(values[0]), int(values[1]))


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def shown(value) -> object:
    """A pair as the user most likely wrote it: one number when both entries agree."""
    if isinstance(value, tuple) and len(value) == 2 and value[0] == value[1]:
        return value[0]
    return value


def conv_output_length(size, kernel, stride=1, pad_total=0, dilation=1) -> int:
    """floor((size + pad_total - dilation (kernel - 1) - 1) / stride) + 1; 0 or less when
    the dilated kernel does not fit in the padded input."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def pool_output_length(size, kernel, stride, padding, dilation=1, ceil_mode=False) -> int:
    """PyTorch's pooling rule: the convolution formula with ``padding`` on both sides, rounded
    up instead of down in ceil mode, where the last window must still start inside the input
    or the left padding (otherwise it is dropped)."""
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def transposed_conv_output_length(size, kernel, stride=1, padding=0, dilation=1,
                                  output_padding=0) -> int:
    """(size - 1) stride - 2 padding + dilation (kernel - 1) + output_padding + 1: the size
    of the input a convolution with these settings maps to ``size`` (the transposed
    convolution's output)."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def conv_output_size(in_size, kernel_size, stride=1, padding=0, dilation=1):
    """The output size of a convolution (or locally connected layer) with ``padding`` on both
    sides, on an int or an (h, w) pair; an empty output raises a ValueError naming the sizes.
    """
    if not _is_int(in_size):
        return tuple(conv_output_size(*args) for args in zip(
            pair(in_size, "in_size"), pair(kernel_size, "kernel_size"), pair(stride, "stride"),
            pair(padding, "padding"), pair(dilation, "dilation")))
    size = conv_output_length(in_size, kernel_size, stride, 2 * padding, dilation)
    if size <= 0:
        raise ValueError(empty_output_message(in_size, kernel_size, stride, padding, dilation))
    return size


def empty_output_message(size, kernel, stride, padding, dilation=1, what="input") -> str:
    """"input 5x5 with kernel 7, padding 0, stride 1 gives an empty output"."""
    text = (f"{what} {_sizes(size)} with kernel {_sizes(kernel)}, padding {shown(padding)}, "
            f"stride {shown(stride)}")
    if dilation not in (1, (1, 1)):
        text += f", dilation {shown(dilation)}"
    return text + " gives an empty output"


def _sizes(value) -> str:
    return str(value) if _is_int(value) else "x".join(map(str, value))


__all__ = ["conv_output_length", "conv_output_size", "empty_output_message", "pair",
           "pool_output_length", "shown", "transposed_conv_output_length"]
