"""Visualization and interpretation methods, run on minidl's own gradients.

Every method takes a model (an ``nn.Module``) and NumPy images of shape (C, H, W) and
returns NumPy arrays; a matching ``plot_*`` helper draws a matplotlib figure. Methods use
the public API only: forward hooks, ``minidl.grad``/``backward`` and ``minidl.backprop_rule``.
"""
from . import plot
from ._util import as_batch, capture, get_module, model_dtype
from .adversarial import *
from .attribution import *
from .cam import *
from .embedding import *
from .network import *
from .style import *
from .synthesis import *
