"""Lab 8's references: MobileNetV2's preprocessing, a base cut after a layer, the features of
scikit-image's faces at every cut (computed once per process: the recorded features that grading
trains its small heads on), and the self-checks' cases (``coursekit.checks.check_truncated_base``
and ``check_budget_curve`` record them on small inputs of their own)."""

from __future__ import annotations

import functools

import numpy as np

from coursekit.checks.transfer_learning import cut_base

SIZE = 64            # pixels: the lab's photos, enlarged from 25 x 25
SPLIT_SEED = 0       # the lab's split of the 200 photos: 100 to test, a pool of 100 to draw from


def preprocess_reference(images) -> np.ndarray:
    """MobileNetV2's preprocessing: pixels 0..255 to [-1, 1] as float32, x / 127.5 - 1."""
    return np.asarray(images, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)


def truncated_reference(base, layer_name: str):
    """The base up to `layer_name`, then global average pooling; frozen."""
    import keras

    pooled = keras.layers.GlobalAveragePooling2D()(base.get_layer(layer_name).output)
    model = keras.Model(base.input, pooled)
    model.trainable = False
    return model


def cut_layer(block: int) -> str:
    """MobileNetV2's layer that ends inverted-residual block `block` (1..16); 17: the whole base."""
    return "out_relu" if block == 17 else f"block_{block}_project_BN"


@functools.lru_cache(maxsize=2)
def _bases(pretrained: bool):
    import keras

    from coursekit import models

    if pretrained:
        return models.pretrained("mobilenet_v2", input_shape=(SIZE, SIZE, 3), pooling="avg",
                                 source="offline", quiet=True).model
    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(SIZE, SIZE, 3),
                                          pooling="avg")


@functools.lru_cache(maxsize=1)
def faces():
    """(photos 0..255 at SIZE x SIZE RGB, labels: 1 for a face, test indices, pool indices)."""
    import keras
    from skimage.data import lfw_subset

    grey = np.repeat(lfw_subset()[..., None] * 255.0, 3, axis=-1).astype("float32")
    photos = keras.ops.image.resize(grey, (SIZE, SIZE)).numpy()
    labels = np.r_[np.ones(100), np.zeros(100)].astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(200)
    return photos, labels, order[:100], order[100:]


@functools.lru_cache(maxsize=8)
def face_features(block: int, pretrained: bool) -> np.ndarray:
    """The faces' pooled features after block `block` of MobileNetV2, pretrained or random."""
    model = truncated_reference(_bases(pretrained), cut_layer(block))
    return np.asarray(model.predict(preprocess_reference(faces()[0]), batch_size=100, verbose=0))


def probe_reference(features, labels, n_classes, epochs=10, seed=0):
    """Lab 8's linear probe: standardized features, one softmax layer, Adam(1e-2), batches of 16."""
    import keras

    keras.utils.set_random_seed(seed)
    features = np.asarray(features, dtype=np.float32)
    normalize = keras.layers.Normalization()
    normalize.adapt(features)
    model = keras.Sequential([keras.Input((features.shape[1],)), normalize,
                              keras.layers.Dense(n_classes, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(features, np.asarray(labels), epochs=epochs, batch_size=16, verbose=0)
    return model


def budget_curve_reference(features, labels, pool, test, budgets, seeds, head=probe_reference):
    """Test accuracies, one row per budget (labelled examples per class), one column per seed: the
    training set drawn from `pool` with the seed, `budget` of each class, a head trained on it."""
    labels = np.asarray(labels)
    classes = int(labels.max()) + 1
    table = np.zeros((len(budgets), len(seeds)))
    for i, budget in enumerate(budgets):
        for j, seed in enumerate(seeds):
            shuffled = np.random.default_rng(seed).permutation(np.asarray(pool))
            train = np.concatenate([shuffled[labels[shuffled] == c][:budget] for c in range(classes)])
            model = head(features[train], labels[train], classes, seed=seed)
            probs = np.asarray(model(np.asarray(features[test], np.float32), training=False))
            table[i, j] = np.mean(probs.argmax(axis=1) == labels[test])
    return table


SELF_CHECKS = {
    "preprocess": (preprocess_reference, None),
    "truncated_base": (lambda images, layer_name: np.asarray(
        truncated_reference(cut_base(), layer_name)(images, training=False)), None),
    "budget_curve": (budget_curve_reference, None),
}
