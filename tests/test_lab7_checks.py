"""coursekit.checks for lab 7 (initialization), against known answers.

The references are checked against Keras (compute_fans, its initializers' samples) and
against analytic values (the truncated normal's standard deviation, uniform variances).
Each self-check must pass a right sampler and name the usual mistake in a wrong one:
fan-out used for fan-in, the k_h * k_w factor forgotten, the uniform bound and the
normal's standard deviation mixed up, the truncation or its correction missing.
"""

import math

import numpy as np
import pytest

from coursegrader.references.initialization import fans_reference
from coursekit import checks

keras = pytest.importorskip("keras")
pytest.importorskip("scipy")


# --------------------------------------------------------------------------
# Student samplers, right and wrong, written here independently of checks
# --------------------------------------------------------------------------


def right_fans(shape):
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    field = math.prod(shape[:-2])
    return int(shape[-2] * field), int(shape[-1] * field)


def swapped_fans(shape):
    fan_in, fan_out = right_fans(shape)
    return fan_out, fan_in


def no_field_fans(shape):
    return (int(shape[-2]), int(shape[-1])) if len(shape) > 1 else right_fans(shape)


def uniform(variance_of, bound_factor=3.0):
    def sampler(shape, rng):
        rng = np.random.default_rng(rng)
        bound = math.sqrt(bound_factor * variance_of(shape))
        return rng.uniform(-bound, bound, size=shape)
    return sampler


def cut_normal(shape, stddev, rng):
    rng = np.random.default_rng(rng)
    values = rng.normal(0.0, stddev, size=shape)
    while (outside := np.abs(values) > 2 * stddev).any():
        values[outside] = rng.normal(0.0, stddev, size=outside.sum())
    return values


def truncated(variance_of, correction=checks.TRUNCATED_STD, cut=True):
    def sampler(shape, rng):
        stddev = math.sqrt(variance_of(shape)) / correction
        if cut:
            return cut_normal(shape, stddev, rng)
        return np.random.default_rng(rng).normal(0.0, stddev, size=shape)
    return sampler


def he_var(fans):
    return lambda shape: 2 / fans(shape)[0]


def glorot_var(fans):
    return lambda shape: 2 / sum(fans(shape))


# --------------------------------------------------------------------------
# References against Keras and analytic values
# --------------------------------------------------------------------------


def test_truncated_std_is_the_std_of_a_standard_normal_cut_at_two():
    from scipy import stats

    phi = math.exp(-2) / math.sqrt(2 * math.pi)
    analytic = math.sqrt(1 - 4 * phi / math.erf(math.sqrt(2)))
    assert checks.TRUNCATED_STD == pytest.approx(analytic, rel=1e-15)
    assert checks.TRUNCATED_STD == pytest.approx(stats.truncnorm(-2, 2).std(), rel=1e-12)


@pytest.mark.parametrize("shape", [(784, 128), (3, 3, 16, 32), (5, 20, 40), (3, 3, 3, 8, 16), (10,), ()])
def test_fans_reference_is_keras_and_the_formula(shape):
    assert fans_reference(shape) == right_fans(shape)


@pytest.mark.parametrize("scheme", sorted(checks.SCHEMES))
def test_scheme_variance_and_bound_match_keras_samples(scheme):
    shape = (3, 3, 32, 400)
    sample = checks.keras_sample(scheme, shape, seed=3)
    variance = checks.scheme_variance(scheme, shape)
    assert sample.dtype == np.float64 and sample.shape == shape
    assert np.mean(sample**2) == pytest.approx(variance, rel=0.02)
    assert np.abs(sample).max() <= checks.scheme_bound(scheme, shape) * (1 + 1e-9)
    assert np.abs(sample).max() >= checks.scheme_bound(scheme, shape) * (1 - 1e-3)
    assert checks.sample_problems(sample, shape, variance, checks.scheme_bound(scheme, shape),
                                  checks.keras_sample(scheme, shape, seed=4)) == []


def test_keras_samples_are_seeded():
    a = checks.keras_sample("he_normal", (50, 60), seed=5)
    assert np.array_equal(a, checks.keras_sample("he_normal", (50, 60), seed=5))
    assert not np.array_equal(a, checks.keras_sample("he_normal", (50, 60), seed=6))


