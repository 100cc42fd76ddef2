"""Adversarial examples: FGSM, PGD (L-inf) and robust accuracy over a sweep of epsilons.

Plain functions with explicit arguments, in the style of cleverhans' TF2 attacks::

    adv = fgsm(model, images, labels, eps=0.1)
    adv = pgd(model, images, eps=0.03, steps=20)                 # labels = the model's predictions
    adv = pgd(model, images, 3, eps=0.1, targeted=True)          # push every image towards class 3
    acc = robust_accuracy(model, images, labels, "pgd", eps=[0, 0.01, 0.03, 0.1])

Any Sequential, functional or nested Keras 3 classifier works, ending in a softmax, a sigmoid
or neither. The loss is the cross-entropy of the *logits* (a final softmax or sigmoid is
stripped, see `coursekit._introspect.logits_model`):

* a classifier with several outputs and no sigmoid: softmax cross-entropy with class indices;
* a one-unit head (a binary classifier, e.g. cats vs dogs): binary cross-entropy of the logit
  with the class 0 or 1;
* several sigmoid units (multi-label): the sum of each unit's binary cross-entropy with 0/1
  labels of shape (N, units).

Mixed precision: under ``mixed_float16`` the forward pass runs in float16, as in training; the
logits, the loss, the input gradient and the adversarial images are float32.

Examples
--------
The examples of this module use this model and these images:

>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((28, 28, 1)),
...     keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
...     keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
>>> images = np.random.default_rng(0).random((2, 28, 28, 1), dtype="float32")
>>> labels = np.array([3, 7])

Each model gets its compiled steps once (cached): eps, step size, number of steps, direction,
bounds and seed are passed as tensors and the batch dimension is left open, so calling an attack
again, with other settings or another batch size, does not retrace.
"""

from __future__ import annotations

import math
import numbers
import operator
import weakref
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

from coursekit._introspect import as_images, as_targets, cached, require_model, describe, head, logits_model, traced

__all__ = ["fgsm", "pgd", "robust_accuracy"]


# --------------------------------------------------------------------------- compiled steps


def _loss(logits, y, sigmoid: bool):
    """Sum over the batch of the cross-entropy of the logits: softmax cross-entropy with
    class indices y (N,), or binary cross-entropy of each sigmoid unit with 0/1 labels
    y (N, units) for a binary or multi-label head."""
    if sigmoid:
        return tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
    return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))


def _predict(logits, sigmoid: bool):
    """Predicted labels in the labels' form: classes (N,) or 0/1 per sigmoid unit (N, units)."""
    if sigmoid:
        return tf.cast(logits > 0, tf.float32)
    return tf.argmax(logits, axis=-1, output_type=tf.int32)


