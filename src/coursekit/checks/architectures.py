"""Self-checks of lab 4 (architectures): layer lists compared with the expected ones, the
numbers that constant weights make predictable, the cost of a network in multiply-adds, and
the constraints of the lab's design step.

The same judges serve the grader (``solutions/lab4_architectures/grader.py``): they are plain
functions of a model and plain data, so the grading workers can receive them pickled.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np

from ._functions import case, check_function
from ._report import Check, finish
from ._structure import check_structure, flat_layers
from ._student import running
from ._recorded import recorded

__all__ = [
    "layer_rows", "set_constant_weights", "block_problems", "vgg16_rows", "rows_problems",
    "count_mult_adds", "design_problems", "DESIGN_BUDGET",
    "check_lenet5", "check_vgg", "check_separable_block", "check_inverted_residual",
    "check_se_block", "check_block_cost", "check_design_net",
]

#: the design step's budget: multiply-adds for one 32 x 32 x 3 image
DESIGN_BUDGET = 2_000_000


def _kind(layer) -> str:
    """A layer's type, with its activation where it has one: "Dense(sigmoid)", "ReLU(max 6)"."""
    name = type(layer).__name__
    if name == "ReLU" and layer.max_value is not None:
        return f"ReLU(max {float(layer.max_value):g})"
    activation = getattr(getattr(layer, "activation", None), "__name__", "linear")
    return name if activation == "linear" else f"{name}({activation})"


def layer_rows(model) -> list[tuple]:
    """(layer type and activation, output shape without the batch axis, parameters) of every
    layer but the input."""
    rows = []
    for layer in flat_layers(model):
        if type(layer).__name__ == "InputLayer":
            continue
        rows.append((_kind(layer), tuple(layer.output.shape)[1:], int(layer.count_params())))
    return rows


def rows_problems(model, *, rows) -> str | None:
    """None when the model's layer list (type, output shape, parameters) is ``rows``, in order;
    else the number of the first layer that differs, without revealing the expected one."""
    got, rows = layer_rows(model), [tuple(row) for row in rows]
    if got == rows:
        return None
    first = next((n for n, (a, b) in enumerate(zip(got, rows), 1) if a != b), min(len(got), len(rows)) + 1)
    if first > min(len(got), len(rows)):
        return f"{len(got)} layers, not the expected number"
    return f"layer {first} differs (type, activation, output shape or parameters)"


def vgg16_rows() -> list[tuple]:
    """The layer list of keras.applications.VGG16(weights=None), built once and freed."""
    import keras

    model = keras.applications.VGG16(weights=None)
    rows = layer_rows(model)
    del model
    keras.backend.clear_session()
    return rows


def set_constant_weights(model, value: float = 1.0) -> None:
    """Every kernel = value / its fan-in, every bias = 0.01; batch normalization the identity
    (gamma 1, beta 0, mean 0, variance 1). Two models with the same layers then compute the
    same function whatever the order their layers were created in."""
    import keras

    for layer in flat_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            for weight, fill in zip(layer.weights, (1.0, 0.0, 0.0, 1.0)):
                weight.assign(np.full(weight.shape, fill, dtype=np.float32))
            continue
        for weight in layer.weights:
            shape = tuple(weight.shape)
            fill = value / int(np.prod(shape[:-1])) if len(shape) > 1 else 0.01
            weight.assign(np.full(shape, fill, dtype=np.float32))


def _feeding_add(model):
    """The batch normalization layers whose output goes straight into an Add."""
    import keras

    found = []
    for layer in flat_layers(model):
        if isinstance(layer, keras.layers.Add):
            for tensor in layer.input:
                source = tensor._keras_history[0]
                if isinstance(source, keras.layers.BatchNormalization):
                    found.append(source)
    return found


