"""Hidden checks of lab 6, on the instructor's side only (never copied to labs/).

Each step draws its probes from a generator seeded at grading time. Expected values come
from TensorFlow and Keras (``coursegrader.references.batch_norm``: ``tf.nn.moments`` and
``tf.nn.batch_normalization`` in float64; ``tf.GradientTape`` through them;
``keras.layers.BatchNormalization``), from a float64 numeric gradient, or, for the training
runs, from the lab's own reference solution run here, in the trusted grader, on the same digits
and seeds as the student's code; the student's study (``report``) is measured again by the
reference at the student's BN placement and learning rate, over the same five seeds. The
student's results come back through the small *given* functions of the answer cells
(``forward_values``, ``backward_values``, ...), which flatten a tuple of arrays into one.
A reason says what property failed, never the inputs.
TensorFlow is imported inside the probe functions only.
"""

import functools
import pathlib

import numpy as np

from coursegrader import Probe, Step, Study, quiet
from coursegrader.spec import mean_band

HERE = pathlib.Path(__file__).resolve().parent
STUDY_DIGITS = 1000       # the convnet trains on this many digits
RATES = (0.03, 0.1)       # learning rates of the graded runs: every placement trains stably there
BAND = 0.05               # a final loss must be within this of the reference's (same recipe, same seed)
NEAR = 0.03               # a gap this close to the spread: either verdict is right


def _normal(rng, *shape, loc=0.0, scale=1.0, dtype=np.float64):
    return rng.normal(loc, scale, size=tuple(int(d) for d in shape)).astype(dtype)


def _tolerance(dtype):
    return {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-7, "atol": 1e-9}


def _shape(rng, conv):
    n = int(rng.integers(2, 9))
    c = int(rng.integers(1, 6))
    return (n, int(rng.integers(1, 5)), int(rng.integers(1, 5)), c) if conv else (n, c)


def _params(rng, c, dtype=np.float64):
    return rng.uniform(0.5, 2.0, c).astype(dtype), _normal(rng, c, dtype=dtype)


def _flat(*arrays):
    return np.concatenate([np.ravel(a) for a in arrays])


def _forward_case(rng, reason, conv=False, mode="train", dtype=np.float64, defaults=False, n=None):
    from coursegrader.references.batch_norm import batchnorm_reference

    shape = _shape(rng, conv)
    if n is not None:
        shape = (n, *shape[1:])
    x = _normal(rng, *shape, loc=rng.normal(0, 3), scale=rng.uniform(0.2, 4), dtype=dtype)
    gamma, beta = _params(rng, shape[-1], dtype)
    kwargs = {} if defaults else {
        "eps": float(rng.choice([1e-3, 1e-2, 0.1, 0.5])), "mode": mode,
        "running_mean": _normal(rng, shape[-1], dtype=dtype),
        "running_var": rng.uniform(0.5, 2, shape[-1]).astype(dtype),
        "momentum": float(rng.choice([0.9, 0.99, 0.5, 0.8]))}
    right = batchnorm_reference(x, gamma, beta, **kwargs)
    return Probe(reason, (x, gamma, beta), kwargs, expect=_flat(*right), **_tolerance(dtype),
                 mistakes=_forward_mistakes(x, gamma, beta, kwargs, right),
                 part="inference mode" if mode == "inference" else "training mode")


_RESULTS = ("out", "running_mean", "running_var")   # what forward_values concatenates


def _forward_mistakes(x, gamma, beta, kwargs, right) -> dict:
    """What each typical mistake returns through forward_values, under the self-check's words: the
    mistake made in every result it touches, and, where it touches several, in each one alone."""
    from coursegrader.references.batch_norm import batchnorm_suspects

    found = batchnorm_suspects(x, gamma, beta, **kwargs)
    hints = list(dict.fromkeys(h for what in _RESULTS for h in found[what]))
    mistakes = {}
    for hint in hints:
        where = [i for i, what in enumerate(_RESULTS) if hint in found[what]]
        for indices in [where] + ([[i] for i in where] if len(where) > 1 else []):
            results = list(right)
            for i in indices:
                results[i] = found[_RESULTS[i]][hint]
            said = hint if indices == where else f"in {_RESULTS[indices[0]].replace('_', ' ')} only: {hint}"
            mistakes[said] = _flat(*results)
    return mistakes


