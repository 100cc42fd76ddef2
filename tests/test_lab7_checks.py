"""Lab 7 (initialization): its references, judges and self-checks, against known answers.

The gain is checked by simulation (a wide random stack keeps its mean square), the sampler's
judge against NumPy's own normal, uniform and truncated samples, the measurement of the forward
and backward signal against the chain rule written out in NumPy for a linear stack, and the
quiz's answers by measuring the lab's stacks with the reference. Each self-check passes the
right answer and names the usual mistake in a wrong one.
"""

import contextlib
import importlib.util
import io
import json
import math

import numpy as np
import pytest

from coursegrader.references.initialization import leaky_relu_gain_reference, signal_norms_reference
from coursekit import checks
from course_files import HAS_SOLUTIONS, ROOT

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

LAB = ROOT / "solutions" / "lab7_initialization"


def _grader():
    spec = importlib.util.spec_from_file_location("lab7_grader", LAB / "grader.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(check, *args, **kwargs) -> str:
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        check(*args, **kwargs)
    return printed.getvalue()


# --------------------------------------------------------------------------
# Step 1: the gain
# --------------------------------------------------------------------------

def _mean_square_after(gain, alpha, depth=30, width=1024, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.standard_normal((256, width))
    start = np.mean(signal**2)
    for _ in range(depth):
        z = signal @ rng.normal(0.0, gain / math.sqrt(width), (width, width))
        signal = np.where(z > 0, z, alpha * z)
    return np.mean(signal**2) / start


@pytest.mark.parametrize("alpha", [0.0, 0.2, 0.5, 2.0])
def test_the_reference_gain_keeps_the_mean_square_of_a_simulated_stack(alpha):
    assert 0.7 < _mean_square_after(leaky_relu_gain_reference(alpha), alpha) < 1.4


def test_he_gain_at_slope_half_explodes_as_the_grader_says():
    assert _mean_square_after(math.sqrt(2), 0.5) > 0.5 * 1.25**30


@pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no solutions/")
def test_the_gain_judge_passes_the_reference_and_fails_the_mistakes():
    grader = _grader()
    for alpha in (0.0, 0.07, 0.3, 0.9, 2.5, -0.4):
        judge = grader._ratio_judge(alpha)
        assert judge(leaky_relu_gain_reference(alpha)) is None
        assert judge(-leaky_relu_gain_reference(alpha)) is None  # the sign does not change the variance
        if alpha:
            assert judge(math.sqrt(2)) is not None
            assert judge(2 / (1 + alpha**2)) is not None
        if alpha > 0:
            assert judge(math.sqrt(2 / (1 + alpha))) is not None
    assert grader._ratio_judge(0.2)("one") is not None


def test_check_leaky_relu_gain_names_the_forgotten_square():
    assert "PASS" in _report(checks.check_leaky_relu_gain, leaky_relu_gain_reference)
    report = _report(checks.check_leaky_relu_gain, lambda a: math.sqrt(2 / (1 + a)))
    assert "FAIL" in report and "forgets the square" in report
    report = _report(checks.check_leaky_relu_gain, lambda a: np.array([leaky_relu_gain_reference(a)]))
    assert "FAIL" in report and "shape (1,)" in report


# --------------------------------------------------------------------------
# Step 2: the fan-out sampler
# --------------------------------------------------------------------------

SHAPE = (3, 3, 48, 480)
FAN_OUT = 9 * 480


def test_kernel_fans_known_answers():
    assert checks.kernel_fans((784, 128)) == (784, 128)
    assert checks.kernel_fans((3, 3, 16, 32)) == (144, 288)
    assert checks.kernel_fans((5, 20, 40)) == (100, 200)


def test_the_sample_judge_accepts_a_normal_and_rejects_uniform_truncated_and_fan_in():
    rng = np.random.default_rng(0)
    variance = 2.0 / FAN_OUT
    sd = math.sqrt(variance)
    assert checks.normal_sample_problems(rng.normal(0, sd, SHAPE), SHAPE, variance) == []
    bound = math.sqrt(3 * variance)
    assert "kurtosis" in " ".join(checks.normal_sample_problems(rng.uniform(-bound, bound, SHAPE), SHAPE,
                                                                variance))
    cut = rng.normal(0, 1, 4 * math.prod(SHAPE))
    cut = (cut[np.abs(cut) <= 2][:math.prod(SHAPE)] * sd / 0.8796256610342398).reshape(SHAPE)
    assert "kurtosis" in " ".join(checks.normal_sample_problems(cut, SHAPE, variance))
    fan_in = rng.normal(0, math.sqrt(2.0 / (9 * 48)), SHAPE)
    assert "variance" in " ".join(checks.normal_sample_problems(fan_in, SHAPE, variance))
    assert "shape" in " ".join(checks.normal_sample_problems(rng.normal(0, sd, (9, 48, 480)), SHAPE, variance))


def test_the_sample_judge_never_rejects_a_right_sample_over_many_seeds():
    variance = 1.7 / FAN_OUT
    for seed in range(40):
        sample = np.random.default_rng(seed).normal(0, math.sqrt(variance), SHAPE)
        assert checks.normal_sample_problems(sample, SHAPE, variance) == [], seed


def _fan_out_normal(fans_index, squared=True):
    def sampler(shape, alpha, rng):
        rng = np.random.default_rng(rng)
        gain = leaky_relu_gain_reference(alpha)
        std = (gain if squared else math.sqrt(gain)) / math.sqrt(checks.kernel_fans(shape)[fans_index])
        return rng.normal(0.0, std, size=shape)
    return sampler


def test_check_fan_out_normal_passes_and_names_fan_in_and_the_unsquared_gain():
    gain = leaky_relu_gain_reference
    assert "PASS" in _report(checks.check_fan_out_normal, _fan_out_normal(1), gain)
    report = _report(checks.check_fan_out_normal, _fan_out_normal(0), gain)
    assert "FAIL" in report and "fan_in used" in report
    report = _report(checks.check_fan_out_normal, _fan_out_normal(1, squared=False), gain)
    assert "FAIL" in report and "not squared" in report


# --------------------------------------------------------------------------
# Step 3: the forward and backward signal
# --------------------------------------------------------------------------

def test_signal_norms_reference_is_the_chain_rule_of_a_linear_stack():
    rng = np.random.default_rng(3)
    w1, w2 = rng.normal(size=(6, 5)), rng.normal(size=(5, 10))
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, use_bias=False),
                              keras.layers.Dense(10, use_bias=False)])
    model.layers[0].set_weights([w1.astype(np.float32)])
    model.layers[1].set_weights([w2.astype(np.float32)])
    x = rng.normal(size=(7, 6)).astype(np.float32)
    y = rng.integers(0, 10, 7)
    h1 = x.astype(np.float64) @ w1
    logits = h1 @ w2
    soft = np.exp(logits - logits.max(1, keepdims=True))
    soft /= soft.sum(1, keepdims=True)
    d_logits = (soft - np.eye(10)[y]) / len(y)  # the mean loss
    d_h1 = d_logits @ w2.T

    def rms(a):
        return math.sqrt(np.mean(a**2))
    want = [[rms(h1), rms(logits)], [rms(d_h1), rms(d_logits)]]
    np.testing.assert_allclose(signal_norms_reference(model, x, y), want, rtol=1e-4)


