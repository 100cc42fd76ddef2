"""Lab 5 (training a convnet), against known answers.

The references of the update rules are Keras' own optimizers started from a given state; here a
NumPy version of each rule, written independently, must follow Keras over ten steps from zero
state, and the references' state setting (moments, step count) must continue that run exactly.
The self-checks must pass right answers and name the usual mistakes. The grader's behavioural
probes must tell right from wrong: each fault of the lab's broken run alone keeps it near chance
while the repaired run passes, and the range test's judge fails rates 100 times off and a
constant rate (0.1, good on the digits as given) on the brighter digits.
"""

import importlib.util

import numpy as np
import pytest

from coursekit import checks
from course_files import HAS_SOLUTIONS, ROOT

keras = pytest.importorskip("keras")


def momentum(w, g, velocity, learning_rate, momentum=0.9, nesterov=False):
    velocity = momentum * np.asarray(velocity) - learning_rate * np.asarray(g)
    if nesterov:
        return w + momentum * velocity - learning_rate * g, velocity
    return w + velocity, velocity


def adam(w, g, m, v, t, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, correct=True):
    m = beta_1 * m + (1 - beta_1) * g
    v = beta_2 * v + (1 - beta_2) * g * g
    if not correct:
        return w - learning_rate * m / (np.sqrt(v) + epsilon), m, v
    # the paper's form (bias-corrected moments), with Keras' epsilon: sqrt(v) + epsilon before correction
    m_hat, v_hat, scale = m / (1 - beta_1**t), v / (1 - beta_2**t), np.sqrt(1 - beta_2**t)
    return w - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon / scale), m, v


def _keras_run(optimizer, w, grads):
    var = keras.Variable(np.asarray(w, np.float32))
    out = []
    for g in grads:
        optimizer.apply_gradients([(np.asarray(g, np.float32), var)])
        out.append(np.asarray(var.numpy(), np.float64))
    return out


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_follows_keras_for_ten_steps_and_the_reference_continues_it(nesterov):
    from coursegrader.references.training import momentum_reference

    rng = np.random.default_rng(3)
    w0, grads = rng.normal(size=6), rng.normal(size=(11, 6))
    steps = _keras_run(keras.optimizers.SGD(0.05, momentum=0.8, nesterov=nesterov), w0, grads[:10])
    w, velocity = w0, np.zeros(6)
    for k in range(10):
        w, velocity = momentum(w, grads[k], velocity, 0.05, 0.8, nesterov)
        np.testing.assert_allclose(w, steps[k], rtol=1e-5, atol=1e-6)
    reference = momentum_reference(w, grads[10], velocity, 0.05, 0.8, nesterov=nesterov)
    np.testing.assert_allclose(reference, np.stack(momentum(w, grads[10], velocity, 0.05, 0.8, nesterov)),
                               rtol=1e-5, atol=1e-6)


def test_adam_follows_keras_for_ten_steps_and_the_reference_continues_it():
    from coursegrader.references.training import adam_reference, keras_adam_trajectory

    rng = np.random.default_rng(4)
    w0, grads = rng.normal(size=5), rng.normal(size=(11, 5))
    steps = _keras_run(keras.optimizers.Adam(0.01), w0, grads[:10])
    w, m, v = w0, np.zeros(5), np.zeros(5)
    for k in range(10):
        w, m, v = adam(w, grads[k], m, v, k + 1, 0.01)
        np.testing.assert_allclose(w, steps[k], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.stack(keras_adam_trajectory(w0, grads[:10], 0.01)), np.stack([w, m, v]),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(adam_reference(w, grads[10], m, v, 11, 0.01),
                               np.stack(adam(w, grads[10], m, v, 11, 0.01)), rtol=1e-5, atol=1e-6)


def test_the_update_checks_pass_right_answers_and_name_the_usual_mistakes():
    assert checks.check_momentum_step(momentum, verbose=False)
    assert checks.check_adam_step(adam, verbose=False)
    heavy = checks.check_momentum_step(lambda *a, nesterov=False: momentum(*a), verbose=False)
    assert not heavy and "looks ahead" in str(heavy)
    uncorrected = checks.check_adam_step(lambda *a, **k: adam(*a, **k, correct=False), verbose=False)
    assert not uncorrected and "bias correction" in str(uncorrected)
    one = checks.check_momentum_step(lambda *a, **k: momentum(*a, **k)[0], verbose=False)
    assert not one and "return a tuple of 2" in str(one)


def _grader():
    spec = importlib.util.spec_from_file_location("lab5_grader", ROOT / "solutions" / "lab5_training" / "grader.py")
    grader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grader)
    return grader


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no solutions/")
def test_the_range_test_judge_passes_the_reference_and_fails_rates_a_hundred_times_off():
    grader = _grader()
    probes = grader.range_test(np.random.default_rng(11))
    assert len(probes) == 2
    constant_passes = []
    for probe in probes:
        model, x, y = probe.args
        twin = keras.models.clone_model(model)
        twin.set_weights(model.get_weights())
        rate = float(grader._reference("lr_range_test")["lr_range_test"](twin, x, y))
        assert probe.judge(rate) is None
        assert probe.judge(rate / 100) is not None and probe.judge(rate * 100) is not None
        constant_passes.append(probe.judge(0.1) is None)
    assert constant_passes == [True, False], "a constant 0.1 passes the digits as given, not the bright ones"


def _run(x, y, seed, *, lr=0.05, from_logits=True, apart=False, shuffle=True):
    """The lab's run with its faults switched one by one (the lab's fixed_run: all off)."""
    from coursekit import train

    keras.utils.set_random_seed(seed)
    images = (np.asarray(x, np.float32) / 255.0)[..., None]
    labels = np.asarray(y)
    if apart:
        labels = labels[np.random.default_rng(seed).permutation(len(labels))]
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 3, activation="relu"),
                              keras.layers.MaxPooling2D(2), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(optimizer=keras.optimizers.SGD(lr, momentum=0.9),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits))
    train.fit(model, images, labels, batch_size=32, epochs=2, seed=seed, verbose=0, shuffle=shuffle)
    return model


@pytest.mark.slow
@pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no solutions/")
def test_each_fault_of_the_broken_run_alone_keeps_it_below_the_target():
    # what the diagnosis quiz marks as faults, and what the repaired run's target relies on
    from coursekit import data

    grader = _grader()
    assert {name for name, fault in grader.DIAGNOSIS.items() if fault} == {
        "labels_apart_from_images", "classes_in_order", "logits_into_probability_loss", "learning_rate_too_high"}
    (x_train, y_train), (x_test, y_test) = data.load("mnist")
    x, y = checks.sorted_digits(x_train[30_000:], y_train[30_000:], np.random.default_rng(7), 1000)
    held, truth = (x_test[5000:6000, :, :, None] / 255.0).astype("float32"), y_test[5000:6000]

    def accuracy(model):
        return float(np.mean(np.asarray(model.predict(held, verbose=0)).argmax(1) == truth))

    assert accuracy(_run(x, y, 7)) >= checks.FIXED_RUN_TARGET + 0.1
    for fault in ({"lr": 5.0}, {"from_logits": False}, {"apart": True}, {"shuffle": False}):
        assert accuracy(_run(x, y, 7, **fault)) < checks.FIXED_RUN_TARGET - 0.2, fault
