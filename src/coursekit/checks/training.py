"""Self-checks of lab 5 (training a convnet): the networks' layers, the augmenter's
properties, seeded training runs, and the learning curves that the quiz asks about."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._core import Check, _error_lines, _finish, _fmt_shape, check_model

__all__ = [
    "SEED_CNN_LAYERS", "capacity_net_layers", "check_seed_cnn", "check_capacity_net",
    "check_augmenter", "check_train_and_evaluate", "check_capacity_sweep",
    "QUIZ_RUNS", "quiz_curves",
]

#: the lab's digit network on 28 x 28 x 1 digits: (layer, output shape, parameters)
SEED_CNN_LAYERS = [
    ("Conv2D", (26, 26, 32), 320), ("Conv2D", (24, 24, 64), 18_496),
    ("MaxPooling2D", (12, 12, 64), 0), ("Dropout", (12, 12, 64), 0),
    ("Flatten", (9216,), 0), ("Dense", (128,), 1_179_776), ("Dropout", (128,), 0),
    ("Dense", (10,), 1_290),
]


def capacity_net_layers(filters: int, input_shape=(28, 28, 1), classes: int = 10) -> list[tuple]:
    """The layers of the notes' ``makeModel(filters)`` on this input: (layer, output shape, parameters)."""
    side, channels, rows = input_shape[0], input_shape[2], []
    for width in (filters, 2 * filters, 4 * filters):
        rows.append(("Conv2D", (side, side, width), (9 * channels + 1) * width))
        side, channels = side // 2, width
        rows.append(("MaxPooling2D", (side, side, width), 0))
    side //= 2
    flat = side * side * channels
    return rows + [("AveragePooling2D", (side, side, channels), 0), ("Flatten", (flat,), 0),
                   ("Dense", (128,), (flat + 1) * 128), ("Dropout", (128,), 0),
                   ("Dense", (classes,), 129 * classes)]


def _fail(name: str, verbose: bool, strict: bool, *lines) -> Check:
    return _finish(Check(name, False, list(lines)), verbose, strict)


def _activation(layer) -> str | None:
    return layer.get_config().get("activation")


