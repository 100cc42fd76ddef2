"""coursekit.train: resume, determinism, mixed precision, strategy, errors, progress; plot.training_curves."""

import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

from coursekit import train  # noqa: E402


def _data(n=192, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 12, 12, 1), dtype=np.float32)
    y = (x[:, :6].mean(axis=(1, 2, 3)) > x[:, 6:].mean(axis=(1, 2, 3))).astype("int64") + 2 * (
        x[:, :, :6].mean(axis=(1, 2, 3)) > 0.5
    )
    return x, y


def _build():
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(4, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _same(a, b):
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


@pytest.fixture
def restore_policy():
    previous = keras.config.dtype_policy()
    yield
    keras.config.set_dtype_policy(previous)


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise KeyboardInterrupt(f"simulated disconnect at epoch {epoch}")


# ---------------------------------------------------------------- reproducibility and resume


def test_same_seed_same_weights():
    x, y = _data()
    a = train.fit(_build, x, y, epochs=2, batch_size=32, seed=3, verbose=0)
    b = train.fit(_build, x, y, epochs=2, batch_size=32, seed=3, verbose=0)
    assert _same(a.model, b.model)
    assert a.history == b.history
    c = train.fit(_build, x, y, epochs=2, batch_size=32, seed=4, verbose=0)
    assert not _same(a.model, c.model)


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    x, y = _data()
    xv, yv = _data(64, seed=1)
    kw = dict(validation_data=(xv, yv), epochs=4, batch_size=32, seed=0, verbose=0)
    full = train.fit(_build, x, y, checkpoint_dir=tmp_path / "full", **kw)

    ckpt = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        train.fit(_build, x, y, checkpoint_dir=ckpt, callbacks=[_Interrupt(2)], **kw)
    resumed = train.fit(_build, x, y, checkpoint_dir=ckpt, **kw)

    assert _same(full.model, resumed.model)
    assert resumed.epoch == [0, 1, 2, 3]
    assert set(resumed.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key, values in full.history.items():
        assert len(resumed.history[key]) == 4
        np.testing.assert_allclose(resumed.history[key], values, rtol=1e-6)

    # A finished run is not repeated: same weights, same history, no training.
    again = train.fit(_build, x, y, checkpoint_dir=ckpt, **kw)
    assert _same(again.model, full.model) and again.history == resumed.history


def test_model_instance_resumes_too(tmp_path):
    x, y = _data()
    keras.utils.set_random_seed(0)
    m1 = _build()
    keras.utils.set_random_seed(0)
    m2 = _build()
    train.fit(m1, x, y, epochs=3, seed=0, verbose=0)
    with pytest.raises(KeyboardInterrupt):
        train.fit(m2, x, y, epochs=3, seed=0, verbose=0, checkpoint_dir=tmp_path, callbacks=[_Interrupt(1)])
    keras.utils.set_random_seed(0)
    m3 = _build()  # a fresh kernel after the disconnect
    h = train.fit(m3, x, y, epochs=3, seed=0, verbose=0, checkpoint_dir=tmp_path)
    assert h.model is m3 and _same(m1, m3) and len(h.history["loss"]) == 3


def test_early_stopping_and_restore_best(tmp_path):
    x, y = _data()
    best = []

    class Track(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            best.append((logs["loss"], [w.copy() for w in self.model.get_weights()]))

    # lr so high that the loss jumps about: the last epoch is unlikely to be the best
    def build():
        m = _build()
        m.compile(keras.optimizers.SGD(2.0), "sparse_categorical_crossentropy")
        return m

    h = train.fit(build, x, y, epochs=6, seed=1, verbose=0, restore_best=True, callbacks=[Track()])
    i = int(np.argmin([b[0] for b in best]))
    assert all(np.array_equal(u, v) for u, v in zip(h.model.get_weights(), best[i][1]))

    h = train.fit(build, x, y, epochs=30, seed=1, verbose=0, early_stopping=1, checkpoint_dir=tmp_path)
    stopped = len(h.history["loss"])
    assert stopped < 30
    # re-running a run that stopped early does not train on
    again = train.fit(build, x, y, epochs=30, seed=1, verbose=0, early_stopping=1, checkpoint_dir=tmp_path)
    assert len(again.history["loss"]) == stopped


def test_dataset_input_and_augmentation():
    import tensorflow as tf

    x, y = _data()
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    a = train.fit(_build, ds, epochs=2, batch_size=32, seed=0, verbose=0,
                  augment=keras.layers.RandomFlip("horizontal", seed=0), validation_data=ds.take(40))
    assert len(a.history["val_loss"]) == 2
    from coursekit import _pipeline

    assert ds in _pipeline._MATERIALIZED  # read once, like ds.cache(); reused by the next call
    b = train.fit(_build, ds.batch(16), epochs=1, seed=0, verbose=0)  # already batched: as is
    assert len(b.history["loss"]) == 1
    c = train.fit(_build, ds, epochs=2, seed=0, verbose=0, cache=False, validation_data=ds.take(40))
    d = train.fit(_build, ds, epochs=2, seed=0, verbose=0, cache=False, validation_data=ds.take(40))
    assert len(c.history["val_loss"]) == 2 and _same(c.model, d.model)  # streamed: seeded too


# ---------------------------------------------------------------- device


def test_mixed_bfloat16_trains_on_cpu_with_float32_output(restore_policy):
    x, y = _data()
    h = train.fit(_build, x, y, epochs=4, batch_size=32, seed=0, verbose=0, mixed_precision="mixed_bfloat16")
    assert h.history["loss"][-1] < h.history["loss"][0]
    model = h.model
    assert any(layer.dtype_policy.name == "mixed_bfloat16" for layer in model.layers)
    assert all(str(o.dtype) == "float32" for o in model.outputs)
    assert model.predict(x[:4], verbose=0).dtype == np.float32
    assert keras.config.dtype_policy().name == "float32"  # the global policy is put back

    # a float32 model instance: trained as a mixed copy, weights written back, still float32
    m = _build()
    before = [w.copy() for w in m.get_weights()]
    train.fit(m, x, y, epochs=1, seed=0, verbose=0, mixed_precision="mixed_bfloat16")
    assert m.dtype_policy.name == "float32"
    assert not all(np.array_equal(u, v) for u, v in zip(before, m.get_weights()))


def test_describe_device_says_what_and_why(capsys):
    plan = train.describe_device()
    out = capsys.readouterr().out
    for word in ("device", "CPU", "precision", "float32", "XLA", "strategy", "determinism"):
        assert word in out
    assert plan.precision == "float32" and plan.xla is False and plan.n_replicas == 1
    plan = train.describe_device(deterministic=True, mixed_precision="mixed_bfloat16", quiet=True)
    assert "slower" in plan.deterministic_why and plan.precision == "mixed_bfloat16"
    assert "slower" in train.fit.__doc__  # the docstring states the cost of determinism


_STRATEGY_SCRIPT = textwrap.dedent(
    """
    import numpy as np, tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from coursekit import train
    sys_path_helpers = {helpers!r}
    import sys; sys.path.insert(0, sys_path_helpers)
    from test_train import _build, _data, _same

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    x, y = _data()
    h = train.fit(_build, x, y, epochs=3, batch_size=32, seed=0, verbose=0, strategy=strategy)
    assert h.history["loss"][-1] < h.history["loss"][0], h.history
    assert h.model.distribute_strategy is strategy
    plan = train.describe_device(strategy=strategy, quiet=True)
    assert plan.n_replicas == 2 and plan.xla is False

    keras.utils.set_random_seed(0)
    m = _build()  # built outside the scope: fit trains a copy under it and writes back
    before = [w.copy() for w in m.get_weights()]
    train.fit(m, x, y, epochs=1, seed=0, verbose=0, strategy=strategy)
    assert not all(np.array_equal(u, v) for u, v in zip(before, m.get_weights()))
    print("STRATEGY-OK", strategy.num_replicas_in_sync)
    """
)


def test_mirrored_strategy_over_two_logical_cpus():
    script = _STRATEGY_SCRIPT.format(helpers=os.path.dirname(__file__))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=200,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert "STRATEGY-OK 2" in proc.stdout, proc.stderr[-3000:]


_DETERMINISM_SCRIPT = textwrap.dedent(
    """
    import sys; sys.path.insert(0, {helpers!r})
    import tensorflow as tf
    from coursekit import train
    from test_train import _build, _data, _same

    import keras
    x, y = _data()
    shift = lambda: keras.layers.RandomTranslation(0.1, 0.1, seed=1)  # random, stateful: in order
    a = train.fit(_build, x, y, epochs=2, seed=5, deterministic=True, verbose=0, augment=shift())
    b = train.fit(_build, x, y, epochs=2, seed=5, deterministic=True, verbose=0, augment=shift())
    assert _same(a.model, b.model)
    from tensorflow.python.framework import config  # no public getter
    assert config.is_op_determinism_enabled()
    print("DETERMINISM-OK")
    """
)


def test_deterministic_flag_in_its_own_process():
    # op determinism cannot be turned off again, so it gets a process of its own
    script = _DETERMINISM_SCRIPT.format(helpers=os.path.dirname(__file__))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=200)
    assert "DETERMINISM-OK" in proc.stdout, proc.stderr[-3000:]
    # tf.data's rewrite of a parallel augmentation map prints a C++ error that frightens students
    assert "NodeDef mentions attribute" not in proc.stderr, proc.stderr[-3000:]


def test_a_loop_of_fits_raises_no_retracing_alarm(caplog):
    # a capacity sweep: every fresh model traces its step once, which is not "excessive retracing"
    x, y = _data(64)
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        for seed in range(6):
            train.fit(_build, x, y, batch_size=32, epochs=1, seed=seed, verbose=0)
    alarms = [r.getMessage()[:120] for r in caplog.records if "retracing" in r.getMessage()]
    assert not alarms, alarms


# ---------------------------------------------------------------- errors, before any training


def _fail(match, *args, **kwargs):
    with pytest.raises(ValueError, match=match) as info:
        train.fit(*args, verbose=0, **kwargs)
    return str(info.value)


def test_errors_say_what_to_do():
    x, y = _data(64)
    model = _build()
    _fail(r"x has 64 examples but y has 63", model, x, y[:-1])
    msg = _fail(r"channel axis is missing", model, x[..., 0], y)
    assert "x[..., None]" in msg
    msg = _fail(r"class ids from 0 to 9.*4 output units", model, x, np.arange(64) % 10)
    assert "Dense(10)" in msg
    msg = _fail(r"looks one-hot.*sparse_categorical_crossentropy", model, x, keras.utils.to_categorical(y, 4))
    assert "categorical_crossentropy" in msg and "argmax" in msg

    onehot = _build()
    onehot.compile("adam", "categorical_crossentropy")
    msg = _fail(r"class ids.*categorical_crossentropy", onehot, x, y)
    assert "sparse_categorical_crossentropy" in msg and "to_categorical" in msg

    raw = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Flatten(), keras.layers.Dense(4)])
    _fail(r"not compiled.*model.compile", raw, x, y)
    _fail(r"channel axis is missing", model, x, y, validation_data=(x[..., 0], y))
    _fail(r"batch_size=100 is larger than the 64", model, x, y, batch_size=100)
    _fail(r"deterministic=True needs a seed", model, x, y, deterministic=True)

    # a build function's model is checked as soon as it is built
    _fail(r"channel axis is missing", _build, x[..., 0], y)


