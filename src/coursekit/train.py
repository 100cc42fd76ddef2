"""`fit(...)`: train a Keras model on whatever device there is, in one call.

`fit` takes ``model.fit``'s arguments, in its order, and adds (each with its reason in
`fit`'s docstring):

- an input pipeline in tf.data: arrays held once as tensors, a seeded shuffle per epoch, full
  batches only, augmentation in the pipeline, prefetch;
- the device: mixed precision on GPUs that gain from it, XLA where it helps, MirroredStrategy over
  several GPUs; `describe_device()` says what is used and why;
- several steps per call into the compiled step function (``steps_per_execution``);
- resumable runs (``checkpoint_dir``) that equal uninterrupted ones bit for bit on a CPU, early
  stopping and restore-best, seeds and determinism;
- a progress display that suits a notebook or a terminal;
- clear errors for the usual input mistakes, raised before any TensorFlow work.

How one call reads: the arguments are validated and normalized once into a
`coursekit._fit_data.FitData`; the device plan is made and the model placed on it; the data
are checked against the model; a checkpoint, if any, is restored (`_Run`); the input pipeline
is built from the FitData (`coursekit._pipeline`); Keras trains under fit's compiled-step
settings (`_step_settings`), which are then put back.

Example::

    from coursekit import train
    train.describe_device()
    history = train.fit(model, x_train, y_train, 128, 10, validation_split=0.1,
                        seed=0, checkpoint_dir="ckpt/mnist")
"""

from __future__ import annotations

import contextlib
import logging
import os
import weakref
from typing import Any, Callable

import numpy as np

from coursekit import _fit_data, _pipeline, _progress, _resume
from coursekit._device import DevicePlan, make_plan

__all__ = ["fit", "describe_device"]

# --------------------------------------------------------------------------- device


