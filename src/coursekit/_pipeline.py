"""tf.data input pipelines for coursekit.train: cache, seeded shuffle, batch, augment, prefetch.

Private to coursekit.train.

The training stream over arrays (and over datasets read into memory) covers all remaining
epochs at once, ``range(initial_epoch, epochs).flat_map(one_epoch)``, and every epoch's order is a pure
function of ``(seed, epoch)``.  A run resumed at epoch k therefore sees exactly the batches that
an uninterrupted run saw from epoch k on, and Keras keeps one iterator over the whole stream
(``steps_per_epoch`` is given), so prefetching carries on across epoch boundaries.

Training batches are all full (``drop_remainder=True``): a last, smaller batch would have a new
shape, which costs a retrace and, under XLA, a recompile.  Because the order changes every epoch,
the few dropped samples differ from epoch to epoch, so no sample is left out for good.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np

AUTOTUNE = -1  # tf.data.AUTOTUNE, without importing TensorFlow at module import
SHUFFLE_BUFFER = 10_000  # for datasets too big to shuffle whole; arrays are shuffled whole


def _tree_map(fn, structure):
    import tensorflow as tf

    return tf.nest.map_structure(fn, structure)


def _augmenter(augment):
    """A function images -> images from a callable, a Keras layer, or a list of them."""
    if augment is None:
        return None
    steps = list(augment) if isinstance(augment, (list, tuple)) else [augment]
    for step in steps:
        if not callable(step):
            raise TypeError(
                f"augment={step!r} is not callable: pass a function images -> images, a Keras "
                "preprocessing layer such as keras.layers.RandomFlip('horizontal'), or a list of them."
            )

    def apply(images):
        import keras

        for step in steps:
            if isinstance(step, keras.layers.Layer):
                images = step(images, training=True)
            else:
                images = step(images)
        return images

    return apply


def with_augment(ds, augment):
    aug = _augmenter(augment)
    if aug is None:
        return ds

    def mapped(x, *rest):
        return (aug(x), *rest)

    return ds.map(mapped, num_parallel_calls=_map_calls())


def _map_calls():
    """Parallel maps, except under op determinism: tf.data then runs a map of random layers (fused
    with the gather before it) in order anyway, and its rewrite prints an alarming NodeDef error."""
    from coursekit._device import op_determinism_enabled

    return None if op_determinism_enabled() else AUTOTUNE


def _epoch_seed(seed, epoch):
    import tensorflow as tf

    return tf.stack([tf.constant(seed, tf.int64), tf.cast(epoch, tf.int64)])


def _gather(indices, arrays):
    """Batches of `arrays` (held once as tensors) at each batch of `indices`: one gather per
    batch, no per-example work, nothing copied per epoch (the trick Keras' array adapter uses)."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensors(tuple(arrays)).repeat()
    return tf.data.Dataset.zip((indices, data)).map(
        lambda i, xy: _tree_map(lambda a: tf.gather(a, i), xy), num_parallel_calls=_map_calls()
    )


def array_stream(arrays, *, batch_size, seed, initial_epoch, epochs, shuffle=True, augment=None, steps=None):
    """Training stream over in-memory arrays, e.g. (x, y) or (x, y, sample_weight): `steps`
    full batches per epoch (default: all). Returns (dataset, steps_per_epoch)."""
    import tensorflow as tf

    n = len(tf.nest.flatten(arrays)[0])
    steps = steps or n // batch_size

    def one_epoch(epoch):
        idx = tf.range(n, dtype=tf.int64)
        if shuffle:
            idx = tf.random.experimental.stateless_shuffle(idx, seed=_epoch_seed(seed, epoch))
        return tf.data.Dataset.from_tensor_slices(idx[: steps * batch_size]).batch(batch_size, drop_remainder=True)

    indices = tf.data.Dataset.range(initial_epoch, epochs).flat_map(one_epoch)
    ds = with_augment(_gather(indices, arrays), augment)
    return ds.prefetch(AUTOTUNE), steps


def array_eval(arrays, *, batch_size):
    """Evaluation batches over arrays, in order, every sample kept."""
    import tensorflow as tf

    n = len(tf.nest.flatten(arrays)[0])
    return _gather(tf.data.Dataset.range(n).batch(batch_size), arrays)


# dataset -> its examples as arrays; like ds.cache(), the cache lives as long as the dataset object
_MATERIALIZED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def materialize(ds, chunk: int = 1024):
    """The examples of a finite dataset as a tuple of NumPy structures, e.g. (x, y).

    This is the in-memory cache: after it the examples are arrays, and the array stream gives
    them a seeded per-epoch order and one gather per batch (faster than a per-example pipeline).
    As with ``ds.cache()``, the dataset is read once: later calls with the same dataset object
    reuse what was read.
    """
    try:
        return _MATERIALIZED[ds]
    except (KeyError, TypeError):
        pass
    arrays = _read_all(ds, chunk)
    with contextlib.suppress(TypeError):
        _MATERIALIZED[ds] = arrays
    return arrays


def _read_all(ds, chunk):
    import tensorflow as tf

    if int(ds.cardinality()) == int(tf.data.INFINITE_CARDINALITY):
        raise ValueError("The dataset is infinite (it repeats): pass it without .repeat(); fit repeats it per epoch.")
    parts = list(ds.batch(chunk).as_numpy_iterator())
    if not parts:
        raise ValueError("The dataset is empty.")
    first = parts[0]
    if not isinstance(first, tuple):
        first, parts = (first,), [(p,) for p in parts]
    flat = [tf.nest.flatten(p) for p in parts]
    joined = [np.concatenate([f[i] for f in flat]) for i in range(len(flat[0]))]
    return tuple(tf.nest.pack_sequence_as(first, joined))


def _count(ds) -> int:
    import tensorflow as tf

    n = int(ds.cardinality())
    if n >= 0:
        return n
    return int(ds.reduce(tf.constant(0, tf.int64), lambda c, _: c + 1))


def dataset_stream(ds, *, batch_size, seed, initial_epoch, epochs, shuffle=True, augment=None, cache=None,
                   steps=None):
    """Training stream over a dataset of single examples that is not kept in memory (optionally
    cached in a file). Returns (dataset, steps_per_epoch, n_examples).

    The order is seeded, and differs from epoch to epoch (reshuffled on every pass), but a run
    resumed at epoch k starts a new sequence of orders (seeded with k), not the one an
    uninterrupted run would have seen from epoch k on: for that, let fit keep the examples in
    memory (cache=True).
    """
    base = ds.cache(str(cache)) if cache else ds
    n = _count(base)
    if n < batch_size:
        raise ValueError(f"batch_size={batch_size} is larger than the {n} examples of the dataset x; training "
                         f"uses full batches only, so there would be none. Use batch_size <= {n}.")
    steps = min(steps or n, n // batch_size)
    stream = base
    if shuffle:
        stream = stream.shuffle(min(n, SHUFFLE_BUFFER), seed=int(seed) * 1_000_003 + int(initial_epoch) + 1,
                                reshuffle_each_iteration=True)
    stream = stream.batch(batch_size, drop_remainder=True).take(steps).repeat(epochs - initial_epoch)
    stream = with_augment(stream, augment)
    return stream.prefetch(AUTOTUNE), steps


def dataset_eval(ds, *, batch_size, batched: bool, cache=None):
    """Evaluation batches over a dataset not kept in memory; a batched dataset is used as it is."""
    if not batched:
        if cache:
            ds = ds.cache(str(cache) + ".val")
        ds = ds.batch(batch_size)
    return ds


# --------------------------------------------------------------------------- from a FitData


def training(data, *, seed, initial_epoch, epochs, augment, cache):
    """(dataset, steps_per_epoch) for `data.train` (a `coursekit._fit_data.FitData`); steps is
    None for a dataset that yields its own batches (it runs until it ends, as in model.fit)."""
    part = data.train
    if part.in_memory:
        return array_stream(part.arrays, batch_size=data.batch_size, seed=seed, initial_epoch=initial_epoch,
                            epochs=epochs, shuffle=data.shuffle, augment=augment, steps=data.steps_per_epoch)
    if part.batched:  # the caller batched it: used as it is
        return with_augment(part.dataset, augment).prefetch(AUTOTUNE), data.steps_per_epoch
    return dataset_stream(part.dataset, batch_size=data.batch_size, seed=seed, initial_epoch=initial_epoch,
                          epochs=epochs, shuffle=data.shuffle, augment=augment, cache=cache,
                          steps=data.steps_per_epoch)


def validation(data, *, cache):
    """Evaluation batches for `data.val`, or None."""
    part = data.val
    if part is None:
        return None
    if part.in_memory:
        ds = array_eval(part.arrays, batch_size=data.validation_batch_size)
    else:
        ds = dataset_eval(part.dataset, batch_size=data.validation_batch_size, batched=part.batched, cache=cache)
    if data.validation_steps is not None:
        ds = ds.take(data.validation_steps)
    return ds.prefetch(AUTOTUNE)