def test_per_pixel_labels_are_class_ids_too():
    x, _ = _data(64)
    masks = (x[..., 0] > 0.5).astype("int64")  # (N, 12, 12): one class id per pixel

    def fcn(classes):
        m = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(classes, 3, padding="same",
                                                                            activation="softmax")])
        m.compile("adam", "sparse_categorical_crossentropy")
        return m

    h = train.fit(fcn(2), x, masks, epochs=1, seed=0, verbose=0)
    assert len(h.history["loss"]) == 1
    _fail(r"class ids from 0 to 2.*2 output units", fcn(2), x, masks * 2)


def test_errors_come_before_tensorflow_work(monkeypatch):
    # if validation touched the device planner, this would raise something else
    import coursekit.train as t

    monkeypatch.setattr(t, "make_plan", lambda **kw: pytest.fail("planned before validating"))
    x, y = _data(64)
    _fail("same length", _build(), x, y[:10])


# ---------------------------------------------------------------- progress and curves


def test_notebook_progress_is_one_line_per_epoch(monkeypatch):
    pytest.importorskip("IPython")
    import coursekit.train as t
    from coursekit import _progress

    shown = []

    class Handle:
        def update(self, obj):
            shown[-1] = obj.data

    def display(obj, display_id=None):
        shown.append(obj.data)
        return Handle()

    import IPython.display

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(_progress, "in_notebook", lambda: True)
    x, y = _data()
    t.fit(_build, x, y, epochs=3, seed=0, verbose="auto", validation_data=(x[:32], y[:32]))
    assert len(shown) == 3
    assert shown[0].startswith("Epoch 1/3") and "val_loss" in shown[-1]


