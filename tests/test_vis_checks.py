"""coursekit.checks.visualization: lab 9's probe models, closed forms and self-checks.

The closed forms are checked against independent computations (Keras layers, coursekit's
attacks, a numeric gradient); each self-check must pass a right answer and fail, with the
right diagnosis, the mistakes students make.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from coursekit import attacks, checks
from coursegrader.references import visualization as refs
from coursekit.checks import visualization as vis


def _weights(kind, seed=0):
    model = vis.probe_model(kind)
    vis.set_flat_weights(model, 0.5 * np.random.default_rng(seed).normal(size=vis.flat_weights(model).size))
    return model


@pytest.mark.parametrize("kind, params", [("cnn", 4 * 28 + 6 * 37 + 6 * 5 + 5), ("linear", 128 * 4 + 4),
                                          ("flat", 4 * 19 + 5 * 37 + 720 * 3 + 3), ("mnist", 80 + 1352 * 10 + 10),
                                          ("blob", 2 * 26 + 3 * 2)])
def test_probe_models_have_the_documented_layers(kind, params):
    model = vis.probe_model(kind)
    assert model.count_params() == params
    assert model.layers[-1].activation is keras.activations.linear  # logits, no softmax


def test_flat_weights_round_trip_and_wrong_size_is_refused():
    model = _weights("cnn")
    flat = vis.flat_weights(model)
    other = vis.probe_model("cnn", flat)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="weights"):
        vis.set_flat_weights(other, flat[:-1])
    with pytest.raises(ValueError, match="kind"):
        vis.probe_model("resnet")


def test_forward_reference_equals_the_keras_layers():
    model = _weights("cnn", 1)
    x = np.random.default_rng(1).random((2, 16, 16, 3), dtype=np.float32)
    acts = refs.vis_forward_reference(model, x)
    for name, want in acts.items():
        got = keras.Model(model.inputs[0], model.get_layer(name).output)(x)
        np.testing.assert_allclose(want, got, rtol=1e-5, atol=1e-5, err_msg=name)


def test_cam_reference_is_grad_cam_behind_gap_and_its_mean_is_the_logit():
    model = _weights("cnn", 2)
    x = np.random.default_rng(2).random((3, 16, 16, 3), dtype=np.float32)
    acts = refs.vis_forward_reference(model, x)
    kernel, bias = model.get_layer("logits").get_weights()
    # known answer: the class score is the mean of the (un-ReLU'd) CAM plus the bias
    cam = np.einsum("nhwk,k->nhw", acts["conv2"], kernel[:, 4])
    np.testing.assert_allclose(cam.mean(axis=(1, 2)) + bias[4], acts["logits"][:, 4], rtol=1e-5, atol=1e-5)
    # Grad-CAM from a tape, written here: mean gradient weights, ReLU, / max
    sub = keras.Model(model.inputs[0], [model.get_layer("conv2").output, model.outputs[0]])
    with tf.GradientTape() as tape:
        maps, logits = sub(x)
        score = tf.reduce_sum(logits[:, 4])
    alpha = tf.reduce_mean(tape.gradient(score, maps), axis=(1, 2))
    grad = np.maximum(np.einsum("nhwk,nk->nhw", maps.numpy(), alpha.numpy()), 0)
    grad /= grad.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(refs.cam_reference(acts["conv2"], kernel, 4), grad, rtol=1e-4, atol=1e-5)


def test_linear_fgsm_reference_equals_coursekit_and_a_numeric_gradient():
    model = _weights("linear", 3)
    kernel, bias = model.get_layer("linear").get_weights()
    rng = np.random.default_rng(3)
    x, y = rng.random((4, 8, 8, 2), dtype=np.float32), np.array([0, 3, 1, 2])
    want = refs.linear_fgsm_reference(kernel, bias, x, y, 0.05)
    np.testing.assert_allclose(want, attacks.fgsm(model, x, y, eps=0.05), atol=1e-6)

    def loss(v):  # cross-entropy of image 0, float64
        z = v.reshape(-1) @ kernel.astype(np.float64) + bias
        return np.log(np.exp(z - z.max()).sum()) + z.max() - z[y[0]]

    numeric = checks.numeric_gradient(loss, x[0].astype(np.float64))
    unclipped = refs.linear_fgsm_reference(kernel, bias, x, y, 0.05, None)
    np.testing.assert_allclose(unclipped[0], x[0] + 0.05 * np.sign(numeric), atol=1e-6)


# -- the self-checks, on right and wrong answers (as students write them)


def _extractor(model, names):
    return keras.Model(model.inputs[0], [model.get_layer(n).output for n in names])


def _ascent(model, layer, unit, steps, lr, sign=1.0):
    sub = keras.Model(model.inputs[0], model.get_layer(layer).output)
    x = tf.Variable(np.full((1, *model.inputs[0].shape[1:]), 0.001, np.float32))
    for _ in range(steps):
        with tf.GradientTape() as tape:
            a = tf.reduce_mean(sub(x)[..., unit])
        g = tape.gradient(a, x)
        x.assign(x + sign * lr * g / (tf.norm(g) + 1e-8))
        x.assign(x / tf.maximum(1.0, tf.norm(x)))
    return x.numpy()[0]


def _grad_cam(model, images, c, layer, scores=lambda z: z):
    sub = keras.Model(model.inputs[0], [model.get_layer(layer).output, model.outputs[0]])
    with tf.GradientTape() as tape:
        maps, logits = sub(images)
        score = tf.reduce_sum(scores(logits)[:, c])
    alpha = tf.reduce_mean(tape.gradient(score, maps), axis=(1, 2))
    out = tf.nn.relu(tf.einsum("nhwk,nk->nhw", maps, alpha)).numpy()
    top = out.max(axis=(1, 2), keepdims=True)
    return np.divide(out, top, out=np.zeros_like(out), where=top > 0)


def _fgsm(model, images, labels, eps, sign=1.0, clip=True):
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = keras.losses.sparse_categorical_crossentropy(labels, model(x), from_logits=True)
    adv = x + sign * eps * tf.sign(tape.gradient(loss, x))
    return (tf.clip_by_value(adv, 0, 1) if clip else adv).numpy()


def _occlusion(model, images, c, patch, stride, fill=0.5, scores=tf.nn.softmax):
    """One model call per position, as a student may write it."""
    n, h, w = images.shape[:3]
    p = scores(model(images))[:, c].numpy()
    rows = []
    for i in range(0, h - patch + 1, stride):
        row = []
        for j in range(0, w - patch + 1, stride):
            covered = images.copy()
            covered[:, i:i + patch, j:j + patch, :] = fill
            row.append(p - scores(model(covered))[:, c].numpy())
        rows.append(row)
    return np.transpose(np.array(rows), (2, 0, 1)).astype(np.float32)


def _sanity(model, images, c, patch, stride, seed, itself=False, pearson=False):
    from scipy.stats import pearsonr, spearmanr

    rng = np.random.default_rng(seed)
    copy = keras.models.clone_model(model)
    copy.set_weights([rng.normal(0, np.std(w), w.shape).astype(np.float32) for w in model.get_weights()])
    a = _occlusion(model, images, c, patch, stride)
    b = _occlusion(model if itself else copy, images, c, patch, stride)
    corr = pearsonr if pearson else spearmanr
    return np.array([corr(x.ravel(), y.ravel())[0] for x, y in zip(a, b)])


def test_self_checks_pass_right_answers():
    assert checks.check_feature_extractor(_extractor, verbose=False)
    assert checks.check_gradient_ascent(_ascent, verbose=False)
    assert checks.check_grad_cam(_grad_cam, verbose=False)
    assert checks.check_fgsm(_fgsm, verbose=False)
    assert checks.check_occlusion(_occlusion, verbose=False)
    assert checks.check_sanity_check(_sanity, verbose=False)


def _randomize_in_place(model, images, c, patch, stride, seed):
    model.set_weights([0 * w for w in model.get_weights()])
    return _sanity(model, images, c, patch, stride, seed)


@pytest.mark.parametrize("check, wrong, words", [
    (checks.check_feature_extractor, lambda m, n: _extractor(m, n[::-1]), "expected"),
    (checks.check_feature_extractor, lambda m, n: m, "one per name"),
    (checks.check_gradient_ascent, lambda *a: _ascent(*a, sign=-1.0), "cosine"),
    (checks.check_gradient_ascent, lambda *a: 3 * _ascent(*a), "unit ball"),
    (checks.check_grad_cam, lambda *a: _grad_cam(*a, scores=tf.nn.softmax), "logits"),
    (checks.check_grad_cam, lambda m, x, c, l: _grad_cam(m, x, c, l).astype(np.float64), "dtype"),
    (checks.check_fgsm, lambda *a: _fgsm(*a, sign=-1.0), "goes down the loss"),
    (checks.check_fgsm, lambda *a: _fgsm(*a, clip=False), "not clipped"),
    (checks.check_fgsm, lambda *a: (_ for _ in ()).throw(NotImplementedError()), "not implemented"),
    (checks.check_occlusion, lambda *a: _occlusion(*a, fill=0.0), "black (0)"),
    (checks.check_occlusion, lambda *a: -_occlusion(*a), "sign is reversed"),
    (checks.check_occlusion, lambda *a: _occlusion(*a, scores=lambda z: z), "of logits"),
    (checks.check_occlusion, lambda *a: _occlusion(*a).astype(np.float64), "dtype"),
    (checks.check_sanity_check, lambda *a: _sanity(*a, itself=True), "compared with itself"),
    (checks.check_sanity_check, lambda *a: _sanity(*a, pearson=True), "Pearson"),
    (checks.check_sanity_check, _randomize_in_place, "own weights changed"),
])
def test_self_checks_diagnose_mistakes(check, wrong, words):
    result = check(wrong, verbose=False)
    assert not result
    assert words in result.message, result.message


# -- occlusion and the randomization test: the references against independent computations


def test_occlusion_reference_is_the_softmax_drop_of_a_linear_classifier():
    model = _weights("linear", 4)
    kernel, bias = model.get_layer("linear").get_weights()
    x = np.random.default_rng(4).random((2, 8, 8, 2), dtype=np.float32)
    maps = refs.occlusion_reference(model, x, 3, 3, 2)        # corners 0, 2, 4: (2, 3, 3)
    assert maps.shape == (2, 3, 3) and maps.dtype == np.float32

    def p(images):      # known answer: softmax(W^T x + b), in NumPy
        z = images.reshape(len(images), -1).astype(np.float64) @ kernel + bias
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True))[:, 3]
    covered = x.copy()
    covered[:, 2:5, 4:7, :] = 0.5
    np.testing.assert_allclose(maps[:, 1, 2], p(x) - p(covered), atol=1e-6)


def test_occlusion_reference_equals_a_loop_of_model_calls():
    model = _weights("flat", 5)
    x = np.random.default_rng(5).random((2, 12, 12, 2), dtype=np.float32)
    np.testing.assert_allclose(refs.occlusion_reference(model, x, 1, 5, 3), _occlusion(model, x, 1, 5, 3),
                               atol=1e-6)


def test_spearman_reference_equals_scipy_with_ties_and_is_0_on_a_constant_map():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(6)
    a, b = rng.integers(0, 4, size=(3, 5, 5)), rng.normal(size=(3, 5, 5))   # a: many ties
    want = [spearmanr(x.ravel(), y.ravel())[0] for x, y in zip(a, b)]
    np.testing.assert_allclose(refs.spearman_reference(a, b), want, atol=1e-12)
    np.testing.assert_allclose(refs.spearman_reference(b, b), 1.0)
    assert refs.spearman_reference(np.zeros((1, 4)), b[:1, 0, :4])[0] == 0.0


def test_randomized_copy_keeps_the_model_and_each_arrays_scale():
    model = _weights("cnn", 7)
    before = vis.flat_weights(model)
    copy = refs.randomized_copy(model, 3)
    np.testing.assert_array_equal(vis.flat_weights(model), before)
    for w, r in zip(model.get_weights(), copy.get_weights()):
        assert r.shape == w.shape and not np.array_equal(r, w)
        assert w.size < 20 or abs(r.std() - w.std()) < 0.3 * w.std()   # small arrays vary
    np.testing.assert_array_equal(vis.flat_weights(refs.randomized_copy(model, 3)), vis.flat_weights(copy))
