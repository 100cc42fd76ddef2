"""coursekit.checks for lab 6 (batch normalization), against known answers.

The references (coursegrader.references, on the instructor's side) are checked against Keras'
BatchNormalization and a float64 numeric gradient; each self-check must pass a right solution and
name the usual mistake in a wrong one: the unbiased variance, the wrong axes for maps, epsilon
outside the square root, and the momentum convention reversed.
"""

import numpy as np
import pytest

from coursegrader.references import batch_norm as refs
from coursekit import checks
from coursekit.checks import batch_norm as bn

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


# --------------------------------------------------------------------------
# Student solutions, right and wrong, written here independently of the checks
# --------------------------------------------------------------------------


def make_forward(ddof=0, axes=None, eps_outside=False, momentum_reversed=False):
    """A forward pass with one of the usual mistakes switched on."""

    def forward(x, gamma, beta, eps=1e-3, mode="train", running_mean=None, running_var=None, momentum=0.99):
        c = x.shape[-1]
        running_mean = np.zeros(c, x.dtype) if running_mean is None else running_mean
        running_var = np.ones(c, x.dtype) if running_var is None else running_var
        reduce = tuple(range(x.ndim - 1)) if axes is None else axes
        keep = momentum if not momentum_reversed else 1 - momentum
        if mode == "train":
            mean, var = x.mean(axis=reduce), x.var(axis=reduce, ddof=ddof)
            running_mean = running_mean * keep + np.ravel(mean)[:c] * (1 - keep)
            running_var = running_var * keep + np.ravel(var)[:c] * (1 - keep)
        else:
            mean, var = running_mean, running_var
        scale = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
        x_hat = (x - mean) / scale
        return gamma * x_hat + beta, (x, x_hat, mean, var, gamma, eps), running_mean, running_var

    return forward


def good_backward(dout, cache):
    x, x_hat, mean, var, gamma, eps = cache
    axes = tuple(range(x.ndim - 1))
    m = x.size // x.shape[-1]
    dbeta, dgamma = dout.sum(axis=axes), (dout * x_hat).sum(axis=axes)
    dx = gamma / (m * np.sqrt(var + eps)) * (m * dout - dbeta - x_hat * dgamma)
    return dx, dgamma, dbeta


def backward_without_mean_path(dout, cache):
    """Forgets that mu and sigma depend on x: dx = dout * gamma / std."""
    x, x_hat, mean, var, gamma, eps = cache
    axes = tuple(range(x.ndim - 1))
    return dout * gamma / np.sqrt(var + eps), (dout * x_hat).sum(axis=axes), dout.sum(axis=axes)


def make_layer(momentum_reversed=False):
    class Layer(keras.layers.Layer):
        def __init__(self, momentum=0.99, epsilon=1e-3, **kwargs):
            super().__init__(**kwargs)
            self.momentum, self.epsilon = momentum, epsilon

        def build(self, input_shape):
            shape = (input_shape[-1],)
            self.gamma = self.add_weight(shape=shape, initializer="ones")
            self.beta = self.add_weight(shape=shape, initializer="zeros")
            self.moving_mean = self.add_weight(shape=shape, initializer="zeros", trainable=False)
            self.moving_variance = self.add_weight(shape=shape, initializer="ones", trainable=False)

        def call(self, inputs, training=False):
            keep = 1 - self.momentum if momentum_reversed else self.momentum
            if training:
                mean, var = keras.ops.moments(inputs, axes=list(range(len(inputs.shape) - 1)))
                self.moving_mean.assign(self.moving_mean * keep + mean * (1 - keep))
                self.moving_variance.assign(self.moving_variance * keep + var * (1 - keep))
            else:
                mean, var = self.moving_mean, self.moving_variance
            return self.gamma * (inputs - mean) / keras.ops.sqrt(var + self.epsilon) + self.beta

    return Layer


# --------------------------------------------------------------------------
# The references, against Keras and a numeric gradient
# --------------------------------------------------------------------------


