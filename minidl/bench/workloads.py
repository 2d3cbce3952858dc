"""One callable per (case, framework): the op run forward, or forward and backward, on
fixed random inputs. minidl runs through its public functional API under a kernel choice
(``kernels.use``); PyTorch runs through ``torch.nn.functional``. The backward pass asks
both for the gradients of every input (``minidl.grad``, ``torch.autograd.grad``), so
neither pays for accumulating into ``.grad``."""
from __future__ import annotations

import math

import numpy as np

import minidl
import minidl.functional as F

from ..geometry import pool_output_length
from .cases import ConvCase

_RNG_SEED = 0


def _arrays(shapes):
    rng = np.random.default_rng(_RNG_SEED)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


def output_shape(case):
    """The output shape of a case (conv or memory-bound), for the gradient fed back."""
    if isinstance(case, ConvCase):
        return (case.batch, case.out_channels, case.out_size, case.out_size)
    if case.op in ("max_pool2d", "avg_pool2d"):
        k, s, p = (case.params + (0,))[:3]
        n, c, h, w = case.shape
        return (n, c, pool_output_length(h, k, s, p), pool_output_length(w, k, s, p))
    return case.shape


def _conv_call(case, fw, x, w, b):
    return fw.conv2d(x, w, b, case.stride, case.padding, 1, case.groups)


def _memory_call(case, fw, x, extra):
    op, params = case.op, case.params
    if op == "max_pool2d":
        k, s, p = (params + (0,))[:3]
        return fw.max_pool2d(x, k, s, p)
    if op == "avg_pool2d":
        return fw.avg_pool2d(x, params[0], params[1])
    if op == "batch_norm":
        running_mean, running_var, weight, bias = extra
        return fw.batch_norm(x, running_mean, running_var, weight, bias, training=True)
    if op == "dropout":
        return fw.dropout(x, params[0], training=True)
    if op == "local_response_norm":
        return fw.local_response_norm(x, params[0])
    raise ValueError(f"unknown op {op}")


def _inputs(case):
    """(x, state, parameters): the input array, arrays the op reads but does not
    differentiate (batch norm's running statistics), and the parameters it differentiates
    (conv weight and bias, batch norm's gamma and beta)."""
    if isinstance(case, ConvCase):
        x, w, b = _arrays([case.input_shape, case.weight_shape, (case.out_channels,)])
        return x, [], [w / math.sqrt(w[0].size), b]
    (x,) = _arrays([case.shape])
    if case.op != "batch_norm":
        return x, [], []
    channels = case.shape[1]
    return x, [np.zeros(channels, np.float32), np.ones(channels, np.float32)], \
        [np.ones(channels, np.float32), np.zeros(channels, np.float32)]


def minidl_workload(case, implementation, backward):
    """A callable running the case once with minidl's ``implementation`` kernels."""
    x_array, state_arrays, param_arrays = _inputs(case)
    x = minidl.tensor(x_array, requires_grad=backward)
    state = [minidl.tensor(a) for a in state_arrays]
    params = [minidl.tensor(a, requires_grad=backward) for a in param_arrays]
    if isinstance(case, ConvCase):
        call = lambda: _conv_call(case, F, x, *params)
    else:
        call = lambda: _memory_call(case, F, x, state + params)
    grad = _arrays([output_shape(case)])[0]

    def run():
        with minidl.kernels.use(implementation):
            if not backward:
                with minidl.no_grad():
                    return call()
            return minidl.grad(call(), [x] + params, grad)
    return run


def torch_workload(case, backward):
    """The same case in PyTorch (float32, CPU)."""
    import torch
    import torch.nn.functional as TF
    x_array, state_arrays, param_arrays = _inputs(case)
    x = torch.tensor(x_array, requires_grad=backward)
    state = [torch.tensor(a) for a in state_arrays]
    params = [torch.tensor(a, requires_grad=backward) for a in param_arrays]
    if isinstance(case, ConvCase):
        call = lambda: _conv_call(case, TF, x, *params)
    else:
        call = lambda: _memory_call(case, TF, x, state + params)
    grad = torch.tensor(_arrays([output_shape(case)])[0])

    def run():
        if not backward:
            with torch.no_grad():
                return call()
        return torch.autograd.grad(call(), [x] + params, grad)
    return run


def bytes_moved(case, backward):
    """The bytes an op must at least read and write: every input, output and gradient
    tensor once (float32; max-pool indices as int64), plus x again in the backward pass of
    the ops whose gradient needs it (batch norm, LRN)."""
    x = math.prod(case.shape) * 4
    y = math.prod(output_shape(case)) * 4
    indices = 2 * y if case.op == "max_pool2d" else 0
    forward = x + y + indices
    if not backward:
        return forward
    rereads_x = x if case.op in ("batch_norm", "local_response_norm") else 0
    return forward + y + x + indices + rereads_x
