"""Hidden checks of lab 5, on the instructor's side only (never copied to labs/).

Numbers: one step of momentum and of Adam, on weights, gradients and states drawn now, against
the step that Keras' own optimizers take from that state (float32, so within RTOL). Behaviour:
the range test runs in the sandbox on a small network and digits drawn now, once as given and once
60 to 150 times brighter (their good rates lie orders of magnitude apart, so no constant passes
both); its rate passes when it lies within a factor RATE_FACTOR of the rate that the lab's
reference suggests on the same network and digits, or when a short run at it (plain SGD, 2 epochs, from the same weights)
ends with a training loss no worse than the reference rate's plus LOSS_MARGIN. The repaired run
trains in the sandbox on digits drawn now, sorted by label, and its model must classify held-out
digits it never saw with an accuracy of at least FIXED_RUN_TARGET (each fault of the broken run
alone leaves it near chance: tests/test_lab5_checks.py shows it). A reason says what property
failed, never the inputs. TensorFlow is imported inside the probe functions only.
"""

import functools
import json
import pathlib

import numpy as np

from coursegrader import Probe, Step, quiet

HERE = pathlib.Path(__file__).resolve().parent
RTOL, ATOL = 1e-4, 1e-6      # Keras steps in float32
RATE_FACTOR = 1.5            # the reference's own rate, within what threads and seeds change
LOSS_MARGIN = 0.1            # or a rate is as good as the reference's in a short run
DRAWS = 5                    # draws of a probe, until a short run at the reference's rate learns
LEARNED = 2.0                # ... to a training loss below this (a uniform guess: ln 10 = 2.30)


@functools.lru_cache(maxsize=None)
def _reference(*grade_ids):
    """The lab's reference solution of these steps, defined here (trusted code)."""
    import keras

    from coursegrader.grade import reference_sources

    sources = reference_sources(json.loads((HERE / "lab5_training.ipynb").read_text()))
    namespace = {"np": np, "keras": keras, "__name__": "lab5_reference"}  # as the lab's first cells give
    with quiet():
        for grade_id in grade_ids:
            exec(compile(sources[grade_id], f"<reference {grade_id}>", "exec"), namespace)  # noqa: S102
    return namespace


@functools.lru_cache(maxsize=1)
def _mnist():
    from coursekit.data import load

    with quiet():
        return load("mnist", quiet=True)


def _scaled(images):
    return (np.asarray(images, dtype=np.float32) / 255.0)[..., None]


# ---------------------------------------------------------------- update rules


