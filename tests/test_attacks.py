"""Tests of coursekit.attacks: known answers, invariants, no retracing, clear errors."""

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from coursekit import attacks  # noqa: E402
from coursekit._introspect import head, logits_model  # noqa: E402
from coursekit.attacks import fgsm, pgd, robust_accuracy  # noqa: E402

SIZE, CLASSES = 16, 4


# --------------------------------------------------------------------------- fixtures


def _quadrant_data(n, seed):
    """Class k = quadrant k brighter than the rest: separable, but only by about 0.4 per pixel."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, CLASSES, n)
    x = rng.uniform(0.0, 0.4, (n, SIZE, SIZE, 1)).astype("float32")
    h = SIZE // 2
    for i, k in enumerate(y):
        r, c = divmod(int(k), 2)
        x[i, r * h : (r + 1) * h, c * h : (c + 1) * h] += 0.4
    return x, y.astype("int64")


@pytest.fixture(scope="module")
def trained():
    """A tiny CNN trained to near 100 % on the quadrant task, ending in softmax."""
    keras.utils.set_random_seed(0)
    x, y = _quadrant_data(600, seed=1)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(CLASSES, activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=6, batch_size=32, verbose=0)
    x_test, y_test = _quadrant_data(64, seed=2)
    clean = np.mean(model.predict(x_test, verbose=0).argmax(-1) == y_test)
    assert clean >= 0.95, f"the fixture model did not learn the task (accuracy {clean})"
    return model, x_test, y_test


def _stack(kind, mixed=False):
    """One small classifier of each kind. Returns (model, reference logits model)."""
    keras.utils.set_random_seed(3)
    policy = keras.mixed_precision.dtype_policy()
    if mixed:
        keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        inp = keras.Input((SIZE, SIZE, 1))
        conv = keras.layers.Conv2D(6, 3, activation="tanh")
        pool = keras.layers.GlobalAveragePooling2D()
        dense = keras.layers.Dense(CLASSES, dtype="float32")  # the logits
        logits = keras.Model(inp, dense(pool(conv(inp))))
        if kind == "sequential":
            model = keras.Sequential([keras.Input((SIZE, SIZE, 1)), conv, pool, keras.layers.Dense(CLASSES, activation="softmax", dtype="float32")])
            model.layers[-1].set_weights(dense.get_weights())
        elif kind == "functional":
            model = keras.Model(inp, keras.layers.Softmax(dtype="float32")(logits.output))
        elif kind == "nested":  # a "pretrained base" inside a transfer-learning model
            base = keras.Model(inp, pool(conv(inp)), name="base")
            outer = keras.Input((SIZE, SIZE, 1))
            model = keras.Model(outer, keras.layers.Activation("softmax", dtype="float32")(dense(base(outer))))
        elif kind == "logits":
            model = logits
        else:
            raise AssertionError(kind)
    finally:
        keras.mixed_precision.set_dtype_policy(policy)
    return model, logits


def _reference_gradient(logits_model_, x, y):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        z = tf.cast(logits_model_(x), tf.float32)
        loss = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.constant(y, tf.int32), z)
    return tape.gradient(loss, x).numpy()


def _images(n=8, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, SIZE, SIZE, 1)).astype("float32")


def _accuracy(model, x, y):
    return float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))


# --------------------------------------------------------------------------- known answers


@pytest.mark.parametrize("kind", ["sequential", "functional", "nested", "logits"])
def test_fgsm_equals_clip_of_signed_gradient(kind):
    model, ref = _stack(kind)
    x = _images()
    y = np.arange(8) % CLASSES
    eps = 0.07
    expected = np.clip(x + eps * np.sign(_reference_gradient(ref, x, y)), 0.0, 1.0)
    np.testing.assert_allclose(fgsm(model, x, y, eps=eps), expected, atol=1e-6)
    # targeted: step down the loss of the target class
    expected_t = np.clip(x - eps * np.sign(_reference_gradient(ref, x, y)), 0.0, 1.0)
    np.testing.assert_allclose(fgsm(model, x, y, eps=eps, targeted=True), expected_t, atol=1e-6)


def test_fgsm_without_labels_uses_predictions():
    model, ref = _stack("functional")
    x = _images()
    predicted = ref(x).numpy().argmax(-1)
    np.testing.assert_array_equal(fgsm(model, x, eps=0.05), fgsm(model, x, predicted, eps=0.05))


def test_mixed_precision_matches_float32_twin():
    mixed, _ = _stack("nested", mixed=True)
    plain, ref = _stack("nested")
    plain.set_weights(mixed.get_weights())
    assert mixed.layers[1].compute_dtype == "float16"
    x = _images(16)
    y = np.arange(16) % CLASSES
    adv = fgsm(mixed, x, y, eps=0.05)
    assert adv.dtype == np.float32
    expected = np.clip(x + 0.05 * np.sign(_reference_gradient(ref, x, y)), 0, 1)
    # float16 gradients flip the sign only where the gradient is ~0
    assert np.mean(np.abs(adv - expected) < 1e-6) > 0.95
    out = pgd(mixed, x, y, eps=0.05, steps=3, seed=0)
    assert np.all(np.isfinite(out)) and np.abs(out - x).max() <= 0.05 + 1e-6


@pytest.mark.parametrize("bounds", [(0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)])
def test_pgd_stays_in_ball_and_bounds(bounds):
    model, _ = _stack("functional")
    low, high = bounds
    x = low + (high - low) * _images(16)
    x[0] = low  # pixels on both edges of the range
    x[1] = high
    eps = 0.3 * (high - low)
    for random_start in (True, False):
        adv = pgd(model, x, eps=eps, step_size=eps / 2, steps=7, bounds=bounds, random_start=random_start, seed=1)
        tol = 1e-6 * max(1.0, abs(high))
        assert np.abs(adv - x).max() <= eps + tol
        assert adv.min() >= low and adv.max() <= high
        assert np.abs(adv - x).max() > 0.5 * eps  # it did move


def test_eps_zero_returns_the_input():
    model, _ = _stack("sequential")
    x = _images()
    np.testing.assert_array_equal(fgsm(model, x, eps=0.0), x)
    np.testing.assert_array_equal(pgd(model, x, eps=0.0, seed=0), x)
    np.testing.assert_array_equal(pgd(model, x, 2, eps=0, targeted=True, step_size=0.1), x)


def test_single_image_in_single_image_out():
    model, _ = _stack("sequential")
    x = _images(1)
    single = pgd(model, x[0], eps=0.1, random_start=False, steps=2)
    assert single.shape == x[0].shape
    np.testing.assert_array_equal(single, pgd(model, x, eps=0.1, random_start=False, steps=2)[0])


def test_seed_makes_pgd_reproducible():
    model, _ = _stack("functional")
    x = _images()
    a = pgd(model, x, eps=0.1, steps=2, seed=7)
    np.testing.assert_array_equal(a, pgd(model, x, eps=0.1, steps=2, seed=7))
    assert not np.array_equal(a, pgd(model, x, eps=0.1, steps=2, seed=8))


def test_batch_size_does_not_change_the_result():
    model, _ = _stack("functional")
    x = _images(10)
    np.testing.assert_allclose(fgsm(model, x, eps=0.1, batch_size=3), fgsm(model, x, eps=0.1), atol=1e-6)
    np.testing.assert_allclose(
        pgd(model, x, eps=0.1, random_start=False, batch_size=4),
        pgd(model, x, eps=0.1, random_start=False),
        atol=1e-6,
    )


# --------------------------------------------------------------------------- on a trained model


def test_untargeted_attacks_fool_a_trained_model(trained):
    model, x, y = trained
    assert _accuracy(model, fgsm(model, x, y, eps=0.3), y) < 0.5
    assert _accuracy(model, pgd(model, x, y, eps=0.3, steps=10, seed=0), y) < 0.2


def test_targeted_pgd_reaches_per_image_targets(trained):
    model, x, y = trained
    targets = (y + 1 + np.arange(len(y)) % (CLASSES - 1)) % CLASSES  # a different wrong class each
    assert np.all(targets != y)
    adv = pgd(model, x, targets, eps=0.35, steps=20, targeted=True, seed=0)
    hit = np.mean(model.predict(adv, verbose=0).argmax(-1) == targets)
    assert hit >= 0.8, f"targeted PGD reached its target on only {hit:.0%} of the images"
    # one int target for every image
    adv = pgd(model, x, 2, eps=0.35, steps=20, targeted=True, seed=0)
    assert np.mean(model.predict(adv, verbose=0).argmax(-1) == 2) >= 0.8


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_robust_accuracy_falls_with_eps(trained, attack):
    model, x, y = trained
    sweep = [0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
    acc = robust_accuracy(model, x, y, attack, eps=sweep, **({"seed": 0} if attack == "pgd" else {}))
    assert acc.shape == (len(sweep),)
    assert acc[0] == pytest.approx(_accuracy(model, x, y))
    assert np.all(np.diff(acc) <= 0), acc
    assert acc[-1] < 0.5 * acc[0], acc
    # the same numbers in any order, and a single eps gives a float
    shuffled = robust_accuracy(model, x, y, attack, eps=sweep[::-1], **({"seed": 0} if attack == "pgd" else {}))
    if attack == "fgsm":  # deterministic
        np.testing.assert_array_equal(shuffled, acc[::-1])
    assert isinstance(robust_accuracy(model, x, y, attack, eps=0.0), float)


def test_robust_accuracy_fgsm_agrees_with_fgsm(trained):
    """The sweep counts an image robust at eps when fgsm fails at every eps' <= eps."""
    model, x, y = trained
    sweep = [0.05, 0.1, 0.2]
    acc = robust_accuracy(model, x, y, "fgsm", eps=sweep)
    robust = model.predict(x, verbose=0).argmax(-1) == y
    expected = []
    for e in sweep:
        robust &= model.predict(fgsm(model, x, y, eps=e), verbose=0).argmax(-1) == y
        expected.append(robust.mean())
    np.testing.assert_allclose(acc, expected, atol=1.5 / len(y))


