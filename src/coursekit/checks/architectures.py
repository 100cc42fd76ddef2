"""Self-checks of lab 4 (architectures): layer lists compared with the expected ones, and the
numbers that constant weights make predictable (the deeplearning.ai trick).

The same judges serve the grader (``solutions/lab4_architectures/grader.py``): they are plain
functions of a model and plain data, so the grading workers can receive them pickled.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

import numpy as np

from ._core import Check, _error_lines, _finish, _flat_layers, check_model

__all__ = [
    "layer_rows", "set_constant_weights", "block_problems", "vgg16_rows",
    "check_lenet5", "check_vgg_block", "check_vgg", "check_inception_module",
    "check_residual_block", "check_bottleneck_block", "check_resnext_block",
    "check_twenty_layer_net", "rows_problems",
]


def layer_rows(model) -> list[tuple]:
    """(layer type, output shape without the batch axis, parameters) of every layer but the input."""
    rows = []
    for layer in _flat_layers(model):
        if type(layer).__name__ == "InputLayer":
            continue
        rows.append((type(layer).__name__, tuple(layer.output.shape)[1:], int(layer.count_params())))
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
    return f"layer {first} differs (type, output shape or parameters)"


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

    for layer in _flat_layers(model):
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
    for layer in _flat_layers(model):
        if isinstance(layer, keras.layers.Add):
            for tensor in layer.input:
                source = tensor._keras_history[0]
                if isinstance(source, keras.layers.BatchNormalization):
                    found.append(source)
    return found


def block_problems(model, *, rows, x, expect, identity=False) -> str | None:
    """What is wrong with a block (a model from ``block_model``), or None.

    ``rows``: the expected layer list, in any order; ``expect``: the reference's output on ``x``
    with constant weights; ``identity``: the block has an identity shortcut, so with the last
    batch normalization of its branch at gamma = beta = 0 it must return ReLU(x)."""
    got = layer_rows(model)
    if Counter(got) != Counter(rows):
        extra = sorted((Counter(got) - Counter(rows)).elements(), key=str)
        missing = sorted((Counter(rows) - Counter(got)).elements(), key=str)
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
        if not np.allclose(out, np.maximum(x, 0), atol=1e-5):
            return "with the last gamma at 0, an identity block must return ReLU(x)"
    return None


# --------------------------------------------------------------------------
# The self-checks, one per step
# --------------------------------------------------------------------------

def _run(name: str, build: Callable, verbose: bool, strict: bool):
    """build() or a Check that says what went wrong."""
    try:
        return build(), None
    except Exception as error:  # noqa: BLE001 - any student error becomes a report
        return None, _finish(Check(name, False, _error_lines(error, build)), verbose, strict)


def check_lenet5(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """lenet5(): LeNet-5 for (28, 28, 1) digits, layer by layer."""
    model, failed = _run("lenet5", fn, verbose, strict)
    return failed if failed is not None else check_model("lenet5()", model, [
        ("Conv2D", (28, 28, 6), 156), ("AveragePooling2D", (14, 14, 6), 0),
        ("Conv2D", (10, 10, 16), 2416), ("AveragePooling2D", (5, 5, 16), 0),
        ("Flatten", (400,), 0), ("Dense", (120,), 48120), ("Dense", (84,), 10164),
        ("Dense", (10,), 850)], verbose=verbose, strict=strict)


def check_vgg_block(block_model: Callable, vgg_block: Callable, *, verbose: bool = True,
                    strict: bool = False) -> Check:
    """vgg_block on (32, 32, 3) with [3, 3, 1] and 64 filters, layer by layer."""
    model, failed = _run("vgg_block", lambda: block_model(vgg_block, (32, 32, 3), [3, 3, 1], 64),
                         verbose, strict)
    return failed if failed is not None else check_model("vgg_block(x, [3, 3, 1], 64)", model, [
        ("Conv2D", (32, 32, 64), 1792), ("Conv2D", (32, 32, 64), 36928),
        ("Conv2D", (32, 32, 64), 4160), ("MaxPooling2D", (16, 16, 64), 0)],
        verbose=verbose, strict=strict)


#: parameters of each configuration for (32, 32, 3) inputs and 10 classes
VGG_SMALL = {"A": 28_144_010, "B": 28_328_522, "C": 28_919_626, "D": 33_638_218, "E": 38_947_914}


def check_vgg(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """vgg("D") against keras.applications.VGG16(weights=None), layer by layer; then the five
    configurations on small inputs, by their parameter counts."""
    model, failed = _run("vgg", lambda: fn("D"), verbose, strict)
    if failed is not None:   # a Check that failed is falsy
        return failed
    report = check_model('vgg("D") against keras.applications.VGG16', model, vgg16_rows(),
                         verbose=False)
    del model
    if not report.passed:
        return _finish(report, verbose, strict)
    for config, want in VGG_SMALL.items():
        small, failed = _run("vgg", lambda c=config: fn(c, input_shape=(32, 32, 3), classes=10),
                             verbose, strict)
        if failed is not None:   # a Check that failed is falsy
            return failed
        if small.count_params() != want:
            return _finish(Check("vgg", False, [
                f'vgg("{config}", input_shape=(32, 32, 3), classes=10) has '
                f"{small.count_params():,} parameters, expected {want:,}: compare its stages with "
                "VGG_CONFIGS."]), verbose, strict)
    return _finish(Check("vgg", True, ['vgg("D") equals VGG16 layer by layer; A to E have the '
                                       "expected parameter counts"]), verbose, strict)


def _check_block(name: str, build: Callable, rows: list[tuple], out_shape: tuple, identity: bool,
                 verbose: bool, strict: bool) -> Check:
    """A block's layers (any order), output shape and, for identity blocks, ReLU(x) at gamma 0."""
    model, failed = _run(name, build, verbose, strict)
    if failed is not None:   # a Check that failed is falsy
        return failed
    got_shape = tuple(model.output.shape)[1:]
    if got_shape != out_shape:
        return _finish(Check(name, False, [f"output shape {got_shape}, expected {out_shape}"]),
                       verbose, strict)
    x = np.random.default_rng(0).normal(size=(2, *model.input.shape[1:])).astype(np.float32)
    set_constant_weights(model)
    expect = np.asarray(model(x, training=False))   # the structure is checked, not the values
    problem = block_problems(model, rows=rows, x=x, expect=expect, identity=identity)
    if problem:
        return _finish(Check(name, False, [problem]), verbose, strict)
    return _finish(Check(name, True, [f"the layers, the output shape {out_shape}"
                                      + (" and ReLU(x) at gamma = 0" if identity else "")]),
                   verbose, strict)


