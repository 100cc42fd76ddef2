"""Self-checks for lab 6 (batch normalization).

They compare with outputs recorded from TensorFlow (``tf.nn.moments`` and
``tf.nn.batch_normalization`` in float64 for the forward pass, ``tf.GradientTape``
through them and a float64 numeric gradient for the backward pass), and with
``keras.layers.BatchNormalization`` for the layer. A wrong answer is matched against the
recorded outputs of the usual mistakes, and the report names the mistake: the unbiased variance (Keras divides by m, not m - 1), statistics
over the wrong axes in the convolutional case (per channel means over N, H and W),
epsilon outside the square root, and the momentum convention reversed (Keras 3:
``moving = moving * momentum + batch * (1 - momentum)``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._compare import compare, report_numbers
from ._functions import case
from ._report import Check, finish, fmt_shape
from ._student import running
from ._recorded import NotRecorded, recorded

__all__ = [
    "GRADIENT_RTOL", "GRADIENT_ATOL", "keras_batchnorm_run", "check_batchnorm_forward", "check_batchnorm_backward",
    "check_batchnorm_layer", "check_bn_experiment", "bn_report_problem", "check_bn_report",
]

#: the numeric-gradient criterion of the labs (CS231n): |analytic - numeric| <= ATOL + RTOL * |numeric|
GRADIENT_RTOL = 1e-8   # |error| <= GRADIENT_ATOL + GRADIENT_RTOL * |numeric|
GRADIENT_ATOL = 1e-9


def keras_batchnorm_run(batches, x_test, gamma, beta, momentum=0.99, epsilon=1e-3, layer=None):
    """Outputs of a batch-normalization layer: each batch in training mode, one after the other,
    then ``x_test`` in inference mode; and its moving mean and variance at the end.

    ``layer`` defaults to a new ``keras.layers.BatchNormalization(momentum, epsilon)``; any layer
    with the attributes gamma, beta, moving_mean and moving_variance works. Returns a dict.
    """
    import keras

    layer = layer if layer is not None else keras.layers.BatchNormalization(momentum=momentum, epsilon=epsilon)
    if not layer.built:
        layer.build((None, *np.shape(x_test)[1:]))
    layer.gamma.assign(np.asarray(gamma, np.float32))
    layer.beta.assign(np.asarray(beta, np.float32))
    train = [keras.ops.convert_to_numpy(layer(np.asarray(b, np.float32), training=True)) for b in batches]
    test = keras.ops.convert_to_numpy(layer(np.asarray(x_test, np.float32), training=False))
    return {"train": np.stack(train), "inference": test,
            "moving_mean": keras.ops.convert_to_numpy(layer.moving_mean),
            "moving_variance": keras.ops.convert_to_numpy(layer.moving_variance)}


# --------------------------------------------------------------------------
# The usual mistakes: their hints (what they give is recorded)
# --------------------------------------------------------------------------

UNBIASED = ("the variance divides by m - 1 (unbiased, np.var(..., ddof=1) or PyTorch's running variance); "
             "Keras divides by m, the number of values per channel: np.var(x, axis=...) with ddof=0.")
AXES_BATCH_ONLY = ("statistics over the batch axis only: for (N, H, W, C) a channel's mean and variance "
                    "are over N, H and W together, axis=(0, 1, 2), one number per channel.")
AXES_ALL = ("statistics over every axis, channels included: keep one mean and one variance per channel "
             "(leave the last axis out of the reduction).")
EPS_OUTSIDE = "epsilon is outside the square root: divide by np.sqrt(var + eps), not np.sqrt(var) + eps."
MOMENTUM = ("the momentum convention is reversed: Keras 3 keeps most of the old value, "
             "running = running * momentum + batch * (1 - momentum) (PyTorch's momentum=0.1 means the opposite).")
NOT_UPDATED = "the running statistics did not move: in training mode they take a step towards the batch's."
UPDATED_IN_INFERENCE = "in inference mode the running statistics must stay as they are."
BATCH_IN_INFERENCE = ("inference mode normalizes with the running statistics (running_mean, running_var), "
                       "not with the batch's own.")


# --------------------------------------------------------------------------
# The self-checks
# --------------------------------------------------------------------------


def _forward_cases(rng: np.random.Generator) -> list[dict]:
    def arr(*shape, loc=0.0, scale=1.0, dtype=np.float64):
        return rng.normal(loc, scale, size=shape).astype(dtype)

    def params(c, dtype=np.float64):
        return rng.uniform(0.5, 2.0, c).astype(dtype), arr(c, dtype=dtype)

    stats = (arr(3), rng.uniform(0.5, 2, 3))
    return [
        case(arr(8, 3, loc=2, scale=3), *params(3), label="(N, D), the defaults"),
        case(arr(6, 4, loc=-1, scale=0.2), *params(4), eps=0.05, running_mean=arr(4),
             running_var=rng.uniform(0.5, 2, 4), momentum=0.9, label="(N, D), eps 0.05, momentum 0.9"),
        case(arr(2, 4, 3, 3, loc=1, scale=2), *params(3), eps=1e-3, running_mean=stats[0],
             running_var=stats[1], momentum=0.8, label="(N, H, W, C): statistics per channel"),
        case(arr(5, 3, 2, 3, scale=3), *params(3), eps=1e-3, mode="inference", running_mean=stats[0],
             running_var=stats[1], label="inference mode"),
        case(arr(4, 5, dtype=np.float32), *params(5, np.float32), running_mean=np.zeros(5, np.float32),
             running_var=np.ones(5, np.float32), label="float32 stays float32"),
    ]


def _unpack(result, n: int, what: str) -> tuple[tuple | None, str | None]:
    if not isinstance(result, tuple) or len(result) != n:
        got = f"a tuple of {len(result)}" if isinstance(result, tuple) else f"a {type(result).__name__}"
        return None, f"returned {got}; expected a tuple of {n}: {what}."
    return result, None


def check_batchnorm_forward(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 6: ``fn(x, gamma, beta, eps, mode, running_mean, running_var, momentum)`` returns
    ``(out, cache, running_mean, running_var)``; out and the running statistics must equal the
    recorded ones (TensorFlow's), and a wrong result is matched against the usual mistakes."""
    name = "batchnorm_forward"
    cases = _forward_cases(np.random.default_rng(seed))
    tables = {what: recorded("batch_norm", f"{name}.{what}") for what in ("out", "running_mean", "running_var")}
    for number, the_case in enumerate(cases, 1):
        args, kwargs = the_case["args"], the_case["kwargs"]
        where = f"case {number} of {len(cases)}: {the_case['label']}"
        with running(fn, name, where) as crash:
            result = fn(*(np.copy(a) for a in args), **{k: np.copy(v) if isinstance(v, np.ndarray) else v
                                                       for k, v in kwargs.items()})
        if crash:
            return crash.report(verbose, strict)
        parts, problem = _unpack(result, 4, "out, cache, running_mean, running_var")
        if problem:
            return finish(Check(name, False, [where, problem]), verbose, strict)
        try:
            expected = {what: table[0](*args, **kwargs) for what, table in tables.items()}
        except NotRecorded as missing:
            return finish(Check(name, False, [where, str(missing)]), verbose, strict)
        suspects = {what: table[1](*args, **kwargs) for what, table in tables.items()}
        tolerance = {"rtol": 1e-5, "atol": 1e-5} if args[0].dtype == np.float32 else {"rtol": 1e-7, "atol": 1e-9}
        for what, got in zip(("out", "running_mean", "running_var"), (parts[0], parts[2], parts[3])):
            verdict = compare(f"{name} ({what})", got, expected[what], check_dtype=True,
                              suspects=suspects[what], context=where, verbose=False, **tolerance)
            if not verdict:
                return finish(verdict, verbose, strict)
    return finish(Check(name, True, [f"{len(cases)} cases: (N, D), (N, H, W, C), both modes, float32"]),
                   verbose, strict)


