"""Self-checks of lab 9 (visualization): feature extractors, gradient ascent,
Grad-CAM and FGSM, each on a small model built here with seeded weights.

The checks compare with answers known in closed form, recorded on the checks' own
models (coursekit holds no reference that computes them):

- the activations of a sub-model equal a forward pass written with ``tf.nn``;
- on a linear unit, gradient ascent under an L2 constraint ends at w / ||w||;
- on a GlobalAveragePooling -> Dense model, Grad-CAM is ReLU(CAM) divided by its
  maximum, where CAM_c = sum_k w[k, c] A_k (Zhou et al. 2016);
- on a linear softmax classifier, the gradient of the cross-entropy is
  W (softmax(z) - onehot(y)), so FGSM is known exactly;
- occlusion maps and the rank correlations of the randomization test, recorded from the
  instructor's references on the checks' own models and seeds.

:func:`probe_model` builds the models; lab 9's grader builds the same ones, with
weights it draws when it grades.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._compare import compare
from ._report import Check, finish, fmt_shape
from ._student import running
from ._recorded import NotRecorded, recorded

__all__ = [
    "probe_model",
    "flat_weights",
    "set_flat_weights",
    "check_feature_extractor",
    "check_gradient_ascent",
    "check_grad_cam",
    "check_fgsm",
    "check_occlusion",
    "check_sanity_check",
]


# --------------------------------------------------------------------------- the probe models


def probe_model(kind: str, flat=None):
    """One of lab 9's small models, its weights taken from ``flat`` (one vector) if given.

    Every model outputs logits (no softmax). ``kind``:

    - ``"cnn"``: 16x16x3 -> conv1 (4, 3x3, same, ReLU) -> pool1 (2x2) -> conv2 (6, 3x3,
      same, ReLU) -> gap -> logits (Dense 5): the CAM architecture at conv2;
    - ``"flat"``: 12x12x2 -> conv1 (4, 3x3, same, ReLU) -> conv2 (5, 3x3, same, ReLU) ->
      flatten -> logits (Dense 3): Grad-CAM is not CAM here;
    - ``"linear"``: 8x8x2 -> flatten -> linear (Dense 4): a linear classifier;
    - ``"mnist"``: 28x28x1 -> conv (8, 3x3, ReLU) -> pool -> flatten -> logits (Dense 10);
    - ``"blob"``: 24x24x1 -> conv (2, 5x5, same, ReLU) -> gap -> logits (Dense 2).
    """
    import keras

    L = keras.layers
    same = {"padding": "same", "activation": "relu"}
    kinds = {
        "cnn": [keras.Input((16, 16, 3)), L.Conv2D(4, 3, name="conv1", **same),
                L.MaxPooling2D(name="pool1"), L.Conv2D(6, 3, name="conv2", **same),
                L.GlobalAveragePooling2D(name="gap"), L.Dense(5, name="logits")],
        "flat": [keras.Input((12, 12, 2)), L.Conv2D(4, 3, name="conv1", **same),
                 L.Conv2D(5, 3, name="conv2", **same), L.Flatten(name="flatten"),
                 L.Dense(3, name="logits")],
        "linear": [keras.Input((8, 8, 2)), L.Flatten(name="flatten"), L.Dense(4, name="linear")],
        "mnist": [keras.Input((28, 28, 1)), L.Conv2D(8, 3, activation="relu", name="conv"),
                  L.MaxPooling2D(name="pool"), L.Flatten(name="flatten"), L.Dense(10, name="logits")],
        "blob": [keras.Input((24, 24, 1)), L.Conv2D(2, 5, name="conv", **same),
                 L.GlobalAveragePooling2D(name="gap"), L.Dense(2, name="logits")],
    }
    if kind not in kinds:
        raise ValueError(f"kind must be one of {sorted(kinds)}; got {kind!r}.")
    # Functional, not Sequential: a Sequential model saved and loaded again (as the grader
    # hands models to a submission) no longer connects a layer's .output to its outputs.
    inputs, *layers = kinds[kind]
    x = inputs
    for layer in layers:
        x = layer(x)
    model = keras.Model(inputs, x, name=f"probe_{kind}")
    if flat is not None:
        set_flat_weights(model, flat)
    return model


def set_flat_weights(model, flat) -> None:
    """Give ``model`` the weights in ``flat``, one float vector in ``get_weights()`` order."""
    flat = np.asarray(flat, dtype=np.float32).ravel()
    shapes = [w.shape for w in model.get_weights()]
    sizes = [int(np.prod(s)) for s in shapes]
    if sum(sizes) != flat.size:
        raise ValueError(f"{model.name} has {sum(sizes)} weights; got {flat.size}.")
    parts = np.split(flat, np.cumsum(sizes)[:-1])
    model.set_weights([p.reshape(s) for p, s in zip(parts, shapes)])


def flat_weights(model) -> np.ndarray:
    """All of a model's weights as one float32 vector (the inverse of :func:`set_flat_weights`)."""
    return np.concatenate([np.ravel(w) for w in model.get_weights()]).astype(np.float32)