def describe_device(mixed_precision="auto", jit_compile="auto", strategy="auto", deterministic=False,
                    *, quiet: bool = False) -> DevicePlan:
    """Print and return what `fit` would use with these options, and why.

    Parameters
    ----------
    mixed_precision, jit_compile, strategy, deterministic
        As in `fit` (defaults "auto", "auto", "auto", False).
    quiet : bool, default False
        Return the plan without printing it.

    Returns
    -------
    DevicePlan
        Fields ``device`` (name and memory), ``precision`` ("float32", "mixed_float16" or
        "mixed_bfloat16"), ``xla`` (bool), ``strategy`` (a tf.distribute.Strategy),
        ``n_replicas`` and ``deterministic``, each decision with a ``*_why`` text.

    Examples
    --------
    >>> from coursekit import train
    >>> plan = train.describe_device(quiet=True)
    >>> plan.precision                # on a CPU       # doctest: +SKIP
    'float32'
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
        _fit_data.check_compiled(model)
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
        _fit_data.check_compiled(model)
        trainable = _float32_outputs(model) if plan.precision != "float32" else model
    # The caller gets what was trained: with mixed precision, the model with float32 outputs.
    return trainable, trainable, None


# --------------------------------------------------------------------------- compiled-step settings

# model -> {(steps_per_execution, jit_compile): (compile state, train_function, test_function)}
_STEPS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_STEP_ATTRIBUTES = ("steps_per_execution", "_jit_compile", "train_function", "test_function", "predict_function")


@contextlib.contextmanager
def _step_settings(model, steps_per_execution: int, xla: bool):
    """Train with these settings, then give the model back its own, so that a later plain
    ``model.fit`` behaves as before (e.g. calls batch callbacks after every batch). The step
    functions compiled for fit's settings are kept aside for fit's next call with this model,
    which then needs no new trace."""
    saved = {name: getattr(model, name) for name in _STEP_ATTRIBUTES}
    ours = _STEPS.setdefault(model, {})
    model.steps_per_execution = steps_per_execution
    model.jit_compile = xla
    key = (steps_per_execution, model._jit_compile)
    compiled, train_function, test_function = ours.get(key, (None, None, None))
    if compiled is not None and all(a is b for a, b in zip(compiled, _compile_state(model))):
        model.train_function, model.test_function = train_function, test_function
    else:  # first call, or the model was compiled again since: trace anew
        model.train_function = model.test_function = None
    model.predict_function = None
    try:
        yield
    finally:
        ours[key] = (_compile_state(model), model.train_function, model.test_function)
        for name, value in saved.items():
            setattr(model, name, value)


class _RetracingAlarm(logging.Filter):
    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


@contextlib.contextmanager
def _no_false_retracing_alarm():
    """TensorFlow counts traces per Python function across models, so a few fits of fresh models
    in a loop (a sweep) read to it as "excessive retracing". Each fit traces its own model once."""
    logger, alarm = logging.getLogger("tensorflow"), _RetracingAlarm()
    logger.addFilter(alarm)
    try:
        yield
    finally:
        logger.removeFilter(alarm)


def _compile_state(model) -> tuple:
    """The objects a compiled step closes over; a new ``model.compile`` replaces them."""
    return (model.optimizer, getattr(model, "_compile_loss", None), getattr(model, "_compile_metrics", None))


def _auto_steps_per_execution(steps: int | None, distributed: bool, limit: int = 32) -> int:
    """The largest divisor of steps_per_epoch up to `limit`, so that an execution never spans two
    epochs (which would shift every later epoch's batches and break exact resumption). One step
    per call under a strategy, where Keras' multi-step loop fails (TF 2.21 / Keras 3.15), and for a
    dataset of batches, whose length fit does not know."""
    if not steps or distributed:
        return 1
    return max(d for d in range(1, min(limit, steps) + 1) if steps % d == 0)


# --------------------------------------------------------------------------- fit


def fit(
    model: Any,
    x: Any = None,
    y: Any = None,
    batch_size: int | None = None,
    epochs: int = 1,
    verbose: int | str = "auto",
    callbacks: list | None = None,
    validation_split: float = 0.0,
    validation_data: Any = None,
    shuffle: bool = True,
    class_weight: dict | None = None,
    sample_weight: Any = None,
    initial_epoch: int = 0,
    steps_per_epoch: int | None = None,
    validation_steps: int | None = None,
    validation_batch_size: int | None = None,
    validation_freq: int = 1,
    *,
    seed: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    augment: Callable | list | None = None,
    early_stopping: int | None = None,
    restore_best: bool = False,
    monitor: str = "auto",
    deterministic: bool = False,
    mixed_precision: str | bool = "auto",
    jit_compile: str | bool = "auto",
    strategy: Any = "auto",
    steps_per_execution: int | str = "auto",
    cache: bool | str = True,
):
    """Train `model` like ``model.fit``, with the best setup this machine allows.

    The arguments up to ``validation_freq`` are ``model.fit``'s, in its order and with its
    meaning; the ones after ``*`` are coursekit's own. It returns a Keras ``History``.

    Parameters
    ----------
    model : keras.Model or callable
        A compiled ``keras.Model`` (Sequential, functional with one or several inputs and
        outputs, or subclassed and built), or a function with no arguments that builds and
        compiles one. Prefer the function when a GPU is used: mixed precision must be the
        global dtype policy *before* layers are built, and with several GPUs the variables
        must be created inside ``strategy.scope()``; fit calls the function under both.
        Given a built model instead, fit trains your model itself on a CPU or a single GPU in
        float32; otherwise it trains a copy (``keras.models.clone_model`` under the policy and
        the scope, same weights, a fresh optimizer of the same configuration) and writes the
        trained weights back into your model. The copy is kept for the next call with the same
        model, which then needs no new compilation.
    x : numpy.ndarray, tuple or dict of arrays, or tf.data.Dataset
        The inputs, shape ``(N, ...)`` matching the model's input (e.g. ``(N, 28, 28, 1)``
        float32 in [0, 1] for MNIST). A model with several inputs takes a list/tuple in the
        order of ``model.inputs`` or a dict keyed by input name. float64 is converted to
        float32. NaN or inf values are refused; integer or float data averaging above 1.5 (raw
        0-255 pixels) for a model without a ``Rescaling`` layer gives a warning. A dataset
        yields ``(inputs, labels)`` or ``(inputs, labels, sample_weights)`` per example (fit
        batches and shuffles it) or per batch (its first input has the model's rank; used as
        it is, only prefetched); y and sample_weight are then None.
    y : numpy.ndarray, tuple or dict of arrays
        The labels, N of them: class ids ``(N,)`` for ``sparse_categorical_crossentropy``,
        one-hot ``(N, classes)`` for ``categorical_crossentropy``, 0/1 for binary
        cross-entropy, any values for a regression loss; one array per output for a model with
        several outputs. Class ids are checked against the number of output units.
    batch_size : int, optional
        Examples per step, default 32 (as ``model.fit``). With a MirroredStrategy over k GPUs
        each takes batch_size / k. Training batches are always full: the last partial batch of
        an epoch is left out (a different one each epoch when shuffling), because a smaller
        batch has a new shape, which costs a retrace and, under XLA, a recompile.
    epochs : int, default 1
        The epoch to end with (so ``epochs - initial_epoch`` epochs run, as in ``model.fit``).
    verbose : "auto", 0, 1 or 2, default "auto"
        "auto" shows one updating line per epoch in a notebook, a Keras progress bar in a
        terminal and one line per epoch when output goes to a file.
    callbacks : list of keras.callbacks.Callback, optional
        Run after fit's own (checkpointing, early stopping, progress). They see one batch end
        per ``steps_per_execution`` steps during fit only: afterwards the model's own setting
        is back in place.
    validation_split : float, default 0.0
        Fraction in [0, 1) of the examples held out for validation: the *last* ones, before any
        shuffling, as ``model.fit`` does. Arrays only.
    validation_data : tuple or tf.data.Dataset, optional
        ``(x_val, y_val)`` or ``(x_val, y_val, sample_weight_val)`` arrays, checked like x and
        y, or a dataset; evaluated after every epoch (see ``validation_freq``). It takes
        precedence over ``validation_split``. Every validation example is used.
    shuffle : bool, default True
        Shuffle the training examples every epoch, in an order fixed by ``seed`` and the epoch.
    class_weight : dict, optional
        ``{class id: weight}`` multiplying each example's loss (single-output models; one-hot
        labels count as their argmax; missing classes weigh 1). Not with ``sample_weight``.
    sample_weight : numpy.ndarray, optional
        One non-negative weight per training example, shape ``(N,)``.
    initial_epoch : int, default 0
        The epoch to start at (for the history and the shuffle order). A checkpoint being
        resumed overrides it.
    steps_per_epoch : int, optional
        Batches per epoch; default: every full batch. For arrays at most ``N // batch_size``:
        each epoch takes the first ``steps_per_epoch`` batches of its own order.
    validation_steps : int, optional
        Validation batches per evaluation; default all.
    validation_batch_size : int, optional
        Default ``batch_size``.
    validation_freq : int, default 1
        Evaluate after every ``validation_freq``-th epoch.
    seed : int, optional
        Makes the run repeatable: it seeds Python, NumPy and TensorFlow
        (``keras.utils.set_random_seed``) before a build function runs, and fixes every
        epoch's shuffle order. Two CPU runs with one seed end with identical weights. Without
        one, a random seed is drawn (and recorded in a checkpoint).
    checkpoint_dir : str or os.PathLike, optional
        Makes the run resumable. After every epoch fit saves there the weights, the optimizer
        state, the states of the random-number generators (Dropout and every other layer that
        draws random numbers), the epoch counter, the history, the early-stopping state and a
        fingerprint of the data and settings. Calling fit again with the same directory (e.g.
        after a Colab disconnect) loads them and carries on from the last finished epoch: on a
        CPU the result equals an uninterrupted run bit for bit, and the returned history covers
        all epochs. A call with other data, batch size, shuffle, steps or seed stops with a
        message saying what differs. A finished run is not repeated: fit loads its weights and
        returns its history (raise ``epochs`` to train further; delete the directory to start
        over). Random draws of ``augment`` (which runs in the input pipeline) start afresh
        after a resume; random augmentation layers placed inside the model are replayed exactly.
    augment : callable, keras.layers.Layer or list of them, optional
        A function images -> images or a Keras preprocessing layer such as
        ``keras.layers.RandomFlip("horizontal")``. It runs on whole batches in the tf.data
        pipeline on the CPU, in parallel with training, rather than inside the model, so the
        model's step stays XLA-compilable and its saved form has no augmentation layers.
    early_stopping : int, optional
        Stop after this many epochs without improvement of ``monitor``.
    restore_best : bool, default False
        End with the weights of the best epoch by ``monitor``.
    monitor : str, default "auto"
        The logged quantity for both: "auto" is "val_loss" with validation data, else "loss".
    deterministic : bool, default False
        Also call ``tf.config.experimental.enable_op_determinism()`` (needs a seed), so GPU
        runs repeat bit for bit too. What it costs: it stays on for the rest of the Python
        process; GPU convolutions and reductions switch to slower deterministic kernels (often
        10-50% slower, sometimes more); ops that have no deterministic GPU kernel raise an
        error instead of running; tf.data runs parallel stages in order. On a CPU it changes
        little: CPU runs with a seed repeat already.
    mixed_precision : "auto", bool, "mixed_float16" or "mixed_bfloat16", default "auto"
        "auto" uses mixed_float16 on GPUs of compute capability 7.x and mixed_bfloat16 on 8.0
        and later, float32 elsewhere. Under a mixed policy layers keep float32 *variables* but
        compute their forward and backward passes in float16/bfloat16; the model's outputs are
        cast to float32, so the loss and the metrics are computed in float32, and with
        mixed_float16 the loss is scaled against underflow (``LossScaleOptimizer``).
    jit_compile : "auto" or bool, default "auto"
        XLA. "auto" turns it on for a single GPU and off on CPU (measured slower there, see
        benchmarks/train.py) and under tf.distribute (Keras does the same).
    strategy : "auto", "mirrored", None or tf.distribute.Strategy, default "auto"
        "auto" is a MirroredStrategy when there are several GPUs.
    steps_per_execution : int or "auto", default "auto"
        Training steps per call into the compiled step function; more steps mean less Python
        overhead per batch, the gain is largest for small models. "auto" picks the largest
        divisor of the steps per epoch up to 32, so that a call never spans two epochs (1 under
        a tf.distribute strategy). It and ``jit_compile`` hold during fit only: afterwards the
        model has its own settings back, and the compiled step is kept for the next fit call.
    cache : bool or str, default True
        For a dataset of single examples: True reads it once into memory (as arrays, which then
        get the same exact per-epoch orders as arrays); a path caches it in that file instead;
        False reads it anew every epoch. Both of these shuffle through a buffer of up to 10,000
        examples, and a resumed run gets new (seeded) orders rather than the ones an
        uninterrupted run would have had.

    Returns
    -------
    keras.callbacks.History
        ``history.history`` maps each logged name to one value per epoch (all epochs, including
        those run before a resume); ``history.model`` is the trained model.

    Raises
    ------
    ValueError
        Before any training, for data that does not fit the model or the loss, NaN/inf values,
        mismatched lengths, bad arguments, or a checkpoint written for other data or settings;
        the message names the argument and says what to do.

    Examples
    --------
    >>> from coursekit import data, train
    >>> (x, y), (x_test, y_test) = data.load("mnist")
    >>> x = x[..., None].astype("float32") / 255          # (60000, 28, 28, 1) in [0, 1]
    >>> history = train.fit(model, x, y, 128, 5, validation_split=0.1,
    ...                     seed=0, checkpoint_dir="ckpt/mnist")
    >>> history.history["val_accuracy"][-1]                # doctest: +SKIP
    """
    epochs, initial_epoch = _epochs(epochs, initial_epoch, validation_freq, deterministic, seed)
    given = _given_model(model)
    data = _fit_data.prepare(
        x, y, batch_size=batch_size, sample_weight=sample_weight, class_weight=class_weight,
        validation_split=validation_split, validation_data=validation_data,
        validation_batch_size=validation_batch_size, shuffle=shuffle, steps_per_epoch=steps_per_epoch,
        validation_steps=validation_steps)
    if given is not None:  # every mistake is reported before any TensorFlow work
        data = _fit_data.fit_model(data, given, cache=cache)
    state = _resume.read_state(checkpoint_dir)

    import keras

    plan = make_plan(mixed_precision=mixed_precision, jit_compile=jit_compile, strategy=strategy,
                     deterministic=deterministic)
    shuffle_seed = _seed_everything(seed, state, deterministic)
    user_model, trainable, source = _prepare(model, plan)
    data = _fit_data.fit_model(data, user_model, cache=cache)  # a built model is checked here

    run = _Run(checkpoint_dir, state, shuffle_seed, epochs,
               _resume.fingerprint(data, seed=shuffle_seed, augment=_name_of(augment)) if checkpoint_dir else None)
    start = run.restore(trainable, initial_epoch, verbose)
    if run.finished:
        return _already_trained(keras, run, user_model, source, start, verbose)

    train_ds, steps = _pipeline.training(data, seed=shuffle_seed, initial_epoch=start, epochs=epochs,
                                         augment=augment, cache=cache)
    val_ds = _pipeline.validation(data, cache=cache)
    spe = (_auto_steps_per_execution(steps, plan.distributed) if steps_per_execution == "auto"
           else _fit_data.whole("steps_per_execution", steps_per_execution, 1))
    all_callbacks, keras_verbose = _callbacks(
        keras, run, verbose, epochs, callbacks, early_stopping, restore_best,
        monitor if monitor != "auto" else ("val_loss" if data.val is not None else "loss"))
    if verbose != 0:
        _say_plan(plan)
    try:
        with _step_settings(trainable, spe, plan.xla), _no_false_retracing_alarm():
            history = trainable.fit(
                train_ds, epochs=epochs, initial_epoch=start, steps_per_epoch=steps,
                validation_data=val_ds, validation_freq=validation_freq, callbacks=all_callbacks,
                verbose=keras_verbose, shuffle=False)  # the stream is already shuffled, per epoch, seeded
    finally:
        if source is not None:  # trained a copy: the caller's model gets its weights
            user_model.set_weights(source.get_weights())
    merged = {k: list(v) for k, v in run.prior.items()}
    for key, values in history.history.items():
        merged.setdefault(key, []).extend(float(v) for v in values)
    return _history(keras, user_model, merged, epochs=start + len(history.epoch))


def _already_trained(keras, run, user_model, source, start, verbose):
    """The History of a run that its checkpoint says is finished: nothing to train."""
    if source is not None:
        user_model.set_weights(source.get_weights())
    run.say_finished(verbose)
    return _history(keras, user_model, run.prior, epochs=start)


def _epochs(epochs, initial_epoch, validation_freq, deterministic, seed) -> tuple[int, int]:
    """The epoch counts, checked with the other arguments that need no data or TensorFlow."""
    epochs = _fit_data.whole("epochs", epochs, 1)
    initial_epoch = _fit_data.whole("initial_epoch", initial_epoch, 0)
    if not isinstance(validation_freq, (list, tuple)):
        _fit_data.whole("validation_freq", validation_freq, 1)
    if deterministic and seed is None:
        raise ValueError("deterministic=True needs a seed: pass seed=0 (or any integer).")
    return epochs, initial_epoch


def _say_plan(plan) -> None:
    print(f"coursekit.train: {plan.device}; {plan.precision}; XLA {'on' if plan.xla else 'off'}; "
          f"{plan.n_replicas} replica{'s' if plan.n_replicas != 1 else ''}", flush=True)


def _given_model(model):
    """The model when one was given (checked to be compiled), None for a build function."""
    import keras

    if isinstance(model, keras.Model):
        _fit_data.check_compiled(model)
        return model
    if isinstance(model, keras.layers.Layer) or not callable(model):
        raise TypeError(f"model must be a compiled keras.Model or a function that builds and returns one, not "
                        f"{type(model).__name__} ({str(model)[:60]!r}).")
    return None


def _name_of(augment):
    steps = augment if isinstance(augment, (list, tuple)) else [augment] if augment is not None else []
    return [getattr(s, "name", None) or getattr(s, "__name__", None) or type(s).__name__ for s in steps]


def _seed_everything(seed, state, deterministic) -> int:
    """Seed Python, NumPy and TensorFlow; return the shuffle seed (a resumed run keeps its own)."""
    import keras
    import tensorflow as tf

    if seed is None and state and state.get("seed") is not None:
        seed = state["seed"]
    if seed is not None:
        seed = _fit_data.whole("seed", seed, 0)
        keras.utils.set_random_seed(seed)
    else:
        seed = int(np.random.SeedSequence().entropy % (2**31))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    return seed


class _Run:
    """The checkpoint of one fit call: what it holds, and where training starts."""

    def __init__(self, directory, state, seed, epochs, fingerprint):
        self.directory, self.state, self.seed, self.epochs = directory, state or {}, seed, epochs
        self.fingerprint = fingerprint
        self.prior = {k: list(v) for k, v in self.state.get("history", {}).items()}
        self.epoch = int(self.state.get("epoch", 0))
        # finished: it ran to its end (or stopped early), and asks for no more epochs than it ran
        self.finished = bool(self.state) and (self.epoch >= epochs or bool(
            self.state.get("finished") and self.state.get("stopped_early")))

    def restore(self, trainable, initial_epoch: int, verbose) -> int:
        """Load weights, optimizer and random states; the epoch to start at."""
        if not self.state:
            return initial_epoch
        _resume.check_fingerprint(self.state, self.fingerprint, self.directory)
        done = self.finished and self.state.get("finished")
        name = self.state.get("final_weights") if done else self.state.get("weights")
        if name:
            if trainable.optimizer is not None and not trainable.optimizer.built:
                trainable.optimizer.build(trainable.trainable_variables)
            try:
                trainable.load_weights(os.path.join(self.directory, name))
            except Exception as err:
                raise ValueError(
                    f"The checkpoint in {os.fspath(self.directory)!r} does not fit this model ({err}). "
                    "Use a new checkpoint_dir for a changed model, or delete the old one.") from err
            _resume.restore_rng(trainable, self.state.get("rng"))
        if verbose != 0 and self.epoch and not self.finished:
            print(f"coursekit.train: resuming from {os.fspath(self.directory)!r} after epoch {self.epoch}.",
                  flush=True)
        return self.epoch

    def say_finished(self, verbose):
        if verbose != 0:
            print(f"coursekit.train: {os.fspath(self.directory)!r} holds a finished run of {self.epoch} "
                  "epochs: loaded its weights and history (delete the directory to train again, or "
                  "raise epochs to train on).", flush=True)

    def callback(self, keras, early):
        """The callback that writes the checkpoint after every epoch, or None without a directory."""
        if not self.directory:
            return None
        os.makedirs(self.directory, exist_ok=True)
        state = dict(self.state, seed=self.seed, fingerprint=self.fingerprint)
        return _resume.resume_callback(keras)(os.fspath(self.directory), state, early)


def _callbacks(keras, run, verbose, epochs, extra, early_stopping, restore_best, monitor):
    """(callbacks, keras_verbose): fit's own (early stopping, checkpoint, progress), then the caller's."""
    early = None
    if early_stopping or restore_best:
        patience = _fit_data.whole("early_stopping", early_stopping, 1) if early_stopping else epochs + 1
        early = keras.callbacks.EarlyStopping(monitor=monitor, patience=patience, restore_best_weights=restore_best)
    keras_verbose, shown = _progress.progress(verbose, epochs, keras)
    own = [c for c in (early, run.callback(keras, early)) if c is not None]
    return own + shown + list(extra or []), keras_verbose


def _history(keras, model, values: dict, epochs: int):
    history = keras.callbacks.History()
    history.set_model(model)
    history.history = {k: list(v) for k, v in values.items()}
    history.epoch = list(range(epochs))
    history.params = {"epochs": epochs}
    return history