def check_seed_cnn(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 5: ``fn()`` is the digit network, layer by layer, with its
    activations and dropout rates."""
    try:
        model = fn()
    except Exception as error:  # noqa: BLE001 - any student error becomes a report
        return _fail("build_seed_cnn", verbose, strict, *_error_lines(error, fn))
    found = check_model("build_seed_cnn()", model, SEED_CNN_LAYERS, verbose=False)
    if not found.passed:
        return _finish(found, verbose, strict)
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    if [_activation(layers[i]) for i in (0, 1, 5, 7)] != ["relu", "relu", "relu", "softmax"]:
        return _fail("build_seed_cnn", verbose, strict,
                     "the convolutions and the hidden dense layer use activation='relu', "
                     "the last layer activation='softmax'.")
    if [layers[i].rate for i in (3, 6)] != [0.25, 0.5]:
        return _fail("build_seed_cnn", verbose, strict,
                     "dropout rates: 0.25 after the pooling, 0.5 after the dense layer of 128.")
    return _finish(Check("build_seed_cnn", True, [f"8 layers, {model.count_params():,} parameters"]),
                   verbose, strict)


def check_capacity_net(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 5: ``fn(filters, input_shape, classes)`` is the notes' makeModel, with
    the notes' counts (2,687 and 56,867 for 1 and 16 filters on 32 x 32 x 3, 3 classes)."""
    for args in [(1, (32, 32, 3), 3), (16, (32, 32, 3), 3), (4, (28, 28, 1), 10)]:
        name = f"make_model{args}"
        try:
            model = fn(*args)
        except Exception as error:  # noqa: BLE001
            return _fail("make_model", verbose, strict, f"{name}:", *_error_lines(error, fn))
        found = check_model(name, model, capacity_net_layers(*args), verbose=False)
        if not found.passed:
            return _finish(found, verbose, strict)
    return _finish(Check("make_model", True, ["2,687 and 56,867 parameters, as in the notes"]), verbose, strict)


def _apply(augmenter, images, training=True) -> np.ndarray:
    return np.asarray(augmenter(images, training=training))


def check_augmenter(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 5: ``fn(seed, flip=False, shift=0.1, rotation=0.04, zoom=0.1)`` returns
    a Keras model that keeps shape, dtype and range, is the identity at inference, repeats under
    a seed, and flips left-right only when asked."""
    rng = np.random.default_rng(5)
    images = rng.random((16, 28, 28, 1)).astype(np.float32)
    name = "make_augmenter"
    try:
        first, again, other = (_apply(fn(seed), images) for seed in (3, 3, 4))
        still = _apply(fn(3), images, training=False)
        flipper = fn(7, flip=True, shift=0, rotation=0, zoom=0)
        ramp = np.tile(np.linspace(0, 1, 28, dtype=np.float32), (28, 1))[None, :, :, None]
        flipped = _apply(flipper, np.repeat(ramp, 32, axis=0))
    except Exception as error:  # noqa: BLE001
        return _fail(name, verbose, strict, *_error_lines(error, fn))
    if first.shape != images.shape or first.dtype != np.float32:
        return _fail(name, verbose, strict, f"returned {_fmt_shape(first.shape)} {first.dtype} for "
                     f"{_fmt_shape(images.shape)} float32 images: augmentation keeps both.")
    if first.min() < 0 or first.max() > 1:
        return _fail(name, verbose, strict, "values left [0, 1]: use fill_mode='constant' (zeros come in).")
    if not np.array_equal(still, images):
        return _fail(name, verbose, strict, "at inference (training=False) the augmenter must return its input.")
    if np.array_equal(first, images):
        return _fail(name, verbose, strict, "nothing changed in training mode: add the transforms.")
    if not np.array_equal(first, again) or np.array_equal(first, other):
        return _fail(name, verbose, strict, "the same seed must give the same images, another seed others: "
                     "pass seed=seed to every random layer.")
    mirrored = [np.array_equal(f, ramp[0, :, ::-1]) for f in flipped]
    kept = [np.array_equal(f, ramp[0]) for f in flipped]
    if not all(m or k for m, k in zip(mirrored, kept)) or not any(mirrored) or not any(kept):
        return _fail(name, verbose, strict, "with flip=True and nothing else, each image must come back "
                     "unchanged or mirrored left-right (RandomFlip('horizontal')), both happening.")
    return _finish(Check(name, True, ["shape, dtype, range, inference, seed and flip as asked"]), verbose, strict)


def _digits(data, n: int, offset: int = 0):
    (x_train, y_train), _ = data
    return x_train[offset:offset + n], y_train[offset:offset + n]


def check_train_and_evaluate(fn: Callable, data, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 5: a quick seeded run returns [train accuracy, validation accuracy],
    better than chance, and the same numbers when run again."""
    x, y = _digits(data, 300)
    name = "train_and_evaluate"
    try:
        runs = [np.asarray(fn(x, y, filters=2, epochs=2, seed=1), dtype=np.float64) for _ in range(2)]
    except Exception as error:  # noqa: BLE001
        return _fail(name, verbose, strict, *_error_lines(error, fn))
    first = runs[0]
    if first.shape != (2,):
        return _fail(name, verbose, strict, f"returned shape {_fmt_shape(first.shape)}; expected (2,): "
                     "the training accuracy, then the validation accuracy.")
    if not np.all((first > 0.1) & (first <= 1.0)):
        return _fail(name, verbose, strict, f"accuracies {first.round(3).tolist()}; expected above chance "
                     "(0.1): are the images scaled to [0, 1] with a channel axis?")
    if not np.array_equal(runs[0], runs[1]):
        return _fail(name, verbose, strict, f"two runs with seed=1 gave {runs[0].round(4).tolist()} and "
                     f"{runs[1].round(4).tolist()}: call keras.utils.set_random_seed(seed) before building "
                     "the model, and pass seed=seed to train.fit.")
    return _finish(Check(name, True, [f"a quick run: train {first[0]:.3f}, validation {first[1]:.3f}; seeded"]),
                   verbose, strict)


def check_capacity_sweep(fn: Callable, data, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 5: a quick sweep returns one row [filters, train, validation] per width."""
    x, y = _digits(data, 200)
    name = "capacity_sweep"
    try:
        table = np.asarray(fn(x, y, [1, 2], epochs=1, seed=0), dtype=np.float64)
    except Exception as error:  # noqa: BLE001
        return _fail(name, verbose, strict, *_error_lines(error, fn))
    if table.shape != (2, 3):
        return _fail(name, verbose, strict, f"returned shape {_fmt_shape(table.shape)} for 2 widths; expected "
                     "(2, 3): one row [filters, train accuracy, validation accuracy] per width.")
    if table[:, 0].tolist() != [1, 2]:
        return _fail(name, verbose, strict, "the first column holds the filters, in the order given.")
    if not np.all((table[:, 1:] >= 0) & (table[:, 1:] <= 1)):
        return _fail(name, verbose, strict, "accuracies must lie in [0, 1].")
    return _finish(Check(name, True, ["one row per width"]), verbose, strict)


#: the three runs of the learning-curve quiz: filters, training digits, copies per epoch, epochs
QUIZ_RUNS = {1: (1, 200, 1, 3), 2: (16, 100, 10, 6), 3: (8, 1000, 1, 4)}


def quiz_curves(make_model: Callable, x, y, x_val, y_val, *, seed: int = 0) -> dict[int, dict]:
    """Train the quiz's three runs with ``coursekit.train.fit`` (Adam 3e-3, batches of 32, no
    early stopping, validated after every epoch) and return each run's history: {run:
    {"accuracy": [...], "val_accuracy": [...], ...}}. ``x``, ``x_val``: uint8 digits (N, 28, 28);
    run r trains on the first n digits of ``x``, repeated ``copies`` times in each epoch (so that
    an epoch is several passes, at the cost of one)."""
    import keras

    from coursekit import train

    def scaled(images):
        return (np.asarray(images, dtype=np.float32) / 255.0)[..., None]

    curves = {}
    for run, (filters, n, copies, epochs) in QUIZ_RUNS.items():
        keras.utils.set_random_seed(seed)
        model = make_model(filters)
        model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        images, labels = np.tile(scaled(x[:n]), (copies, 1, 1, 1)), np.tile(np.asarray(y[:n]), copies)
        history = train.fit(model, images, labels, 32, epochs, seed=seed, verbose=0,
                            validation_data=(scaled(x_val), np.asarray(y_val)))
        curves[run] = history.history
    return curves
