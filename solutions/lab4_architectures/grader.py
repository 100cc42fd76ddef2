"""Hidden checks of lab 4, on the instructor's side only (never copied to labs/).

Three tiers. Structure: the student's models are compared, layer by layer or as a set of
layers, with Keras's own VGG16 or with the lab's reference solution built here. Numbers: the
grader sets every weight of a block to a constant (and the last gamma of an identity block to
0), so that its output is known from the reference's. Behaviour: the plain and the residual
twenty-layer networks train for two epochs on digits and a seed chosen now; the losses must be
the reference's, within BAND, and the residual one lower. Judges are functions of
``coursekit.checks.architectures`` with plain data bound, so the grading workers can receive
them. TensorFlow is imported inside the probe functions only.
"""

import contextlib
import functools
import io
import pathlib

import numpy as np

from coursekit.grading import Probe, Step

HERE = pathlib.Path(__file__).resolve().parent
BAND = 0.15               # training losses must be within this of the reference's
MIN_GAP = 0.1             # the reference's residual twin must win by this much
MODEL_STEP = {"timeout": 90, "memory_mb": 4096}


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _reference(*grade_ids):
    """The lab's reference solution of these steps, defined here (trusted code)."""
    import keras

    from coursekit.grading.grade import reference_namespace

    return reference_namespace(HERE, *grade_ids, keras=keras)


def _rows_of(model):
    from coursekit.checks import layer_rows

    return layer_rows(model)


def lenet(rng):
    from coursekit.checks import rows_problems

    rows = _rows_of(_reference("lenet5")["lenet5"]())
    return [Probe("LeNet-5's layers, output shapes or parameter counts", (),
                  judge=functools.partial(rows_problems, rows=rows))]


def _blocks(grade_id, cases):
    """Probes of a block step: block_model(grade_id, shape, *args), judged on its layers and on
    its output with constant weights, against the reference's."""
    def probes(rng):
        from coursekit.checks import block_problems, layer_rows, set_constant_weights

        reference = _reference(*dict.fromkeys(("vgg_block", grade_id)))
        found = []
        for reason, shape, args, identity in cases:
            model = reference["block_model"](grade_id, shape, *args)
            x = rng.normal(size=(2, *shape)).astype(np.float32)
            set_constant_weights(model)
            expect = np.asarray(model(x, training=False))
            judge = functools.partial(block_problems, rows=layer_rows(model), x=x, expect=expect,
                                      identity=identity)
            found.append(Probe(reason, (grade_id, shape, *args), judge=judge))
        return found
    return probes


def vgg_probes(rng):
    from coursekit.checks import rows_problems, vgg16_rows

    reference = _reference("vgg_block", "vgg")
    small = [("C", 10), ("E", int(rng.integers(5, 20)))]
    probes = [Probe('vgg("D") is not keras.applications.VGG16 layer by layer', ("D",),
                    judge=functools.partial(rows_problems, rows=vgg16_rows()))]
    for config, classes in small:
        rows = _rows_of(reference["vgg"](config, input_shape=(32, 32, 3), classes=classes))
        probes.append(Probe(f"configuration {config}: layers, output shapes or parameter counts",
                            (config,), {"input_shape": (32, 32, 3), "classes": classes},
                            judge=functools.partial(rows_problems, rows=rows)))
    return probes


def degradation(rng):
    """Digits and a seed chosen now; the reference's two losses, within BAND."""
    from coursekit.data import load as load_dataset

    reference = _reference("residual_block", "degradation")
    with _quiet():
        (x_train, y_train), _ = load_dataset("mnist", quiet=True)
    for _ in range(3):   # a draw on which the reference shows the effect clearly
        picked = rng.choice(len(x_train), 1000, replace=False)
        args = (x_train[picked], y_train[picked])
        kwargs = {"seed": int(rng.integers(10_000))}
        expect = np.asarray(reference["degradation"](*args, **kwargs), dtype=np.float64)
        if expect[0] - expect[1] >= MIN_GAP:
            break
    # One probe, one training of the two nets in the student's process: it is the slow step.
    return [Probe("the training losses [plain, residual]", args, kwargs,
                  judge=functools.partial(_losses_problem, expect=expect))]


def _losses_problem(got, expect):
    """None, or what is wrong: the residual twin must win, and both losses be the recipe's."""
    from coursekit.checks import residual_wins

    problem = residual_wins(got)
    if problem is None and np.max(np.abs(np.asarray(got, np.float64).ravel() - expect)) > BAND:
        problem = f"the losses are not those of the recipe (within {BAND} of the reference's)"
    return problem


STEPS = [
    Step("lenet5", lenet, call="lenet5", **MODEL_STEP),
    Step("vgg_block", _blocks("vgg_block", [
        ("a stage of two 3x3 convolutions", (32, 32, 3), ([3, 3], 16), False),
        ("a stage with a 1x1 convolution (configuration C)", (16, 16, 8), ([3, 3, 1], 24), False),
    ]), call="block_model", **MODEL_STEP),
    Step("vgg", vgg_probes, call="vgg", needs=("vgg_block",), timeout=150, memory_mb=8192,
         forbid=("applications", "VGG16", "VGG19"), forbid_reason="build VGG from vgg_block, not keras.applications"),
    Step("inception_module", _blocks("inception_module", [
        ("module 3a", (28, 28, 192), (64, 96, 128, 16, 32, 32), False),
        ("another module (4e's proportions, small maps)", (6, 6, 40), (16, 10, 20, 4, 8, 8), False),
    ]), call="block_model", needs=("vgg_block",), **MODEL_STEP),
    Step("residual_block", _blocks("residual_block", [
        ("an identity block", (8, 8, 16), (16, 1), True),
        ("a block that doubles the channels and halves the map (projection)", (8, 8, 16), (32, 2), False),
        ("a block that changes the channels at stride 1 (projection)", (6, 6, 8), (12, 1), False),
    ]), call="block_model", needs=("vgg_block",), **MODEL_STEP),
    Step("bottleneck_block", _blocks("bottleneck_block", [
        ("an identity bottleneck", (8, 8, 64), (16, 1), True),
        ("a bottleneck with a projection at stride 2", (8, 8, 32), (16, 2), False),
    ]), call="block_model", needs=("vgg_block",), **MODEL_STEP),
    Step("resnext_block", _blocks("resnext_block", [
        ("an identity ResNeXt block", (8, 8, 64), (32, 8), True),
        ("a ResNeXt block with a projection at stride 2", (8, 8, 32), (32, 4, 2), False),
    ]), call="block_model", needs=("vgg_block",), **MODEL_STEP),
    Step("degradation", degradation, call="degradation", needs=("residual_block",), timeout=300,
         memory_mb=4096),
]
