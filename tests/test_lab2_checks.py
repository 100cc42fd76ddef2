"""coursekit.checks for lab 2 (padding, stride, dilation, receptive fields), against known answers.

The references (coursegrader.references, on the instructor's side) are checked against TensorFlow,
Keras and coursekit.arith; each self-check must pass a right solution and name the usual mistake
in a wrong one. The engine's
constraint probes (the design question) are judged in the trusted process.
"""

import math
import pathlib
import pickle

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from coursekit import arith, checks
from coursegrader import Probe, grade, spec
from coursegrader.references import padding_stride as ps

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
LAB = pathlib.Path(__file__).resolve().parent.parent / "solutions" / "lab2_padding_stride"


# --------------------------------------------------------------------------
# Student solutions, right and wrong, written here independently of checks.py
# --------------------------------------------------------------------------


def good_layer_cost(kind, side, c_in, c_out, k=3, stride=1, padding="same", groups=1):
    if padding not in ("same", "valid") or kind not in ("conv", "depthwise", "separable"):
        raise ValueError("unknown padding or kind")
    if c_in % groups or c_out % groups or (padding == "valid" and side < k):
        raise ValueError("does not fit")
    out = math.ceil(side / stride) if padding == "same" else (side - k) // stride + 1
    per_position = {"conv": k * k * c_in * c_out // groups, "depthwise": k * k * c_out,
                    "separable": k * k * c_in + c_in * c_out}[kind]
    return per_position + c_out, out * out * per_position


def good_same_padding(n, k, stride=1, dilation=1):
    total = max((math.ceil(n / stride) - 1) * stride + (k - 1) * dilation + 1 - n, 0)
    return total // 2, total - total // 2


def good_im2col(x, w, b=None, stride=1, padding=0, dilation=1):
    kh, kw, _, f = w.shape
    spans = [(kh - 1) * dilation + 1, (kw - 1) * dilation + 1]
    if padding == "same":
        pads = [good_same_padding(x.shape[i], w.shape[i], stride, dilation) for i in (0, 1)]
    elif isinstance(padding, str):
        pads = [(s - 1, s - 1) if padding == "full" else (0, 0) for s in spans]
    else:
        pads = [(padding, padding)] * 2
    windows = sliding_window_view(np.pad(x, pads + [(0, 0)]), spans, axis=(0, 1))
    windows = windows[::stride, ::stride, :, ::dilation, ::dilation]
    rows = windows.transpose(0, 1, 3, 4, 2).reshape(*windows.shape[:2], -1)
    out = rows @ w.reshape(-1, f) + (0 if b is None else b)
    return out.astype(np.result_type(x, w, *([] if b is None else [b])))


def good_receptive_field(layers):
    size, jump, start = 1, 1, 0.0
    for layer in layers:
        k, s, d, p = (*layer, 0)[:4]
        start += (((k - 1) * d) / 2 - p) * jump
        size, jump = size + (k - 1) * d * jump, jump * s
    return size, jump, start


def _tf_conv(x, w, stride, pads, dilation):
    return tf.nn.conv2d(x[None], w, stride, [[0, 0], *pads, [0, 0]], dilations=dilation).numpy()[0]


# --------------------------------------------------------------------------
# The references
# --------------------------------------------------------------------------


@pytest.mark.parametrize("n, k, s, d", [(5, 4, 1, 1), (224, 3, 2, 1), (7, 4, 2, 1), (9, 3, 1, 2),
                                        (10, 3, 3, 2), (6, 1, 3, 1), (1, 5, 1, 1)])
def test_same_pads_are_tensorflows(n, k, s, d):
    rng = np.random.default_rng(n * k)
    x, w = rng.normal(size=(1, n, n, 1)), rng.normal(size=(k, k, 1, 1))
    before, after = ps.same_pads(n, k, s, d)
    same = tf.nn.conv2d(x, w, s, "SAME", dilations=d)
    explicit = tf.nn.conv2d(x, w, s, [[0, 0], [before, after], [before, after], [0, 0]], dilations=d)
    assert np.allclose(same, explicit)
    if before != after:  # the other way round is not TensorFlow's
        swapped = tf.nn.conv2d(x, w, s, [[0, 0], [after, before], [after, before], [0, 0]], dilations=d)
        assert not np.allclose(same, swapped)