def _input_gradient(model, x, y, direction, sigmoid: bool = False):
    """direction * d(sum of cross-entropies of the logits)/dx, in float32."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = tf.cast(model(x, training=False), tf.float32)
        loss = _loss(logits, y, sigmoid)
    return direction * tape.gradient(loss, x)


_UNROLL = 5  # PGD steps per loop iteration (see _Steps.pgd)


class _Steps:
    """The compiled functions for one logits model and one image shape.

    Every argument is a tensor with a fixed signature, so a function traces once.
    `direction` is +1 (untargeted: climb the loss of the true label) or -1 (targeted:
    descend the loss of the target label).
    """

    def __init__(self, logits: "tf.keras.Model", image_shape: Sequence[int], sigmoid: bool, units: int):
        ref = weakref.ref(logits)  # the cache must not keep the model alive
        image = tf.TensorSpec((None, *image_shape), tf.float32)
        label = tf.TensorSpec((None, units), tf.float32) if sigmoid else tf.TensorSpec((None,), tf.int32)
        scalar = tf.TensorSpec((), tf.float32)

        @traced(input_signature=[image])
        def predict(x):
            return _predict(ref()(x, training=False), sigmoid)

        @traced(input_signature=[image, label, scalar])
        def gradient_sign(x, y, direction):
            return tf.sign(_input_gradient(ref(), x, y, direction, sigmoid))

        @traced(
            input_signature=[
                image, label,
                scalar, scalar, tf.TensorSpec((), tf.int32),  # eps, step_size, steps
                scalar, scalar, scalar,  # direction, low, high
                tf.TensorSpec((2,), tf.int32), scalar,  # seed, random start (0 or 1)
            ]
        )
        def pgd(x, y, eps, step_size, steps, direction, low, high, seed, random_start):
            # Projection onto (eps-ball around x) intersected with (bounds) is one clip.
            lower = tf.maximum(x - eps, low)
            upper = tf.minimum(x + eps, high)
            noise = tf.random.stateless_uniform(tf.shape(x), seed, -1.0, 1.0)
            adv = tf.clip_by_value(x + (random_start * eps) * noise, lower, upper)

            def step(adv):
                grad = _input_gradient(ref(), adv, y, direction, sigmoid)
                return tf.clip_by_value(adv + step_size * tf.sign(grad), lower, upper)

            # Steps run in blocks of _UNROLL inside the loop, then the remainder one by one:
            # a graph loop per step made the time swing by up to 1.8x between runs on 2 cores,
            # while the steps count stays a tensor, so a new count does not retrace.
            for _ in tf.range(steps // _UNROLL):
                for _ in range(_UNROLL):
                    adv = step(adv)
            for _ in tf.range(steps % _UNROLL):
                adv = step(adv)
            return adv

        self.predict = predict
        self.gradient_sign = gradient_sign
        self.pgd = pgd


def _steps_for(logits, image_shape, head) -> _Steps:
    shape = tuple(int(d) for d in image_shape)
    sigmoid = head.binary or head.multilabel
    key = (_Steps, shape, sigmoid, head.units)
    return cached(logits, key, lambda: _Steps(logits, shape, sigmoid, head.units))


# --------------------------------------------------------------------------- argument checks


def _number(name: str, value) -> float:
    """A finite float >= 0 (eps, step_size)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.ndarray, tf.Tensor)):
        raise TypeError(f"{name} must be a number, got {value!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a single number, got {value!r}.") from None
    if not math.isfinite(number) or number < 0:
        hint = " (eps is the L-inf radius: the largest change allowed per pixel)" if name == "eps" else ""
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}{hint}.")
    return number


def _steps_count(steps) -> int:
    try:
        count = operator.index(steps)
    except TypeError:
        raise TypeError(f"steps must be an integer, got {steps!r}.") from None
    if isinstance(steps, bool) or count < 1:
        raise ValueError(f"steps must be an integer >= 1, got {steps!r}.")
    return count


def _bounds(bounds) -> tuple[float, float]:
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise TypeError(
            f"bounds must be a pair (low, high) such as (0.0, 1.0), got {bounds!r}."
        ) from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise ValueError(
            f"bounds must be (low, high) with low < high, got {bounds!r}: "
            "they are the smallest and largest valid pixel values, e.g. (0.0, 1.0)."
        )
    return low, high


class _Batch:
    """A checked batch of images plus what the attacks need to know about the model."""

    def __init__(self, model, images, bounds):
        require_model(model)
        self.low, self.high = _bounds(bounds)
        # The bounds state the pixel range, and are checked below: no range guessing.
        self.x = as_images(model, images, warn_range=False)
        self.single = len(getattr(images, "shape", np.shape(images))) == 3
        self.logits = logits_model(model)
        self.head = head(model)
        if self.head.rank != 2:
            raise ValueError(
                f"model: the attacks need a classifier with outputs (N, classes); model "
                f"{model.name!r} outputs {self.head.rank}-D predictions."
            )
        self.sigmoid = self.head.binary or self.head.multilabel
        self.steps = _steps_for(self.logits, self.x.shape[1:], self.head)
        lo, hi = float(tf.reduce_min(self.x)), float(tf.reduce_max(self.x))
        tol = 1e-6 * max(1.0, abs(self.low), abs(self.high))
        if lo < self.low - tol or hi > self.high + tol:
            raise ValueError(
                f"the images hold values in [{lo:g}, {hi:g}], outside bounds=({self.low:g}, "
                f"{self.high:g}). Pass the bounds of your model's input, e.g. bounds=(0, 255) "
                "for raw pixels or bounds=(-1, 1) after (x/127.5 - 1), or rescale the images."
            )
        self.n = int(self.x.shape[0])

    def labels(self, labels, *, targeted: bool, batch_size=None) -> tf.Tensor:
        if labels is None:
            if targeted:
                raise ValueError(
                    "targeted=True needs labels: the target class, one int for every image "
                    "or one per image."
                )
            return _batched(self.steps.predict, [self.x], batch_size)
        if self.head.multilabel:
            return _multi_hot(labels, self.n, self.head.units)
        classes = as_targets(labels, self.n, self.head.classes, arg="labels")
        if self.head.binary:  # a 0/1 column for the binary cross-entropy of the one logit
            return tf.cast(classes, tf.float32)[:, None]
        return classes

    def user_labels(self, y) -> np.ndarray:
        """Labels in the form the user gives them (class 0/1 for a binary head)."""
        y = y.numpy()
        return y[:, 0].astype(np.int64) if self.head.binary else y

    def output(self, adv) -> np.ndarray:
        adv = np.asarray(adv, dtype=np.float32)
        return adv[0] if self.single else adv


