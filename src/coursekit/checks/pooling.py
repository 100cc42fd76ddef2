"""Self-checks of lab 3 (pooling): max and average pooling, forward and backward, compared with
outputs recorded from TensorFlow (and a numeric gradient recorded beside them), and the generic
gradient-check tools (:func:`numeric_gradient`, :func:`relative_error`)."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._forbid import forbid
from ._functions import case, check_function
from ._report import Check, finish, fmt_shape
from ._student import running
from ._recorded import NotRecorded, recorded

# --------------------------------------------------------------------------
# Pooling (lab 3)
# --------------------------------------------------------------------------

__all__ = [
    "numeric_gradient", "relative_error",
    "check_pool_forward", "check_pool_backward", "check_global_average_pool",
    "check_max_pool_by_conv", "KINDS", "shift_net_problems", "check_shift_net", "check_shift_study",
]


def numeric_gradient(f: Callable, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of the scalar function f at x (CS231n style), in float64."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + h
        above = f(x)
        x[index] = saved - h
        below = f(x)
        x[index] = saved
        grad[index] = (above - below) / (2 * h)
    return grad


def relative_error(a, b) -> float:
    """max |a - b| / max(|a| + |b|, tiny): CS231n's measure for gradient checks."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-12, np.abs(a) + np.abs(b))))


_CS231N_MAP = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float64)


def _pool_geometries():
    """(input shape, size, stride): non-overlapping, odd sides, overlapping, stride > size."""
    return [((2, 6, 6, 3), 2, 2), ((1, 7, 5, 2), 2, 2), ((2, 9, 8, 3), 3, 2),
            ((1, 5, 6, 1), 2, 1), ((1, 9, 9, 2), 2, 3), ((2, 4, 4, 3), 4, 4)]


def _pool_cases(rng: np.random.Generator, backward: bool) -> list[dict]:
    inputs = [(_CS231N_MAP[None, :, :, None], 2, 2, "the 4x4 example of the chapter")]
    inputs += [(rng.normal(size=shape), size, stride, f"{shape}, size {size}, stride {stride}")
               for shape, size, stride in _pool_geometries()]
    ties = rng.integers(0, 3, size=(2, 6, 6, 2)).astype(np.float64)
    inputs += [(ties, 2, 2, "ties (equal values in a window)"), (ties, 3, 1, "ties, overlapping windows"),
               (rng.normal(size=(2, 5, 7, 3)).astype(np.float32), 2, 2, "float32 stays float32")]
    cases = []
    for x, size, stride, label in inputs:
        if backward:
            out_h, out_w = (x.shape[1] - size) // stride + 1, (x.shape[2] - size) // stride + 1
            dout = rng.normal(size=(x.shape[0], out_h, out_w, x.shape[3])).astype(x.dtype)
            cases.append(case(dout, x, size, stride, label=label))
        else:
            cases.append(case(x, size, stride, label=label))
    return cases


_POOL_HINT = ("the output has (H - size) // stride + 1 rows and (W - size) // stride + 1 columns; "
              "window (i, j) covers rows i*stride ... i*stride + size - 1 of every map, "
              "and each map (the last axis) is pooled on its own.")
# the nudge that the step asks for, not the gradient it leads to
_BACKWARD_HINT = {
    "max": "nudge each input of a window a little: only the one that won moves the output (the first "
           "maximum in row-major order when several tie, the one np.argmax of the flattened window "
           "finds); an input that wins several overlapping windows receives from each of them, which "
           "a plain assignment loses.",
    "avg": "nudge one input of a window by h: the window's mean moves by a fraction of h (which?), so "
           "each input receives that share of the upstream value, not all of it; an input in several "
           "overlapping windows receives a share from each.",
}


