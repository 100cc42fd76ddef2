"""coursekit.cam: known answers, sanity checks, model kinds, retracing, errors."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from coursekit import cam as C  # noqa: E402
from coursekit._introspect import logits_model  # noqa: E402

L = keras.layers
SIZE = 16
METHODS = [C.cam, C.grad_cam, C.grad_cam_plus_plus, C.score_cam, C.saliency, C.smooth_grad, C.integrated_gradients]


# --------------------------------------------------------------------------- models and data


def gap_net(softmax=True, seed=0, name="gapnet"):
    """The CAM architecture: convs -> GlobalAveragePooling2D -> Dense."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            L.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            L.Conv2D(8, 3, padding="same", activation="relu", name="conv2"),
            L.GlobalAveragePooling2D(name="gap"),
            L.Dense(3, activation="softmax" if softmax else None, name="out"),
        ],
        name=name,
    )


def nested_net(seed=0):
    """The same layers as gap_net, with the convs in a frozen "pretrained" base."""
    keras.utils.set_random_seed(seed)
    base = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            L.Conv2D(8, 3, padding="same", activation="relu", name="b_conv1"),
            L.Conv2D(8, 3, padding="same", activation="relu", name="b_conv2"),
        ],
        name="base",
    )
    base.trainable = False
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.GlobalAveragePooling2D(name="gap")(base(inputs, training=False))
    return keras.Model(inputs, L.Dense(3, activation="softmax", name="head")(x), name="transfer")


def colored_squares(n, seed):
    """Class = colour (red, green, blue) of a bright 5x5 square at a random place."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.15, (n, SIZE, SIZE, 3)).astype(np.float32)
    y = rng.integers(0, 3, n)
    boxes = rng.integers(0, SIZE - 5, (n, 2))
    for i, (r, c) in enumerate(boxes):
        x[i, r : r + 5, c : c + 5, y[i]] = 1.0
    return x, y, boxes


@pytest.fixture(scope="module")
def trained():
    """A GAP net trained to >90% on coloured squares, with its test images."""
    model = gap_net(seed=1, name="trained")
    x, y, _ = colored_squares(600, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=8, batch_size=32, verbose=0)
    xt, yt, boxes = colored_squares(24, seed=1)
    accuracy = float((model(xt).numpy().argmax(-1) == yt).mean())
    assert accuracy > 0.9, f"the test model did not learn (accuracy {accuracy:.2f})"
    return model, xt, yt, boxes


@pytest.fixture
def images():
    return np.random.default_rng(0).random((4, SIZE, SIZE, 3), dtype=np.float32)


def in_box_ratio(maps, boxes, pad=1):
    """Mean map value inside each (padded) square over the mean outside."""
    ratios = []
    for m, (r, c) in zip(maps, boxes):
        mask = np.zeros(m.shape, bool)
        mask[max(r - pad, 0) : r + 5 + pad, max(c - pad, 0) : c + 5 + pad] = True
        ratios.append(m[mask].mean() / max(m[~mask].mean(), 1e-6))
    return np.median(ratios)


def spearman(a, b):
    ra, rb = np.argsort(np.argsort(a.ravel())), np.argsort(np.argsort(b.ravel()))
    return np.corrcoef(ra, rb)[0, 1]


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
def test_every_method_returns_maps_in_unit_range(method, images):
    model = gap_net()
    maps = method(model, images)
    assert isinstance(maps, np.ndarray) and maps.shape == (4, SIZE, SIZE)
    assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0
    assert np.isclose(maps.max(), 1.0)
    one = method(model, images[0], targets=1)
    assert one.shape == (1, SIZE, SIZE)


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
def test_nested_frozen_base_gives_the_same_maps_as_the_flat_model(method, images):
    flat, nested = gap_net(), nested_net()
    nested.set_weights(flat.get_weights())
    kwargs = {"seed": 3} if method is C.smooth_grad else {}
    np.testing.assert_allclose(method(nested, images, **kwargs), method(flat, images, **kwargs), atol=1e-5)


@pytest.mark.parametrize("method", [C.grad_cam, C.grad_cam_plus_plus, C.saliency, C.integrated_gradients], ids=lambda f: f.__name__)
def test_scores_are_read_before_the_softmax(method, images):
    probs, logits = gap_net(softmax=True), gap_net(softmax=False)
    logits.set_weights(probs.get_weights())
    np.testing.assert_allclose(method(probs, images, targets=2), method(logits, images, targets=2), atol=1e-6)


def test_a_keras_applications_base_inside_a_transfer_model():
    """The course's transfer-learning shape: Rescaling -> frozen MobileNetV2 -> GAP -> Dense."""
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    base.trainable = False
    inputs = keras.Input((32, 32, 3))
    x = base(L.Rescaling(1 / 127.5, offset=-1)(inputs), training=False)
    x = L.Dropout(0.2)(L.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, L.Dense(4, activation="softmax")(x))
    pixels = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3)).astype(np.uint8)
    maps = C.grad_cam(model, pixels, [0, 1, 3])
    assert maps.shape == (3, 32, 32) and np.isfinite(maps).all()
    np.testing.assert_allclose(maps, C.cam(model, pixels, [0, 1, 3]), atol=1e-4)
    inner = C.grad_cam(model, pixels, layer="block_3_expand_relu")
    assert inner.shape == (3, 32, 32) and np.isfinite(inner).all()


