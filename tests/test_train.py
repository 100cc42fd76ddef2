"""coursekit.train: resume, determinism, mixed precision, strategy, errors, progress; plot.training_curves."""

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

    x, y = _data()
    a = train.fit(_build, x, y, epochs=2, seed=5, deterministic=True, verbose=0)
    b = train.fit(_build, x, y, epochs=2, seed=5, deterministic=True, verbose=0)
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