def test_training_curves():
    import matplotlib

    matplotlib.use("Agg")
    from coursekit.plot import training_curves

    history = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.1, 0.7, 0.6],
               "accuracy": [0.5, 0.7, 0.8], "val_accuracy": [0.4, 0.6, 0.7]}
    fig = training_curves(history)
    axes = fig.axes
    assert len(axes) == 2
    labels = {line.get_label() for ax in axes for line in ax.get_lines()}
    assert {"train", "validation"} <= labels
    assert axes[0].get_ylabel() == "loss" and axes[1].get_ylabel() == "accuracy"

    x, y = _data()
    h = train.fit(_build, x, y, epochs=2, seed=0, verbose=0)
    fig = training_curves(h, metrics=["loss"])
    assert len(fig.axes) == 1


# ---------------------------------------------------------------- a superset of model.fit


def _build_dropout():
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.SpatialDropout2D(0.3),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.GaussianNoise(0.1),
        keras.layers.Dense(4, activation="softmax"),
    ])
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    return model


def test_resume_with_dropout_is_bit_identical(tmp_path):
    x, y = _data()
    kw = dict(epochs=4, batch_size=32, seed=0, verbose=0)
    full = train.fit(_build_dropout, x, y, **kw)
    with pytest.raises(KeyboardInterrupt):
        train.fit(_build_dropout, x, y, checkpoint_dir=tmp_path, callbacks=[_Interrupt(2)], **kw)
    resumed = train.fit(_build_dropout, x, y, checkpoint_dir=tmp_path, **kw)
    diff = max(float(np.max(np.abs(u - v))) for u, v in zip(full.model.get_weights(), resumed.model.get_weights()))
    assert diff == 0.0, f"resumed weights differ by up to {diff}"
    assert resumed.history["loss"] == full.history["loss"]


