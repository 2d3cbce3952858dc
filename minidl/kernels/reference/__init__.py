"""Reference kernels: vectorised array code that runs on NumPy and CuPy alike."""
from .conv import *
from .dropout import *
from .local import *
from .norm import *
from .pool import *
from .resample import *
