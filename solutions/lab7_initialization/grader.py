"""Hidden checks of lab 7, on the instructor's side only (never copied to labs/).

Each step draws its probes from a generator seeded at grading time. The gain is judged on what
it does, not on its formula: the mean square that a stack of 50 leaky-ReLU layers with that
gain passes on, in expectation, for slopes drawn here. The fan-out sampler is judged on large
samples (shape, mean, variance within 2 % of gain**2 / fan_out with the reference gain, a
normal's kurtosis). The
measurement of the forward and backward signal is compared with GradientTape, run here on
models built here. The quiz's answers are the lab's stated stacks, measured. A reason says
what property failed, never the inputs. TensorFlow and Keras are imported inside the probe
functions only.
"""

import math

import numpy as np

from coursegrader import Probe, Step

DEPTH = 50  # layers of the stack that the gain is judged on
BAND = 0.10  # the mean square after DEPTH layers: within 10 % of the input's


def _ratio_judge(alpha):
    def judge(gain):
        try:
            gain = float(np.asarray(gain, dtype=np.float64))
        except (TypeError, ValueError):
            return "return one number, the gain"
        if not math.isfinite(gain) or gain == 0:
            return "the gain must be a finite, non-zero number"
        per_layer = gain**2 * (1 + alpha**2) / 2  # E[f(z)^2] = (1 + alpha^2) / 2 * Var(z)
        kept = math.exp(DEPTH * math.log(per_layer))
        if abs(kept - 1) > BAND:
            return (f"after {DEPTH} layers the signal's mean square is {kept:.3g} times the input's "
                    "(it must stay within 10 %)")
        return None
    return judge


def gain(rng):
    slopes = [(float(rng.uniform(0.05, 0.3)), "a small slope"),
              (float(rng.uniform(0.3, 0.95)), "a slope between 0.3 and 1"),
              (float(rng.uniform(1.5, 4.0)), "a slope above 1"),
              (-float(rng.uniform(0.1, 0.9)), "a negative slope"),
              (0.0, "slope 0 (ReLU)")]
    from coursegrader.references.initialization import leaky_relu_gain_suspects

    return [Probe(f"{what}: the signal does not keep its size", (alpha,), judge=_ratio_judge(alpha),
                  mistakes=leaky_relu_gain_suspects(alpha)) for alpha, what in slopes]


def _sample_judge(shape, variance, gain):
    from coursekit.checks import normal_sample_problems
    from coursekit.checks.initialization import _sample_diagnosis

    def judge(values):
        problems = normal_sample_problems(values, shape, variance)
        if not problems:
            return None
        mistake = _sample_diagnosis(values, shape, gain)   # the self-check's words for a known variance
        return f"matches a typical mistake: {mistake}" if mistake else "; ".join(problems)
    return judge


def sampler(rng):
    from coursegrader.references.initialization import leaky_relu_gain_reference
    from coursekit.checks import kernel_fans

    def draw(low, high):
        return int(rng.integers(low, high))
    cases = [((draw(800, 1200), draw(250, 400)), "dense kernels, fan_in != fan_out"),
             ((3, 3, draw(40, 80), draw(600, 900)), "3 x 3 convolution kernels"),
             ((draw(3, 8), draw(50, 100), draw(1500, 2500)), "1-D convolution kernels"),
             ((5, 5, draw(8, 16), draw(400, 600)), "5 x 5 convolution kernels")]
    found = []
    for shape, what in cases:
        alpha = float(rng.uniform(0.0, 0.6))
        gain = leaky_relu_gain_reference(alpha)
        found.append(Probe(f"{what}: not N(0, gain**2 / fan_out)", (shape, alpha, int(rng.integers(2**31 - 1))),
                           judge=_sample_judge(shape, gain**2 / kernel_fans(shape)[1], gain)))
    return found


def _dense_stack(rng):
    import keras

    widths = [int(w) for w in rng.integers(4, 40, size=int(rng.integers(2, 5)))]
    activation = str(rng.choice(["relu", "tanh", "gelu", "sigmoid", "elu"]))
    model = keras.Sequential([keras.Input((widths[0],))]
                             + [keras.layers.Dense(w, activation=activation) for w in widths[1:]]
                             + [keras.layers.Dense(10)])
    return model, widths[0], f"a dense stack with {activation}"


def _conv_stack(rng):
    import keras

    channels = int(rng.integers(1, 4))
    model = keras.Sequential([keras.Input((8, 8, channels)),
                              keras.layers.Conv2D(int(rng.integers(2, 6)), 3, activation="relu"),
                              keras.layers.Conv2D(int(rng.integers(2, 6)), 3, padding="same"),
                              keras.layers.Flatten(), keras.layers.Dense(10)])
    return model, (8, 8, channels), "a convnet with a Flatten layer"


def signals(rng):
    from coursegrader.references.initialization import signal_norms_mistakes, signal_norms_reference

    found = []
    for build in (_dense_stack, _dense_stack, _conv_stack):
        model, inputs, what = build(rng)
        for weights in model.weights:  # drawn here, so that a re-grade with this seed is exact
            scale = float(rng.uniform(0.3, 1.5)) / math.sqrt(max(1, int(np.prod(weights.shape[:-1]))))
            weights.assign(rng.normal(0.0, scale, weights.shape).astype(np.float32))
        batch = int(rng.integers(8, 40))
        shape = (batch, inputs) if isinstance(inputs, int) else (batch, *inputs)
        images = rng.standard_normal(shape).astype(np.float32)
        labels = rng.integers(0, 10, batch)
        found.append(Probe(f"{what}: not GradientTape's forward and backward RMS", (model, images, labels),
                           expect=signal_norms_reference(model, images, labels), rtol=2e-4, atol=1e-8,
                           mistakes=signal_norms_mistakes(model, images, labels)))
    return found


#: the lab's stacks, measured (log2 of the ratios, rounded): fan-in keeps the forward signal and lets
#: the backward one double in variance per layer of a widening stack; fan-out the other way round
ANSWERS = {"answer_backward_fan_in": 2, "answer_backward_fan_out": 0, "answer_forward_fan_out": -2,
           "answer_he_forward": 5}


def quiz(rng):
    return [Probe(name, name=name, expect=value, rtol=0, atol=0, dtype=False) for name, value in ANSWERS.items()]


STEPS = [
    Step("leaky_relu_gain", gain, call="leaky_relu_gain", numpy_only=True),
    Step("fan_out_normal", sampler, call="fan_out_normal", needs=("leaky_relu_gain",), numpy_only=True),
    Step("signal_norms", signals, call="signal_norms", timeout=60, memory_mb=4096),
    Step("backward_quiz", quiz, names=tuple(ANSWERS), needs=("leaky_relu_gain", "signal_norms"), timeout=60,
         memory_mb=4096),
]
