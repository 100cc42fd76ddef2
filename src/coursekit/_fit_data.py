"""The data of one `coursekit.train.fit` call, validated and normalized once into a `FitData`.

`prepare` reads the ``model.fit`` arguments (x, y, sample_weight, class_weight,
validation_split, validation_data, batch sizes, steps) and returns a `FitData`: arrays in
tuples, float64 turned into float32, class weights turned into sample weights, the validation
split cut off, every value checked. `fit_model` then checks it against the model (shapes, sparse
or one-hot labels against the loss, class ids against the output units, pixel scale) and reads a
dataset into memory when it is to be cached. The input pipeline (`coursekit._pipeline`) is built
from the result and nothing else.

Every usual input mistake stops here with a message that names the argument and says what to
do. The checks read NumPy arrays, shapes and attributes only, with no TensorFlow work, so a
mistake gives a short traceback that ends in `fit`; models with several inputs or outputs are
checked input by input and output by output. The values (NaN, inf, raw 0..255 pixels) are judged
by coursekit's one input policy, `coursekit._inputs.check_inputs`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from coursekit._arrays import fmt_shape, to_numpy


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
        return len(flat(self.arrays[0])[0])

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


def flat(structure) -> list:
    """The arrays of x or y, whatever their nesting (one per model input or output)."""
    if isinstance(structure, dict):
        return list(structure.values())
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flat(item)]
    return [structure]


# --------------------------------------------------------------------------- arguments


def whole(name: str, value, minimum: int, *, optional: bool = False):
    """`value` as an int >= minimum (None passes when optional), else a ValueError naming it."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}={value!r}: give a whole number >= {minimum}"
                         + (" (or None)." if optional else "."))
    return int(value)


def check_compiled(model) -> None:
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise ValueError(
            "The model is not compiled. Call model.compile(...) before training, e.g. "
            "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', "
            "metrics=['accuracy']) (a build function must return a compiled model)."
        )


def is_dataset(obj) -> bool:
    # Checked by name so that validation does not need TensorFlow imported.
    return any(c.__name__ == "DatasetV2" for c in type(obj).__mro__)


# --------------------------------------------------------------------------- arrays


def example_array(value, what: str) -> np.ndarray:
    """One leaf of x, y or sample_weight as a NumPy array with a batch axis; float64 becomes
    float32 (what Keras computes in anyway)."""
    if value is None:
        raise ValueError(f"{what} is None: pass a NumPy array (or a tf.data.Dataset as x).")
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{what} is a string ({value[:40]!r}): pass a NumPy array of numbers, e.g. "
                         "the arrays that coursekit.data.load returns.")
    try:
        arr = to_numpy(value)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{what} cannot be read as an array ({err}): pass a NumPy array of one shape.") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise ValueError(f"{what} has dtype {arr.dtype}, not numbers: pass a NumPy array of numbers "
                         "(ragged lists must be padded to one shape first).")
    if arr.ndim == 0:
        raise ValueError(f"{what} is a single number: pass an array with one entry per example.")
    if len(arr) == 0:
        raise ValueError(f"{what} is empty (shape {arr.shape}): there is nothing to train on. Check the "
                         "filtering or slicing that produced it.")
    return arr.astype(np.float32) if arr.dtype == np.float64 else arr


def _normalize(structure, what: str):
    """x or y: arrays checked for type, emptiness and NaN/inf; lists become tuples (tf.data
    reads a list as one tensor, a tuple as one tensor per input)."""
    if isinstance(structure, dict):
        return {k: _normalize(v, f"{what}[{k!r}]") for k, v in structure.items()}
    if isinstance(structure, (list, tuple)) and structure and all(hasattr(v, "shape") for v in structure):
        return tuple(_normalize(v, f"{what}[{i}]") for i, v in enumerate(structure))
    return example_array(structure, what)


def _named_leaves(structure, what):
    if isinstance(structure, dict):
        return [(f"{what}[{k!r}]", v) for k, v in structure.items()]
    if isinstance(structure, tuple):
        return [(f"{what}[{i}]", v) for i, v in enumerate(structure)]
    return [(what, structure)]


def _weights(sample_weight, what: str):
    w = example_array(sample_weight, what)
    if w.ndim != 1 and not (w.ndim == 2 and w.shape[1] == 1):
        raise ValueError(f"{what} has shape {w.shape}: give one weight per example, shape (N,).")
    if np.any(w < 0):  # (NaN compares False: refused with the other values in check_against_model)
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


