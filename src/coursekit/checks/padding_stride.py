"""Self-checks of lab 2 (padding, stride, dilation and receptive fields)."""

from __future__ import annotations

import math
import sys
from typing import Callable

import numpy as np

from ._forbid import no_library_convolution
from ._functions import case, check_function
from ._report import Check, finish
from ._recorded import recorded

__all__ = ["check_layer_cost", "check_same_padding", "check_im2col", "check_receptive_field",
           "rf_design_problems", "check_rf_design"]


# --------------------------------------------------------------------------
# Padding, stride, dilation and receptive fields (lab 2)
# --------------------------------------------------------------------------
# Each self-check compares with outputs recorded from the instructor's references, and says in a
# hint which usual mistake a wrong answer matches: biases or groups forgotten, symmetric "same" padding, flooring in the
# wrong place, dilation left out of the kernel's span, a receptive-field jump not multiplied.


def _raises(fn, args, error=ValueError) -> bool:
    try:
        fn(*args)
    except error:
        return True
    except Exception:  # noqa: BLE001 - another error is a failure, reported as such
        return False
    return False


def check_layer_cost(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``layer_cost(kind, side, c_in, c_out, k, stride, padding, groups)``."""
    cases = [case("conv", 32, 16, 32, label="a 3x3 convolution"),
             case("conv", 56, 64, 128, 1, label="a pointwise (1x1) convolution"),
             case("conv", 28, 32, 64, 3, 1, "same", 4, label="a convolution in 4 groups"),
             case("depthwise", 112, 32, 32, 3, 2, label="depthwise, stride 2"),
             case("depthwise", 14, 8, 16, 5, label="depthwise with a depth multiplier of 2"),
             case("separable", 56, 64, 128, 3, 2, label="separable, stride 2"),
             case("conv", 31, 3, 8, 4, 2, "valid", label="'valid', a stride that does not divide"),
             case("separable", 9, 16, 24, 3, 1, "valid", label="separable, 'valid'"),
             case("conv", 15, 8, 8, 3, 2, "same", 2, label="'same', stride 2, an odd side, 2 groups")]
    expected, suspects = recorded("padding_stride", "layer_cost")
    result = check_function("layer_cost", fn, cases, expected, suspects=suspects, verbose=False)
    if result:
        for args, why in [(("dense", 8, 4, 4), "an unknown kind"),
                          (("conv", 8, 6, 4, 3, 1, "same", 4), "groups that do not divide the channels"),
                          (("conv", 8, 4, 4, 3, 1, "half"), "an unknown padding")]:
            if not _raises(fn, args):
                result = Check("layer_cost", False, [f"layer_cost{args}: {why} must raise ValueError."])
                break
    return finish(result, verbose, strict)


def check_same_padding(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``same_padding(n, k, stride, dilation)`` -> (before, after)."""
    cases = [case(5, 3, label="odd kernel"), case(5, 4, label="even kernel: an odd total"),
             case(224, 3, 2, label="224, stride 2"), case(7, 4, 2, label="stride 2, even kernel"),
             case(9, 3, 1, 2, label="dilation 2"), case(6, 1, 3, label="1x1 kernel, stride 3"),
             case(8, 5, 3, 2, label="all at once")]
    expected, suspects = recorded("padding_stride", "same_padding")
    return check_function("same_padding", fn, cases, expected, suspects=suspects, verbose=verbose, strict=strict)


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


def check_im2col(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``conv2d_im2col(x, w, b, stride, padding, dilation)``.

    Compares with outputs recorded from ``tf.nn.conv2d`` (dilation by a spread-out kernel), blocks library
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
    expected, suspects = recorded("padding_stride", "conv2d_im2col")
    result = check_function("conv2d_im2col", fn, cases, expected, rtol=1e-5, atol=1e-6,
                            check_dtype=True, suspects=suspects, guard=no_library_convolution,
                            verbose=False)
    if result:
        x, w = arr(34, 34, 1), arr(3, 3, 1, 1)
        lines = _python_lines(fn, x, w)
        if lines > 400:  # 32 x 32 outputs: a loop over them runs at least 1024 lines
            result = Check("conv2d_im2col", False, [
                f"{lines} lines of your code ran for a 34x34 input: it loops over the output pixels.",
                "Build all the windows at once (sliding_window_view, or fancy indexing), reshape them "
                "into a patch matrix, and do one matrix product."])
    return finish(result, verbose, strict)


def check_receptive_field(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``receptive_field(layers)`` -> (size, jump, start)."""
    cases = [case([], label="no layers"), case([(3, 1, 1)] * 6, label="six 3x3 convolutions"),
             case([(3, 1, 1), (2, 2, 1)] * 3, label="three conv3x3-pool2x2 blocks"),
             case([(3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8)], label="dilations 1, 2, 4, 8"),
             case([(7, 2, 1, 3), (3, 2, 1, 1), (3, 1, 1, 1)], label="ResNet-like stem, with padding")]
    expected, suspects = recorded("padding_stride", "receptive_field")
    return check_function("receptive_field", fn, cases, expected, suspects=suspects,
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
    if design is None:
        return finish(Check("rf_design", False, ["design is not written yet: set design = [(kernel, stride), ...] "
                                                  "in the cell above."]), verbose, strict)
    problem = rf_design_problems(design, **constraints)
    lines = [problem[0].upper() + problem[1:] + "."] if problem else ["every constraint is met"]
    return finish(Check("rf_design", problem is None, lines), verbose, strict)