def test_ks_rejects_an_untruncated_normal_of_the_same_variance_and_accepts_a_truncated_one():
    shape = (1000, 300)
    reference = checks.keras_sample("he_normal", shape, seed=1)
    right = truncated(he_var(right_fans))(shape, 2)
    plain = np.random.default_rng(2).normal(0.0, math.sqrt(2 / 1000), size=shape)
    assert checks.ks_test(right, reference)[1] > checks.KS_ALPHA
    assert checks.ks_test(plain, reference)[1] < 1e-20


# --------------------------------------------------------------------------
# The self-checks: right samplers pass, each mistake is named
# --------------------------------------------------------------------------


def test_check_fans_passes_right_and_names_mistakes():
    assert checks.check_fans(right_fans, verbose=False)
    swapped = checks.check_fans(swapped_fans, verbose=False)
    assert not swapped and "fan-out used for fan-in" in swapped.message
    field = checks.check_fans(no_field_fans, verbose=False)
    assert not field and "k_h * k_w" in field.message
    floats = checks.check_fans(lambda shape: tuple(float(v) for v in right_fans(shape)), verbose=False)
    assert not floats and "ints" in floats.message


RIGHT = {
    "glorot_uniform": uniform(glorot_var(right_fans)),
    "he_uniform": uniform(he_var(right_fans)),
    "glorot_normal": truncated(glorot_var(right_fans)),
    "he_normal": truncated(he_var(right_fans)),
}


@pytest.mark.parametrize("scheme", sorted(RIGHT))
def test_check_sampler_passes_right_samplers(scheme):
    assert checks.check_sampler(RIGHT[scheme], scheme, verbose=False)


MISTAKES = [
    ("he_normal", truncated(he_var(swapped_fans)), "fan-out used for fan-in"),
    ("he_uniform", uniform(he_var(swapped_fans)), "fan-out used for fan-in"),
    ("he_normal", truncated(he_var(no_field_fans)), "k_h * k_w"),
    ("glorot_uniform", uniform(glorot_var(no_field_fans)), "k_h * k_w"),
    ("glorot_uniform", uniform(glorot_var(right_fans), bound_factor=1.0), "a = sqrt(3 * v)"),
    ("he_uniform", uniform(he_var(right_fans), bound_factor=1.0), "a = sqrt(3 * v)"),
    ("he_normal", truncated(lambda s: 3 * he_var(right_fans)(s)), "uniform bound sqrt(3 * v) used as the normal"),
    ("glorot_normal", truncated(glorot_var(right_fans), correction=1.0), "not divided by 0.8796"),
    ("he_normal", truncated(he_var(right_fans), cut=False), "tails are not cut"),
    ("he_normal", truncated(he_var(right_fans), correction=1.0, cut=False), "Keras' normal is truncated"),
    ("he_normal", truncated(lambda s: 1 / right_fans(s)[0]), "factor 2 of He"),
    ("glorot_uniform", uniform(lambda s: 1 / sum(right_fans(s))), "not 1 / (n_in + n_out)"),
]


@pytest.mark.parametrize("scheme, sampler, diagnosis", MISTAKES, ids=[m[2][:30] for m in MISTAKES])
def test_check_sampler_names_the_mistake(scheme, sampler, diagnosis):
    result = checks.check_sampler(sampler, scheme, verbose=False)
    assert not result
    assert diagnosis in result.message, result.message


def test_check_sampler_asks_for_default_rng_when_a_seed_is_refused():
    def generator_only(shape, rng):
        return rng.uniform(-1, 1, size=shape) * math.sqrt(3 * 2 / sum(right_fans(shape)))

    result = checks.check_sampler(generator_only, "glorot_uniform", verbose=False)
    assert not result and "default_rng" in result.message


def test_check_truncated_normal():
    assert checks.check_truncated_normal(cut_normal, verbose=False)
    uncut = checks.check_truncated_normal(
        lambda shape, stddev, rng: np.random.default_rng(rng).normal(0, stddev, size=shape), verbose=False)
    assert not uncut and "tails are not cut" in uncut.message
    clipped = checks.check_truncated_normal(
        lambda shape, stddev, rng: np.clip(np.random.default_rng(rng).normal(0, stddev, size=shape),
                                           -2 * stddev, 2 * stddev), verbose=False)
    assert not clipped  # clipping piles mass on the bounds: the KS test and the variance reject it


