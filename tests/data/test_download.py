"""Downloads (minidl/data/download.py) against a loopback HTTP server: checksums, 404s, no
half-written files.
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import os
import tarfile
import threading
import pytest
from minidl.data import (CIFAR10, MNIST)
from tests.data.writers import write_cifar10, write_mnist










class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/"www"; yields (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(QuietHandler, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


@pytest.fixture
def mnist_server(server, monkeypatch):
    """The server with four synthetic MNIST files, and MNIST.resources patched to their MD5s."""
    www, url = server
    write_mnist(www, "train", n=6)
    write_mnist(www, "t10k", n=4)
    resources = [(name, md5(www / name)) for name, _ in MNIST.resources]
    monkeypatch.setattr(MNIST, "resources", resources)
    return www, url


def files_in(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def test_download_mnist(mnist_server, tmp_path):
    www, url = mnist_server
    root = tmp_path / "mnist"
    data = MNIST(root, train=False, download=True, mirrors=[url + "missing/", url])
    assert len(data) == 4
    assert files_in(root) == sorted(name for name, _ in MNIST.resources)
    for name in files_in(root):
        os.remove(www / name)  # files already there with the right MD5 are not fetched again
    assert len(MNIST(root, download=True, mirrors=[url])) == 6


def test_download_checksum_mismatch_leaves_no_file(mnist_server, tmp_path, monkeypatch):
    www, url = mnist_server
    wrong = [(name, "0" * 32) for name, _ in MNIST.resources]
    monkeypatch.setattr(MNIST, "resources", wrong)
    root = tmp_path / "mnist"
    with pytest.raises(RuntimeError, match="checksum mismatch") as error:
        MNIST(root, download=True, mirrors=[url])
    assert url + "train-images-idx3-ubyte.gz" in str(error.value)
    assert files_in(root) == []


def test_download_404_names_every_url_and_leaves_no_file(server, tmp_path):
    www, url = server
    root = tmp_path / "mnist"
    mirrors = [url + "a/", url + "b/"]
    with pytest.raises(RuntimeError) as error:
        MNIST(root, download=True, mirrors=mirrors)
    message = str(error.value)
    assert "404" in message and all(m + "train-images-idx3-ubyte.gz" in message for m in mirrors)
    assert files_in(root) == []


def test_download_cifar10_archive(server, tmp_path, monkeypatch):
    www, url = server
    write_cifar10(tmp_path / "build" / "cifar-10-batches-py", n=2)
    archive = www / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "build" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    monkeypatch.setattr(CIFAR10, "archive", ("cifar-10-python.tar.gz", md5(archive)))
    data = CIFAR10(tmp_path / "cifar", download=True, mirrors=[url])
    assert len(data) == 10 and data.classes[0] == "c0"
    assert "test_batch" in files_in(tmp_path / "cifar")
    assert not any(name.endswith(".part") for name in files_in(tmp_path / "cifar"))
