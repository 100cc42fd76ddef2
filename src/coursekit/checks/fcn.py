"""Self-checks of lab 10 (fully convolutional networks): the transposed convolution and the mean
IoU against recorded outputs, and the checks of a convolutionalized classifier and of a trained
U-Net. The grader of lab 10 judges with the same property checks, in its own
process."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._functions import case, check_function
from ._report import Check, finish
from ._student import running
from ._recorded import recorded

#: The lab's U-Net: at most this many parameters ("small"), and at least this mean IoU on 300
#: canvases of unseen digits after training on 1,000 (the band: see lab 10's grader.py).
MAX_UNET_PARAMS = 200_000
MIN_UNET_MEAN_IOU = 0.45

__all__ = [
    "total_stride", "twin_problem",
    "unet_problem", "segmentation_canvases", "held_out_mean_iou",
    "check_dense_to_conv", "check_bilinear_kernel", "check_conv_transpose2d", "check_mean_iou",
    "check_train_unet",
]


def keras_mean_iou(y_true, y_pred, n_classes: int) -> float:
    """Keras' ``MeanIoU``, to score a trained network (:func:`held_out_mean_iou`). Keras' metric, not
    the course's answer: the mean-IoU step is NumPy-only, and its self-check compares with
    recorded values."""
    import keras

    metric = keras.metrics.MeanIoU(num_classes=int(n_classes))
    metric.update_state(np.asarray(y_true).ravel(), np.asarray(y_pred).ravel())
    return float(metric.result())


# --------------------------------------------------------------------------
# Judging a convolutionalized classifier and a segmentation network
# --------------------------------------------------------------------------

def total_stride(model) -> int:
    """The product of the strides of the convolutions and pooling layers (one axis)."""
    stride = 1
    for layer in model.layers:
        strides = getattr(layer, "strides", None)
        if strides is not None:
            stride *= int(np.atleast_1d(strides)[0])
    return stride


def _wide_crops(canvas: np.ndarray, side: int, stride: int) -> np.ndarray:
    """Every side x side crop of canvas (H, W, C) at the stride, row-major: (rows * cols, side, side, C)."""
    windows = np.lib.stride_tricks.sliding_window_view(canvas, (side, side), axis=(0, 1))[::stride, ::stride]
    rows, cols = windows.shape[:2]
    return np.moveaxis(windows, 2, -1).reshape(rows * cols, side, side, canvas.shape[-1]), (rows, cols)


def twin_problem(classifier, twin, images: np.ndarray, canvases, *, atol: float = 1e-4) -> str | None:
    """What is wrong with ``twin`` as the all-convolutional twin of ``classifier``, or None.

    ``images`` (N, h, w, C) are inputs of the classifier's size: the twin must return (N, 1, 1,
    classes) equal to the classifier. Each canvas (H, W, C) is larger: the twin's output at
    (i, j) must equal the classifier on the crop at (i * s, j * s), s the total stride.
    """
    import keras

    if not isinstance(twin, keras.Model):
        return f"dense_to_conv returned a {type(twin).__name__}, not a Keras model"
    kinds = {type(layer).__name__ for layer in twin.layers}
    if kinds & {"Dense", "Flatten", "Reshape", "GlobalAveragePooling2D", "GlobalMaxPooling2D"}:
        return ("the twin still has a Dense, Flatten, Reshape or global pooling layer: it must be "
                "all-convolutional")
    side = images.shape[1]
    want = np.asarray(classifier(images, training=False))
    try:
        got = np.asarray(twin(images, training=False))
    except Exception as error:  # noqa: BLE001 - any model error becomes a reason
        return f"the twin fails on inputs of the classifier's size ({type(error).__name__})"
    if got.shape != (len(images), 1, 1, want.shape[-1]):
        return (f"on inputs of the classifier's size the twin returns {got.shape[1:]}, "
                f"not (1, 1, {want.shape[-1]})")
    if not np.allclose(got[:, 0, 0], want, atol=atol, rtol=1e-4):
        return "on inputs of the classifier's size the twin's outputs differ from the classifier's"
    stride = total_stride(classifier)
    for canvas in canvases:
        crops, grid = _wide_crops(canvas, side, stride)
        try:
            got = np.asarray(twin(canvas[None], training=False))[0]
        except Exception as error:  # noqa: BLE001
            return f"the twin fails on an input larger than the classifier's ({type(error).__name__})"
        if got.shape[:2] != grid:
            return (f"on a {canvas.shape[0]}x{canvas.shape[1]} input the twin's map is {got.shape[:2]}, "
                    f"not {grid} (one output every {stride} pixels)")
        want = np.asarray(classifier(crops, training=False)).reshape(*grid, -1)
        if not np.allclose(got, want, atol=atol, rtol=1e-4):
            return ("on a larger input the twin's map differs from the classifier applied to each "
                    "crop at the total stride (check how the Dense weights are reshaped: row-major, "
                    "channels last)")
    return None


def _concatenated_sizes(model, side: int = 32) -> set[int]:
    """The sides of the maps that the model's Concatenate layers join, on a side x side input."""
    import keras

    concatenations = [layer for layer in model.layers if isinstance(layer, keras.layers.Concatenate)]
    if not concatenations:
        return set()
    probe = keras.Model(model.inputs[0], [layer.output for layer in concatenations])
    outputs = probe(np.zeros((1, side, side, 1), np.float32), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return {int(out.shape[1]) for out in outputs}


def unet_problem(model, n_classes: int, sizes=((32, 32), (48, 64), (64, 40))) -> str | None:
    """What is wrong with ``model`` as the lab's U-Net, or None: one input channel, any size whose
    sides are multiples of 4, output (H, W, n_classes) probabilities, encoder maps concatenated
    to the decoder's at two resolutions or more, at most MAX_UNET_PARAMS parameters."""
    import keras

    if not isinstance(model, keras.Model):
        return f"train_unet returned a {type(model).__name__}, not a Keras model"
    rng = np.random.default_rng(0)
    for h, w in sizes:
        x = rng.random((2, h, w, 1)).astype(np.float32)
        try:
            y = np.asarray(model(x, training=False))
        except Exception as error:  # noqa: BLE001 - any model error becomes a reason
            return (f"the model fails on a {h}x{w} input ({type(error).__name__}): use "
                    "keras.Input((None, None, 1)) and padding=\"same\"")
        if y.shape != (2, h, w, n_classes):
            return f"a {h}x{w} input gives an output of {y.shape[1:]}, not ({h}, {w}, {n_classes})"
        if not np.allclose(y.sum(axis=-1), 1.0, atol=1e-3) or y.min() < 0:
            return "the output is not a probability per class (end with a softmax over the classes)"
    joined = _concatenated_sizes(model)
    if len(joined) < 2:
        return (f"encoder maps are concatenated at {len(joined)} resolution(s): a U-Net joins them "
                "(Concatenate) at two resolutions or more")
    if model.count_params() > MAX_UNET_PARAMS:
        return f"{model.count_params():,} parameters: keep it small (at most {MAX_UNET_PARAMS:,})"
    return None


def segmentation_canvases(n: int, n_classes: int, seed: int, split: str = "train"):
    """The lab's segmentation set: MNIST digits halved to 14 x 14, one or two per 32 x 32 canvas,
    digits 0 .. n_classes-1 and the background (class n_classes); images scaled to [0, 1]."""
    from coursekit import data

    (x_train, y_train), (x_test, y_test) = data.load("mnist", quiet=True)
    images, labels = (x_train, y_train) if split == "train" else (x_test, y_test)
    x, y = data.digit_segmentation(n, size=32, digits_per_image=(1, 2), n_classes=n_classes, ink=64,
                                   source=(images[:, ::2, ::2].copy(), labels), seed=seed)
    return (x[..., None] / np.float32(255)).astype(np.float32), y


def held_out_mean_iou(model, n_classes: int, seed: int, n: int = 300) -> float:
    """The mean IoU of ``model`` (n_classes outputs, the last the background) on ``n`` canvases
    made from MNIST's test digits with this seed."""
    x, y = segmentation_canvases(n, n_classes - 1, seed, split="test")
    predicted = np.asarray(model.predict(x, verbose=0)).argmax(-1)
    return keras_mean_iou(y, predicted, n_classes)


# --------------------------------------------------------------------------
# Self-checks
# --------------------------------------------------------------------------

def check_dense_to_conv(fn: Callable, make_classifier: Callable, *, verbose: bool = True,
                        strict: bool = False) -> Check:
    """Self-check for lab 10: ``fn(model)`` on classifiers from ``make_classifier(seed, units)``
    must be all-convolutional and equal the classifier on its own size and, crop by crop at the
    total stride, on larger canvases."""
    rng = np.random.default_rng(0)
    for seed, units in [(0, (32, 10)), (1, (10,)), (2, (24, 16, 5))]:
        classifier = make_classifier(seed, units)
        side, channels = classifier.inputs[0].shape[1], classifier.inputs[0].shape[-1]
        images = rng.random((4, side, side, channels)).astype(np.float32)
        canvases = [rng.random((side, side + 12, channels)).astype(np.float32),
                    rng.random((side + 8, side + 4, channels)).astype(np.float32)]
        with running(fn, "dense_to_conv") as crash:
            twin = fn(classifier)
        if crash:
            return crash.report(verbose, strict)
        problem = twin_problem(classifier, twin, images, canvases)
        if problem:
            return finish(Check("dense_to_conv", False, [
                f"classifier with dense layers {units}: {problem}."]), verbose, strict)
    return finish(Check("dense_to_conv", True, ["3 classifiers, on their size and on larger canvases"]),
                   verbose, strict)


def check_bilinear_kernel(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 10: ``fn(in_ch, out_ch, size)`` has shape (size, size, out_ch, in_ch),
    float32, no mixing of channels, and as a stride-2 ``Conv2DTranspose`` kernel of size 4 it
    upsamples as ``tf.image.resize(..., "bilinear")`` away from the border."""
    import tensorflow as tf

    name = "bilinear_kernel"
    with running(fn, name) as crash:
        kernels = {args: np.asarray(fn(*args)) for args in [(3, 3, 4), (2, 2, 3), (2, 3, 4), (1, 1, 6)]}
    if crash:
        return crash.report(verbose, strict)
    for (i, o, k), kernel in kernels.items():
        if kernel.shape != (k, k, o, i) or kernel.dtype != np.float32:
            return finish(Check(name, False, [
                f"bilinear_kernel({i}, {o}, {k}) has shape {kernel.shape} and dtype {kernel.dtype}; "
                f"expected ({k}, {k}, {o}, {i}) float32: Conv2DTranspose's (size, size, out, in)."]),
                verbose, strict)
        off = kernel.copy()
        for c in range(min(i, o)):
            off[:, :, c, c] = 0
        if np.any(off != 0):
            return finish(Check(name, False, [
                f"bilinear_kernel({i}, {o}, {k}): output channel c must take input channel c only "
                "(zeros everywhere else)."]), verbose, strict)
        if not np.allclose(kernel[:, :, 0, 0], kernel[::-1, ::-1, 0, 0]):
            return finish(Check(name, False, [f"bilinear_kernel({i}, {o}, {k}) is not symmetric about its centre."]),
                           verbose, strict)
    coarse = np.random.default_rng(0).random((1, 5, 6, 3)).astype(np.float32)
    up = tf.nn.conv2d_transpose(coarse, kernels[(3, 3, 4)], [1, 10, 12, 3], strides=2, padding="SAME")
    want = tf.image.resize(coarse, (10, 12), "bilinear")
    if not np.allclose(np.asarray(up)[:, 1:-1, 1:-1], np.asarray(want)[:, 1:-1, 1:-1], atol=1e-5):
        return finish(Check(name, False, [
            "as a stride-2 transposed convolution, bilinear_kernel(3, 3, 4) does not upsample as "
            "tf.image.resize(..., 'bilinear') inside the image. Each output pixel must be the mean of its "
            "nearest inputs weighted by closeness: compare your kernel with what UpSampling2D(2, "
            "interpolation='bilinear') makes of a map holding a single 1."]), verbose, strict)
    return finish(Check(name, True, ["shapes, channels, symmetry, and bilinear upsampling by 2"]), verbose, strict)


def check_conv_transpose2d(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 10: ``fn(x, k, stride)`` against d2l's known answer and outputs recorded
    from ``tf.nn.conv2d_transpose`` on several shapes and strides."""
    rng = np.random.default_rng(seed)
    d2l = np.array([[0.0, 1.0], [2.0, 3.0]])
    cases = [case(d2l, d2l, 1, label="d2l's example: X = K = [[0, 1], [2, 3]]")]
    cases += [case(rng.normal(size=(h, w)), rng.normal(size=(kh, kw)), s, label=f"{h}x{w}, kernel {kh}x{kw}, stride {s}")
              for h, w, kh, kw, s in [(3, 4, 2, 2, 1), (4, 3, 3, 3, 2), (2, 5, 3, 2, 3), (5, 5, 2, 4, 2), (1, 1, 3, 3, 2)]]
    return check_function(
        "conv_transpose2d", fn, cases, recorded("fcn", "conv_transpose2d")[0], rtol=1e-6, atol=1e-9,
        hint="each input value adds x[i, j] * k, the kernel as it is (not flipped), at stride times "
             "its position (the step's formula): x = [[1]] must give k itself, and x = [[1, 1]] two "
             "copies of k, stride columns apart, added where they overlap.",
        verbose=verbose, strict=strict)


def check_mean_iou(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 10: ``fn(y_true, y_pred, n_classes)`` against ``keras.metrics.MeanIoU`` (recorded),
    on a class absent from both, from the labels only, from the predictions only, and on maps."""
    rng = np.random.default_rng(seed)
    cases = [case(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 4, label="class 3 in neither"),
             case(np.array([0, 0, 1]), np.array([0, 2, 1]), 3, label="class 2 only predicted"),
             case(np.array([2, 2, 1]), np.array([1, 1, 1]), 3, label="class 2 only in the labels"),
             case(np.array([1, 1]), np.array([1, 1]), 5, label="one class, right everywhere"),
             case(rng.integers(0, 4, size=(3, 8, 8)), rng.integers(0, 4, size=(3, 8, 8)), 6,
                  label="label maps (3, 8, 8), classes 4 and 5 absent")]
    return check_function(
        "mean_iou", fn, cases, recorded("fcn", "mean_iou")[0], rtol=1e-6, atol=1e-9,
        hint="IoU_c = |true c and predicted c| / |true c or predicted c|; average it over the "
             "classes whose union is not empty (keras.metrics.MeanIoU's convention).",
        verbose=verbose, strict=strict)


def check_train_unet(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 10: ``fn(images, labels, 4)`` on 1,000 of the lab's canvases, timed; the
    returned model's structure (:func:`unet_problem`) and its mean IoU on 300 canvases of unseen
    digits, against the band the grader uses."""
    import time

    name = "train_unet"
    images, labels = segmentation_canvases(1000, 3, seed=0)
    start = time.perf_counter()
    with running(fn, name) as crash:
        model = fn(images, labels, 4)
    if crash:
        return crash.report(verbose, strict)
    seconds = time.perf_counter() - start
    problem = unet_problem(model, 4)
    if problem:
        return finish(Check(name, False, [f"train_unet(images, labels, 4): {problem}."]), verbose, strict)
    score = held_out_mean_iou(model, 4, seed=1)
    if score < MIN_UNET_MEAN_IOU:
        return finish(Check(name, False, [
            f"mean IoU {score:.3f} on canvases of unseen digits, below {MIN_UNET_MEAN_IOU} (trained in "
            f"{seconds:.0f} s): train longer, weight the rare digit pixels, or widen the network."]),
            verbose, strict)
    lines = [f"a U-Net, trained in {seconds:.0f} s; mean IoU {score:.3f} on unseen digits "
             f"(at least {MIN_UNET_MEAN_IOU} needed)"]
    if seconds > 40:
        lines.append(f"{seconds:.0f} s is long: the grader stops the step after 120 s on its own CPU.")
    return finish(Check(name, True, lines), verbose, strict)