def _random_model(kind: str, rng: np.random.Generator, scale: float = 0.5):
    model = probe_model(kind)
    set_flat_weights(model, scale * rng.normal(size=flat_weights(model).size))
    return model


# --------------------------------------------------------------------------- the checks


def _cnn_and_images(seed: int, n: int):
    """The small random CNN the checks probe, and ``n`` random 16 x 16 RGB images (one draw)."""
    rng = np.random.default_rng(seed)
    model = _random_model("cnn", rng)
    return model, rng.random((n, 16, 16, 3), dtype=np.float32)


def _call(name: str, fn: Callable, *args):
    """(result, None) or (None, the Check that reports the student's error)."""
    if not callable(fn):
        return None, Check(name, False, [f"{name} is a {type(fn).__name__}, not a function."])
    with running(fn, name) as crash:
        return fn(*args), None
    return None, Check(name, False, crash.lines)


def _against_recorded(name: str, fn: Callable, cases, note: str, verbose: bool, strict: bool, *,
                      mistakes: bool = False, changed: str | None = None) -> Check:
    """``fn`` on each case, ``(recorded arguments, fn's arguments, compare's options)``, against
    the recorded answer (and, with ``mistakes``, the recorded typical mistakes). With ``changed``
    (what to say then), the model, ``fn``'s first argument, must keep its weights."""
    expected, suspects = recorded("visualization", name)
    for key, args, options in cases:
        try:
            want = expected(*key)
        except NotRecorded as missing:
            return finish(Check(name, False, [str(missing)]), verbose, strict)
        before = flat_weights(args[0]) if changed else None
        got, error = _call(name, fn, *args)
        if error is not None:
            return finish(error, verbose, strict)
        if changed and not np.array_equal(before, flat_weights(args[0])):
            return finish(Check(name, False, [changed]), verbose, strict)
        result = compare(name, got, want, suspects=suspects(*key) if mistakes else None, verbose=False, **options)
        if not result:
            return finish(result, verbose, strict)
    return finish(Check(name, True, [note]), verbose, strict)


def check_feature_extractor(fn: Callable, *, seed: int = 0, verbose: bool = True,
                            strict: bool = False) -> Check:
    """Lab 9, step 1: ``fn(model, layer_names)`` returns a Keras model whose outputs are the
    named layers' activations, in the order given; they must equal a ``tf.nn`` forward pass."""
    import keras

    name = "feature_extractor"
    model, images = _cnn_and_images(seed, 3)
    try:
        expected = {layer: recorded("visualization", f"{name}.{layer}")[0](flat_weights(model), images)
                    for layer in ("conv1", "pool1", "conv2", "gap", "logits")}
    except NotRecorded as missing:
        return finish(Check(name, False, [str(missing)]), verbose, strict)
    for names in (["conv2", "conv1"], ["pool1"], ["conv1", "gap", "logits"]):
        sub, error = _call(name, fn, model, list(names))
        if error is not None:
            return finish(error, verbose, strict)
        if not isinstance(sub, keras.Model):
            return finish(Check(name, False, [
                f"returned a {type(sub).__name__}; return a keras.Model (keras.Model(inputs, outputs))."]),
                verbose, strict)
        outputs = sub(images)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if len(outputs) != len(names):
            return finish(Check(name, False, [
                f"layer_names={names}: the model has {len(outputs)} output(s); it needs one per name, "
                "in the order given."]), verbose, strict)
        for layer, got in zip(names, outputs):
            result = compare(name, np.asarray(got), expected[layer], rtol=1e-4, atol=1e-5,
                             context=f"layer_names={names}, output for {layer!r}",
                             hint="output k must be the layer named layer_names[k], in the order of "
                                  "layer_names, taken from the model's own graph (find each layer by its "
                                  "name); the sub-model starts at model.inputs (not a new keras.Input).",
                             verbose=False)
            if not result:
                return finish(result, verbose, strict)
    return finish(Check(name, True, ["3 cases, equal to a tf.nn forward pass"]), verbose, strict)


def check_gradient_ascent(fn: Callable, *, seed: int = 0, verbose: bool = True,
                          strict: bool = False) -> Check:
    """Lab 9, step 2: on a linear unit, ``fn(model, layer, unit, steps, lr)`` must return an
    image of L2 norm <= 1 whose cosine with the unit's weights w is >= 0.99 (it converges to
    w / ||w||)."""
    name = "gradient_ascent"
    rng = np.random.default_rng(seed)
    model = _random_model("linear", rng)
    kernel = model.get_layer("linear").get_weights()[0]
    for unit in (1, 3):
        x, error = _call(name, fn, model, "linear", unit, 40, 0.1)
        if error is not None:
            return finish(error, verbose, strict)
        x = np.asarray(x, dtype=np.float64)
        if x.shape != (8, 8, 2):
            return finish(Check(name, False, [
                f"unit {unit}: the image has shape {fmt_shape(x.shape)}; return one image shaped "
                "like the model's input without the batch axis, (8, 8, 2)."]), verbose, strict)
        w = kernel[:, unit].reshape(8, 8, 2)
        norm = np.linalg.norm(x)
        cosine = float(np.sum(x * w) / (norm * np.linalg.norm(w) + 1e-12))
        if norm > 1.0 + 1e-3:
            return finish(Check(name, False, [
                f"unit {unit}: the image has L2 norm {norm:.3f}; after every step, project it back "
                "onto the unit ball: x = x / max(1, ||x||)."]), verbose, strict)
        if cosine < 0.99:
            return finish(Check(name, False, [
                f"unit {unit} of a linear layer (a = w . x + b): your image's cosine with w is "
                f"{cosine:.3f}, expected >= 0.99 (the best image of norm 1 is w / ||w||).",
                "Hint: step along +gradient (ascent), normalised: x += lr * g / ||g||; take the "
                "unit's mean over space of layer's output [..., unit]."]), verbose, strict)
    return finish(Check(name, True, ["converges to w / ||w|| on two linear units"]), verbose, strict)


