"""Self-checks of lab 1 (convolution): :func:`check_conv`, which compares with outputs recorded
from ``tf.nn.conv2d`` and knows the usual mistakes (kernel flipped, bias forgotten, off-by-one
sizes, TensorFlow's asymmetric "same" padding), and :func:`check_conv_backward`, which compares a
backward pass with gradients recorded from ``tf.GradientTape``."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._forbid import no_library_convolution
from ._functions import case, check_function
from ._report import Check, finish
from ._recorded import recorded

__all__ = ["check_conv", "check_conv_backward"]


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
    return finish(result, verbose, strict)




# --------------------------------------------------------------------------
# The backward pass (lab 1)
# --------------------------------------------------------------------------

# the step's three questions, pointed at again: never their answers (the step asks to derive them)
_BACKWARD_HINT = {
    "db": "db has one value per filter, shape (F,): count the outputs of filter f that b[f] entered, "
          "and what each of them sends back to it.",
    "dw": "dw has the shape of w, (kh, kw, C_in, F): in step 3's formula, find the input that "
          "w[m, n, c, f] multiplies to make y[i, j, f], and pair it with dout[i, j, f] for every (i, j).",
    "dx": "dx has the shape of x, (H, W, C_in): on a 3x3 input and a 2x2 kernel, list the outputs that "
          "a corner pixel touched and those that the centre touched; pad dout so that every pixel finds "
          "each output it touched, and give back only the pixels of x, not of the padded input.",
}


def _backward_cases(rng: np.random.Generator) -> list[dict]:
    def arr(*shape, dtype=np.float64):
        return rng.normal(size=shape).astype(dtype)

    geometries = [((5, 5, 1), (3, 3, 1, 1), 0, "one channel, one filter, 3x3"),
                  ((6, 5, 2), (3, 2, 2, 3), 0, "2 channels in, 3 filters, a 3x2 kernel"),
                  ((5, 6, 3), (3, 3, 3, 2), 1, "padding 1"),
                  ((4, 4, 2), (2, 3, 2, 2), 2, "padding 2 with an even kernel side"),
                  ((3, 4, 2), (3, 4, 2, 1), 0, "kernel as large as the input"),
                  ((5, 4, 2), (1, 1, 2, 3), 0, "1x1 kernel")]
    cases = []
    for (h, w, c), (kh, kw, _, f), p, label in geometries:
        dout = arr(h + 2 * p - kh + 1, w + 2 * p - kw + 1, f)
        cases.append(case(dout, arr(h, w, c), arr(kh, kw, c, f), padding=p, label=label))
    x, w = arr(5, 5, 2, dtype=np.float32), arr(3, 3, 2, 2, dtype=np.float32)
    cases.append(case(arr(5, 5, 2, dtype=np.float32), x, w, padding=1, label="float32 stays float32"))
    return cases


def _one_part(fn: Callable, index: int) -> Callable:
    """fn's result number `index` of three, with a clear error when fn returns something else."""
    def part(*args, **kwargs):
        got = fn(*args, **kwargs)
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            raise TypeError(f"{getattr(fn, '__name__', 'the function')} must return three arrays, "
                            f"(dx, dw, db), not a {type(got).__name__}")
        return got[index]

    part.__name__ = getattr(fn, "__name__", "conv2d_backward")
    return part


def check_conv_backward(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 1: ``fn(dout, x, w, padding=0)`` returns (dx, dw, db) of a stride-1
    convolution; each is compared with gradients recorded from ``tf.GradientTape`` (db first,
    then dw, then dx). Library convolutions (and TensorFlow) are blocked while ``fn`` runs."""
    cases = _backward_cases(np.random.default_rng(seed))
    lines = []
    for part in ("db", "dw", "dx"):
        name = f"conv2d_backward_{part}"
        expected, suspects = recorded("convolution", name)
        result = check_function(name, _one_part(fn, ("dx", "dw", "db").index(part)), cases, expected,
                                rtol=1e-5, atol=1e-6, check_dtype=True, suspects=suspects,
                                guard=no_library_convolution, verbose=False)
        if not result:
            if "not implemented yet" not in result.message:
                result.lines.append(f"Hint ({part}): {_BACKWARD_HINT[part]}")
            return finish(result, verbose, strict)
        lines.append(f"{part}: {result.lines[0]}")
    return finish(Check("conv2d_backward", True, lines), verbose, strict)