def _grad(rng, shape):
    """Gradients away from zero, where Keras' epsilon and the paper's agree within RTOL."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.2, 2.0, size=shape)


def momentum(rng):
    from coursegrader.references.training import momentum_reference, momentum_suspects

    probes = []
    cases = [("the first step of heavy-ball momentum", (7,), False, True),
             ("heavy-ball momentum with a velocity given", (3, 4), False, False),
             ("Nesterov momentum with a velocity given", (6,), True, False),
             ("Nesterov momentum, the first step, a matrix", (2, 5), True, True)]
    for reason, shape, nesterov, first in cases:
        w, g = rng.normal(size=shape), _grad(rng, shape)
        velocity = np.zeros(shape) if first else 0.2 * rng.normal(size=shape)
        lr, mu = float(rng.choice([0.01, 0.05, 0.1, 0.3])), float(rng.uniform(0.5, 0.99))
        args = (w, g, velocity, lr, mu)
        probes.append(Probe(reason, args, {"nesterov": nesterov}, rtol=RTOL, atol=ATOL, dtype=False,
                            expect=momentum_reference(*args, nesterov=nesterov),
                            mistakes=momentum_suspects(*args, nesterov=nesterov)))
    return probes


def adam(rng):
    from coursegrader.references.training import adam_reference, adam_suspects, keras_adam_trajectory

    probes = []
    w, g = rng.normal(size=5), _grad(rng, 5)
    probes.append(Probe("the first step, the defaults", (w, g, np.zeros(5), np.zeros(5), 1), dtype=False,
                        rtol=RTOL, atol=ATOL, expect=adam_reference(w, g, np.zeros(5), np.zeros(5), 1),
                        mistakes=adam_suspects(w, g, np.zeros(5), np.zeros(5), 1)))
    # the state that Keras reached after 9 steps: the tenth step, as in a run
    shape, lr = (3, 4), float(rng.choice([1e-3, 1e-2, 0.1]))
    w, m, v = keras_adam_trajectory(rng.normal(size=shape), [_grad(rng, shape) for _ in range(9)], lr)
    g = _grad(rng, shape)
    probes.append(Probe("the tenth step of a run, moments carried", (w, g, m, v, 10, lr), dtype=False,
                        rtol=RTOL, atol=ATOL, expect=adam_reference(w, g, m, v, 10, lr),
                        mistakes=adam_suspects(w, g, m, v, 10, lr)))
    beta_1, beta_2, eps = float(rng.uniform(0.5, 0.95)), float(rng.uniform(0.9, 0.9999)), float(rng.uniform(0.1, 1))
    w, g = rng.normal(size=4), _grad(rng, 4)
    m, v, t = 0.2 * rng.normal(size=4), rng.uniform(0.1, 2.0, size=4), int(rng.integers(2, 30))
    kwargs = {"beta_1": beta_1, "beta_2": beta_2, "epsilon": eps}
    probes.append(Probe("other betas and a large epsilon, moments given", (w, g, m, v, t, 0.05), kwargs,
                        dtype=False, rtol=RTOL, atol=ATOL, expect=adam_reference(w, g, m, v, t, 0.05, **kwargs),
                        mistakes=adam_suspects(w, g, m, v, t, 0.05, **kwargs)))
    return probes


# ---------------------------------------------------------------- the range test


#: the probes' digits, brightened by a factor drawn in a range: a rate good for the one is bad for
#: the other (at 60 times or more, SGD at 0.1 leaves the loss at chance on every draw tried)
BRIGHTNESS = (("digits as given", 0.7, 1.4), ("digits 60 to 150 times brighter", 60.0, 150.0))


def range_test(rng):
    """Two probes, on digits whose good rates lie orders of magnitude apart, so that no single
    rate passes both. A draw where a short run at the reference's own rate does not learn
    cannot tell right from wrong: drawn again (the draw that learned most is kept)."""
    from coursekit.checks import range_test_net, short_run

    reference = _reference("lr_range_test")["lr_range_test"]
    (x_train, y_train), _ = _mnist()
    probes = []
    for what, low, high in BRIGHTNESS:
        draws = []
        for _ in range(DRAWS):
            brightness = float(np.exp(rng.uniform(np.log(low), np.log(high))))
            index = rng.choice(len(x_train), 512, replace=False)
            x, y, seed = _scaled(x_train[index]) * brightness, np.asarray(y_train[index]), int(rng.integers(10_000))
            model = range_test_net(seed)
            with quiet():
                ref_rate = float(reference(range_test_net(seed), x, y))
            draws.append((short_run(model, ref_rate, x, y, seed=seed), ref_rate, model, x, y, seed))
            if draws[-1][0] < LEARNED:
                break
        ref_loss, ref_rate, model, x, y, seed = min(draws, key=lambda draw: draw[0])
        probes.append(Probe(f"the suggested rate on {what}, judged by a short run", (model, x, y),
                            judge=_rate_judge(model, x, y, seed, ref_rate, ref_loss)))
    return probes


def _rate_judge(model, x, y, seed, ref_rate, ref_loss):
    from coursekit.checks import short_run

    def judge(value):
        try:
            rate = float(np.asarray(value).item())
        except (TypeError, ValueError):
            return "return one number, the suggested learning rate"
        if not np.isfinite(rate) or rate <= 0:
            return "the suggested rate must be a positive number"
        if ref_rate / RATE_FACTOR <= rate <= ref_rate * RATE_FACTOR:
            return None     # the reference's rate, within the noise of a seeded run
        if short_run(model, rate, x, y, seed=seed) <= ref_loss + LOSS_MARGIN:
            return None
        return ("a short run at the suggested rate learns less than at the rate a range test suggests "
                "(too small, or past the point where the loss stops falling)")
    return judge


# ---------------------------------------------------------------- diagnosis and repair

#: the faults of the lab's broken_run (True) and what it does right (False)
DIAGNOSIS = {"labels_apart_from_images": True, "classes_in_order": True, "logits_into_probability_loss": True,
             "learning_rate_too_high": True, "pixels_not_scaled": False, "batch_too_small": False,
             "too_few_epochs": False, "network_too_small": False}


def diagnosis(rng):
    return [Probe(name, name=name, expect=float(answer), rtol=0, atol=0, dtype=False)
            for name, answer in DIAGNOSIS.items()]


def fixed(rng):
    from coursekit.checks import FIXED_RUN_TARGET, sorted_digits

    (x_train, y_train), (x_test, y_test) = _mnist()
    x, y = sorted_digits(x_train, y_train, rng, 1000)
    held = rng.choice(len(x_test), 1000, replace=False)
    x_held, y_held = _scaled(x_test[held]), np.asarray(y_test[held])

    def judge(model):
        if not hasattr(model, "predict") or tuple(model.output_shape) != (None, 10):
            return "return the trained Keras model, with one output per class"
        scores = np.asarray(model.predict(x_held, batch_size=500, verbose=0))
        if np.mean(scores.argmax(axis=1) == y_held) < FIXED_RUN_TARGET:
            return f"the repaired run does not reach {FIXED_RUN_TARGET:.0%} on digits it never saw"
        return None

    return [Probe("a repaired run on digits sorted by label, judged on digits it never saw",
                  (x, y), {"seed": int(rng.integers(10_000)), "epochs": 2}, judge=judge,
                  hint="near 10 % the network learns nothing: at least one fault of the broken run is still there")]


STEPS = [
    Step("momentum_step", momentum, call="momentum_step", numpy_only=True),
    Step("adam_step", adam, call="adam_step", numpy_only=True),
    Step("lr_range_test", range_test, call="lr_range_test", timeout=120, memory_mb=4096),
    Step("diagnosis", diagnosis, names=tuple(DIAGNOSIS)),
    Step("fixed_run", fixed, call="fixed_run", needs=("lr_range_test",),  # it may choose its rate with it
         allow=("coursekit.train",),  # train.fit shuffles images and labels together: the repair may use it
         timeout=120, memory_mb=4096),
]
