"""How coursekit reads any Keras 3 model.

Every interpretability and attack helper needs the same few things from a model:
a layer by name (also inside a nested "pretrained base"), the last convolutional
layer, the pre-softmax logits, and the activations of some layers, all in
float32 even under mixed precision. This module does that once.

The central piece is :func:`probe`. It re-runs the model's graph on a fresh
``keras.Input`` with the *same* layers (so the same weights), and

* records the outputs of the requested layers, casting each one to float32 and
  feeding the float32 tensor downstream, so that a gradient of the logits with
  respect to a recorded activation is well defined;
* descends into nested models (Sequential or functional) when a requested
  layer lives inside one;
* removes a final softmax: a ``Softmax`` layer or ``Activation("softmax")`` is
  skipped, and a layer built with ``activation="softmax"`` is called with its
  activation switched off.

Probes are cached per (model, layers), so repeated calls reuse one object and a
``tf.function`` around it does not retrace.
"""

from __future__ import annotations

import difflib
import warnings
import weakref
from typing import Iterable, Iterator

import keras
import numpy as np
import tensorflow as tf

__all__ = [
    "find_layer",
    "last_spatial_layer",
    "probe",
    "logits_model",
    "as_images",
    "as_targets",
    "num_classes",
]


# --------------------------------------------------------------------------- layers


def _is_model(layer) -> bool:
    return isinstance(layer, keras.Model)


def _child_layers(model) -> list:
    """The layers of a model, without its InputLayer(s)."""
    return [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]


def walk_layers(model) -> Iterator[keras.layers.Layer]:
    """All layers in graph order, descending into nested models (InputLayers left out).

    A nested model is yielded after its own layers.
    """
    for layer in _child_layers(model):
        if _is_model(layer):
            yield from walk_layers(layer)
        yield layer


def _all_names(model) -> list[str]:
    return [layer.name for layer in walk_layers(model)]


def find_layer(model, name: str | keras.layers.Layer) -> keras.layers.Layer:
    """The layer called ``name`` in ``model`` or in any model nested in it.

    A layer object is returned as is when it belongs to the model.
    """
    if isinstance(name, keras.layers.Layer):
        if any(layer is name for layer in walk_layers(model)):
            return name
        raise ValueError(
            f"Layer {name.name!r} is not part of model {model.name!r}; pass a layer of "
            "this model, or its name."
        )
    if not isinstance(name, str):
        raise TypeError(f"A layer is given by its name (a str); got {type(name).__name__}.")
    for layer in walk_layers(model):
        if layer.name == name:
            return layer
    names = _all_names(model)
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.4)
    hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
    raise ValueError(
        f"No layer named {name!r} in model {model.name!r}.{hint} Layers include: {shown}. "
        "See every name with model.summary(expand_nested=True)."
    )


def _output_rank(layer) -> int | None:
    try:
        return len(layer.output.shape)
    except Exception:  # layer not built, or called more than once
        return None


def last_spatial_layer(model) -> str:
    """Name of the last layer whose output is 4-D (N, H, W, C), nested models included."""
    found = None
    for layer in walk_layers(model):
        if _output_rank(layer) == 4 and not (_is_model(layer) and found):
            found = layer.name
    if found is None:
        raise ValueError(
            f"Model {model.name!r} has no layer with a 4-D (batch, height, width, channels) "
            "output. Grad-CAM-like methods weight the channels of a convolutional layer's "
            "feature maps, so they need a model with at least one Conv2D (or pooling) layer; "
            "for a dense-only model use saliency, smooth_grad or integrated_gradients."
        )
    return found


# --------------------------------------------------------------------------- softmax


def _is_softmax_fn(fn) -> bool:
    return fn is not None and getattr(fn, "__name__", "") == "softmax"


def _softmax_kind(layer) -> str | None:
    """'skip' for a layer that only applies softmax, 'preact' for a layer with a
    softmax activation, 'nested' for a model whose output may end in softmax."""
    if isinstance(layer, keras.layers.Softmax):
        return "skip"
    if isinstance(layer, keras.layers.Activation) and _is_softmax_fn(layer.activation):
        return "skip"
    if _is_model(layer):
        return "nested"
    if _is_softmax_fn(getattr(layer, "activation", None)):
        return "preact"
    return None