@pytest.mark.parametrize("method", METHODS, ids=lambda f: f.__name__)
def test_a_different_target_per_image(method, trained):
    model, x, _, _ = trained
    kwargs = {"seed": 0} if method is C.smooth_grad else {}
    targets = [0, 1, 2, 1]
    batch = method(model, x[:4], targets, **kwargs)
    for i, t in enumerate(targets):
        np.testing.assert_allclose(batch[i], method(model, x[i], t, **kwargs)[0], atol=1e-4)
    assert not np.allclose(method(model, x[:4], 0, **kwargs), method(model, x[:4], 1, **kwargs))


def test_no_target_means_the_predicted_class(trained):
    model, x, _, _ = trained
    predicted = model(x).numpy().argmax(-1)
    np.testing.assert_allclose(C.grad_cam(model, x), C.grad_cam(model, x, predicted), atol=1e-6)
    np.testing.assert_allclose(C.saliency(model, x), C.saliency(model, x, predicted), atol=1e-6)


def test_mixed_precision_maps_match_float32(mixed_precision, images):
    mixed = gap_net()
    keras.mixed_precision.set_global_policy("float32")
    full = gap_net()
    mixed.set_weights(full.get_weights())
    images = images[:2]  # float16 is slow on CPUs
    assert mixed(images).dtype == tf.float16
    for method in METHODS:
        kwargs = {"seed": 0} if method is C.smooth_grad else {}
        a, b = method(mixed, images, 0, **kwargs), method(full, images, 0, **kwargs)
        assert a.dtype == np.float32 and np.isfinite(a).all()
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99, method.__name__


def test_no_retracing_on_repeated_calls(images):
    model = gap_net()
    for targets in (None, [0, 1, 2, 0], 1, None):
        C.grad_cam(model, images, targets)
        C.smooth_grad(model, images, targets, samples=4, seed=0)
    grad_cam = C.explainer(C._GradCAM, model, None)
    assert grad_cam.traces == 1
    assert grad_cam._step.experimental_get_tracing_count() == 1
    assert C.explainer(C.GradientExplainer, model).traces == 1


def test_a_loop_over_fresh_models_raises_no_retracing_alarm(images, caplog):
    # a sanity check or a lab compares maps of several models: one trace each is the design
    from coursekit import attacks

    with caplog.at_level("WARNING", logger="tensorflow"):
        for seed in range(6):
            model = gap_net(seed=seed)
            C.grad_cam(model, images, 0)
            C.saliency(model, images, 0)
            attacks.fgsm(model, images, np.zeros(4, "int32"), eps=0.1)
    alarms = [r.getMessage()[:120] for r in caplog.records if "retracing" in r.getMessage()]
    assert not alarms, alarms


# --------------------------------------------------------------------------- known answers


def test_grad_cam_equals_cam_on_a_gap_dense_net(trained):
    model, x, _, _ = trained
    np.testing.assert_allclose(C.grad_cam(model, x), C.cam(model, x), atol=1e-5)
    np.testing.assert_allclose(C.grad_cam(model, x, 2), C.cam(model, x, 2), atol=1e-5)


