"""Lab 8's references: MobileNetV2's preprocessing and the features of a base, and the self-checks'
cases (``coursekit.checks.check_extract_features`` records them on a small base of its own)."""

from __future__ import annotations

import numpy as np

from coursekit.checks.transfer_learning import feature_base


def preprocess_reference(images) -> np.ndarray:
    """MobileNetV2's preprocessing: pixels 0..255 to [-1, 1] as float32, x / 127.5 - 1."""
    return np.asarray(images, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


def features_reference(base, images, batch_size: int = 32) -> np.ndarray:
    """The base's features of raw images, preprocessed, in inference mode, in batches."""
    images = np.asarray(images)
    parts = [np.asarray(base(preprocess_reference(images[i:i + batch_size]), training=False))
             for i in range(0, len(images), batch_size)]
    return np.concatenate(parts).astype(np.float32)


SELF_CHECKS = {
    "preprocess": (preprocess_reference, None),
    "extract_features": (lambda images, batch_size=32: features_reference(feature_base(), images, batch_size), None),
}
