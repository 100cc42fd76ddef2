"""Expected outputs of the self-checks, recorded ahead: no answer key ships with coursekit.

A self-check calls the student's function on fixed inputs (the cases written in its module)
and compares what comes back with the output recorded for those inputs, and with the outputs
of typical mistakes recorded beside it, each with its hint. The references that computed them
stay with the instructor, in the grading package; ``make labs`` records them from there into
this package's data, ``checks/expected/<module>.npz``. A case is found by a digest of its inputs:
a self-check called with other inputs (another ``seed``) says that it has no answer recorded for
them, and never computes one.
"""

from __future__ import annotations

import functools
import hashlib
import pathlib
from typing import Any, Callable

import numpy as np

FOLDER = pathlib.Path(__file__).resolve().parent / "expected"

#: set by the instructor's recorder while it records: (module, name) -> (reference, suspects)
recorder = None


class NotRecorded(LookupError):
    """No output is recorded for these inputs."""


def digest(name: str, args: tuple, kwargs: dict) -> str:
    """A short digest of a call: the check's name and every input, arrays by dtype, shape and bytes."""
    h = hashlib.sha256(name.encode())

    def feed(value):
        if isinstance(value, np.ndarray):
            h.update(f"<{value.dtype.str}{value.shape}>".encode())
            h.update(np.ascontiguousarray(value).tobytes())
        elif isinstance(value, (list, tuple)):
            h.update(b"[")
            for item in value:
                feed(item)
            h.update(b"]")
        else:
            h.update(f"{type(value).__name__}:{value!r};".encode())

    feed(list(args))
    for key in sorted(kwargs):
        h.update(key.encode())
        feed(kwargs[key])
    return h.hexdigest()[:24]


@functools.lru_cache(maxsize=None)
def _table(module: str) -> dict[str, np.ndarray]:
    path = FOLDER / f"{module}.npz"
    if not path.exists():
        return {}
    with np.load(path, allow_pickle=False) as npz:
        return {key: npz[key] for key in npz.files}


def forget() -> None:
    """Read the recordings again on the next use (after a new recording is written)."""
    _table.cache_clear()


def _missing(name: str) -> NotRecorded:
    return NotRecorded(f"no answer is recorded for these inputs of {name}: call the self-check with its "
                       "default arguments")


def recorded(module: str, name: str) -> tuple[Callable[..., Any], Callable[..., dict]]:
    """(expected, suspects) for :func:`check_function`: the output recorded for a case, and the
    recorded outputs of the typical mistakes on it, ``{hint: wrong output}``."""
    if recorder is not None:
        return recorder.pair(module, name)

    def expected(*args, **kwargs):
        key = digest(name, args, kwargs)
        table = _table(module)
        if key not in table:
            raise _missing(name)
        return table[key]

    def suspects(*args, **kwargs):
        key, table = digest(name, args, kwargs), _table(module)
        hints = table.get(f"{key}:hints", np.array([], dtype=str))
        return {str(hint): table[f"{key}:{i}"] for i, hint in enumerate(hints)}

    return expected, suspects
