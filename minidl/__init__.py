"""minidl: a deep-learning framework written from scratch on NumPy (and CuPy).

    import minidl
    import minidl.nn as nn
    import minidl.functional as F
"""
from . import _platform

_platform.configure()  # before NumPy loads OpenBLAS (see minidl/_platform.py)

import numpy as _np

from . import backend
from .autograd import (AnomalyError, Function, GradcheckError, Tensor, backprop_rule,
                       detect_anomaly, enable_grad, grad, gradcheck, is_grad_enabled, no_grad,
                       set_grad_enabled, tensor)
from .autograd.functions import (abs, arange, clip, concatenate, eye, exp, flatten, from_numpy,
                                 full, leaky_relu, log, log_softmax, logsumexp, matmul, max,
                                 maximum, mean, min, minimum, ones, ones_like, pad, permute, rand,
                                 randn, relu, reshape, sigmoid, softmax, sqrt, squeeze, stack, sum,
                                 tanh, transpose, unsqueeze, var, where, zeros, zeros_like)
from .backend import (cuda_is_available, get_default_dtype, get_rng_state, manual_seed,
                      set_default_dtype, set_rng_state)
from . import data, functional, kernels, nn, optim
from . import models

float32 = _np.dtype("float32")
float64 = _np.dtype("float64")
float16 = _np.dtype("float16")
int32 = _np.dtype("int32")
int64 = _np.dtype("int64")
bool_ = _np.dtype("bool")

__version__ = "0.1.0"

__all__ = [
    "AnomalyError", "Function", "GradcheckError", "Tensor", "abs", "arange", "backend",
    "backprop_rule", "bool_", "clip", "concatenate", "cuda_is_available", "detect_anomaly",
    "enable_grad", "exp", "eye", "flatten", "float16", "float32", "float64", "from_numpy", "full",
    "functional", "get_default_dtype", "get_rng_state", "grad", "gradcheck", "int32", "int64",
    "is_grad_enabled", "leaky_relu", "log", "log_softmax", "logsumexp", "manual_seed", "matmul",
    "max", "maximum", "mean", "min", "minimum", "nn", "no_grad", "ones", "ones_like", "optim",
    "pad", "permute", "rand", "randn", "relu", "reshape", "set_default_dtype", "set_grad_enabled",
    "set_rng_state", "sigmoid", "softmax", "sqrt", "squeeze", "stack", "sum", "tanh", "tensor",
    "transpose", "unsqueeze", "var", "where", "zeros", "zeros_like",
]
