"""Reference kernels: vectorised array code that runs on NumPy and CuPy alike."""
from .conv import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
from .local import *  # noqa: F401,F403
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .resample import *  # noqa: F401,F403
