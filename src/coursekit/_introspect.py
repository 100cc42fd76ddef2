"""How coursekit reads any Keras 3 model, and what input it accepts.

Every interpretability and attack helper needs the same few things from a model:
a layer by name, index or object (also inside a nested "pretrained base"), the
last convolutional layer, the logits before a final softmax or sigmoid, and the
activations of some layers, all in float32. This module does that once.

**The input policy** (one place for the whole package):

* :func:`check_model` -- ``model`` must be a ``keras.Model``; None, a str, a
  function or a layer get a TypeError naming what was passed; a subclassed
  model (called or not) gets a ValueError saying how to rebuild it.
* :func:`check_inputs` -- data for a model (also ``train.fit``'s ``x``): NaN
  and inf are refused; raw 0..255 values for a model without a Rescaling layer
  give a UserWarning.
* :func:`as_images` -- the same, plus the image shape checks, for the cam,
  attack and feature functions; :func:`as_targets` -- class indices.
* :func:`find_layer` -- ``layer`` may be a name, an index into ``model.layers``
  or a layer object.

Every message names the argument and says what to do.

**Probes.** :func:`probe` re-runs the model's graph on a fresh ``keras.Input``
with the *same* layers (so the same weights), and

* records the outputs of the requested layers, casting each one to float32 and
  feeding the float32 tensor downstream, so that a gradient of the logits with
  respect to a recorded activation is well defined;
* descends into nested models (Sequential or functional) when a requested
  layer lives inside one;
* removes a final softmax or sigmoid: a ``Softmax`` layer, an ``Activation``,
  or a ``Lambda`` found (by calling it) to compute one is skipped, and a layer
  built with ``activation="softmax"``/``"sigmoid"`` is called with its
  activation switched off. A custom layer hiding a softmax is not removed; a
  model whose "logits" still sum to 1 gives a UserWarning. :func:`head` says
  what was removed and whether the model is a binary (one unit) or multi-label
  classifier.

Mixed precision: under ``mixed_float16`` the model's layers still compute in
float16 (the probe calls the same layers); the recorded activations and the
logits are cast to float32, and everything coursekit computes from them is
float32.

Probes are cached per (model, layers), so repeated calls reuse one object and a
``tf.function`` around it does not retrace.
"""

from __future__ import annotations

import difflib
import warnings
import weakref
from typing import Iterable, Iterator, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from coursekit._arrays import as_array as _as_array
from coursekit._arrays import check_finite, describe

