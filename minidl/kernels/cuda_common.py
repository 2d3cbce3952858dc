"""What the CUDA kernels share: launch helpers, small device functions and the types used
to write their PTX signatures.

Launch shapes. Elementwise and gather kernels run one thread per output item on a 1-D
grid (``launch``): thread ``t = blockIdx.x * blockDim.x + threadIdx.x`` owns item ``t``
and the last block's extra threads do nothing. Reductions run one block per result
(``reduction_threads`` threads, a power of two) and combine the threads' partial sums
with ``block_sum``: a tree in shared memory whose pairing depends only on the block size,
never on timing, so a reduction gives the same bits on every run (no atomics).
"""
from __future__ import annotations

import math

from numba import cuda, types

THREADS = 256          # threads per block, and the size of the shared buffer of block_sum
ITEMS_PER_THREAD = 16  # values each thread of a reduction sums before the tree


def launch(kernel, count, *args):
    """Run ``kernel(*args)`` with one thread per item of ``count`` (nothing when 0)."""
    if count == 0:
        return
    threads = min(THREADS, count)
    kernel[(count + threads - 1) // threads, threads](*args)


def reduction_threads(count, limit=THREADS):
    """Threads for a block that sums ``count`` values: a power of two that gives each
    thread about ITEMS_PER_THREAD of them, at most ``limit``."""
    wanted = -(-count // ITEMS_PER_THREAD)
    return min(limit, 1 << max(0, math.ceil(math.log2(max(1, wanted)))))


@cuda.jit(device=True)
def block_sum(shared, value):
    """The sum of ``value`` over the threads of the block, returned to every thread.

    ``shared`` is a float64 shared array of at least blockDim.x entries, and blockDim.x is
    a power of two. Thread t stores its value at shared[t]; each round the first half of
    the active threads adds the entry ``half`` places above its own, so the summation tree
    is fixed by the block size alone. The closing barrier lets the caller reuse ``shared``.
    """
    t = cuda.threadIdx.x
    shared[t] = value
    cuda.syncthreads()
    half = cuda.blockDim.x // 2
    while half > 0:
        if t < half:
            shared[t] += shared[t + half]
        cuda.syncthreads()
        half //= 2
    total = shared[0]
    cuda.syncthreads()
    return total


@cuda.jit(device=True)
def window_reading(pixel, tap_offset, stride, out):
    """The output o whose window tap reads ``pixel``, or -1 if no output's does.

    Output o's tap reads position o * stride + tap_offset (tap_offset = tap * dilation -
    padding), so o = (pixel - tap_offset) / stride when that is a whole number in [0, out).
    This turns a scatter from outputs into a gather: a pixel visits, tap by tap, the
    outputs that read it.
    """
    d = pixel - tap_offset
    if d < 0 or d % stride != 0:
        return -1
    o = d // stride
    return o if o < out else -1


@cuda.jit(device=True)
def unravel4(t, channels, height, width):
    """The (n, c, h, w) position of flat C-order index ``t`` in an (N, C, H, W) array."""
    w = t % width
    t //= width
    h = t % height
    t //= height
    return t // channels, t % channels, h, w


# ------------------------------------------------------------------------ PTX signatures
FLOATS = (types.float32, types.float64)
int64, uint64, boolean = types.int64, types.uint64, types.boolean


def array(dtype, ndim):
    """The type of a C-contiguous ``ndim``-dimensional array of ``dtype``."""
    return types.Array(dtype, ndim, "C")


def float_signatures(make):
    """``make(dtype)`` for float32 and float64: a kernel's signatures, one per dtype."""
    return tuple(make(dtype) for dtype in FLOATS)
