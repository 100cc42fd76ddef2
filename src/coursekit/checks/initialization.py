"""Self-checks of lab 7 (initialization): the gain of a leaky ReLU, a sampler that keeps the
backward signal (fan-out), and a measurement of the forward and backward signal per layer.

The gain and the measurement are compared with outputs recorded by the instructor's references
(``coursekit.checks._recorded``); a sample of weights is judged on its statistics (shape, mean,
variance, kurtosis). ``normal_sample_problems`` also serves the lab's hidden checks, which run it
in the trusted grader on what the student's code returned.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ._functions import case, check_function
from ._report import Check, finish, fmt_shape
from ._student import running
from ._recorded import recorded

__all__ = ["VARIANCE_RTOL", "KURTOSIS_BAND", "kernel_fans", "normal_sample_problems", "probe_stack",
           "check_leaky_relu_gain", "check_fan_out_normal", "check_signal_norms"]

#: a sample's variance must be within 2 % of the rule (200,000 weights: 6 standard errors)
VARIANCE_RTOL = 0.02

#: a normal's kurtosis is 3; a uniform's 1.8, a normal cut at 2 standard deviations 2.4
#: (200,000 weights: the estimate's standard error is 0.011)
KURTOSIS_BAND = (2.85, 3.15)


def kernel_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a Keras kernel (k..., C_in, C_out): what the checks' variances use."""
    dims = [int(d) for d in shape]
    field = math.prod(dims[:-2])
    return dims[-2] * field, dims[-1] * field


def _as_float_array(values):
    """(array, None) for a float array, else (None, what is wrong)."""
    try:
        array = np.array(values, subok=False)
    except Exception:  # noqa: BLE001 - whatever came back is judged, never trusted
        return None, f"returned a {type(values).__name__}, not an array"
    if array.dtype.kind != "f":
        return None, f"dtype {array.dtype}: weights are floats"
    return array.astype(np.float64), None


def normal_sample_problems(values, shape, variance: float) -> list[str]:
    """What is wrong with a sample meant to be N(0, variance) of this shape, in words ([] when
    nothing is): shape, finite values, mean, variance (within VARIANCE_RTOL) and kurtosis."""
    array, problem = _as_float_array(values)
    if problem:
        return [problem]
    if array.shape != tuple(shape):
        return [f"shape {fmt_shape(array.shape)}, expected {fmt_shape(tuple(shape))}"]
    if not np.all(np.isfinite(array)):
        return ["some values are NaN or infinite"]
    problems = []
    spread = math.sqrt(variance)
    if abs(float(array.mean())) > 0.02 * spread:
        problems.append(f"mean {array.mean():.3g}: the weights are centred on 0")
    measured = float(np.mean(array**2))
    if abs(measured / variance - 1) > VARIANCE_RTOL:
        problems.append(f"variance {measured:.4g}, but gain**2 / fan_out is {variance:.4g} "
                        f"(ratio {measured / variance:.3f})")
    kurtosis = float(np.mean(array**4)) / measured**2
    if not KURTOSIS_BAND[0] <= kurtosis <= KURTOSIS_BAND[1]:
        problems.append(f"kurtosis {kurtosis:.2f}: a normal's is 3 (a uniform's 1.8, a normal cut at "
                        "2 standard deviations 2.4); draw with rng.normal, untruncated")
    return problems


def _sample_diagnosis(values, shape, gain: float) -> str | None:
    """The likely mistake behind a sample of the wrong variance."""
    array, problem = _as_float_array(values)
    if problem or array.shape != tuple(shape):
        return None
    fan_in, fan_out = kernel_fans(shape)
    ratio = float(np.mean(array**2)) / (gain**2 / fan_out)
    suspects = [("fan_in used: keeping the backward signal divides by fan_out = C_out times the "
                 "receptive field", fan_out / fan_in),
                ("the gain is left out: the variance is gain**2 / fan_out", 1 / gain**2),
                ("the gain is not squared: the variance is gain**2 / fan_out", 1 / gain),
                ("the variance gain**2 / fan_out used as the standard deviation: pass its square root "
                 "to rng.normal", math.sqrt(fan_out) / gain),
                ("the receptive field is missing from fan_out: it is k_h * k_w * C_out",
                 fan_out / int(shape[-1]))]
    for hint, wrong in suspects:
        if abs(wrong - 1) > 0.05 and abs(ratio / wrong - 1) < 0.03:
            return hint
    return None


