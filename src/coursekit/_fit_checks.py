"""What `coursekit.train.fit` checks before it trains: the usual input mistakes, each with
a message that names the argument and says what to do.

Everything here reads NumPy arrays, shapes and attributes only, with no TensorFlow work, so a
mistake gives a short traceback that ends in `fit`. Models with several inputs or outputs are
checked input by input and output by output. The values (NaN, inf, raw 0..255 pixels) are
judged by coursekit's one input policy, `coursekit._introspect.check_inputs`.
"""

from __future__ import annotations

import numpy as np


def _loss_name(loss) -> str:
    if isinstance(loss, str):
        name = loss
    else:
        name = getattr(loss, "name", None) or getattr(loss, "__name__", None) or type(loss).__name__
    return str(name).lower().replace("_", "")


def _fmt_shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


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


def as_array(value, what: str) -> np.ndarray:
    """One leaf of x, y or sample_weight as a NumPy array with a batch axis; float64 becomes
    float32 (what Keras computes in anyway)."""
    if value is None:
        raise ValueError(f"{what} is None: pass a NumPy array (or a tf.data.Dataset as x).")
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{what} is a string ({value[:40]!r}): pass a NumPy array of numbers, e.g. "
                         "the arrays that coursekit.data.load returns.")
    try:
        arr = np.asarray(value)
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


def loss_for(model, index: int, name):
    """The loss that applies to output `index` (called `name`), or None where unclear."""
    loss = getattr(model, "loss", None)
    if isinstance(loss, (list, tuple)):
        return loss[index] if index is not None and index < len(loss) else None
    if isinstance(loss, dict):
        return loss.get(name)
    return loss


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
                f"{what} looks one-hot (each label has shape {_fmt_shape(ys)}) but the loss is "
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
