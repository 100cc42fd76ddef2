"""Hidden checks of lab 4, on the instructor's side only (never copied to labs/).

Three tiers. Structure: the student's models are compared, layer by layer or as a set of
layers, with Keras's own VGG16 or with the lab's reference solution built here. Numbers: the
grader sets every weight of a block to a constant, so that its output on inputs drawn now is
known from the reference's; with the last batch normalization of an inverted residual at
gamma = beta = 0, a block with an identity shortcut returns its input. Costs: block_cost is
checked against Keras' count_params and a count over the reference block's built layers, on
configurations drawn now; the design step is judged by its constraints, not by one answer.
Nothing is trained. Judges are functions of ``coursekit.checks.architectures`` with plain data
bound, so the grading workers can receive them. TensorFlow is imported inside the probe
functions only.
"""

import functools
import pathlib

import numpy as np

from coursegrader import Probe, Step
from coursegrader.references.architectures import block_cost_suspects

HERE = pathlib.Path(__file__).resolve().parent
MODEL_STEP = {"timeout": 90, "memory_mb": 4096}
BLOCKS = ("separable_block", "inverted_residual", "se_block")
#: what a layer that differs has wrong, as the self-check says it (never the expected layer)
ROW_RULE = ("check that layer's type and activation, its number of filters (or units), its kernel size, "
            "strides and padding, and the layers before it")


def _reference(*grade_ids):
    """The lab's reference solution of these steps, defined here (trusted code)."""
    import keras

    from coursegrader.grade import reference_namespace

    return reference_namespace(HERE, *dict.fromkeys(grade_ids), keras=keras)


def _rows_of(model):
    from coursekit.checks import layer_rows

    return layer_rows(model)


def lenet(rng):
    from coursekit.checks import rows_problems

    rows = _rows_of(_reference("lenet5")["lenet5"]())
    return [Probe("LeNet-5's layers, activations, output shapes or parameter counts", (),
                  judge=functools.partial(rows_problems, rows=rows), hint=ROW_RULE)]


def vgg_probes(rng):
    from coursekit.checks import rows_problems, vgg16_rows

    reference = _reference("vgg")
    small = [("C", 10), ("E", int(rng.integers(5, 20)))]
    probes = [Probe('vgg("D") is not keras.applications.VGG16 layer by layer', ("D",),
                    judge=functools.partial(rows_problems, rows=vgg16_rows()), hint=ROW_RULE)]
    for config, classes in small:
        rows = _rows_of(reference["vgg"](config, input_shape=(32, 32, 3), classes=classes))
        probes.append(Probe(f"configuration {config}: layers, output shapes or parameter counts",
                            (config,), {"input_shape": (32, 32, 3), "classes": classes},
                            judge=functools.partial(rows_problems, rows=rows), hint=ROW_RULE))
    probes.append(Probe("an unknown configuration must raise ValueError", ("F",),
                        raises="ValueError"))
    return probes


def _inputs(rng, shape):
    """Two inputs: one around 0 (ReLU cuts), one around 8 (ReLU6 clips at 6)."""
    low = rng.normal(size=shape)
    high = rng.normal(loc=rng.uniform(7.0, 9.0), size=shape)
    return np.stack([low, high]).astype(np.float32)


def _blocks(grade_id, draw):
    """Probes of a block step: block_model(grade_id, shape, *args), judged on its layers and on
    its output with constant weights, against the reference's. ``draw(rng)`` gives the cases:
    (reason, input shape, args, identity shortcut)."""
    def probes(rng):
        from coursekit.checks import block_problems, layer_rows, set_constant_weights

        reference = _reference(BLOCKS[0], grade_id)
        found = []
        for reason, shape, args, identity in draw(rng):
            model = reference["block_model"](grade_id, shape, *args)
            x = _inputs(rng, shape)
            set_constant_weights(model)
            expect = np.asarray(model(x, training=False))
            judge = functools.partial(block_problems, rows=layer_rows(model), x=x, expect=expect,
                                      identity=identity)
            found.append(Probe(reason, (grade_id, shape, *args), judge=judge))
        return found
    return probes