class _PreActivation(keras.layers.Layer):
    """Calls a layer (same weights) with its activation switched off.

    The switch happens only while this layer traces its call, so the wrapped
    layer is unchanged for everyone else.
    """

    def __init__(self, layer, **kwargs):
        super().__init__(name=f"{layer.name}_logits", dtype="float32", autocast=False, **kwargs)
        self.inner = layer

    def call(self, *args, **kwargs):
        saved = self.inner.activation
        self.inner.activation = keras.activations.linear
        try:
            return self.inner(*args, **kwargs)
        finally:
            self.inner.activation = saved


# --------------------------------------------------------------------------- graph walk


def _f32(x):
    return keras.ops.cast(x, "float32") if x.dtype != "float32" else x


def _final_operation(model):
    out = model.outputs
    if len(out) != 1:
        raise ValueError(
            f"Model {model.name!r} has {len(out)} outputs; coursekit reads single-output "
            "classifiers. Build a keras.Model(model.input, model.outputs[i]) for the output you mean."
        )
    return out[0]._keras_history.operation


def _contains(model, names: set[str]) -> bool:
    return any(layer.name in names for layer in walk_layers(model))


def _activation_split(layer) -> str | None:
    """How to read a layer's pre-activation: 'input' for an activation layer,
    'fused' for a layer with an activation argument, None when it has none."""
    if isinstance(layer, (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU)):
        return "input"
    fn = getattr(layer, "activation", None)
    if fn is None or _is_model(layer) or getattr(fn, "__name__", "") == "linear":
        return None
    return "fused"


def _run(model, x, wanted: set[str], record: dict, strip: bool, pre: bool = False):
    """Call ``model`` symbolically on KerasTensor ``x`` with the same layers,
    recording outputs of layers named in ``wanted`` (as float32, fed downstream)
    and removing a final softmax when ``strip``. With ``pre``, a wanted layer's
    activation before its activation function is recorded instead.
    Returns the output tensor."""
    final = _final_operation(model) if strip else None

    def call(layer, *args, **kwargs):
        if pre and layer.name in wanted and not (strip and layer is final):
            split = _activation_split(layer)
            if split == "input":
                record[layer.name] = _f32(args[0])
                return layer(record[layer.name], *args[1:], **kwargs)
            if split == "fused":
                record[layer.name] = _f32(_PreActivation(layer)(*args, **kwargs))
                activate = keras.layers.Activation(layer.activation, dtype=layer.dtype_policy)
                return activate(record[layer.name])
        if strip and layer is final:
            kind = _softmax_kind(layer)
            if kind == "skip":
                return args[0]
            if kind == "preact":
                out = _PreActivation(layer)(*args, **kwargs)
            elif kind == "nested" or (_is_model(layer) and _contains(layer, wanted)):
                out = _run(layer, args[0], wanted, record, strip=True, pre=pre)
            else:
                out = layer(*args, **kwargs)
        elif _is_model(layer) and _contains(layer, wanted):
            out = _run(layer, args[0], wanted, record, strip=False, pre=pre)
        else:
            out = layer(*args, **kwargs)
        if layer.name in wanted:
            out = _f32(out)
            record[layer.name] = out
        return out

    if isinstance(model, keras.Sequential):
        for layer in _child_layers(model):
            x = call(layer, x)
        return x
    if getattr(model, "_nodes_by_depth", None) is None:
        raise ValueError(
            f"Model {model.name!r} is a subclassed keras.Model; coursekit can only look inside "
            "Sequential and functional models. Rebuild it with the functional API."
        )
    # Re-run the functional graph (same layers) on a fresh Input, then call that
    # as one sub-model on x: x may be an intermediate tensor of an outer model,
    # which clone_model does not accept as an input.
    inner = keras.Input(batch_shape=x.shape, dtype=x.dtype)
    before = set(record)
    clone = keras.models.clone_model(
        model, input_tensors=inner, clone_function=lambda layer: layer, call_function=call
    )
    names = [n for n in record if n not in before]
    if not names:
        return keras.Model(inner, clone.outputs[0], name=f"{model.name}_run")(x)
    sub = keras.Model(inner, [clone.outputs[0], *(record[n] for n in names)], name=f"{model.name}_run")
    out, *acts = sub(x)
    record.update(zip(names, acts))
    return out


