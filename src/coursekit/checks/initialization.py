"""Self-checks of lab 7 (initialization): the fans and variances of Keras' rules, samples
judged against Keras' own samplers (variance, bounds, a two-sample Kolmogorov-Smirnov
test at a stated significance), and the checks built on them.

The same judges serve the lab's hidden checks (``solutions/lab7_initialization/grader.py``),
which run them in the trusted grader on what the student's code returned.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from ._core import Check, _error_lines, _finish, _fmt_shape, case, check_function
from ._recorded import recorded

# --------------------------------------------------------------------------
# Initialization (lab 7)
# --------------------------------------------------------------------------

__all__ = [
    "TRUNCATED_STD", "KS_ALPHA", "SCHEMES", "scheme_variance", "scheme_bound",
    "keras_sample", "ks_test", "sample_problems", "stack_problems",
    "check_fans", "check_sampler", "check_truncated_normal", "check_forward_stats",
    "check_numpy_initializer", "check_symmetry_steps", "check_train_run", "train_problems",
]

#: the standard deviation of N(0, 1) truncated to [-2, 2]: Keras divides by it
TRUNCATED_STD = 0.87962566103423978
#: the significance of the Kolmogorov-Smirnov comparisons: a correct sampler fails one
#: test with this probability, a wrong shape of distribution (untruncated normal, uniform
#: for normal) is rejected with p far below it on the large samples used here
KS_ALPHA = 1e-6
#: relative tolerance on a sample's variance (samples of >= 200,000 values: the
#: sampling error is below 0.3 %)
VARIANCE_RTOL = 0.02

#: Keras' rules: scheme -> (mode, scale, distribution), as in keras.initializers.VarianceScaling
SCHEMES = {
    "glorot_uniform": ("fan_avg", 1.0, "uniform"),
    "glorot_normal": ("fan_avg", 1.0, "truncated_normal"),
    "he_uniform": ("fan_in", 2.0, "uniform"),
    "he_normal": ("fan_in", 2.0, "truncated_normal"),
}
_KERAS_CLASSES = {"glorot_uniform": "GlorotUniform", "glorot_normal": "GlorotNormal",
                  "he_uniform": "HeUniform", "he_normal": "HeNormal"}


def _keras_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) as Keras' ``compute_fans`` gives them, for the variance of a scheme (the
    samplers' checks). Keras itself, not the course's answer: the fans step is NumPy-only, and its
    self-check compares with recorded pairs."""
    from keras.src.initializers.random_initializers import compute_fans

    return compute_fans(tuple(int(d) for d in shape))


def scheme_variance(scheme: str, shape) -> float:
    """The variance that Keras' ``scheme`` gives weights of this shape."""
    mode, scale, _ = SCHEMES[scheme]
    fan_in, fan_out = _keras_fans(shape)
    fan = fan_in if mode == "fan_in" else (fan_in + fan_out) / 2
    return scale / max(1.0, fan)


def scheme_bound(scheme: str, shape) -> float:
    """The largest absolute weight that ``scheme`` can draw: sqrt(3 v) for a uniform, two standard
    deviations of the normal Keras starts from (sqrt(v) / TRUNCATED_STD) for a truncated one."""
    variance = scheme_variance(scheme, shape)
    if SCHEMES[scheme][2] == "uniform":
        return math.sqrt(3 * variance)
    return 2 * math.sqrt(variance) / TRUNCATED_STD


def keras_sample(scheme: str, shape, seed: int, stddev: float | None = None) -> np.ndarray:
    """Weights drawn by Keras, in float64: ``keras.initializers.<Scheme>(seed)``, or with
    ``scheme="truncated_normal"``, ``keras.random.truncated_normal`` with ``stddev``."""
    import keras

    shape = tuple(int(d) for d in shape)
    if scheme == "truncated_normal":
        values = keras.random.truncated_normal(shape, stddev=stddev, dtype="float64", seed=seed)
    else:
        initializer = getattr(keras.initializers, _KERAS_CLASSES[scheme])(seed=seed)
        values = initializer(shape, dtype="float64")
    return np.asarray(keras.ops.convert_to_numpy(values), dtype=np.float64)