def _multi_hot(labels, n: int, units: int) -> tf.Tensor:
    """0/1 labels (N, units) of a multi-label (several sigmoid units) head."""
    arr = np.asarray(labels, dtype=np.float32) if labels is not None else None
    if arr is None or arr.shape != (n, units) or not np.isin(arr, (0.0, 1.0)).all():
        raise ValueError(
            f"labels: a multi-label model ({units} sigmoid units) needs 0/1 labels of shape "
            f"({n}, {units}), one row per image; got {describe(labels)}."
        )
    return tf.constant(arr)


def _correct(predicted, y) -> np.ndarray:
    """(N,) bool: prediction equals label (every unit, for sigmoid heads)."""
    same = np.asarray(predicted) == np.asarray(y)
    return same.all(axis=-1) if same.ndim == 2 else same


def _batched(fn: Callable, tensors: list, batch_size) -> tf.Tensor:
    """fn over slices of `tensors` along the batch axis, results concatenated."""
    n = int(tensors[0].shape[0])
    if batch_size is None or batch_size >= n:
        return fn(*tensors)
    parts = [fn(*(t[i : i + batch_size] for t in tensors)) for i in range(0, n, batch_size)]
    return tf.concat(parts, axis=0)


def _batch_size(batch_size):
    if batch_size is None:
        return None
    try:
        size = operator.index(batch_size)
    except TypeError:
        raise TypeError(f"batch_size must be an integer or None, got {batch_size!r}.") from None
    if size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}.")
    return size


def _seed_pair(seed) -> tf.Tensor:
    return tf.constant(np.random.default_rng(seed).integers(0, 2**31 - 1, size=2), tf.int32)


def _f32(value) -> tf.Tensor:
    return tf.constant(value, tf.float32)


# --------------------------------------------------------------------------- attacks


def _fgsm(batch: _Batch, x, y, eps: float, direction: float, batch_size) -> tf.Tensor:
    sign = _batched(lambda a, b: batch.steps.gradient_sign(a, b, _f32(direction)), [x, y], batch_size)
    return tf.clip_by_value(x + eps * sign, batch.low, batch.high)


def _pgd(batch: _Batch, x, y, *, eps, step_size, steps, random_start, direction, seed, batch_size):
    args = (
        _f32(eps), _f32(step_size), tf.constant(steps, tf.int32), _f32(direction),
        _f32(batch.low), _f32(batch.high), _seed_pair(seed), _f32(1.0 if random_start else 0.0),
    )
    return _batched(lambda a, b: batch.steps.pgd(a, b, *args), [x, y], batch_size)


def _default_step_size(eps: float, steps: int) -> float:
    # Madry et al. (2018) use 2.5 * eps / steps: enough to cross the ball and come back.
    return 2.5 * eps / steps


def fgsm(model, images, labels=None, *, eps, targeted=False, bounds=(0.0, 1.0), batch_size=None):
    """Fast Gradient Sign Method (Goodfellow et al., 2015).

    Returns ``clip(x + eps * sign(grad_x loss), *bounds)`` where the loss is the cross-entropy of
    the logits with `labels` (untargeted: the loss goes up), or ``x - eps * sign(...)`` with the
    target classes (``targeted=True``: the loss of the target goes down).

    Parameters
    ----------
    model : keras.Model
        A Sequential or functional classifier (softmax, sigmoid or logits output).
    images : array-like
        One image (H, W, C) or a batch (N, H, W, C), float, inside `bounds`.
    labels : None, int, or array-like
        The true classes: an int for every image or one per image (N,); 0 or 1 for a one-unit
        sigmoid head; 0/1 rows (N, units) for a multi-label head. None = the model's
        predictions. With ``targeted=True`` these are the target classes and are required.
    eps : float
        The L-inf radius: the largest change allowed per pixel, in the units of `bounds`
        (>= 0; 8/255 is a common choice for images in [0, 1]).
    targeted : bool
        Step towards `labels` (descend their loss) instead of away from them.
    bounds : (float, float)
        (low, high), the valid pixel range of the model's input; default (0, 1).
    batch_size : int, optional
        Split large inputs into batches of this many images (None = all at once).

    Returns
    -------
    numpy.ndarray
        float32, shaped like `images`, with ``|adv - images| <= eps`` and values inside `bounds`.

    Examples
    --------
    >>> adv = fgsm(model, images, labels, eps=0.1)        # model: see the module docstring
    >>> adv.shape, adv.dtype, bool(np.abs(adv - images).max() <= 0.1 + 1e-6)
    ((2, 28, 28, 1), dtype('float32'), True)
    """
    eps = _number("eps", eps)
    batch = _Batch(model, images, bounds)
    size = _batch_size(batch_size)
    y = batch.labels(labels, targeted=targeted, batch_size=size)
    direction = -1.0 if targeted else 1.0
    return batch.output(_fgsm(batch, batch.x, y, eps, direction, size))


