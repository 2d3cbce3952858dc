"""Optimisers and learning-rate schedules (PyTorch's update rules and names)."""
from . import lr_scheduler
from .adam import Adam, AdamW, RMSprop
from .lr_scheduler import CosineAnnealingLR, OneCycleLR, StepLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "AdamW", "CosineAnnealingLR", "OneCycleLR", "Optimizer", "RMSprop", "SGD",
           "StepLR", "lr_scheduler"]
