"""Self-checks of lab 8 (transfer learning), and the judges that the lab's grader shares.

Each ``*_problem`` function looks at what a student's function returned and gives None when it
is right, else what is wrong in words (never the expected numbers). The self-checks run them in
the student's kernel; the grader runs the same functions in its own process, on values that the
student's code returned in the sandbox.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._compare import report_numbers
from ._functions import case, check_function
from ._report import Check, finish, fmt_shape
from ._student import running
from ._recorded import recorded

__all__ = [
    "cut_base", "head_problem", "probe_accuracy", "truncated_problem", "report_problem",
    "check_preprocess", "check_truncated_base", "check_linear_probe", "check_budget_curve",
    "check_report",
]


def cut_base(size: int = 12):
    """The small base that ``check_truncated_base`` cuts, its outputs recorded: two named blocks of
    convolution and BatchNormalization (set statistics), with fixed weights."""
    import keras

    inputs = keras.Input((size, size, 3))
    x = inputs
    for block, filters in [(1, 4), (2, 6)]:
        x = keras.layers.Conv2D(filters, 3, strides=2, padding="same", name=f"block_{block}_conv")(x)
        x = keras.layers.BatchNormalization(name=f"block_{block}_bn")(x)
        x = keras.layers.ReLU(name=f"block_{block}_relu")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name="cut_base")
    rng = np.random.default_rng(8)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(np.float32) if "variance" not in w.path
                       else rng.uniform(0.5, 2.0, size=w.shape).astype(np.float32) for w in model.weights])
    return model


# --------------------------------------------------------------------------
# Judges: None when right, else what is wrong
# --------------------------------------------------------------------------


def head_problem(model, n_features: int, n_classes: int) -> str | None:
    """A classifier of feature vectors: (N, n_features) in, (N, n_classes) probabilities out."""
    import keras

    if not isinstance(model, keras.Model):
        return f"return a Keras model, not a {type(model).__name__}"
    try:
        out = np.asarray(model(np.zeros((3, n_features), np.float32), training=False))
    except Exception as error:  # noqa: BLE001 - a model that cannot run is a wrong answer
        return f"the model does not take feature vectors of shape (N, {n_features}) ({type(error).__name__})"
    if out.shape != (3, n_classes):
        return f"the model's output has shape {tuple(out.shape)} for 3 vectors; one probability per class expected"
    if not np.allclose(out.sum(axis=1), 1, atol=1e-4) or (out < 0).any():
        return "the outputs are not probabilities (end with a softmax)"
    return None


def probe_accuracy(model, features, labels) -> float:
    """Test accuracy of a trained classifier of feature vectors."""
    probs = np.asarray(model(np.asarray(features, np.float32), training=False))
    return float(np.mean(probs.argmax(axis=1) == np.asarray(labels)))


def truncated_problem(model, base, layer_name: str, images) -> str | None:
    """What is wrong with a base cut after `layer_name` (frozen, pooled), or None. `images` are
    preprocessed inputs of `base`; the features must be the layer's outputs averaged over space."""
    import keras

    if not isinstance(model, keras.Model):
        return f"return a Keras model, not a {type(model).__name__}"
    if model.trainable_weights:
        return "the cut base has trainable weights: freeze it (model.trainable = False)"
    images = np.asarray(images, np.float32)
    try:
        got = np.asarray(model(images, training=False))
    except Exception as error:  # noqa: BLE001 - a model that cannot run is a wrong answer
        return f"the model does not take the base's inputs {images.shape[1:]} ({type(error).__name__})"
    channels = base.get_layer(layer_name).output.shape[-1]
    if got.shape != (len(images), channels):
        return (f"its output has shape {tuple(got.shape)}; one vector of the layer's {channels} channels "
                "per image expected (average over the positions)")
    return None


def report_problem(report) -> str | None:
    """What is wrong with the form of a report (cut block, budget, pretrained mean and spread,
    random mean and spread, transfer wins), or with the verdict it draws from its own numbers."""
    values, problem = report_numbers(report, 7)
    if problem:
        return problem
    block, budget, pre, pre_spread, rnd, rnd_spread, wins = values
    if block not in range(1, 18) or budget not in range(1, 51):
        return "CUT_BLOCK must be a whole number from 1 to 17, BUDGET one from 1 to 50"
    if not all(0 <= v <= 1 for v in (pre, pre_spread, rnd, rnd_spread)):
        return "accuracies and their spreads are fractions between 0 and 1"
    if wins not in (0, 1):
        return "TRANSFER_WINS must be True or False"
    if bool(wins) != (pre - rnd > max(pre_spread, rnd_spread)):
        return ("TRANSFER_WINS does not follow from your numbers: transfer wins when the gap between "
                "the means is larger than the larger of the two spreads")
    return None


def _judged(name: str, judge: Callable[[], str | None], passed: str, verbose: bool, strict: bool) -> Check:
    with running(judge, name) as crash:
        problem = judge()
    if crash:
        return crash.report(verbose, strict)
    return finish(Check(name, problem is None, [problem or passed]), verbose, strict)


#: what a wrong preprocess is told (the grader's words too): the two end points, not the map
PREPROCESS_RULE = ("MobileNetV2 expects a straight-line map with 0 -> -1 and 255 -> 1, in float32: "
                   "try your function on 0, 127.5 and 255 (the middle must land on 0)")


