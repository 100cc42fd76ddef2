"""Hidden checks of lab 3, on the instructor's side only (never copied to labs/).

Each step draws its probes from a generator seeded at grading time. Expected values
come from TensorFlow (``coursegrader.references.pooling``: ``tf.nn.max_pool2d`` / ``avg_pool2d``
in float64, and ``tf.GradientTape`` through them), from a numeric gradient, from the properties
that ``coursekit.checks.shift_net_problems`` judges (the student's network is their design), or,
for the study, from the lab's own reference solution run here, in the trusted grader, on the
same kinds, seeds and digits as the student's code. A reason says what property failed,
never the inputs. TensorFlow is imported inside the probe functions only.
"""

import functools
import pathlib

import numpy as np

from coursegrader import Probe, Step, quiet

HERE = pathlib.Path(__file__).resolve().parent
SHIFT = 2                 # pixels, as the lab says
BAND = 0.03               # accuracies must be within this of the reference's (same recipe, same seeds)


def _normal(rng, *shape, dtype=np.float64):
    return rng.normal(size=tuple(int(d) for d in shape)).astype(dtype)


def _tolerance(x):
    return {"rtol": 1e-5, "atol": 1e-6} if x.dtype == np.float32 else {"rtol": 1e-7, "atol": 1e-9}


def _pool_inputs(rng):
    """(x, size, stride, reason): random geometries, then each case the lab promises."""
    cases = []
    for _ in range(4):
        size, stride = (int(v) for v in rng.integers(1, 4, size=2))
        n, c = rng.integers(1, 4, size=2)
        h, w = size + rng.integers(0, 7, size=2)
        cases.append((_normal(rng, n, h, w, c), size, stride, "wrong values on random inputs"))
    ties = rng.integers(0, 3, size=(2, 6, 7, 3)).astype(np.float64)
    cases += [
        (ties, 2, 2, "ties: equal values in a window"),
        (ties, 3, 1, "ties in overlapping windows"),
        (_normal(rng, 1, 7, 9, 2), 2, 2, "odd sides: the last row and column are left out"),
        (_normal(rng, 2, 9, 8, 3), 3, 2, "overlapping windows (stride < size)"),
        (_normal(rng, 1, 10, 11, 2), 2, 3, "a stride larger than the window"),
        (_normal(rng, 2, 5, 5, 4), 5, 1, "one window as large as the map"),
        (-np.abs(_normal(rng, 2, 6, 6, 2)), 2, 2, "negative values"),
        (_normal(rng, 2, 6, 8, 3, dtype=np.float32), 2, 2, "float32 stays float32"),
    ]
    return cases


#: the rules a wrong answer is told (the self-checks' words), never a probe's values
FORWARD_RULE = ("the output has (H - size) // stride + 1 rows and (W - size) // stride + 1 columns, "
                "and each map is pooled on its own")
BACKWARD_RULE = {
    "max": "nudge each input of a window a little: only the one that won moves the output (the first maximum "
           "in row-major order when several tie); an input that wins several overlapping windows receives "
           "from each of them, which a plain assignment loses",
    "avg": "nudge one input of a window by h: the window's mean moves by a fraction of h (which?), so each "
           "input receives that share of the upstream value, not all of it; an input in several overlapping "
           "windows receives a share from each",
}


def _forward(kind):
    def probes(rng):
        from coursegrader.references.pooling import pool_reference

        return [Probe(reason, (x, size, stride), expect=pool_reference(x, size, stride, kind), hint=FORWARD_RULE,
                      **_tolerance(x)) for x, size, stride, reason in _pool_inputs(rng)]
    return probes


def _backward(kind):
    def probes(rng):
        from coursegrader.references.pooling import pool_backward_reference, pool_numeric_gradient

        found = []
        for x, size, stride, reason in _pool_inputs(rng):
            out_h, out_w = (x.shape[1] - size) // stride + 1, (x.shape[2] - size) // stride + 1
            dout = _normal(rng, x.shape[0], out_h, out_w, x.shape[3], dtype=x.dtype)
            found.append(Probe(reason, (dout, x, size, stride), hint=BACKWARD_RULE[kind],
                               expect=pool_backward_reference(dout, x, size, stride, kind), **_tolerance(x)))
        # CS231n's check: a numeric gradient in float64, on distinct values (no ties within h).
        x = rng.permutation(2 * 7 * 7 * 2).reshape(2, 7, 7, 2) / 100.0
        dout = _normal(rng, 2, 3, 3, 2)
        numeric = pool_numeric_gradient(dout, x, kind)
        found.append(Probe("relative error against a numeric gradient above 1e-8", (dout, x, 3, 2),
                           expect=numeric, rtol=1e-8, atol=1e-9, hint=BACKWARD_RULE[kind]))
        return found
    return probes


GLOBAL_RULE = "average over the height and width axes (1 and 2), keep the batch and channels: (N, H, W, C) -> (N, C)"


