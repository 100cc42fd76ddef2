"""Lab 7's references, on the instructor's side: the gain of a leaky ReLU and the forward and
backward signal of each layer (GradientTape), with the typical mistakes that the self-checks
of ``coursekit.checks.initialization`` name."""

from __future__ import annotations

import math

import numpy as np


def leaky_relu_gain_reference(alpha) -> float:
    """sqrt(2 / (1 + alpha**2)): E[leaky_relu(z)**2] = (1 + alpha**2) / 2 * Var(z) for symmetric z."""
    return math.sqrt(2.0 / (1.0 + float(alpha) ** 2))


def leaky_relu_gain_suspects(alpha) -> dict:
    alpha = float(alpha)
    # rules and a case to try, not the mean square or the gain that the step asks to derive
    found = {"the negative side is scaled by alpha before it is squared: your gain forgets the square "
             "(on z = -1, what is f(z)**2?)": math.sqrt(2.0 / (1.0 + alpha)),
             "that is the variance factor g**2; the gain is its square root": 2.0 / (1.0 + alpha**2),
             "sqrt(2) is ReLU's gain (alpha = 0): with alpha != 0 the negative side is not lost, it "
             "passes part of its mean square on":
             math.sqrt(2.0)}
    right = leaky_relu_gain_reference(alpha)
    return {hint: np.asarray(value) for hint, value in found.items() if not math.isclose(value, right)}


def _signal(model, images, labels, *, reduction="sum_over_batch_size", from_logits=True, kernels=False):
    """Forward and backward RMS per layer (or, with kernels, the kernels' gradient RMS)."""
    import keras
    import tensorflow as tf

    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits, reduction=reduction)
    signal = tf.convert_to_tensor(np.asarray(images, dtype=np.float32))
    outputs = []
    with tf.GradientTape() as tape:
        for layer in model.layers:
            signal = layer(signal)
            outputs.append(signal)
        loss = loss_fn(np.asarray(labels), signal)
    targets = [layer.kernel for layer in model.layers] if kernels else outputs
    grads = tape.gradient(loss, targets)

    def rms(t):
        return float(np.sqrt(np.mean(np.square(np.asarray(t, dtype=np.float64)))))
    return np.array([[rms(t) for t in outputs], [rms(g) for g in grads]], dtype=np.float64)


def signal_norms_reference(model, images, labels) -> np.ndarray:
    """Row 0: the RMS of each layer's output; row 1: the RMS of d(mean loss)/d(that output)."""
    return _signal(model, images, labels)


def _stack(seed, widths, activation):
    from coursekit.checks.initialization import probe_stack

    return probe_stack(seed, tuple(widths), activation)


def signal_norms_suspects(seed, widths, activation) -> dict:
    return signal_norms_mistakes(*_stack(seed, widths, activation))


def signal_norms_mistakes(model, images, labels) -> dict:
    """{hint: what the mistake measures} on a model, its images and labels."""
    right = _signal(model, images, labels)
    std = right.copy()
    std[0] = [float(np.std(np.asarray(o, dtype=np.float64))) for o in _outputs(model, images)]
    kernels = "these are the kernels' gradients: the backward signal is the gradient with respect to each layer's output"
    found = {"the loss is summed over the batch: Keras' loss averages it (the gradient is batch times smaller)":
             _signal(model, images, labels, reduction="sum"),
             kernels: _signal(model, images, labels, kernels=True)
             if all(hasattr(layer, "kernel") for layer in model.layers) else None,   # a Flatten layer has none
             "the model's last layer outputs logits: from_logits=True": _signal(model, images, labels,
                                                                                 from_logits=False),
             "that is the standard deviation: the root mean square does not subtract the mean": std}
    return {hint: wrong for hint, wrong in found.items() if wrong is not None}


def _outputs(model, images):
    signal, outputs = np.asarray(images, dtype=np.float32), []
    for layer in model.layers:
        signal = layer(signal)
        outputs.append(signal)
    return outputs


SELF_CHECKS = {
    "leaky_relu_gain": (lambda alpha: np.asarray(leaky_relu_gain_reference(alpha)), leaky_relu_gain_suspects),
    "signal_norms": (lambda seed, widths, activation: signal_norms_reference(*_stack(seed, widths, activation)),
                     signal_norms_suspects),
}
