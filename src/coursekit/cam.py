"""Which pixels made the model say that? Class activation maps and gradient maps.

Every public function has the same shape::

    maps = grad_cam(model, images, targets=None, layer=None)   # (N, H, W) in [0, 1]

* ``images``: one image (H, W, C) or a batch (N, H, W, C), as the model takes
  them (float, finite; see ``coursekit._introspect.as_images``);
* ``targets``: what to explain.

  - ``None``: each image's predicted class;
  - an int: that class for every image; a sequence: one class per image. For a
    one-unit sigmoid head (a binary classifier) the classes are 0 and 1: class 1
    explains the logit, class 0 the negated logit;
  - a function of the model's output (its logits, float32, shape (M, ...)) that
    returns one score per row, (M,); it must work row by row, since SmoothGrad,
    integrated gradients and Score-CAM call it on M = N x samples rows. Or a
    list of N functions, one per image, each taking that image's output
    (without batch axis) and returning a scalar -- as pytorch-grad-cam's
    targets. :func:`region_target` makes one for a pixel region of a
    segmentation output. Score-CAM uses a function's score as the channel
    weight as it is (class targets use the class probability).
* ``layer``: the convolutional layer whose feature maps are weighted (CAM methods
  only): a name, an index into ``model.layers`` or a layer object. ``None``
  picks the last convolution -- the last layer with a 4-D kernel and a 4-D
  output, also inside a nested "pretrained base" -- as keras-io's Grad-CAM does.

The maps come back as float32 NumPy arrays (N, H, W) at the input's
resolution, each min-max scaled to [0, 1] (``normalize=False`` keeps the raw
values). Models may be Sequential, functional or nested, and may end in a
softmax or a sigmoid: the scores are read on the logits before it.

Mixed precision: under ``mixed_float16`` the model's layers run as they do in
training, in float16. The recorded activations, the logits, the target scores,
the gradients with respect to the activations or the input, the channel
weights and the maps are float32; gradients flowing back through the float16
layers carry float16 rounding (about 1e-3 relative).

Examples
--------
The examples of this module use this model and these images:

>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((28, 28, 1)),
...     keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
...     keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
>>> images = np.random.default_rng(0).random((2, 28, 28, 1), dtype="float32")
>>> maps = grad_cam(model, images)
>>> maps.shape, maps.dtype
((2, 28, 28), dtype('float32'))

How it is built (the pytorch-grad-cam design): :class:`CAMExplainer` does the
shared work once per (model, layer) -- a probe of the layer's activations and
the logits (see ``coursekit._introspect``), ONE compiled ``tf.function`` step,
upsampling and normalisation -- and each method is a small subclass that only
says how the channel weights are computed. The gradient maps (saliency,
SmoothGrad, integrated gradients) likewise share one compiled gradient step,
:class:`GradientExplainer`. Both are cached per model, so repeated calls with the
same shapes never retrace.
"""

from __future__ import annotations

import weakref
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from coursekit import _introspect as _in

__all__ = [
    "cam",
    "grad_cam",
    "grad_cam_plus_plus",
    "score_cam",
    "saliency",
    "smooth_grad",
    "integrated_gradients",
    "region_target",
    "CAMExplainer",
    "GradientExplainer",
    "ClassTarget",
    "CallableTarget",
    "explainer",
]


# --------------------------------------------------------------------------- targets