@pytest.mark.parametrize("padding", [0, 2, "valid", "same", "full"])
@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2), (2, 3)])
def test_dilated_conv_reference_matches_tf_dilations(padding, stride, dilation):
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(11, 10, 2)), rng.normal(size=(3, 2, 2, 3)), rng.normal(size=3)
    pads = [ps._pad_pair(padding, x.shape[i], w.shape[i], stride, dilation) for i in (0, 1)]
    want = _tf_conv(x, w, stride, [list(p) for p in pads], dilation) + b
    got = ps.dilated_conv_reference(x, w, b, stride, padding, dilation)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_the_seed_worked_example():
    """Seed 004: 5x5 input, padding 1, 3x3 kernel, stride 2. Its printed output is not this one
    (only 3 of 9 values agree); the chapter explains why."""
    x = np.array([[2, 2, 3, 3, 3], [0, 1, 3, 0, 3], [2, 3, 0, 1, 3], [3, 3, 2, 1, 2], [3, 3, 0, 2, 3]], float)
    k = np.array([[2, 0, 1], [1, 0, 0], [0, 1, 1]], float)
    y = ps.dilated_conv_reference(x[:, :, None], k[:, :, None, None], None, 2, 1)[..., 0]
    np.testing.assert_array_equal(y, [[1, 5, 6], [7, 8, 3], [3, 10, 4]])


@pytest.mark.parametrize("layers", [
    [(3, 1, 1)] * 6, [(3, 1, 1), (2, 2, 1)] * 3, [(3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8)],
    [(7, 2, 1, 3), (3, 2, 1, 1), (3, 1, 1, 1), (1, 3, 1)], [(5, 1, 3, 2), (2, 2, 1)]])
def test_receptive_field_reference_matches_arith(layers):
    model = keras.Sequential([keras.Input((None, None, 1))])
    for k, s, d, p in ((*layer, 0)[:4] for layer in layers):
        if p:
            model.add(keras.layers.ZeroPadding2D(p))
        model.add(keras.layers.Conv2D(1, k, strides=s, dilation_rate=d))
    field = arith.receptive_field(model)
    assert ps.receptive_field_reference(layers) == (field.size, field.jump, field.start - 0.5)


