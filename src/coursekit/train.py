"""`fit(...)`: train a Keras model on whatever device there is, in one call.

What it adds to ``model.fit`` (each with its reason in `fit`'s docstring):

- an input pipeline in tf.data: arrays held once as tensors, a seeded shuffle per epoch, full
  batches only, augmentation in the pipeline, prefetch;
- the device: mixed precision on GPUs that gain from it, XLA where it helps, MirroredStrategy over
  several GPUs; `describe_device()` says what is used and why;
- several steps per call into the compiled step function (``steps_per_execution``);
- resumable runs (``checkpoint_dir``), early stopping and restore-best, seeds and determinism;
- a progress display that suits a notebook or a terminal;
- clear errors for the usual input mistakes, raised before any TensorFlow work.

Example::

    from coursekit import train
    train.describe_device()
    history = train.fit(model, x_train, y_train, validation_data=(x_val, y_val),
                        epochs=10, seed=0, checkpoint_dir="ckpt/mnist")
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import weakref
from typing import Any, Callable

import numpy as np

from coursekit import _pipeline
from coursekit._device import DevicePlan, make_plan

__all__ = ["fit", "describe_device"]

_STATE = "state.json"


# --------------------------------------------------------------------------- device


def describe_device(mixed_precision="auto", jit_compile="auto", strategy="auto", deterministic=False,
                    *, quiet: bool = False) -> DevicePlan:
    """Print and return what `fit` would use with these options, and why.

    The returned `DevicePlan` has the fields ``device`` (name and memory), ``precision``,
    ``xla``, ``strategy`` (a tf.distribute.Strategy) and ``deterministic``, each with a
    ``*_why`` text. ``quiet=True`` returns it without printing.
    """
    plan = make_plan(mixed_precision=mixed_precision, jit_compile=jit_compile, strategy=strategy,
                     deterministic=deterministic)
    if not quiet:
        print(plan)
    return plan


# --------------------------------------------------------------------------- validation
# Everything here reads shapes and attributes only: no TensorFlow work, so a mistake gives a
# short traceback that ends in `fit`.


def _loss_name(loss) -> str:
    if isinstance(loss, str):
        name = loss
    else:
        name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    return str(name).lower().replace("_", "")


def _fmt_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _check_compiled(model) -> None:
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise ValueError(
            "The model is not compiled. Call model.compile(...) before training, e.g. "
            "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', "
            "metrics=['accuracy']) (a build function must return a compiled model)."
        )


def _model_shapes(model):
    """(input_shape, output_shape) of a single-input, single-output model, or None where unknown."""
    try:
        in_shape = model.input_shape
        out_shape = model.output_shape
    except (AttributeError, ValueError):
        return None, None
    if not isinstance(in_shape, tuple) or (in_shape and isinstance(in_shape[0], (tuple, list))):
        in_shape = None
    if not isinstance(out_shape, tuple) or (out_shape and isinstance(out_shape[0], (tuple, list))):
        out_shape = None
    return in_shape, out_shape


def _check_x(example_shape, in_shape, what="x") -> None:
    """example_shape: the shape of one example (no batch axis)."""
    if in_shape is None or example_shape is None:
        return
    expected = tuple(in_shape[1:])
    got = tuple(example_shape)

    def same(g, e):
        return e is None or g is None or g == e

    if (len(got) == len(expected) - 1 and expected[-1] == 1
            and all(same(g, e) for g, e in zip(got, expected[:-1]))):
        raise ValueError(
            f"{what} holds images of shape {_fmt_shape(got)} but the model expects "
            f"{_fmt_shape(in_shape)}: the channel axis is missing. Add it with "
            f"{what} = {what}[..., None] (or np.expand_dims({what}, -1))."
        )
    if len(got) != len(expected) or not all(same(g, e) for g, e in zip(got, expected)):
        raise ValueError(
            f"{what} has examples of shape {_fmt_shape(got)} but the model's input is "
            f"{_fmt_shape(in_shape)} (None is the batch axis). Reshape or resize {what}, or change "
            "the model's Input shape."
        )


def _check_labels(y_example_shape, y_values, model, out_shape, what="y") -> None:
    """Sparse vs one-hot labels against the loss, and class ids against the output units."""
    if out_shape is None or y_example_shape is None:
        return
    loss = getattr(model, "loss", None)
    if loss is None or isinstance(loss, (list, tuple, dict)):
        return
    name = _loss_name(loss)
    units = out_shape[-1]
    if units is None:
        return
    ys = tuple(y_example_shape)
    out_rank = len(out_shape) - 1  # per example: 1 for a classifier, 3 for per-pixel classes
    # class ids have one axis fewer than the output (or a trailing 1); one-hot rows as many
    class_ids = len(ys) == out_rank - 1 or (len(ys) == out_rank and ys[-1] == 1 and units != 1)
    one_hot = len(ys) == out_rank and not class_ids
    if "sparsecategorical" in name:
        if one_hot and ys[-1] == units and units > 1:
            raise ValueError(
                f"{what} looks one-hot (each label has shape {_fmt_shape(ys)}) but the loss is "
                "sparse_categorical_crossentropy, which wants integer class ids, one per example. "
                f"Either compile with loss='categorical_crossentropy', or pass {what}.argmax(axis=-1)."
            )
        if class_ids and y_values is not None and y_values.size:
            if not np.issubdtype(y_values.dtype, np.number):
                raise ValueError(f"{what} has dtype {y_values.dtype}; class ids must be integers 0..{units - 1}.")
            lo, hi = int(np.min(y_values)), int(np.max(y_values))
            if lo < 0 or hi >= units:
                raise ValueError(
                    f"{what} has class ids from {lo} to {hi}, but the model's last layer has {units} "
                    f"output unit{'s' if units != 1 else ''} (class ids 0..{units - 1}). "
                    + (f"Give the last layer {hi + 1} units, e.g. keras.layers.Dense({hi + 1}), "
                       "or check the labels." if lo >= 0 else "Class ids cannot be negative: check the labels.")
                )
    elif "categorical" in name and "sparse" not in name:
        if class_ids and units > 1:
            raise ValueError(
                f"{what} holds class ids (one integer per example) but the loss is "
                "categorical_crossentropy, which wants one-hot rows of length "
                f"{units}. Either compile with loss='sparse_categorical_crossentropy', or pass "
                f"keras.utils.to_categorical({what}, {units})."
            )
        if one_hot and ys[-1] != units:
            raise ValueError(
                f"{what} has one-hot rows of length {ys[-1]}, but the model's last layer has {units} "
                f"output units. Make them agree, e.g. keras.layers.Dense({ys[-1]})."
            )


def _is_dataset(obj) -> bool:
    # Checked by name so that validation does not need TensorFlow imported.
    return any(c.__name__ == "DatasetV2" for c in type(obj).__mro__)


def _check_arrays(x, y, what=("x", "y")):
    xs = x if not isinstance(x, dict) else list(x.values())
    first = xs[0] if isinstance(xs, (list, tuple)) else xs
    if y is None:
        raise ValueError(
            f"{what[1]} is missing: pass labels as {what[1]}, or give {what[0]} as a tf.data.Dataset "
            "of (inputs, labels) pairs."
        )
    if len(first) != len(y):
        raise ValueError(
            f"{what[0]} has {len(first)} examples but {what[1]} has {len(y)}: they must have the "
            f"same length (one label per example). Check that {what[0]} and {what[1]} come from the "
            "same split and were not filtered separately."
        )
    return len(first)


def _validate_data(model, x, y, which=("x", "y")):
    """Check one (x, y) pair of arrays or a dataset against `model` (None: shapes only)."""
    if _is_dataset(x):
        if y is not None:
            raise ValueError(f"{which[0]} is a tf.data.Dataset, so {which[1]} must be None: "
                             "the dataset already yields (inputs, labels) pairs.")
        return
    x_arr = x if isinstance(x, (dict, list, tuple)) else np.asarray(x)
    y_arr = np.asarray(y) if y is not None else None
    _check_arrays(x_arr, y_arr, which)
    if model is None:
        return
    in_shape, out_shape = _model_shapes(model)
    if isinstance(x_arr, np.ndarray):
        _check_x(x_arr.shape[1:], in_shape, which[0])
    _check_labels(y_arr.shape[1:], y_arr, model, out_shape, which[1])


def _validate_dataset_spec(model, ds, batched: bool, what="x"):
    import tensorflow as tf

    spec = ds.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise ValueError(f"The dataset {what} must yield (inputs, labels) pairs; its elements are {spec}.")
    in_shape, out_shape = _model_shapes(model)
    x_spec, y_spec = spec[0], spec[1]
    if isinstance(x_spec, tf.TensorSpec) and x_spec.shape.rank is not None:
        shape = tuple(x_spec.shape)
        _check_x(shape[1:] if batched else shape, in_shape, "the dataset's images")
    if isinstance(y_spec, tf.TensorSpec) and y_spec.shape.rank is not None:
        shape = tuple(y_spec.shape)
        _check_labels(shape[1:] if batched else shape, None, model, out_shape, "the dataset's labels")


# --------------------------------------------------------------------------- model placement


@contextlib.contextmanager
def _dtype_policy(name: str):
    """Set the global Keras dtype policy while layers are built, then put it back."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _placement(plan: DevicePlan):
    stack = contextlib.ExitStack()
    stack.enter_context(_dtype_policy(plan.precision))
    if plan.distributed:
        stack.enter_context(plan.strategy.scope())
    return stack


