"""coursekit's input policy: what data every entry point accepts, decided in one place.

* :func:`check_inputs` -- data for a model (also ``train.fit``'s ``x``): NaN
  and inf are refused; raw 0..255 values for a model without a Rescaling layer
  give a UserWarning.
* :func:`as_images` -- the same, plus the image shape checks, for the cam,
  attack and feature functions; :func:`as_targets` -- class indices.

Every message names the argument and says what to do.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import tensorflow as tf

from coursekit._arrays import as_array as _as_array
from coursekit._arrays import check_finite, describe
from coursekit._graph import input_spec
from coursekit._layers import require_model, walk_layers

__all__ = ["has_rescaling", "check_inputs", "as_images", "as_targets"]


def has_rescaling(model) -> bool:
    """Whether the model scales raw pixels itself (a Rescaling or Normalization
    layer among its first layers)."""
    first = list(walk_layers(model))[:6]
    return any(isinstance(l, (keras.layers.Rescaling, keras.layers.Normalization)) for l in first)


def _range_issue(model, arr: np.ndarray, arg: str, total: float) -> str | None:
    """A message when ``arr`` (summing to ``total``) looks like raw 0..255 pixels but
    ``model`` has no Rescaling/Normalization layer (so it expects about [0, 1])."""
    if arr.size == 0:
        return None
    mean = total / arr.size
    if mean <= 1.5 and not (np.issubdtype(arr.dtype, np.integer) and arr.max() > 1):
        return None
    if has_rescaling(model):  # walks the layers: only when the values look raw
        return None
    return (
        f"{arg} average {mean:.1f} ({arr.dtype}): raw 0..255 pixels? Model {model.name!r} has no "
        "Rescaling layer, so it likely expects them scaled, e.g. images / 255 "
        "(x.astype('float32') / 255). Ignore this if the model was trained on such values."
    )


def _check_values(model, arr: np.ndarray, arg: str, warn_range: bool) -> None:
    """The value policy shared by every entry point: finite, and not raw pixels by mistake."""
    total = check_finite(arr, arg)
    if warn_range:
        issue = _range_issue(model, arr, arg, total)
        if issue:
            warnings.warn(issue, UserWarning, stacklevel=4)


def check_inputs(model, x, arg: str = "x", *, warn_range: bool = True) -> None:
    """Check data for ``model`` against coursekit's input policy; raise or warn, return None.

    The one place where coursekit decides what data it accepts (``as_images``,
    hence every cam, attack and feature function, and ``train.fit`` use it):

    * NaN and infinite values are refused (ValueError saying where the first is);
    * data that look like raw 0..255 pixels (mean above 1.5, or integers above 1)
      for a model without a ``Rescaling``/``Normalization`` layer among its first
      layers give a UserWarning suggesting ``x / 255``;
    * anything that is not an array of numbers (None, a str, a function) is a
      TypeError naming ``arg``.

    Parameters
    ----------
    model : keras.Model
        The model the data are for (only its first layers are read).
    x : array-like, tf.Tensor, or a list/tuple/dict of them
        One array, or one per input of a multi-input model.
    arg : str
        The argument's name for messages, e.g. "x" or "validation_data".
    warn_range : bool
        False when the caller states the value range itself (attack ``bounds``).

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> check_inputs(model, np.array([[0.0, np.nan]]))
    Traceback (most recent call last):
    ...
    ValueError: x contain 1 NaN or infinite value(s), the first at index (0, 1). ...
    """
    require_model(model, graph=False)
    if isinstance(x, dict):
        for key, value in x.items():
            check_inputs(model, value, f"{arg}[{key!r}]", warn_range=warn_range)
        return
    if isinstance(x, (list, tuple)) and x and all(hasattr(v, "shape") for v in x):
        for i, value in enumerate(x):  # one array per input of a multi-input model
            check_inputs(model, value, f"{arg}[{i}]", warn_range=warn_range)
        return
    _check_values(model, _as_array(x, arg), arg, warn_range)


def as_images(model, images, *, warn_range: bool = True, arg: str = "images") -> tf.Tensor:
    """Images as a float32 (N, H, W, C) tensor that fits ``model``'s input.

    Parameters
    ----------
    model : keras.Model
        A Sequential or functional model with one image input (N, H, W, C).
    images : array-like or tf.Tensor
        One image (H, W, C) or a batch (N, H, W, C), N >= 1, of any real dtype.
        Integer images are refused unless the model rescales them itself.
    warn_range : bool
        Warn about 0..255 values (see :func:`check_inputs`); callers that were
        told the range (attack ``bounds``) pass False.
    arg : str
        The argument's name for messages.

    Returns
    -------
    tf.Tensor
        float32, shape (N, H, W, C); one image gains a batch axis of 1.

    Raises
    ------
    TypeError, ValueError
        With a message that names ``arg`` and says what to do: not numbers, an
        empty batch, a wrong rank, size or channel count (channels-first, grey
        vs RGB), integer pixels, NaN or inf.

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3)])
    >>> as_images(model, np.zeros((8, 8, 1))).shape
    TensorShape([1, 8, 8, 1])
    """
    spec = input_spec(model)
    want = tuple(spec.shape)  # (None, H, W, C)
    images = _as_array(images, arg)
    dtype, shape = images.dtype, images.shape
    if len(want) != 4:
        raise ValueError(
            f"Model {model.name!r} takes inputs of shape {want}, not images (N, H, W, C). "
            + (
                "For grey images give the model a channels axis: keras.Input(shape=(H, W, 1)) "
                "and images[..., None]."
                if len(want) == 3
                else ""
            )
        )
    hwc = want[1:]
    fits = lambda s: all(w is None or w == g for w, g in zip(hwc, s))  # noqa: E731
    if len(shape) == 3 and fits(shape):
        images = images[None]
        shape = (1, *shape)
    elif len(shape) in (2, 3) and hwc[-1] == 1 and fits((*shape[-2:], 1)):
        raise ValueError(
            f"{arg} of shape {shape} have no channels axis, but model {model.name!r} expects "
            f"(N, {hwc[0]}, {hwc[1]}, 1). Add it with images[..., None]."
        )
    if len(shape) != 4:
        raise ValueError(
            f"{arg}: expected one image (H, W, C) or a batch (N, H, W, C) for model {model.name!r} "
            f"(input {want}); got an array of shape {shape} ({len(shape)}-D)."
        )
    if shape[0] == 0:
        raise ValueError(
            f"{arg} is an empty batch (shape {shape}): pass at least one image; check the slice "
            "or filter that produced it."
        )
    if not fits(shape[1:]):
        h, w, c = hwc
        if c is not None and shape[-1] != c:
            if shape[1] == c:
                fix = "they look channels-first: use np.transpose(images, (0, 2, 3, 1))"
            elif c == 3 and shape[-1] == 1:
                fix = "repeat the grey channel: np.repeat(images, 3, axis=-1)"
            elif c == 1 and shape[-1] == 3:
                fix = "convert them: tf.image.rgb_to_grayscale(images)"
            else:
                fix = "give the images the channels the model was built for"
            raise ValueError(
                f"Model {model.name!r} expects {c} channel(s) (input {want}), but {arg} have "
                f"shape {shape}: {fix}."
            )
        raise ValueError(
            f"Model {model.name!r} expects {h}x{w} images (input {want}), but {arg} are "
            f"{shape[1]}x{shape[2]} (shape {shape}). Resize them first, e.g. "
            f"tf.image.resize(images, ({h}, {w}))."
        )
    if (np.issubdtype(dtype, np.integer) or dtype == np.bool_) and not has_rescaling(model):
        raise ValueError(
            f"{arg} are {np.dtype(dtype).name} (0..255 pixels?) but model {model.name!r} "
            "takes floats and has no Rescaling layer. Scale them the way the model was "
            "trained, e.g. images.astype('float32') / 255 (or, if it really was trained on "
            "0..255 values, images.astype('float32'))."
        )
    _check_values(model, images, arg, warn_range)
    return tf.constant(images, tf.float32)


def as_targets(targets, n: int, num_classes: int, *, arg: str = "targets") -> tf.Tensor:
    """Class indices as an int32 tensor of shape (n,).

    ``targets`` is one int (for every image) or one per image (length ``n``); each
    must lie in [0, num_classes). A one-unit sigmoid head has ``num_classes=2``
    (classes 0 and 1, see :class:`Head`). Whole floats are accepted; one-hot rows
    are refused with the fix (``labels.argmax(-1)``).

    Examples
    --------
    >>> as_targets(1, 3, 2).numpy()
    array([1, 1, 1], dtype=int32)
    """
    if targets is None or isinstance(targets, (str, bytes)):
        raise TypeError(
            f"{arg} must be class indices (an int, or one int per image); got {describe(targets)}."
        )
    arr = np.asarray(targets.numpy() if isinstance(targets, tf.Tensor) else targets)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{arg} must be class indices (ints); got {targets!r}.")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(
                f"{arg} must be whole class indices; got {arr.tolist()!r}. "
                "For one-hot labels pass labels.argmax(-1)."
            )
    if arr.ndim == 0:
        arr = np.full((n,), int(arr))
    elif arr.ndim == 2 and arr.shape == (n, num_classes) and num_classes > 1:
        raise ValueError(
            f"{arg} of shape {arr.shape} look one-hot; pass class indices, e.g. labels.argmax(-1)."
        )
    elif arr.ndim == 2 and arr.shape == (n, 1):
        arr = arr[:, 0]  # a column of 0/1 labels, as binary classifiers are trained with
    elif arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"{arg}: expected one class for all images or one per image ({n}); got shape "
            f"{arr.shape}."
        )
    bad = (arr < 0) | (arr >= num_classes)
    if np.any(bad):
        raise ValueError(
            f"{arg}: class(es) {sorted(set(arr[bad].astype(int).tolist()))[:5]} out of range: "
            f"the model has {num_classes} classes, so {arg} must lie in 0..{num_classes - 1}."
        )
    return tf.constant(arr.astype(np.int32))