class ClassTarget:
    """The score of a class, read on the logits; the default kind of target.

    ``classes`` is an int32 (N,) tensor where -1 means "the predicted class".
    For a one-unit sigmoid head (binary classifier) class 1 scores the logit and
    class 0 its negation, so that each class's map explains that class.
    """

    def __init__(self, classes: tf.Tensor, binary: bool):
        self.classes = classes
        self.binary = binary

    def resolve(self, logits: tf.Tensor) -> "ClassTarget":
        """The same target with -1 replaced by each image's predicted class."""
        if self.binary:
            predicted = tf.cast(logits[:, 0] > 0, tf.int32)
        else:
            predicted = tf.argmax(logits, axis=-1, output_type=tf.int32)
        return ClassTarget(tf.where(self.classes < 0, predicted, self.classes), self.binary)

    def score(self, logits: tf.Tensor, owner=None) -> tf.Tensor:
        """(M,) scores of rows ``logits`` (M, classes); row m belongs to image owner[m]."""
        classes = self.classes if owner is None else tf.gather(self.classes, owner)
        if self.binary:
            return logits[:, 0] * tf.cast(2 * classes - 1, logits.dtype)
        return tf.gather(logits, classes[:, None], batch_dims=1)[:, 0]

    def probability(self, logits: tf.Tensor, owner, squash) -> tf.Tensor:
        """The target's probability: softmax for a classifier, sigmoid for sigmoid units."""
        if self.binary or squash == "sigmoid":
            return tf.sigmoid(self.score(logits, owner))
        classes = self.classes if owner is None else tf.gather(self.classes, owner)
        return tf.gather(tf.nn.softmax(logits), classes[:, None], batch_dims=1)[:, 0]


class CallableTarget:
    """Targets given as functions of the model's output (as pytorch-grad-cam's).

    Either one function ``f(logits) -> (M,)`` applied row by row to a batch of
    outputs (M may be N times the number of samples), or a list of N functions,
    one per image, each ``f_i(logits_i) -> scalar``. The output is the model's
    output before its final softmax/sigmoid, float32. Explanations with these
    targets run eagerly (the functions are arbitrary Python).
    """

    def __init__(self, fns, n: int):
        if callable(fns):
            self.batch_fn, self.fns = fns, None
        else:
            fns = list(fns)
            if len(fns) != n or not all(callable(f) for f in fns):
                raise ValueError(
                    f"targets: a list of functions needs one per image ({n}); got {len(fns)}."
                )
            self.batch_fn, self.fns = None, fns

    def resolve(self, logits):
        return self

    def score(self, logits: tf.Tensor, owner=None) -> tf.Tensor:
        m = logits.shape[0]
        owner = np.arange(m) if owner is None else np.asarray(owner)
        if self.batch_fn is not None:
            out = tf.reshape(tf.cast(self.batch_fn(logits), tf.float32), (-1,))
            if out.shape[0] != m:
                raise ValueError(
                    f"targets: the function returned {out.shape[0]} scores for {m} outputs; it "
                    "must return one score per image, e.g. tf.reduce_sum(output[..., k] * mask, "
                    "axis=(1, 2))."
                )
            return out
        return tf.stack([tf.reshape(tf.cast(self.fns[o](logits[i]), tf.float32), ()) for i, o in enumerate(owner)])

    def probability(self, logits, owner, squash):
        return self.score(logits, owner)


def region_target(channel: int, mask) -> Callable:
    """A target for a segmentation (dense prediction) output: the sum of one class's
    logits over a region, as pytorch-grad-cam's SemanticSegmentationTarget.

    Parameters
    ----------
    channel : int
        The class (last axis of the output, shape (N, H, W, classes)).
    mask : array-like (H, W)
        1 (or a weight) on the pixels to explain, 0 elsewhere, at the output's size.

    Returns
    -------
    callable
        ``f(output) -> (N,)`` scores, to pass as ``targets``.

    Examples
    --------
    >>> mask = np.zeros((16, 16), np.float32); mask[4:8, 4:8] = 1
    >>> maps = grad_cam(seg_model, images, targets=region_target(1, mask))  # doctest: +SKIP
    """
    weights = tf.constant(np.asarray(mask, np.float32))
    if weights.shape.rank != 2:
        raise ValueError(f"mask must be (H, W), the output's spatial size; got shape {weights.shape}.")

    def target(output):
        return tf.reduce_sum(output[..., int(channel)] * weights, axis=(1, 2))

    return target


def _is_callable_targets(targets) -> bool:
    if callable(targets) and not isinstance(targets, (np.ndarray, tf.Tensor)):
        return True
    return isinstance(targets, (list, tuple)) and bool(targets) and all(callable(t) for t in targets)


