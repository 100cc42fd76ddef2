"""What `coursekit.train.fit` checks before it trains: the usual input mistakes, each with
a message that says what to do.

Everything here reads shapes and attributes only, with no TensorFlow work, so a mistake gives a
short traceback that ends in `fit`.
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


def check_compiled(model) -> None:
    if not getattr(model, "compiled", False) or getattr(model, "optimizer", None) is None:
        raise ValueError(
            "The model is not compiled. Call model.compile(...) before training, e.g. "
            "model.compile(optimizer='adam', loss='sparse_categorical_crossentropy', "
            "metrics=['accuracy']) (a build function must return a compiled model)."
        )


def model_shapes(model):
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


def is_dataset(obj) -> bool:
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


def validate_data(model, x, y, which=("x", "y")):
    """Check one (x, y) pair of arrays or a dataset against `model` (None: shapes only)."""
    if is_dataset(x):
        if y is not None:
            raise ValueError(f"{which[0]} is a tf.data.Dataset, so {which[1]} must be None: "
                             "the dataset already yields (inputs, labels) pairs.")
        return
    x_arr = x if isinstance(x, (dict, list, tuple)) else np.asarray(x)
    y_arr = np.asarray(y) if y is not None else None
    _check_arrays(x_arr, y_arr, which)
    if model is None:
        return
    in_shape, out_shape = model_shapes(model)
    if isinstance(x_arr, np.ndarray):
        _check_x(x_arr.shape[1:], in_shape, which[0])
    _check_labels(y_arr.shape[1:], y_arr, model, out_shape, which[1])


def validate_dataset_spec(model, ds, batched: bool, what="x"):
    import tensorflow as tf

    spec = ds.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise ValueError(f"The dataset {what} must yield (inputs, labels) pairs; its elements are {spec}.")
    in_shape, out_shape = model_shapes(model)
    x_spec, y_spec = spec[0], spec[1]
    if isinstance(x_spec, tf.TensorSpec) and x_spec.shape.rank is not None:
        shape = tuple(x_spec.shape)
        _check_x(shape[1:] if batched else shape, in_shape, "the dataset's images")
    if isinstance(y_spec, tf.TensorSpec) and y_spec.shape.rank is not None:
        shape = tuple(y_spec.shape)
        _check_labels(shape[1:] if batched else shape, None, model, out_shape, "the dataset's labels")
