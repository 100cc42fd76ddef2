"""Self-checks of lab 1 (convolution): :func:`conv_reference` (``tf.nn.conv2d``) and
:func:`check_conv`, which knows the usual mistakes (kernel flipped, bias forgotten,
off-by-one sizes, TensorFlow's asymmetric "same" padding)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ._core import Check, _finish, case, check_function, no_library_convolution

__all__ = ["check_conv", "conv_reference"]


# --------------------------------------------------------------------------
# Convolution (lab 1)
# --------------------------------------------------------------------------


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same': output ceil(size / stride); the odd pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pads(padding, x_shape, w_shape, stride):
    (h, w), (kh, kw) = x_shape[:2], w_shape[:2]
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return _same_padding(h, kh, stride), _same_padding(w, kw, stride)
        raise ValueError(f"padding must be an int, 'valid' or 'same', not {padding!r}")
    p = int(padding)
    return (p, p), (p, p)


def conv_reference(x, w, b=None, stride: int = 1, padding=0) -> np.ndarray:
    """Deep-learning convolution (cross-correlation) of one image, via ``tf.nn.conv2d``.

    ``x`` is (H, W, C) (or (H, W) for one channel), ``w`` is (kh, kw, C, F) as in
    Keras (or (kh, kw, C) for one output map, (kh, kw) when x is (H, W)), ``b`` is
    (F,) or None. ``padding`` is an int (zeros on every side), "valid" or "same"
    (TensorFlow's). The result keeps the layout: (H', W', F), (H', W') for one map.
    Computed in float64, returned as ``np.result_type`` of the inputs.
    """
    import tensorflow as tf

    x = np.asarray(x)
    w = np.asarray(w)
    dtype = np.result_type(x, w, *(() if b is None else (np.asarray(b),)))
    x4, w4, squeeze = x, w, False
    if x.ndim == 2 and w.ndim == 2:
        x4, w4, squeeze = x[:, :, None], w[:, :, None, None], True
    elif x.ndim == 3 and w.ndim == 3:
        w4, squeeze = w[..., None], True
    if x4.ndim != 3 or w4.ndim != 4 or x4.shape[2] != w4.shape[2]:
        raise ValueError(f"conv_reference: x {x.shape} and w {w.shape} do not fit together")
    (pt, pb), (pl, pr) = _pads(padding, x4.shape, w4.shape, stride)
    out = tf.nn.conv2d(
        tf.constant(x4[None], tf.float64), tf.constant(w4, tf.float64),
        strides=int(stride), padding=[[0, 0], [pt, pb], [pl, pr], [0, 0]],
    ).numpy()[0]
    if b is not None:
        out = out + np.asarray(b, np.float64)
    if squeeze:
        out = out[..., 0]
    return out.astype(dtype) if dtype.kind in "fc" else out


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


def _conv_suspects(stage: str):
    flip_hint = ("did you flip the kernel? Deep-learning 'convolution' is cross-correlation: "
                 "multiply each patch by the kernel as it is, without flipping it.")

    def suspects(x, w, b=None, stride=1, padding=0):
        x, w = np.asarray(x), np.asarray(w)
        found = {flip_hint: conv_reference(x, w[::-1, ::-1], b, stride, padding)}
        if w.shape[0] == w.shape[1] and w.shape[0] > 1:
            found["did you swap the kernel's rows and columns (k[j, i] instead of k[i, j])?"] = \
                conv_reference(x, np.swapaxes(w, 0, 1), b, stride, padding)
        if b is not None:
            found["did you forget to add the bias b?"] = conv_reference(x, w, None, stride, padding)
        if isinstance(padding, str) and padding.lower() == "same":
            kh, kw = w.shape[:2]
            (pt, pb), (pl, pr) = _pads("same", x.shape, w.shape, stride)
            if (pt, pl) != (pb, pr):
                xp = np.pad(x, ((pb, pt), (pr, pl), (0, 0)))
                found["for 'same' with an odd amount of padding, TensorFlow puts the extra row/column "
                      "at the bottom/right, not at the top/left."] = conv_reference(xp, w, b, stride, 0)
        return found

    return suspects


def check_conv(fn: Callable, stage: str, *, seed: int = 0, rtol: float = 1e-5,
               verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 1: compare ``fn`` with ``tf.nn.conv2d`` on a few cases.

    ``stage`` is "single" (``fn(x, k)``, x (H, W), k (kh, kw)), "multi" (x (H, W, C),
    k (kh, kw, C)), "filters" (``fn(x, w, b)``, w (kh, kw, C, F), b (F,)) or "full"
    (``fn(x, w, b, stride=..., padding=...)``). The result must have the dtype of
    the inputs. Library convolutions (and TensorFlow) are blocked while ``fn`` runs.
    """
    cases = _conv_cases(stage, np.random.default_rng(seed))
    result = check_function(
        f"conv2d_{stage}", fn, cases, conv_reference,
        rtol=rtol, atol=1e-6, check_dtype=True, suspects=_conv_suspects(stage),
        guard=no_library_convolution, verbose=False,
    )
    if not result and any(line.startswith("shape ") for line in result.lines):
        result.lines.append(f"Hint: {_SHAPE_HINT[stage]}")
    return _finish(result, verbose, strict)


