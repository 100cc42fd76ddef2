"""The data of one `coursekit.train.fit` call, validated and normalized once into a `FitData`.

`prepare` reads the ``model.fit`` arguments (x, y, sample_weight, class_weight,
validation_split, validation_data, batch sizes, steps) and returns a `FitData`: arrays in
tuples, float64 turned into float32, class weights turned into sample weights, the validation
split cut off, every value checked. `fit_model` then checks it against the model (shapes,
labels, pixel scale) and reads a dataset into memory when it is to be cached. The input pipeline
(`coursekit._pipeline`) is built from the result and nothing else.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from typing import Any

import numpy as np

from coursekit import _fit_checks as checks


@dataclasses.dataclass(frozen=True)
class Examples:
    """One set of examples: in memory, or a tf.data.Dataset streamed from where it is.

    ``arrays`` is ``(x, y)`` or ``(x, y, sample_weight)``; x and y are each a NumPy array or a
    tuple/dict of them (one per model input or output). ``dataset`` is set instead when the
    examples stay in a dataset; ``batched`` says that it yields whole batches.
    """

    arrays: tuple | None = None
    dataset: Any = None
    batched: bool = False

    @property
    def n(self) -> int | None:
        if self.arrays is None:
            return None
        return len(_flat(self.arrays[0])[0])

    @property
    def in_memory(self) -> bool:
        return self.arrays is not None


@dataclasses.dataclass(frozen=True)
class FitData:
    """What the input pipeline is built from."""

    train: Examples
    val: Examples | None
    batch_size: int
    validation_batch_size: int
    shuffle: bool
    steps_per_epoch: int | None  # None: every full batch
    validation_steps: int | None  # None: all of the validation data
    class_weight: dict | None = None  # kept for a dataset read into memory later
    checked: bool = False  # against the model


def _flat(structure) -> list:
    if isinstance(structure, dict):
        return list(structure.values())
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _flat(item)]
    return [structure]


# --------------------------------------------------------------------------- arrays


def _normalize(structure, what: str):
    """x or y: arrays checked for type, emptiness and NaN/inf; lists become tuples (tf.data
    reads a list as one tensor, a tuple as one tensor per input)."""
    if isinstance(structure, dict):
        return {k: _normalize(v, f"{what}[{k!r}]") for k, v in structure.items()}
    if isinstance(structure, (list, tuple)) and structure and all(hasattr(v, "shape") for v in structure):
        return tuple(_normalize(v, f"{what}[{i}]") for i, v in enumerate(structure))
    return checks.as_array(structure, what)


def _named_leaves(structure, what):
    if isinstance(structure, dict):
        return [(f"{what}[{k!r}]", v) for k, v in structure.items()]
    if isinstance(structure, tuple):
        return [(f"{what}[{i}]", v) for i, v in enumerate(structure)]
    return [(what, structure)]


def _weights(sample_weight, what: str):
    w = checks.as_array(sample_weight, what)
    if w.ndim != 1 and not (w.ndim == 2 and w.shape[1] == 1):
        raise ValueError(f"{what} has shape {w.shape}: give one weight per example, shape (N,).")
    if np.any(w < 0):  # (NaN compares False: refused with the other values in check_model)
        raise ValueError(f"{what} holds negative weights: weights scale each example's loss and must be >= 0.")
    return w.reshape(len(w)).astype(np.float32)


def class_weights(y, class_weight: dict, what="y") -> np.ndarray:
    """One weight per example from a {class id: weight} dict, as Keras computes them (one-hot
    rows count as their argmax; classes not in the dict weigh 1)."""
    if isinstance(y, (tuple, dict)):
        raise ValueError("class_weight works for models with a single output only (as in model.fit); "
                         "for several outputs pass sample_weight instead.")
    if not isinstance(class_weight, dict) or not all(isinstance(k, (int, np.integer)) for k in class_weight):
        raise ValueError(f"class_weight={class_weight!r}: give a dict {{class id: weight}}, e.g. {{0: 1.0, 1: 5.0}}.")
    ids = y
    if ids.ndim > 1:
        ids = ids.argmax(axis=-1) if ids.shape[-1] != 1 else ids[..., 0]
    if ids.ndim != 1:
        raise ValueError("class_weight needs one class per example (as in model.fit); for per-pixel labels "
                         "pass sample_weight instead.")
    ids = np.round(ids).astype(np.int64)
    table = {int(k): float(v) for k, v in class_weight.items()}
    weights = np.ones(len(ids), np.float32)
    for cls, w in table.items():
        weights[ids == cls] = w
    return weights


def in_memory(x, y, sample_weight=None, class_weight=None, what=("x", "y", "sample_weight")) -> Examples:
    """Arrays validated and normalized into Examples."""
    if y is None:
        raise ValueError(
            f"{what[1]} is missing: pass labels as {what[1]}, or give {what[0]} as a tf.data.Dataset "
            "of (inputs, labels) pairs.")
    x = _normalize(x, what[0])
    y = _normalize(y, what[1])
    w = None if sample_weight is None else _weights(sample_weight, what[2])
    if class_weight is not None:
        if w is not None:
            raise ValueError("Pass class_weight or sample_weight, not both (as in model.fit): fold the class "
                             "weights into sample_weight.")
        w = class_weights(y, class_weight, what[1])
    leaves = _named_leaves(x, what[0]) + _named_leaves(y, what[1]) + ([(what[2], w)] if w is not None else [])
    checks.check_lengths(leaves)
    return Examples(arrays=(x, y) if w is None else (x, y, w))


def _take(structure, index):
    if isinstance(structure, dict):
        return {k: _take(v, index) for k, v in structure.items()}
    if isinstance(structure, tuple):
        return tuple(_take(v, index) for v in structure)
    return structure[index]


def split(examples: Examples, validation_split) -> tuple[Examples, Examples]:
    """The last `validation_split` of the examples held out, before any shuffling (as model.fit)."""
    n = examples.n
    at = int(math.floor(n * (1.0 - validation_split)))
    if at == 0 or at == n:
        raise ValueError(f"validation_split={validation_split} leaves no examples on one side of the "
                         f"{n} examples: use a fraction such as 0.2, or pass more data.")
    return (Examples(arrays=_take(examples.arrays, slice(0, at))),
            Examples(arrays=_take(examples.arrays, slice(at, None))))


# --------------------------------------------------------------------------- prepare


def _validation(validation_data) -> Examples:
    if checks.is_dataset(validation_data):
        return Examples(dataset=validation_data)
    if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
        return in_memory(*validation_data, what=("validation_data[0]", "validation_data[1]", "validation_data[2]"))
    raise ValueError("validation_data must be a pair (x_val, y_val) or a triple (x_val, y_val, sample_weight_val) "
                     "of arrays, or a tf.data.Dataset.")


def prepare(x, y, *, batch_size, sample_weight=None, class_weight=None, validation_split=0.0,
            validation_data=None, validation_batch_size=None, shuffle=True, steps_per_epoch=None,
            validation_steps=None) -> FitData:
    """The arguments of a fit call, validated and normalized (no TensorFlow work)."""
    batch_size = checks.whole("batch_size", 32 if batch_size is None else batch_size, 1)
    validation_batch_size = checks.whole("validation_batch_size", validation_batch_size or batch_size, 1)
    steps_per_epoch = checks.whole("steps_per_epoch", steps_per_epoch, 1, optional=True)
    validation_steps = checks.whole("validation_steps", validation_steps, 1, optional=True)
    if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
        raise ValueError(f"validation_split={validation_split!r}: give a fraction in [0, 1), e.g. 0.2.")
    if shuffle not in (True, False):
        raise ValueError(f"shuffle={shuffle!r}: give True or False.")
    if checks.is_dataset(x):
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None:
                raise ValueError(f"x is a tf.data.Dataset, so {name} must be None: the dataset already yields "
                                 "(inputs, labels) or (inputs, labels, sample_weights).")
        if validation_split:
            raise ValueError("validation_split works on arrays only (as in model.fit): for a dataset, pass "
                             "validation_data=... (e.g. ds.take(k) and ds.skip(k)).")
        train = Examples(dataset=x)
    else:
        if x is None:
            raise ValueError("x is None: pass the training inputs, a NumPy array (N, ...) or a tf.data.Dataset.")
        train = in_memory(x, y, sample_weight, class_weight)
        class_weight = None  # now in the sample weights
    val = None
    if validation_data is not None:
        val = _validation(validation_data)
    elif validation_split:
        train, val = split(train, validation_split)
    data = FitData(train=train, val=val, batch_size=batch_size, validation_batch_size=validation_batch_size,
                   shuffle=bool(shuffle), steps_per_epoch=steps_per_epoch, validation_steps=validation_steps,
                   class_weight=class_weight)
    check_batches(data)
    return data


def check_batches(data: FitData) -> None:
    n = data.train.n
    if n is None:
        return
    if n < data.batch_size:
        raise ValueError(
            f"batch_size={data.batch_size} is larger than the {n} training examples; training uses "
            f"full batches only, so there would be none. Use batch_size <= {n}.")
    full = n // data.batch_size
    if data.steps_per_epoch is not None and data.steps_per_epoch > full:
        raise ValueError(
            f"steps_per_epoch={data.steps_per_epoch}, but {n} examples make only {full} full batches of "
            f"{data.batch_size}. Use steps_per_epoch <= {full}, or None for all of them.")


# --------------------------------------------------------------------------- against the model


def check_model(data: FitData, model) -> FitData:
    """Check the in-memory arrays against the model's inputs, outputs and losses, and their
    values against coursekit's input policy (`coursekit._introspect.check_inputs`, shared with
    cam, attacks and features): NaN/inf refused everywhere, raw 0..255 inputs flagged."""
    from coursekit._introspect import check_inputs

    in_shapes, in_names, out_shapes, out_names = checks.model_io(model)
    parts = ((data.train, ("x", "y", "sample_weight")),
             (data.val, ("validation_data[0]", "validation_data[1]", "validation_data[2]")))
    for part, what in parts:
        if part is None or not part.in_memory:
            continue
        x, y = part.arrays[:2]
        if out_shapes is None:  # a subclassed model: no graph, but its output shape can be traced
            out_shapes = _traced_output_shapes(model, x)
        checks.count_matches(x, in_shapes, what[0], "input")
        checks.count_matches(y, out_shapes, what[1], "output")
        for name, arr, i in checks.leaves(x, in_names, what[0], "input"):
            checks.check_x(arr.shape[1:], in_shapes[i] if in_shapes and i is not None else None, name)
            check_inputs(model, arr, name)
        for name, arr, i in checks.leaves(y, out_names, what[1], "output"):
            check_inputs(model, arr, name, warn_range=False)
            out = out_shapes[i] if out_shapes and i is not None else None
            out_name = out_names[i] if out_names and i is not None and i < len(out_names) else None
            checks.check_labels(arr.shape[1:], arr, checks.loss_for(model, i, out_name), out, name)
        if len(part.arrays) == 3:
            check_inputs(model, part.arrays[2], what[2], warn_range=False)
    return dataclasses.replace(data, checked=True)


def _traced_output_shapes(model, x):
    """The output shapes of a built subclassed model, from a symbolic call (no weights made)."""
    import keras

    if not getattr(model, "built", False) or isinstance(x, (tuple, dict)):
        return None
    try:
        spec = model.compute_output_spec(keras.KerasTensor((None, *x.shape[1:]), dtype=str(x.dtype)))
    except Exception:  # a model that cannot be traced symbolically: Keras reports what it finds
        return None
    specs = spec if isinstance(spec, (list, tuple)) else [spec]
    return [tuple(s.shape) for s in specs] if all(hasattr(s, "shape") for s in specs) else None


def check_dataset(ds, model, batched: bool, what="x") -> None:
    """The element spec of a dataset against the model (shapes and label kind only)."""
    import tensorflow as tf

    spec = ds.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise ValueError(f"The dataset {what} must yield (inputs, labels) pairs; its elements are {spec}.")
    in_shapes, _, out_shapes, out_names = checks.model_io(model)
    x_spec, y_spec = spec[0], spec[1]
    if in_shapes and len(in_shapes) == 1 and isinstance(x_spec, tf.TensorSpec) and x_spec.shape.rank is not None:
        shape = tuple(x_spec.shape)
        checks.check_x(shape[1:] if batched else shape, in_shapes[0], "the dataset's images")
    if out_shapes and len(out_shapes) == 1 and isinstance(y_spec, tf.TensorSpec) and y_spec.shape.rank is not None:
        shape = tuple(y_spec.shape)
        checks.check_labels(shape[1:] if batched else shape, None, checks.loss_for(model, 0, None),
                            out_shapes[0], "the dataset's labels")


def is_batched(ds, model) -> bool:
    """Whether a dataset yields batches: its first input has the model's rank (batch axis included)."""
    import tensorflow as tf

    in_shapes = checks.model_io(model)[0]
    spec = ds.element_spec
    x_spec = spec[0] if isinstance(spec, tuple) else spec
    rank = tf.nest.flatten(x_spec)[0].shape.rank
    return bool(in_shapes) and rank is not None and rank == len(in_shapes[0])