def _fresh(obj):
    """A stateless copy of a Keras optimizer or metric (strings and functions pass through)."""
    import keras

    if isinstance(obj, keras.optimizers.LossScaleOptimizer):
        obj = obj.inner_optimizer
    if isinstance(obj, (keras.optimizers.Optimizer, keras.metrics.Metric)):
        return type(obj).from_config(obj.get_config())
    if isinstance(obj, (list, tuple)):
        return type(obj)(_fresh(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _fresh(v) for k, v in obj.items()}
    return obj


def _compile_like(new, old) -> None:
    """Compile `new` with `old`'s loss, metrics and a fresh optimizer of the same configuration."""
    config = dict(getattr(old, "_compile_config").config)
    config["optimizer"] = _fresh(old.optimizer)
    for key in ("metrics", "weighted_metrics"):
        config[key] = _fresh(config.get(key))
    new.compile(**config)


def _float32_outputs(model):
    """Under mixed precision the outputs must be float32 (a float16 softmax and loss lose
    precision and can overflow). If they are not, wrap the model with a float32 identity on each
    output; the wrapper shares the model's layers, so training it trains them."""
    import keras

    outputs = model.outputs
    if all(str(o.dtype) == "float32" for o in outputs):
        return model
    new_outs = [keras.layers.Activation("linear", dtype="float32", name=f"float32_output_{i}")(o)
                for i, o in enumerate(outputs)]
    wrapper = keras.Model(model.inputs, new_outs if len(new_outs) > 1 else new_outs[0], name=model.name)
    if model.compiled:
        _compile_like(wrapper, model)
    return wrapper


def _clone_for(model, plan: DevicePlan):
    """A copy of a built model, with the plan's precision, made under the plan's strategy."""
    import keras

    def relayer(layer):
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer) and _policy_name(layer) == "float32":
            config["dtype"] = plan.precision
        return type(layer).from_config(config)

    with _placement(plan):
        clone = keras.models.clone_model(model, clone_function=relayer, recursive=True)
        clone.set_weights(model.get_weights())
        _compile_like(clone, model)
        trainable = _float32_outputs(clone) if plan.precision != "float32" else clone
    return clone, trainable


