"""Lab 5's references: one step of SGD with momentum (heavy ball and Nesterov) and one step of
Adam, taken by Keras' own optimizers from a given state, and what the usual mistakes give
(``coursekit.checks.training`` holds their hints)."""

from __future__ import annotations

import numpy as np

from coursekit.checks.training import (
    ADAM_EPS_INSIDE, ADAM_NO_CORRECTION, ADAM_NOT_SQUARED, HEAVY_FOR_NESTEROV, OLD_VELOCITY,
    PYTORCH_VELOCITY,
)


def _variable(value):
    import keras

    return keras.Variable(np.asarray(value, dtype=np.float32))


def momentum_reference(w, g, velocity, learning_rate, momentum=0.9, nesterov=False):
    """``np.stack([w_new, velocity_new])`` (float64) after one step of ``keras.optimizers.SGD``
    with momentum, from the velocity given (Keras' convention: ``v = momentum * v - lr * g``)."""
    import keras

    var = _variable(w)
    opt = keras.optimizers.SGD(learning_rate, momentum=momentum, nesterov=nesterov)
    opt.build([var])
    opt.momentums[0].assign(np.asarray(velocity, np.float32))
    opt.apply_gradients([(np.asarray(g, np.float32), var)])
    return np.stack([np.asarray(var.numpy(), np.float64), np.asarray(opt.momentums[0].numpy(), np.float64)])


def adam_reference(w, g, m, v, t, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """``np.stack([w_new, m_new, v_new])`` (float64) after step number ``t`` (1 for the first)
    of ``keras.optimizers.Adam`` from the moments given."""
    import keras

    var = _variable(w)
    opt = keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    opt.build([var])
    opt._momentums[0].assign(np.asarray(m, np.float32))
    opt._velocities[0].assign(np.asarray(v, np.float32))
    opt.iterations.assign(int(t) - 1)           # Keras counts the steps already taken
    opt.apply_gradients([(np.asarray(g, np.float32), var)])
    return np.stack([np.asarray(x.numpy(), np.float64) for x in (var, opt._momentums[0], opt._velocities[0])])


def keras_adam_trajectory(w, grads, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """The state ``(w, m, v)`` after Keras' Adam took one step for each gradient in ``grads``
    from ``w`` and zero moments: a probe's starting point in the middle of a run."""
    import keras

    var = _variable(w)
    opt = keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    for g in grads:
        opt.apply_gradients([(np.asarray(g, np.float32), var)])
    return tuple(np.asarray(x.numpy(), np.float64) for x in (var, opt._momentums[0], opt._velocities[0]))


def momentum_suspects(w, g, velocity, learning_rate, momentum=0.9, nesterov=False):
    w, g, velocity = (np.asarray(a, np.float64) for a in (w, g, velocity))
    new = momentum * velocity - learning_rate * g
    found = {OLD_VELOCITY: np.stack([w + velocity, new]),
             PYTORCH_VELOCITY: np.stack([w - learning_rate * (momentum * velocity + g),
                                          momentum * velocity + g])}
    if nesterov:
        found[HEAVY_FOR_NESTEROV] = np.stack([w + new, new])
    return found


def adam_suspects(w, g, m, v, t, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    w, g, m, v = (np.asarray(a, np.float64) for a in (w, g, m, v))
    m_new = beta_1 * m + (1 - beta_1) * g
    v_new = beta_2 * v + (1 - beta_2) * g * g
    v_abs = beta_2 * v + (1 - beta_2) * np.abs(g)
    corrected = learning_rate * np.sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t)
    return {
        ADAM_NO_CORRECTION: np.stack([w - learning_rate * m_new / (np.sqrt(v_new) + epsilon), m_new, v_new]),
        ADAM_EPS_INSIDE: np.stack([w - corrected * m_new / np.sqrt(v_new + epsilon), m_new, v_new]),
        ADAM_NOT_SQUARED: np.stack([w - corrected * m_new / (np.sqrt(v_abs) + epsilon), m_new, v_abs]),
    }


#: the self-checks' recorded outputs (``python -m coursegrader.references.record``)
SELF_CHECKS = {"momentum_step": (momentum_reference, momentum_suspects),
               "adam_step": (adam_reference, adam_suspects)}
