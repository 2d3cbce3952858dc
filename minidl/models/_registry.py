"""The model registry: ``register`` (a decorator used by the family files), ``get``, ``names``
and each model's canonical input size."""
from __future__ import annotations

_MODELS = {}


def register(input_size):
    """Register a constructor under its function name, with its canonical input (C, H, W)."""
    def decorator(constructor):
        _MODELS[constructor.__name__] = (constructor, tuple(input_size))
        return constructor
    return decorator


def _entry(name):
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(names())}")
    return _MODELS[name]


def names():
    """The registered model names, sorted."""
    return sorted(_MODELS)


def get(name, **kwargs):
    """Build the model ``name`` (``num_classes``, ``in_channels`` and the family's options
    go in ``kwargs``)."""
    return _entry(name)[0](**kwargs)


def input_size(name):
    """The (C, H, W) input the model was designed for (C = 3 unless ``in_channels`` says
    otherwise)."""
    return _entry(name)[1]