__all__ = [
    "check_model",
    "check_inputs",
    "find_layer",
    "last_conv_layer",
    "last_spatial_layer",
    "probe",
    "logits_model",
    "head",
    "Head",
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


def _is_graph_model(model) -> bool:
    """Sequential or functional: a model whose layers' graph coursekit can re-run."""
    from keras.src.models.functional import Functional

    return isinstance(model, (keras.Sequential, Functional))


def check_model(model, arg: str = "model", *, graph: bool = True):
    """Return ``model`` if it is a Keras 3 model coursekit can read, else raise.

    Parameters
    ----------
    model : object
        What the caller passed.
    arg : str
        The argument's name, used in the message.
    graph : bool
        Also require a Sequential or functional model (coursekit re-runs its
        graph to read layers and logits); a subclassed model is refused with a
        message saying how to rebuild it.

    Raises
    ------
    TypeError
        ``model`` is not a ``keras.Model`` (None, a str, a function, a layer,
        a tf.keras 2 model...): the message names what was passed.
    ValueError
        ``graph=True`` and ``model`` is a subclassed ``keras.Model``.

    Examples
    --------
    >>> check_model("cnn")
    Traceback (most recent call last):
    ...
    TypeError: model must be a Keras model (keras.Model, e.g. keras.Sequential([...])); got the str 'cnn'. ...
    """
    if not isinstance(model, keras.Model):
        if isinstance(model, keras.layers.Layer):
            fix = "wrap the layer in a model: keras.Sequential([keras.Input(shape), layer])"
        elif callable(model):
            fix = "pass the model object itself, not a function that calls it (e.g. not model.predict)"
        else:
            fix = f"pass the model object itself, e.g. {arg}=model"
        raise TypeError(
            f"{arg} must be a Keras model (keras.Model, e.g. keras.Sequential([...])); got "
            f"{describe(model)}. {fix[0].upper()}{fix[1:]}."
        )
    if graph and not _is_graph_model(model):
        raise ValueError(
            f"{arg} is a subclassed keras.Model ({type(model).__name__}): coursekit reads a "
            "model's layers from its graph, which a subclassed model does not have, even after "
            "it has been called. Rebuild it with keras.Sequential([...]) or the functional API "
            "(keras.Model(inputs, outputs)); the same layer objects keep their weights."
        )
    return model


def find_layer(model, name, arg: str = "layer") -> keras.layers.Layer:
    """The layer ``name`` refers to in ``model``, nested models included.

    Parameters
    ----------
    model : keras.Model
    name : str, int or keras.layers.Layer
        A layer name (also of a layer inside a nested model, as
        ``model.summary(expand_nested=True)`` shows it), an index into
        ``model.layers`` (negative counts from the end, as in Python), or a
        layer object of the model.
    arg : str
        The argument's name, used in error messages.

    Returns
    -------
    keras.layers.Layer

    Raises
    ------
    ValueError
        No such layer; the message lists close names and the model's layers.
    TypeError
        ``name`` is none of the three kinds.

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="c")])
    >>> find_layer(model, "c") is find_layer(model, 0) is find_layer(model, -1)
    True
    """
    if isinstance(name, keras.layers.Layer):
        if any(layer is name for layer in walk_layers(model)):
            return name
        raise ValueError(
            f"{arg}: layer {name.name!r} is not part of model {model.name!r}; pass a layer of "
            "this model, its name or its index in model.layers."
        )
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        layers = model.layers
        if -len(layers) <= int(name) < len(layers):
            return layers[int(name)]
        raise ValueError(
            f"{arg}={int(name)} is out of range: model {model.name!r} has {len(layers)} layers in "
            f"model.layers, so an index lies in {-len(layers)}..{len(layers) - 1}."
        )
    if not isinstance(name, str):
        raise TypeError(
            f"{arg} must be a layer name (str), an index into model.layers (int) or a layer "
            f"object; got {describe(name)}."
        )
    for layer in walk_layers(model):
        if layer.name == name:
            return layer
    names = _all_names(model)
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.4)
    hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(repr(n) for n in names[:12]) + (", ..." if len(names) > 12 else "")
    raise ValueError(
        f"{arg}: no layer named {name!r} in model {model.name!r}.{hint} Layers include: {shown}. "
        "See every name with model.summary(expand_nested=True)."
    )


def _output_rank(layer) -> int | None:
    try:
        return len(layer.output.shape)
    except Exception:  # layer not built, or called more than once
        return None


def _no_4d_layer(model, what: str) -> ValueError:
    return ValueError(
        f"Model {model.name!r} has no {what} with a 4-D (batch, height, width, channels) "
        "output. Grad-CAM-like methods weight the channels of a convolutional layer's "
        "feature maps, so they need a model with at least one Conv2D layer; "
        "for a dense-only model use saliency, smooth_grad or integrated_gradients."
    )


def last_conv_layer(model) -> str:
    """Name of the last convolution: the last layer with a 4-D kernel and a 4-D output.

    Nested models are searched too. This is the default layer of the CAM methods,
    as in keras-io's Grad-CAM example: Conv2D, DepthwiseConv2D, SeparableConv2D and
    Conv2DTranspose count; pooling, Dropout and activations after it do not (they
    would only lower the map's resolution or change nothing).

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, name="c"),
    ...                           keras.layers.MaxPooling2D(), keras.layers.Dropout(0.2)])
    >>> last_conv_layer(model)
    'c'
    """
    found = None
    for layer in walk_layers(model):
        if _is_model(layer) or _output_rank(layer) != 4:
            continue
        if any(len(w.shape) == 4 for w in layer.weights):
            found = layer.name
    if found is None:
        raise _no_4d_layer(model, "convolutional layer")
    return found


def last_spatial_layer(model) -> str:
    """Name of the last layer whose output is 4-D (N, H, W, C), nested models included."""
    found = None
    for layer in walk_layers(model):
        if _output_rank(layer) == 4 and not (_is_model(layer) and found):
            found = layer.name
    if found is None:
        raise _no_4d_layer(model, "layer")
    return found


# --------------------------------------------------------------------------- softmax


# Functions that turn logits into probabilities, compared by identity (not by name).
_SQUASHES = {
    "softmax": (keras.activations.softmax, keras.ops.softmax, tf.nn.softmax),
    "sigmoid": (keras.activations.sigmoid, keras.ops.sigmoid, tf.nn.sigmoid, tf.math.sigmoid),
}


def _squash_of(fn) -> str | None:
    """'softmax' or 'sigmoid' when ``fn`` is one of them, else None."""
    for name, fns in _SQUASHES.items():
        if any(fn is f for f in fns):
            return name
    return None


