"""Finding layers in any Keras 3 model: by name, index or object, inside nested models too.

The policy for the ``model`` and ``layer`` arguments of the whole package:

* :func:`require_model` -- ``model`` must be a ``keras.Model``; None, a str, a
  function or a layer get a TypeError naming what was passed; a subclassed
  model (called or not) gets a ValueError saying how to rebuild it.
* :func:`find_layer` -- ``layer`` may be a name, an index into ``model.layers``
  or a layer object.
* :func:`last_conv_layer`, :func:`last_spatial_layer` -- the default layers of
  the CAM methods.

Every message names the argument and says what to do.
"""

from __future__ import annotations

import difflib
from typing import Iterator

import keras
import numpy as np

from coursekit._arrays import describe

__all__ = ["is_model", "child_layers", "walk_layers", "require_model", "find_layer", "output_rank", "last_conv_layer", "last_spatial_layer"]


def is_model(layer) -> bool:
    """Whether ``layer`` is itself a Keras model (a nested base, say)."""
    return isinstance(layer, keras.Model)


def child_layers(model) -> list:
    """The layers of a model, without its InputLayer(s)."""
    return [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]


def walk_layers(model) -> Iterator[keras.layers.Layer]:
    """All layers in graph order, descending into nested models (InputLayers left out).

    A nested model is yielded after its own layers.
    """
    for layer in child_layers(model):
        if is_model(layer):
            yield from walk_layers(layer)
        yield layer


def _all_names(model) -> list[str]:
    return [layer.name for layer in walk_layers(model)]


def _is_graph_model(model) -> bool:
    """Sequential or functional: a model whose layers' graph coursekit can re-run."""
    from keras.src.models.functional import Functional

    return isinstance(model, (keras.Sequential, Functional))


def require_model(model, arg: str = "model", *, graph: bool = True):
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
    >>> require_model("cnn")
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


def output_rank(layer) -> int | None:
    """The rank of ``layer``'s output, or None when it has no single built output."""
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
        if is_model(layer) or output_rank(layer) != 4:
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
        if output_rank(layer) == 4 and not (is_model(layer) and found):
            found = layer.name
    if found is None:
        raise _no_4d_layer(model, "layer")
    return found
