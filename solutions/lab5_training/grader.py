"""Hidden checks of lab 5, on the instructor's side only (never copied to labs/).

Structure: the student's networks and augmenter come back as `.keras` files, loaded here with
safe_mode, and are compared layer by layer with the lab's architectures. Numbers: the
augmenter is applied here to images drawn now, and must give exactly what the reference
augmenter gives with the same seed (a flip of a known array, when only the flip is asked).
Behaviour: the training functions run in the sandbox on digits and seeds drawn now, and their
accuracies are compared with those of the lab's reference solution run here, on the same
digits and seeds, within BAND; the quiz is checked against what its three runs show by design
(tests/test_lab5_checks.py trains them on other digits and seeds and reads the same).
A reason says what property failed, never the inputs. TensorFlow is imported inside the probe
functions only.
"""

import contextlib
import functools
import io
import json
import pathlib

import numpy as np

from coursegrader import Probe, Step

HERE = pathlib.Path(__file__).resolve().parent
BAND = 0.06      # accuracies within this of the reference's (runs are seeded; threads may differ)
MIN_NARROWING = 0.05   # on the tiny set, the reference's augmentation narrows the gap by this much


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()):
        yield


@functools.lru_cache(maxsize=None)
def _reference(*grade_ids):
    """The lab's reference solution of these steps, defined here (trusted code)."""
    import keras

    from coursegrader.grade import reference_sources

    sources = reference_sources(json.loads((HERE / "lab5_training.ipynb").read_text()))
    namespace = {"np": np, "keras": keras, "__name__": "lab5_reference"}  # as the lab's first cells give
    with _quiet():
        for grade_id in grade_ids:
            exec(compile(sources[grade_id], f"<reference {grade_id}>", "exec"), namespace)  # noqa: S102
    return namespace


@functools.lru_cache(maxsize=1)
def _mnist():
    from coursekit.data import load

    with _quiet():
        return load("mnist", quiet=True)


def _digits(rng, n, split="train"):
    (x_train, y_train), (x_test, y_test) = _mnist()
    x, y = (x_train, y_train) if split == "train" else (x_test, y_test)
    index = np.sort(rng.choice(len(x), n, replace=False))
    return x[index], y[index]


def _problems(check):
    """None when a coursekit Check passed, else its first line."""
    return None if check.passed else (check.lines[0] if check.lines else "wrong structure")


# ---------------------------------------------------------------- structure


def seed_cnn(rng):
    from coursekit.checks import check_seed_cnn

    def judge(model):
        return _problems(check_seed_cnn(lambda: model, verbose=False))

    return [Probe("the network is not the one the lab describes", judge=judge)]


def capacity(rng):
    from coursekit.checks import capacity_net_layers, check_model

    def judge_for(args):
        def judge(model):
            found = _problems(check_model("make_model", model, capacity_net_layers(*args), verbose=False))
            if found is None:
                layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
                if layers[-1].get_config().get("activation") != "softmax" or layers[-2].rate != 0.5:
                    found = "the classifier ends with Dropout(0.5) and a softmax"
            return found
        return judge

    filters = int(rng.integers(2, 9))
    cases = [((1, (32, 32, 3), 3), "the lab's network with 1 filter (2,687 parameters)"),
             ((16, (32, 32, 3), 3), "the lab's network with 16 filters (56,867 parameters)"),
             ((filters, (28, 28, 1), 10), "another width on MNIST digits")]
    return [Probe(reason, args, judge=judge_for(args)) for args, reason in cases]


# ---------------------------------------------------------------- numbers