def test_grad_cam_weights_match_a_hand_computed_case():
    # conv: 1x1, two channels (x, -x); head: flatten -> dense. d logit / d A is the
    # dense kernel itself, so alpha_c is the mean of the kernel over the positions.
    model = keras.Sequential(
        [
            keras.Input((2, 2, 1)),
            L.Conv2D(2, 1, use_bias=False, name="conv"),
            L.Flatten(),
            L.Dense(2, use_bias=False, name="dense"),
        ]
    )
    model.get_layer("conv").set_weights([np.array([1.0, -1.0], np.float32).reshape(1, 1, 1, 2)])
    w = np.arange(16, dtype=np.float32).reshape(8, 2) / 10.0 - 0.7
    model.get_layer("dense").set_weights([w])
    x = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    acts = np.stack([x, -x], axis=-1)  # (2, 2, 2)
    for target in (0, 1):
        grads = w[:, target].reshape(2, 2, 2)
        alpha = grads.mean(axis=(0, 1))
        expected = np.maximum((acts * alpha).sum(-1), 0.0)
        got = C.grad_cam(model, x[..., None], target, layer="conv", normalize=False)[0]
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_grad_cam_plus_plus_stays_finite_for_huge_logits(images):
    model = gap_net(softmax=False)
    dense = model.get_layer("out")
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 4000.0, bias])
    assert np.abs(logits_model(model)(images).numpy()).max() > 500  # exp(score) would overflow
    maps = C.grad_cam_plus_plus(model, images)
    assert np.isfinite(maps).all() and np.allclose(maps.max(axis=(1, 2)), 1.0)


def test_grad_cam_plus_plus_matches_the_closed_form_on_a_gap_net(images):
    # After GAP -> Dense the gradient is constant over space, g_c = w_c / (h w), so
    # alpha_c = g^2 / (2 g^2 + S_c g^3) = 1 / (2 + S_c g_c), with S_c the sum of A_c,
    # and the channel weight is h w relu(g_c) / (2 + S_c g_c).
    model = gap_net(softmax=False)
    w = model.get_layer("out").get_weights()[0].astype(np.float64)
    acts, _ = C.explainer(C._GradCAMPlusPlus, model, None).probe(images)
    acts = acts.numpy().astype(np.float64)
    hw = acts.shape[1] * acts.shape[2]
    target = 1
    g = w[:, target] / hw
    total = acts.sum(axis=(1, 2))  # (N, C)
    weights = np.where(g != 0, hw * np.maximum(g, 0) / (2 + total * g), 0.0)
    expected = np.maximum(np.einsum("nhwc,nc->nhw", acts, weights), 0)
    got = C.grad_cam_plus_plus(model, images, target, normalize=False)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)


def test_score_cam_matches_an_unbatched_reference(images):
    model = gap_net()
    x = images[:2]
    got = C.score_cam(model, x, [0, 2], normalize=False)
    # one masked image per step, or all at once: the same maps
    np.testing.assert_allclose(C.score_cam(model, x, [0, 2], normalize=False, batch_size=3), got, atol=1e-6)
    acts, _ = C.explainer(C._GradCAM, model, None).probe(x)
    acts = acts.numpy()
    logits = logits_model(model)
    for i, t in enumerate([0, 2]):
        weights = []
        for c in range(acts.shape[-1]):
            m = tf.image.resize(acts[i, :, :, c, None][None], (SIZE, SIZE))[0, ..., 0].numpy()
            m = (m - m.min()) / (m.max() - m.min()) if m.max() > m.min() else np.zeros_like(m)
            weights.append(tf.nn.softmax(logits(x[i : i + 1] * m[None, ..., None]))[0, t].numpy())
        expected = np.maximum((acts[i] * np.array(weights)).sum(-1), 0)
        expected = tf.image.resize(expected[None, ..., None], (SIZE, SIZE))[0, ..., 0].numpy()
        np.testing.assert_allclose(got[i], expected, rtol=1e-4, atol=1e-6)