def _backward_cases(rng: np.random.Generator) -> list[dict]:
    cases = []
    for shape, eps, label in [((6, 4), 1e-3, "(N, D)"), ((2, 3, 3, 2), 1e-3, "(N, H, W, C)"),
                              ((5, 3), 0.1, "(N, D), eps 0.1")]:
        x = rng.normal(1, 2, size=shape)
        gamma, beta = rng.uniform(0.5, 1.5, shape[-1]), rng.normal(size=shape[-1])
        cases.append(case(rng.normal(size=shape), x, gamma, beta, eps, label=label))
    return cases


def _backward_recorded(prefix: str, parts, args) -> list[np.ndarray]:
    """The recorded gradients (by tf.GradientTape, or numeric) or the forward pass's cache, for one case."""
    return [recorded("batch_norm", f"batchnorm_backward.{prefix}{what}")[0](*args) for what in parts]


def check_batchnorm_backward(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 6: ``fn(dout, cache)`` with the cache of the forward pass,
    ``(x, x_hat, mean, var, gamma, eps)``, returns ``(dx, dgamma, dbeta)``: compared with
    ``tf.GradientTape``, then with a numeric gradient in float64
    (|analytic - numeric| <= 1e-9 + 1e-8 |numeric|), both recorded."""
    name = getattr(fn, "__name__", "batchnorm_backward")
    for number, the_case in enumerate(_backward_cases(np.random.default_rng(seed)), 1):
        dout, x, gamma, beta, eps = the_case["args"]
        where = f"case {number}: {the_case['label']}"
        try:
            tape = _backward_recorded("", ("dx", "dgamma", "dbeta"), the_case["args"])
            numeric = _backward_recorded("numeric_", ("dx", "dgamma", "dbeta"), the_case["args"])
            x_hat, mean, var = _backward_recorded("", ("x_hat", "mean", "var"), the_case["args"])
        except NotRecorded as missing:
            return finish(Check(name, False, [where, str(missing)]), verbose, strict)
        with running(fn, name, where) as crash:
            result = fn(dout.copy(), (x.copy(), x_hat, mean, var, np.asarray(gamma), eps))
        if crash:
            return crash.report(verbose, strict)
        parts, problem = _unpack(result, 3, "dx, dgamma, dbeta")
        if problem:
            return finish(Check(name, False, [where, problem]), verbose, strict)
        # rules, not the formulas the step asks for: the self-check must not answer it
        hints = {"dx": "x reaches the output three ways: directly, through the mean and through the variance; "
                       "add the three paths (check each one alone against a numeric gradient on a tiny input).",
                 "dgamma": "gamma scales x_hat, one gamma per channel: sum over every axis but the channels.",
                 "dbeta": "beta is added, one beta per channel: sum over every axis but the channels."}
        for what, got, want, num in zip(("dx", "dgamma", "dbeta"), parts, tape, numeric):
            verdict = compare(f"{name} ({what})", got, want, rtol=1e-7, atol=1e-9, hint=hints[what],
                              context=f"{where}, against tf.GradientTape", verbose=False)
            if not verdict:
                return finish(verdict, verbose, strict)
            got = np.asarray(got, dtype=np.float64)
            if not np.allclose(got, num, rtol=GRADIENT_RTOL, atol=GRADIENT_ATOL):
                worst = float(np.max(np.abs(got - num) / (GRADIENT_ATOL + GRADIENT_RTOL * np.abs(num))))
                return finish(Check(name, False, [
                    f"{where}: {what} is {worst:.1f} times the tolerance away from a float64 numeric "
                    f"gradient (|error| <= {GRADIENT_ATOL:g} + {GRADIENT_RTOL:g} |numeric|).",
                    "Compute in float64 and avoid shortcuts that lose precision."]), verbose, strict)
    return finish(Check(name, True, ["tf.GradientTape and a float64 numeric gradient, (N, D) and "
                                      "(N, H, W, C)"]), verbose, strict)


def check_batchnorm_layer(layer_class, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 6: ``layer_class(momentum=..., epsilon=...)`` must hold gamma and beta
    (trainable) and moving_mean and moving_variance (not trainable), one per channel, and give
    what ``keras.layers.BatchNormalization`` gives in both modes, moving statistics included."""
    name = "BatchNorm"
    rng = np.random.default_rng(seed)
    fail = lambda *lines: finish(Check(name, False, lines), verbose, strict)  # noqa: E731
    if layer_class is None:
        return fail("BatchNorm is not written yet: the cell above defines it once it runs without "
                    "NotImplementedError.")
    for shape, momentum, epsilon in [((8, 3), 0.9, 1e-3), ((4, 5, 5, 2), 0.5, 0.1)]:
        batches = rng.normal(2, 3, size=(3, *shape)).astype(np.float32)
        x_test = rng.normal(2, 3, size=shape).astype(np.float32)
        gamma, beta = rng.uniform(0.5, 2, shape[-1]), rng.normal(size=shape[-1])
        where = f"inputs {fmt_shape(shape)}, momentum {momentum}, epsilon {epsilon}"
        with running(getattr(layer_class, "call", layer_class), name, where) as crash:
            layer = layer_class(momentum=momentum, epsilon=epsilon)
            layer.build((None, *shape[1:]))
            missing = [a for a in ("gamma", "beta", "moving_mean", "moving_variance") if not hasattr(layer, a)]
            if missing:
                return fail(f"the layer has no attribute {', '.join(missing)}: create the four weights "
                            "in build() with self.add_weight and keep them as attributes of those names.")
            counts = (len(layer.trainable_weights), len(layer.non_trainable_weights))
            if counts != (2, 2) or {tuple(w.shape) for w in layer.weights} != {(shape[-1],)}:
                return fail(f"{counts[0]} trainable and {counts[1]} non-trainable weights of shapes "
                            f"{[tuple(w.shape) for w in layer.weights]}; expected gamma and beta trainable, "
                            "moving_mean and moving_variance with trainable=False, each of shape (channels,).")
            got = keras_batchnorm_run(batches, x_test, gamma, beta, layer=layer)
        if crash:
            return crash.report(verbose, strict)
        want = keras_batchnorm_run(batches, x_test, gamma, beta, momentum, epsilon)
        for what in ("train", "moving_mean", "moving_variance", "inference"):
            verdict = compare(f"{name} ({what.replace('_', ' ')})", got[what], want[what], rtol=1e-4, atol=1e-4,
                              context=f"{where}, three training steps then inference",
                              hint=("training=True: the batch's statistics, and a step of the moving ones; "
                                    "training=False: the moving statistics." if what in ("train", "inference")
                                    else MOMENTUM), verbose=False)
            if not verdict:
                return finish(verdict, verbose, strict)
    return finish(Check(name, True, ["equals keras.layers.BatchNormalization in both modes, moving "
                                      "statistics included"]), verbose, strict)


#: the layers of lab 6's convnet for each BN placement (Conv2D's use_bias in brackets)
_CONVNET_LAYERS = {
    placement: [name for _ in range(2) for name in
                [f"Conv2D(bias={placement != 'before'})",
                 *(["BatchNormalization"] if placement == "before" else []), "ReLU",
                 *(["BatchNormalization"] if placement == "after" else []), "MaxPooling2D"]]
    + ["Flatten", "Dense"]
    for placement in ("none", "before", "after")}


def _layer_names(model) -> list[str]:
    return [f"Conv2D(bias={layer.use_bias})" if type(layer).__name__ == "Conv2D" else type(layer).__name__
            for layer in model.layers]


def _convnet_problem(network: Callable) -> str | None:
    """What is wrong with the layers of ``network(placement)``, for each placement, or None."""
    for placement, want in _CONVNET_LAYERS.items():
        got = _layer_names(network(placement))
        if got != want:
            return (f"convnet({placement!r}) has the layers {', '.join(got)}; expected {', '.join(want)} "
                    "(a convolution that BN follows directly has no bias).")
    return None


def check_bn_experiment(fn: Callable, data, *, network: Callable | None = None, verbose: bool = True,
                        strict: bool = False) -> Check:
    """Self-check for lab 6: ``network(placement)`` has the layers the lab describes for each
    placement; ``fn(x_train, y_train, placement, learning_rate, seeds, epochs)`` on 300 digits
    returns one final training loss per seed, the same ones when run again, and losses with
    batch normalization well below chance."""
    name = "bn_experiment"
    (x_train, y_train), _ = data
    if network is not None:
        with running(network, name, step="convnet") as crash:
            problem = _convnet_problem(network)
        if crash:
            return crash.report(verbose, strict)
        if problem:
            return finish(Check(name, False, [problem]), verbose, strict)
    with running(fn, name) as crash:
        runs = [np.asarray(fn(x_train[:300], y_train[:300], "after", learning_rate=0.03, seeds=[1, 2],
                              epochs=2), dtype=np.float64) for _ in range(2)]
    if crash:
        return crash.report(verbose, strict)
    first = runs[0]
    if first.shape != (2,):
        return finish(Check(name, False, [f"two seeds gave a result of shape {fmt_shape(first.shape)}; "
                                          "expected (2,): the final training loss of each seed."]),
                      verbose, strict)
    if not (np.all(np.isfinite(first)) and np.all((first > 0) & (first < 1.5))):
        return finish(Check(name, False, [
            f"with BN after the ReLUs the losses after two epochs on 300 digits at learning rate 0.03 are "
            f"{first.round(3).tolist()}; they should fall well below 2.3 (chance), under 1.5. Are the images "
            "scaled to [0, 1], of shape (N, 28, 28, 1), and the loss from logits?"]), verbose, strict)
    if not np.array_equal(runs[0], runs[1], equal_nan=True):
        return finish(Check(name, False, [
            f"two runs with the same seeds gave {runs[0].round(4).tolist()} and {runs[1].round(4).tolist()}: "
            "call keras.utils.set_random_seed(seed) before building each network."]), verbose, strict)
    return finish(Check(name, True, [f"a quick run gave losses {first.round(3).tolist()} for seeds 1 and 2; "
                                     "seeded"]), verbose, strict)


#: the mean final loss with BN that a design of lab 6's study must reach (five seeds)
DESIGN_LOSS = 0.6


def bn_report_problem(report) -> str | None:
    """What is wrong with the form of lab 6's report (BN after the ReLU, learning rate, mean and
    spread with BN, mean and spread without, BN wins), or with what it draws from its own numbers."""
    values, problem = report_numbers(report, 7)
    if problem:
        return problem
    after_relu, rate, bn, bn_spread, plain, plain_spread, wins = values
    if after_relu not in (0, 1) or wins not in (0, 1):
        return "BN_AFTER_RELU and BN_WINS must be True or False"
    if not 0.01 <= rate <= 1:
        return "LEARNING_RATE must lie between 0.01 and 1"
    if min(bn, bn_spread, plain, plain_spread) < 0:
        return "losses and their spreads are not negative"
    if bn >= DESIGN_LOSS:
        return (f"your design does not train well enough: with BN the mean loss must fall below {DESIGN_LOSS}; "
                "try the other placement or another learning rate")
    if bool(wins) != (plain - bn > max(bn_spread, plain_spread)):
        return ("BN_WINS does not follow from your numbers: BN wins when the mean loss without BN exceeds "
                "yours by more than the larger of the two spreads")
    return None


def check_bn_report(report, *, verbose: bool = True, strict: bool = False) -> Check:
    """Your study's report: its form, a design that trains, and a verdict that follows from its numbers."""
    if report is None:
        return finish(Check("report", False, ["report is not written yet: set report = (BN_AFTER_RELU, "
                                              "LEARNING_RATE, ...) in the cell above."]), verbose, strict)
    problem = bn_report_problem(report)
    return finish(Check("report", problem is None, [problem or "a report of 7 numbers whose verdict follows "
                                                    "from them"]), verbose, strict)