def fit_model(data: FitData, model, *, cache) -> FitData:
    """`data` ready for `model`: datasets read into memory when cached (then validated as arrays
    are), everything checked against the model once."""
    from coursekit import _pipeline

    parts = {}
    for key, what in (("train", "x"), ("val", "validation_data")):
        part = getattr(data, key)
        if part is None or part.in_memory:
            continue
        batched = is_batched(part.dataset, model)
        check_dataset(part.dataset, model, batched, what)
        if not batched and cache is True:
            arrays = _pipeline.materialize(part.dataset)
            names = ("the dataset's inputs", "the dataset's labels", "the dataset's sample weights")
            part = in_memory(*arrays[:3], class_weight=data.class_weight if key == "train" else None, what=names)
        else:
            if key == "train" and data.class_weight is not None:
                raise ValueError("class_weight with a dataset that is not kept in memory: use cache=True, or "
                                 "map the weights into the dataset as a third element.")
            part = dataclasses.replace(part, batched=batched)
        parts[key] = part
    if parts:
        data = dataclasses.replace(data, checked=False, **parts)
        check_batches(data)
    return data if data.checked else check_model(data, model)


# --------------------------------------------------------------------------- fingerprint


def _digest(structure) -> str:
    h = hashlib.blake2b(digest_size=16)
    for leaf in _flat(structure):
        arr = np.ascontiguousarray(leaf)
        h.update(f"{arr.shape}{arr.dtype.str}".encode())
        h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def _describe(part: Examples | None):
    if part is None:
        return None
    if part.in_memory:
        return f"{part.n} examples, digest {_digest(part.arrays)}"
    return f"dataset {part.dataset.element_spec}, {int(part.dataset.cardinality())} elements"


def fingerprint(data: FitData, **settings) -> dict:
    """What a resumed run must share with the run that wrote the checkpoint: the training and
    validation data (a digest of every byte when in memory) and the settings that shape batches."""
    return {
        "training data": _describe(data.train),
        "validation data": _describe(data.val),
        "batch_size": data.batch_size,
        "shuffle": data.shuffle,
        "steps_per_epoch": data.steps_per_epoch,
        **{k: v for k, v in settings.items()},
    }