def _mean_and_std_judge(x, gamma, beta, eps):
    """Each channel's output: mean beta, standard deviation gamma * sqrt(var / (var + eps)) exactly
    (gamma itself only where the batch's variance dwarfs eps: a channel of two close values does not)."""
    shape, size = x.shape, x.size
    axes = tuple(range(x.ndim - 1))
    var = x.var(axis=axes)
    std = gamma * np.sqrt(var / (var + eps))

    def judge(value):
        value = np.asarray(value, dtype=np.float64)
        if value.shape != (size + 2 * shape[-1],):
            return "wrong shape"
        out = value[:size].reshape(shape)
        if not np.allclose(out.mean(axis=axes), beta, atol=1e-6):
            return "the mean of a channel is not beta"
        if not np.allclose(out.std(axis=axes), std, rtol=1e-4):
            return "the standard deviation of a channel is not gamma * sqrt(var / (var + eps))"
        return None
    return judge


def forward(rng):
    probes = [_forward_case(rng, "wrong values on random (N, D) inputs in training mode") for _ in range(3)]
    probes += [_forward_case(rng, "(N, H, W, C): statistics per channel, over N, H and W", conv=True)
               for _ in range(2)]
    probes += [_forward_case(rng, "inference mode uses the running statistics and leaves them alone",
                             mode="inference"),
               _forward_case(rng, "inference mode, (N, H, W, C)", conv=True, mode="inference"),
               _forward_case(rng, "the defaults: running statistics start at 0 and 1, eps 1e-3, momentum 0.99",
                             defaults=True),
               _forward_case(rng, "a batch of one in training mode", n=1),
               _forward_case(rng, "float32 stays float32", conv=True, dtype=np.float32)]
    shape = _shape(rng, conv=True)
    x = _normal(rng, *shape, loc=5, scale=10)
    gamma, beta = _params(rng, shape[-1])
    probes.append(Probe("in training mode each channel's output has mean beta and standard deviation gamma",
                        (x, gamma, beta), {"eps": 1e-3}, judge=_mean_and_std_judge(x, gamma, beta, 1e-3),
                        part="training mode"))
    return probes


def _backward_inputs(rng):
    for conv, reason in [(False, "wrong gradients on random (N, D) inputs"), (False, "wrong gradients on random "
                         "(N, D) inputs"), (True, "(N, H, W, C): gradients summed over N, H and W")]:
        shape = _shape(rng, conv)
        shape = (max(shape[0], 2), *shape[1:])
        gamma, beta = _params(rng, shape[-1])
        yield (_normal(rng, *shape), _normal(rng, *shape, loc=rng.normal(), scale=rng.uniform(0.5, 2)), gamma, beta,
               float(rng.choice([1e-3, 1e-2, 0.1])), reason)


def _standardized(x):
    """x with each channel's batch variance 1: a channel of a few close values (variance near eps)
    makes central differences too inexact for the 1e-8 criterion, and the probe could fail a right
    gradient."""
    axes = tuple(range(x.ndim - 1))
    return (x - x.mean(axis=axes)) / x.std(axis=axes) + x.mean(axis=axes)


#: the rules a wrong gradient is told (the self-check's words, without the formula the step asks for)
BACKWARD_RULE = ("x reaches the output three ways: directly, through the mean and through the variance; "
                 "dgamma and dbeta sum over every axis but the channels")