def global_average(rng):
    probes = [Probe("wrong values on random inputs", (x,), expect=x.mean(axis=(1, 2)), hint=GLOBAL_RULE)
              for x in (_normal(rng, *rng.integers(1, 6, size=4)) for _ in range(4))]
    x32 = _normal(rng, 3, 4, 5, 8, dtype=np.float32)
    probes.append(Probe("float32 stays float32", (x32,), expect=x32.astype(np.float64).mean(axis=(1, 2)).astype(
        np.float32), rtol=1e-5, atol=1e-6, hint=GLOBAL_RULE))
    x1 = _normal(rng, 2, 1, 1, 6)
    probes.append(Probe("maps of 1 x 1", (x1,), expect=x1[:, 0, 0, :], hint=GLOBAL_RULE))
    return probes


def max_by_conv(rng):
    from coursegrader.references.pooling import pool_reference

    inputs = [(_normal(rng, 2, 8, 8, 3, dtype=np.float32), "wrong values on random inputs"),
              (_normal(rng, 1, 7, 9, 5, dtype=np.float32), "odd sides: the last row and column are left out"),
              (rng.integers(-2, 2, size=(2, 6, 6, 1)).astype(np.float32), "ties and negative values"),
              ((100 * _normal(rng, 3, 4, 6, 2)).astype(np.float32), "large values")]
    return [Probe(reason, (x,), expect=pool_reference(x, 2, 2, "max"), rtol=1e-5, atol=1e-5)
            for x, reason in inputs]


def _reference(*grade_ids):
    """The lab's reference solution of these steps, defined here (trusted code)."""
    from coursegrader.grade import reference_namespace

    return reference_namespace(HERE, *grade_ids)


def shift_nets(rng):
    """The properties of each kind's network (not one architecture), judged on the saved model."""
    from coursekit.checks import KINDS, shift_net_problems

    return [Probe(f"the network for kind={kind!r}", (kind,), judge=functools.partial(shift_net_problems, kind=kind))
            for kind in rng.permutation(KINDS).tolist()]


def shift_study(rng):
    """Two kinds, a seed, digits and a 2-pixel shift drawn now; the reference's accuracies, within BAND."""
    from coursekit.checks import KINDS
    from coursekit.data import load as load_dataset

    reference = _reference("shift_net", "shift_study")
    with quiet():
        (x_train, y_train), (x_test, y_test) = load_dataset("mnist", quiet=True)
    train = rng.choice(len(x_train), 800, replace=False)
    test = rng.choice(len(x_test), 400, replace=False)
    kinds = tuple(rng.choice(KINDS, 2, replace=False).tolist())
    seeds = (int(rng.integers(10_000)),)   # the study loops over seeds; the self-check runs two
    dy, dx = [(0, SHIFT), (0, -SHIFT), (SHIFT, 0), (-SHIFT, 0)][int(rng.integers(4))]
    args = (kinds, seeds, x_train[train], y_train[train], x_test[test], y_test[test])
    kwargs = {"shift": (dy, dx), "epochs": 1}
    expect = np.asarray(reference["shift_study"](*args, **kwargs), dtype=np.float64)
    return [Probe(f"the accuracies of the study are not those of the recipe (within {BAND})", args, kwargs,
                  expect=expect, rtol=0, atol=BAND, dtype=False,
                  hint="the recipe seeds each run with keras.utils.set_random_seed(seed) before it builds "
                       "its network")]


#: what computes a maximum (or a pooling) directly: step 6 must not call any of them
MAXIMUM_FUNCTIONS = ("max", "amax", "nanmax", "fmax", "maximum", "argmax", "reduce_max", "max_pool",
                     "max_pool2d", "max_pool_v2", "max_pool_with_argmax", "pool", "MaxPooling2D",
                     "MaxPool2D", "GlobalMaxPooling2D", "segment_max", "sort", "argsort", "top_k",
                     "partition", "where", "greater", "clip_by_value", "abs", "absolute")

STEPS = [
    Step("max_pool_forward", _forward("max"), call="max_pool_forward", numpy_only=True),
    Step("avg_pool_forward", _forward("avg"), call="avg_pool_forward", numpy_only=True),
    Step("max_pool_backward", _backward("max"), call="max_pool_backward", needs=("max_pool_forward",),
         numpy_only=True),
    Step("avg_pool_backward", _backward("avg"), call="avg_pool_backward", needs=("avg_pool_forward",),
         numpy_only=True),
    Step("global_average_pool", global_average, call="global_average_pool", numpy_only=True),
    Step("max_pool_by_conv", max_by_conv, call="max_pool_by_conv", timeout=60, memory_mb=4096,
         forbid=MAXIMUM_FUNCTIONS, forbid_reason="build the maximum from convolutions and ReLU only"),
    Step("shift_net", shift_nets, call="shift_net", timeout=60, memory_mb=4096),
    Step("shift_study", shift_study, call="shift_study", needs=("shift_net",), timeout=120, memory_mb=4096),
]
