"""What does a convolutional layer look for? Filters, feature maps and feature
visualization by activation maximization.

* :func:`filters` -- a conv layer's kernels, ready to draw;
* :func:`feature_maps` -- the activations of some layers for an image;
* :func:`maximize_activation` -- synthesize one image per unit that excites it
  most (Erhan et al. 2009; Olah et al. 2017, "Feature Visualization"), with the
  ideas of lucid/lucent: a Fourier image parameterization with decorrelated
  colours, and transformation robustness (random jitter, scale and rotation at
  every step). All units are optimized together, as one batch, and the whole
  optimization loop is ONE compiled ``tf.function``.

Models may be Sequential, functional or nested and end in a softmax or sigmoid
(see ``coursekit._introspect``). Under ``mixed_float16`` the layers run in
float16 as in training; the activations read, the objective, its gradient, the
optimizer state and the returned images are float32.

Examples
--------
The examples of this module use this model and image:

>>> import keras, numpy as np
>>> model = keras.Sequential([keras.Input((28, 28, 1)),
...     keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
...     keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10, activation="softmax")])
>>> image = np.random.default_rng(0).random((28, 28, 1), dtype="float32")
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import tensorflow as tf

from coursekit import _introspect as _in

__all__ = ["filters", "feature_maps", "maximize_activation", "ActivationMaximizer"]


# --------------------------------------------------------------------------- filters and maps


def filters(layer, model=None, *, normalize=False) -> np.ndarray:
    """The kernel of a convolutional layer.

    Parameters
    ----------
    layer : keras layer, str or int
        A Conv2D-like layer (Conv2D, DepthwiseConv2D, Conv2DTranspose), or its name
        or index in ``model.layers`` together with ``model``.
    model : keras.Model, optional
        Needed when ``layer`` is a name or an index.
    normalize : bool
        Scale the whole kernel to [0, 1] for display (one min and max for all
        filters, so their contrasts compare); default False, the raw weights.

    Returns
    -------
    numpy.ndarray
        float32 (kh, kw, in_channels, out_channels).

    Examples
    --------
    >>> filters("conv", model).shape                 # model: see the module docstring
    (3, 3, 1, 8)
    """
    if isinstance(layer, (str, int, np.integer)) and not isinstance(layer, bool):
        if model is None:
            raise ValueError(
                f"layer: filters({layer!r}) got a layer name or index but no model: pass the "
                f"layer itself (model.layers[i]) or filters({layer!r}, model)."
            )
        layer = _in.find_layer(_in.require_model(model, graph=False), layer)
    elif not isinstance(layer, keras.layers.Layer):
        raise TypeError(
            f"layer must be a Conv2D layer, or its name or index together with model; got "
            f"{_in.describe(layer)}."
        )
    kernel = getattr(layer, "kernel", None)
    if kernel is None or len(kernel.shape) != 4:
        raise ValueError(
            f"layer {getattr(layer, 'name', layer)!r} ({type(layer).__name__}) has no 2-D "
            "convolution kernel (kh, kw, in, out); pass a Conv2D-like layer, e.g. "
            "the one named by coursekit._introspect.last_conv_layer(model)."
        )
    w = np.array(kernel.numpy(), dtype=np.float32)
    if normalize:
        lo, hi = w.min(), w.max()
        w = (w - lo) / (hi - lo) if hi > lo else np.zeros_like(w)
    return w


def feature_maps(model, image, layers=None) -> dict[str, np.ndarray]:
    """Activations of some layers for an image or a batch.

    Parameters
    ----------
    model : keras.Model
        A Sequential or functional (possibly nested) image model.
    image : array-like
        One image (H, W, C) or a batch (N, H, W, C), float and finite.
    layers : None, str, int, layer, or a list of them
        The layers (names, indices into ``model.layers`` or layer objects, also of
        nested models); None = every layer with a 4-D output.

    Returns
    -------
    dict
        {layer name: float32 array}; one image gives (h, w, c) maps per layer,
        a batch (N, h, w, c). Activations are read after each layer's activation
        function.

    Examples
    --------
    >>> maps = feature_maps(model, image, "conv")
    >>> maps["conv"].shape, maps["conv"].dtype
    ((26, 26, 8), dtype('float32'))
    """
    _in.require_model(model)
    x = _in.as_images(model, image, arg="image")
    single = np.ndim(image) == len(_in.input_spec(model).shape) - 1
    if layers is None:
        layers = [l.name for l in _in.walk_layers(model) if _in.output_rank(l) == 4 and not _in.is_model(l)]
        if not layers:
            _in.last_spatial_layer(model)  # raises the explanatory error
    elif isinstance(layers, (str, int, np.integer, keras.layers.Layer)):
        layers = [layers]
    names = [_in.find_layer(model, l, "layers").name for l in layers]
    outputs = _in.probe(model, names)(x, training=False)[:-1]
    return {n: (o.numpy()[0] if single else o.numpy()) for n, o in zip(names, outputs)}


# --------------------------------------------------------------------------- parameterizations

# Square root of the colour correlation of natural images (ImageNet, from the
# feature-visualization literature): decorrelated colour channels make the
# optimization produce natural-looking colours instead of high-frequency noise.
_COLOR_SQRT = np.array(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32
)
_COLOR_SQRT = _COLOR_SQRT / np.max(np.linalg.norm(_COLOR_SQRT, axis=0))


def _spectrum_scale(h: int, w: int, decay: float) -> np.ndarray:
    """1/f^decay amplitude of each rfft2 frequency, so all scales learn alike."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w)) ** decay
    return (scale * math.sqrt(h * w)).astype(np.float32)


