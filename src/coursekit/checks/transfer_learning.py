"""Self-checks of lab 8 (transfer learning), and the judges that the lab's grader shares.

Each ``*_problem`` function looks at what a student's function returned and gives None when it
is right, else what is wrong in words (never the expected numbers). The self-checks run them in
the student's kernel; the grader runs the same functions in its own process, on values that the
student's code returned in the sandbox.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._core import Check, _error_lines, _finish, _fmt_shape, case, check_function
from ._recorded import recorded

__all__ = [
    "feature_base", "head_problem", "probe_accuracy", "transfer_problem",
    "unfreeze_problem", "check_preprocess", "check_extract_features", "check_linear_probe",
    "check_transfer_model", "check_unfreeze_top",
]


def feature_base(size: int = 24):
    """The small base that ``check_extract_features`` feeds the student's function, its features
    recorded: BatchNormalization with set statistics (its output in training mode differs from
    inference mode, as MobileNetV2's does), then global average pooling, 3 features."""
    import keras

    inputs = keras.Input((size, size, 3))
    norm = keras.layers.BatchNormalization(name="norm")
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(norm(inputs)), name="feature_base")
    norm.set_weights([np.array([1.0, 2.0, 0.5], np.float32), np.array([0.0, 0.1, -0.2], np.float32),
                      np.array([0.3, -0.1, 0.2], np.float32), np.array([0.5, 2.0, 1.0], np.float32)])
    return model


# --------------------------------------------------------------------------
# Judges: None when right, else what is wrong
# --------------------------------------------------------------------------


def _dense_layers(model):
    import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]


def _nested_base(model):
    import keras

    inner = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return inner[0] if len(inner) == 1 else None


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


def _is_bn(layer) -> bool:
    import keras

    return isinstance(layer, keras.layers.BatchNormalization)


def _trainable_count(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.trainable_weights))