def _input_spec(model):
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            f"Model {model.name!r} is not built, so it has no input shape. Start it with "
            "keras.Input(shape=...) or call it once on a batch (model(images)) first."
        )
    if len(inputs) != 1:
        raise ValueError(
            f"Model {model.name!r} has {len(inputs)} inputs; coursekit reads models with one image input."
        )
    return inputs[0]


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _build(model, names: tuple[str, ...], pre: bool = False):
    spec = _input_spec(model)
    x = keras.Input(batch_shape=spec.shape, dtype=spec.dtype, name=f"{model.name}_images")
    record: dict = {}
    wanted = set(names)
    logits = _f32(_run(model, x, wanted, record, strip=True, pre=pre))
    missing = [n for n in names if n not in record]
    if missing:
        raise ValueError(
            f"Layer(s) {missing} of model {model.name!r} are not on the path from its input to "
            "its output, so their activations cannot be read."
        )
    return x, [record[n] for n in names], logits


def cached(model, key, make):
    """``make()``, computed once per (model, key) and kept only as long as the model lives.

    Every compiled helper in coursekit is cached here, so repeated calls reuse one
    ``tf.function`` and never retrace; keys name their module to stay apart.
    """
    try:
        store = _CACHE.setdefault(model, {})
    except TypeError:  # not weak-referenceable: no cache
        return make()
    if key not in store:
        store[key] = make()
    return store[key]


def probe(
    model, layers: Iterable[str | keras.layers.Layer] = (), *, pre_activation: bool = False
) -> keras.Model:
    """A model from ``model``'s input to ``[*activations of layers, logits]``.

    All outputs are float32; the logits are pre-softmax. ``layers`` are names (or
    layer objects), also of layers inside nested models. ``pre_activation=True``
    reads each layer before its activation function (e.g. before a fused ReLU).
    Cached per (model, layers, pre_activation).
    """
    names = tuple(find_layer(model, l).name for l in layers)
    pre = bool(pre_activation)

    def make():
        x, acts, logits = _build(model, names, pre)
        return keras.Model(x, [*acts, logits], name=f"{model.name}_probe")

    return cached(model, ("probe", names, pre), make)


def logits_model(model) -> keras.Model:
    """``model`` with its final softmax removed and a float32 output: the logits."""

    def make():
        x, _, logits = _build(model, ())
        return keras.Model(x, logits, name=f"{model.name}_logits")

    return cached(model, ("logits",), make)


def num_classes(model) -> int:
    """Size of the model's last axis (the number of classes of a classifier)."""
    n = logits_model(model).outputs[0].shape[-1]
    if n is None:
        raise ValueError(f"Model {model.name!r} has an unknown number of outputs.")
    return int(n)


# --------------------------------------------------------------------------- inputs


def _has_rescaling(model) -> bool:
    """Whether the model scales raw pixels itself (a Rescaling or Normalization
    layer among its first layers)."""
    first = list(walk_layers(model))[:6]
    return any(isinstance(l, (keras.layers.Rescaling, keras.layers.Normalization)) for l in first)