def block_problems(model, *, rows, x, expect, identity=False) -> str | None:
    """What is wrong with a block (a model from ``block_model``), or None.

    ``rows``: the expected layer list, in any order; ``expect``: the reference's output on ``x``
    with constant weights; ``identity``: the block has an identity shortcut and nothing after
    the Add (an inverted residual), so with the last batch normalization of its branch at
    gamma = beta = 0 it must return x itself."""
    got = layer_rows(model)
    if Counter(got) != Counter(rows):
        extra = sorted((Counter(got) - Counter(rows)).elements(), key=str)
        missing = sorted((Counter(rows) - Counter(got)).elements(), key=str)
        if extra and missing and extra[0][1:] == missing[0][1:]:
            return (f"a {extra[0][0]} with output {extra[0][1]} where a {missing[0][0]} is "
                    "expected: check the layer's type and its activation")
        if extra:
            kind, shape, params = extra[0]
            return f"a {kind} with output {shape} and {params:,} parameters is not expected"
        kind, shape, params = missing[0]
        return f"a {kind} with output {shape} and {params:,} parameters is missing"
    set_constant_weights(model)
    out = np.asarray(model(x, training=False))
    if out.shape != expect.shape or not np.allclose(out, expect, rtol=1e-4, atol=1e-5):
        return "with constant weights, the output is not the block's: check the order of the layers"
    if identity:
        last = _feeding_add(model)
        if len(last) != 1:
            return "the branch should end with a batch normalization that goes into the Add"
        gamma, beta = last[0].weights[:2]
        gamma.assign(np.zeros(gamma.shape, np.float32))
        beta.assign(np.zeros(beta.shape, np.float32))
        out = np.asarray(model(x, training=False))
        if not np.allclose(out, x, atol=1e-5):
            return "with the last gamma at 0, a block with an identity shortcut must return x"
    return None


#: the layers whose multiply-adds :func:`count_mult_adds` counts; others with weights are refused
_COUNTED = ("Conv2D", "DepthwiseConv2D", "Dense")
#: layers with weights whose cost is negligible and not counted
_FREE = ("BatchNormalization", "LayerNormalization")


def count_mult_adds(model) -> int:
    """Multiply-adds of one input through a model's convolutions and dense layers: each weight of
    a kernel is used once per output position. Batch normalization, activations, pooling, Add
    and Multiply cost a few operations per value and are left out, as in the papers' counts.
    Raises ValueError on a layer with weights of another kind, whose cost it cannot count."""
    total = 0
    for layer in flat_layers(model):
        kind = type(layer).__name__
        if kind not in _COUNTED:
            if layer.count_params() and kind not in _FREE:
                raise ValueError(f"cannot count the multiply-adds of a {kind}: build the network "
                                 "from Conv2D, DepthwiseConv2D and Dense layers")
            continue
        # Every kernel entry once per output position: k x k x (channels per group) x filters
        # for a convolution, k x k x channels x multiplier for a depthwise one, in x out for a
        # dense layer (positions 1 on a vector).
        positions = int(np.prod(tuple(layer.output.shape)[1:-1] or (1,)))
        total += positions * int(np.prod(tuple(layer.kernel.shape)))
    return total


def design_problems(model, *, classes: int, budget: int = DESIGN_BUDGET) -> str | None:
    """What breaks the design step's constraints, or None: a (32, 32, 3) input, (classes,)
    logits, at most ``budget`` multiply-adds, and the lab's blocks in it (depthwise
    convolutions, an identity shortcut, a squeeze-and-excitation gate)."""
    if model is None or not hasattr(model, "layers"):
        return f"expected a Keras model, got {type(model).__name__}"
    if tuple(model.input.shape)[1:] != (32, 32, 3):
        return f"the input is {tuple(model.input.shape)[1:]}, not (32, 32, 3)"
    if tuple(model.output.shape)[1:] != (classes,):
        return f"the output is {tuple(model.output.shape)[1:]}, not ({classes},): one logit a class"
    try:
        cost = count_mult_adds(model)
    except ValueError as error:
        return str(error)
    if cost > budget:
        return f"{cost:,} multiply-adds, over the budget of {budget:,}"
    kinds = Counter(type(layer).__name__ for layer in flat_layers(model))
    if kinds["DepthwiseConv2D"] < 3:
        return "fewer than 3 depthwise convolutions: build it from the lab's blocks"
    if kinds["Add"] < 1:
        return "no identity shortcut: use at least one inverted residual with stride 1"
    if kinds["Multiply"] < 1:
        return "no squeeze-and-excitation block (no Multiply layer)"
    return None


# --------------------------------------------------------------------------
# The self-checks, one per step
# --------------------------------------------------------------------------

