"""The Functions behind Tensor's methods and operators."""
from .arithmetic import Add, Div, MatMul, Mul, Neg, Pow, Sub
from .elementwise import (Abs, Cast, Clip, Clone, Exp, LeakyReLU, Log, Maximum, Minimum, ReLU,
                          Sigmoid, Sqrt, Tanh, ToDevice, Where)
from .reduction import LogSoftmax, LogSumExp, Max, Mean, Min, Softmax, Sum, Var
from .shape import (Concatenate, GetItem, Pad, Permute, Reshape, Stack, flatten,
                    normalize_pad_width, reshape, squeeze, unsqueeze)

__all__ = [
    "Add", "Div", "MatMul", "Mul", "Neg", "Pow", "Sub",
    "Abs", "Cast", "Clip", "Clone", "Exp", "LeakyReLU", "Log", "Maximum", "Minimum", "ReLU",
    "Sigmoid", "Sqrt", "Tanh", "ToDevice", "Where",
    "LogSoftmax", "LogSumExp", "Max", "Mean", "Min", "Softmax", "Sum", "Var",
    "Concatenate", "GetItem", "Pad", "Permute", "Reshape", "Stack", "flatten",
    "normalize_pad_width", "reshape", "squeeze", "unsqueeze",
]
