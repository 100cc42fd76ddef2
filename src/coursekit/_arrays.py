"""Arrays as coursekit accepts them: numbers, finite. NumPy only (no TensorFlow),
so that plot can use it without starting TensorFlow."""

from __future__ import annotations

import numpy as np


def describe(obj) -> str:
    """A short phrase naming ``obj`` for an error message: "None", "the str 'cnn'"."""
    if obj is None:
        return "None"
    if isinstance(obj, str):
        return f"the str {obj!r}"
    if callable(obj) and not hasattr(obj, "weights"):
        return f"the function {getattr(obj, '__name__', repr(obj))!r}"
    shape = getattr(obj, "shape", None)
    return f"a {type(obj).__name__}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def fmt_shape(shape) -> str:
    """A shape as Python writes a tuple: "(3, 4)", "(3,)", "(None, 28, 28, 1)"."""
    dims = ["None" if d is None else str(int(d)) for d in shape]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def float_dtype(arr: np.ndarray) -> np.dtype:
    """The dtype of a float result computed from ``arr``: its own when it is float, else float64."""
    return arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)


def to_numpy(values) -> np.ndarray:
    """``values`` as a NumPy array, unchecked: tensors are read, ragged nested lists become an
    array of objects (which the callers refuse, each in its own words)."""
    if hasattr(values, "numpy") and not isinstance(values, np.ndarray):
        values = values.numpy()
    try:
        return np.asarray(values)
    except ValueError:  # ragged nested lists
        return np.asarray(values, dtype=object)


def as_array(values, arg: str) -> np.ndarray:
    """``values`` as a NumPy array of numbers (tensors are read), or a TypeError naming ``arg``."""
    if values is None or isinstance(values, (str, bytes)) or callable(values):
        raise TypeError(f"{arg} must be a NumPy array or a tensor of numbers; got {describe(values)}.")
    arr = to_numpy(values)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(
            f"{arg} must hold numbers; got an array of dtype {arr.dtype} and shape {arr.shape}. "
            "Stack the images into one array of equal shapes, e.g. np.stack(images)."
        )
    return arr


def check_finite(arr: np.ndarray, arg: str) -> float:
    """The sum of ``arr`` (float), or a ValueError saying where its first NaN or inf is.

    One float32 sum is the cheapest test (NaN and inf propagate through it); only
    when it is not finite is the array searched, which also tells an overflowing
    sum of huge but finite values from a real NaN.
    """
    if arr.dtype.kind not in "fc":
        return float(np.sum(arr, dtype=np.float64))
    total = np.sum(arr, dtype=arr.dtype if arr.dtype.itemsize >= 4 else np.float32)
    if np.isfinite(total):
        return float(total)
    bad = np.argwhere(~np.isfinite(arr))
    if len(bad):
        raise ValueError(
            f"{arg} contain {len(bad)} NaN or infinite value(s), the first at index "
            f"{tuple(int(i) for i in bad[0])}. Find where they come from (a division by zero in "
            "preprocessing?) or replace them, e.g. np.nan_to_num(x)."
        )
    return float(np.sum(arr, dtype=np.float64))
