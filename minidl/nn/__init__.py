"""Layers: modules that hold parameters and call ``minidl.functional``."""
from . import init
from .activation import (Flatten, LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, SiLU, Softmax,
                         Tanh)
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv1d, Conv2d, ConvTranspose2d
from .dropout import *
from .linear import Identity, Linear
from .local import *
from .loss import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, Parameter
from .normalization import *
from .pooling import *
from .resample import *