class ActivationMaximizer:
    """Compiled activation maximization for one (model, layer, settings).

    The settings that change the graph (parameterization, size, optimizer,
    whether to transform) are fixed per instance; numbers such as the step
    count, learning rate and transformation ranges are tensors, so changing
    them does not retrace. ``traces`` counts the traces.
    """

    def __init__(self, model, layer, size, param, optimizer, transform, channels, value_range, pre):
        self.layer = layer
        self.size = size
        self.param = param
        self.optimizer = optimizer
        self.transform = transform
        self.channels = channels
        self.value_range = value_range
        # a model from the images to the activations that are maximized
        if layer is None:
            self.probe = _in.logits_model(model)
        else:
            full = _in.probe(model, [layer], pre_activation=pre)  # [activations, logits]
            self.probe = keras.Model(full.inputs[0], full.outputs[0])
        spec = tuple(_in.input_spec(model).shape[1:3])
        self.model_size = None if None in spec else spec
        self.traces = 0
        self._run = _in.traced(self._optimize)
        if param == "fourier":
            self.scale = tf.constant(_spectrum_scale(size[0], size[1], 1.0))

    # -- parameterization: params -> images in the model's value range
    def init(self, units: int, rng: np.random.Generator) -> np.ndarray:
        h, w = self.size
        c = self.channels
        if self.param == "fourier":
            shape = (units, c, h, w // 2 + 1, 2)
        else:
            shape = (units, h, w, c)
        return rng.normal(0.0, 0.01, size=shape).astype(np.float32)

    def images(self, params):
        h, w = self.size
        if self.param == "fourier":
            spectrum = tf.complex(params[..., 0], params[..., 1]) * tf.cast(self.scale, tf.complex64)
            x = tf.signal.irfft2d(spectrum, fft_length=[h, w])  # (U, C, H, W)
            x = tf.transpose(x, (0, 2, 3, 1)) / 4.0
            if self.channels == 3:
                x = tf.einsum("nhwc,dc->nhwd", x, tf.constant(_COLOR_SQRT))
        else:
            x = params
        if self.value_range is None:
            return x
        lo, hi = self.value_range
        return lo + (hi - lo) * tf.sigmoid(x)

    # -- transformation robustness: one random affine warp per image
    def _warp(self, x, seed, jitter, scale, angle):
        n = tf.shape(x)[0]
        h, w = self.size
        r = tf.random.stateless_uniform((n, 4), seed, -1.0, 1.0)
        tx, ty = r[:, 0] * jitter, r[:, 1] * jitter
        s = 1.0 + r[:, 2] * scale
        theta = r[:, 3] * angle * (math.pi / 180.0)
        cos, sin = tf.cos(theta) / s, tf.sin(theta) / s
        cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
        a2 = cx - cos * (cx + tx) - sin * (cy + ty)
        b2 = cy + sin * (cx + tx) - cos * (cy + ty)
        zeros = tf.zeros_like(cos)
        transforms = tf.stack([cos, sin, a2, -sin, cos, b2, zeros, zeros], axis=1)
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=[h, w], fill_value=0.0,
            interpolation="BILINEAR", fill_mode="REFLECT",
        )

    def objective(self, x, units):
        """Each image's activation of its own unit (mean over space for conv maps)."""
        if self.model_size is not None and tuple(self.size) != self.model_size:
            x = tf.image.resize(x, self.model_size, method="bilinear")
        acts = self.probe(x, training=False)
        if acts.shape.rank > 2:
            acts = tf.reduce_mean(acts, axis=list(range(1, acts.shape.rank - 1)))
        return tf.gather(acts, units, axis=1, batch_dims=1)

    def _optimize(self, params, units, steps, lr, seed, jitter, scale, angle, norm):
        self.traces += 1
        m = tf.zeros_like(params)
        v = tf.zeros_like(params)
        for i in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(params)
                x = self.images(params)
                if self.transform:
                    x = self._warp(x, tf.stack([seed, tf.cast(i, tf.int64)]), jitter, scale, angle)
                score = tf.reduce_sum(self.objective(x, units))
            g = tape.gradient(score, params)
            if self.optimizer == "adam":
                t = tf.cast(i + 1, tf.float32)
                m = 0.9 * m + 0.1 * g
                v = 0.999 * v + 0.001 * tf.square(g)
                mhat = m / (1.0 - 0.9**t)
                vhat = v / (1.0 - 0.999**t)
                params = params + lr * mhat / (tf.sqrt(vhat) + 1e-8)
            else:  # normalized gradient ascent, per image
                axes = list(range(1, params.shape.rank))
                gnorm = tf.sqrt(tf.reduce_sum(tf.square(g), axis=axes, keepdims=True))
                params = params + lr * tf.math.divide_no_nan(g, gnorm)
            if norm > 0:  # project each image onto the L2 ball of radius `norm`
                axes = list(range(1, params.shape.rank))
                pnorm = tf.sqrt(tf.reduce_sum(tf.square(params), axis=axes, keepdims=True))
                params = params * tf.minimum(1.0, norm / tf.maximum(pnorm, 1e-12))
        return self.images(params)


