"""Downloading dataset files safely: checksums, mirrors, no partial files.

A file is streamed into a temporary file next to its destination while its MD5 is computed;
only when the whole file has arrived with the expected checksum is it renamed into place
(``os.replace`` is atomic on one file system). On any failure the temporary file is deleted,
the next mirror is tried, and if none works the error names every URL and what went wrong.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.request

from tqdm import tqdm

_BLOCK = 1 << 16


def md5sum(path: str) -> str:
    """The MD5 checksum of a file, as hex."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def has_file(path: str, md5: str | None = None) -> bool:
    """True when ``path`` exists and (if ``md5`` is given) has that checksum."""
    return os.path.isfile(path) and (md5 is None or md5sum(path) == md5)


def download(mirrors, filename: str, folder: str, md5: str | None = None, timeout: float = 30) -> str:
    """Download ``filename`` from the first of ``mirrors`` (base URLs) that serves it intact.

    The file ends up as ``folder/filename`` only if its MD5 matches ``md5``; a file already
    there with the right checksum is kept. A tqdm progress bar shows on a terminal. Returns
    the path. Raises ``RuntimeError`` naming every URL tried and why it failed.
    """
    path = os.path.join(folder, filename)
    if has_file(path, md5):
        return path
    os.makedirs(folder, exist_ok=True)
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            _fetch(url, path, md5, timeout)
            return path
        except (OSError, ValueError, http.client.HTTPException) as error:  # URLError is an OSError
            failures.append(f"  {url}: {error}")
    raise RuntimeError(f"could not download {filename} into {folder}; tried:\n" + "\n".join(failures))


def _fetch(url: str, path: str, md5: str | None, timeout: float) -> None:
    """Stream ``url`` into a temporary file, check its MD5, then rename it to ``path``."""
    folder, name = os.path.split(path)
    fd, partial = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    try:
        digest, received = hashlib.md5(), 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=None) as bar:
                for block in iter(lambda: response.read(_BLOCK), b""):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
                    received += len(block)
        if total is not None and received != total:
            raise ValueError(f"incomplete download: {received} of {total} bytes")
        if md5 is not None and digest.hexdigest() != md5:
            raise ValueError(f"checksum mismatch: MD5 {digest.hexdigest()}, expected {md5}")
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