def test_robust_accuracy_takes_a_custom_attack(trained):
    model, x, y = trained
    calls = []

    def noop(model, images, labels, *, eps, bounds, strength=1):
        calls.append((eps, len(images), strength))
        return images

    acc = robust_accuracy(model, x, y, noop, eps=[0.0, 0.1, 0.2], strength=3)
    np.testing.assert_allclose(acc, _accuracy(model, x, y))
    assert [c[0] for c in calls] == [0.1, 0.2] and calls[0][2] == 3
    acc = robust_accuracy(model, x, y, pgd, eps=[0.3], steps=5, seed=0)  # the function itself
    assert acc[0] < 0.5


# --------------------------------------------------------------------------- no retracing


def test_repeated_calls_do_not_retrace():
    model, _ = _stack("nested")
    x = _images(12)
    steps = attacks._steps_for(logits_model(model), x.shape[1:], head(model))
    for i in range(3):
        fgsm(model, x, eps=0.01 * (i + 1), targeted=bool(i % 2), **({"labels": 1} if i % 2 else {}))
        pgd(model, x, eps=0.02 * (i + 1), step_size=0.01 * (i + 1), steps=2 + i, seed=i, random_start=bool(i % 2))
        pgd(model, x, np.arange(12) % CLASSES, eps=0.1, targeted=True, steps=3)
        pgd(model, x[: 5 + i], eps=0.1, steps=2)  # another batch size
        robust_accuracy(model, x, np.arange(12) % CLASSES, "pgd", eps=[0.0, 0.05, 0.1 * (i + 1)], steps=2)
        robust_accuracy(model, x, np.arange(12) % CLASSES, "fgsm", eps=[0.05, 0.1 * (i + 1)])
    assert steps.pgd.experimental_get_tracing_count() == 1
    assert steps.gradient_sign.experimental_get_tracing_count() == 1
    assert steps.predict.experimental_get_tracing_count() == 1