def test_resume_with_other_data_or_settings_stops(tmp_path):
    x, y = _data()
    kw = dict(epochs=3, seed=0, checkpoint_dir=tmp_path)
    with pytest.raises(KeyboardInterrupt):
        train.fit(_build, x, y, batch_size=32, callbacks=[_Interrupt(1)], verbose=0, **kw)
    other = x.copy()
    other[0, 0, 0, 0] += 0.5
    msg = _fail(r"other data or settings.*training data", _build, other, y, batch_size=32, **kw)
    assert "new checkpoint_dir" in msg
    _fail(r"batch_size: 32 then, 16 now", _build, x, y, batch_size=16, **kw)
    _fail(r"seed: 0 then, 1 now", _build, x, y, batch_size=32, **{**kw, "seed": 1})
    h = train.fit(_build, x, y, batch_size=32, verbose=0, **kw)  # the same data and settings resume
    assert len(h.history["loss"]) == 3


class _CountBatches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def on_train_batch_end(self, batch, logs=None):
        self.calls += 1


def test_plain_model_fit_afterwards_keeps_its_callback_frequency():
    x, y = _data()
    model = _build()
    before = (model.steps_per_execution, model.jit_compile)
    ours = _CountBatches()
    train.fit(model, x, y, batch_size=32, epochs=1, seed=0, verbose=0, callbacks=[ours])
    assert ours.calls == 1  # fit ran 6 steps per execution
    assert (model.steps_per_execution, model.jit_compile) == before
    plain = _CountBatches()
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[plain])
    assert plain.calls == 6
    again = _CountBatches()
    train.fit(model, x, y, batch_size=32, epochs=1, seed=0, verbose=0, callbacks=[again])
    assert again.calls == 1


def _twins():
    keras.utils.set_random_seed(0)
    a = _build()
    b = _build()
    b.set_weights(a.get_weights())
    return a, b


@pytest.mark.parametrize("case", ["validation_split", "class_weight", "sample_weight", "initial_epoch",
                                  "steps_per_epoch", "validation_steps", "validation_freq", "positional"])