def _maximizer(model, *key) -> ActivationMaximizer:
    return _in.cached(model, (ActivationMaximizer, *key), lambda: ActivationMaximizer(model, *key))


def _default_range(model):
    return (0.0, 255.0) if _in.has_rescaling(model) else (0.0, 1.0)


def maximize_activation(
    model,
    layer,
    units,
    *,
    steps: int = 256,
    size: int | tuple[int, int] | None = None,
    seed: int | None = None,
    param: str = "fourier",
    lr: float = 0.05,
    optimizer: str = "adam",
    transform: bool = True,
    jitter: float | None = None,
    scale: float = 0.05,
    rotate: float = 5.0,
    value_range: tuple[float, float] | None | str = "auto",
    norm: float | None = None,
    pre_activation: bool = False,
) -> np.ndarray:
    """Synthesize one image per unit that excites that unit most (feature visualization).

    All units are optimized together, as one batch, in one compiled loop.

    Parameters
    ----------
    model : keras.Model
        A Sequential or functional (possibly nested) image model.
    layer : None, str, int or keras layer
        The layer (a name, also inside a nested model, an index into
        ``model.layers``, or a layer object); None = the model's logits (class
        visualization; a final softmax or sigmoid is removed).
    units : int or sequence of int
        Channel indices of a conv layer (the spatial mean of the channel is
        maximized) or unit indices of a dense layer; in 0..width-1.
    steps : int
        Optimization steps (>= 1); default 256.
    size : int or (int, int), optional
        (H, W) of the images; default the model's input size. When it differs
        from a fixed input size, images are resized before the model.
    seed : int, optional
        The same seed gives the same images; None draws a fresh start.
    param : {"fourier", "pixel"}
        "fourier" (decorrelated colours, 1/f spectrum; lucid's choice) or "pixel".
    lr : float
        Step size (> 0, finite); default 0.05, tuned for Adam on the Fourier
        parameterization.
    optimizer : {"adam", "sgd"}
        "sgd" is normalized gradient ascent, best for a norm-bounded problem.
    transform : bool
        Transformation robustness: before each step every image is shifted by
        up to ``jitter`` pixels, scaled by 1 +- ``scale`` and rotated by
        +- ``rotate`` degrees.
    jitter : float, optional
        Pixels (>= 0); default 4 % of the image size, at least 1.
    scale, rotate : float
        >= 0; defaults 0.05 and 5 degrees.
    value_range : "auto", (float, float) or None
        Pixel range the images are squashed into (a sigmoid); "auto" is
        (0, 255) for a model that starts with a Rescaling layer and (0, 1)
        otherwise; None leaves the pixels unbounded.
    norm : float, optional
        If given (> 0), each image is projected onto the L2 ball of that radius
        after every step (pixel parameterization with value_range=None makes
        this a plain norm-bounded problem).
    pre_activation : bool
        Maximize the unit before the layer's activation function (e.g. before a
        fused ReLU, as lucid's "pre_relu" objectives): a ReLU unit that is zero
        on the starting image has no gradient otherwise.

    Returns
    -------
    numpy.ndarray
        float32 (len(units), H, W, C) images inside ``value_range``. A unit that
        stayed at exactly 0 gives a UserWarning.

    Examples
    --------
    >>> x = maximize_activation(model, "conv", [0, 1], steps=8, seed=0, pre_activation=True)
    >>> x.shape, x.dtype, bool(0.0 <= x.min() and x.max() <= 1.0)
    ((2, 28, 28, 1), dtype('float32'), True)
    """
    spec = _image_spec(model)
    size = _image_size(size, spec)
    _check_choices(param, optimizer, steps, lr=lr, scale=scale, rotate=rotate, jitter=jitter, norm=norm)
    if isinstance(value_range, str):
        value_range = _default_range(model)
    elif value_range is not None:
        value_range = (float(value_range[0]), float(value_range[1]))
    name = _objective_layer(model, layer)
    ex = _maximizer(
        model, name, size, param, optimizer, bool(transform), int(spec.shape[-1]), value_range,
        bool(pre_activation) and name is not None,
    )
    units_arr = _unit_indices(units, int(ex.probe.outputs[0].shape[-1]), name)
    rng = np.random.default_rng(seed)
    params = ex.init(len(units_arr), rng)
    if jitter is None:
        jitter = max(1.0, round(0.04 * min(size)))
    out = ex._run(
        tf.constant(params),
        tf.constant(units_arr.astype(np.int32)),
        tf.constant(int(steps)),
        tf.constant(float(lr)),
        tf.constant(int(rng.integers(2**31)), tf.int64),
        tf.constant(float(jitter)),
        tf.constant(float(scale)),
        tf.constant(float(rotate)),
        tf.constant(float(norm or 0.0)),
    )
    reached = ex.objective(out, tf.constant(units_arr.astype(np.int32))).numpy()
    if not pre_activation:
        _warn_dead_units(units_arr[reached == 0.0], name)
    return out.numpy()