def _side(rng):
    return int(rng.integers(5, 12))


def separable_cases(rng):
    c = int(rng.integers(3, 17))
    return [("a depthwise-separable block at stride 1", (_side(rng), _side(rng), c),
             (int(rng.integers(4, 33)), 1), False),
            ("a depthwise-separable block at stride 2 (an odd size too)",
             (2 * _side(rng) + 1, _side(rng), c), (int(rng.integers(4, 33)), 2), False)]


def inverted_cases(rng):
    c = int(rng.integers(4, 17))
    return [("an inverted residual with an identity shortcut", (_side(rng), _side(rng), c),
             (c, int(rng.choice([2, 4, 6])), 1), True),
            ("an inverted residual at stride 2: no shortcut", (_side(rng), _side(rng), c),
             (int(rng.integers(4, 33)), int(rng.choice([3, 6])), 2), False),
            ("an inverted residual that changes the channels at stride 1: no shortcut",
             (_side(rng), _side(rng), c), (c + int(rng.integers(1, 9)), 6, 1), False),
            ("an inverted residual with expansion 1 (no expanding convolution)",
             (_side(rng), _side(rng), c), (c, 1, 1), True)]


def se_cases(rng):
    ratio = int(rng.choice([2, 4, 8]))
    return [("a squeeze-and-excitation block", (_side(rng), _side(rng), ratio * int(rng.integers(2, 9))),
             (ratio,), False),
            ("a squeeze-and-excitation block with the default ratio",
             (_side(rng), _side(rng), 4 * int(rng.integers(1, 9))), (), False)]


def cost_probes(rng):
    """block_cost on configurations drawn now, against Keras: count_params of the reference block
    and the multiply-adds counted over its built layers."""
    from coursekit.checks import count_mult_adds

    reference = _reference(BLOCKS[0], "inverted_residual")
    probes = []
    for trial in range(6):
        stride = 2 if trial % 2 else 1
        expansion = int(rng.choice([1, 2, 3, 4, 6]))
        shape = (int(rng.integers(3, 33)), int(rng.integers(3, 33)), int(rng.integers(1, 65)))
        filters = int(rng.integers(1, 129))
        model = reference["block_model"]("inverted_residual", shape, filters, expansion, stride)
        want = np.array([model.count_params(), count_mult_adds(model)])
        words = (f"{'stride 2' if stride == 2 else 'stride 1'}, "
                 f"{'no expansion' if expansion == 1 else 'an expansion'}")
        probes.append(Probe(f"parameters and multiply-adds of a block ({words})",
                            (shape, filters), {"expansion": expansion, "stride": stride},
                            expect=want, dtype=False, rtol=0, atol=0,
                            mistakes=block_cost_suspects(shape, filters, expansion, stride)))
    return probes


def design_probes(rng):
    from coursekit.checks import design_problems

    classes = int(rng.integers(2, 21))
    return [Probe("the design's constraints: (32, 32, 3) in, one logit a class, the budget of "
                  "multiply-adds, the lab's blocks", (classes,),
                  judge=functools.partial(design_problems, classes=classes))]


STEPS = [
    Step("lenet5", lenet, call="lenet5", **MODEL_STEP),
    Step("vgg", vgg_probes, call="vgg", timeout=150, memory_mb=8192,
         forbid=("applications", "VGG16", "VGG19"), forbid_reason="build VGG from its layers, not keras.applications"),
    Step("separable_block", _blocks("separable_block", separable_cases), call="block_model",
         **MODEL_STEP),
    Step("inverted_residual", _blocks("inverted_residual", inverted_cases), call="block_model",
         needs=BLOCKS[:1], **MODEL_STEP),
    Step("se_block", _blocks("se_block", se_cases), call="block_model", needs=BLOCKS[:1],
         **MODEL_STEP),
    Step("block_cost", cost_probes, call="block_cost", numpy_only=True),
    Step("design_net", design_probes, call="design_net", needs=BLOCKS, **MODEL_STEP),
]