def check_inception_module(block_model: Callable, fn: Callable, *, verbose: bool = True,
                           strict: bool = False) -> Check:
    """Module 3a: 256 channels out, 163,696 parameters, the expected layers."""
    rows = [("Conv2D", (28, 28, 64), 12352), ("Conv2D", (28, 28, 96), 18528),
            ("Conv2D", (28, 28, 16), 3088), ("MaxPooling2D", (28, 28, 192), 0),
            ("Conv2D", (28, 28, 128), 110720), ("Conv2D", (28, 28, 32), 12832),
            ("Conv2D", (28, 28, 32), 6176), ("Concatenate", (28, 28, 256), 0)]
    return _check_block("inception_module",
                        lambda: block_model(fn, (28, 28, 192), 64, 96, 128, 16, 32, 32),
                        rows, (28, 28, 256), False, verbose, strict)


def _bn(shape):
    return ("BatchNormalization", shape, 4 * shape[-1])


def check_residual_block(block_model: Callable, fn: Callable, *, verbose: bool = True,
                         strict: bool = False) -> Check:
    """An identity block (16 -> 16) and a projection block (16 -> 32, stride 2)."""
    same = [("Conv2D", (8, 8, 16), 2304), _bn((8, 8, 16)), ("ReLU", (8, 8, 16), 0),
            ("Conv2D", (8, 8, 16), 2304), _bn((8, 8, 16)), ("Add", (8, 8, 16), 0),
            ("ReLU", (8, 8, 16), 0)]
    report = _check_block("residual_block (identity)", lambda: block_model(fn, (8, 8, 16), 16, 1),
                          same, (8, 8, 16), True, verbose, strict)
    if not report.passed:
        return report
    down = [("Conv2D", (4, 4, 32), 512), _bn((4, 4, 32)), ("Conv2D", (4, 4, 32), 4608),
            _bn((4, 4, 32)), ("ReLU", (4, 4, 32), 0), ("Conv2D", (4, 4, 32), 9216),
            _bn((4, 4, 32)), ("Add", (4, 4, 32), 0), ("ReLU", (4, 4, 32), 0)]
    return _check_block("residual_block (projection)", lambda: block_model(fn, (8, 8, 16), 32, 2),
                        down, (4, 4, 32), False, verbose, strict)