def backward(rng):
    from coursegrader.references.batch_norm import batchnorm_backward_reference, numeric_bn_gradients
    from coursekit.checks import GRADIENT_ATOL, GRADIENT_RTOL

    probes = [Probe(reason, (dout, x, gamma, beta, eps), hint=BACKWARD_RULE,
                    expect=_flat(*batchnorm_backward_reference(dout, x, gamma, beta, eps)))
              for dout, x, gamma, beta, eps, reason in _backward_inputs(rng)]
    # CS231n's check: a numeric gradient in float64.
    for conv in (False, True):
        shape = (4, 5) if not conv else (2, 3, 2, 3)
        x, dout = _standardized(_normal(rng, *shape)), _normal(rng, *shape)
        gamma, beta = _params(rng, shape[-1])
        probes.append(Probe("relative error against a float64 numeric gradient above 1e-8",
                            (dout, x, gamma, beta, 1e-3),
                            expect=_flat(*numeric_bn_gradients(dout, x, gamma, beta, 1e-3)),
                            rtol=GRADIENT_RTOL, atol=GRADIENT_ATOL, hint=BACKWARD_RULE))
    return probes


def _layer_judge(k, shape, want):
    """Which part of the layer's flattened results is wrong, in words."""
    c = shape[-1]
    parts = [("in training mode (the batch's statistics)", k * int(np.prod(shape))),
             ("in inference mode (the moving statistics)", int(np.prod(shape))),
             ("the moving mean after the training steps", c), ("the moving variance after the training steps", c)]

    def judge(value):
        value = np.asarray(value, dtype=np.float64)
        if value.shape != want.shape:
            return "wrong number of results: are the four weights one per channel?"
        if not np.array_equal(value[-4:], want[-4:]):
            return "gamma and beta must be trainable, moving_mean and moving_variance not, each (channels,)"
        start = 0
        for what, size in parts:
            if not np.allclose(value[start:start + size], want[start:start + size], rtol=1e-4, atol=1e-4):
                return f"differs from keras.layers.BatchNormalization {what}"
            start += size
        return None
    return judge


def layer(rng):
    from coursekit.checks import keras_batchnorm_run
    from coursekit.checks.batch_norm import MOMENTUM

    probes = []
    for conv, reason in [(False, "(N, D) inputs, several training steps then inference"),
                         (True, "(N, H, W, C) inputs, several training steps then inference")]:
        k = int(rng.integers(2, 6))
        shape = _shape(rng, conv)
        shape = (max(shape[0], 2), *shape[1:])
        batches = _normal(rng, k, *shape, loc=rng.normal(0, 3), scale=rng.uniform(0.5, 4), dtype=np.float32)
        x_test = _normal(rng, *shape, loc=1, scale=2, dtype=np.float32)
        gamma, beta = (p.astype(np.float32) for p in _params(rng, shape[-1]))
        momentum, epsilon = float(rng.choice([0.5, 0.9, 0.99])), float(rng.choice([1e-3, 0.1]))
        run = keras_batchnorm_run(batches, x_test, gamma, beta, momentum, epsilon)
        c = shape[-1]
        want = _flat(run["train"], run["inference"], run["moving_mean"], run["moving_variance"],
                     np.float32([2, 2, 2 * c, 2 * c]))
        # Keras' layer at 1 - momentum is the other convention (PyTorch's), in one statistic or both
        other = keras_batchnorm_run(batches, x_test, gamma, beta, 1 - momentum, epsilon)
        mistakes = {f"{words}{MOMENTUM}": _flat(run["train"], gamma * (x_test - mean) / np.sqrt(var + epsilon) + beta,
                                                 mean, var, np.float32([2, 2, 2 * c, 2 * c]))
                    for words, mean, var in [("", other["moving_mean"], other["moving_variance"]),
                                             ("the moving mean: ", other["moving_mean"], run["moving_variance"]),
                                             ("the moving variance: ", run["moving_mean"], other["moving_variance"])]}
        probes.append(Probe(reason, (batches, x_test, gamma, beta, momentum, epsilon),
                            judge=_layer_judge(k, shape, want), rtol=1e-4, atol=1e-4, mistakes=mistakes))
    return probes


def _reference(*grade_ids):
    """The lab's reference solution of these steps, defined here (trusted code)."""
    import keras

    from coursegrader.grade import reference_namespace

    return reference_namespace(HERE, *grade_ids, keras=keras)


def _study_digits():
    from coursekit.data import load as load_dataset

    with quiet():
        (x_train, y_train), _ = load_dataset("mnist", quiet=True)
    return x_train, y_train