# model -> {(precision, devices): (copy, trainable)}: the copies fit trained for that model
_COPIES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _policy_name(layer) -> str:
    policy = getattr(layer, "dtype_policy", None)
    return getattr(policy, "name", str(policy))


def _prepare(model_or_build, plan: DevicePlan):
    """Returns (user_model, trainable_model, clone_or_None).

    user_model is what the caller keeps; trainable_model is what Keras trains (the same object,
    a float32-output wrapper sharing its layers, or one around a copy placed for the
    strategy/precision); when there is a copy, its weights go back into user_model afterwards."""
    import keras

    if isinstance(model_or_build, keras.Model):
        model = model_or_build
        _check_compiled(model)
        wants_mixed = plan.precision != "float32" and _policy_name(model) == "float32"
        if not (plan.distributed or wants_mixed):
            return model, model, None
        if not model.built:
            raise ValueError("This model is not built yet, so it cannot be copied onto the device plan: "
                             "give it a keras.Input(shape=...) first, or pass a function that builds it.")
        key = (plan.precision, tuple(plan.strategy.extended.worker_devices) if plan.distributed else None)
        copies = _COPIES.setdefault(model, {})
        if key not in copies:  # kept, so that later calls reuse its compiled step
            copies[key] = _clone_for(model, plan)
        clone, trainable = copies[key]
        clone.set_weights(model.get_weights())  # the caller may have changed them since
        return model, trainable, clone
    if not callable(model_or_build):
        raise TypeError(f"model must be a keras.Model or a function that returns a compiled one, not "
                        f"{type(model_or_build).__name__}.")
    with _placement(plan):
        model = model_or_build()
        if not isinstance(model, keras.Model):
            raise TypeError(f"The build function returned {type(model).__name__}, not a compiled keras.Model.")
        _check_compiled(model)
        trainable = _float32_outputs(model) if plan.precision != "float32" else model
    # The caller gets what was trained: with mixed precision, the model with float32 outputs.
    return trainable, trainable, None