def test_gradient_maps_of_a_linear_model_are_its_weights(images):
    # logits = W x + b: every gradient is a column of W, noisy or not, and the
    # integrated gradients are exactly (x - baseline) * w with any number of steps.
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), L.Flatten(), L.Dense(3, activation="softmax")])
    w = model.layers[-1].get_weights()[0][:, 1].reshape(SIZE, SIZE, 3)
    for raw in (
        C.saliency(model, images, 1, return_raw=True),
        C.smooth_grad(model, images, 1, samples=5, seed=0, return_raw=True),
    ):
        np.testing.assert_allclose(raw, np.broadcast_to(w, raw.shape), rtol=1e-4, atol=1e-6)
    baseline = np.full((SIZE, SIZE, 3), 0.5, np.float32)
    ig = C.integrated_gradients(model, images, 1, baseline=baseline, steps=3, return_raw=True)
    np.testing.assert_allclose(ig, (images - baseline) * w, rtol=1e-4, atol=1e-6)
    maps = C.saliency(model, images, 1)
    expected = np.abs(w).max(-1)
    np.testing.assert_allclose(maps[0], (expected - expected.min()) / (expected.max() - expected.min()), atol=1e-5)


def test_integrated_gradients_completeness(trained):
    model, x, y, _ = trained
    x = x[:6]
    logits = logits_model(model)
    gap = (logits(x).numpy() - logits(np.zeros_like(x)).numpy())[np.arange(6), y[:6]]
    errors = []
    for steps in (2, 8, 64):
        raw = C.integrated_gradients(model, x, y[:6], steps=steps, return_raw=True)
        assert raw.shape == x.shape
        errors.append(np.abs(raw.sum(axis=(1, 2, 3)) - gap).max())
    assert errors[2] < errors[0]
    assert errors[2] < 0.02 * np.abs(gap).max() + 1e-3, (errors, gap)


def test_maps_find_the_square(trained):
    model, x, y, boxes = trained
    for method in (C.cam, C.grad_cam, C.grad_cam_plus_plus, C.score_cam):
        assert in_box_ratio(method(model, x, y), boxes) > 5.0, method.__name__
    assert in_box_ratio(C.integrated_gradients(model, x, y), boxes) > 3.0
    # SmoothGrad is sharper than vanilla gradients (Smilkov et al. 2017)
    smooth = in_box_ratio(C.smooth_grad(model, x, y, seed=0), boxes)
    assert smooth > in_box_ratio(C.saliency(model, x, y), boxes)


def test_saliency_fails_no_model_randomization_sanity_check(trained):
    """Adebayo et al. 2018: maps must depend on the learned weights."""
    model, x, y, _ = trained
    before = C.saliency(model, x, y)
    random = gap_net(seed=123, name="randomized")
    after = C.saliency(random, x, y)
    rho = np.median([spearman(a, b) for a, b in zip(before, after)])
    assert rho < 0.5, rho
    # and the trained maps are stable: the same call gives the same maps
    np.testing.assert_allclose(before, C.saliency(model, x, y))


def test_smooth_grad_seed(images):
    model = gap_net()
    a = C.smooth_grad(model, images, samples=6, seed=1)
    np.testing.assert_allclose(a, C.smooth_grad(model, images, samples=6, seed=1))
    assert not np.allclose(a, C.smooth_grad(model, images, samples=6, seed=2))
    # more samples than one step holds: chunked, same answer as one big step
    np.testing.assert_allclose(
        C.smooth_grad(model, images, samples=6, seed=1, batch_size=8),
        C.smooth_grad(model, images, samples=6, seed=1, batch_size=1000),
        atol=1e-5,
    )


# --------------------------------------------------------------------------- errors


def test_unknown_layer_lists_candidates(images):
    with pytest.raises(ValueError) as err:
        C.grad_cam(gap_net(), images, layer="conv3")
    assert "'conv2'" in str(err.value) and "expand_nested" in str(err.value)


def test_dense_only_model_has_no_layer_for_grad_cam():
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), L.Flatten(), L.Dense(3)])
    with pytest.raises(ValueError, match="convolutional"):
        C.grad_cam(model, np.zeros((1, SIZE, SIZE, 3), np.float32))
    assert C.saliency(model, np.ones((1, SIZE, SIZE, 3), np.float32)).shape == (1, SIZE, SIZE)


def test_non_spatial_layer_is_refused(images):
    with pytest.raises(ValueError, match="4-D|convolutional"):
        C.grad_cam(gap_net(), images, layer="gap")


