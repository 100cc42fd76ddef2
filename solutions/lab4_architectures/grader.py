"""Hidden checks of lab 4, on the instructor's side only (never copied to labs/).

Two tiers. Structure: the student's models are compared, layer by layer or as a set of
layers, with Keras's own VGG16 or with the lab's reference solution built here. Numbers: the
grader sets every weight of a block or network to a constant (and the last gamma of an
identity block to 0), so that its output is known from the reference's. Nothing is trained:
grading is deterministic and takes seconds. Judges are functions of
``coursekit.checks.architectures`` with plain data bound, so the grading workers can receive
them. TensorFlow is imported inside the probe functions only.
"""

import functools
import pathlib

import numpy as np

from coursegrader import Probe, Step

HERE = pathlib.Path(__file__).resolve().parent
MODEL_STEP = {"timeout": 90, "memory_mb": 4096}


def _reference(*grade_ids):
    """The lab's reference solution of these steps, defined here (trusted code)."""
    import keras

    from coursegrader.grade import reference_namespace

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


def twin_probes(rng):
    """Both twins against the reference's, layer by layer and with constant weights, on digits
    chosen now. Not their training: two epochs of a small run are too noisy to grade fairly
    (the plain twin wins on some seeds), and the trained numbers follow from the network anyway."""
    from coursekit.checks import block_problems, layer_rows, set_constant_weights

    reference = _reference("residual_block", "degradation")["twenty_layer_net"]
    x = rng.random((4, 28, 28, 1)).astype(np.float32)
    probes = []
    for residual in (False, True):
        model = reference(residual)
        set_constant_weights(model)
        judge = functools.partial(block_problems, rows=layer_rows(model), x=x,
                                  expect=np.asarray(model(x, training=False)))
        probes.append(Probe(f"twenty_layer_net(residual={residual}): its layers, or its output "
                            "with constant weights", (residual,), judge=judge))
    return probes


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
    Step("degradation", twin_probes, call="twenty_layer_net", needs=("residual_block",), **MODEL_STEP),
]
