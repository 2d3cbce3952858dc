"""Visualization and interpretation methods, run on minidl's own gradients.

Every method takes a model (an ``nn.Module``) and NumPy images of shape (C, H, W) and
returns NumPy arrays; a matching ``plot_*`` helper draws a matplotlib figure. Methods use
the public API only: forward hooks, ``minidl.grad``/``backward`` and ``minidl.backprop_rule``.
"""
from . import plot  # noqa: F401
from ._util import as_batch, capture, get_module  # noqa: F401
from .adversarial import *  # noqa: F401,F403
from .attribution import *  # noqa: F401,F403
from .cam import *  # noqa: F401,F403
from .embedding import *  # noqa: F401,F403
from .network import *  # noqa: F401,F403
from .style import *  # noqa: F401,F403
from .synthesis import *  # noqa: F401,F403