def _image_spec(model):
    """The model's one input, which must be an image batch (N, H, W, C)."""
    _in.require_model(model)
    spec = _in.input_spec(model)
    if len(spec.shape) != 4:
        raise ValueError(f"maximize_activation needs an image model; input is {tuple(spec.shape)}.")
    return spec


def _image_size(size, spec) -> tuple[int, int]:
    """(H, W) of the synthesized images: the argument's, else the model's fixed input size."""
    if size is None:
        size = tuple(spec.shape[1:3])
        if None in size:
            raise ValueError("The model takes any image size: pass size=(H, W).")
    elif isinstance(size, int):
        size = (size, size)
    return (int(size[0]), int(size[1]))


def _check_choices(param, optimizer, steps, **numbers) -> None:
    """The options of maximize_activation, each refused with what to pass instead."""
    if param not in ("fourier", "pixel"):
        raise ValueError(f"param must be 'fourier' or 'pixel'; got {param!r}.")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd'; got {optimizer!r}.")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be an integer >= 1; got {steps!r}.")
    for arg, value in numbers.items():
        if value is None and arg in ("jitter", "norm"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not math.isfinite(value):
            raise ValueError(f"{arg} must be a finite number; got {value!r}.")
        if value < 0 or (arg in ("lr", "norm") and value == 0):
            raise ValueError(
                f"{arg} must be {'> 0' if arg in ('lr', 'norm') else '>= 0'}; got {value!r}. "
                + ("lr is the step size of gradient ASCENT: a negative one would minimize the "
                   "activation. Try the default lr=0.05." if arg == "lr" else "")
            )


def _objective_layer(model, layer) -> str | None:
    """The name of the layer whose units are maximized; None for the logits."""
    if layer is None:
        return None
    target = _in.find_layer(model, layer)
    # The model's last layer with a softmax or sigmoid: use its logits.
    if _in.softmax_kind(target) in ("skip", "preact") and target is _in.final_operation(model):
        return None
    return target.name


def _unit_indices(units, width: int, name: str | None) -> np.ndarray:
    """`units` as a 1-D integer array of indices in 0..width-1, or a ValueError saying the range."""
    units_arr = np.atleast_1d(np.asarray(units))
    if units_arr.ndim != 1 or not np.issubdtype(units_arr.dtype, np.integer):
        raise ValueError(f"units must be an int or a list of ints; got {units!r}.")
    bad = units_arr[(units_arr < 0) | (units_arr >= width)]
    if bad.size:
        what = f"layer {name!r}" if name else "the logits"
        raise ValueError(
            f"units: unit(s) {bad.tolist()} out of range: {what} has {width} units/channels; "
            f"pass indices in 0..{width - 1}."
        )
    return units_arr


def _warn_dead_units(dead: np.ndarray, name: str | None) -> None:
    if dead.size:
        warnings.warn(
            f"Unit(s) {dead.tolist()} of {name or 'the logits'!r} stayed at exactly 0 (a ReLU that "
            "never fired gets no gradient), so their images are just the random start. Try "
            "pre_activation=True, another seed, or more steps.",
            UserWarning,
            stacklevel=3,
        )