def _run(name: str, build: Callable, verbose: bool, strict: bool):
    """(build(), None), or (None, the Check that says what went wrong)."""
    with running(build, name) as crash:
        return build(), None
    return None, crash.report(verbose, strict)


#: LeNet-5 of the lab, layer by layer: (type and activation, output shape, parameters)
LENET5_ROWS = [("Conv2D(tanh)", (28, 28, 6), 156), ("AveragePooling2D", (14, 14, 6), 0),
               ("Conv2D(tanh)", (10, 10, 16), 2416), ("AveragePooling2D", (5, 5, 16), 0),
               ("Flatten", (400,), 0), ("Dense(tanh)", (120,), 48120),
               ("Dense(tanh)", (84,), 10164), ("Dense", (10,), 850)]


def _plain(rows):
    """Rows without the activations, as check_structure compares them."""
    return [(kind.split("(")[0], shape, n) for kind, shape, n in rows]


def _with_activations(name: str, model, rows, verbose: bool, strict: bool) -> Check:
    """check_structure's layer-by-layer report, then the activations (which it does not see)."""
    report = check_structure(name, model, _plain(rows), verbose=False)
    problem = None if not report.passed else rows_problems(model, rows=rows)
    if problem:
        report = Check(name, False, [problem + ": check each layer's activation"])
    return finish(report, verbose, strict)