def test_model_fit_arguments_match_model_fit(case):
    x, y = _data(192)
    xv, yv = _data(64, seed=1)
    w = np.random.default_rng(2).random(192).astype("float32")
    kwargs = {
        "validation_split": dict(validation_split=1 / 6),
        "class_weight": dict(class_weight={0: 0.5, 1: 2.0, 2: 1.0, 3: 3.0}),
        "sample_weight": dict(sample_weight=w),
        "initial_epoch": dict(initial_epoch=1, epochs=3),
        "steps_per_epoch": dict(steps_per_epoch=6),  # every batch: Keras' arrays have 6 per epoch too
        "validation_steps": dict(validation_data=(xv, yv), validation_steps=1),
        "validation_freq": dict(validation_data=(xv, yv), validation_freq=2, epochs=4),
        "positional": {},
    }[case]
    kwargs = {"epochs": 2, "batch_size": 32, "shuffle": False, **kwargs}
    ours_model, peer = _twins()
    if case == "positional":  # model.fit's order: x, y, batch_size, epochs, verbose, callbacks, ...
        ours = train.fit(ours_model, x, y, 32, 2, 0, None, 1 / 6, None, False)
        theirs = peer.fit(x, y, 32, 2, 0, None, 1 / 6, None, False)
    else:
        ours = train.fit(ours_model, x, y, verbose=0, seed=0, **kwargs)
        theirs = peer.fit(x, y, verbose=0, **kwargs)
    assert set(ours.history) == set(theirs.history)
    for key, values in theirs.history.items():
        np.testing.assert_allclose(ours.history[key], values, rtol=2e-5, atol=1e-6, err_msg=key)
    for u, v in zip(ours_model.get_weights(), peer.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-6)


def test_two_inputs_and_two_outputs_train():
    x, y = _data()
    vec = x.reshape(len(x), -1)[:, :10]
    image_in = keras.Input((12, 12, 1), name="image")
    vec_in = keras.Input((10,), name="vec")
    h = keras.layers.Flatten()(keras.layers.Conv2D(4, 3, activation="relu")(image_in))
    h = keras.layers.Concatenate()([h, keras.layers.Dense(4)(vec_in)])
    cls = keras.layers.Dense(4, activation="softmax", name="cls")(h)
    reg = keras.layers.Dense(1, name="reg")(h)
    model = keras.Model([image_in, vec_in], [cls, reg])
    model.compile("adam", ["sparse_categorical_crossentropy", "mse"])
    target = x.mean(axis=(1, 2, 3))[:, None]
    h1 = train.fit(model, [x, vec], [y, target], epochs=3, seed=0, verbose=0, validation_split=0.25)
    assert h1.history["loss"][-1] < h1.history["loss"][0]
    assert "val_cls_loss" in h1.history or "val_loss" in h1.history
    h2 = train.fit(model, {"image": x, "vec": vec}, (y, target), epochs=1, seed=0, verbose=0)
    assert len(h2.history["loss"]) == 1
    with pytest.raises(ValueError, match=r"y\[0\] has class ids from 0 to 9.*4 output units"):
        train.fit(model, [x, vec], [np.arange(192) % 10, target], verbose=0)
    with pytest.raises(ValueError, match=r"2 inputs but x holds one array"):
        train.fit(model, x, [y, target], verbose=0)


def test_nan_is_refused_and_raw_pixels_are_flagged():
    x, y = _data(64)
    bad = x.copy()
    bad[5, 3, 3, 0] = np.nan
    msg = _fail(r"x contain 1 NaN or infinite value\(s\), the first at index \(5, 3, 3, 0\)", _build(), bad, y)
    assert "np.nan_to_num" in msg
    bad[5, 3, 3, 0] = np.inf
    _fail(r"validation_data\[0\] contain 1 NaN", _build(), x, y, validation_data=(bad, y))
    _fail(r"y contain 1 NaN", _build(), x, np.where(np.arange(64) == 3, np.nan, y))
    _fail(r"sample_weight contain 1 NaN", _build(), x, y, sample_weight=np.where(np.arange(64) == 3, np.nan, 1.0))
    with pytest.warns(UserWarning, match=r"x average .* \(uint8\): raw 0..255 pixels\?.*/ 255"):
        train.fit(_build(), (x * 255).astype("uint8"), y, verbose=0, epochs=1)
    with pytest.warns(UserWarning, match="raw 0..255"):
        train.fit(_build(), x * 255, y, verbose=0, epochs=1)
    scaled = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                               keras.layers.Dense(4, activation="softmax")])
    scaled.compile("adam", "sparse_categorical_crossentropy")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a model that rescales itself is not flagged
        train.fit(scaled, (x * 255).astype("uint8"), y, verbose=0, epochs=1)


