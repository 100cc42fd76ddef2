"""Re-running a model's graph with the same layers: probes of activations and logits, cached.

:func:`probe` re-runs the model's graph on a fresh ``keras.Input`` with the
*same* layers (so the same weights), and

* records the outputs of the requested layers, casting each one to float32 and
  feeding the float32 tensor downstream, so that a gradient of the logits with
  respect to a recorded activation is well defined;
* descends into nested models (Sequential or functional) when a requested
  layer lives inside one;
* removes a final softmax or sigmoid (``coursekit._squash``).

Mixed precision: under ``mixed_float16`` the model's layers still compute in
float16 (the probe calls the same layers); the recorded activations and the
logits are cast to float32, and everything coursekit computes from them is
float32.

Probes are cached per (model, layers) (:func:`cached`), so repeated calls reuse
one object and a ``tf.function`` around it does not retrace (:func:`traced`).
"""

from __future__ import annotations

import weakref
from typing import Iterable

import keras
import tensorflow as tf

from coursekit._layers import require_model, child_layers, find_layer, is_model, walk_layers
from coursekit._squash import PreActivation, squash_kind

__all__ = ["f32", "final_operation", "input_spec", "build", "traced", "cached", "probe"]


_SQUASH = "\x00squash"  # key under which _run records the final softmax/sigmoid it removed


def f32(x):
    """``x`` cast to float32 (unchanged when it is float32 already)."""
    return keras.ops.cast(x, "float32") if x.dtype != "float32" else x


def final_operation(model):
    """The layer that computes ``model``'s one output; several outputs are a ValueError that says how to pick one."""
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
    if fn is None or is_model(layer) or fn is keras.activations.linear:
        return None
    return "fused"


def _run(model, x, wanted: set[str], record: dict, strip: bool, pre: bool = False):
    """Call ``model`` symbolically on KerasTensor ``x`` with the same layers,
    recording outputs of layers named in ``wanted`` (as float32, fed downstream)
    and removing a final softmax when ``strip``. With ``pre``, a wanted layer's
    activation before its activation function is recorded instead.
    Returns the output tensor."""
    final = final_operation(model) if strip else None

    def call(layer, *args, **kwargs):
        if pre and layer.name in wanted and not (strip and layer is final):
            split = _activation_split(layer)
            if split == "input":
                record[layer.name] = f32(args[0])
                return layer(record[layer.name], *args[1:], **kwargs)
            if split == "fused":
                record[layer.name] = f32(PreActivation(layer)(*args, **kwargs))
                activate = keras.layers.Activation(layer.activation, dtype=layer.dtype_policy)
                return activate(record[layer.name])
        if strip and layer is final:
            kind, squash = squash_kind(layer)
            if squash:
                record[_SQUASH] = squash
            if kind == "skip":
                return args[0]
            if kind == "preact":
                out = PreActivation(layer)(*args, **kwargs)
            elif kind == "nested" or (is_model(layer) and _contains(layer, wanted)):
                out = _run(layer, args[0], wanted, record, strip=True, pre=pre)
            else:
                out = layer(*args, **kwargs)
        elif is_model(layer) and _contains(layer, wanted):
            out = _run(layer, args[0], wanted, record, strip=False, pre=pre)
        else:
            out = layer(*args, **kwargs)
        if layer.name in wanted:
            out = f32(out)
            record[layer.name] = out
        return out

    if isinstance(model, keras.Sequential):
        for layer in child_layers(model):
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


def input_spec(model):
    """``model``'s one input tensor; an unbuilt or multi-input model is a ValueError that says what to do."""
    require_model(model)
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


def build(model, names: tuple[str, ...], pre: bool = False):
    """(input, activations of ``names``, logits, the softmax/sigmoid removed or None)."""
    spec = input_spec(model)
    x = keras.Input(batch_shape=spec.shape, dtype=spec.dtype, name=f"{model.name}_images")
    record: dict = {}
    wanted = set(names)
    logits = f32(_run(model, x, wanted, record, strip=True, pre=pre))
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
        x, acts, logits, _ = build(model, names, pre)
        return keras.Model(x, [*acts, logits], name=f"{model.name}_probe")

    return cached(model, ("probe", names, pre), make)