def check_lenet5(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """lenet5(): LeNet-5 for (28, 28, 1) digits, layer by layer."""
    model, failed = _run("lenet5", fn, verbose, strict)
    return failed if failed is not None else _with_activations("lenet5()", model, LENET5_ROWS,
                                                               verbose, strict)


#: parameters of each configuration for (32, 32, 3) inputs and 10 classes
VGG_SMALL = {"A": 28_144_010, "B": 28_328_522, "C": 28_919_626, "D": 33_638_218, "E": 38_947_914}


def check_vgg(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """vgg("D") against keras.applications.VGG16(weights=None), layer by layer; then the five
    configurations on small inputs, by their parameter counts."""
    model, failed = _run("vgg", lambda: fn("D"), verbose, strict)
    if failed is not None:   # a Check that failed is falsy
        return failed
    report = _with_activations('vgg("D") against keras.applications.VGG16', model,
                               vgg16_rows(), False, False)
    del model
    if not report.passed:
        return finish(report, verbose, strict)
    for config, want in VGG_SMALL.items():
        small, failed = _run("vgg", lambda c=config: fn(c, input_shape=(32, 32, 3), classes=10),
                             verbose, strict)
        if failed is not None:   # a Check that failed is falsy
            return failed
        if small.count_params() != want:
            return finish(Check("vgg", False, [
                f'vgg("{config}", input_shape=(32, 32, 3), classes=10) has '
                f"{small.count_params():,} parameters, expected {want:,}: compare its stages with "
                "VGG_CONFIGS."]), verbose, strict)
    return finish(Check("vgg", True, ['vgg("D") equals VGG16 layer by layer; A to E have the '
                                       "expected parameter counts"]), verbose, strict)


def _check_block(name: str, build: Callable, rows: list[tuple], out_shape: tuple, identity: bool,
                 verbose: bool, strict: bool) -> Check:
    """A block's layers (any order), output shape and, for identity blocks, x at gamma 0."""
    model, failed = _run(name, build, verbose, strict)
    if failed is not None:   # a Check that failed is falsy
        return failed
    got_shape = tuple(model.output.shape)[1:]
    if got_shape != out_shape:
        return finish(Check(name, False, [f"output shape {got_shape}, expected {out_shape}"]),
                       verbose, strict)
    x = np.random.default_rng(0).normal(size=(2, *model.input.shape[1:])).astype(np.float32)
    set_constant_weights(model)
    expect = np.asarray(model(x, training=False))   # the structure is checked, not the values
    problem = block_problems(model, rows=rows, x=x, expect=expect, identity=identity)
    if problem:
        return finish(Check(name, False, [problem]), verbose, strict)
    return finish(Check(name, True, [f"the layers, the output shape {out_shape}"
                                      + (" and x at gamma = 0" if identity else "")]),
                   verbose, strict)


def _bn(shape):
    return ("BatchNormalization", shape, 4 * shape[-1])


def _relu6(shape):
    return ("ReLU(max 6)", shape, 0)


def check_separable_block(block_model: Callable, fn: Callable, *, verbose: bool = True,
                          strict: bool = False) -> Check:
    """A depthwise-separable block, 8 -> 16 channels at stride 2."""
    rows = [("DepthwiseConv2D", (8, 8, 8), 72), _bn((8, 8, 8)), _relu6((8, 8, 8)),
            ("Conv2D", (8, 8, 16), 128), _bn((8, 8, 16)), _relu6((8, 8, 16))]
    return _check_block("separable_block", lambda: block_model(fn, (16, 16, 8), 16, 2),
                        rows, (8, 8, 16), False, verbose, strict)


def check_inverted_residual(block_model: Callable, fn: Callable, *, verbose: bool = True,
                            strict: bool = False) -> Check:
    """An inverted residual with an identity shortcut (16 -> 96 -> 16), then one at stride 2
    without expansion (16 -> 24): no shortcut there."""
    same = [("Conv2D", (8, 8, 96), 1536), _bn((8, 8, 96)), _relu6((8, 8, 96)),
            ("DepthwiseConv2D", (8, 8, 96), 864), _bn((8, 8, 96)), _relu6((8, 8, 96)),
            ("Conv2D", (8, 8, 16), 1536), _bn((8, 8, 16)), ("Add", (8, 8, 16), 0)]
    report = _check_block("inverted_residual (expansion 6, stride 1)",
                          lambda: block_model(fn, (8, 8, 16), 16, 6, 1), same, (8, 8, 16), True,
                          verbose, strict)
    if not report.passed:
        return report
    down = [("DepthwiseConv2D", (5, 5, 16), 144), _bn((5, 5, 16)), _relu6((5, 5, 16)),
            ("Conv2D", (5, 5, 24), 384), _bn((5, 5, 24))]
    return _check_block("inverted_residual (expansion 1, stride 2)",
                        lambda: block_model(fn, (9, 9, 16), 24, 1, 2), down, (5, 5, 24), False,
                        verbose, strict)


def check_se_block(block_model: Callable, fn: Callable, *, verbose: bool = True,
                   strict: bool = False) -> Check:
    """Squeeze-and-excitation on 32 channels with ratio 4."""
    rows = [("GlobalAveragePooling2D", (1, 1, 32), 0), ("Dense(relu)", (1, 1, 8), 264),
            ("Dense(sigmoid)", (1, 1, 32), 288), ("Multiply", (8, 8, 32), 0)]
    return _check_block("se_block", lambda: block_model(fn, (8, 8, 32), 4), rows, (8, 8, 32),
                        False, verbose, strict)


def check_block_cost(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """block_cost(input_shape, filters, expansion, stride) -> (parameters, multiply-adds), on
    blocks with and without expansion, at stride 1 and 2, on odd sizes."""
    cases = [case((8, 8, 16), 16, 6, 1, label="MobileNetV2's usual block, identity shortcut"),
             case((9, 9, 16), 24, 1, 2, label="no expansion, stride 2, an odd size"),
             case((14, 10, 24), 32, 4, 2, label="expansion 4, stride 2, a rectangle"),
             case((7, 7, 160), 320, 6, 1, label="the last block of MobileNetV2")]
    expected, suspects = recorded("architectures", "block_cost")
    return check_function("block_cost", fn, cases, expected, suspects=suspects, rtol=0, atol=0,
                          verbose=verbose, strict=strict)


def check_design_net(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """design_net(classes): the design step's constraints, for 10 and for 7 classes."""
    lines = []
    for classes in (10, 7):
        model, failed = _run("design_net", lambda c=classes: fn(c), verbose, strict)
        if failed is not None:   # a Check that failed is falsy
            return failed
        problem = design_problems(model, classes=classes)
        if problem:
            return finish(Check("design_net", False, [f"design_net({classes}): {problem}"]),
                           verbose, strict)
        lines.append(f"design_net({classes}): {count_mult_adds(model):,} multiply-adds, "
                     f"{model.count_params():,} parameters")
    return finish(Check("design_net", True, lines), verbose, strict)