def pgd(
    model,
    images,
    labels=None,
    *,
    eps,
    step_size=None,
    steps=10,
    random_start=True,
    targeted=False,
    bounds=(0.0, 1.0),
    seed=None,
    batch_size=None,
):
    """Projected Gradient Descent in the L-inf ball (Madry et al., 2018).

    Starts from a uniform random point of the eps-ball (``random_start=True``), then takes
    `steps` signed-gradient steps of `step_size`, projecting after each back onto the eps-ball
    around the image and into `bounds`. All steps run in one compiled call.

    Parameters
    ----------
    model, images, labels, eps, targeted, bounds, batch_size :
        As in :func:`fgsm`.
    step_size : float, optional
        The size of one step; None = ``2.5 * eps / steps`` (Madry et al.: enough to cross the
        ball and come back).
    steps : int
        Number of gradient steps (>= 1); default 10.
    random_start : bool
        Start from a uniform random point of the ball (True) or from the image (False).
    seed : int, optional
        For a reproducible random start; None = a fresh one each call.

    Returns
    -------
    numpy.ndarray
        float32, shaped like `images`, with ``|adv - images| <= eps`` and every value inside
        `bounds`.

    Examples
    --------
    >>> adv = pgd(model, images, labels, eps=0.05, steps=5, seed=0)
    >>> bool(np.abs(adv - images).max() <= 0.05 + 1e-6)
    True
    >>> adv = pgd(model, images, 3, eps=0.1, targeted=True, seed=0)   # towards class 3
    """
    eps = _number("eps", eps)
    steps = _steps_count(steps)
    step_size = _default_step_size(eps, steps) if step_size is None else _number("step_size", step_size)
    batch = _Batch(model, images, bounds)
    size = _batch_size(batch_size)
    y = batch.labels(labels, targeted=targeted, batch_size=size)
    adv = _pgd(
        batch, batch.x, y, eps=eps, step_size=step_size, steps=steps, random_start=random_start,
        direction=-1.0 if targeted else 1.0, seed=seed, batch_size=size,
    )
    return batch.output(adv)


# --------------------------------------------------------------------------- robust accuracy

_ATTACKS = {"fgsm": fgsm, "pgd": pgd}