# --------------------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def small():
    return _stack("functional")[0]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda m, x: fgsm(m, x, eps=-0.1), ValueError, r"eps must be a finite number >= 0.*L-inf radius"),
        (lambda m, x: pgd(m, x, eps=float("nan")), ValueError, r"eps must be a finite number"),
        (lambda m, x: pgd(m, x, eps="0.1"), TypeError, r"eps must be a number"),
        (lambda m, x: pgd(m, x, eps=0.1, step_size=-1), ValueError, r"step_size must be"),
        (lambda m, x: pgd(m, x, eps=0.1, steps=0), ValueError, r"steps must be an integer >= 1"),
        (lambda m, x: pgd(m, x, eps=0.1, steps=2.5), TypeError, r"steps must be an integer"),
        (lambda m, x: fgsm(m, x, eps=0.1, bounds=(1, 0)), ValueError, r"low < high"),
        (lambda m, x: fgsm(m, x, eps=0.1, bounds=1.0), TypeError, r"bounds must be a pair"),
        (lambda m, x: fgsm(m, x * 255, eps=0.1), ValueError, r"outside bounds=\(0, 1\).*bounds=\(0, 255\)"),
        (lambda m, x: fgsm(m, x - 0.5, eps=0.1), ValueError, r"outside bounds"),
        (lambda m, x: fgsm(m, x, [0, 1, 2], eps=0.1), ValueError, r"one per image \(8\)"),
        (lambda m, x: pgd(m, x, 7, eps=0.1), ValueError, r"out of range.*0\.\.3"),
        (lambda m, x: pgd(m, x, eps=0.1, targeted=True), ValueError, r"targeted=True needs labels"),
        (lambda m, x: fgsm(m, x, eps=0.1, batch_size=0), ValueError, r"batch_size must be >= 1"),
        (lambda m, x: robust_accuracy(m, x, np.zeros(8, int), "deepfool", eps=[0.1]), ValueError, r"unknown attack 'deepfool'.*\['fgsm', 'pgd'\]"),
        (lambda m, x: robust_accuracy(m, x, np.zeros(8, int), 3, eps=[0.1]), TypeError, r"attack must be"),
        (lambda m, x: robust_accuracy(m, x, np.zeros(8, int), "pgd", eps=[0.1, -1]), ValueError, r"eps must be"),
        (lambda m, x: robust_accuracy(m, x, np.zeros(8, int), "pgd", eps=[]), ValueError, r"at least one"),
        (lambda m, x: robust_accuracy(m, x, np.zeros(8, int), "pgd", eps=[0.1], targeted=True), ValueError, r"untargeted"),
        (lambda m, x: robust_accuracy(m, x, np.zeros(8, int), "pgd", eps=[0.1], stepz=3), TypeError, r"stepz"),
        (lambda m, x: robust_accuracy(m, x, np.zeros(8, int), "fgsm", eps=[0.1], steps=3), TypeError, r"fgsm takes no"),
        (lambda m, x: robust_accuracy(m, x[0], 0, "fgsm", eps=[0.1]), ValueError, r"needs a batch"),
    ],
)
def test_bad_input_gives_actionable_errors(small, call, error, match):
    with pytest.raises(error, match=match):
        call(small, _images())


