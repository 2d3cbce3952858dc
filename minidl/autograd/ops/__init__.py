"""The Functions behind Tensor's methods and operators."""
from .arithmetic import (AddFunction, DivFunction, MatMulFunction, MulFunction, NegFunction,
                         PowFunction, SubFunction)
from .elementwise import (AbsFunction, CastFunction, ClipFunction, CloneFunction, ExpFunction,
                          LeakyReLUFunction, LogFunction, MaximumFunction, MinimumFunction,
                          ReLUFunction, SigmoidFunction, SqrtFunction, TanhFunction,
                          ToDeviceFunction, WhereFunction)
from .reduction import (LogSoftmaxFunction, LogSumExpFunction, MaxFunction, MeanFunction,
                        MinFunction, SoftmaxFunction, SumFunction, VarFunction)
from .shape import (ConcatenateFunction, GetItemFunction, PadFunction, PermuteFunction,
                    ReshapeFunction, StackFunction, flatten, normalize_pad_width, reshape, squeeze,
                    unsqueeze)

__all__ = [
    "AddFunction", "DivFunction", "MatMulFunction", "MulFunction", "NegFunction", "PowFunction",
    "SubFunction", "AbsFunction", "CastFunction", "ClipFunction", "CloneFunction", "ExpFunction",
    "LeakyReLUFunction", "LogFunction", "MaximumFunction", "MinimumFunction", "ReLUFunction",
    "SigmoidFunction", "SqrtFunction", "TanhFunction", "ToDeviceFunction", "WhereFunction",
    "LogSoftmaxFunction", "LogSumExpFunction", "MaxFunction", "MeanFunction", "MinFunction",
    "SoftmaxFunction", "SumFunction", "VarFunction", "ConcatenateFunction", "GetItemFunction",
    "PadFunction", "PermuteFunction", "ReshapeFunction", "StackFunction", "flatten",
    "normalize_pad_width", "reshape", "squeeze", "unsqueeze",
]
