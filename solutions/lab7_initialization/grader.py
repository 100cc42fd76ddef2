"""Hidden checks of lab 7, on the instructor's side only (never copied to labs/).

Each step draws its probes from a generator seeded at grading time. Samplers are judged
on large seeded samples by ``checks.sample_problems``: shape, variance within 2 % of the
rule, the bound (exact for a uniform), and a two-sample Kolmogorov-Smirnov test against
Keras' own initializer at the significance ``checks.KS_ALPHA`` (1e-6). Fans are compared
with Keras' ``compute_fans``. The deep stack is compared with the lab's reference recipe
run here, in the trusted grader, on the same seed; the Keras steps are judged on what
their kernels and losses show (symmetry, learning, stalling), within bands that hold
for every seed. A reason says what property failed, never the inputs. TensorFlow and
Keras are imported inside the probe functions only.
"""

import contextlib
import io
import pathlib

import numpy as np

from coursegrader import Probe, Step

HERE = pathlib.Path(__file__).resolve().parent
SAMPLERS = ("glorot_uniform", "he_uniform", "glorot_normal", "he_normal")


@contextlib.contextmanager
def _quiet():
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _reference(*grade_ids):
    """The lab's reference solution of these steps, defined here (trusted code)."""
    from coursegrader.grade import reference_namespace

    return reference_namespace(HERE, *grade_ids)


def _seed(rng):
    return int(rng.integers(2**31 - 1))


def fans(rng):
    from coursegrader.references.initialization import fans_reference

    shapes = [(tuple(int(d) for d in rng.integers(2, 900, size=2)), "dense kernels (n_in, n_out)")]
    k_h, k_w = (int(d) for d in rng.integers(1, 8, size=2))
    c_in, c_out = (int(d) for d in rng.integers(1, 300, size=2))
    shapes += [((k_h, k_w, c_in, c_out), "convolution kernels: k_h * k_w * C"),
               ((3, 3, c_in, c_out), "3 x 3 convolutions"),
               ((k_h, 1, c_out, c_in), "a kernel with a side of 1"),
               ((k_w, c_in, c_out), "1-D convolution kernels (k, C_in, C_out)"),
               ((2, k_h, k_w, c_in, c_out), "3-D convolution kernels"),
               ((1, 1, c_in, c_out), "1 x 1 convolutions"),
               ((c_in,), "a 1-D shape (n,) gives (n, n)")]
    return [Probe(reason, (shape,), expect=np.array(fans_reference(shape)), rtol=0, atol=0, dtype=False)
            for shape, reason in shapes]


def _sample_judge(variance, bound, reference):
    from coursekit.checks import sample_problems

    def judge(values):
        problems = sample_problems(values, reference.shape, variance, bound, reference)
        return "; ".join(problems) if problems else None
    return judge


def _sampler(scheme):
    """Three large kernels (>= 200,000 weights): dense, conv 3 x 3, conv 5 x 5."""
    def probes(rng):
        from coursekit.checks import keras_sample, scheme_bound, scheme_variance

        found = []
        shapes = [((int(rng.integers(300, 700)), 600), "dense kernels"),
                  ((3, 3, int(rng.integers(16, 64)), 500), "3 x 3 convolution kernels"),
                  ((5, 5, int(rng.integers(3, 12)), 1200), "5 x 5 convolution kernels, fan_in != fan_out")]
        for shape, what in shapes:
            reference = keras_sample(scheme, shape, seed=_seed(rng))
            judge = _sample_judge(scheme_variance(scheme, shape), scheme_bound(scheme, shape), reference)
            found.append(Probe(f"{what}: the sample does not match Keras' {scheme}", (shape, _seed(rng)),
                               judge=judge))
        return found
    return probes


def truncated(rng):
    from coursekit.checks import TRUNCATED_STD, keras_sample

    found = []
    for shape, stddev, what in [((500, 500), float(rng.uniform(0.5, 3.0)), "a stddev above 0.5"),
                                ((3, 3, 64, 400), float(rng.uniform(0.01, 0.1)), "a small stddev"),
                                ((250_000,), 1.0, "a 1-D shape, stddev 1")]:
        reference = keras_sample("truncated_normal", shape, _seed(rng), stddev=stddev)
        judge = _sample_judge((TRUNCATED_STD * stddev) ** 2, 2 * stddev, reference)
        found.append(Probe(f"{what}: not keras.random.truncated_normal's distribution", (shape, stddev, _seed(rng)),
                           judge=judge))
    return found