def as_images(model, images, *, warn_range: bool = True) -> tf.Tensor:
    """Images as a float32 (N, H, W, C) tensor that fits ``model``'s input.

    Accepts one image (H, W, C) or a batch; raises a ValueError that says what to
    do when the shape, size, channels or dtype do not fit the model. Float images
    that look like raw 0..255 pixels for a model without a Rescaling layer give a
    UserWarning; a caller that was told the range (e.g. attack bounds) passes
    ``warn_range=False``.
    """
    spec = _input_spec(model)
    want = tuple(spec.shape)  # (None, H, W, C)
    if isinstance(images, (tf.Tensor, tf.Variable)):
        dtype = images.dtype.as_numpy_dtype
        shape = tuple(images.shape)
    else:
        images = np.asarray(images)
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
        images = images[None] if not isinstance(images, tf.Tensor) else tf.expand_dims(images, 0)
        shape = (1, *shape)
    elif len(shape) in (2, 3) and hwc[-1] == 1 and fits((*shape[-2:], 1)):
        raise ValueError(
            f"Images of shape {shape} have no channels axis, but model {model.name!r} expects "
            f"(N, {hwc[0]}, {hwc[1]}, 1). Add it with images[..., None]."
        )
    if len(shape) != 4:
        raise ValueError(
            f"Expected one image (H, W, C) or a batch (N, H, W, C) for model {model.name!r} "
            f"(input {want}); got an array of shape {shape}."
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
                f"Model {model.name!r} expects {c} channel(s) (input {want}), but the images have "
                f"shape {shape}: {fix}."
            )
        raise ValueError(
            f"Model {model.name!r} expects {h}x{w} images (input {want}), got {shape[1]}x{shape[2]} "
            f"(shape {shape}). Resize them first, e.g. tf.image.resize(images, ({h}, {w}))."
        )
    if np.issubdtype(dtype, np.integer) or dtype == np.bool_:
        if not _has_rescaling(model):
            raise ValueError(
                f"Images are {np.dtype(dtype).name} (0..255 pixels?) but model {model.name!r} "
                "takes floats and has no Rescaling layer. Scale them the way the model was "
                "trained, e.g. images.astype('float32') / 255 (or, if it really was trained on "
                "0..255 values, images.astype('float32'))."
            )
    x = tf.convert_to_tensor(images)
    if x.dtype != tf.float32:
        x = tf.cast(x, tf.float32)
    # one sum is the cheapest test: NaN and inf propagate through it
    total = float(np.sum(x.numpy() if isinstance(images, tf.Tensor) else images, dtype=np.float32))
    if not np.isfinite(total):
        raise ValueError("Images contain NaN or infinite values.")
    if warn_range and total > 1.5 * max(int(np.prod(shape)), 1) and not _has_rescaling(model):
        warnings.warn(
            f"The images average {total / np.prod(shape):.1f}: raw 0..255 pixels? Model "
            f"{model.name!r} has no Rescaling layer, so it likely expects them scaled, e.g. "
            "images / 255. Ignore this if the model was trained on such values.",
            UserWarning,
            stacklevel=3,
        )
    return x


def as_targets(targets, n: int, num_classes: int) -> tf.Tensor:
    """Class indices as an int32 tensor of shape (n,): an int broadcasts, a
    sequence must have length n; each must lie in [0, num_classes)."""
    arr = np.asarray(targets.numpy() if isinstance(targets, tf.Tensor) else targets)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ValueError(f"Targets must be class indices (ints); got {targets!r}.")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(
                f"Targets must be whole class indices; got {arr.tolist()!r}. "
                "For one-hot labels pass labels.argmax(-1)."
            )
    if arr.ndim == 0:
        arr = np.full((n,), int(arr))
    elif arr.ndim == 2 and arr.shape == (n, num_classes) and num_classes > 1:
        raise ValueError(
            f"Targets of shape {arr.shape} look one-hot; pass class indices, e.g. labels.argmax(-1)."
        )
    elif arr.ndim != 1 or len(arr) != n:
        raise ValueError(
            f"Expected one target for all images or one per image ({n}); got shape {arr.shape}."
        )
    bad = (arr < 0) | (arr >= num_classes)
    if np.any(bad):
        raise ValueError(
            f"Target(s) {sorted(set(arr[bad].astype(int).tolist()))[:5]} out of range: "
            f"the model has {num_classes} classes, so targets must lie in 0..{num_classes - 1}."
        )
    return tf.constant(arr.astype(np.int32))