_X, _Y = _data(64)


@pytest.mark.parametrize("args, kwargs, match", [
    ((None, _X, _Y), {}, r"model must be a compiled keras.Model.*NoneType"),
    (("model.h5", _X, _Y), {}, r"model must be a compiled keras.Model.*str"),
    ((_build, None, _Y), {}, r"x is None: pass"),
    ((_build, "x_train.npy", _Y), {}, r"x is a string.*NumPy array"),
    ((_build, _X, None), {}, r"y is missing: pass labels"),
    ((_build, _X, "labels"), {}, r"y is a string"),
    ((_build, _X[:0], _Y[:0]), {}, r"x is empty.*nothing to train on"),
    ((_build, np.where(_X > 0.99, np.nan, _X), _Y), {}, r"x contain \d+ NaN or infinite"),
    ((_build, _X[:, :, :, 0, None, None], _Y), {}, r"x has examples of shape \(12, 12, 1, 1\).*Reshape"),
    ((_build, _X[..., 0], _Y), {}, r"x holds images of shape \(12, 12\).*channel axis"),
    ((_build, _X, _Y + 4), {}, r"y has class ids from 4 to 7.*4 output units"),
    ((_build, _X, _Y - 1), {}, r"y has class ids from -1.*cannot be negative"),
    ((_build, _X, _Y[:10]), {}, r"x has 64 examples but y has 10"),
    ((_build, _X, _Y), {"batch_size": 0}, r"batch_size=0: give a whole number >= 1"),
    ((_build, _X, _Y), {"epochs": "3"}, r"epochs='3': give a whole number"),
    ((_build, _X, _Y), {"validation_split": 1.5}, r"validation_split=1.5: give a fraction"),
    ((_build, _X, _Y), {"sample_weight": -np.ones(64)}, r"sample_weight holds negative weights"),
    ((_build, _X, _Y), {"sample_weight": np.ones(64), "class_weight": {0: 2.0}}, r"class_weight or sample_weight"),
    ((_build, _X, _Y), {"class_weight": [1, 2]}, r"class_weight=\[1, 2\]: give a dict"),
    ((_build, _X, _Y), {"steps_per_epoch": 5}, r"steps_per_epoch=5, but 64 examples make only 2 full batches"),
    ((_build, _X, _Y), {"validation_data": (_X, _Y[:3])}, r"validation_data\[0\] has 64 examples but validation_data\[1\] has 3"),
])
def test_bad_input_names_the_argument_and_says_what_to_do(args, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        train.fit(*args, verbose=0, **kwargs)
    assert "tensorflow" not in str(info.value).lower()
    tb = info.traceback
    assert "site-packages" not in str(tb[-1].path), "the error must come from coursekit, not from deep inside TF"


def test_a_recompiled_model_is_not_trained_with_the_old_step():
    x, y = _data()
    model = _build()
    train.fit(model, x, y, epochs=1, seed=0, verbose=0)
    model.compile(keras.optimizers.SGD(0.0), "sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    train.fit(model, x, y, epochs=1, seed=0, verbose=0)  # learning rate 0: nothing may change
    assert all(np.array_equal(u, v) for u, v in zip(before, model.get_weights()))


class SubclassedNet(keras.Model):
    def __init__(self):
        super().__init__()
        self.flat = keras.layers.Flatten()
        self.drop = keras.layers.Dropout(0.3)
        self.out = keras.layers.Dense(4, activation="softmax")

    def call(self, x, training=False):
        return self.out(self.drop(self.flat(x), training=training))


def test_subclassed_model_trains_and_its_labels_are_checked_once_built():
    x, y = _data(64)
    model = SubclassedNet()
    model.compile("adam", "sparse_categorical_crossentropy")
    h = train.fit(model, x, y, epochs=2, seed=0, verbose=0)  # unbuilt: Keras builds it
    assert len(h.history["loss"]) == 2 and model.built
    _fail(r"y has class ids from 4 to 7.*4 output units", model, x, y + 4)