def check_grad_cam(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Lab 9, step 3: ``fn(model, images, class_index, layer)`` on a GAP -> Dense model must
    return ReLU(CAM) divided by its maximum, (N, h, w) at the layer's resolution, float32."""
    name = "grad_cam"
    model, images = _cnn_and_images(seed, 4)
    hint = ("weights = mean over (height, width) of d logit[class] / d maps; map = "
            "ReLU(sum_k weight_k * maps_k); then divide each map by its maximum. "
            "Use the logits (these models have no softmax).")
    cases = [((flat_weights(model), images, class_index), (model, images, class_index, "conv2"),
              dict(rtol=1e-4, atol=1e-5, check_dtype=True, hint=hint,
                   context=f"a GAP -> Dense model, layer 'conv2', class {class_index}"))
             for class_index in (0, 3)]
    return _against_recorded(name, fn, cases, "equals ReLU(CAM) / max on a GAP -> Dense model", verbose, strict)


def check_fgsm(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Lab 9, step 4: ``fn(model, images, labels, eps)`` on a linear classifier must equal the
    closed form clip(x + eps * sign(W (softmax(z) - onehot(y))), 0, 1)."""
    name = "fgsm"
    rng = np.random.default_rng(seed)
    model = _random_model("linear", rng)
    images = rng.random((5, 8, 8, 2), dtype=np.float32)
    images[0] = 0.0  # on the bounds: the clip must keep them inside [0, 1]
    images[1] = 1.0
    labels = rng.integers(0, 4, size=5)
    hint = ("x_adv = clip(x + eps * sign(d loss / d x), 0, 1) with the "
            "cross-entropy of the labels and the logits (from_logits=True).")
    cases = [((flat_weights(model), images, labels, eps), (model, images.copy(), labels, eps),
              dict(rtol=0, atol=1e-5, check_dtype=True, hint=hint, context=f"a linear classifier, eps = {eps}"))
             for eps in (0.05, 0.2)]
    return _against_recorded(name, fn, cases, "equals the closed form on a linear classifier", verbose, strict,
                             mistakes=True)


def check_occlusion(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Lab 9, step 5: ``fn(model, images, class_index, patch, stride)`` returns the drop in the
    class's softmax probability for a grey patch at each position, (N, rows, cols), float32."""
    name = "occlusion"
    model, images = _cnn_and_images(seed, 3)
    hint = ("rows = range(0, H - patch + 1, stride), the same for columns; "
            "map = p(class | image) - p(class | image with a 0.5 square), p = softmax of the logits.")
    cases = [((flat_weights(model), images, class_index, patch, stride),
              (model, images.copy(), class_index, patch, stride),
              dict(rtol=1e-4, atol=1e-5, check_dtype=True, hint=hint,
                   context=f"class {class_index}, patch {patch}, stride {stride}"))
             for class_index, patch, stride in ((2, 4, 2), (0, 3, 3))]
    return _against_recorded(name, fn, cases, "equal to the recorded maps, two patch sizes", verbose, strict,
                             mistakes=True)


def check_sanity_check(fn: Callable, *, seed: int = 0, verbose: bool = True,
                       strict: bool = False) -> Check:
    """Lab 9, step 6: ``fn(model, images, class_index, patch, stride, seed)`` returns, per
    image, Spearman's rank correlation between the occlusion maps of the model and of its
    randomized copy."""
    name = "sanity_check"
    model, images = _cnn_and_images(seed, 3)
    hint = ("copy = keras.models.clone_model(model); each weight array w gets "
            "rng.normal(0, w.std(), w.shape), rng = np.random.default_rng(seed); "
            "then Spearman's correlation of the two maps, image by image.")
    cases = [((flat_weights(model), images, 1, 4, 3, 7), (model, images.copy(), 1, 4, 3, 7),
              dict(rtol=0, atol=0.01, hint=hint, context="class 1, patch 4, stride 3, seed 7"))]
    return _against_recorded(name, fn, cases, "equal to the recorded correlations", verbose, strict, mistakes=True,
                             changed="the model's own weights changed: randomize a copy (keras.models.clone_model), "
                                     "the caller still needs the trained model.")