def test_check_signal_norms_passes_the_reference_and_names_a_summed_loss():
    assert "PASS" in _report(checks.check_signal_norms, signal_norms_reference)

    def summed(model, images, labels):
        right = signal_norms_reference(model, images, labels)
        right[1] *= len(labels)
        return right
    report = _report(checks.check_signal_norms, summed)
    assert "FAIL" in report and "summed over the batch" in report


# --------------------------------------------------------------------------
# Step 4: the quiz's answers are what the lab's stacks measure, and what theory predicts
# --------------------------------------------------------------------------

@pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no solutions/")
def test_the_quiz_answers_are_measured_on_the_labs_stacks():
    notebook = json.loads((LAB / "lab7_initialization.ipynb").read_text())
    given = next("".join(c["source"]) for c in notebook["cells"]
                 if c["metadata"].get("nbgrader", {}).get("grade_id") == "given_stack")
    namespace = {"np": np}
    exec(compile(given, "<given_stack>", "exec"), namespace)  # noqa: S102 - the course's own cell
    stack, batch = namespace["leaky_stack"], namespace["probe_batch"]
    widening, deep = namespace["WIDENING"], namespace["DEEP"]
    last = len(widening) - 2

    def log2(top, bottom):
        return int(np.rint(np.log2(top / bottom)))
    x, y = batch(widening[0])
    gain = leaky_relu_gain_reference(0.2)
    fan_in = signal_norms_reference(stack(widening, gain, "fan_in", 0.2), x, y)
    fan_out = signal_norms_reference(stack(widening, gain, "fan_out", 0.2), x, y)
    x, y = batch(deep[0])
    he = signal_norms_reference(stack(deep, math.sqrt(2), "fan_in", 0.5), x, y)
    measured = {"answer_backward_fan_in": log2(fan_in[1, 0], fan_in[1, last]),
                "answer_backward_fan_out": log2(fan_out[1, 0], fan_out[1, last]),
                "answer_forward_fan_out": log2(fan_out[0, last], fan_out[0, 0]),
                "answer_he_forward": log2(he[0, len(deep) - 2], he[0, 0])}
    assert measured == _grader().ANSWERS
    # theory: widths double, so the variance changes by 2 per layer over `last` layers
    # (RMS by 2 ** (last / 2)); He's gain at slope 0.5 multiplies the variance by 1.25
    predicted = {"answer_backward_fan_in": last / 2, "answer_backward_fan_out": 0,
                 "answer_forward_fan_out": -last / 2,
                 "answer_he_forward": (len(deep) - 3) * math.log2(1.25) / 2}
    assert {k: round(v) for k, v in predicted.items()} == measured