def check_preprocess(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """``preprocess(images)``: 0 -> -1, 255 -> 1, float32, input left unchanged."""
    rng = np.random.default_rng(8)
    cases = [case(np.array([[0, 127.5, 255]]), label="0, 127.5 and 255"),
             case(rng.integers(0, 256, size=(2, 5, 5, 3)).astype(np.uint8), label="uint8 images"),
             case(rng.uniform(0, 255, size=(3, 4, 4, 3)), label="float64 images (not to be changed in place)")]
    return check_function("preprocess", fn, cases, recorded("transfer_learning", "preprocess")[0], rtol=1e-6,
                          atol=1e-6, check_dtype=True,
                          hint=PREPROCESS_RULE, verbose=verbose, strict=strict)


def check_truncated_base(fn: Callable, base, *, verbose: bool = True, strict: bool = False) -> Check:
    """``truncated_base(base, layer_name)``: the recorded features of 5 images on a small base of
    the check's own (:func:`cut_base`), cut after each of its two blocks; then, on ``base``, a frozen
    model with one vector per image."""
    images = np.random.default_rng(8).uniform(-1, 1, size=(5, 12, 12, 3)).astype(np.float32)
    small = cut_base()
    cases = [case(images, "block_1_relu", label="a small base cut after its first block"),
             case(images, "block_2_bn", label="a small base cut after its second BatchNormalization")]
    result = check_function("truncated_base",
                            lambda x, name: np.asarray(fn(small, name)(x, training=False)), cases,
                            recorded("transfer_learning", "truncated_base")[0], rtol=1e-4, atol=1e-4,
                            hint="the features are what the named layer computes from the base's own input, "
                                 "averaged over positions (not their maximum): compare with that layer's "
                                 "output averaged by hand with NumPy",
                            verbose=False)
    if result:
        size = base.input.shape[1]
        mine = np.random.default_rng(9).uniform(-1, 1, size=(2, size, size, 3)).astype(np.float32)
        layer = base.layers[len(base.layers) // 2].name
        result = _judged("truncated_base", lambda: truncated_problem(fn(base, layer), base, layer, mine),
                         "recorded features, and a frozen cut of your base", False, False)
    return finish(result, verbose, strict)


def _clusters(n_classes: int = 3, n: int = 90, dim: int = 16, seed: int = 8, scale: float = 3.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=scale, size=(n_classes, dim))
    labels = np.arange(n) % n_classes
    return (centres[labels] + rng.normal(size=(n, dim))).astype(np.float32), labels


def check_linear_probe(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """``linear_probe(features, labels, n_classes)`` learns 3 well separated classes."""
    def judge():
        x, y = _clusters()
        model = fn(x[:60], y[:60], 3)
        problem = head_problem(model, x.shape[1], 3)
        if problem is None and probe_accuracy(model, x[60:], y[60:]) < 0.9:
            problem = "it does not learn 3 well separated classes (below 90% on new points): train it longer?"
        return problem
    return _judged("linear_probe", judge, "learns 3 separated classes", verbose, strict)


def check_budget_curve(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """``budget_curve(features, labels, pool, test, budgets, seeds)`` on 2 classes of points that
    overlap: one row per budget, one column per seed, accuracies near the recorded ones (your
    ``linear_probe`` trains the heads, so a valid one of your own may differ a little)."""
    x, y = _clusters(2, 120, 8, seed=3, scale=0.6)
    pool, test = np.arange(60), np.arange(60, 120)
    budgets, seeds = [1, 12], [0, 1, 2, 3]

    def judge():
        got = np.asarray(fn(x, y, pool, test, budgets, seeds), dtype=float)
        if got.shape != (len(budgets), len(seeds)):
            return (f"shape {fmt_shape(got.shape)} for 2 budgets and 4 seeds: one row per budget, "
                    "one column per seed")
        if not np.all((got >= 0) & (got <= 1)):
            return "accuracies are fractions between 0 and 1"
        want = recorded("transfer_learning", "budget_curve")[0](x, y, pool, test, budgets, seeds)
        for row, budget in enumerate(budgets):
            if abs(got[row].mean() - want[row].mean()) > 0.08:
                return (f"the mean accuracy with {budget} example(s) per class is far from the recorded "
                        "one: draw `budget` examples of EACH class from the pool (not the test set), "
                        "shuffled with np.random.default_rng(seed)")
        if np.all(got == got[:, :1]) and np.any(want != want[:, :1]):
            return "every seed gives the same accuracy: draw each seed's training set with its own seed"
        return None
    return _judged("budget_curve", judge, "one row per budget, accuracies as recorded", verbose, strict)


def check_report(report, *, verbose: bool = True, strict: bool = False) -> Check:
    """Your comparison's report: its form, and a verdict that follows from its numbers."""
    if report is None:
        return finish(Check("report", False, ["report is not written yet: set report = (CUT_BLOCK, BUDGET, ...) "
                                               "in the cell above."]), verbose, strict)
    return _judged("report", lambda: report_problem(report), "a report of 7 numbers whose verdict "
                   "follows from them", verbose, strict)