def check_pool_forward(fn: Callable, kind: str = "max", *, seed: int = 0,
                       verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 3: ``fn(x, size, stride)`` against outputs recorded from ``tf.nn.max_pool2d``
    or ``tf.nn.avg_pool2d`` (``kind`` "max" or "avg") on several shapes, ties and dtypes."""
    cases = _pool_cases(np.random.default_rng(seed), backward=False)
    expected, _ = recorded("pooling", f"{_kind(kind)}_pool_forward")
    return check_function(f"{kind}_pool_forward", fn, cases, expected, rtol=1e-6, atol=1e-6, check_dtype=True,
                          hint=_POOL_HINT, verbose=verbose, strict=strict)


def _kind(kind: str) -> str:
    if kind not in ("max", "avg"):
        raise ValueError(f"kind must be 'max' or 'avg', not {kind!r}")
    return kind


def check_pool_backward(fn: Callable, kind: str = "max", *, seed: int = 0,
                        verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 3: ``fn(dout, x, size, stride)`` against outputs recorded from
    ``tf.GradientTape`` through TensorFlow's pooling, then against a numeric gradient in float64
    (relative error below 1e-8, CS231n style), recorded too."""
    name = f"{_kind(kind)}_pool_backward"
    rng = np.random.default_rng(seed)
    expected, _ = recorded("pooling", name)
    result = check_function(name, fn, _pool_cases(rng, backward=True), expected, rtol=1e-6, atol=1e-6,
                            check_dtype=True, hint=_BACKWARD_HINT[kind], verbose=False)
    if not result:
        return finish(result, verbose, strict)
    x = rng.permutation(2 * 7 * 7 * 2).reshape(2, 7, 7, 2) / 100.0  # 0.01 apart: no ties within h
    dout = rng.normal(size=(2, 3, 3, 2))
    with running(fn, name) as crash:
        analytic = np.asarray(fn(dout, x.copy(), 3, 2), dtype=np.float64)
    if crash:
        return crash.report(verbose, strict)
    try:
        numeric = recorded("pooling", f"{kind}_pool_gradient")[0](dout, x)
    except NotRecorded as missing:
        return finish(Check(name, False, [str(missing)]), verbose, strict)
    error = relative_error(analytic, numeric)
    if not error < 1e-8:
        return finish(Check(name, False, [f"relative error {error:.1e} against a numeric gradient "
                                           "(3x3 windows, stride 2, no ties); it must be below 1e-8.",
                                           f"Hint: {_BACKWARD_HINT[kind]}"]), verbose, strict)
    return finish(Check(name, True, [f"{len(result.lines) and result.lines[0]}",
                                      f"relative error {error:.0e} against a numeric gradient"]),
                   verbose, strict)


def check_global_average_pool(fn: Callable, *, seed: int = 0, verbose: bool = True,
                              strict: bool = False) -> Check:
    """Self-check for lab 3: ``fn(x)`` for x (N, H, W, C) must equal the mean over H and W, (N, C)."""
    rng = np.random.default_rng(seed)
    cases = [case(rng.normal(size=(2, 5, 7, 3))), case(rng.normal(size=(1, 1, 1, 4))),
             case(rng.normal(size=(3, 4, 4, 8)).astype(np.float32), label="float32 stays float32")]
    expected, _ = recorded("pooling", "global_average_pool")
    return check_function("global_average_pool", fn, cases, expected, rtol=1e-6, atol=1e-6,
                          check_dtype=True, hint="average over the height and width axes (1 and 2), "
                          "keep the batch and channel axes: (N, H, W, C) -> (N, C).",
                          verbose=verbose, strict=strict)


#: what 2x2 max pooling built from convolutions and ReLUs may not call
MAX_FUNCTIONS: dict[str, dict[str, str]] = {
    "tensorflow.python.ops.gen_nn_ops": {
        "max_pool": "tf.nn.max_pool2d", "max_pool_v2": "tf.nn.max_pool2d",
        "max_pool_with_argmax": "tf.nn.max_pool_with_argmax",
    },
    "tensorflow.python.ops.gen_math_ops": {"_max": "tf.reduce_max", "maximum": "tf.maximum"},
    "numpy": {"max": "np.max", "amax": "np.amax", "maximum": "np.maximum"},
    # the public names too: tf.maximum and tf.math.maximum hold their own reference to the op
    "tensorflow": {"maximum": "tf.maximum", "reduce_max": "tf.reduce_max"},
    "tensorflow.math": {"maximum": "tf.maximum", "reduce_max": "tf.reduce_max"},
}


def check_max_pool_by_conv(fn: Callable, *, seed: int = 0, verbose: bool = True,
                           strict: bool = False) -> Check:
    """Self-check for lab 3: ``fn(x)``, x (N, H, W, C) float32, must equal the recorded
    ``tf.nn.max_pool2d(x, 2, 2, "VALID")`` without calling any max function."""
    rng = np.random.default_rng(seed)
    ties = rng.integers(-2, 2, size=(2, 6, 6, 1)).astype(np.float32)
    cases = [case(rng.normal(size=(2, 8, 8, 3)).astype(np.float32)),
             case(rng.normal(size=(1, 7, 9, 2)).astype(np.float32), label="odd sides"),
             case(ties, label="ties and negative values")]
    return check_function(
        "max_pool_by_conv", fn, cases, recorded("pooling", "max_pool_by_conv")[0],
        rtol=1e-5, atol=1e-6, check_dtype=True,
        hint="max(a, b) = b + relu(a - b): 2x2 kernels with stride 2 (tf.nn.depthwise_conv2d) pick "
             "one input of every window, or the difference of two; take the maximum of the top pair, "
             "of the bottom pair, then of those two.",
        guard=lambda: forbid(MAX_FUNCTIONS, reason="build the maximum from convolutions and ReLUs."),
        verbose=verbose, strict=strict)


#: the ways lab 3's networks halve their maps, twice
KINDS = ("max", "avg", "strided", "blur")


def _stride(layer) -> int:
    strides = getattr(layer, "strides", 1)
    return int(np.max(strides))


def _is_blur(layer) -> bool:
    """A fixed low-pass filter at stride 2: a depthwise convolution that does not learn, whose
    kernel is non-negative, symmetric, and sums to 1 for each channel (it keeps a flat map flat)."""
    if type(layer).__name__ != "DepthwiseConv2D" or layer.trainable or _stride(layer) != 2:
        return False
    kernel = np.asarray(layer.get_weights()[0], dtype=np.float64)
    return bool(np.all(kernel >= 0) and np.allclose(kernel.sum(axis=(0, 1)), 1.0, atol=1e-5)
                and np.allclose(kernel, kernel[::-1, ::-1], atol=1e-6))


def shift_net_problems(model, kind: str, *, budget: int = 20_000) -> str | None:
    """What is wrong with lab 3's network for ``kind`` (see :data:`KINDS`), or None.

    The properties, not one architecture: MNIST in, 10 logits out, trainable convolutions,
    at most ``budget`` parameters, and the maps halved exactly twice, each time by ``kind`` only:
    ``MaxPooling2D`` or ``AveragePooling2D`` of stride 2, a convolution of stride 2, or a
    stride-1 max pooling followed by a fixed blur at stride 2 (Zhang's BlurPool). Used by the
    self-check and, in the trusted grader, on the model a submission returned.
    """
    layers = list(getattr(model, "layers", []))
    if not layers or not hasattr(model, "count_params"):
        return "return a Keras model"
    if tuple(model.input_shape) != (None, 28, 28, 1):
        return f"the input shape is {tuple(model.input_shape)[1:]}, not (28, 28, 1)"
    if tuple(model.output_shape) != (None, 10):
        return f"the output shape is {tuple(model.output_shape)[1:]}, not (10,): one logit a digit"
    last = layers[-1]
    if type(last).__name__ != "Dense" or getattr(last.activation, "__name__", "") != "linear":
        return "end with Dense(10) and no activation: the loss takes logits"
    names = [type(layer).__name__ for layer in layers]
    convs = [layer for layer in layers if type(layer).__name__ == "Conv2D"]
    if not any(layer.trainable for layer in convs):
        return "the network needs trainable Conv2D layers"
    if model.count_params() > budget:
        return f"{model.count_params():,} parameters, over the budget of {budget:,}"
    halving = {
        "max": [n == "MaxPooling2D" and _stride(layer) == 2 for n, layer in zip(names, layers)],
        "avg": [n == "AveragePooling2D" and _stride(layer) == 2 for n, layer in zip(names, layers)],
        "strided": [n == "Conv2D" and _stride(layer) == 2 for n, layer in zip(names, layers)],
        "blur": [_is_blur(layer) for layer in layers],
    }
    if kind not in halving:
        return f"unknown kind {kind!r}: one of {', '.join(KINDS)}"
    for layer in layers:
        if kind == "blur" and type(layer).__name__ == "DepthwiseConv2D" and not _is_blur(layer):
            if layer.trainable:
                return "the blur filter must not learn: give its DepthwiseConv2D trainable=False"
            return ("the blur filter must be the fixed binomial filter, at stride 2: non-negative, "
                    "symmetric, and its kernel must sum to 1 for each channel (a flat map stays flat)")
    strided = [n for n, layer in zip(names, layers) if _stride(layer) > 1]
    if sum(halving[kind]) != 2 or len(strided) != 2:
        return (f"halve the maps exactly twice, by {kind} only; this network's layers with a stride "
                f"are {strided or 'none'}")
    if kind == "blur" and names.count("MaxPooling2D") != 2:
        return "blur pooling is a max pooling of stride 1, then the fixed blur at stride 2: twice"
    if kind != "blur" and any(not layer.trainable for layer in layers):
        return "only the blur layers are fixed: every other layer learns"
    return None


def check_shift_net(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 3's ``shift_net(kind)``: the properties the grader checks, kind by kind."""
    for kind in KINDS:
        with running(fn, "shift_net", f"shift_net({kind!r}):") as crash:
            model = fn(kind)
        if crash:
            return crash.report(verbose, strict)
        problem = shift_net_problems(model, kind)
        if problem:
            return finish(Check("shift_net", False, [f"shift_net({kind!r}): {problem}."]), verbose, strict)
    return finish(Check("shift_net", True, [f"the four networks ({', '.join(KINDS)}) have the properties "
                                             "the grader checks"]), verbose, strict)


def check_shift_study(fn: Callable, data, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 3: ``fn(kinds, seeds, x_train, y_train, x_test, y_test, shift, epochs)`` on
    a small part of ``data`` (MNIST, as from ``coursekit.data.load``) returns an array of
    (kinds, seeds, 2) accuracies, better than chance, and the same ones when run again."""
    (x_train, y_train), (x_test, y_test) = data
    args = (("strided", "blur"), (1, 2), x_train[:600], y_train[:600], x_test[:300], y_test[:300])
    with running(fn, "shift_study") as crash:
        runs = [np.asarray(fn(*args, shift=(0, 2), epochs=1), dtype=np.float64) for _ in range(2)]
    if crash:
        return crash.report(verbose, strict)
    first = runs[0]
    if first.shape != (2, 2, 2):
        return finish(Check("shift_study", False, [
            f"returned shape {fmt_shape(first.shape)} for 2 kinds and 2 seeds; expected (2, 2, 2): "
            "for each kind and seed, the accuracy on centred digits, then on shifted ones."]), verbose, strict)
    if not np.all((first > 0.2) & (first <= 1.0)):
        return finish(Check("shift_study", False, [
            f"accuracies {first.round(3).tolist()} after one epoch on 600 digits; expected between 0.2 "
            "and 1. Are the images scaled to [0, 1] and given a channel axis, and the loss from logits?"]),
            verbose, strict)
    if not np.array_equal(runs[0], runs[1]):
        return finish(Check("shift_study", False, [
            "two runs with the same seeds gave different accuracies: call "
            "keras.utils.set_random_seed(seed) before building each network."]), verbose, strict)
    if np.array_equal(first[:, 0], first[:, 1]):
        return finish(Check("shift_study", False, [
            "the two seeds gave the same accuracies: seed each run with its own seed."]), verbose, strict)
    return finish(Check("shift_study", True, [
        "a quick run on 600 digits: " + "; ".join(
            f"{kind} {first[i, :, 0].mean():.3f} centred, {first[i, :, 1].mean():.3f} shifted"
            for i, kind in enumerate(args[0])) + "; seeded"]), verbose, strict)
