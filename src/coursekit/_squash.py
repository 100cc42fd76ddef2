"""A final softmax or sigmoid: how to recognise one, and how to call a layer without it.

Logits are what the interpretability and attack helpers differentiate. A final
``Softmax`` layer, an ``Activation``, or a ``Lambda`` found (by calling it) to
compute one is skipped; a layer built with ``activation="softmax"``/``"sigmoid"``
is called with its activation switched off (:class:`PreActivation`). A custom
layer hiding a softmax is not recognised (``coursekit._heads`` warns about it).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from coursekit._layers import is_model

__all__ = ["squash_kind", "softmax_kind", "PreActivation"]


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


def squash_kind(layer) -> tuple[str | None, str | None]:
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
    if is_model(layer):
        return "nested", None
    squash = _squash_of(getattr(layer, "activation", None))
    return ("preact", squash) if squash else (None, None)


def softmax_kind(layer) -> str | None:
    """How a final softmax or sigmoid is removed from ``layer`` (see :func:`squash_kind`).

    Examples
    --------
    >>> softmax_kind(keras.layers.Softmax())
    'skip'
    >>> softmax_kind(keras.layers.Dense(3, activation="softmax"))
    'preact'
    """
    return squash_kind(layer)[0]


class PreActivation(keras.layers.Layer):
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