def test_target_out_of_range(images):
    with pytest.raises(ValueError, match=r"0\.\.2"):
        C.grad_cam(gap_net(), images, targets=3)
    with pytest.raises(ValueError, match="one per image"):
        C.saliency(gap_net(), images, targets=[0, 1])


def test_wrong_images(images):
    with pytest.raises(ValueError, match="Resize"):
        C.grad_cam(gap_net(), images[:, :8, :8])
    with pytest.raises(ValueError, match="/ 255"):
        C.smooth_grad(gap_net(), (images * 255).astype(np.uint8))


def test_cam_needs_the_cam_architecture(images):
    model = keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), L.Conv2D(4, 3, name="conv"), L.Flatten(), L.Dense(3)]
    )
    with pytest.raises(ValueError, match="grad_cam"):
        C.cam(model, images)


def test_bad_arguments(images):
    with pytest.raises(ValueError, match="samples"):
        C.smooth_grad(gap_net(), images, samples=0)
    with pytest.raises(ValueError, match="steps"):
        C.integrated_gradients(gap_net(), images, steps=0)


def test_the_caches_do_not_keep_models_alive(images):
    import gc
    import weakref

    model = gap_net()
    for method in METHODS:
        method(model, images)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


# --------------------------------------------------------------------------- binary heads, callable targets, layers


def binary_gap_net(seed=2):
    """conv -> GAP -> Dense(1, sigmoid): the standard cats-vs-dogs head."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            L.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            L.GlobalAveragePooling2D(name="gap"),
            L.Dense(1, activation="sigmoid", name="out"),
        ],
        name="binary",
    )


def _hand_grad_cam(model, layer, x, score_fn):
    """Grad-CAM by hand: activations and the logit from a functional twin without the sigmoid."""
    conv = model.get_layer(layer)
    dense = model.layers[-1]
    w, b = dense.get_weights()
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        a = conv(xt)
        tape.watch(a)
        z = tf.reduce_mean(a, axis=(1, 2)) @ w + b  # the logit, (N, 1)
        score = score_fn(z)
    g = tape.gradient(score, a)
    maps = tf.nn.relu(tf.einsum("nhwc,nc->nhw", a, tf.reduce_mean(g, axis=(1, 2)))).numpy()
    return maps


def test_binary_grad_cam_for_class_0_is_the_map_of_the_negated_logit(images):
    model = binary_gap_net()
    for target, sign in ((0, -1.0), (1, 1.0)):
        expected = _hand_grad_cam(model, "conv1", images, lambda z: sign * tf.reduce_sum(z))
        got = C.grad_cam(model, images, targets=target, normalize=False)
        np.testing.assert_allclose(got, expected, atol=1e-5)
    zero, one = C.grad_cam(model, images, targets=0), C.grad_cam(model, images, targets=1)
    assert not np.allclose(zero, one), "class 0 and class 1 give the same map"


def test_binary_cam_and_gradient_maps_take_classes_0_and_1(images):
    model = binary_gap_net()
    w = model.layers[-1].get_weights()[0][:, 0]
    acts = model.get_layer("conv1")(tf.constant(images)).numpy()
    expected = np.maximum(np.einsum("nhwc,c->nhw", acts, -w), 0)
    np.testing.assert_allclose(C.cam(model, images, targets=0, normalize=False), expected, atol=1e-5)
    raw1 = C.saliency(model, images, targets=1, return_raw=True)
    np.testing.assert_allclose(C.saliency(model, images, targets=0, return_raw=True), -raw1, atol=1e-6)
    predicted = (model(images).numpy()[:, 0] > 0.5).astype(int)
    np.testing.assert_allclose(C.grad_cam(model, images), C.grad_cam(model, images, targets=predicted), atol=1e-6)
    for method in (C.score_cam, C.grad_cam_plus_plus, C.integrated_gradients, C.smooth_grad):
        assert method(model, images, targets=[0, 1, 0, 1]).shape == (4, SIZE, SIZE)
    with pytest.raises(ValueError, match=r"targets.*0\.\.1"):
        C.grad_cam(model, images, targets=2)


@pytest.mark.parametrize("method", [C.grad_cam, C.grad_cam_plus_plus, C.score_cam, C.saliency, C.integrated_gradients])
def test_a_callable_target_equals_the_class_target(method, images):
    model = gap_net()
    # Score-CAM weighs a class by its probability; a callable's score is taken as it is.
    prob = (lambda z: tf.nn.softmax(z)) if method is C.score_cam else (lambda z: z)
    np.testing.assert_allclose(
        method(model, images, targets=lambda out: prob(out)[:, 2]), method(model, images, targets=2), atol=1e-5
    )
    per_image = [lambda o, k=k: prob(o[None])[0, k] for k in (2, 0, 1, 2)]
    np.testing.assert_allclose(
        method(model, images, targets=per_image), method(model, images, targets=[2, 0, 1, 2]), atol=1e-5
    )


def segmentation_net(seed=5):
    """A tiny fully convolutional net: per-pixel softmax over 2 classes, (N, H, W, 2)."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            L.Conv2D(6, 3, padding="same", activation="relu", name="enc"),
            L.Conv2D(2, 1, activation="softmax", name="classes"),
        ],
        name="fcn",
    )