def augmenter(rng):
    reference = _reference("make_augmenter")["make_augmenter"]
    images = rng.random((16, 28, 28, 1)).astype(np.float32)
    known = rng.random((1, 28, 28, 1)).astype(np.float32)
    copies = np.repeat(known, 32, axis=0)

    def same_as_reference(seed, kwargs, batch):
        want = np.asarray(reference(seed, **kwargs)(batch, training=True))

        def judge(model):
            got = np.asarray(model(batch, training=True))
            if got.shape != batch.shape or got.dtype != np.float32:
                return "shape and dtype must be kept"
            if not np.array_equal(np.asarray(model(batch, training=False)), batch):
                return "at inference (training=False) the input must come back unchanged"
            if not np.allclose(got, want, rtol=0, atol=1e-5):
                return "not the transforms asked for, in that order, with that seed"
            return None
        return judge

    def flip_only(model):
        got = np.asarray(model(copies, training=True))
        mirrored = [np.array_equal(g, known[0, :, ::-1]) for g in got]
        kept = [np.array_equal(g, known[0]) for g in got]
        if not all(m or k for m, k in zip(mirrored, kept)):
            return "each image must come back unchanged or mirrored left-right"
        if not (any(mirrored) and any(kept)):
            return "the flip must be random: some images mirrored, others not"
        return None

    seeds = [int(s) for s in rng.integers(1, 10_000, size=3)]
    flip = {"flip": True, "shift": 0, "rotation": 0, "zoom": 0}
    other = {"flip": True, "shift": 0.05, "rotation": 0, "zoom": 0.2}
    return [
        Probe("a horizontal flip of a known image", (seeds[0],), flip, judge=flip_only),
        Probe("the default, label-preserving transforms", (seeds[1],),
              judge=same_as_reference(seeds[1], {}, images)),
        Probe("flip, shift and zoom asked for, no rotation", (seeds[2],), other,
              judge=same_as_reference(seeds[2], other, images)),
    ]


# ---------------------------------------------------------------- behaviour


def _within(expect, also=None):
    expect = np.asarray(expect, dtype=np.float64)

    def judge(value):
        value = np.asarray(value, dtype=np.float64)
        if value.shape != expect.shape:
            return "wrong shape"
        if not np.allclose(value, expect, rtol=0, atol=BAND):
            return f"not the accuracies of the recipe (within {BAND})"
        return also(value) if also else None
    return judge


def train_eval(rng):
    """One tiny set and seed, drawn now: a seeded run without augmentation, then one with. The
    narrowing is required only where the reference itself narrows the gap on that draw."""
    reference = _reference("make_model", "make_augmenter", "train_and_evaluate")["train_and_evaluate"]
    x, y = _digits(rng, 200)
    kwargs = {"filters": 8, "epochs": 8, "seed": int(rng.integers(10_000))}
    with _quiet():
        without = reference(x, y, **kwargs)
        expect_aug = reference(x, y, augment=True, **kwargs)
    gap_without = float(without[0] - without[1])
    narrows = gap_without - float(expect_aug[0] - expect_aug[1]) >= MIN_NARROWING

    def narrower(value):
        # required only where the recipe itself narrows the gap: else a right answer would fail
        if narrows and value[0] - value[1] >= gap_without:
            return "augmentation must narrow the gap between training and validation accuracy"
        return None

    return [
        Probe("a seeded run without augmentation", (x, y), kwargs, judge=_within(without)),
        Probe("a seeded run with augmentation on a tiny set", (x, y), dict(kwargs, augment=True),
              judge=_within(expect_aug, narrower)),
    ]


def sweep(rng):
    reference = _reference("make_model", "make_augmenter", "train_and_evaluate", "capacity_sweep")
    x, y = _digits(rng, 200)
    kwargs = {"epochs": 2, "seed": int(rng.integers(10_000))}
    widths = [1, int(rng.integers(3, 6))]
    with _quiet():
        expect = reference["capacity_sweep"](x, y, widths, **kwargs)

    def first_column(value):
        return None if value[:, 0].tolist() == widths else "the first column holds the filters, in order"

    return [Probe("a seeded sweep over two widths", (x, y, widths), kwargs, judge=_within(expect, first_column))]


#: what the three runs of QUIZ_RUNS show by design (the quiz is marked against this);
#: tests/test_lab5_checks.py trains them on other digits and seeds and reads the same answers
QUIZ_ANSWERS = {"underfitting_run": 1, "overfitting_run": 2}


def quiz(rng):
    return [Probe(name, name=name, expect=answer, rtol=0, atol=0, dtype=False)
            for name, answer in QUIZ_ANSWERS.items()]


STEPS = [
    Step("build_seed_cnn", seed_cnn, call="build_seed_cnn", timeout=180, memory_mb=4096),
    Step("make_model", capacity, call="make_model", timeout=180, memory_mb=4096),
    Step("make_augmenter", augmenter, call="make_augmenter", timeout=180, memory_mb=4096),
    Step("train_and_evaluate", train_eval, call="train_and_evaluate", needs=("make_model", "make_augmenter"),
         allow=("coursekit.train",),  # the lab asks for coursekit.train.fit: the training loop is not the step
         timeout=300, memory_mb=4096),
    Step("capacity_sweep", sweep, call="capacity_sweep",
         needs=("make_model", "make_augmenter", "train_and_evaluate"), timeout=300, memory_mb=4096),
    Step("curves_quiz", quiz, names=("underfitting_run", "overfitting_run")),
]
