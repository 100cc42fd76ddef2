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
import os
import weakref
from typing import Any, Callable

import numpy as np

from coursekit import _fit_checks, _pipeline, _progress, _resume
from coursekit._device import DevicePlan, make_plan

__all__ = ["fit", "describe_device"]

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
        _fit_checks.check_compiled(model)
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
        _fit_checks.check_compiled(model)
        trainable = _float32_outputs(model) if plan.precision != "float32" else model
    # The caller gets what was trained: with mixed precision, the model with float32 outputs.
    return trainable, trainable, None


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
        _fit_checks.check_compiled(given_model)
    x_is_ds = _fit_checks.is_dataset(x)
    if not x_is_ds:
        if not isinstance(x, (dict, list, tuple)):
            x = _pipeline.as_float32(x)
        if y is not None:
            y = np.asarray(y)
    _fit_checks.validate_data(given_model, x, y)
    val = None
    if validation_data is not None:
        if _fit_checks.is_dataset(validation_data):
            val = (validation_data, None)
        elif isinstance(validation_data, (tuple, list)) and len(validation_data) == 2:
            xv, yv = validation_data
            val = (xv if isinstance(xv, (dict, list, tuple)) else _pipeline.as_float32(xv), np.asarray(yv))
        else:
            raise ValueError("validation_data must be a pair (x_val, y_val) of arrays or a tf.data.Dataset.")
        _fit_checks.validate_data(given_model, *val, which=("validation_data[0]", "validation_data[1]"))
    if not x_is_ds:
        n = len(next(iter(x.values())) if isinstance(x, dict) else x[0] if isinstance(x, (list, tuple)) else x)
        if n < batch_size:
            raise ValueError(
                f"batch_size={batch_size} is larger than the {n} training examples; training uses "
                f"full batches only, so there would be none. Use batch_size <= {n}."
            )
    state = _resume.read_state(checkpoint_dir)

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
        _fit_checks.validate_data(user_model, x, y)
        if val is not None:
            _fit_checks.validate_data(user_model, *val, which=("validation_data[0]", "validation_data[1]"))
    in_shape, _ = _fit_checks.model_shapes(user_model)
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
        _fit_checks.validate_dataset_spec(user_model, x, batched)
        if batched:  # the caller batched it: used as it is
            train_ds = _pipeline.with_augment(x, augment).prefetch(_pipeline.AUTOTUNE)
        elif cache is True:  # in memory: the array stream, with exact per-epoch orders
            train_arrays = _pipeline.materialize(x)
            _fit_checks.validate_data(user_model, *train_arrays[:2], which=("the dataset's images", "the dataset's labels"))
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
            _fit_checks.validate_dataset_spec(user_model, val[0], vbatched, "validation_data")
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
    keras_verbose, shown = _progress.progress(verbose, epochs, keras)
    own = [early] if early is not None else []
    if checkpoint_dir:
        os.makedirs(checkpoint_dir, exist_ok=True)
        st = state or {}
        st["seed"] = shuffle_seed
        own.append(_resume.resume_callback(keras)(os.fspath(checkpoint_dir), st, early))
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