def _lambda_squash(layer) -> str | None:
    """What a Lambda layer computes when it is a softmax or a sigmoid, found by calling
    it on random numbers (its code cannot be read reliably)."""
    try:
        shape = tuple(layer.input.shape)[1:]
    except Exception:  # called more than once, or not built
        return None
    if not shape or None in shape:
        return None
    z = np.random.default_rng(0).normal(0.0, 3.0, (2, *shape)).astype(np.float32)
    try:
        out = np.asarray(keras.ops.convert_to_numpy(layer(z)), np.float32)
    except Exception:  # a Lambda that needs more than one input
        return None
    for name, fn in (("softmax", keras.ops.softmax), ("sigmoid", keras.ops.sigmoid)):
        if out.shape == z.shape and np.allclose(out, keras.ops.convert_to_numpy(fn(z)), atol=1e-5):
            return name
    return None


def _squash_kind(layer) -> tuple[str | None, str | None]:
    """How to remove a final softmax or sigmoid from ``layer``, and which one.

    'skip' for a layer that only applies it (Softmax, Activation, a Lambda that
    computes it), 'preact' for a layer with that activation, 'nested' for a model
    whose own output may end in one."""
    if isinstance(layer, keras.layers.Softmax):
        return "skip", "softmax"
    if isinstance(layer, keras.layers.Activation):
        squash = _squash_of(layer.activation)
        return ("skip", squash) if squash else (None, None)
    if isinstance(layer, keras.layers.Lambda):
        squash = _lambda_squash(layer)
        return ("skip", squash) if squash else (None, None)
    if _is_model(layer):
        return "nested", None
    squash = _squash_of(getattr(layer, "activation", None))
    return ("preact", squash) if squash else (None, None)


def _softmax_kind(layer) -> str | None:
    """How a final softmax or sigmoid is removed from ``layer`` (see _squash_kind)."""
    return _squash_kind(layer)[0]


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


_SQUASH = "\x00squash"  # key under which _run records the final softmax/sigmoid it removed


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
    if fn is None or _is_model(layer) or fn is keras.activations.linear:
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
            kind, squash = _squash_kind(layer)
            if squash:
                record[_SQUASH] = squash
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
    names = [n for n in record if n not in before and n != _SQUASH]
    if not names:
        return keras.Model(inner, clone.outputs[0], name=f"{model.name}_run")(x)
    sub = keras.Model(inner, [clone.outputs[0], *(record[n] for n in names)], name=f"{model.name}_run")
    out, *acts = sub(x)
    record.update(zip(names, acts))
    return out


def _input_spec(model):
    check_model(model)
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            f"model {model.name!r} is not built, so it has no input shape. Start it with "
            "keras.Input(shape=...) or call it once on a batch (model(images)) first."
        )
    if len(inputs) != 1:
        raise ValueError(
            f"model {model.name!r} has {len(inputs)} inputs; coursekit reads models with one "
            "image input. Build a model of the image branch alone."
        )
    return inputs[0]


_CACHE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _build(model, names: tuple[str, ...], pre: bool = False):
    """(input, activations of ``names``, logits, the softmax/sigmoid removed or None)."""
    spec = _input_spec(model)
    x = keras.Input(batch_shape=spec.shape, dtype=spec.dtype, name=f"{model.name}_images")
    record: dict = {}
    wanted = set(names)
    logits = _f32(_run(model, x, wanted, record, strip=True, pre=pre))
    missing = [n for n in names if n not in record]
    if missing:
        raise ValueError(
            f"layer: {missing} of model {model.name!r} are not on the path from its input to "
            "its output, so their activations cannot be read; pick a layer on that path."
        )
    return x, [record[n] for n in names], logits, record.get(_SQUASH)