def test_reference_equals_keras_in_both_modes_and_after_k_steps():
    rng = np.random.default_rng(1)
    layer = keras.layers.BatchNormalization(momentum=0.9, epsilon=0.01, dtype="float64")
    gamma, beta = rng.uniform(0.5, 2, 3), rng.normal(size=3)
    layer.build((None, 4, 4, 3))
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    mean, var = np.zeros(3), np.ones(3)
    for _ in range(4):
        x = rng.normal(2, 3, size=(5, 4, 4, 3))
        out, mean, var = refs.batchnorm_reference(x, gamma, beta, 0.01, "train", mean, var, 0.9)
        np.testing.assert_allclose(out, layer(x, training=True).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(mean, layer.moving_mean.numpy(), rtol=1e-13)
    np.testing.assert_allclose(var, layer.moving_variance.numpy(), rtol=1e-13)
    x = rng.normal(size=(2, 4, 4, 3))
    out, same_mean, _ = refs.batchnorm_reference(x, gamma, beta, 0.01, "inference", mean, var, 0.9)
    np.testing.assert_allclose(out, layer(x, training=False).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(same_mean, mean)


def test_backward_reference_equals_a_numeric_gradient():
    rng = np.random.default_rng(2)
    for shape in [(6, 4), (2, 3, 3, 2)]:
        x, dout = rng.normal(1, 2, size=shape), rng.normal(size=shape)
        gamma, beta = rng.uniform(0.5, 1.5, shape[-1]), rng.normal(size=shape[-1])
        tape = refs.batchnorm_backward_reference(dout, x, gamma, beta, 1e-3)
        numeric = refs.numeric_bn_gradients(dout, x, gamma, beta, 1e-3)
        for analytic, approx in zip(tape, numeric):
            np.testing.assert_allclose(analytic, approx, rtol=checks.GRADIENT_RTOL, atol=checks.GRADIENT_ATOL)


def test_keras_run_matches_the_moving_statistics_by_hand():
    rng = np.random.default_rng(3)
    batches = rng.normal(4, 2, size=(3, 8, 2)).astype(np.float32)
    run = checks.keras_batchnorm_run(batches, batches[0], np.ones(2), np.zeros(2), momentum=0.8)
    mean = np.zeros(2)
    for batch in batches:
        mean = mean * 0.8 + batch.mean(axis=0) * 0.2
    np.testing.assert_allclose(run["moving_mean"], mean, rtol=1e-5)


# --------------------------------------------------------------------------
# Each self-check: a right answer passes, each usual mistake is named
# --------------------------------------------------------------------------


def test_forward_check_passes_a_right_answer():
    assert checks.check_batchnorm_forward(make_forward(), verbose=False)


@pytest.mark.parametrize("mistake, hint", [
    ({"ddof": 1}, "m - 1 (unbiased"),
    ({"axes": 0}, "over the batch axis only"),
    ({"eps_outside": True}, "epsilon is outside the square root"),
    ({"momentum_reversed": True}, "momentum convention is reversed"),
])
def test_forward_check_names_the_mistake(mistake, hint):
    result = checks.check_batchnorm_forward(make_forward(**mistake), verbose=False)
    assert not result
    assert hint in result.message, result.message


def test_forward_check_reports_a_wrong_return_value():
    result = checks.check_batchnorm_forward(lambda x, *args, **kwargs: x, verbose=False)
    assert not result and "expected a tuple of 4" in result.message


def test_backward_check_passes_right_answers_and_fails_a_wrong_one():
    assert checks.check_batchnorm_backward(good_backward, verbose=False)
    result = checks.check_batchnorm_backward(backward_without_mean_path, verbose=False)
    assert not result and "through the mean and through the variance" in result.message


def test_layer_check_passes_a_right_layer_and_names_a_reversed_momentum():
    assert checks.check_batchnorm_layer(make_layer(), verbose=False)
    result = checks.check_batchnorm_layer(make_layer(momentum_reversed=True), verbose=False)
    assert not result and "momentum convention is reversed" in result.message, result.message


def test_suspects_are_what_the_mistakes_give():
    rng = np.random.default_rng(4)
    x, gamma, beta = rng.normal(size=(6, 3)), np.ones(3), np.zeros(3)
    found = refs.batchnorm_suspects(x, gamma, beta, eps=0.1)
    wrong, _, _, _ = make_forward(eps_outside=True)(x, gamma, beta, eps=0.1)
    np.testing.assert_allclose(found["out"][bn.EPS_OUTSIDE], wrong)