def test_receptive_field_reference_matches_a_gradient():
    """Six 3x3 convolutions and three 2x2 average poolings: the gradient's support is the field."""
    layers = [(3, 1, 1), (2, 2, 1)] * 3
    model = keras.Sequential([keras.Input((64, 64, 1))])
    for k, s, _ in layers:
        model.add(keras.layers.Conv2D(1, 3, use_bias=False, kernel_initializer="ones") if s == 1
                  else keras.layers.AveragePooling2D(2))
    x = tf.constant(np.ones((1, 64, 64, 1)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        unit = model(x)[0, 2, 2, 0]
    rows, cols = np.nonzero(tape.gradient(unit, x)[0, :, :, 0].numpy())
    size, jump, start = ps.receptive_field_reference(layers)
    assert rows.max() - rows.min() + 1 == cols.max() - cols.min() + 1 == size == 22
    assert rows.min() == cols.min() == start + 2 * jump - (size - 1) / 2   # unit 2's field


# --------------------------------------------------------------------------
# The self-checks: right solutions pass, usual mistakes are named
# --------------------------------------------------------------------------


def test_right_solutions_pass():
    assert checks.check_layer_cost(good_layer_cost, verbose=False)
    assert checks.check_same_padding(good_same_padding, verbose=False)
    assert checks.check_im2col(good_im2col, verbose=False)
    assert checks.check_receptive_field(good_receptive_field, verbose=False)
    assert checks.check_rf_design([(3, 2)] * 5 + [(3, 1)], verbose=False)


def _lab2_grader():
    import importlib.util

    module_spec = importlib.util.spec_from_file_location("lab2_grader", LAB / "grader.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("args, kwargs", [
    (("conv", 112, 32, 64), {}), (("conv", 56, 64, 128), {"k": 1}),
    (("conv", 28, 32, 64), {"groups": 4}), (("conv", 31, 3, 8), {"k": 4, "stride": 2, "padding": "valid"}),
    (("depthwise", 112, 32, 32), {"stride": 2}), (("depthwise", 15, 8, 24), {"k": 5, "padding": "valid"}),
    (("separable", 112, 32, 64), {}), (("separable", 57, 16, 40), {"k": 5, "stride": 2}),
])
def test_layer_cost_reference_and_grader_agree_with_keras(args, kwargs):
    """The formula (reference, self-check) and the grader's count from Keras' weights agree, and
    the grader's parameters are Keras' count_params."""
    want = _lab2_grader().keras_cost(*args, **kwargs)
    assert tuple(ps.layer_cost_reference(*args, **kwargs)) == tuple(want) == good_layer_cost(*args, **kwargs)


def test_the_grader_counts_a_mobilenet_layer_as_the_paper_does():
    """MobileNet's cost of a depthwise separable layer, D_K^2 M D_F^2 + M N D_F^2
    (Howard et al. 2017, eq. 5), on 14 x 14 x 512 -> 512, 3 x 3: the grader's count, from Keras."""
    params, madds = _lab2_grader().keras_cost("separable", 14, 512, 512)
    assert madds == 3 * 3 * 512 * 14 * 14 + 512 * 512 * 14 * 14
    assert params == 3 * 3 * 512 + 512 * 512 + 512


@pytest.mark.parametrize("change, words", [
    ({"bias": 0}, "forget the biases"), ({"groups": "ignored"}, "divide by the groups"),
    ({"depthwise": "dense"}, "does not mix channels"), ({"round": "down"}, "round up"),
])
def test_layer_cost_mistakes_are_named(change, words):
    def wrong(kind, side, c_in, c_out, k=3, stride=1, padding="same", groups=1):
        params, madds = good_layer_cost(kind, side, c_in, c_out, k, stride, padding, groups)
        out = math.ceil(side / stride) if padding == "same" else (side - k) // stride + 1
        if "bias" in change:
            return params - c_out, madds
        if "groups" in change and kind == "conv":
            return k * k * c_in * c_out + c_out, out * out * k * k * c_in * c_out
        if "depthwise" in change and kind == "depthwise":
            return k * k * c_in * c_out + c_out, out * out * k * k * c_in * c_out
        if "round" in change and padding == "same":
            return params, madds // (out * out) * (side // stride) ** 2
        return params, madds

    result = checks.check_layer_cost(wrong, verbose=False)
    assert not result and words in result.message, result.message


def test_missing_errors_are_reported():
    def no_errors(kind, side, c_in, c_out, k=3, stride=1, padding="same", groups=1):
        try:
            return good_layer_cost(kind, side, c_in, c_out, k, stride, padding, groups)
        except ValueError:
            return 0, 0

    result = checks.check_layer_cost(no_errors, verbose=False)
    assert not result and "ValueError" in result.message


def test_dilation_forgotten_is_named():
    result = checks.check_same_padding(lambda n, k, stride=1, dilation=1: good_same_padding(n, k, stride), verbose=False)
    assert not result and "dilation" in result.message


@pytest.mark.parametrize("wrong, words", [
    (lambda n, k, stride=1, dilation=1: good_same_padding(n, k, stride, dilation)[::-1], "after (bottom/right)"),
    (lambda n, k, stride=1, dilation=1: ((k - 1) // 2,) * 2, "not symmetric"),
])
def test_symmetric_same_padding_is_named(wrong, words):
    result = checks.check_same_padding(wrong, verbose=False)
    assert not result and words in result.message


def test_jump_not_multiplied_is_named():
    def no_jump(layers):
        size, jump, start = good_receptive_field(layers)
        return 1 + sum(((*layer, 0)[0] - 1) * (*layer, 0)[2] for layer in layers), jump, start

    result = checks.check_receptive_field(no_jump, verbose=False)
    assert not result and "multiply by the jump" in result.message


def test_a_loop_over_output_pixels_is_caught():
    def loops(x, w, b=None, stride=1, padding=0, dilation=1):
        whole = good_im2col(x, w, b, stride, padding, dilation)
        out = np.empty_like(whole)
        for i in range(whole.shape[0]):
            for j in range(whole.shape[1]):
                out[i, j] = whole[i, j]
        return out

    result = checks.check_im2col(loops, verbose=False)
    assert not result and "loops over the output pixels" in result.message


def test_a_library_convolution_is_blocked():
    def library(x, w, b=None, stride=1, padding=0, dilation=1):
        return ps.dilated_conv_reference(x, w, b, stride, padding, dilation)

    assert not checks.check_im2col(library, verbose=False)


@pytest.mark.parametrize("design, words", [
    ([(3, 2)] * 5, "receptive field is 63"), ([(3, 2)] * 4 + [(7, 2)], "over the budget"),
    ([(3, 2)] * 4, "output is 14x14"), (-7, "list of (kernel, stride) pairs"), ([(3, 2.5)], "whole numbers"),
    ([[3, 2], [3]], "list of (kernel, stride) pairs"), ([(0, 2)], "whole numbers")])
def test_design_constraints(design, words):
    problem = checks.rf_design_problems(design)
    assert problem and words in problem


# --------------------------------------------------------------------------
# Grading: a probe judged by its constraints, in the trusted process
# --------------------------------------------------------------------------


def test_a_judged_probe_accepts_any_design_that_meets_the_constraints():
    probe = Probe("your design", name="design", judge=checks.rf_design_problems)
    for design in ([(3, 2)] * 5 + [(3, 1)], [(3, 2)] * 5 + [(1, 1), (3, 1)], [(2, 2)] * 5 + [(4, 1)]):
        array = np.array(design)
        assert grade._check(probe, {"kind": "array", "key": "r0"}, {"r0": array}) is None, design
    reason = grade._check(probe, {"kind": "array", "key": "r0"}, {"r0": np.array([(3, 2)] * 5)})
    assert "receptive field is 63" in reason
    assert "a result is expected" in grade._check(probe, {"kind": "array", "key": "r1"}, {})


def test_lab2_probes_survive_the_trip_to_a_worker():
    """grade_many sends the probes to spawned workers: a judge must pickle by reference."""
    steps = spec.load(LAB / "grader.py")
    design = next(s for s in steps if s.grade_id == "rf_design")
    probes = design.probes(np.random.default_rng(0))
    assert pickle.loads(pickle.dumps(probes))[0].judge is checks.rf_design_problems
