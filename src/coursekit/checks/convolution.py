"""Self-checks of lab 1 (convolution): :func:`check_conv`, which compares with outputs recorded
from ``tf.nn.conv2d`` and knows the usual mistakes (kernel flipped, bias forgotten, off-by-one
sizes, TensorFlow's asymmetric "same" padding)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._core import Check, _finish, case, check_function, no_library_convolution
from ._recorded import recorded

__all__ = ["check_conv"]


# --------------------------------------------------------------------------
# Convolution (lab 1)
# --------------------------------------------------------------------------


# The worked example of Dumoulin & Visin's guide to convolution arithmetic, fig. 1.1.
DUMOULIN_X = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
                      dtype=np.float64)
DUMOULIN_K = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], dtype=np.float64)
DUMOULIN_Y = np.array([[12, 12, 17], [10, 17, 19], [9, 6, 14]], dtype=np.float64)

_SHAPE_HINT = {
    "single": "a valid convolution of an (H, W) image with a (kh, kw) kernel has H - kh + 1 rows and "
              "W - kw + 1 columns: loop with range(H - kh + 1).",
    "multi": "x is (H, W, C) and k is (kh, kw, C): one output map of shape (H - kh + 1, W - kw + 1); "
             "sum over the channels as well.",
    "filters": "x is (H, W, C), w is (kh, kw, C, F) and b is (F,): the output is "
               "(H - kh + 1, W - kw + 1, F), one map per filter.",
    "full": "pad first (np.pad with zeros), then the output has (H + pt + pb - kh) // stride + 1 rows; "
            "'same' gives ceil(H / stride) rows, with the odd padding pixel at the bottom/right.",
}


def _conv_cases(stage: str, rng: np.random.Generator) -> list[dict]:
    def arr(*shape, dtype=np.float64):
        return rng.normal(size=shape).astype(dtype)

    if stage == "single":
        return [
            case(DUMOULIN_X, DUMOULIN_K, label="the worked example (5x5 input, 3x3 kernel)"),
            case(arr(6, 8), arr(3, 2), label="non-square input and kernel"),
            case(arr(5, 4, dtype=np.float32), arr(2, 2, dtype=np.float32), label="float32"),
            case(arr(4, 5), arr(4, 5), label="kernel as large as the input"),
            case(arr(3, 4), arr(1, 1), label="1x1 kernel"),
        ]
    if stage == "multi":
        return [
            case(arr(5, 5, 3), arr(3, 3, 3), label="RGB-like input"),
            case(arr(6, 4, 1), arr(2, 3, 1), label="one channel"),
            case(arr(5, 6, 4, dtype=np.float32), arr(3, 2, 4, dtype=np.float32), label="float32, 4 channels"),
        ]
    if stage == "filters":
        return [
            case(arr(5, 5, 3), arr(3, 3, 3, 2), arr(2), label="3 in maps, 2 out maps, 3x3 kernels"),
            case(arr(6, 7, 2), arr(2, 3, 2, 4), arr(4), label="non-square, 4 filters"),
            case(arr(4, 4, 1, dtype=np.float32), arr(1, 1, 1, 3, dtype=np.float32),
                 arr(3, dtype=np.float32), label="float32, 1x1 kernels"),
        ]
    if stage == "full":
        return [
            case(arr(5, 5, 1), arr(3, 3, 1, 1), arr(1), label="the default: stride 1, no padding"),
            case(arr(5, 5, 2), arr(3, 3, 2, 2), arr(2), stride=2, padding=1, label="stride 2, padding 1"),
            case(arr(7, 6, 3), arr(3, 2, 3, 2), arr(2), stride=1, padding="same", label="'same', stride 1"),
            case(arr(6, 6, 1), arr(2, 2, 1, 1), arr(1), padding="same", label="'same' with an even kernel"),
            case(arr(7, 8, 2), arr(3, 3, 2, 3), arr(3), stride=2, padding="same", label="'same', stride 2"),
            case(arr(8, 7, 2), arr(3, 3, 2, 1), arr(1), stride=3, padding="valid", label="'valid', stride 3"),
        ]
    raise ValueError(f"stage must be one of {sorted(_SHAPE_HINT)}, not {stage!r}")


def check_conv(fn: Callable, stage: str, *, seed: int = 0, rtol: float = 1e-5,
               verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 1: compare ``fn`` with outputs recorded from ``tf.nn.conv2d`` on a few cases.

    ``stage`` is "single" (``fn(x, k)``, x (H, W), k (kh, kw)), "multi" (x (H, W, C),
    k (kh, kw, C)), "filters" (``fn(x, w, b)``, w (kh, kw, C, F), b (F,)) or "full"
    (``fn(x, w, b, stride=..., padding=...)``). The result must have the dtype of
    the inputs. Library convolutions (and TensorFlow) are blocked while ``fn`` runs.
    """
    cases = _conv_cases(stage, np.random.default_rng(seed))
    expected, suspects = recorded("convolution", f"conv2d_{stage}")
    result = check_function(
        f"conv2d_{stage}", fn, cases, expected,
        rtol=rtol, atol=1e-6, check_dtype=True, suspects=suspects,
        guard=no_library_convolution, verbose=False,
    )
    if not result and any(line.startswith("shape ") for line in result.lines):
        result.lines.append(f"Hint: {_SHAPE_HINT[stage]}")
    return _finish(result, verbose, strict)


