"""Self-checks of lab 2 (padding, stride, dilation and receptive fields)."""

from __future__ import annotations

import math
import sys
from typing import Callable

import numpy as np

from ._core import Check, _finish, case, check_function, no_library_convolution
from .convolution import _same_padding, conv_reference

__all__ = ["same_pads", "dilated_conv_reference", "check_output_size", "check_same_padding",
           "check_im2col", "receptive_field_reference", "check_receptive_field",
           "rf_design_problems", "check_rf_design"]


# --------------------------------------------------------------------------
# Padding, stride, dilation and receptive fields (lab 2)
# --------------------------------------------------------------------------
# The references below use coursekit.arith where it has the answer, and say in a hint
# which usual mistake a wrong answer matches: symmetric "same" padding, flooring in the
# wrong place, dilation left out of the kernel's span, a receptive-field jump not multiplied.

_DILATION_HINT = ("did you forget the dilation? A kernel of k taps with dilation d spans "
                  "(k - 1) * d + 1 pixels: use that span wherever the kernel size appears.")


def _span(kernel: int, dilation: int) -> int:
    return (int(kernel) - 1) * int(dilation) + 1


def same_pads(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding along one axis, (before, after): the odd pixel goes after."""
    return _same_padding(size, _span(kernel, dilation), stride)


def _pad_pair(padding, size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) for an int (each side), "valid", "same" or "full"."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "same":
            return same_pads(size, kernel, stride, dilation)
        if mode == "full":
            return (_span(kernel, dilation) - 1,) * 2
        if mode == "valid":
            return 0, 0
        raise ValueError(f"padding must be an int, 'valid', 'same' or 'full', not {padding!r}")
    return int(padding), int(padding)


def dilated_conv_reference(x, w, b=None, stride: int = 1, padding=0, dilation: int = 1) -> np.ndarray:
    """:func:`conv_reference` with dilation and "full" padding too (x (H, W, C), w (kh, kw, C, F)).

    A dilated kernel is the kernel with ``dilation - 1`` zeros between its taps, so this
    spreads the taps out and pads explicitly, then calls :func:`conv_reference`.
    """
    x, w = np.asarray(x), np.asarray(w)
    (kh, kw), d = w.shape[:2], int(dilation)
    spread = np.zeros((_span(kh, d), _span(kw, d), *w.shape[2:]), dtype=w.dtype)
    spread[::d, ::d] = w
    pads = [_pad_pair(padding, x.shape[0], kh, stride, d), _pad_pair(padding, x.shape[1], kw, stride, d)]
    return conv_reference(np.pad(x, pads + [(0, 0)] * (x.ndim - 2)), spread, b, stride, 0)


def _output_size_reference(n, k, stride=1, padding=0, dilation=1):
    from coursekit import arith

    return arith.conv_output_size(n, k, stride, padding, dilation)


def _output_size_suspects(n, k, stride=1, padding=0, dilation=1):
    before, after = _pad_pair(padding, n, k, stride, dilation)
    span, found = _span(k, dilation), {}
    if dilation > 1:
        found[_DILATION_HINT] = (n + before + after - k) // stride + 1
    if stride > 1:
        found["round down once, at the end: floor((n + 2p - span) / stride) + 1, not ceil and not "
              "floor((n + 2p) / stride) - ..."] = math.ceil((n + before + after - span) / stride) + 1
    if isinstance(padding, str) and padding == "same" and stride > 1:
        found["'same' keeps ceil(n / stride) pixels, not n: the stride still divides."] = n
    return found


def _raises(fn, args, error=ValueError) -> bool:
    try:
        fn(*args)
    except error:
        return True
    except Exception:  # noqa: BLE001 - another error is a failure, reported as such
        return False
    return False


def check_output_size(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``output_size(n, k, stride, padding, dilation)``, against ``coursekit.arith``."""
    cases = [case(5, 3, label="3x3 patches in a 5x5 map"), case(32, 5, label="a 5x5 kernel on 32x32"),
             case(7, 3, 2, label="stride 2"), case(5, 3, 2, 1, label="the seed's padding 1, stride 2"),
             case(224, 11, 4, label="a stride that does not divide"),
             case(7, 4, 2, "same", label="'same', stride 2"), case(10, 3, 1, "full", label="'full'"),
             case(10, 3, 1, "valid", 2, label="dilation 2"), case(9, 3, 2, "same", 3, label="all at once")]
    result = check_function("output_size", fn, cases, _output_size_reference,
                            suspects=_output_size_suspects, verbose=False)
    if result:
        for args, why in [((5, 3, 1, "middle"), "an unknown padding name"),
                          ((4, 7), "a kernel larger than the padded input")]:
            if not _raises(fn, args):
                result = Check("output_size", False, [f"output_size{args}: {why} must raise ValueError."])
                break
    return _finish(result, verbose, strict)


def _same_padding_suspects(n, k, stride=1, dilation=1):
    before, after = same_pads(n, k, stride, dilation)
    total = before + after
    found = {"TensorFlow puts the odd row/column of padding after (bottom/right), not before.": (after, before)}
    if total % 2:
        found["'same' is not symmetric: when the total is odd, before = total // 2 and after gets "
              "the rest."] = (total // 2, total // 2)
    if dilation > 1:
        found[_DILATION_HINT] = same_pads(n, k, stride, 1)
    if stride > 1:
        found["the total depends on the stride: (ceil(n / s) - 1) * s + span - n, at least 0."] = \
            ((_span(k, dilation) - 1) // 2, _span(k, dilation) - 1 - (_span(k, dilation) - 1) // 2)
    return {hint: wrong for hint, wrong in found.items() if tuple(wrong) != (before, after)}


def check_same_padding(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``same_padding(n, k, stride, dilation)`` -> (before, after)."""
    cases = [case(5, 3, label="odd kernel"), case(5, 4, label="even kernel: an odd total"),
             case(224, 3, 2, label="224, stride 2"), case(7, 4, 2, label="stride 2, even kernel"),
             case(9, 3, 1, 2, label="dilation 2"), case(6, 1, 3, label="1x1 kernel, stride 3"),
             case(8, 5, 3, 2, label="all at once")]
    return check_function("same_padding", fn, cases, same_pads, suspects=_same_padding_suspects,
                          verbose=verbose, strict=strict)


def _python_lines(fn: Callable, *args, **kwargs) -> int:
    """How many lines of the student's own code run in one call (loops over pixels show up)."""
    code = getattr(fn, "__code__", None)
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if code is not None and frame.f_code.co_filename == code.co_filename and event == "line":
            count += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn(*args, **kwargs)
    finally:
        sys.settrace(previous)
    return count


def _im2col_suspects(x, w, b=None, stride=1, padding=0, dilation=1):
    found = {}
    if dilation > 1:
        found[_DILATION_HINT] = dilated_conv_reference(x, w, b, stride, padding, 1)
    if isinstance(padding, str) and padding == "same":
        (pt, pb), (pl, pr) = (same_pads(x.shape[i], w.shape[i], stride, dilation) for i in (0, 1))
        if (pt, pl) != (pb, pr):
            xp = np.pad(x, ((pb, pt), (pr, pl), (0, 0)))
            found["for 'same' with an odd amount of padding, the extra row/column goes at the "
                  "bottom/right."] = dilated_conv_reference(xp, w, b, stride, 0, dilation)
    if b is not None:
        found["did you forget to add the bias b?"] = dilated_conv_reference(x, w, None, stride, padding, dilation)
    found["did you flip the kernel? Multiply each window by the kernel as it is."] = \
        dilated_conv_reference(x, w[::-1, ::-1], b, stride, padding, dilation)
    return found


def check_im2col(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``conv2d_im2col(x, w, b, stride, padding, dilation)``.

    Compares with ``tf.nn.conv2d`` (dilation by a spread-out kernel), blocks library
    convolutions, and counts the lines of the student's code that run: a loop over the
    output pixels runs thousands, one matrix product a handful.
    """
    rng = np.random.default_rng(seed)

    def arr(*shape, dtype=np.float64):
        return rng.normal(size=shape).astype(dtype)

    cases = [case(arr(5, 5, 1), arr(3, 3, 1, 1), None, 2, 1, label="the seed's padding 1, stride 2"),
             case(arr(6, 7, 3), arr(3, 2, 3, 4), arr(4), label="the defaults: valid, stride 1"),
             case(arr(7, 8, 2), arr(4, 4, 2, 3), arr(3), 2, "same", label="'same' with an odd total"),
             case(arr(9, 9, 2), arr(3, 3, 2, 2), arr(2), 1, "valid", 2, label="dilation 2"),
             case(arr(10, 9, 2), arr(3, 3, 2, 2), None, 2, "same", 2, label="'same', stride 2, dilation 2"),
             case(arr(4, 5, 2), arr(2, 3, 2, 2), arr(2), 1, "full", label="'full'"),
             case(arr(6, 6, 3, dtype=np.float32), arr(3, 3, 3, 2, dtype=np.float32), arr(2, dtype=np.float32),
                  3, 2, label="float32, padding 2, stride 3")]
    result = check_function("conv2d_im2col", fn, cases, dilated_conv_reference, rtol=1e-5, atol=1e-6,
                            check_dtype=True, suspects=_im2col_suspects, guard=no_library_convolution,
                            verbose=False)
    if result:
        x, w = arr(34, 34, 1), arr(3, 3, 1, 1)
        lines = _python_lines(fn, x, w)
        if lines > 400:  # 32 x 32 outputs: a loop over them runs at least 1024 lines
            result = Check("conv2d_im2col", False, [
                f"{lines} lines of your code ran for a 34x34 input: it loops over the output pixels.",
                "Build all the windows at once (sliding_window_view, or fancy indexing), reshape them "
                "into a patch matrix, and do one matrix product."])
    return _finish(result, verbose, strict)


def receptive_field_reference(layers) -> tuple[int, int, float]:
    """(size, jump, start) after ``layers`` of (kernel, stride, dilation[, padding before]).

    ``start`` is the centre of the first unit's field, with input pixel i centred at i.
    """
    size, jump, start = 1, 1, 0.0
    for layer in layers:
        kernel, stride, dilation, padding = (*tuple(layer), 0)[:4]
        span = _span(kernel, dilation)
        start += ((span - 1) / 2 - int(padding)) * jump
        size += (span - 1) * jump
        jump *= int(stride)
    return size, jump, start


def _receptive_field_suspects(layers):
    size, jump, start = receptive_field_reference(layers)
    no_jump = receptive_field_reference([(k, 1, d, p) for k, _s, d, p in ((*tuple(l), 0)[:4] for l in layers)])
    no_dilation = receptive_field_reference([(k, s, 1, p) for k, s, _d, p in ((*tuple(l), 0)[:4] for l in layers)])
    return {
        "each layer adds (k - 1) * d units of the layer below, and they lie `jump` input pixels apart: "
        "multiply by the jump before updating it.": (no_jump[0], jump, start),
        _DILATION_HINT: no_dilation,
        "padding before the input moves the first window to the left: subtract padding * jump from "
        "the start.": receptive_field_reference([tuple(l)[:3] for l in layers]),
    }


def check_receptive_field(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``receptive_field(layers)`` -> (size, jump, start)."""
    def suspects(layers):
        want = receptive_field_reference(layers)
        return {h: w for h, w in _receptive_field_suspects(layers).items() if tuple(w) != tuple(want)}

    cases = [case([], label="no layers"), case([(3, 1, 1)] * 6, label="six 3x3 convolutions"),
             case([(3, 1, 1), (2, 2, 1)] * 3, label="three conv3x3-pool2x2 blocks"),
             case([(3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8)], label="dilations 1, 2, 4, 8"),
             case([(7, 2, 1, 3), (3, 2, 1, 1), (3, 1, 1, 1)], label="ResNet-like stem, with padding")]
    return check_function("receptive_field", fn, cases, receptive_field_reference, suspects=suspects,
                          verbose=verbose, strict=strict)


def rf_design_problems(design, *, size_in: int = 224, size_out: int = 7, min_field: int = 100,
                       budget: int = 60_000, channels_in: int = 3, filters: int = 32) -> str | None:
    """What is wrong with a design (a list of (kernel, stride) "same" Conv2D layers), or None.

    Every layer has ``filters`` filters with biases; the first sees ``channels_in`` channels.
    Used by the self-check and, in the trusted grader, on the values a submission returned.
    """
    try:
        layers = np.asarray(design)
    except Exception:  # noqa: BLE001 - anything that is not a table of numbers
        layers = np.asarray(None)
    if layers.ndim != 2 or layers.shape[1] != 2 or not len(layers) or layers.dtype.kind not in "iuf":
        return "design must be a non-empty list of (kernel, stride) pairs of ints"
    if not np.all(np.isfinite(layers)) or np.any(layers != np.round(layers)) or np.any(layers < 1):
        return "kernel sizes and strides must be whole numbers >= 1"
    if len(layers) > 50 or np.any(layers > 64):
        return "keep it small: at most 50 layers, kernels and strides at most 64"
    size, field, jump, params, channels = size_in, 1, 1, 0, channels_in
    for kernel, stride in layers.astype(int).tolist():
        size = math.ceil(size / stride)
        field, jump = field + (kernel - 1) * jump, jump * stride
        params += kernel * kernel * channels * filters + filters
        channels = filters
    problems = []
    if size != size_out:
        problems.append(f"the output is {size}x{size}, not {size_out}x{size_out}")
    if field < min_field:
        problems.append(f"the receptive field is {field}, less than {min_field}")
    if params > budget:
        problems.append(f"{params:,} parameters, over the budget of {budget:,}")
    return "; ".join(problems) or None


def check_rf_design(design, *, verbose: bool = True, strict: bool = False, **constraints) -> Check:
    """Self-check for lab 2's design question: the constraints that the grader checks, one by one."""
    problem = rf_design_problems(design, **constraints)
    lines = [problem[0].upper() + problem[1:] + "."] if problem else ["every constraint is met"]
    return _finish(Check("rf_design", problem is None, lines), verbose, strict)


