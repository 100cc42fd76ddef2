"""coursekit: the helper package behind the CNN course's book and labs.

Submodules load on first use, so ``import coursekit`` stays fast and does not
start TensorFlow until a function that needs it is called::

    import coursekit
    (x_train, y_train), (x_test, y_test) = coursekit.data.load("mnist")
"""

import importlib

from coursekit import _notes

__version__ = "0.1.0"


def verbose(on: bool | None = None) -> bool:
    """Turn coursekit's notes on where data and weights came from on or off; return the setting.

    ``coursekit.verbose(False)`` silences them (the book's chapters do), ``coursekit.verbose(True)``
    brings them back, ``coursekit.verbose()`` only reads the setting. A ``quiet=True`` argument
    silences one call whatever the setting.

    >>> import coursekit
    >>> coursekit.verbose(False)
    False
    >>> coursekit.verbose(True)
    True
    """
    return _notes.verbose(on)


_SUBMODULES = ("arith", "attacks", "cam", "checks", "data", "features", "models", "plot", "runs", "train")
__all__ = [*_SUBMODULES, "verbose"]


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'coursekit' has no attribute {name!r}; submodules: {_SUBMODULES}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