def check_bottleneck_block(block_model: Callable, fn: Callable, *, verbose: bool = True,
                           strict: bool = False) -> Check:
    """An identity bottleneck (64 -> 16 -> 64) and a projection one (32 -> 64, stride 2)."""
    same = [("Conv2D", (8, 8, 16), 1024), _bn((8, 8, 16)), ("ReLU", (8, 8, 16), 0),
            ("Conv2D", (8, 8, 16), 2304), _bn((8, 8, 16)), ("ReLU", (8, 8, 16), 0),
            ("Conv2D", (8, 8, 64), 1024), _bn((8, 8, 64)), ("Add", (8, 8, 64), 0),
            ("ReLU", (8, 8, 64), 0)]
    report = _check_block("bottleneck_block (identity)",
                          lambda: block_model(fn, (8, 8, 64), 16, 1), same, (8, 8, 64), True,
                          verbose, strict)
    if not report.passed:
        return report
    down = [("Conv2D", (4, 4, 64), 2048), _bn((4, 4, 64)), ("Conv2D", (4, 4, 16), 512),
            _bn((4, 4, 16)), ("ReLU", (4, 4, 16), 0), ("Conv2D", (4, 4, 16), 2304),
            _bn((4, 4, 16)), ("ReLU", (4, 4, 16), 0), ("Conv2D", (4, 4, 64), 1024),
            _bn((4, 4, 64)), ("Add", (4, 4, 64), 0), ("ReLU", (4, 4, 64), 0)]
    return _check_block("bottleneck_block (projection)",
                        lambda: block_model(fn, (8, 8, 32), 16, 2), down, (4, 4, 64), False,
                        verbose, strict)


def check_resnext_block(block_model: Callable, fn: Callable, *, verbose: bool = True,
                        strict: bool = False) -> Check:
    """An identity ResNeXt block (64 -> 32 in 8 groups -> 64) and a projection one."""
    same = [("Conv2D", (8, 8, 32), 2048), _bn((8, 8, 32)), ("ReLU", (8, 8, 32), 0),
            ("Conv2D", (8, 8, 32), 1152), _bn((8, 8, 32)), ("ReLU", (8, 8, 32), 0),
            ("Conv2D", (8, 8, 64), 2048), _bn((8, 8, 64)), ("Add", (8, 8, 64), 0),
            ("ReLU", (8, 8, 64), 0)]
    report = _check_block("resnext_block (identity)", lambda: block_model(fn, (8, 8, 64), 32, 8),
                          same, (8, 8, 64), True, verbose, strict)
    if not report.passed:
        return report
    down = [("Conv2D", (4, 4, 64), 2048), _bn((4, 4, 64)), ("Conv2D", (8, 8, 32), 1024),
            _bn((8, 8, 32)), ("ReLU", (8, 8, 32), 0), ("Conv2D", (4, 4, 32), 2304),
            _bn((4, 4, 32)), ("ReLU", (4, 4, 32), 0), ("Conv2D", (4, 4, 64), 2048),
            _bn((4, 4, 64)), ("Add", (4, 4, 64), 0), ("ReLU", (4, 4, 64), 0)]
    return _check_block("resnext_block (projection)",
                        lambda: block_model(fn, (8, 8, 32), 32, 4, 2), down, (4, 4, 64), False,
                        verbose, strict)


def check_twenty_layer_net(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Both twins: 20 layers with weights, the same parameters, shortcuts only in the residual one."""
    lines = []
    for residual in (False, True):
        model, failed = _run("twenty_layer_net", lambda r=residual: fn(r), verbose, strict)
        if failed is not None:   # a Check that failed is falsy
            return failed
        kinds = [row[0] for row in layer_rows(model)]
        weighted = kinds.count("Conv2D") + kinds.count("Dense")
        adds = kinds.count("Add")
        name = f"twenty_layer_net(residual={residual})"
        problems = []
        if weighted != 20:
            problems.append(f"{name} has {weighted} layers with weights (Conv2D, Dense); expected 20")
        if model.count_params() != 11_114:
            problems.append(f"{name} has {model.count_params():,} parameters; expected 11,114")
        if adds != (9 if residual else 0):
            problems.append(f"{name} has {adds} Add layers; expected {9 if residual else 0}")
        if tuple(model.output.shape)[1:] != (10,):
            problems.append(f"{name} outputs {tuple(model.output.shape)[1:]}; expected (10,)")
        if problems:
            return _finish(Check("twenty_layer_net", False, problems), verbose, strict)
        lines.append(f"{name}: 20 layers with weights, {adds} shortcuts")
    return _finish(Check("twenty_layer_net", True, lines), verbose, strict)
