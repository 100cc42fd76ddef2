"""coursekit.checks for lab 10 (fully convolutional networks), against known answers.

The references are checked against d2l's worked example and Keras' MeanIoU convention; each
self-check must pass the lab's reference solution and fail a wrong one (the usual mistakes).
"""

import json
import pathlib

import numpy as np
import pytest

from coursegrader.references.fcn import conv_transpose_reference, mean_iou_reference
from coursekit import checks
from coursegrader.grade import reference_sources

keras = pytest.importorskip("keras")
LAB = pathlib.Path(__file__).resolve().parent.parent / "solutions" / "lab10_fcn"


@pytest.fixture(scope="module")
def lab():
    """The lab's reference solution (answer cells, given functions included)."""
    nb = json.loads((LAB / "lab10_fcn.ipynb").read_text())
    namespace = {"np": np, "keras": keras}
    for source in reference_sources(nb).values():
        exec(compile(source, "<lab10 reference>", "exec"), namespace)  # noqa: S102 - the lab's own solution
    return namespace


def test_transposed_convolution_reference_gives_d2l_known_answer():
    x = np.array([[0.0, 1.0], [2.0, 3.0]])
    np.testing.assert_array_equal(conv_transpose_reference(x, x), [[0, 0, 1], [0, 4, 6], [4, 12, 9]])
    # Stride 2 with a 2x2 kernel: the four copies do not overlap.
    y = conv_transpose_reference(np.array([[1.0, 2.0], [3.0, 4.0]]), np.eye(2), 2)
    np.testing.assert_array_equal(y, [[1, 0, 2, 0], [0, 1, 0, 2], [3, 0, 4, 0], [0, 3, 0, 4]])


def test_mean_iou_reference_leaves_out_classes_absent_from_both():
    # IoU 1/3 (class 0), 2/3 (class 1), 0 (class 2, only in the labels); class 3 is in neither.
    value = mean_iou_reference([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 4)
    assert value == pytest.approx((1 / 3 + 2 / 3 + 0) / 3, abs=1e-6)


def test_self_checks_pass_the_reference_solution(lab, capsys):
    assert checks.check_dense_to_conv(lab["dense_to_conv"], lab["small_classifier"])
    assert checks.check_bilinear_kernel(lab["bilinear_kernel"])
    assert checks.check_conv_transpose2d(lab["conv_transpose2d"])
    assert checks.check_mean_iou(lab["mean_iou"])
    assert capsys.readouterr().out.count("PASS") == 4


def test_dense_to_conv_check_catches_a_channels_first_reshape(lab, capsys):
    def channels_first(model):
        twin = lab["dense_to_conv"](model)
        converted = [layer for layer in twin.layers if type(layer).__name__ == "Conv2D"][2]   # was Dense 1
        kernel, bias = converted.get_weights()
        h, w, c, u = kernel.shape
        converted.set_weights([kernel.reshape(c, h, w, u).transpose(1, 2, 0, 3), bias])
        return twin

    assert not checks.check_dense_to_conv(channels_first, lab["small_classifier"])
    assert "differ from the classifier" in capsys.readouterr().out


def test_dense_to_conv_check_rejects_the_classifier_itself(lab, capsys):
    assert not checks.check_dense_to_conv(lambda model: model, lab["small_classifier"])
    assert "all-convolutional" in capsys.readouterr().out


def test_transposed_convolution_check_catches_a_flipped_kernel(lab, capsys):
    flipped = lambda x, k, stride=1: lab["conv_transpose2d"](x, np.asarray(k)[::-1, ::-1], stride)
    assert not checks.check_conv_transpose2d(flipped)
    assert "d2l" in capsys.readouterr().out


def test_mean_iou_check_catches_absent_classes_counted_as_zero(capsys):
    def zeros_for_absent(y_true, y_pred, n):
        t, p = np.ravel(y_true), np.ravel(y_pred)
        ious = [np.sum((t == c) & (p == c)) / max(np.sum((t == c) | (p == c)), 1) for c in range(n)]
        return float(np.mean(ious))

    assert not checks.check_mean_iou(zeros_for_absent)
    assert "class 3 in neither" in capsys.readouterr().out


def test_bilinear_check_catches_a_wrong_centre(lab, capsys):
    def off_centre(i, o, size):
        kernel = lab["bilinear_kernel"](i, o, size + 1)[:size, :size]
        return np.ascontiguousarray(kernel)

    assert not checks.check_bilinear_kernel(off_centre)
    assert "bilinear_kernel" in capsys.readouterr().out


def _unet(n, *, skips=2, padding="same", softmax=True):
    """An untrained U-Net-like model: encoder at strides 1, 2, 4; the decoder concatenates the
    encoder's maps at the `skips` finest resolutions."""
    x = keras.Input((None, None, 1))
    full = keras.layers.Conv2D(4, 3, padding=padding, activation="relu")(x)
    half = keras.layers.Conv2D(4, 3, padding="same")(keras.layers.MaxPooling2D(2)(full))
    deep = keras.layers.MaxPooling2D(2)(half)
    up = keras.layers.UpSampling2D(2)(deep)
    up = keras.layers.Concatenate()([up, half]) if skips >= 2 else up
    up = keras.layers.UpSampling2D(2)(up)
    up = keras.layers.Concatenate()([up, full]) if skips >= 1 else up
    return keras.Model(x, keras.layers.Conv2D(n, 1, activation="softmax" if softmax else None)(up))


def test_unet_problem_accepts_a_unet_and_names_what_is_missing():
    assert checks.unet_problem(_unet(4), 4) is None
    assert "at 1 resolution(s)" in checks.unet_problem(_unet(4, skips=1), 4)
    assert "not a probability" in checks.unet_problem(_unet(4, softmax=False), 4)
    assert "gives an output of" in checks.unet_problem(_unet(3), 4)
    assert "fails on a" in checks.unet_problem(_unet(4, padding="valid"), 4)
    assert "not a Keras model" in checks.unet_problem("a model", 4)


def test_the_unet_self_check_trains_the_solution_within_the_band(lab, capsys):
    # The solution, trained on the self-check's canvases, passes: mean IoU at least the band.
    assert checks.check_train_unet(lab["train_unet"])
    out = capsys.readouterr().out
    assert "PASS" in out and "mean IoU" in out


def test_the_unet_self_check_fails_a_network_that_cannot_learn(capsys):
    # Right structure, no training: background everywhere at best, far below the band.
    assert not checks.check_train_unet(lambda images, labels, n: _unet(n))
    assert "mean IoU" in capsys.readouterr().out


def test_twin_problem_checks_columns_at_the_total_stride(lab):
    classifier = lab["small_classifier"](3, (16, 10), 20)
    assert checks.total_stride(classifier) == 4
    twin = lab["dense_to_conv"](classifier)
    rng = np.random.default_rng(0)
    images = rng.random((3, 20, 20, 1)).astype(np.float32)
    canvas = rng.random((20, 36, 1)).astype(np.float32)
    assert checks.twin_problem(classifier, twin, images, [canvas]) is None
    # The twin of another classifier (another seed) is not this classifier's twin.
    other = lab["small_classifier"](4, (16, 10), 20)
    assert checks.twin_problem(other, twin, images, [canvas]) is not None