def traced(fn=None, **options):
    """``tf.function(fn, **options)`` for the step of one model's explainer, attack or optimizer
    (also a decorator: ``@traced(input_signature=...)``).

    TensorFlow counts traces per Python function across all its instances, so a loop over fresh
    models, each traced once, reads to it as "excessive retracing" and prints a warning. Here one
    trace per model is the design, so that warning is off (a private flag, harmless if it goes)."""
    if fn is None:
        return lambda f: traced(f, **options)
    function = tf.function(fn, **options)
    function._omit_frequent_tracing_warning = True
    return function


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

    Parameters
    ----------
    model : keras.Model
        Sequential or functional, possibly nested.
    layers : iterable of str, int or keras layer
        Names (also of layers inside nested models), indices into
        ``model.layers`` or layer objects.
    pre_activation : bool
        Read each layer before its activation function (e.g. before a fused ReLU).

    Returns
    -------
    keras.Model
        Outputs float32: each layer's activations, then the logits (before a final
        softmax or sigmoid). Cached per (model, layers, pre_activation).

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="c"),
    ...     keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    >>> acts, logits = probe(model, ["c"])(np.zeros((1, 8, 8, 1)))
    >>> tuple(acts.shape), tuple(logits.shape)
    ((1, 6, 6, 2), (1, 3))
    """
    names = tuple(find_layer(model, l).name for l in layers)
    pre = bool(pre_activation)

    def make():
        x, acts, logits, _ = _build(model, names, pre)
        return keras.Model(x, [*acts, logits], name=f"{model.name}_probe")

    return cached(model, ("probe", names, pre), make)


class Head(NamedTuple):
    """What a model's output means, read once from its last layer.

    ``units`` is the size of the output's last axis; ``squash`` is the final
    activation that coursekit removed to reach the logits ('softmax', 'sigmoid' or
    None). ``binary`` (one unit) means a one-logit classifier of classes 0 and 1;
    ``multilabel`` means several independent sigmoid units."""

    units: int
    squash: str | None
    rank: int

    @property
    def binary(self) -> bool:
        return self.units == 1 and self.rank == 2

    @property
    def multilabel(self) -> bool:
        return self.units > 1 and self.squash == "sigmoid"

    @property
    def classes(self) -> int:
        """How many class indices a target may take: 2 for a one-unit head."""
        return 2 if self.binary else self.units


def _warn_hidden_squash(model, logits: keras.Model) -> None:
    """Warn when the 'logits' still look like probabilities: a softmax hidden in a
    custom layer that coursekit cannot see, so the scores would be probabilities."""
    spec = logits.inputs[0]
    shape = tuple(spec.shape)[1:]
    if None in shape or not str(spec.dtype).startswith("float") or logits.outputs[0].shape[-1] in (None, 1):
        return
    x = np.random.default_rng(0).uniform(0.0, 1.0, (2, *shape)).astype(np.float32)
    out = keras.ops.convert_to_numpy(logits(x, training=False)).astype(np.float64)
    if np.all(out >= 0) and np.allclose(out.sum(-1), 1.0, atol=1e-4):
        warnings.warn(
            f"The outputs of model {model.name!r} sum to 1 like probabilities, but coursekit found "
            "no softmax to remove (it may be inside a custom layer), so the maps and attacks work "
            "on probabilities instead of logits: gradients are smaller and maps can differ. End "
            "the model with keras.layers.Softmax() or Dense(..., activation='softmax') instead.",
            UserWarning,
            stacklevel=4,
        )


def logits_model(model) -> keras.Model:
    """``model`` with its final softmax or sigmoid removed and a float32 output: the logits.

    Parameters
    ----------
    model : keras.Model
        Sequential, functional or nested; may end in ``Softmax()``,
        ``Activation("softmax"/"sigmoid")``, a ``Lambda`` that computes one of them,
        or a layer with ``activation="softmax"/"sigmoid"``.

    Returns
    -------
    keras.Model
        Same input as ``model``; output float32 logits of the model's output shape.
        Cached per model. A model whose outputs still sum to 1 (a softmax coursekit
        could not see) gives a UserWarning.

    Examples
    --------
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    >>> logits_model(model).output.dtype
    'float32'
    """

    def make():
        x, _, logits, squash = _build(model, ())
        out = keras.Model(x, logits, name=f"{model.name}_logits")
        shape = out.outputs[0].shape
        units = shape[-1]
        if units is None:
            raise ValueError(f"model {model.name!r} has an unknown number of outputs.")
        cached(model, ("head",), lambda: Head(int(units), squash, len(shape)))
        if squash is None:
            _warn_hidden_squash(model, out)
        return out

    return cached(model, ("logits",), make)


def head(model) -> Head:
    """The :class:`Head` of ``model``: units, the removed softmax/sigmoid, binary or not.

    Examples
    --------
    >>> binary = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    >>> head(binary).binary, head(binary).classes
    (True, 2)
    """
    logits_model(model)
    return cached(model, ("head",), lambda: None)


def num_classes(model) -> int:
    """Size of the model's last axis (the number of classes of a classifier)."""
    return head(model).units


# --------------------------------------------------------------------------- inputs


def _has_rescaling(model) -> bool:
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
    if _has_rescaling(model):  # walks the layers: only when the values look raw
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
    check_model(model, graph=False)
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
    spec = _input_spec(model)
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
    if (np.issubdtype(dtype, np.integer) or dtype == np.bool_) and not _has_rescaling(model):
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