def test_region_target_explains_a_pixel_region_of_a_segmentation_output(images):
    model = segmentation_net()
    mask = np.zeros((SIZE, SIZE), np.float32)
    mask[2:6, 3:9] = 1.0
    got = C.grad_cam(model, images, targets=C.region_target(1, mask), layer="enc", normalize=False)
    # by hand: the gradient of the region's summed class-1 logits w.r.t. "enc"
    enc, head = model.get_layer("enc"), model.get_layer("classes")
    k, b = head.get_weights()
    xt = tf.constant(images)
    with tf.GradientTape() as tape:
        a = enc(xt)
        tape.watch(a)
        logits = tf.nn.conv2d(a, k, 1, "VALID") + b
        score = tf.reduce_sum(logits[..., 1] * mask)
    g = tf.reduce_mean(tape.gradient(score, a), axis=(1, 2))
    expected = tf.nn.relu(tf.einsum("nhwc,nc->nhw", a, g)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)
    with pytest.raises(ValueError, match="region_target"):
        C.grad_cam(model, images, targets=1)


def test_the_default_layer_is_the_last_convolution(images):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            L.Conv2D(4, 3, padding="same", activation="relu", name="c1"),
            L.Conv2D(8, 3, padding="same", activation="relu", name="c2"),
            L.MaxPooling2D(name="pool"),
            L.Dropout(0.25, name="drop"),
            L.Flatten(),
            L.Dense(3, activation="softmax"),
        ]
    )
    assert C.explainer(C._GradCAM, model, None).layer == "c2"
    np.testing.assert_allclose(C.grad_cam(model, images), C.grad_cam(model, images, layer="c2"), atol=1e-6)


def test_a_layer_may_be_a_name_an_index_or_a_layer_object(images):
    model = gap_net()
    by_name = C.grad_cam(model, images, layer="conv1")
    np.testing.assert_allclose(C.grad_cam(model, images, layer=0), by_name, atol=1e-6)
    np.testing.assert_allclose(C.grad_cam(model, images, layer=-4), by_name, atol=1e-6)
    np.testing.assert_allclose(C.grad_cam(model, images, layer=model.layers[0]), by_name, atol=1e-6)
    with pytest.raises(ValueError, match=r"layer=7 is out of range"):
        C.grad_cam(model, images, layer=7)


def test_softmax_inside_a_lambda_is_removed_before_scoring(images):
    logits = gap_net(softmax=False)
    wrapped = keras.Sequential(
        [*(keras.Input((SIZE, SIZE, 3)),), *logits.layers, L.Lambda(lambda z: keras.ops.softmax(z))]
    )
    for method in (C.grad_cam, C.saliency):
        np.testing.assert_allclose(method(wrapped, images, targets=1), method(logits, images, targets=1), atol=1e-5)


def test_a_softmax_hidden_in_a_custom_layer_gives_a_warning(images):
    class Probabilities(L.Layer):
        def call(self, z):
            return keras.ops.softmax(z)

    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), *gap_net(softmax=False).layers, Probabilities()])
    with pytest.warns(UserWarning, match="sum to 1 like probabilities"):
        C.grad_cam(model, images)
