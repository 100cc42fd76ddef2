"""Lab 6's references: batch normalization's forward pass (``tf.nn.moments`` and
``tf.nn.batch_normalization`` in float64) and backward pass (``tf.GradientTape`` through them, and
central differences of a NumPy forward pass), the forward pass's cache, and what the usual mistakes
give (``coursekit.checks.batch_norm`` holds their hints)."""

from __future__ import annotations

import numpy as np

from coursekit._arrays import float_dtype
from coursekit.checks import numeric_gradient
from coursekit.checks.batch_norm import (
    AXES_ALL, AXES_BATCH_ONLY, BATCH_IN_INFERENCE, EPS_OUTSIDE, MOMENTUM, NOT_UPDATED, UNBIASED,
    UPDATED_IN_INFERENCE,
)


def _axes(x) -> tuple[int, ...]:
    """Every axis but the last (the channels): N for (N, D), N, H and W for (N, H, W, C)."""
    return tuple(range(np.ndim(x) - 1))


def _running(x, running_mean, running_var):
    channels = np.shape(x)[-1]
    mean = np.zeros(channels) if running_mean is None else np.asarray(running_mean, dtype=np.float64)
    var = np.ones(channels) if running_var is None else np.asarray(running_var, dtype=np.float64)
    return mean, var


def batchnorm_reference(x, gamma, beta, eps=1e-3, mode="train", running_mean=None, running_var=None,
                        momentum=0.99):
    """``(out, running_mean, running_var)`` as Keras computes them, by TensorFlow in float64.

    In ``mode="train"`` the statistics are the batch's, per channel (the last axis) over
    every other axis, with the biased variance; the running statistics move by Keras 3's
    rule ``running * momentum + batch * (1 - momentum)``. In ``mode="inference"`` the
    running statistics normalize and stay as they are. Results have x's float dtype.
    """
    import tensorflow as tf

    x = np.asarray(x)
    if mode not in ("train", "inference"):
        raise ValueError(f"mode must be 'train' or 'inference', not {mode!r}")
    x64 = tf.constant(x, dtype=tf.float64)
    run_mean, run_var = _running(x, running_mean, running_var)
    if mode == "train":
        mean, var = (t.numpy() for t in tf.nn.moments(x64, axes=list(_axes(x))))
        run_mean = run_mean * momentum + mean * (1 - momentum)
        run_var = run_var * momentum + var * (1 - momentum)
    else:
        mean, var = run_mean, run_var
    out = tf.nn.batch_normalization(x64, mean, var, np.asarray(beta, np.float64),
                                    np.asarray(gamma, np.float64), eps).numpy()
    dtype = float_dtype(x)
    return out.astype(dtype), run_mean.astype(dtype), run_var.astype(dtype)


def batchnorm_backward_reference(dout, x, gamma, beta, eps=1e-3):
    """``(dx, dgamma, dbeta)`` of L = sum(dout * out) in training mode, by ``tf.GradientTape``."""
    import tensorflow as tf

    x = np.asarray(x)
    variables = [tf.constant(np.asarray(v, dtype=np.float64)) for v in (x, gamma, beta)]
    with tf.GradientTape() as tape:
        tape.watch(variables)
        x64, gamma64, beta64 = variables
        mean, var = tf.nn.moments(x64, axes=list(_axes(x)))
        out = tf.nn.batch_normalization(x64, mean, var, beta64, gamma64, eps)
        loss = tf.reduce_sum(tf.constant(np.asarray(dout, np.float64)) * out)
    dtype = float_dtype(x)
    return tuple(g.numpy().astype(dtype) for g in tape.gradient(loss, variables))


def bn_cache(x, gamma, eps=1e-3):
    """The cache that lab 6's forward pass returns in training mode: (x, x_hat, mean, var, gamma, eps)."""
    x = np.asarray(x)
    mean, var = x.mean(axis=_axes(x)), x.var(axis=_axes(x))
    return x, (x - mean) / np.sqrt(var + eps), mean, var, np.asarray(gamma), eps


