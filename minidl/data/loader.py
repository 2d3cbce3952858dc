"""The DataLoader: batches of samples as minidl tensors, shuffled reproducibly.

Randomness is a pure function of three numbers, so a run can be repeated or resumed exactly:

* the loader's base seed (``seed=``, or drawn once from ``minidl.backend.host_rng()`` when
  the loader is made, so ``minidl.manual_seed(s)`` fixes it);
* the epoch (counted by the loader; ``set_epoch(e)`` sets it);
* the sample index.

The order of epoch ``e`` is a permutation drawn from a generator seeded by (seed, e), and
sample ``i`` of epoch ``e`` gets its own generator seeded by (seed, e, i) for its random
transforms. Loading batches ahead in a background thread (``prefetch=k``) therefore gives
exactly the same batches as loading them in the caller.
"""
from __future__ import annotations

import numbers
import queue
import threading

import numpy as np

from .. import backend
from ..autograd import Tensor
from .dataset import get_sample

_ORDER, _SAMPLE = 0, 1  # first word of a generator's key: what the generator is for


def _keyed_rng(seed: int, purpose: int, epoch: int, index: int) -> np.random.Generator:
    """A generator seeded by ``seed`` and the fixed-length key (purpose, epoch, index).

    The key always has three words: variable-length keys can collide in ``SeedSequence``
    (``[5, 7]`` and ``[5, 7, 0]`` give the same stream).
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(purpose, epoch, index)))


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator that sample ``index`` of epoch ``epoch`` draws its random transforms from."""
    return _keyed_rng(seed, _SAMPLE, epoch, index)


def default_collate(samples: list):
    """Stack a list of samples into one batch of NumPy arrays, keeping their structure.

    Arrays and NumPy scalars are stacked along a new first axis (dtype kept); Python ints
    become int64, floats float32 and bools bool; tuples, lists and dicts are collated field by
    field (namedtuples too); anything else (strings, ...) is returned as a list.
    """
    first = samples[0]
    if isinstance(first, Tensor):
        xp = backend.get_array_module(first.data)
        return xp.stack([s.data for s in samples])
    if isinstance(first, (np.ndarray, np.generic)):
        return np.stack(samples)
    if isinstance(first, (bool, np.bool_)):
        return np.array(samples, dtype=np.bool_)
    if isinstance(first, numbers.Integral):
        return np.array(samples, dtype=np.int64)
    if isinstance(first, numbers.Real):
        return np.array(samples, dtype=np.float32)
    if isinstance(first, dict):
        return {key: default_collate([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise ValueError("cannot collate samples with different numbers of fields")
        fields = [default_collate(list(field)) for field in zip(*samples)]
        return type(first)(*fields) if hasattr(first, "_fields") else type(first)(fields)  # namedtuple
    return list(samples)


def to_tensors(batch, device=None):
    """Turn every array in a (nested) batch into a minidl tensor (no copy), moved to ``device``
    unless it is None."""
    if isinstance(batch, Tensor):
        return batch if device is None else batch.to(device)
    if isinstance(batch, np.ndarray) or backend.device_of(batch) != "cpu":
        return Tensor(batch if device is None else backend.to_device(batch, device))
    if isinstance(batch, dict):
        return {key: to_tensors(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple):
        return tuple(to_tensors(value, device) for value in batch)
    if isinstance(batch, list):
        return [to_tensors(value, device) for value in batch]
    return batch


class DataLoader:
    """Iterate over a dataset in batches of minidl tensors.

    Args:
        dataset: a map-style dataset (``len`` and indexing); minidl datasets get a per-sample
            random generator through ``dataset.get(index, rng)``.
        batch_size: samples per batch.
        shuffle: visit the samples in a new random order each epoch.
        drop_last: drop the last batch when it is smaller than ``batch_size``.
        seed: base seed of the shuffling and of the random transforms; None draws one from
            ``minidl.backend.host_rng()`` now.
        collate_fn: turns a list of samples into a batch (``default_collate``); arrays in its
            result become tensors.
        prefetch: load batches ahead in one background thread, keeping up to this many
            finished batches waiting (0: load in the caller's thread).
        device: device of the batches (None: cpu).

    Every ``iter(loader)`` runs one epoch, numbered by ``loader.epoch``, which it then advances
    by one (so ``state_dict()`` taken during or after epoch ``e`` names epoch ``e + 1``). To
    resume a run at epoch ``e``, make the loader with the same seed (or restore
    ``state_dict()``) and call ``set_epoch(e)``.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, drop_last: bool = False,
                 seed: int | None = None, collate_fn=None, prefetch: int = 0, device=None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        if prefetch < 0:
            raise ValueError(f"prefetch must be non-negative, got {prefetch}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(backend.host_rng().integers(2**63)) if seed is None else int(seed)
        self.collate_fn = default_collate if collate_fn is None else collate_fn
        self.prefetch = int(prefetch)
        self.device = device
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` run epoch ``epoch`` (its order and its transforms)."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict:
        """The base seed and the next epoch: all a checkpoint needs to continue the sequence."""
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore a state returned by ``state_dict``."""
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of epoch ``epoch``, in the order they are visited."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return _keyed_rng(self.seed, _ORDER, epoch, 0).permutation(n)

    def __iter__(self):
        epoch = self.epoch
        self.epoch += 1
        batches = self._batches(epoch)
        return _prefetched(batches, self.prefetch) if self.prefetch else batches

    def _batches(self, epoch: int):
        """Generate the batches of one epoch, in the caller's thread."""
        order = self.order(epoch)
        stop = len(self) * self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield self._load_batch(epoch, order[start:start + self.batch_size])

    def _load_batch(self, epoch: int, indices: np.ndarray):
        samples = [get_sample(self.dataset, int(i), sample_rng(self.seed, epoch, int(i)))
                   for i in indices]
        return to_tensors(self.collate_fn(samples), self.device)


def _prefetched(batches, depth: int):
    """Run the generator ``batches`` in a background thread, up to ``depth`` batches ahead.

    The batches come out in order; an exception raised while loading is re-raised here; when
    the consumer stops early (``break``, an error, garbage collection), the thread is told to
    stop and joined before this generator finishes.
    """
    results = queue.Queue(maxsize=depth)
    stop = threading.Event()
    thread = threading.Thread(target=_produce, args=(batches, results, stop),
                              name="minidl-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = results.get()
            if kind == "batch":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        thread.join()


def _produce(batches, results: queue.Queue, stop: threading.Event) -> None:
    """The background thread: put ("batch", b) ..., then ("end", None) or ("error", e)."""
    try:
        for batch in batches:
            if not _put(results, ("batch", batch), stop):
                return
        _put(results, ("end", None), stop)
    except BaseException as error:  # re-raised in the consumer's thread
        _put(results, ("error", error), stop)


def _put(results: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` on the queue, waiting for room; give up (False) once ``stop`` is set."""
    while not stop.is_set():
        try:
            results.put(item, timeout=0.05)
            return True
        except queue.Full:
            pass
    return False
