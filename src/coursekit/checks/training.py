"""Self-checks of lab 5 (training a convnet): one step of momentum and of Adam against outputs
recorded from Keras' optimizers, a learning-rate range test judged by what its rate does in a
short run, and a repaired training run judged by its accuracy on digits it never saw."""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np

from ._functions import case, check_function
from ._report import Check, finish
from ._student import running
from ._recorded import recorded

__all__ = [
    "RANGE_TEST_CHANCE", "FIXED_RUN_TARGET", "range_test_net", "short_run", "sorted_digits",
    "check_momentum_step", "check_adam_step", "check_lr_range_test", "check_fixed_run",
]

#: a short run at a good rate ends with a training loss below this (chance, ln 10, is 2.30)
RANGE_TEST_CHANCE = 2.1
#: a repaired run reaches this accuracy on digits it never saw (each fault alone leaves it near 0.1)
FIXED_RUN_TARGET = 0.6

# --------------------------------------------------------------------------
# The usual mistakes: their hints (what they give is recorded)
# --------------------------------------------------------------------------

OLD_VELOCITY = ("the weights moved by the old velocity: Keras updates the velocity first, then moves "
                "the weights by the new one.")
PYTORCH_VELOCITY = ("PyTorch's convention (the learning rate applied outside the velocity): Keras "
                    "keeps the learning rate inside the velocity.")
HEAVY_FOR_NESTEROV = ("with nesterov=True the step looks ahead: the weights do not move by the new "
                      "velocity alone, as the heavy ball's do (see Nesterov's rule in the chapter).")
ADAM_NO_CORRECTION = ("no bias correction: the moments start at zero, so Keras scales the step by a "
                      "factor that depends on t, the number of this step.")
ADAM_EPS_INSIDE = "epsilon is inside the square root: Keras adds it to the root of v."
ADAM_NOT_SQUARED = "the second moment averages the squared gradient, not its absolute value."


def _check_step(name: str, fn: Callable, parts: tuple[str, ...], cases, verbose, strict, hint) -> Check:
    """An optimizer step, which returns ``parts``, against the recorded steps of Keras' optimizer."""
    expected, suspects = recorded("training", name)
    return check_function(name, _as_stack(fn, len(parts), ", ".join(parts)), cases, expected,
                          suspects=suspects, rtol=1e-4, atol=1e-6, hint=hint, verbose=verbose, strict=strict)


def _as_stack(fn: Callable, n: int, what: str) -> Callable:
    """fn, returning np.stack of its n arrays in float64 (a clear error for anything else)."""
    @functools.wraps(fn)
    def stacked(*args, **kwargs):
        result = fn(*args, **kwargs)
        if not isinstance(result, (tuple, list)) or len(result) != n:
            got = f"a {type(result).__name__}" + (f" of {len(result)}" if isinstance(result, (tuple, list)) else "")
            raise TypeError(f"returned {got}; return a tuple of {n}: {what}")
        return np.stack([np.asarray(part, dtype=np.float64) for part in result])
    return stacked


def _momentum_cases(rng: np.random.Generator) -> list[dict]:
    def arr(*shape):
        return rng.normal(size=shape)

    return [
        case(arr(5), arr(5), np.zeros(5), 0.1, 0.9, label="the first step: the velocity is zero"),
        case(arr(4), arr(4), 0.1 * arr(4), 0.05, 0.9, label="heavy ball, a velocity given"),
        case(arr(3, 4), arr(3, 4), 0.1 * arr(3, 4), 0.02, 0.8, nesterov=True, label="Nesterov, a matrix"),
        case(arr(6), arr(6), 0.2 * arr(6), 0.3, 0.5, nesterov=True, label="Nesterov, momentum 0.5"),
    ]


def check_momentum_step(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 5: ``fn(w, g, velocity, learning_rate, momentum=0.9, nesterov=False)``
    returns ``(w_new, velocity_new)``, equal to what ``keras.optimizers.SGD`` gives (recorded)."""
    return _check_step("momentum_step", fn, ("the new weights", "the new velocity"),
                       _momentum_cases(np.random.default_rng(seed)), verbose, strict,
                       hint="compare with the chapter's rules in Keras' convention (the learning rate "
                            "inside the velocity), or with keras.optimizers.SGD on a keras.Variable.")


def _adam_cases(rng: np.random.Generator) -> list[dict]:
    def grad(*shape):      # gradients away from zero: Keras' and the paper's epsilon agree there
        return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 2.0, size=shape)

    m, v = 0.1 * rng.normal(size=4), rng.uniform(0.1, 1.0, size=4)
    return [
        case(rng.normal(size=5), grad(5), np.zeros(5), np.zeros(5), 1, label="the first step, the defaults"),
        case(rng.normal(size=4), grad(4), m, v, 7, 0.01, label="step 7, moments given"),
        case(rng.normal(size=(2, 3)), grad(2, 3), np.zeros((2, 3)), np.zeros((2, 3)), 1, 0.1, 0.8, 0.99,
             epsilon=0.5, label="a matrix, other betas, a large epsilon"),
        case(rng.normal(size=4), grad(4), m, v, 3, 0.01, epsilon=0.3, label="step 3, a large epsilon"),
    ]


def check_adam_step(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 5: ``fn(w, g, m, v, t, learning_rate=0.001, beta_1=0.9, beta_2=0.999,
    epsilon=1e-7)`` returns ``(w_new, m_new, v_new)``, equal to what ``keras.optimizers.Adam``
    gives at step ``t`` (recorded)."""
    return _check_step("adam_step", fn, ("the new weights", "m", "v"),
                       _adam_cases(np.random.default_rng(seed)), verbose, strict,
                       hint="compare with the chapter's rule in the form Keras computes (the bias "
                            "correction folded into the rate), or with keras.optimizers.Adam.")


# --------------------------------------------------------------------------
# Training: the range test's network, a short run, the digits of the broken run
# --------------------------------------------------------------------------


def range_test_net(seed: int = 0):
    """The small softmax convnet of lab 5's range test, seeded: conv 8 - pool - dense 10."""
    import keras

    keras.utils.set_random_seed(int(seed))
    return keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax"),
    ])


