"""The checkpoint file format: nested dicts of arrays and plain Python values, safely.

A checkpoint is a zip archive (``unzip -l`` lists it) holding

* ``arrays/<i>.npy``: every array, in NumPy's own ``.npy`` format, read back with
  ``allow_pickle=False``;
* ``manifest.json``: the structure, in which every JSON object is a tag with one key:
  ``{"array": i}``, ``{"scalar": i}`` (a NumPy scalar kept as a 0-d array), ``{"tuple": [...]}``
  and ``{"dict": [[key, value], ...]}`` (keys may be ints, tuples, ...; order is kept).
  Lists, strings, numbers, booleans and None are themselves.

Loading therefore never runs code from the file (unlike ``pickle``). ``save`` writes
atomically: into a temporary file next to the target, flushed and synced to disk, then
renamed over it, so a crash leaves either the old checkpoint or the new one, never half of
one. A damaged file raises ``CheckpointError`` naming it.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import uuid
import zipfile

import numpy as np

from . import backend
from .autograd import Tensor

FORMAT = "minidl-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a readable minidl checkpoint (truncated, corrupt, or foreign)."""


# ----------------------------------------------------------------------------- encoding
def _encode(value, arrays: list):
    """The JSON form of ``value``; arrays are appended to ``arrays`` and referenced by index."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.generic):
        arrays.append(np.asarray(value))
        return {"scalar": len(arrays) - 1}
    if isinstance(value, np.ndarray) or backend.device_of(value) != "cpu":
        array = backend.to_numpy(value)
        if array.dtype.hasobject:
            raise TypeError("cannot save an array of Python objects in a checkpoint")
        arrays.append(array)
        return {"array": len(arrays) - 1}
    if isinstance(value, list):
        return [_encode(v, arrays) for v in value]
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, arrays) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[_encode(k, arrays), _encode(v, arrays)] for k, v in value.items()]}
    raise TypeError(f"cannot save a {type(value).__name__} in a checkpoint: only arrays, "
                    "numbers, strings, None and lists, tuples and dicts of them")


def _decode(value, arrays: dict):
    """Inverse of ``_encode``; ``arrays`` maps an index to its loaded array."""
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    (tag, content), = value.items()
    if tag == "array":
        return arrays[content]
    if tag == "scalar":
        return arrays[content][()]
    if tag == "tuple":
        return tuple(_decode(v, arrays) for v in content)
    if tag == "dict":
        return {_decode(k, arrays): _decode(v, arrays) for k, v in content}
    raise ValueError(f"unknown tag {tag!r} in the manifest")


# ----------------------------------------------------------------------------- files
def save(obj, path) -> None:
    """Write ``obj`` (nested dicts/lists/tuples of arrays, tensors and plain values) to ``path``,
    atomically (see ``atomic_open``)."""
    arrays = []
    manifest = {"format": FORMAT, "version": VERSION, "content": _encode(obj, arrays)}
    with atomic_open(path, "wb") as f:
        _write_zip(f, manifest, arrays)


@contextlib.contextmanager
def atomic_open(path, mode: str = "w"):
    """Open a hidden temporary file next to ``path`` for writing; on leaving the block, flush
    it, sync it to disk and rename it to ``path`` (``os.replace``, atomic).

    If the block raises, the temporary file is removed and an existing ``path`` is left as
    it was: readers see the old file or the new one, never half of one.
    """
    path = os.fspath(path)
    folder, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:12]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # 0o666 less the umask
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _sync_folder(folder)


def _write_zip(f, manifest: dict, arrays: list) -> None:
    with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as archive:
        for i, array in enumerate(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, array, allow_pickle=False)
            archive.writestr(f"arrays/{i}.npy", buffer.getvalue())
        archive.writestr("manifest.json", json.dumps(manifest))


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load(path):
    """Read a checkpoint written by ``save``.

    Raises ``FileNotFoundError`` when ``path`` does not exist and ``CheckpointError`` (naming
    the file) when it is truncated, corrupt (every entry's CRC is checked) or not a checkpoint.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        with zipfile.ZipFile(path) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise ValueError("the manifest does not describe a minidl checkpoint")
            if manifest.get("version") != VERSION:
                raise ValueError(f"format version {manifest.get('version')}, this minidl reads "
                                 f"version {VERSION}")
            arrays = _read_arrays(archive)
            return _decode(manifest["content"], arrays)
    except Exception as error:  # a damaged zip can fail in many ways (BadZipFile, OSError, ...)
        raise CheckpointError(f"{path}: not a readable minidl checkpoint, truncated or corrupt "
                              f"({type(error).__name__}: {error})") from None


def _read_arrays(archive: zipfile.ZipFile) -> dict:
    """{index: array} for every ``arrays/<index>.npy`` entry (CRC-checked by zipfile)."""
    arrays = {}
    for name in archive.namelist():
        if name.startswith("arrays/") and name.endswith(".npy"):
            index = int(name[len("arrays/"):-len(".npy")])
            arrays[index] = np.lib.format.read_array(io.BytesIO(archive.read(name)),
                                                     allow_pickle=False)
    return arrays
