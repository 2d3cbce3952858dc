"""The differentiable functions neural networks are built from (``import minidl.functional as F``).

Names and signatures follow ``torch.nn.functional``.
"""
from .activation import leaky_relu, log_softmax, relu, relu6, sigmoid, silu, softmax, tanh
from ..geometry import conv_output_size
from .conv import conv1d, conv2d, conv_transpose2d
from .dropout import *
from .linear import linear
from .local import *
from .loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss
from .normalization import *
from .pooling import *
from .resample import *