def short_run(model, rate: float, x, y, *, seed: int = 0, epochs: int = 2) -> float:
    """The training loss on (x, y) after a copy of ``model`` (same starting weights) trained with
    plain SGD at ``rate``, batches of 32, shuffled with ``seed``; inf when it diverged."""
    import keras

    rate = float(rate)
    if not np.isfinite(rate) or rate <= 0:
        return float("inf")
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    keras.utils.set_random_seed(int(seed))
    copy.compile(optimizer=keras.optimizers.SGD(rate), loss="sparse_categorical_crossentropy")
    copy.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    loss = float(copy.evaluate(x, y, batch_size=512, verbose=0))
    return loss if np.isfinite(loss) else float("inf")


def sorted_digits(images, labels, rng: np.random.Generator, n: int):
    """n digits drawn with ``rng``, sorted by label (as the broken run's source delivers them)."""
    index = rng.choice(len(images), n, replace=False)
    index = index[np.argsort(np.asarray(labels)[index], kind="stable")]
    return np.asarray(images)[index], np.asarray(labels)[index]


def _scaled(images):
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., None]


def check_lr_range_test(fn: Callable, data, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 5: ``fn(model, x, y)`` on the lab's small network and 512 digits
    returns one learning rate, and a short run at that rate learns (its loss falls below 2.1)."""
    name = "lr_range_test"
    (x_train, y_train), _ = data
    x, y = _scaled(x_train[:512]), np.asarray(y_train[:512])
    model = range_test_net(0)
    start = [w.copy() for w in model.get_weights()]
    with running(fn, name) as crash:
        rate = fn(range_test_net(0), x, y)
    if crash:
        return crash.report(verbose, strict)
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        return finish(Check(name, False, [f"returned a {type(rate).__name__}; return one number, "
                                           "the suggested learning rate."]), verbose, strict)
    if not np.isfinite(rate) or not 1e-4 <= rate <= 10.0:
        return finish(Check(name, False, [f"suggested {rate:g}, outside the rates tried (1e-4 to 10)."]),
                       verbose, strict)
    model.set_weights(start)
    loss = short_run(model, rate, x, y, seed=0)
    if not loss < RANGE_TEST_CHANCE:
        return finish(Check(name, False, [
            f"a short run at the suggested rate {rate:.3g} ends with a training loss of {loss:.2f} "
            f"(chance is 2.30): the rate is too large, where the loss already rose, or too small to learn.",
            "Suggest a rate below the one where the (smoothed) loss was smallest, about ten times below."]),
            verbose, strict)
    return finish(Check(name, True, [f"suggested {rate:.3g}; a short run there ends at loss {loss:.2f}"]),
                   verbose, strict)


def check_fixed_run(fn: Callable, data, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 5: ``fn(x, y, seed=0, epochs=2)`` on 600 digits sorted by label returns a
    trained Keras model that classifies 500 digits it never saw with accuracy >= FIXED_RUN_TARGET."""
    name = "fixed_run"
    (x_train, y_train), (x_test, y_test) = data
    x, y = sorted_digits(x_train, y_train, np.random.default_rng(5), 600)
    with running(fn, name) as crash:
        model = fn(x, y, seed=0, epochs=2)
    if crash:
        return crash.report(verbose, strict)
    if not hasattr(model, "predict") or tuple(model.output_shape) != (None, 10):
        return finish(Check(name, False, ["return the trained Keras model, with 10 outputs "
                                           "(a score or a probability per class)."]), verbose, strict)
    scores = np.asarray(model.predict(_scaled(x_test[:500]), batch_size=500, verbose=0))
    accuracy = float(np.mean(scores.argmax(axis=1) == np.asarray(y_test[:500])))
    if accuracy < FIXED_RUN_TARGET:
        return finish(Check(name, False, [
            f"accuracy {accuracy:.1%} on 500 digits it never saw; a repaired run reaches "
            f"{FIXED_RUN_TARGET:.0%} in 2 epochs.",
            "Near 10 % the network learns nothing: at least one fault of step 4 is still there."]),
            verbose, strict)
    return finish(Check(name, True, [f"{accuracy:.1%} on 500 digits it never saw"]), verbose, strict)