# --------------------------------------------------------------------------
# The deep stack: the recipe and the behaviour
# --------------------------------------------------------------------------


def recipe_stats(scheme, depth, activation, width=256, batch=256, seed=0):
    rng = np.random.default_rng(seed)
    draw = RIGHT[scheme] if isinstance(scheme, str) else (lambda s, r: r.normal(0.0, scheme, size=s))
    act = np.tanh if activation == "tanh" else (lambda z: np.maximum(z, 0.0))
    x = rng.standard_normal((batch, width))
    out = []
    for _ in range(depth):
        x = act(x @ draw((width, width), rng))
        out.append(x.std())
    return np.array(out)


def test_stack_behaviour_known_answers():
    he = recipe_stats("he_normal", 20, "relu", 128, 64, seed=1)
    tiny = recipe_stats(0.01, 20, "relu", 128, 64, seed=1)
    assert checks.stack_problems(he, 20, "he_normal", "relu") == []
    assert checks.stack_problems(tiny, 20, 0.01, "relu") == []
    # analytic: each ReLU layer multiplies the mean square by width * s**2 / 2
    assert tiny[-1] / tiny[-2] == pytest.approx(0.01 * math.sqrt(128 / 2), rel=0.2)
    assert checks.stack_problems(tiny, 20, "he_normal", "relu")          # He must not collapse
    assert checks.stack_problems(np.ones(20), 20, 0.01, "relu")        # tiny must collapse
    assert checks.stack_problems(he[:10], 20, "he_normal", "relu")     # one std per layer


def test_check_forward_stats_passes_the_recipe_and_catches_a_reordered_one():
    assert checks.check_forward_stats(recipe_stats, RIGHT, verbose=False)

    def kernels_first(scheme, depth, activation, width=256, batch=256, seed=0):
        rng = np.random.default_rng(seed)
        kernels = [RIGHT[scheme]((width, width), rng) if isinstance(scheme, str)
                   else rng.normal(0.0, scheme, size=(width, width)) for _ in range(depth)]
        x, out = rng.standard_normal((batch, width)), []
        for kernel in kernels:
            x = np.maximum(x @ kernel, 0.0) if activation == "relu" else np.tanh(x @ kernel)
            out.append(x.std())
        return np.array(out)

    result = checks.check_forward_stats(kernels_first, RIGHT, verbose=False)
    assert not result and "recipe" in result.message


def test_train_problems_bands():
    ln10 = math.log(10)
    assert checks.train_problems([2.1, 1.2], "he_normal") == []
    assert checks.train_problems([2.30, 2.29], "he_normal")
    assert checks.train_problems([2.303, 2.301], 0.01) == []
    assert checks.train_problems([2.2, 1.5], 0.01)
    assert checks.train_problems([ln10, float("nan")], 0.01)


# --------------------------------------------------------------------------
# Keras: the initializer subclass and symmetry
# --------------------------------------------------------------------------


class GoodInitializer(keras.initializers.Initializer):
    def __init__(self, scheme, seed=0):
        self.scheme, self.seed = scheme, seed
        self.rng = np.random.default_rng(seed)

    def __call__(self, shape, dtype=None):
        return keras.ops.convert_to_tensor(RIGHT[self.scheme](tuple(shape), self.rng), dtype=dtype or "float32")

    def get_config(self):
        return {"scheme": self.scheme, "seed": self.seed}


class FreshGeneratorEveryCall(GoodInitializer):
    def __call__(self, shape, dtype=None):
        return keras.ops.convert_to_tensor(RIGHT[self.scheme](tuple(shape), 99), dtype=dtype or "float32")


class NoConfig(GoodInitializer):
    def get_config(self):
        return {"scheme": self.scheme}


def test_check_numpy_initializer():
    sampler = RIGHT["he_normal"]
    assert checks.check_numpy_initializer(GoodInitializer, sampler, verbose=False)
    fresh = checks.check_numpy_initializer(FreshGeneratorEveryCall, sampler, verbose=False)
    assert not fresh and "default_rng(seed)" in fresh.message
    forgetful = checks.check_numpy_initializer(NoConfig, sampler, verbose=False)
    assert not forgetful and "get_config" in forgetful.message
