"""Lab 3's references: max and average pooling by TensorFlow, forward and backward (tf.GradientTape),
global average pooling, and the numeric gradient that ``check_pool_backward`` holds a backward pass to."""

from __future__ import annotations

import functools

import numpy as np

from coursekit._arrays import float_dtype
from coursekit.checks import numeric_gradient


def _pool_op(kind: str):
    import tensorflow as tf

    ops = {"max": tf.nn.max_pool2d, "avg": tf.nn.avg_pool2d}
    if kind not in ops:
        raise ValueError(f"kind must be 'max' or 'avg', not {kind!r}")
    return ops[kind]


def pool_reference(x, size: int, stride: int, kind: str = "max") -> np.ndarray:
    """Max or average pooling of x (N, H, W, C) by TensorFlow, no padding.

    Computed in float64, returned in x's float dtype (float64 for integers).
    """
    import tensorflow as tf

    x = np.asarray(x)
    # tf.constant with an explicit dtype: a NumPy float64 array given to tf.nn.max_pool2d
    # as it is would be computed in float32.
    inputs = tf.constant(x, dtype=tf.float64)
    return np.asarray(_pool_op(kind)(inputs, int(size), int(stride), "VALID")).astype(float_dtype(x))


def pool_backward_reference(dout, x, size: int, stride: int, kind: str = "max") -> np.ndarray:
    """dL/dx for L = sum(dout * pool(x)), by ``tf.GradientTape``, in x's float dtype.

    Where several inputs of a window tie for the maximum, TensorFlow gives the whole
    gradient to the first of them in row-major order (``np.argmax`` of the flat window).
    """
    import tensorflow as tf

    x = np.asarray(x)
    inputs = tf.constant(x.astype(np.float64))
    upstream = tf.constant(np.asarray(dout, dtype=np.float64))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        pooled = _pool_op(kind)(inputs, int(size), int(stride), "VALID")
        loss = tf.reduce_sum(upstream * pooled)
    return tape.gradient(loss, inputs).numpy().astype(float_dtype(x))


def pool_numeric_gradient(dout, x, kind: str = "max") -> np.ndarray:
    """Central differences of sum(dout * pool(x)) for 3x3 windows at stride 2, in float64."""
    return numeric_gradient(lambda v: float(np.sum(dout * pool_reference(v, 3, 2, kind))), x)


def global_average_reference(x) -> np.ndarray:
    import tensorflow as tf

    return np.asarray(tf.reduce_mean(tf.constant(x, dtype=tf.float64), axis=(1, 2))).astype(x.dtype)


def max_pool_2x2_reference(x) -> np.ndarray:
    return pool_reference(x, 2, 2, "max")


SELF_CHECKS = {
    **{f"{kind}_pool_forward": (functools.partial(pool_reference, kind=kind), None) for kind in ("max", "avg")},
    **{f"{kind}_pool_backward": (functools.partial(pool_backward_reference, kind=kind), None)
       for kind in ("max", "avg")},
    **{f"{kind}_pool_gradient": (functools.partial(pool_numeric_gradient, kind=kind), None) for kind in ("max", "avg")},
    "global_average_pool": (global_average_reference, None),
    "max_pool_by_conv": (max_pool_2x2_reference, None),
}