def check_lengths(named_arrays) -> int:
    """All arrays (name, array) have one length; returns it."""
    (first_name, first), *rest = named_arrays
    for name, arr in rest:
        if len(arr) != len(first):
            raise ValueError(
                f"{first_name} has {len(first)} examples but {name} has {len(arr)}: they must have the "
                f"same length (one label per example). Check that {first_name} and {name} come from the "
                "same split and were not filtered separately."
            )
    return len(first)


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
    check_lengths(leaves)
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
    if is_dataset(validation_data):
        return Examples(dataset=validation_data)
    if isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
        return in_memory(*validation_data, what=("validation_data[0]", "validation_data[1]", "validation_data[2]"))
    raise ValueError("validation_data must be a pair (x_val, y_val) or a triple (x_val, y_val, sample_weight_val) "
                     "of arrays, or a tf.data.Dataset.")


def prepare(x, y, *, batch_size, sample_weight=None, class_weight=None, validation_split=0.0,
            validation_data=None, validation_batch_size=None, shuffle=True, steps_per_epoch=None,
            validation_steps=None) -> FitData:
    """The arguments of a fit call, validated and normalized (no TensorFlow work)."""
    batch_size = whole("batch_size", 32 if batch_size is None else batch_size, 1)
    validation_batch_size = whole("validation_batch_size", validation_batch_size or batch_size, 1)
    steps_per_epoch = whole("steps_per_epoch", steps_per_epoch, 1, optional=True)
    validation_steps = whole("validation_steps", validation_steps, 1, optional=True)
    if not isinstance(validation_split, (int, float)) or not 0 <= validation_split < 1:
        raise ValueError(f"validation_split={validation_split!r}: give a fraction in [0, 1), e.g. 0.2.")
    if shuffle not in (True, False):
        raise ValueError(f"shuffle={shuffle!r}: give True or False.")
    if is_dataset(x):
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


def _shape_list(tensors):
    try:
        return [tuple(t.shape) for t in tensors]
    except (AttributeError, TypeError):
        return None


def model_io(model):
    """(input shapes, input names, output shapes, output names); shapes None where unknown."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        return None, None, None, None
    return (_shape_list(inputs), [getattr(t, "name", None) for t in inputs],
            _shape_list(outputs), list(getattr(model, "output_names", None) or []))


def leaves(structure, names, what: str, kind: str):
    """[(what[i], leaf, index)] pairing the leaves of x (or y) with the model's inputs (outputs)."""
    if isinstance(structure, dict):
        if names and set(structure) <= set(names):
            return [(f"{what}[{k!r}]", v, names.index(k)) for k, v in structure.items()]
        return [(f"{what}[{k!r}]", v, None) for k, v in structure.items()]
    if isinstance(structure, (list, tuple)):
        return [(f"{what}[{i}]", v, i) for i, v in enumerate(structure)]
    return [(what, structure, 0)]


def count_matches(structure, shapes, what, kind) -> None:
    n = len(structure) if isinstance(structure, (list, tuple, dict)) else 1
    if shapes is not None and n != len(shapes):
        plural = f"{kind}s"
        given = (f"{n} arrays" if n > 1 else "one array")
        raise ValueError(
            f"The model has {len(shapes)} {plural if len(shapes) != 1 else kind} but {what} holds {given}. "
            + (f"Pass a list of {len(shapes)} arrays, in the order of model.{plural}, or a dict keyed by "
               f"{kind} name." if len(shapes) > 1 else f"Pass {what} as one array.")
        )


def check_x(example_shape, in_shape, what="x") -> None:
    """example_shape: the shape of one example (no batch axis)."""
    if in_shape is None or example_shape is None:
        return
    expected = tuple(in_shape[1:])
    got = tuple(example_shape)

    def same(g, e):
        return e is None or g is None or g == e

    if (len(got) == len(expected) - 1 and expected and expected[-1] == 1
            and all(same(g, e) for g, e in zip(got, expected[:-1]))):
        raise ValueError(
            f"{what} holds images of shape {fmt_shape(got)} but the model expects "
            f"{fmt_shape(in_shape)}: the channel axis is missing. Add it with "
            f"{what} = {what}[..., None] (or np.expand_dims({what}, -1))."
        )
    if len(got) != len(expected) or not all(same(g, e) for g, e in zip(got, expected)):
        raise ValueError(
            f"{what} has examples of shape {fmt_shape(got)} but the model's input is "
            f"{fmt_shape(in_shape)} (None is the batch axis). Reshape or resize {what}, or change "
            "the model's Input shape."
        )