def _numpy_forward(x, gamma, beta, eps):
    """Training-mode output in plain float64 NumPy: the function the numeric gradient differentiates."""
    mean, var = x.mean(axis=_axes(x)), x.var(axis=_axes(x))
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def numeric_bn_gradients(dout, x, gamma, beta, eps=1e-3):
    """(dx, dgamma, dbeta) by central differences in float64 (CS231n's check)."""
    x, gamma, beta, dout = (np.asarray(v, dtype=np.float64) for v in (x, gamma, beta, dout))
    return (numeric_gradient(lambda v: float(np.sum(dout * _numpy_forward(v, gamma, beta, eps))), x),
            numeric_gradient(lambda v: float(np.sum(dout * _numpy_forward(x, v, beta, eps))), gamma),
            numeric_gradient(lambda v: float(np.sum(dout * _numpy_forward(x, gamma, v, eps))), beta))


def _normalized(x, mean, var, gamma, beta, eps, outside=False):
    scale = (np.sqrt(var) + eps) if outside else np.sqrt(var + eps)
    return gamma * (x - mean) / scale + beta


def batchnorm_suspects(x, gamma, beta, eps=1e-3, mode="train", running_mean=None, running_var=None,
                       momentum=0.99) -> dict[str, dict[str, np.ndarray]]:
    """What each usual mistake gives, for one call: ``{"out" | "running_mean" | "running_var": {hint: wrong}}``."""
    x = np.asarray(x, dtype=np.float64)
    gamma, beta = np.asarray(gamma, np.float64), np.asarray(beta, np.float64)
    run_mean, run_var = _running(x, running_mean, running_var)
    axes = _axes(x)
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    m = x.size // x.shape[-1]
    found = {"out": {}, "running_mean": {}, "running_var": {}}
    if mode == "inference":
        found["out"][BATCH_IN_INFERENCE] = _normalized(x, mean, var, gamma, beta, eps)
        found["out"][EPS_OUTSIDE] = _normalized(x, run_mean, run_var, gamma, beta, eps, outside=True)
        found["running_mean"][UPDATED_IN_INFERENCE] = run_mean * momentum + mean * (1 - momentum)
        found["running_var"][UPDATED_IN_INFERENCE] = run_var * momentum + var * (1 - momentum)
        return found
    unbiased = var * m / (m - 1) if m > 1 else var
    found["out"][UNBIASED] = _normalized(x, mean, unbiased, gamma, beta, eps)
    found["out"][EPS_OUTSIDE] = _normalized(x, mean, var, gamma, beta, eps, outside=True)
    if x.ndim > 2:
        found["out"][AXES_BATCH_ONLY] = _normalized(x, x.mean(axis=0), x.var(axis=0), gamma, beta, eps)
    found["out"][AXES_ALL] = _normalized(x, x.mean(), x.var(), gamma, beta, eps)
    found["running_mean"][MOMENTUM] = run_mean * (1 - momentum) + mean * momentum
    found["running_mean"][NOT_UPDATED] = run_mean
    found["running_var"][MOMENTUM] = run_var * (1 - momentum) + var * momentum
    found["running_var"][UNBIASED] = run_var * momentum + unbiased * (1 - momentum)
    found["running_var"][NOT_UPDATED] = run_var
    return found


def _part(function, index):
    return lambda *args, **kwargs: function(*args, **kwargs)[index]


def _cache_part(index):
    return lambda dout, x, gamma, beta, eps: bn_cache(x, gamma, eps)[index]


SELF_CHECKS = {
    **{f"batchnorm_forward.{what}": (_part(batchnorm_reference, i), _part(batchnorm_suspects, what))
       for i, what in enumerate(("out", "running_mean", "running_var"))},
    **{f"batchnorm_backward.{what}": (_part(batchnorm_backward_reference, i), None)
       for i, what in enumerate(("dx", "dgamma", "dbeta"))},
    **{f"batchnorm_backward.numeric_{what}": (_part(numeric_bn_gradients, i), None)
       for i, what in enumerate(("dx", "dgamma", "dbeta"))},
    **{f"batchnorm_backward.{what}": (_cache_part(i), None) for i, what in ((1, "x_hat"), (2, "mean"), (3, "var"))},
}