def transfer_problem(model, base, images, n_classes: int, augment: bool) -> str | None:
    """Option 2 done right: frozen base in inference mode, preprocessing inside, a new head.

    `base` is the pretrained base the model was built on (the grader's own copy), `images` raw
    pixels. Trains the model one epoch here, so pass a model nobody needs afterwards.
    """
    import keras

    if not isinstance(model, keras.Model):
        return f"return a Keras model, not a {type(model).__name__}"
    dense = _dense_layers(model)
    inner = _nested_base(model)
    if inner is None or not dense:
        return "the model should hold the base (as one layer) and end with a Dense layer"
    features = base.output.shape[-1]
    if _trainable_count(model) != features * n_classes + n_classes:
        return ("its trainable parameters are not exactly those of the new head "
                f"({features} x {n_classes} + {n_classes}): freeze the base")
    randoms = [layer for layer in model.layers if type(layer).__name__.startswith("Random")]
    if augment and not randoms:
        return "augment=True: add random augmentation layers (RandomFlip, RandomTranslation, ...)"
    if not augment and randoms:
        return "augment=False: no augmentation layers"
    images = np.asarray(images, np.float32)
    try:
        got = np.asarray(model(images, training=False))
    except Exception as error:  # noqa: BLE001
        return f"the model does not take raw images of shape {images.shape[1:]} ({type(error).__name__})"
    kernel, bias = dense[-1].get_weights()
    # MobileNetV2's own preprocessing, from Keras: the features that the head must see
    preprocessed = keras.applications.mobilenet_v2.preprocess_input(images.copy())
    logits = np.asarray(base(preprocessed, training=False), np.float64) @ kernel + bias
    want = np.exp(logits - logits.max(axis=1, keepdims=True))
    want /= want.sum(axis=1, keepdims=True)
    if got.shape != want.shape or not np.allclose(got, want, atol=1e-4):
        return ("its predictions are not the head applied to the base's features of the preprocessed "
                "images (raw pixels in, keras.layers.Rescaling(1 / 127.5, offset=-1) inside, "
                "the base called with training=False, then the Dense head)")
    frozen = [w.numpy().copy() for w in inner.weights]
    # one step: run eagerly, as tracing MobileNetV2's training graph costs five times the step
    model.compile(keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", run_eagerly=True)
    model.fit(images, np.arange(len(images)) % n_classes, epochs=1, batch_size=8, verbose=0)
    if not all(np.array_equal(a, w.numpy()) for a, w in zip(frozen, inner.weights)):
        return "the base's weights or BatchNormalization statistics changed during fit: freeze the base"
    return None


def unfreeze_problem(model, n_layers: int, lr: float, images) -> str | None:
    """Fine-tuning set up right: the last n_layers of the base trainable except BatchNormalization,
    which stays frozen and so in inference mode (Keras 3's fit overrides a ``training=False`` given
    when the model was built: keras-team/keras#20285); recompiled with Adam at the learning rate
    `lr`. Trains the model one epoch here."""
    import keras

    if not isinstance(model, keras.Model):
        return f"return the Keras model, not a {type(model).__name__}"
    inner = _nested_base(model)
    if inner is None:
        return "the model should still hold the base as one layer"
    want = {layer.name for layer in inner.layers[-n_layers:] if layer.weights and not _is_bn(layer)}
    got = {layer.name for layer in inner.layers if layer.weights and layer.trainable}
    if got != want:
        extra, missing = sorted(got - want), sorted(want - got)
        return (f"the base's trainable layers are wrong: {len(extra)} should be frozen, {len(missing)} "
                f"should be trainable (the last {n_layers} layers of the base, except BatchNormalization)")
    if not all(layer.trainable for layer in _dense_layers(model)):
        return "the head must stay trainable"
    config = getattr(model, "compile_config_read", None)
    if config is None:
        optimizer = getattr(model, "optimizer", None)
        rate = None if optimizer is None else float(np.asarray(optimizer.learning_rate))
        name = type(optimizer).__name__
    else:
        opt = config.get("optimizer") or {}
        name = opt.get("class_name", "") if isinstance(opt, dict) else ""
        rate = (opt.get("config") or {}).get("learning_rate") if isinstance(opt, dict) else None
    if name != "Adam" or not isinstance(rate, (int, float)) or not np.isclose(rate, lr, rtol=1e-6):
        return "recompile the model with keras.optimizers.Adam at the learning rate you were given"
    images = np.asarray(images, np.float32)
    moving = [w.numpy().copy() for w in inner.non_trainable_weights]
    trained = [w.numpy().copy() for w in inner.trainable_weights]
    model.compile(keras.optimizers.Adam(max(lr, 1e-3)), loss="sparse_categorical_crossentropy",
                  run_eagerly=True)  # one step: tracing would cost five times the step
    n_classes = model.output.shape[-1]
    model.fit(images, np.arange(len(images)) % n_classes, epochs=1, batch_size=8, verbose=0)
    if not all(np.array_equal(a, w.numpy()) for a, w in zip(moving, inner.non_trainable_weights)):
        return ("frozen weights or BatchNormalization moving statistics changed during fit: keep the "
                "BatchNormalization layers frozen, so that they stay in inference mode")
    if all(np.array_equal(a, w.numpy()) for a, w in zip(trained, inner.trainable_weights)):
        return "the unfrozen layers did not change during fit"
    return None


# --------------------------------------------------------------------------
# The self-checks
# --------------------------------------------------------------------------


def _judged(name: str, judge: Callable[[], str | None], passed: str, verbose: bool, strict: bool) -> Check:
    try:
        problem = judge()
    except NotImplementedError:
        problem = "not implemented yet: replace `raise NotImplementedError()` with your code."
    except Exception as error:  # noqa: BLE001 - any student error becomes a report
        return _finish(Check(name, False, _error_lines(error, judge)), verbose, strict)
    return _finish(Check(name, problem is None, [problem or passed]), verbose, strict)


def check_preprocess(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """``preprocess(images)``: 0 -> -1, 255 -> 1, float32, input left unchanged."""
    rng = np.random.default_rng(8)
    cases = [case(np.array([[0, 127.5, 255]]), label="0, 127.5 and 255"),
             case(rng.integers(0, 256, size=(2, 5, 5, 3)).astype(np.uint8), label="uint8 images"),
             case(rng.uniform(0, 255, size=(3, 4, 4, 3)), label="float64 images (not to be changed in place)")]
    return check_function("preprocess", fn, cases, recorded("transfer_learning", "preprocess")[0], rtol=1e-6,
                          atol=1e-6, check_dtype=True,
                          hint="MobileNetV2 expects x / 127.5 - 1, in float32", verbose=verbose, strict=strict)


def check_extract_features(fn: Callable, base, *, verbose: bool = True, strict: bool = False) -> Check:
    """``extract_features(base, images, batch_size)``: the recorded features of 11 images on a small
    base of the check's own (:func:`feature_base`), in batches of 4 and at once; then, on ``base``,
    one float32 vector per image, whatever the batch size."""
    images = np.random.default_rng(8).integers(0, 256, size=(11, 24, 24, 3)).astype(np.uint8)
    small = feature_base()
    cases = [case(images, batch_size=4, label="11 images in batches of 4 (a small base)"),
             case(images[:3], label="3 images (a small base)")]
    result = check_function("extract_features", lambda x, **kw: fn(small, x, **kw), cases,
                            recorded("transfer_learning", "extract_features")[0], rtol=1e-4, atol=1e-4,
                            hint="preprocess each batch, call base(x, training=False), concatenate",
                            verbose=False)
    if result:
        result = _judged("extract_features", lambda: _features_problem(fn, base), "recorded features, "
                         "and one float32 vector per image on your base", False, False)
    return _finish(result, verbose, strict)


def _features_problem(fn: Callable, base) -> str | None:
    """What is wrong with the features of `base` (shape, dtype, batches), or None."""
    size = base.input.shape[1]
    images = np.random.default_rng(9).integers(0, 256, size=(5, size, size, 3)).astype(np.uint8)
    whole, parts = np.asarray(fn(base, images)), np.asarray(fn(base, images, batch_size=2))
    want = (len(images), base.output.shape[-1])
    if whole.shape != want or whole.dtype != np.float32:
        return f"on your base: shape {_fmt_shape(whole.shape)} {whole.dtype}, expected {_fmt_shape(want)} float32"
    if not np.allclose(whole, parts, rtol=1e-4, atol=1e-4):
        return "on your base, batches of 2 give other features than one batch: call it with training=False"
    return None


def _clusters(n_classes: int = 3, n: int = 90, dim: int = 16, seed: int = 8):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(n_classes, dim))
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


def check_transfer_model(fn: Callable, base, *, verbose: bool = True, strict: bool = False) -> Check:
    """``build_transfer_model(base, n_classes, augment)``: structure, preprocessing, frozen base."""
    import keras

    size = base.input.shape[1]
    images = np.random.default_rng(8).integers(0, 256, size=(8, size, size, 3)).astype(np.uint8)

    def judge():
        for augment in (True, False):
            copy = keras.models.clone_model(base)
            copy.set_weights(base.get_weights())
            problem = transfer_problem(fn(copy, 3, augment=augment), base, images, 3, augment)
            if problem:
                return f"augment={augment}: {problem}"
        return None
    return _judged("build_transfer_model", judge, "head only trainable, base frozen", verbose, strict)


def check_unfreeze_top(fn: Callable, model, *, n_layers: int = 10, lr: float = 1e-5, verbose: bool = True,
                       strict: bool = False) -> Check:
    """``unfreeze_top(model, n_layers, lr)`` on a copy of `model`: trainable set, optimizer, BN."""
    import keras

    size = model.input.shape[1]
    images = np.random.default_rng(8).integers(0, 256, size=(8, size, size, 3)).astype(np.uint8)

    def judge():
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        return unfreeze_problem(fn(copy, n_layers, lr), n_layers, lr, images)
    return _judged("unfreeze_top", judge, f"the last {n_layers} layers trainable, BN frozen",
                   verbose, strict)
