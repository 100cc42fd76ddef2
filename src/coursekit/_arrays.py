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


def as_array(values, arg: str) -> np.ndarray:
    """``values`` as a NumPy array of numbers (tensors are read), or a TypeError naming ``arg``."""
    if values is None or isinstance(values, (str, bytes)) or callable(values):
        raise TypeError(f"{arg} must be a NumPy array or a tensor of numbers; got {describe(values)}.")
    if hasattr(values, "numpy") and not isinstance(values, np.ndarray):
        values = values.numpy()
    try:
        arr = np.asarray(values)
    except ValueError:  # ragged nested lists
        arr = np.asarray(values, dtype=object)
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(
            f"{arg} must hold numbers; got an array of dtype {arr.dtype} and shape {arr.shape}. "
            "Stack the images into one array of equal shapes, e.g. np.stack(images)."
        )
    return arr


def check_finite(arr: np.ndarray, arg: str) -> np.ndarray:
    """``arr`` unchanged, or a ValueError saying where its first NaN or inf is."""
    if arr.dtype.kind in "fc" and not np.isfinite(np.sum(arr, dtype=np.complex128 if arr.dtype.kind == "c" else np.float64)):
        bad = np.argwhere(~np.isfinite(arr))
        raise ValueError(
            f"{arg} contain {len(bad)} NaN or infinite value(s), the first at index "
            f"{tuple(int(i) for i in bad[0])}. Find where they come from (a division by zero in "
            "preprocessing?) or replace them, e.g. np.nan_to_num(x)."
        )
    return arr
