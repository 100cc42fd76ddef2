"""What a model's output means: its logits, its number of classes, binary or multi-label.

:func:`logits_model` is the model with its final softmax or sigmoid removed and
a float32 output; :func:`head` says what was removed and whether the model is a
binary (one unit) or multi-label classifier. A model whose "logits" still sum to
1 (a softmax that coursekit could not see) gives a UserWarning.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import keras
import numpy as np

from coursekit._graph import build, cached

__all__ = ["Head", "logits_model", "head", "num_classes"]


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
        x, _, logits, squash = build(model, ())
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