# --------------------------------------------------------------------------- binary and multi-label heads


def _sigmoid_head(units=1, seed=4):
    """conv -> GAP -> Dense(units, sigmoid), and its weights for a hand computation."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(6, 3, activation="tanh", name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(units, activation="sigmoid", name="out"),
        ]
    )
    return model


def _hand_logit(model, x):
    """The pre-sigmoid logit, recomputed from the layers' weights with TF ops."""
    conv, _, dense = model.layers
    k, b = conv.get_weights()
    w, c = dense.get_weights()
    a = tf.tanh(tf.nn.conv2d(x, k, 1, "VALID") + b)
    return tf.reduce_mean(a, axis=(1, 2)) @ w + c


def test_sigmoid_fgsm_equals_eps_sign_of_the_hand_computed_bce_gradient():
    model = _sigmoid_head()
    x = _images()
    y = np.array([0, 1] * 4)
    eps = 0.07
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        z = _hand_logit(model, xt)[:, 0]
        p = tf.sigmoid(z)  # binary cross-entropy written out, on the logit's sigmoid
        loss = -tf.reduce_sum(y * tf.math.log_sigmoid(z) + (1 - y) * tf.math.log_sigmoid(-z))
    grad = tape.gradient(loss, xt).numpy()
    assert p.shape == (8,)
    expected = np.clip(x + eps * np.sign(grad), 0.0, 1.0)
    adv = fgsm(model, x, y, eps=eps)
    assert np.abs(adv - x).max() > 0.06, "FGSM left the images unchanged on a sigmoid head"
    np.testing.assert_allclose(adv, expected, atol=1e-6)
    # targeted towards the other class: the opposite step
    np.testing.assert_allclose(
        fgsm(model, x, 1 - y, eps=eps, targeted=True), np.clip(x - eps * np.sign(-grad), 0, 1), atol=1e-6
    )