def robust_accuracy(model, images, labels, attack, eps, *, bounds=(0.0, 1.0), batch_size=256, **attack_kwargs):
    """Accuracy under attack for every epsilon of a sweep, in one call (as in foolbox 3).

    An image counts as robust at `eps` when it is classified correctly and the attack finds no
    adversarial example within eps. An example found at a smaller eps also lies in every larger
    ball, so the epsilons are visited in increasing order and only the images still robust are
    attacked again: the curve never goes up, and each eps costs less than the previous one. FGSM
    computes its gradient once for the whole sweep, since it does not depend on eps.

    Parameters
    ----------
    model : keras.Model
        A classifier, as in :func:`fgsm` (binary and multi-label heads included: a multi-label
        image is correct when every unit is).
    images : array-like
        A batch (N, H, W, C), N >= 1, float, inside `bounds`.
    labels : None or array-like
        The true classes, one per image (0/1 for a binary head, (N, units) 0/1 rows for a
        multi-label head); None = the model's predictions (then eps = 0 gives 1.0).
    attack : str or callable
        "fgsm", "pgd" (or the functions `fgsm` / `pgd`), or any function
        ``attack(model, images, labels, *, eps, bounds, **attack_kwargs) -> adversarial images``.
    eps : float or sequence of float
        The epsilons (>= 0, any order, repeats allowed). eps = 0 gives the clean accuracy.
    bounds : (float, float)
        (low, high), the valid pixel range; default (0, 1).
    batch_size : int
        Images per compiled call; default 256.
    **attack_kwargs :
        Passed to the attack, e.g. ``steps=20, seed=0`` for PGD.

    Returns
    -------
    numpy.ndarray or float
        float64 accuracies in [0, 1], one per eps in the order given, never increasing with
        eps; a float for a single eps.

    Examples
    --------
    >>> acc = robust_accuracy(model, images, labels, "fgsm", eps=[0.0, 0.05, 0.1])
    >>> acc.shape, bool(np.all(np.diff(acc) <= 0))
    ((3,), True)
    """
    if isinstance(attack, str):
        name = attack.lower()
        if name not in _ATTACKS:
            raise ValueError(
                f"unknown attack {attack!r}: use one of {sorted(_ATTACKS)}, or pass a function "
                "attack(model, images, labels, *, eps, bounds, ...) -> adversarial images."
            )
        attack = _ATTACKS[name]
    elif not callable(attack):
        raise TypeError(f"attack must be 'fgsm', 'pgd' or a function, got {attack!r}.")
    if attack_kwargs.get("targeted"):
        raise ValueError("robust_accuracy measures untargeted robustness: drop targeted=True.")
    attack_kwargs.pop("targeted", None)

    scalar = np.ndim(eps) == 0
    eps_list = [_number("eps", e) for e in np.atleast_1d(np.asarray(eps, dtype=object))]
    if not eps_list:
        raise ValueError("eps must hold at least one epsilon, e.g. eps=[0.0, 0.01, 0.03].")
    size = _batch_size(batch_size)

    batch = _Batch(model, images, bounds)
    if batch.single:
        raise ValueError("robust_accuracy needs a batch of images (N, H, W, C), not a single image.")
    y = batch.labels(labels, targeted=False, batch_size=size)
    robust = _correct(_batched(batch.steps.predict, [batch.x], size).numpy(), y.numpy())

    run = _sweep_step(attack, batch, y, robust, size, model, bounds, attack_kwargs)
    accuracy = {}
    for e in sorted(set(eps_list)):
        idx = np.flatnonzero(robust)
        if e > 0 and idx.size:
            adv = run(e, idx)
            fooled = ~_correct(_batched(batch.steps.predict, [adv], size).numpy(), y.numpy()[idx])
            robust[idx[fooled]] = False
        accuracy[e] = float(robust.mean())

    result = np.array([accuracy[e] for e in eps_list])
    return float(result[0]) if scalar else result


def _sweep_step(attack, batch, y, robust, size, model, bounds, kwargs) -> Callable:
    """``run(eps, idx) -> adversarials of images idx`` for robust_accuracy, arguments checked now."""
    if attack is fgsm:
        if kwargs:
            raise TypeError(f"fgsm takes no argument(s) {sorted(kwargs)}.")
        # The FGSM direction does not depend on eps: one gradient for the whole sweep, taken
        # at the first eps > 0 on the images still robust then (later ones are a subset).
        first = sign = None

        def run(eps, idx):
            nonlocal first, sign
            if first is None:
                first = idx
                sign = _batched(
                    lambda a, b: batch.steps.gradient_sign(a, b, _f32(1.0)),
                    [tf.gather(batch.x, idx), tf.gather(y, idx)], size,
                )
            rows = np.searchsorted(first, idx)
            adv = tf.gather(batch.x, idx) + eps * tf.gather(sign, rows)
            return tf.clip_by_value(adv, batch.low, batch.high)

        return run

    if attack is pgd:
        kw = dict(kwargs)
        steps = _steps_count(kw.pop("steps", 10))
        step_size = kw.pop("step_size", None)
        if step_size is not None:
            step_size = _number("step_size", step_size)
        random_start, seed = kw.pop("random_start", True), kw.pop("seed", None)
        if kw:
            raise TypeError(f"pgd takes no argument(s) {sorted(kw)}.")

        def run(eps, idx):
            step = _default_step_size(eps, steps) if step_size is None else step_size
            return _pgd(
                batch, tf.gather(batch.x, idx), tf.gather(y, idx), eps=eps, step_size=step,
                steps=steps, random_start=random_start, direction=1.0, seed=seed, batch_size=size,
            )

        return run

    def run(eps, idx):
        images, labels = tf.gather(batch.x, idx).numpy(), batch.user_labels(tf.gather(y, idx))
        adv = attack(model, images, labels, eps=eps, bounds=bounds, **kwargs)
        return tf.convert_to_tensor(adv, tf.float32)

    return run
