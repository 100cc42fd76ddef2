"""Lab 7's reference for the fans of a kernel (Keras' own ``compute_fans``), and the typical
mistakes that ``coursekit.checks.check_fans`` names."""

from __future__ import annotations

import numpy as np


def fans_reference(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a kernel shape, by Keras' own ``compute_fans``."""
    from keras.src.initializers.random_initializers import compute_fans

    return compute_fans(tuple(int(d) for d in shape))


def fans_suspects(shape) -> dict:
    shape = tuple(shape)
    fan_in, fan_out = fans_reference(shape)
    found = {"fan-out used for fan-in: the pair is (fan_in, fan_out), fan_in from shape[-2]":
             np.array([fan_out, fan_in])}
    if len(shape) > 2:
        found["the k_h * k_w factor (the receptive field, the product of shape[:-2]) is missing"] = \
            np.array(shape[-2:])
    return found


SELF_CHECKS = {"fans": (lambda shape: np.array(fans_reference(shape)), fans_suspects)}