def _target(targets, n: int, head: _in.Head):
    """Class targets (an int32 tensor, -1 = predicted) or a CallableTarget."""
    if _is_callable_targets(targets):
        return CallableTarget(targets, n)
    if head.rank != 2:
        raise ValueError(
            f"targets: the model's output has {head.rank} axes (a dense prediction), so a class "
            "index does not say which score to explain. Pass a function of the output, e.g. "
            "targets=coursekit.cam.region_target(class_index, mask)."
        )
    if targets is None:
        return tf.fill((n,), -1)
    return _in.as_targets(targets, n, head.classes)


def _normalize(maps: tf.Tensor) -> tf.Tensor:
    """Min-max scale each map of a (N, H, W) batch to [0, 1]; a constant map becomes 0."""
    lo = tf.reduce_min(maps, axis=(1, 2), keepdims=True)
    hi = tf.reduce_max(maps, axis=(1, 2), keepdims=True)
    return tf.math.divide_no_nan(maps - lo, hi - lo)


def explainer(cls, model, *args):
    """The cached instance of explainer class ``cls`` for ``model`` (and ``args``).

    For a method of your own: subclass :class:`CAMExplainer`, override
    ``channel_weights``, and call ``explainer(MyCAM, model, layer)(images, targets)``.

    Examples
    --------
    >>> class MeanCAM(CAMExplainer):       # every channel weighs the same
    ...     needs_gradients = False
    ...     def channel_weights(self, images, activations, gradients, target):
    ...         return tf.ones(tf.shape(activations)[::3])
    >>> explainer(MeanCAM, model, "conv")(images).shape
    (2, 28, 28)
    """
    _in.require_model(model)
    return _in.cached(model, (cls, *args), lambda: cls(model, *args))


# --------------------------------------------------------------------------- CAM family


class CAMExplainer:
    """Shared machinery of the CAM methods; subclasses override :meth:`channel_weights`.

    One instance per (model, layer) holds the probe and one compiled step that
    runs the model, takes the gradient of each image's target score with respect
    to the layer's activations (when the method needs it), weights the channels,
    applies ReLU, upsamples to the input size and normalises.
    """

    #: whether :meth:`channel_weights` needs d(score)/d(activations)
    needs_gradients = True

    def __init__(self, model, layer=None):
        _in.require_model(model)
        self._model = weakref.ref(model)  # the cache is keyed weakly on the model: no cycle
        self.layer = _in.find_layer(model, layer).name if layer is not None else _in.last_conv_layer(model)
        rank = _in.output_rank(_in.find_layer(model, self.layer))
        if rank not in (4, None):
            raise ValueError(
                f"layer {self.layer!r} has a {rank}-D output; CAM methods need a convolutional "
                f"layer with a 4-D (batch, height, width, channels) output: pass one such as "
                f"{_in.last_conv_layer(model)!r} (the default, the last convolution)."
            )
        self.probe = _in.probe(model, [self.layer])
        self.head = _in.head(model)
        self.num_classes = self.head.units
        self.traces = 0  # how many times the step was traced (tests check it stays at 1)
        self._step = _in.traced(
            lambda x, t, normalize: self._compute(x, ClassTarget(t, self.head.binary), normalize)
        )

    @property
    def model(self):
        return self._model()

    # The one method a subclass overrides.
    def channel_weights(self, images, activations, gradients, target):
        """(N, C) weight of each channel of ``activations`` (N, h, w, C).

        ``target`` is a resolved :class:`ClassTarget` or a :class:`CallableTarget`."""
        raise NotImplementedError

    def _compute(self, images, target, normalize):
        """Maps (N, H, W); traced once for class targets, run eagerly for callables."""
        self.traces += 1  # Python side effect: runs only while tracing (or eagerly)
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(images)
            activations, logits = self.probe(images, training=False)
            target = target.resolve(logits)
            score = target.score(logits)
        gradients = tape.gradient(score, activations) if self.needs_gradients else None
        weights = self.channel_weights(images, activations, gradients, target)
        maps = tf.nn.relu(tf.einsum("nhwc,nc->nhw", activations, weights))
        size = tf.shape(images)[1:3]
        maps = tf.image.resize(maps[..., None], size, method="bilinear")[..., 0]
        maps = tf.cond(normalize, lambda: _normalize(maps), lambda: maps)
        return maps

    def __call__(self, images, targets=None, *, normalize=True) -> np.ndarray:
        x = _in.as_images(self.model, images)
        target = _target(targets, int(x.shape[0]), self.head)
        if isinstance(target, CallableTarget):  # arbitrary Python: run eagerly, no retracing
            return self._compute(x, target, tf.constant(bool(normalize))).numpy()
        return self._step(x, target, tf.constant(bool(normalize))).numpy()