def stack(rng):
    from coursekit.checks import stack_problems

    reference = _reference("fans", "glorot_uniform", "he_uniform", "truncated_normal", "glorot_normal",
                           "he_normal", "forward_stats")["forward_stats"]
    cases = [("he_normal", 20, "relu", 256, 128, "He with ReLU over 20 layers"),
             ("he_uniform", 15, "relu", 128, 64, "He uniform with ReLU"),
             (0.01, 20, "relu", 256, 128, "N(0, 0.01**2) with ReLU"),
             (1.0, 12, "relu", 128, 64, "N(0, 1) with ReLU"),
             ("glorot_uniform", 10, "tanh", 128, 64, "Glorot with tanh"),
             ("glorot_normal", 10, "relu", 96, 80, "Glorot normal with ReLU")]
    found = []
    for scheme, depth, activation, width, batch, what in cases:
        seed = _seed(rng)
        want = reference(scheme, depth, activation, width=width, batch=batch, seed=seed)

        def judge(values, want=want, scheme=scheme, depth=depth, activation=activation):
            problems = stack_problems(values, depth, scheme, activation)
            if problems:
                return problems[0]
            if not np.allclose(np.asarray(values, dtype=np.float64), want, rtol=1e-6, atol=0):
                return "the standard deviations are not those of the recipe"
            return None
        found.append(Probe(what, (scheme, depth, activation), {"width": width, "batch": batch, "seed": seed},
                           judge=judge))
    return found


def _digits(rng, count):
    from coursekit.data import load as load_dataset

    with _quiet():
        (x_train, y_train), _ = load_dataset("mnist", quiet=True)
    index = rng.choice(len(x_train), count, replace=False)
    return x_train[index], y_train[index]


def _spread(kernel):
    spread = np.abs(kernel - kernel[..., :1])  # every filter against filter 0
    return float(spread.max())


def symmetry(rng):
    images, labels = _digits(rng, 32)
    constant = float(rng.uniform(0.05, 0.2))
    seed = _seed(rng)
    he_first = _reference("fans", "truncated_normal", "he_normal")["he_normal"]((3, 3, 1, 4),
                                                                                np.random.default_rng(seed))

    def shaped(kernels):
        kernels = np.asarray(kernels, dtype=np.float64)
        return None if kernels.shape == (2, 3, 3, 1, 4) else "np.stack([before, after]) of shape (2, 3, 3, 1, 4)"

    def zero_judge(kernels):
        return shaped(kernels) or (None if not np.any(kernels) else "a zero kernel must stay at zero")

    def constant_judge(kernels):
        wrong = shaped(kernels)
        if wrong:
            return wrong
        before, after = np.asarray(kernels, dtype=np.float64)
        if not np.allclose(before, constant, rtol=1e-6, atol=0):
            return "the kernel must start at the constant"
        if _spread(after) > 1e-6:
            return "the filters must stay identical to each other"
        if np.max(np.abs(after - before)) < 1e-7:
            return "the kernel must move during the steps"
        return None

    def he_judge(kernels):
        wrong = shaped(kernels)
        if wrong:
            return wrong
        before, after = np.asarray(kernels, dtype=np.float64)
        if not np.allclose(before, he_first, rtol=1e-5, atol=1e-7):
            return "the first kernel is not the sampler's first draw from np.random.default_rng(seed)"
        if _spread(after) < 1e-3:
            return "the filters must differ from each other"
        return None

    return [Probe("a zero start after one step", (0.0, images, labels), {"steps": 1, "seed": seed}, judge=zero_judge),
            Probe("a constant start after three steps", (constant, images, labels), {"steps": 3, "seed": seed},
                  judge=constant_judge),
            Probe("a start from NumpyInitializer('he_normal', seed)", ("he_normal", images, labels),
                  {"steps": 2, "seed": seed}, judge=he_judge)]


def training(rng):
    from coursekit.checks import train_problems

    images, labels = _digits(rng, 600)
    seed = _seed(rng) % 10_000
    return [Probe(f"from {start!r}{' (a standard deviation)' if not isinstance(start, str) else ''}",
                  (start, images, labels), {"epochs": 3, "seed": seed},
                  judge=lambda losses, start=start: "; ".join(train_problems(losses, start)) or None)
            for start in ("he_normal", 0.01)]


SAMPLER_NEEDS = {"glorot_uniform": ("fans",), "he_uniform": ("fans",),
                 "glorot_normal": ("fans", "truncated_normal"), "he_normal": ("fans", "truncated_normal")}
ALL_SAMPLERS = ("fans", "glorot_uniform", "he_uniform", "truncated_normal", "glorot_normal", "he_normal")

STEPS = [
    Step("fans", fans, call="fans", numpy_only=True),
    Step("glorot_uniform", _sampler("glorot_uniform"), call="glorot_uniform", needs=("fans",), numpy_only=True),
    Step("he_uniform", _sampler("he_uniform"), call="he_uniform", needs=("fans",), numpy_only=True),
    Step("truncated_normal", truncated, call="truncated_normal", numpy_only=True),
    Step("glorot_normal", _sampler("glorot_normal"), call="glorot_normal", needs=SAMPLER_NEEDS["glorot_normal"],
         numpy_only=True),
    Step("he_normal", _sampler("he_normal"), call="he_normal", needs=SAMPLER_NEEDS["he_normal"], numpy_only=True),
    Step("forward_stats", stack, call="forward_stats", needs=ALL_SAMPLERS, numpy_only=True),
    Step("symmetry_steps", symmetry, call="symmetry_steps", needs=ALL_SAMPLERS, timeout=120, memory_mb=4096),
    Step("train_run", training, call="train_run", needs=(*ALL_SAMPLERS, "symmetry_steps"), timeout=180,
         memory_mb=4096),
]
