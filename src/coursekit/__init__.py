"""coursekit: the helper package behind the CNN course's book and labs.

Submodules load on first use, so ``import coursekit`` stays fast and does not
start TensorFlow until a function that needs it is called::

    import coursekit
    (x_train, y_train), (x_test, y_test) = coursekit.data.load("mnist")
"""

import importlib

__version__ = "0.1.0"

_SUBMODULES = ("arith", "attacks", "cam", "checks", "data", "features", "models", "plot", "runs", "train")
__all__ = list(_SUBMODULES)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'coursekit' has no attribute {name!r}; submodules: {_SUBMODULES}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