def _experiment_judge(expect):
    def judge(value):
        value = np.asarray(value, dtype=np.float64)
        if value.shape != expect.shape:
            return "return one final training loss per seed, in the order of seeds"
        if not (np.all(np.isfinite(value)) and np.all(np.abs(value - expect) <= BAND)):
            return f"the final losses are not those of the recipe (within {BAND})"
        return None
    return judge


def experiment(rng):
    """A placement, a learning rate, two seeds and 1,000 digits chosen now; the reference's losses."""
    reference = _reference("bn_experiment")
    x_train, y_train = _study_digits()
    chosen = rng.choice(len(x_train), STUDY_DIGITS, replace=False)
    placement = str(rng.choice(["none", "before", "after"]))
    kwargs = {"placement": placement, "learning_rate": float(rng.choice(RATES)),
              "seeds": [int(s) for s in rng.choice(10_000, size=2, replace=False)]}
    args = (x_train[chosen], y_train[chosen])
    with quiet():
        expect = np.asarray(reference["bn_experiment"](*args, **kwargs), dtype=np.float64)
    return [Probe(f"two seeded runs of the convnet, BN placement {placement!r}", args, kwargs,
                  judge=_experiment_judge(expect),
                  hint="the recipe seeds each run with keras.utils.set_random_seed(seed) before it builds its network")]


@functools.lru_cache(maxsize=16)
def _study(after_relu, learning_rate):
    """The reference study at a placement and a rate: (losses with BN, losses without), seeds 0 to 4."""
    reference = _reference("bn_experiment")
    x_train, y_train = _study_digits()
    args = (x_train[:STUDY_DIGITS], y_train[:STUDY_DIGITS])
    with quiet():
        return [np.asarray(reference["bn_experiment"](*args, placement=placement, learning_rate=learning_rate,
                                                      seeds=range(5)), dtype=np.float64)
                for placement in ("after" if after_relu else "before", "none")]


def _unstudiable(with_bn, without):
    """Why the reference's runs at the student's placement and rate cannot be studied, or None."""
    from coursekit.checks.batch_norm import DESIGN_LOSS  # the self-check's bar, one number

    for arm, losses in (("with BN", with_bn), ("without BN", without)):
        if not np.all(np.isfinite(losses)):
            return f"at your learning rate the reference's runs {arm} diverge: choose a smaller one"
    if with_bn.mean() - mean_band(with_bn) >= DESIGN_LOSS:
        return (f"your design does not train well enough: with BN the reference's mean loss at your "
                f"placement and rate is not below {DESIGN_LOSS}")
    return None


def report(rng):
    from coursekit.checks import bn_report_problem

    study = Study(form=bn_report_problem, setting=_unstudiable,
                  measure=lambda after_relu, rate: _study(bool(after_relu), float(rate)),
                  arms=("with BN", "without BN"), better="lower", near=NEAR,
                  mean="the mean loss {arm} is outside the reference's spread at your placement and rate",
                  spread="the spread {arm} is not the reference's (np.std over seeds 0 to 4)",
                  verdict="BN_WINS is not what the reference measures at your placement and rate")
    return [Probe("your study", name="report", judge=study.judge)]


STEPS = [
    Step("batchnorm_forward", forward, call="forward_values", numpy_only=True,
         parts={"training mode": 2 / 3, "inference mode": 1 / 3}),
    Step("batchnorm_backward", backward, call="backward_values", needs=("batchnorm_forward",), numpy_only=True),
    Step("batchnorm_backward_alt", backward, call="backward_alt_values", needs=("batchnorm_forward",),
         numpy_only=True),
    # Wall-clock limits with room for a loaded grading machine (TensorFlow starts in the sandbox).
    Step("batchnorm_layer", layer, call="layer_values", timeout=120, memory_mb=4096),
    Step("bn_experiment", experiment, call="bn_experiment", timeout=240, memory_mb=4096),
    Step("bn_report", report, names=("report",), timeout=60, memory_mb=4096),
]
