"""Files coursekit reads but does not write: checksums as Keras writes them, and data files
shipped inside other installed packages (offline datasets and weights). Used by `data` and
`models`."""

from __future__ import annotations

import hashlib
import importlib.util
import pathlib


def hash_ok(path: pathlib.Path, file_hash: str) -> bool:
    """Whether a file matches a SHA-256 or (32 hex digits) MD5 checksum, as keras.utils.get_file reads them."""
    digest = hashlib.md5() if len(file_hash) == 32 else hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest() == file_hash


def package_file(package: str, *parts: str) -> pathlib.Path | None:
    """``<the package's folder>/<parts>`` of an installed package, or None (not installed, no such file)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = pathlib.Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.exists() else None