def loss_for(model, index: int, name):
    """The loss that applies to output `index` (called `name`), or None where unclear."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, (list, tuple)):
        return loss[index] if index is not None and index < len(loss) else None
    if isinstance(loss, dict):
        return loss.get(name)
    return loss


def _loss_name(loss) -> str:
    if isinstance(loss, str):
        name = loss
    else:
        name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    return str(name).lower().replace("_", "")


def check_labels(y_example_shape, y_values, loss, out_shape, what="y") -> None:
    """Sparse vs one-hot labels against the loss, and class ids against the output units."""
    if out_shape is None or y_example_shape is None or loss is None:
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
                f"{what} looks one-hot (each label has shape {fmt_shape(ys)}) but the loss is "
                "sparse_categorical_crossentropy, which wants integer class ids, one per example. "
                f"Either compile with loss='categorical_crossentropy', or pass {what}.argmax(axis=-1)."
            )
        if class_ids and y_values is not None and y_values.size:
            _check_class_ids(y_values, units, what)
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
    elif "binary" in name and y_values is not None and y_values.size:
        lo, hi = float(np.min(y_values)), float(np.max(y_values))
        if lo < 0 or hi > 1:
            raise ValueError(
                f"{what} has values from {lo:g} to {hi:g}, but binary cross-entropy wants labels in "
                f"[0, 1] (0 or 1 per example). Map the two classes to 0 and 1, e.g. {what} = ({what} == "
                "positive_class).astype('float32')."
            )


def _check_class_ids(y_values, units, what) -> None:
    if np.issubdtype(y_values.dtype, np.floating) and np.any(y_values != np.round(y_values)):
        raise ValueError(f"{what} holds fractions, but class ids must be whole numbers 0..{units - 1}: "
                         f"check the labels (or pass {what}.astype(int) if they are ids stored as floats).")
    lo, hi = int(np.min(y_values)), int(np.max(y_values))
    if lo < 0 or hi >= units:
        raise ValueError(
            f"{what} has class ids from {lo} to {hi}, but the model's last layer has {units} "
            f"output unit{'s' if units != 1 else ''} (class ids 0..{units - 1}). "
            + (f"Give the last layer {hi + 1} units, e.g. keras.layers.Dense({hi + 1}), "
               "or check the labels." if lo >= 0 else "Class ids cannot be negative: check the labels.")
        )


def check_against_model(data: FitData, model) -> FitData:
    """Check the in-memory arrays against the model's inputs, outputs and losses, and their
    values against coursekit's input policy (`coursekit._inputs.check_inputs`, shared with
    cam, attacks and features): NaN/inf refused everywhere, raw 0..255 inputs flagged."""
    from coursekit._inputs import check_inputs

    in_shapes, in_names, out_shapes, out_names = model_io(model)
    parts = ((data.train, ("x", "y", "sample_weight")),
             (data.val, ("validation_data[0]", "validation_data[1]", "validation_data[2]")))
    for part, what in parts:
        if part is None or not part.in_memory:
            continue
        x, y = part.arrays[:2]
        if out_shapes is None:  # a subclassed model: no graph, but its output shape can be traced
            out_shapes = _traced_output_shapes(model, x)
        count_matches(x, in_shapes, what[0], "input")
        count_matches(y, out_shapes, what[1], "output")
        for name, arr, i in leaves(x, in_names, what[0], "input"):
            check_x(arr.shape[1:], in_shapes[i] if in_shapes and i is not None else None, name)
            check_inputs(model, arr, name)
        for name, arr, i in leaves(y, out_names, what[1], "output"):
            check_inputs(model, arr, name, warn_range=False)
            out = out_shapes[i] if out_shapes and i is not None else None
            out_name = out_names[i] if out_names and i is not None and i < len(out_names) else None
            check_labels(arr.shape[1:], arr, loss_for(model, i, out_name), out, name)
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
    in_shapes, _, out_shapes, out_names = model_io(model)
    x_spec, y_spec = spec[0], spec[1]
    if in_shapes and len(in_shapes) == 1 and isinstance(x_spec, tf.TensorSpec) and x_spec.shape.rank is not None:
        shape = tuple(x_spec.shape)
        check_x(shape[1:] if batched else shape, in_shapes[0], "the dataset's images")
    if out_shapes and len(out_shapes) == 1 and isinstance(y_spec, tf.TensorSpec) and y_spec.shape.rank is not None:
        shape = tuple(y_spec.shape)
        check_labels(shape[1:] if batched else shape, None, loss_for(model, 0, None),
                            out_shapes[0], "the dataset's labels")


def is_batched(ds, model) -> bool:
    """Whether a dataset yields batches: its first input has the model's rank (batch axis included)."""
    import tensorflow as tf

    in_shapes = model_io(model)[0]
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
    return data if data.checked else check_against_model(data, model)