class _GradCAM(CAMExplainer):
    """Grad-CAM (Selvaraju et al. 2017): weights = spatial mean of the gradients."""

    def channel_weights(self, images, activations, gradients, target):
        return tf.reduce_mean(gradients, axis=(1, 2))


class _GradCAMPlusPlus(CAMExplainer):
    """Grad-CAM++ (Chattopadhay et al. 2018), in the form without exp(score)
    (as pytorch-grad-cam): it needs only first derivatives and stays finite for
    large logits."""

    def channel_weights(self, images, activations, gradients, target):
        g2 = tf.square(gradients)
        g3 = g2 * gradients
        total = tf.reduce_sum(activations, axis=(1, 2), keepdims=True)
        denominator = 2.0 * g2 + total * g3
        alpha = tf.where(
            (gradients != 0) & (denominator != 0),
            g2 / tf.where(denominator != 0, denominator, 1.0),
            0.0,
        )
        return tf.reduce_sum(alpha * tf.nn.relu(gradients), axis=(1, 2))


class _CAM(CAMExplainer):
    """CAM (Zhou et al. 2016) for nets that end in global average pooling and a
    Dense layer: weights = that Dense layer's kernel column of the target class."""

    needs_gradients = False

    def __init__(self, model, layer=None):
        super().__init__(model, layer)
        layers = list(_in.walk_layers(model))
        names = [l.name for l in layers]
        after = layers[names.index(self.layer) + 1 :]
        dense = [l for l in after if isinstance(l, keras.layers.Dense)]
        gap = [l for l in after if isinstance(l, keras.layers.GlobalAveragePooling2D)]
        channels = self.probe.outputs[0].shape[-1]
        if not gap or len(dense) != 1 or tuple(dense[0].kernel.shape) != (channels, self.num_classes):
            raise ValueError(
                f"cam() needs a model whose layer {self.layer!r} ({channels} channels) is followed "
                "by GlobalAveragePooling2D and ONE Dense layer to the classes (the CAM "
                f"architecture); this model has {len(gap)} GlobalAveragePooling2D and "
                f"{len(dense)} Dense layer(s) after it. Use grad_cam() instead: it works on any CNN "
                "and equals CAM on the CAM architecture."
            )
        self.dense = dense[0]

    def channel_weights(self, images, activations, gradients, target):
        if not isinstance(target, ClassTarget):
            raise ValueError(
                "cam() weights channels by the Dense kernel column of a class, so targets must "
                "be class indices; for a function of the output use grad_cam()."
            )
        kernel = tf.cast(self.dense.kernel, tf.float32)  # (C, classes)
        if self.head.binary:  # class 1 is the logit's column, class 0 its negation
            sign = tf.cast(2 * target.classes - 1, tf.float32)[:, None]
            return sign * tf.transpose(kernel)
        return tf.gather(tf.transpose(kernel), target.classes)


