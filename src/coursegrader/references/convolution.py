"""Lab 1's reference: the deep-learning convolution (cross-correlation) via ``tf.nn.conv2d``, and
the typical mistakes that ``coursekit.checks.check_conv`` names (kernel flipped or transposed,
bias forgotten, TensorFlow's odd "same" pixel put before); the backward pass by ``tf.GradientTape``
and the mistakes that ``coursekit.checks.check_conv_backward`` names (kernel not flipped, weight
gradient flipped, bias gradient averaged)."""

from __future__ import annotations

import math

import numpy as np


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same': output ceil(size / stride); the odd pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pads(padding, x_shape, w_shape, stride):
    (h, w), (kh, kw) = x_shape[:2], w_shape[:2]
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return same_padding(h, kh, stride), same_padding(w, kw, stride)
        raise ValueError(f"padding must be an int, 'valid' or 'same', not {padding!r}")
    p = int(padding)
    return (p, p), (p, p)


def conv_reference(x, w, b=None, stride: int = 1, padding=0) -> np.ndarray:
    """Deep-learning convolution (cross-correlation) of one image, via ``tf.nn.conv2d``.

    ``x`` is (H, W, C) (or (H, W) for one channel), ``w`` is (kh, kw, C, F) as in
    Keras (or (kh, kw, C) for one output map, (kh, kw) when x is (H, W)), ``b`` is
    (F,) or None. ``padding`` is an int (zeros on every side), "valid" or "same"
    (TensorFlow's). The result keeps the layout: (H', W', F), (H', W') for one map.
    Computed in float64, returned as ``np.result_type`` of the inputs.
    """
    import tensorflow as tf

    x = np.asarray(x)
    w = np.asarray(w)
    dtype = np.result_type(x, w, *(() if b is None else (np.asarray(b),)))
    x4, w4, squeeze = x, w, False
    if x.ndim == 2 and w.ndim == 2:
        x4, w4, squeeze = x[:, :, None], w[:, :, None, None], True
    elif x.ndim == 3 and w.ndim == 3:
        w4, squeeze = w[..., None], True
    if x4.ndim != 3 or w4.ndim != 4 or x4.shape[2] != w4.shape[2]:
        raise ValueError(f"conv_reference: x {x.shape} and w {w.shape} do not fit together")
    (pt, pb), (pl, pr) = _pads(padding, x4.shape, w4.shape, stride)
    out = tf.nn.conv2d(
        tf.constant(x4[None], tf.float64), tf.constant(w4, tf.float64),
        strides=int(stride), padding=[[0, 0], [pt, pb], [pl, pr], [0, 0]],
    ).numpy()[0]
    if b is not None:
        out = out + np.asarray(b, np.float64)
    if squeeze:
        out = out[..., 0]
    return out.astype(dtype) if dtype.kind in "fc" else out


FLIP_HINT = ("did you flip the kernel? Deep-learning 'convolution' is cross-correlation: "
             "multiply each patch by the kernel as it is, without flipping it.")


def conv_suspects(x, w, b=None, stride=1, padding=0) -> dict:
    """{hint: what the mistake gives} for one case of check_conv."""
    x, w = np.asarray(x), np.asarray(w)
    found = {FLIP_HINT: conv_reference(x, w[::-1, ::-1], b, stride, padding)}
    if w.shape[0] == w.shape[1] and w.shape[0] > 1:
        found["did you swap the kernel's rows and columns (k[j, i] instead of k[i, j])?"] = \
            conv_reference(x, np.swapaxes(w, 0, 1), b, stride, padding)
    if b is not None:
        found["did you forget to add the bias b?"] = conv_reference(x, w, None, stride, padding)
    if isinstance(padding, str) and padding.lower() == "same":
        (pt, pb), (pl, pr) = _pads("same", x.shape, w.shape, stride)
        if (pt, pl) != (pb, pr):
            xp = np.pad(x, ((pb, pt), (pr, pl), (0, 0)))
            found["for 'same' with an odd amount of padding, TensorFlow puts the extra row/column "
                  "at the bottom/right, not at the top/left."] = conv_reference(xp, w, b, stride, 0)
    return found


SELF_CHECKS = {f"conv2d_{stage}": (conv_reference, conv_suspects) for stage in ("single", "multi", "filters", "full")}


# --------------------------------------------------------------------------
# The backward pass (lab 1, conv2d_backward)
# --------------------------------------------------------------------------

_PARTS = ("dx", "dw", "db")


def conv_backward_reference(dout, x, w, padding=0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dx, dL/dw, dL/db) for L = sum(dout * conv(x, w, b)), stride 1, int padding, by
    ``tf.GradientTape`` in float64; returned in ``np.result_type(dout, x, w)``.

    ``x`` is (H, W, C), ``w`` (kh, kw, C, F), ``dout`` (H', W', F) the output's shape.
    """
    import tensorflow as tf

    dout, x, w = np.asarray(dout), np.asarray(x), np.asarray(w)
    dtype = np.result_type(dout, x, w)
    p = int(padding)
    inputs, kernel = tf.Variable(x[None].astype(np.float64)), tf.Variable(w.astype(np.float64))
    bias = tf.Variable(np.zeros(w.shape[3]))
    with tf.GradientTape() as tape:
        out = tf.nn.conv2d(inputs, kernel, 1, [[0, 0], [p, p], [p, p], [0, 0]]) + bias
        loss = tf.reduce_sum(tf.constant(dout[None].astype(np.float64)) * out)
    dx, dw, db = tape.gradient(loss, [inputs, kernel, bias])
    return dx.numpy()[0].astype(dtype), dw.numpy().astype(dtype), db.numpy().astype(dtype)


def _backward_part(part: str):
    index = _PARTS.index(part)

    def reference(dout, x, w, padding=0):
        return conv_backward_reference(dout, x, w, padding)[index]

    return reference


#: the typical mistakes of conv2d_backward, by the part they spoil: {part: {hint: how it comes about}}
BACKWARD_MISTAKES = {
    # what goes wrong, and a case to work by hand: not the gradients the step asks to derive
    "dx": {"did you flip the kernel? Going backwards the kernel is not read as in the forward pass: on a "
           "3x3 input and a 2x2 kernel, write which weight joined the centre pixel to each of the four "
           "outputs, and in which order you meet those weights when you read dout from its top left.":
           lambda dout, x, w, p: conv_backward_reference(dout, x, w[::-1, ::-1], p)[0]},
    "dw": {"dw comes out mirrored: w[m, n] multiplied the input that step 3's formula puts at offset "
           "(m, n) from each output, not the one at the mirrored offset; read the (padded) input and "
           "dout in the same direction.":
           lambda dout, x, w, p: conv_backward_reference(dout, x, w, p)[1][::-1, ::-1]},
    "db": {"not its mean: every output of filter f that b[f] entered sends its whole dout back to b[f] "
           "(count them on the step's 3x3 example).":
           lambda dout, x, w, p: np.asarray(dout).mean(axis=(0, 1)).astype(np.result_type(dout, x, w))},
}


def _backward_suspects(part: str):
    def suspects(dout, x, w, padding=0):
        return {hint: wrong(dout, x, w, padding) for hint, wrong in BACKWARD_MISTAKES[part].items()}

    return suspects


SELF_CHECKS.update({f"conv2d_backward_{part}": (_backward_part(part), _backward_suspects(part)) for part in _PARTS})