# --------------------------------------------------------------------------
# Step 1: the gain of a leaky ReLU
# --------------------------------------------------------------------------

def check_leaky_relu_gain(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 7: ``fn(alpha)``, the gain that keeps the mean square of the signal
    through a leaky ReLU of slope ``alpha`` (recorded), for slopes from 0 (ReLU) to 1 (no
    activation) and beyond; a Python float comes back."""
    slopes = [0.0, 0.01, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0]
    expected, suspects = recorded("initialization", "leaky_relu_gain")
    result = check_function(
        "leaky_relu_gain", fn, [case(alpha) for alpha in slopes], expected, rtol=1e-9, atol=0,
        suspects=suspects,
        hint="write the mean square of leaky_relu(z) for z ~ N(0, v) (half the mass on each side), "
             "then choose the gain g whose weights, Var(w) = g**2 / fan_in, give that much back.",
        verbose=False)
    if result:
        got = fn(0.2)
        if not isinstance(got, (float, np.floating)) or np.ndim(got):
            result = Check("leaky_relu_gain", False, ["return one float (float(...)), not "
                                                      f"a {type(got).__name__}"])
    return finish(result, verbose, strict)


# --------------------------------------------------------------------------
# Step 2: a sampler that keeps the backward signal
# --------------------------------------------------------------------------

#: fan_in != fan_out, a receptive field of 9, >= 200,000 values each; slopes
_SAMPLE_CASES = [((3, 3, 48, 480), 0.0), ((900, 250), 0.2), ((5, 40, 1000), 0.5)]


def check_fan_out_normal(fn: Callable, gain_fn: Callable, *, seed: int = 0, verbose: bool = True,
                         strict: bool = False) -> Check:
    """Self-check for lab 7: ``fn(shape, alpha, rng)`` draws N(0, g**2 / fan_out) weights, with
    g = ``gain_fn(alpha)`` (the student's own gain: this check judges the sampler, not the gain):
    shape, mean, variance, kurtosis; it accepts an int seed, and the same seed gives the same
    weights."""
    name = getattr(fn, "__name__", "fan_out_normal")

    def fail(*lines):
        return finish(Check(name, False, [line for line in lines if line]), verbose, strict)

    for number, (shape, alpha) in enumerate(_SAMPLE_CASES):
        with running(fn, name, f"{name}({shape}, {alpha}, rng)") as crash:
            values = fn(shape, alpha, np.random.default_rng(seed + number))
        if crash:
            return crash.report(verbose, strict)
        try:
            gain = float(gain_fn(alpha))
        except Exception as error:  # noqa: BLE001
            return fail(f"your gain raised {type(error).__name__}: this check needs step 1 first")
        fan_in, fan_out = kernel_fans(shape)
        problems = normal_sample_problems(values, shape, gain**2 / fan_out)
        if problems:
            diagnosis = _sample_diagnosis(values, shape, gain)
            return fail(f"kernel {fmt_shape(shape)} (fan_in {fan_in}, fan_out {fan_out}), slope {alpha}, "
                        f"your gain {gain:.4f}:", *problems, f"Likely cause: {diagnosis}" if diagnosis else "")
    shape, alpha = _SAMPLE_CASES[1]
    try:
        first, second = fn(shape, alpha, 3), fn(shape, alpha, 3)
    except Exception as error:  # noqa: BLE001
        return fail(f"{name}({shape}, {alpha}, 3) with an int seed raised {type(error).__name__}: start "
                    "with rng = np.random.default_rng(rng), which takes a seed or a Generator.")
    if not np.array_equal(np.asarray(first), np.asarray(second)):
        return fail(f"{name}(shape, alpha, 3) twice gave different weights: draw every number from rng, "
                    "never from np.random.* directly.")
    return finish(Check(name, True, [f"{len(_SAMPLE_CASES)} kernels: mean, variance gain**2 / fan_out "
                                      "with your gain, a normal's kurtosis; seeded"]), verbose, strict)


# --------------------------------------------------------------------------
# Step 3: the forward and backward signal per layer
# --------------------------------------------------------------------------

def probe_stack(seed: int, widths: tuple, activation: str):
    """A Dense stack for the checks: widths[0] inputs, a hidden layer of each width after it with
    this activation, then Dense(10); weights N(0, 2 / fan_in) and biases N(0, 0.1**2) from NumPy
    (the same on every machine). Returns (model, images, labels)."""
    import keras

    rng = np.random.default_rng(seed)
    model = keras.Sequential([keras.Input((widths[0],))]
                             + [keras.layers.Dense(w, activation=activation) for w in widths[1:]]
                             + [keras.layers.Dense(10)])
    for layer in model.layers:
        n_in, n_out = layer.kernel.shape
        layer.set_weights([rng.normal(0.0, math.sqrt(2.0 / n_in), (n_in, n_out)).astype(np.float32),
                           rng.normal(0.0, 0.1, n_out).astype(np.float32)])
    images = rng.standard_normal((48, widths[0])).astype(np.float32)
    labels = rng.integers(0, 10, 48)
    return model, images, labels


_STACKS = [(0, (20, 32, 32, 32), "relu"), (1, (12, 64, 16, 48, 8), "tanh"), (2, (30, 40, 40), "gelu")]


def check_signal_norms(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 7: ``fn(model, images, labels)`` returns, per layer of the model, the
    root mean square of its output (row 0) and of the loss's gradient with respect to that output
    (row 1), float64 of shape (2, len(model.layers)), as recorded from GradientTape on three
    seeded stacks."""
    name = getattr(fn, "__name__", "signal_norms")
    expected, suspects = recorded("initialization", "signal_norms")

    def fail(*lines):
        return finish(Check(name, False, [line for line in lines if line]), verbose, strict)

    for seed, widths, activation in _STACKS:
        model, images, labels = probe_stack(seed, widths, activation)
        where = f"a Dense stack of widths {widths} with {activation}"
        with running(fn, name, f"{name}(model, images, labels) on {where}") as crash:
            got = fn(model, images.copy(), labels.copy())
        if crash:
            return crash.report(verbose, strict)
        want = expected(seed, widths, activation)
        mistakes = suspects(seed, widths, activation)  # looked up every time: the recorder keeps them
        array, problem = _as_float_array(got)
        if problem:
            return fail(f"on {where}: {problem}")
        if array.shape != want.shape:
            return fail(f"on {where}: shape {fmt_shape(array.shape)}, expected {fmt_shape(want.shape)}: "
                        "row 0 the forward RMS, row 1 the backward RMS, one column per layer")
        if not np.allclose(array, want, rtol=2e-4, atol=1e-9):
            row = "forward (row 0)" if not np.allclose(array[0], want[0], rtol=2e-4, atol=1e-9) \
                else "backward (row 1)"
            hints = [hint for hint, wrong in mistakes.items()
                     if np.shape(wrong) == array.shape and np.allclose(array, wrong, rtol=2e-4, atol=1e-9)]
            return fail(f"on {where}: the {row} values differ from GradientTape's",
                        f"Likely cause: {hints[0]}" if hints else
                        "the loss is the mean sparse cross-entropy of the logits; RMS = sqrt(mean(g**2))")
        if array.dtype != np.float64 or np.asarray(got).dtype != np.float64:
            return fail(f"on {where}: return float64 (np.asarray(..., dtype=np.float64))")
    return finish(Check(name, True, [f"{len(_STACKS)} stacks (ReLU, tanh, GELU), forward and backward, "
                                      "against GradientTape"]), verbose, strict)