# --------------------------------------------------------------------------- checkpoints


def _read_state(directory):
    if not directory:
        return None
    path = os.path.join(directory, _STATE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _write_json_atomic(path, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _make_resume_callback(keras):
    class Resume(keras.callbacks.Callback):
        """Saves weights + optimizer state, the epoch counter, the whole history and the early
        stopping state at every epoch end, so an interrupted run carries on where it stopped.

        Why not keras.callbacks.BackupAndRestore? It keeps no history, and it restores the epoch
        only inside fit(), too late for an input stream that must start at that epoch. This is
        the same mechanism (model.save_weights, which includes the optimizer), plus a state file
        written atomically after the weights it names, so a crash between files cannot pair one
        epoch's weights with another's counter."""

        def __init__(self, directory, state, early):
            super().__init__()
            self.directory = directory
            self.state = state
            self.early = early

        def on_train_begin(self, logs=None):
            es = self.state.get("early_stopping")
            if self.early is not None and es:
                # EarlyStopping.on_train_begin (run just before) reset these: put them back.
                for key in ("wait", "best", "best_epoch", "stopped_epoch"):
                    setattr(self.early, key, es[key])
                best = es.get("best_weights")
                if best:
                    with np.load(os.path.join(self.directory, best)) as npz:
                        self.early.best_weights = [npz[f"w{i}"] for i in range(len(npz.files))]

        def _save_weights(self, prefix, epoch):
            name = f"{prefix}-{epoch}.weights.h5"
            self.model.save_weights(os.path.join(self.directory, name), overwrite=True)
            return name

        def _commit(self, **changes):
            old = {k: self.state.get(k) for k in ("weights", "final_weights")}
            old_best = (self.state.get("early_stopping") or {}).get("best_weights")
            self.state.update(changes)
            _write_json_atomic(os.path.join(self.directory, _STATE), self.state)
            keep = {self.state.get("weights"), self.state.get("final_weights"),
                    (self.state.get("early_stopping") or {}).get("best_weights")}
            for name in [*old.values(), old_best]:
                if name and name not in keep:
                    with contextlib.suppress(OSError):
                        os.remove(os.path.join(self.directory, name))

        def on_epoch_end(self, epoch, logs=None):
            history = self.state.setdefault("history", {})
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            changes = {"epoch": epoch + 1, "history": history, "weights": self._save_weights("epoch", epoch + 1),
                       "finished": False}
            if self.early is not None:
                es = dict(self.state.get("early_stopping") or {})
                best_name = es.get("best_weights")
                if self.early.best_weights is not None and self.early.best_epoch != es.get("best_epoch"):
                    best_name = f"best-{epoch + 1}.npz"
                    np.savez(os.path.join(self.directory, best_name),
                             **{f"w{i}": w for i, w in enumerate(self.early.best_weights)})
                es.update(wait=int(self.early.wait), best=float(self.early.best),
                          best_epoch=int(self.early.best_epoch), stopped_epoch=int(self.early.stopped_epoch),
                          best_weights=best_name)
                changes["early_stopping"] = es
            self._commit(**changes)

        def on_train_end(self, logs=None):
            # Reached only when fit() returns normally: after early stopping or the last epoch.
            # The weights now may be the restored best ones; keep them apart from the epoch
            # weights, which are where a longer run would carry on from.
            self._commit(final_weights=self._save_weights("final", self.state.get("epoch", 0)),
                         finished=True, stopped_early=bool(self.model.stop_training))

    return Resume


# --------------------------------------------------------------------------- progress


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # pragma: no cover - IPython without a shell
        return False
    if ip is None:
        return False
    return ("IPKernelApp" in getattr(ip, "config", {}) or "ZMQ" in type(ip).__name__
            or type(ip).__module__.startswith("google.colab"))


def _make_epoch_line(keras):
    class EpochLine(keras.callbacks.Callback):
        """One line per epoch, updated in place at most twice a second: readable in a notebook
        and in the executed book, where a Keras progress bar leaves hundreds of lines."""

        def __init__(self, epochs, interval=0.5):
            super().__init__()
            self.epochs = epochs
            self.interval = interval

        def _text(self, epoch, done, logs, final):
            steps = self.params.get("steps") or 0
            parts = [f"Epoch {epoch + 1}/{self.epochs}"]
            if not final and steps:
                filled = int(20 * min(done, steps) / steps)
                parts.append(f"[{'=' * filled}{'.' * (20 - filled)}] {min(done, steps)}/{steps}")
            parts.append(f"{time.perf_counter() - self.t0:.1f}s")
            parts += [f"{k} {v:.4g}" for k, v in (logs or {}).items() if isinstance(v, (int, float))]
            return "  ".join(parts)

        def on_epoch_begin(self, epoch, logs=None):
            from IPython.display import Pretty, display

            self.t0 = self.last = time.perf_counter()
            self.epoch = epoch
            self.handle = display(Pretty(self._text(epoch, 0, None, False)), display_id=True)

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            if now - self.last >= self.interval:
                from IPython.display import Pretty

                self.last = now
                self.handle.update(Pretty(self._text(self.epoch, batch + 1, logs, False)))

        def on_epoch_end(self, epoch, logs=None):
            from IPython.display import Pretty

            self.handle.update(Pretty(self._text(epoch, 0, {k: float(v) for k, v in (logs or {}).items()}, True)))

    return EpochLine


def _progress(verbose, epochs, keras):
    """(keras_verbose, extra_callbacks) for verbose='auto' | 0 | 1 | 2."""
    if verbose == "auto":
        if _in_notebook():
            return 0, [_make_epoch_line(keras)(epochs)]
        return (1 if sys.stdout.isatty() else 2), []
    return int(verbose), []


# --------------------------------------------------------------------------- fit


def _auto_steps_per_execution(steps: int, limit: int = 32) -> int:
    """The largest divisor of steps_per_epoch up to `limit`, so that an execution never spans two
    epochs (which would shift every later epoch's batches and break exact resumption)."""
    return max(d for d in range(1, min(limit, steps) + 1) if steps % d == 0)


def fit(
    model: Any,
    x: Any,
    y: Any = None,
    *,
    validation_data: Any = None,
    epochs: int = 1,
    batch_size: int = 32,
    seed: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    callbacks: list | None = None,
    augment: Callable | list | None = None,
    shuffle: bool = True,
    early_stopping: int | None = None,
    restore_best: bool = False,
    monitor: str = "auto",
    deterministic: bool = False,
    mixed_precision: str | bool = "auto",
    jit_compile: str | bool = "auto",
    strategy: Any = "auto",
    steps_per_execution: int | str = "auto",
    cache: bool | str = True,
    verbose: int | str = "auto",
):
    """Train `model` on (x, y) with the best setup this machine allows; return a Keras History.

    Args:
        model: a compiled ``keras.Model``, or a function with no arguments that builds and
            compiles one. Prefer the function when a GPU is used: mixed precision must be the
            global dtype policy *before* layers are built, and with several GPUs the variables
            must be created inside ``strategy.scope()``; fit calls the function under both.
            Given a built model instead, fit copies it (``keras.models.clone_model`` under the
            policy and the scope, same weights, a fresh optimizer of the same configuration),
            trains the copy, and writes the trained weights back into your model. On a plain
            CPU or a single GPU in float32 your model itself is trained.
            Either way ``history.model`` is the trained model: yours, or the one your
            function built (under mixed precision, wrapped so that its outputs are float32). The copy is kept for the next
            call with the same model (its weights refreshed from yours), so that call needs no
            new compilation; like ``model.fit``, it continues with the same optimizer state.
        x, y: NumPy arrays (x of shape (N, ...) and y of N labels), or x a ``tf.data.Dataset``
            of (inputs, labels) examples (then y is None). A dataset that already yields batches
            (its inputs have the model's rank) is used as it is, only prefetched.
        validation_data: (x_val, y_val) arrays or a dataset; evaluated after every epoch.
        epochs, batch_size: as in ``model.fit``. batch_size is the global batch: with a
            MirroredStrategy over k GPUs each takes batch_size / k.
        seed: makes the run repeatable: it seeds Python, NumPy and TensorFlow
            (``keras.utils.set_random_seed``) before a build function runs, and fixes every
            epoch's shuffle order. Two CPU runs with one seed end with identical weights.
        checkpoint_dir: makes the run resumable. After every epoch fit saves the weights,
            optimizer state, epoch counter, history and early-stopping state there. Calling
            fit again with the same directory (e.g. after a Colab disconnect) loads them and
            carries on from the last finished epoch, with the same batches an uninterrupted run
            would have seen; the returned history covers all epochs. A finished run is not
            repeated: fit loads its weights and returns its history (raise ``epochs`` to train
            further; delete the directory to start over).
        callbacks: extra Keras callbacks, run after fit's own.
        augment: a function images -> images, a Keras preprocessing layer such as
            ``keras.layers.RandomFlip("horizontal")``, or a list of them. It runs on whole
            batches in the tf.data pipeline on the CPU, in parallel with training, rather than
            inside the model, so the model's step stays XLA-compilable and its saved form has
            no augmentation layers.
        shuffle: shuffle the training examples every epoch (seeded).
        early_stopping: stop after this many epochs without improvement of `monitor`.
        restore_best: end with the weights of the best epoch by `monitor`.
        monitor: the logged quantity for both; "auto" is "val_loss" with validation data, else "loss".
        deterministic: also call ``tf.config.experimental.enable_op_determinism()`` (needs a seed),
            so GPU runs repeat bit for bit too. What it costs: it stays on for the rest of the
            Python process; GPU convolutions and reductions switch to slower deterministic
            kernels (often 10-50% slower, sometimes more); ops that have no deterministic GPU
            kernel raise an error instead of running; tf.data runs parallel stages in order.
            On a CPU it changes little: CPU runs with a seed repeat already.
        mixed_precision: "auto" uses mixed_float16 on GPUs of compute capability 7.x and
            mixed_bfloat16 on 8.0 and later, float32 elsewhere; True, False, "mixed_float16" or
            "mixed_bfloat16" force it. The model's outputs are kept float32.
        jit_compile: XLA. "auto" turns it on for a single GPU and off on CPU (measured slower
            there, see benchmarks/train.py) and under tf.distribute (Keras does the same).
        strategy: "auto" (MirroredStrategy when there are several GPUs), "mirrored", None (no
            strategy) or any ``tf.distribute.Strategy``.
        steps_per_execution: training steps per call into the compiled step function; more
            steps mean less Python overhead per batch, the gain is largest for small models.
            "auto" picks the largest divisor of the steps per epoch up to 32, so that a call
            never spans two epochs (1 under a tf.distribute strategy, where Keras' multi-step
            loop fails). Callbacks then see one batch-end per call. This and the XLA setting
            stay on the model afterwards, so a second call does not compile the step again.
        cache: for a dataset of single examples: True reads it once into memory (as arrays,
            which then get the same exact per-epoch orders as arrays); a path caches it in that
            file instead; False reads it anew every epoch. Both of these shuffle through a buffer
            of up to 10,000 examples, and a resumed run gets new (seeded) orders rather than
            the ones an uninterrupted run would have had.
        verbose: "auto" shows one updating line per epoch in a notebook, a Keras progress
            bar in a terminal and one line per epoch when output goes to a file; or 0, 1, 2.

    Training batches are always full (the last, partial batch of an epoch is dropped): a
    smaller batch would have a new shape, which means a retrace and, under XLA, a recompile.
    The order changes every epoch, so a different handful of examples sits out each time.
    Validation keeps every example; its last smaller batch is compiled once, on the first
    epoch, and reused after.

    Returns:
        ``keras.callbacks.History``: ``history.history`` maps each logged name to one value per
        epoch (all epochs, including those run before a resume), ``history.model`` is the model.
    """
    # ---- arguments and data, before any TensorFlow work
    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs={epochs!r}: give a whole number >= 1.")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r}: give a whole number >= 1.")
    if deterministic and seed is None:
        raise ValueError("deterministic=True needs a seed: pass seed=0 (or any integer).")
    given_model = model if _is_keras_model(model) else None
    if given_model is not None:
        _check_compiled(given_model)
    x_is_ds = _is_dataset(x)
    if not x_is_ds:
        if not isinstance(x, (dict, list, tuple)):
            x = _pipeline.as_float32(x)
        if y is not None:
            y = np.asarray(y)
    _validate_data(given_model, x, y)
    val = None
    if validation_data is not None:
        if _is_dataset(validation_data):
            val = (validation_data, None)
        elif isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
            xv, yv = validation_data
            val = (xv if isinstance(xv, (dict, list, tuple)) else _pipeline.as_float32(xv), np.asarray(yv))
        else:
            raise ValueError("validation_data must be a pair (x_val, y_val) of arrays or a tf.data.Dataset.")
        _validate_data(given_model, *val, which=("validation_data[0]", "validation_data[1]"))
    if not x_is_ds:
        n = len(next(iter(x.values())) if isinstance(x, dict) else x[0] if isinstance(x, (list, tuple)) else x)
        if n < batch_size:
            raise ValueError(
                f"batch_size={batch_size} is larger than the {n} training examples; training uses "
                f"full batches only, so there would be none. Use batch_size <= {n}."
            )
    state = _read_state(checkpoint_dir)

    # ---- device, seeds, model
    import keras
    import tensorflow as tf

    plan = make_plan(mixed_precision=mixed_precision, jit_compile=jit_compile, strategy=strategy,
                     deterministic=deterministic)
    if seed is None and state and state.get("seed") is not None:
        seed = state["seed"]  # a resumed run keeps its shuffle order
    if seed is not None:
        keras.utils.set_random_seed(int(seed))
        shuffle_seed = int(seed)
    else:
        shuffle_seed = int(np.random.SeedSequence().entropy % (2**31))
    if deterministic:
        tf.config.experimental.enable_op_determinism()

    user_model, trainable, source = _prepare(model, plan)
    if given_model is None:  # a build function: check what it built
        _validate_data(user_model, x, y)
        if val is not None:
            _validate_data(user_model, *val, which=("validation_data[0]", "validation_data[1]"))
    in_shape, _ = _model_shapes(user_model)
    input_rank = len(in_shape) if in_shape is not None else None

    # ---- resume
    initial_epoch = 0
    if state:
        initial_epoch = int(state.get("epoch", 0))
        done = state.get("finished") and (state.get("stopped_early") or initial_epoch >= epochs)
        name = state.get("final_weights") if done else state.get("weights")
        if name:
            if trainable.optimizer is not None and not trainable.optimizer.built:
                trainable.optimizer.build(trainable.trainable_variables)
            try:
                trainable.load_weights(os.path.join(checkpoint_dir, name))
            except Exception as err:
                raise ValueError(
                    f"The checkpoint in {checkpoint_dir!r} does not fit this model ({err}). "
                    "Use a new checkpoint_dir for a changed model, or delete the old one."
                ) from err
        if done or initial_epoch >= epochs:
            if source is not None:
                user_model.set_weights(source.get_weights())
            if verbose != 0:
                print(f"coursekit.train: {os.fspath(checkpoint_dir)!r} holds a finished run of {initial_epoch} "
                      "epochs: loaded its weights and history (delete the directory to train again, or "
                      "raise epochs to train on).", flush=True)
            return _history(keras, user_model, state.get("history", {}), epochs=initial_epoch)
        if verbose != 0 and initial_epoch:
            print(f"coursekit.train: resuming from {os.fspath(checkpoint_dir)!r} after epoch {initial_epoch}.",
                  flush=True)

    # ---- data
    train_arrays = None if x_is_ds else (x, y)
    train_ds = steps = None
    if x_is_ds:
        batched = _pipeline.is_batched(x, input_rank)
        _validate_dataset_spec(user_model, x, batched)
        if batched:  # the caller batched it: used as it is
            train_ds = _pipeline.with_augment(x, augment).prefetch(_pipeline.AUTOTUNE)
        elif cache is True:  # in memory: the array stream, with exact per-epoch orders
            train_arrays = _pipeline.materialize(x)
            _validate_data(user_model, *train_arrays[:2], which=("the dataset's images", "the dataset's labels"))
        else:
            train_ds, steps, n = _pipeline.dataset_stream(
                x, batch_size=batch_size, seed=shuffle_seed, initial_epoch=initial_epoch, epochs=epochs,
                shuffle=shuffle, augment=augment, cache=cache)
    if train_arrays is not None:
        train_ds, steps, n = _pipeline.array_stream(
            train_arrays, batch_size=batch_size, seed=shuffle_seed, initial_epoch=initial_epoch, epochs=epochs,
            shuffle=shuffle, augment=augment)
    if steps == 0:
        raise ValueError(f"batch_size={batch_size} is larger than the {n} training examples; training uses "
                         f"full batches only, so there would be none. Use batch_size <= {n}.")
    val_ds = None
    if val is not None:
        if val[1] is None:
            vbatched = _pipeline.is_batched(val[0], input_rank)
            _validate_dataset_spec(user_model, val[0], vbatched, "validation_data")
            if not vbatched and cache is True:
                val = _pipeline.materialize(val[0])
            else:
                val_ds = _pipeline.dataset_eval(val[0], batch_size=batch_size, batched=vbatched, cache=cache)
        if val_ds is None:
            val_ds = _pipeline.array_eval(val, batch_size=batch_size)

    # ---- compiled-step settings. They stay on the model, so the next call (or a later
    # model.fit) reuses the compiled step instead of tracing it again.
    if steps_per_execution == "auto":
        # Keras' multi-step loop fails on a distributed iterator (TF 2.21 / Keras 3.15), so one
        # step per call under a strategy.
        spe = _auto_steps_per_execution(steps) if steps and not plan.distributed else 1
    else:
        spe = int(steps_per_execution)
    if trainable.jit_compile != plan.xla or trainable.steps_per_execution != spe:
        trainable.jit_compile = plan.xla
        trainable.steps_per_execution = spe
        trainable.train_function = trainable.test_function = trainable.predict_function = None

    # ---- callbacks
    prior = {k: list(v) for k, v in ((state or {}).get("history") or {}).items()}
    mon = monitor if monitor != "auto" else ("val_loss" if val is not None else "loss")
    early = None
    if early_stopping or restore_best:
        patience = int(early_stopping) if early_stopping else epochs + 1
        early = keras.callbacks.EarlyStopping(monitor=mon, patience=patience, restore_best_weights=restore_best)
    keras_verbose, shown = _progress(verbose, epochs, keras)
    own = [early] if early is not None else []
    if checkpoint_dir:
        os.makedirs(checkpoint_dir, exist_ok=True)
        st = state or {}
        st["seed"] = shuffle_seed
        own.append(_make_resume_callback(keras)(os.fspath(checkpoint_dir), st, early))
    all_callbacks = own + shown + list(callbacks or [])
    if verbose != 0:
        print(f"coursekit.train: {plan.device}; {plan.precision}; XLA {'on' if plan.xla else 'off'}; "
              f"{plan.n_replicas} replica{'s' if plan.n_replicas != 1 else ''}", flush=True)

    try:
        history = trainable.fit(
            train_ds, epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps,
            validation_data=val_ds, callbacks=all_callbacks, verbose=keras_verbose,
            shuffle=False,  # the stream is already shuffled, per epoch and seeded
        )
    finally:
        if source is not None:  # trained a copy: the caller's model gets its weights
            user_model.set_weights(source.get_weights())

    # ---- one history over all epochs
    merged = prior
    for key, values in history.history.items():
        merged.setdefault(key, []).extend(float(v) for v in values)
    return _history(keras, user_model, merged, epochs=initial_epoch + len(history.epoch))


def _is_keras_model(obj) -> bool:
    return any(c.__name__ == "Model" and c.__module__.startswith("keras") for c in type(obj).__mro__)


def _history(keras, model, values: dict, epochs: int):
    history = keras.callbacks.History()
    history.set_model(model)
    history.history = {k: list(v) for k, v in values.items()}
    history.epoch = list(range(epochs))
    history.params = {"epochs": epochs}
    return history