def ks_test(sample, reference) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test (scipy): the statistic D and the p-value."""
    from scipy import stats

    result = stats.ks_2samp(np.ravel(sample), np.ravel(reference))
    return float(result.statistic), float(result.pvalue)


def _as_float_array(values):
    """(array, None) for a float array, else (None, what is wrong)."""
    try:
        array = np.array(values, subok=False)
    except Exception:  # noqa: BLE001 - whatever came back is judged, never trusted
        return None, f"returned a {type(values).__name__}, not an array"
    if array.dtype.kind != "f":
        return None, f"dtype {array.dtype}: weights are floats"
    return array.astype(np.float64), None


def sample_problems(values, shape, variance: float, bound: float, reference, *,
                    alpha: float = KS_ALPHA) -> list[str]:
    """What is wrong with a sample of weights, in words ([] when nothing is): its shape,
    its variance (within VARIANCE_RTOL of ``variance``), its bound (no value beyond
    ``bound``, and the largest within 0.1 % of it: uniform bounds are exact), and a
    Kolmogorov-Smirnov test against ``reference`` (Keras' sample) at significance ``alpha``."""
    array, problem = _as_float_array(values)
    if problem:
        return [problem]
    if array.shape != tuple(shape):
        return [f"shape {_fmt_shape(array.shape)}, expected {_fmt_shape(tuple(shape))}"]
    if not np.all(np.isfinite(array)):
        return ["some values are NaN or infinite"]
    problems = []
    measured = float(np.mean(array**2))  # the mean is 0: the second moment is the variance
    if abs(measured / variance - 1) > VARIANCE_RTOL:
        problems.append(f"variance {measured:.4g}, but the rule gives {variance:.4g} "
                        f"(ratio {measured / variance:.3f})")
    largest = float(np.max(np.abs(array)))
    if largest > bound * (1 + 1e-9):
        problems.append(f"values reach {largest:.4g}, beyond the bound {bound:.4g}")
    elif largest < bound * (1 - 1e-3):
        problems.append(f"the largest |value| is {largest:.4g}, short of the bound {bound:.4g}")
    statistic, pvalue = ks_test(array, reference)
    if pvalue < alpha:
        problems.append(f"a Kolmogorov-Smirnov test against Keras' sampler rejects the distribution "
                        f"(D = {statistic:.4f}, p = {pvalue:.1e} < {alpha:g})")
    return problems


# Known mistakes: (hint, variance ratio measured / right) for a shape.
def _mistakes(scheme: str, shape) -> list[tuple[str, float]]:
    mode, scale, distribution = SCHEMES[scheme]
    fan_in, fan_out = _keras_fans(shape)
    receptive = fan_in // int(shape[-2]) if len(shape) > 2 else 1
    right = scheme_variance(scheme, shape)
    found = []
    if mode == "fan_in":
        found.append(("fan-out used for fan-in: n_in counts the inputs of one output unit, "
                      "shape[-2] times the receptive field", scale / fan_out / right))
        found.append(("the factor 2 of He is missing (ReLU halves the mean square)", 0.5))
    else:
        found.append(("Glorot's variance is 2 / (n_in + n_out), not 1 / (n_in + n_out)", 0.5))
    if receptive > 1:
        found.append(("the fans of a convolution forget the k_h * k_w factor: n_in = k_h * k_w * C_in "
                      "and n_out = k_h * k_w * C_out", float(receptive)))
    if distribution == "uniform":
        found.append(("the standard deviation sqrt(v) used as the uniform bound: U(-a, a) has variance "
                      "a**2 / 3, so a = sqrt(3 * v)", 1 / 3))
        found.append(("a bound of 3 * sqrt(v): the bound is sqrt(3 * v)", 3.0))
    else:
        found.append(("the uniform bound sqrt(3 * v) used as the normal's standard deviation", 3.0))
        found.append(("the tails are cut but the standard deviation is not divided by 0.8796...: "
                      "cutting at 2 standard deviations lowers the variance by 0.8796**2",
                      TRUNCATED_STD**2))
        found.append(("the standard deviation is divided by 0.8796... but the tails are not cut: "
                      "redraw every value beyond 2 of those standard deviations",
                      1 / TRUNCATED_STD**2))
    return found


def _diagnosis(scheme: str, shape, values) -> str | None:
    array, problem = _as_float_array(values)
    if problem or array.shape != tuple(shape):
        return None
    ratio = float(np.mean(array**2)) / scheme_variance(scheme, shape)
    for hint, wrong in _mistakes(scheme, shape):
        if abs(ratio / wrong - 1) < 0.03:
            return hint
    bound = scheme_bound(scheme, shape)
    if abs(ratio - 1) < 0.03 and SCHEMES[scheme][2] == "truncated_normal" and np.max(np.abs(array)) > bound:
        return ("the variance is right but values lie beyond 2 standard deviations: Keras' normal is "
                "truncated (values beyond 2 * stddev are drawn again)")
    if abs(ratio - 1) < 0.03 and SCHEMES[scheme][2] == "uniform":
        return "the variance is right but the distribution is not uniform on [-a, a]"
    return None


#: shapes for the self-checks: fan_in != fan_out and a receptive field of 25, so that each
#: known mistake changes the variance by a different factor; >= 200,000 values each
_SAMPLE_SHAPES = [(5, 5, 12, 800), (1000, 300)]


def _rng_hint(fn, shape):
    """A report when fn refuses a seed given as an int (the grader passes seeds)."""
    try:
        fn(shape, 3)
    except Exception as error:  # noqa: BLE001 - any student error becomes a report
        return [f"{fn.__name__}(shape, 3) raised {type(error).__name__}: turn rng into a generator "
                "first with rng = np.random.default_rng(rng), which accepts a seed or a Generator."]
    return None


def check_sampler(fn: Callable, scheme: str, *, seed: int = 0, verbose: bool = True,
                  strict: bool = False) -> Check:
    """Self-check for lab 7: ``fn(shape, rng)`` draws weights as Keras' ``scheme`` does
    ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal"): shape, variance, bound,
    and a Kolmogorov-Smirnov test against Keras' sampler at significance KS_ALPHA; it also
    accepts an int seed, and the same seed gives the same weights."""
    name = getattr(fn, "__name__", scheme)

    def fail(*lines):
        return _finish(Check(name, False, lines), verbose, strict)

    for number, shape in enumerate(_SAMPLE_SHAPES):
        try:
            values = fn(shape, np.random.default_rng(seed + number))
        except NotImplementedError:
            return fail(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code.")
        except Exception as error:  # noqa: BLE001 - any student error becomes a report
            return fail(f"{name}({shape}, rng)", *_error_lines(error, fn))
        problems = sample_problems(values, shape, scheme_variance(scheme, shape), scheme_bound(scheme, shape),
                                   keras_sample(scheme, shape, seed=1000 + seed + number))
        if problems:
            diagnosis = _diagnosis(scheme, shape, values)
            fan_in, fan_out = _keras_fans(shape)
            return fail(f"kernel {_fmt_shape(shape)} (fan_in {fan_in}, fan_out {fan_out}):", *problems,
                        f"Likely cause: {diagnosis}" if diagnosis else "")
    shape = _SAMPLE_SHAPES[1]
    refused = _rng_hint(fn, shape)
    if refused:
        return fail(*refused)
    if not np.array_equal(np.asarray(fn(shape, 3)), np.asarray(fn(shape, 3))):
        return fail(f"{name}(shape, 3) twice gave different weights: draw every number from rng "
                    "(np.random.default_rng(rng)), never from np.random.* directly.")
    return _finish(Check(name, True, [f"{len(_SAMPLE_SHAPES)} kernels: variance, bound and a KS test "
                                      f"against keras.initializers.{_KERAS_CLASSES[scheme]} "
                                      f"(alpha = {KS_ALPHA:g})"]), verbose, strict)


def check_truncated_normal(fn: Callable, *, seed: int = 0, verbose: bool = True,
                           strict: bool = False) -> Check:
    """Self-check for lab 7: ``fn(shape, stddev, rng)`` draws N(0, stddev**2) with every value
    beyond 2 * stddev drawn again, like ``keras.random.truncated_normal``."""
    name = getattr(fn, "__name__", "truncated_normal")

    def fail(*lines):
        return _finish(Check(name, False, lines), verbose, strict)

    for number, (shape, stddev) in enumerate([((400, 600), 1.0), ((3, 3, 64, 400), 0.05)]):
        try:
            values = fn(shape, stddev, np.random.default_rng(seed + number))
        except NotImplementedError:
            return fail(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code.")
        except Exception as error:  # noqa: BLE001
            return fail(f"{name}({shape}, {stddev}, rng)", *_error_lines(error, fn))
        problems = sample_problems(values, shape, (TRUNCATED_STD * stddev) ** 2, 2 * stddev,
                                   keras_sample("truncated_normal", shape, 2000 + seed + number, stddev))
        if problems:
            array, _ = _as_float_array(values)
            hint = ""
            if array is not None and array.shape == tuple(shape):
                ratio = float(np.mean(array**2)) / (TRUNCATED_STD * stddev) ** 2
                if abs(ratio * TRUNCATED_STD**2 - 1) < 0.03:
                    hint = ("Likely cause: the tails are not cut (the variance of N(0, stddev**2) itself): "
                            "redraw the values beyond 2 * stddev until none is left")
                elif abs(ratio * TRUNCATED_STD**2 / 4 - 1) < 0.03 or np.max(np.abs(array)) > 2 * stddev:
                    hint = "Likely cause: cut at 2 * stddev, not at 2 (nor at stddev)"
            return fail(f"shape {_fmt_shape(shape)}, stddev {stddev}:", *problems, hint)
    try:
        same = np.array_equal(np.asarray(fn((50, 40), 0.3, 5)), np.asarray(fn((50, 40), 0.3, 5)))
    except Exception as error:  # noqa: BLE001
        return fail(f"{name}((50, 40), 0.3, 5) with an int seed raised {type(error).__name__}: "
                    "start with rng = np.random.default_rng(rng).")
    if not same:
        return fail("the same seed twice gave different values: draw everything from rng.")
    return _finish(Check(name, True, ["variance (0.8796 * stddev)**2, bound 2 * stddev, KS test against "
                                      f"keras.random.truncated_normal (alpha = {KS_ALPHA:g})"]),
                   verbose, strict)


def check_fans(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 7: ``fn(shape)`` returns (fan_in, fan_out) as Keras computes them (recorded),
    for dense, 1-D, 2-D and 3-D convolution kernels and 1-D shapes."""
    shapes = [(784, 128), (128, 10), (3, 3, 16, 32), (5, 1, 3, 16), (7, 12, 20), (3, 3, 3, 8, 16), (10,)]
    expected, suspects = recorded("initialization", "fans")
    result = check_function(
        "fans", fn, [case(shape) for shape in shapes], expected, rtol=0, atol=0, suspects=suspects,
        hint="a kernel is (k_h, k_w, ..., C_in, C_out): fan_in = C_in * k_h * k_w..., fan_out = C_out * the "
             "same product; a dense kernel (n_in, n_out) is its own pair; a 1-D shape (n,) gives (n, n).",
        verbose=False)
    if result:
        got = fn((3, 3, 16, 32))
        if not all(isinstance(v, (int, np.integer)) for v in np.ravel(np.asarray(got, dtype=object))):
            result = Check("fans", False, ["return two ints (int(...)), as Keras' compute_fans does"])
    return _finish(result, verbose, strict)


def stack_problems(stds, depth: int, scheme, activation: str) -> list[str]:
    """The behaviour that a stack of this scheme must show, in words ([] when it does): He with
    ReLU keeps every layer's std within [0.4, 2.5]; N(0, 0.01**2) with ReLU collapses
    (below 1e-12 after 10 layers, shrinking at every layer)."""
    array, problem = _as_float_array(stds)
    if problem:
        return [problem]
    if array.shape != (depth,):
        return [f"shape {_fmt_shape(array.shape)}: one std per layer, ({depth},)"]
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        return ["standard deviations are finite and >= 0"]
    if activation == "relu" and scheme in ("he_normal", "he_uniform"):
        if not np.all((array > 0.4) & (array < 2.5)):
            return [f"{scheme} with ReLU should keep every layer's std within [0.4, 2.5], "
                    f"got {array.min():.3g} to {array.max():.3g}"]
    if activation == "relu" and not isinstance(scheme, str) and float(scheme) <= 0.01:
        # each layer multiplies the std by about scheme * sqrt(width / 2): below 0.25 up to 1,000 units
        if not np.all(array[1:] < 0.5 * array[:-1]):
            return [f"N(0, {scheme}**2) with ReLU should collapse: every layer's std below half the previous one"]
    return []


def check_forward_stats(fn: Callable, samplers: dict, *, verbose: bool = True,
                        strict: bool = False) -> Check:
    """Self-check for lab 7: ``fn(scheme, depth, activation, width, batch, seed)`` follows the
    lab's recipe (compared with the recipe run on the student's own ``samplers``), and shows
    the behaviour of each scheme."""
    name = getattr(fn, "__name__", "forward_stats")

    def fail(*lines):
        return _finish(Check(name, False, lines), verbose, strict)

    def recipe(scheme, depth, activation, width, batch, seed):
        rng = np.random.default_rng(seed)
        draw = samplers[scheme] if isinstance(scheme, str) else (
            lambda shape, r: r.normal(0.0, scheme, size=shape))
        act = {"relu": lambda z: np.maximum(z, 0.0), "tanh": np.tanh}[activation]
        x, out = rng.standard_normal((batch, width)), []
        for _ in range(depth):
            x = act(x @ draw((width, width), rng))
            out.append(x.std())
        return np.array(out)

    cases = [("he_normal", 20, "relu", 128, 64, 1), ("he_uniform", 12, "relu", 96, 50, 2),
             (0.01, 12, "relu", 128, 64, 3), ("glorot_uniform", 8, "tanh", 64, 32, 4),
             ("glorot_normal", 6, "relu", 80, 40, 5), (1.0, 5, "relu", 64, 32, 6)]
    for scheme, depth, activation, width, batch, seed in cases:
        call = f"{name}({scheme!r}, {depth}, {activation!r}, width={width}, batch={batch}, seed={seed})"
        try:
            got = fn(scheme, depth, activation, width=width, batch=batch, seed=seed)
        except NotImplementedError:
            return fail(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code.")
        except Exception as error:  # noqa: BLE001
            return fail(call, *_error_lines(error, fn))
        problems = stack_problems(got, depth, scheme, activation)
        if problems:
            return fail(call, *problems)
        try:
            want = recipe(scheme, depth, activation, width, batch, seed)
        except Exception:  # noqa: BLE001 - the student's samplers failed: their own checks say why
            return fail(f"your samplers fail on {scheme!r}: run their self-checks first.")
        result = np.asarray(got, dtype=np.float64)
        if not np.allclose(result, want, rtol=1e-6, atol=0):
            return fail(call, "the values differ from the recipe's, run with your own samplers: draw x first "
                        "(rng.standard_normal((batch, width))), then one kernel per layer with the sampler and "
                        "the same rng, in float64; record the std of each layer's output after the activation.")
    return _finish(Check(name, True, [f"{len(cases)} stacks: the recipe, He steady, N(0, 0.01**2) collapsing"]),
                   verbose, strict)


def check_numpy_initializer(cls, sampler: Callable, scheme: str = "he_normal", *, verbose: bool = True,
                            strict: bool = False) -> Check:
    """Self-check for lab 7: ``cls(scheme, seed)`` is a ``keras.initializers.Initializer``
    that draws with ``sampler`` from ``np.random.default_rng(seed)``, in the requested dtype,
    and rebuilds itself from ``get_config()``."""
    import keras

    name = getattr(cls, "__name__", "NumpyInitializer")

    def fail(*lines):
        return _finish(Check(name, False, lines), verbose, strict)

    shape = (3, 3, 4, 8)
    try:
        initializer = cls(scheme, seed=11)
        if not isinstance(initializer, keras.initializers.Initializer):
            return fail(f"{name} must subclass keras.initializers.Initializer.")
        values = initializer(shape, dtype="float32")
        config = initializer.get_config()
        again = type(initializer).from_config(config)(shape, dtype="float32")
    except NotImplementedError:
        return fail(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code.")
    except Exception as error:  # noqa: BLE001
        return fail(f"{name}({scheme!r}, seed=11)(shape={shape}, dtype='float32')", *_error_lines(error, cls))
    array = np.asarray(keras.ops.convert_to_numpy(values))
    if array.shape != shape or array.dtype != np.float32:
        return fail(f"returned {_fmt_shape(array.shape)} {array.dtype}; expected {_fmt_shape(shape)} float32: "
                    "convert with keras.ops.convert_to_tensor(values, dtype=dtype).")
    want = np.asarray(sampler(shape, np.random.default_rng(11)), dtype=np.float32)
    if not np.allclose(array, want, rtol=1e-6, atol=1e-7):
        return fail("the first kernel is not your sampler's first draw from np.random.default_rng(seed): "
                    "make the generator once, in __init__, and call the sampler with it in __call__.")
    if not np.allclose(np.asarray(keras.ops.convert_to_numpy(again)), want, rtol=1e-6, atol=1e-7):
        return fail(f"{name}.from_config(get_config()) draws something else: get_config must return the "
                    "scheme and the seed, the arguments of __init__.")
    return _finish(Check(name, True, ["draws with your sampler, float32, rebuilt from its config"]),
                   verbose, strict)


def _filters_spread(kernel) -> float:
    """Largest difference between any filter (last axis) and filter 0."""
    kernel = np.asarray(kernel, dtype=np.float64)
    return float(np.max(np.abs(kernel - kernel[..., :1])))


def check_symmetry_steps(fn: Callable, images, labels, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 7: ``fn(kernel_init, images, labels, steps, seed)`` returns the first
    convolution's kernel before and after, (2, 3, 3, 1, 4); constant starts keep the filters
    identical, a random start does not."""
    name = getattr(fn, "__name__", "symmetry_steps")

    def fail(*lines):
        return _finish(Check(name, False, lines), verbose, strict)

    runs = {}
    for kernel_init in (0.1, "he_normal"):
        try:
            runs[kernel_init] = np.asarray(fn(kernel_init, images[:64], labels[:64], steps=3, seed=0))
        except NotImplementedError:
            return fail(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code.")
        except Exception as error:  # noqa: BLE001
            return fail(f"{name}({kernel_init!r}, images, labels, steps=3)", *_error_lines(error, fn))
        if runs[kernel_init].shape != (2, 3, 3, 1, 4):
            return fail(f"{name}({kernel_init!r}, ...) returned shape {_fmt_shape(runs[kernel_init].shape)}; "
                        "expected (2, 3, 3, 1, 4): np.stack([kernel_before, kernel_after]).")
    before, after = runs[0.1]
    if not np.allclose(before, 0.1):
        return fail("with kernel_init=0.1 the first kernel should start at 0.1 everywhere "
                    "(keras.initializers.Constant).")
    if _filters_spread(after) > 1e-6:
        return fail("with a constant start the 4 filters should still be identical after the steps; they differ.")
    if np.max(np.abs(after - before)) < 1e-7:
        return fail("with a constant start of 0.1 the kernel should move in 3 steps (SGD, learning rate 0.1); "
                    "it did not: are you training the model you return the kernel of?")
    if _filters_spread(runs["he_normal"][1]) < 1e-3:
        return fail("with he_normal the filters should differ from each other.")
    return _finish(Check(name, True, ["constant start: filters move but stay identical; He: they differ"]),
                   verbose, strict)


def check_train_run(fn: Callable, images, labels, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 7: ``fn(kernel_init, images, labels, epochs, seed)`` returns one loss
    per epoch (3 epochs on 600 digits); from he_normal the loss falls well below ln 10, from
    N(0, 0.01**2) it stays near it."""
    name = getattr(fn, "__name__", "train_run")

    def fail(*lines):
        return _finish(Check(name, False, lines), verbose, strict)

    losses = {}
    for kernel_init in ("he_normal", 0.01):
        try:
            losses[kernel_init] = np.asarray(fn(kernel_init, images[:600], labels[:600], epochs=3, seed=0),
                                             dtype=np.float64)
        except NotImplementedError:
            return fail(f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code.")
        except Exception as error:  # noqa: BLE001
            return fail(f"{name}({kernel_init!r}, images, labels, epochs=3)", *_error_lines(error, fn))
        if losses[kernel_init].shape != (3,):
            return fail(f"returned shape {_fmt_shape(losses[kernel_init].shape)}; expected (3,): "
                        "history.history['loss'], one loss per epoch.")
    problems = train_problems(losses["he_normal"], "he_normal") + train_problems(losses[0.01], 0.01)
    if problems:
        return fail(*problems)
    return _finish(Check(name, True, [f"he_normal: loss {losses['he_normal'][-1]:.3f}, "
                                      f"N(0, 0.01**2): {losses[0.01][-1]:.3f} (ln 10 = {math.log(10):.3f})"]),
                   verbose, strict)


def train_problems(losses, kernel_init) -> list[str]:
    """The training behaviour of a start, in words: from He the last loss is below 0.85 ln 10;
    from N(0, 0.01**2) every loss stays above 0.97 ln 10."""
    array, problem = _as_float_array(losses)
    if problem:
        return [problem]
    if array.ndim != 1 or not array.size or not np.all(np.isfinite(array)):
        return ["one finite loss per epoch expected"]
    if isinstance(kernel_init, str):
        if not array[-1] < 0.85 * math.log(10):
            return [f"from {kernel_init} the loss should fall well below ln 10 = 2.303 (below 1.96); "
                    f"it ended at {array[-1]:.3f}"]
    elif not np.all(array > 0.97 * math.log(10)):
        return [f"from N(0, {kernel_init}**2) the loss should stall near ln 10 = 2.303; it reached {array.min():.3f}"]
    return []