class _ScoreCAM(CAMExplainer):
    """Score-CAM (Wang et al. 2020): each channel, upsampled and scaled to [0, 1],
    masks the image; its weight is the target's softmax probability on the
    masked image. All masked images are scored in batches of ``batch_size``."""

    needs_gradients = False

    def __init__(self, model, layer=None, batch_size=128):
        super().__init__(model, layer)
        self.batch_size = int(batch_size)
        self.logits = _in.logits_model(model)

    def channel_weights(self, images, activations, gradients, target):
        n, h, w, channels = activations.shape
        size = tf.shape(images)[1:3]
        per_block = max(1, self.batch_size // max(int(n or 1), 1))
        blocks = -(-channels // per_block)
        pad = blocks * per_block - channels
        acts = tf.pad(activations, [[0, 0], [0, 0], [0, 0], [0, pad]])
        # (blocks, N, h, w, per_block): upsampled one block at a time, to bound memory
        acts = tf.transpose(tf.reshape(acts, (-1, h, w, blocks, per_block)), (3, 0, 1, 2, 4))

        def score(block):  # (N, h, w, per_block) -> (N, per_block)
            masks = tf.image.resize(block, size, method="bilinear")  # (N, H, W, per_block)
            lo = tf.reduce_min(masks, axis=(1, 2), keepdims=True)
            hi = tf.reduce_max(masks, axis=(1, 2), keepdims=True)
            masks = tf.math.divide_no_nan(masks - lo, hi - lo)
            masked = images[:, None] * tf.transpose(masks, (0, 3, 1, 2))[..., None]
            flat = tf.reshape(masked, tf.concat([[-1], tf.shape(images)[1:]], 0))
            owner = tf.repeat(tf.range(tf.shape(images)[0]), per_block)
            probs = target.probability(self.logits(flat, training=False), owner, self.head.squash)
            return tf.reshape(probs, (-1, per_block))

        scores = tf.map_fn(score, acts, fn_output_signature=tf.float32)  # (blocks, N, per_block)
        scores = tf.reshape(tf.transpose(scores, (1, 0, 2)), (-1, blocks * per_block))
        return scores[:, :channels]


def cam(model, images, targets=None, layer=None, *, normalize=True) -> np.ndarray:
    """Class activation maps (Zhou et al. 2016): the Dense weights of the target
    class applied to the last conv layer's feature maps.

    Parameters
    ----------
    model : keras.Model
        A Sequential or functional (possibly nested) image classifier whose
        ``layer`` is followed by GlobalAveragePooling2D and one Dense layer (the
        CAM architecture); otherwise the error says to use :func:`grad_cam`,
        which equals CAM there.
    images, targets, layer, normalize :
        As in :func:`grad_cam`; ``targets`` must be classes, not functions.

    Returns
    -------
    numpy.ndarray
        float32 (N, H, W) maps at the input size, in [0, 1] when ``normalize``;
        a single image (H, W, C) still gives (1, H, W).

    Examples
    --------
    >>> cam(model, images, targets=3).shape          # model: see the module docstring
    (2, 28, 28)
    """
    return explainer(_CAM, model, layer)(images, targets, normalize=normalize)


def grad_cam(model, images, targets=None, layer=None, *, normalize=True) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017): channels weighted by the spatial mean of the
    gradient of the target score, summed, ReLU'd and upsampled (bilinear).

    Parameters
    ----------
    model : keras.Model
        A Sequential or functional (possibly nested) image classifier.
    images : array-like or tf.Tensor
        One image (H, W, C) or a batch (N, H, W, C), float, finite, scaled as the
        model was trained.
    targets : None, int, sequence of int, or callable
        None = each image's predicted class; an int or one int per image = those
        classes (0 or 1 for a one-unit sigmoid head); a function of the logits
        returning (N,) scores, or a list of N functions (see the module docstring).
    layer : None, str, int or keras layer
        The conv layer whose feature maps are weighted; None = the last
        convolution (last layer with a 4-D kernel and a 4-D output).
    normalize : bool
        Min-max scale each map to [0, 1] (default); False keeps the raw ReLU'd
        map, whose scale compares across images.

    Returns
    -------
    numpy.ndarray
        float32 (N, H, W) maps at the input size, in [0, 1] when ``normalize``;
        a single image (H, W, C) still gives (1, H, W).

    Examples
    --------
    >>> maps = grad_cam(model, images, targets=[3, 7], layer="conv")
    >>> maps.shape, float(maps.min()) >= 0.0, float(maps.max()) <= 1.0
    ((2, 28, 28), True, True)
    """
    return explainer(_GradCAM, model, layer)(images, targets, normalize=normalize)


def grad_cam_plus_plus(model, images, targets=None, layer=None, *, normalize=True) -> np.ndarray:
    """Grad-CAM++ (Chattopadhay et al. 2018), in the exp-free form of
    pytorch-grad-cam: channels weighted by the positive gradients times alpha
    (from first derivatives only, finite for large logits).

    Parameters
    ----------
    model, images, targets, layer, normalize :
        As in :func:`grad_cam`.

    Returns
    -------
    numpy.ndarray
        float32 (N, H, W) maps at the input size, in [0, 1] when ``normalize``;
        a single image (H, W, C) still gives (1, H, W).

    Examples
    --------
    >>> grad_cam_plus_plus(model, images[0]).shape     # one image
    (1, 28, 28)
    """
    return explainer(_GradCAMPlusPlus, model, layer)(images, targets, normalize=normalize)


def score_cam(
    model, images, targets=None, layer=None, *, normalize=True, batch_size=128
) -> np.ndarray:
    """Score-CAM (Wang et al. 2020): gradient-free; each channel, upsampled and
    scaled to [0, 1], masks the image, and its weight is the target's
    probability on the masked image (softmax for a classifier, sigmoid of the
    class score for sigmoid heads; a callable target's score as is).

    Parameters
    ----------
    model, images, targets, layer, normalize :
        As in :func:`grad_cam`.
    batch_size : int
        The N x channels masked images are scored this many at a time (memory
        against speed); default 128.

    Returns
    -------
    numpy.ndarray
        float32 (N, H, W) maps at the input size, in [0, 1] when ``normalize``;
        a single image (H, W, C) still gives (1, H, W).

    Examples
    --------
    >>> score_cam(model, images, targets=1, batch_size=16).shape
    (2, 28, 28)
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1; got {batch_size!r}.")
    return explainer(_ScoreCAM, model, layer, int(batch_size))(images, targets, normalize=normalize)


# --------------------------------------------------------------------------- gradient maps


class GradientExplainer:
    """One compiled gradient step shared by saliency, SmoothGrad and integrated gradients.

    ``step(images, baseline, targets, alphas, weights, sigma, seeds)`` returns, for
    each image, ``sum_k weights[k] * d score / d input`` evaluated at
    ``baseline + alphas[k] * (images - baseline) + sigma * noise_k`` -- one
    batch of N*K gradients. Saliency is K=1 (alpha 1, no noise), SmoothGrad adds
    noise, integrated gradients walks alpha from 0 to 1.
    """

    def __init__(self, model):
        _in.require_model(model)
        self.logits = _in.logits_model(model)
        self.head = _in.head(model)
        self.num_classes = self.head.units
        self.traces = 0
        binary = self.head.binary
        self._step = _in.traced(
            lambda x, b, t, *rest: self._compute(x, b, ClassTarget(t, binary), *rest)
        )
        self._predict = _in.traced(
            lambda x: ClassTarget(tf.fill(tf.shape(x)[:1], -1), binary)
            .resolve(self.logits(x, training=False))
            .classes
        )

    def _compute(self, images, baseline, target, alphas, weights, sigma, seeds):
        self.traces += 1
        k = tf.shape(alphas)[0]
        shape = tf.shape(images)
        a = tf.reshape(alphas, (-1, 1, 1, 1, 1))
        inputs = baseline[None] + a * (images - baseline)[None]  # (K, N, H, W, C)

        def noisy():
            # One seed per sample, so chunking does not change the noise. Sample k
            # uses the same noise pattern for every image of the batch (scaled by
            # each image's sigma): each image still gets K independent draws, and
            # drawing N times fewer normals is a large part of the step's cost.
            noise = tf.map_fn(
                lambda s: tf.random.stateless_normal(shape[1:], s), seeds, fn_output_signature=tf.float32
            )
            return inputs + sigma[None, :, None, None, None] * noise[:, None]

        inputs = tf.cond(tf.reduce_any(sigma > 0), noisy, lambda: inputs)
        inputs = tf.reshape(inputs, tf.concat([[-1], shape[1:]], 0))
        with tf.GradientTape(watch_accessed_variables=False) as tape:
            tape.watch(inputs)
            logits = self.logits(inputs, training=False)
            score = target.score(logits, tf.tile(tf.range(shape[0]), [k]))
        grads = tf.reshape(tape.gradient(score, inputs), tf.concat([[k], shape], 0))
        return tf.einsum("k,knhwc->nhwc", weights, grads)

    def targets(self, x, targets):
        """Resolved class indices (int32 (N,)) or a :class:`CallableTarget`."""
        target = _target(targets, int(x.shape[0]), self.head)
        if targets is None:
            return self._predict(x)
        return target

    def gradients(self, x, baseline, targets, alphas, weights, sigma, seed, per_call):
        """Sum the weighted gradients over all alphas, ``per_call`` alphas per step."""
        alphas = np.asarray(alphas, np.float32)
        weights = np.asarray(weights, np.float32)
        total = None
        for start in range(0, len(alphas), per_call):
            sl = slice(start, start + per_call)
            a, w = alphas[sl], weights[sl]
            if len(a) < per_call and start > 0:  # keep one shape per call: pad with zero weight
                a = np.pad(a, (0, per_call - len(a)), constant_values=1.0)
                w = np.pad(w, (0, per_call - len(w)))
            seeds = np.stack([np.full(len(a), seed), start + np.arange(len(a))], axis=1)
            step = self._compute if isinstance(targets, CallableTarget) else self._step
            part = step(
                x, baseline, targets, tf.constant(a), tf.constant(w), sigma,
                tf.constant(seeds, tf.int64),
            )
            total = part if total is None else total + part
        return total


def _per_call(n: int, k: int, batch_size: int) -> int:
    """Samples per step: at most batch_size images, in equal chunks (little padding)."""
    most = max(1, min(k, batch_size // max(n, 1)))
    calls = -(-k // most)
    return -(-k // calls)


def _as_map(grads: tf.Tensor) -> np.ndarray:
    """(N, H, W, C) gradients -> (N, H, W) maps in [0, 1]: max |g| over channels."""
    return _normalize(tf.reduce_max(tf.abs(grads), axis=-1)).numpy()


def _seed(seed) -> int:
    return int(np.random.SeedSequence(seed).generate_state(1)[0] >> 1)


def saliency(model, images, targets=None, layer=None, *, return_raw=False) -> np.ndarray:
    """Vanilla gradient saliency (Simonyan et al. 2014): max over channels of
    ``|d score / d pixel|``, where score is the target's logit.

    Parameters
    ----------
    model : keras.Model
        A Sequential or functional (possibly nested) image classifier.
    images : array-like or tf.Tensor
        One image (H, W, C) or a batch (N, H, W, C), float, finite, scaled as the
        model was trained.
    targets : None, int, sequence of int, or callable
        None = each image's predicted class; an int or one int per image = those
        classes (0 or 1 for a one-unit sigmoid head); a function of the logits
        returning (N,) scores, or a list of N functions (see the module docstring).
    layer : None, str, int or keras layer
        Accepted for a uniform signature and ignored (gradient maps are
        taken with respect to the input pixels).
    return_raw : bool
        Return the signed gradients instead of the map.

    Returns
    -------
    numpy.ndarray
        float32 (N, H, W) maps in [0, 1] (max over channels of ``|gradient|``), or
        with ``return_raw=True`` the raw gradients (N, H, W, C).

    Examples
    --------
    >>> saliency(model, images, return_raw=True).shape
    (2, 28, 28, 1)
    """
    ex = explainer(GradientExplainer, model)
    x = _in.as_images(model, images)
    t = ex.targets(x, targets)
    sigma = tf.zeros((x.shape[0],))
    grads = ex.gradients(x, tf.zeros_like(x), t, [1.0], [1.0], sigma, 0, 1)
    return grads.numpy() if return_raw else _as_map(grads)


def smooth_grad(
    model, images, targets=None, layer=None, *, samples=25, noise=0.15, seed=None,
    batch_size=256, return_raw=False,
) -> np.ndarray:
    """SmoothGrad (Smilkov et al. 2017): the gradient averaged over ``samples``
    noisy copies of each image. All samples run through one compiled step.

    Parameters
    ----------
    model, images, targets, layer :
        As in :func:`saliency`.
    samples : int
        Noisy copies per image (>= 1); default 25, the paper's range 20-50.
    noise : float
        Noise std as a fraction of each image's (max - min); default 0.15, the
        paper's 10-20 %.
    seed : int, optional
        The same seed gives the same noise; None draws a fresh one.
    batch_size : int
        At most this many noisy images per compiled call.
    return_raw : bool
        Return the averaged signed gradients instead of the map.

    Returns
    -------
    numpy.ndarray
        float32 (N, H, W) maps in [0, 1] (max over channels of ``|gradient|``), or
        with ``return_raw=True`` the raw gradients (N, H, W, C).

    Examples
    --------
    >>> smooth_grad(model, images, samples=4, seed=0).shape
    (2, 28, 28)
    """
    if int(samples) < 1:
        raise ValueError(f"samples must be >= 1; got {samples}.")
    if not noise >= 0:
        raise ValueError(f"noise must be >= 0 (a fraction of each image's value range); got {noise}.")
    ex = explainer(GradientExplainer, model)
    x = _in.as_images(model, images)
    t = ex.targets(x, targets)
    span = tf.reduce_max(x, axis=(1, 2, 3)) - tf.reduce_min(x, axis=(1, 2, 3))
    sigma = float(noise) * span
    k = int(samples)
    grads = ex.gradients(
        x, tf.zeros_like(x), t, np.ones(k), np.full(k, 1.0 / k), sigma, _seed(seed),
        _per_call(int(x.shape[0]), k, batch_size),
    )
    return grads.numpy() if return_raw else _as_map(grads)


def integrated_gradients(
    model, images, targets=None, layer=None, *, baseline=None, steps=32, batch_size=256,
    return_raw=False,
) -> np.ndarray:
    """Integrated gradients (Sundararajan et al. 2017): the gradient averaged along
    the straight path from ``baseline`` to the image (midpoint Riemann sum), times
    (image - baseline).

    Parameters
    ----------
    model, images, targets, layer :
        As in :func:`saliency`.
    baseline : array-like, optional
        (H, W, C) or (N, H, W, C), broadcast to the images; default a black
        image (zeros).
    steps : int
        Points of the Riemann sum (>= 1); default 32.
    batch_size : int
        At most this many path images per compiled call.
    return_raw : bool
        Return the attributions (N, H, W, C), whose sum over pixels approaches
        ``logit(x) - logit(baseline)`` of the target as ``steps`` grows
        (completeness).

    Returns
    -------
    numpy.ndarray
        float32 (N, H, W) maps in [0, 1] (``|attribution|`` summed over channels),
        or the raw attributions (N, H, W, C).

    Examples
    --------
    >>> integrated_gradients(model, images, steps=8).shape
    (2, 28, 28)
    """
    if int(steps) < 1:
        raise ValueError(f"steps must be >= 1; got {steps}.")
    ex = explainer(GradientExplainer, model)
    x = _in.as_images(model, images)
    if baseline is None:
        b = tf.zeros_like(x)
    else:
        b = np.asarray(baseline, np.float32)
        if b.ndim == 3:
            b = b[None]
        b = tf.broadcast_to(tf.constant(b, tf.float32), tf.shape(x))
    t = ex.targets(x, targets)
    k = int(steps)
    alphas = (np.arange(k) + 0.5) / k
    grads = ex.gradients(
        x, b, t, alphas, np.full(k, 1.0 / k), tf.zeros((x.shape[0],)), 0,
        _per_call(int(x.shape[0]), k, batch_size),
    )
    attributions = (x - b) * grads
    if return_raw:
        return attributions.numpy()
    return _normalize(tf.reduce_sum(tf.abs(attributions), axis=-1)).numpy()