def test_sigmoid_labels_are_the_classes_0_and_1():
    model = _sigmoid_head()
    x = _images(4)
    fgsm(model, x, [0, 1, 1, 0], eps=0.1)
    fgsm(model, x, np.array([[0], [1], [1], [0]]), eps=0.1)  # a column, as in training
    with pytest.raises(ValueError, match=r"labels.*0\.\.1"):
        fgsm(model, x, [0, 1, 2, 0], eps=0.1)


def test_targeted_pgd_moves_a_binary_classifier_towards_the_target():
    model = _sigmoid_head()
    x = _images(8)
    before = _hand_logit(model, tf.constant(x)).numpy()[:, 0]
    up = pgd(model, x, 1, eps=0.1, steps=10, targeted=True, seed=0)
    down = pgd(model, x, 0, eps=0.1, steps=10, targeted=True, seed=0)
    assert np.all(_hand_logit(model, tf.constant(up)).numpy()[:, 0] > before)
    assert np.all(_hand_logit(model, tf.constant(down)).numpy()[:, 0] < before)


def _zeros_and_ones(n, seed):
    """MNIST-like 0-vs-1 digits: a ring (0) or a vertical bar (1), with noise and jitter."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    y = rng.integers(0, 2, n)
    x = rng.uniform(0, 0.2, (n, SIZE, SIZE, 1)).astype("float32")
    for i, label in enumerate(y):
        cy, cx = 7.5 + rng.uniform(-1.5, 1.5, 2)
        if label == 0:
            r = np.hypot(yy - cy, xx - cx)
            stroke = (r > 3.5) & (r < 5.5)
        else:
            stroke = (np.abs(xx - cx) < 1.2) & (np.abs(yy - cy) < 6)
        x[i, stroke, 0] = rng.uniform(0.8, 1.0)
    return x, y


def test_robust_accuracy_of_a_0_vs_1_classifier_falls_as_eps_grows():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
    x, y = _zeros_and_ones(400, seed=1)
    model.fit(x, y, epochs=5, batch_size=32, verbose=0)
    xt, yt = _zeros_and_ones(100, seed=2)
    eps = [0.0, 0.05, 0.1, 0.2, 0.3]
    for attack in ("fgsm", "pgd"):
        acc = robust_accuracy(model, xt, yt, attack, eps=eps, **({"seed": 0} if attack == "pgd" else {}))
        assert acc[0] >= 0.95, f"the 0-vs-1 classifier did not learn: clean accuracy {acc[0]}"
        assert np.all(np.diff(acc) <= 0), acc
        assert acc[-1] < acc[0] - 0.3, f"{attack} hardly hurts: {acc}"
    clean = float(np.mean((model.predict(xt, verbose=0)[:, 0] > 0.5) == yt))
    assert robust_accuracy(model, xt, yt, "fgsm", eps=0.0) == pytest.approx(clean)


def test_multi_label_head_uses_the_sum_of_binary_cross_entropies():
    model = _sigmoid_head(units=3)
    x = _images(4)
    y = np.array([[0, 1, 1], [1, 0, 0], [1, 1, 1], [0, 0, 0]], "float32")
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        loss = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(y, _hand_logit(model, xt)))
    expected = np.clip(x + 0.05 * np.sign(tape.gradient(loss, xt).numpy()), 0, 1)
    np.testing.assert_allclose(fgsm(model, x, y, eps=0.05), expected, atol=1e-6)
    with pytest.raises(ValueError, match="multi-label"):
        fgsm(model, x, [0, 1, 2, 0], eps=0.05)
    acc = robust_accuracy(model, x, y, "fgsm", eps=[0.0, 0.5])
    predicted = (_hand_logit(model, xt).numpy() > 0) == y
    assert acc[0] == pytest.approx(predicted.all(axis=1).mean())


def test_robust_accuracy_on_an_empty_batch_is_an_error_not_nan(small):
    model, x = small, _images()
    with pytest.raises(ValueError, match="images is an empty batch"):
        robust_accuracy(model, x[:0], np.zeros(0, int), "fgsm", eps=[0.0, 0.1])
