"""Lab 10's references: the transposed convolution (``tf.nn.conv2d_transpose`` in float64) and the
mean IoU (``keras.metrics.MeanIoU``)."""

from __future__ import annotations

import numpy as np

from coursekit.checks.fcn import keras_mean_iou


def conv_transpose_reference(x, k, stride: int = 1) -> np.ndarray:
    """The transposed convolution of a map x (H, W) with a kernel k (kh, kw), no padding, by
    ``tf.nn.conv2d_transpose`` in float64: shape ((H - 1) * stride + kh, (W - 1) * stride + kw)."""
    import tensorflow as tf

    x, k = np.asarray(x, dtype=np.float64), np.asarray(k, dtype=np.float64)
    shape = [1, (x.shape[0] - 1) * stride + k.shape[0], (x.shape[1] - 1) * stride + k.shape[1], 1]
    out = tf.nn.conv2d_transpose(x[None, :, :, None], k[:, :, None, None], shape, strides=int(stride),
                                 padding="VALID")
    return out.numpy()[0, :, :, 0]


def conv_transpose_mistakes(x, k, stride: int = 1) -> dict:
    """{hint: what the mistake gives}: the kernel turned by 180 degrees (a convolution's habit)."""
    return {"the kernel is flipped: each input value x[i, j] adds x[i, j] * k, the kernel as it is, "
            "into its window of the output": conv_transpose_reference(x, np.asarray(k)[::-1, ::-1], stride)}


def mean_iou_reference(y_true, y_pred, n_classes: int) -> float:
    """``keras.metrics.MeanIoU``: the mean IoU over the classes present in the labels or the
    predictions (a class absent from both, IoU 0/0, is left out)."""
    return keras_mean_iou(y_true, y_pred, n_classes)


SELF_CHECKS = {"conv_transpose2d": (conv_transpose_reference, None), "mean_iou": (mean_iou_reference, None)}
