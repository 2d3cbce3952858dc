"""Fused CPU kernels compiled with Numba: the same signatures as ``..reference``.

Every kernel here is tested for parity with its reference kernel (forward and backward,
float32 and float64) and for bitwise-identical repeated backward passes: backward passes
are written as gathers (each output element sums its own contributions in a fixed order),
never as parallel scatter-adds.
"""
from ._threads import configure

configure()

from .dropout import *  # noqa: E402
from .norm import *  # noqa: E402
from .pool import *  # noqa: E402
from .conv import *  # noqa: E402
