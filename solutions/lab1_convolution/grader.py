"""Hidden checks of lab 1, on the instructor's side only (never copied to labs/).

Each step draws its probes from a generator seeded at grading time; expected values
come from tf.nn.conv2d (``coursegrader.references.convolution.conv_reference``, in float64)
or Keras, computed in the trusted grader. A reason says what property failed, never the inputs. Keras and TensorFlow
are imported inside the functions that need them: the grading workers load STEPS without them.
"""

import numpy as np

from coursegrader import Probe, Step
from coursegrader.references.convolution import BACKWARD_MISTAKES, conv_backward_reference, conv_reference, conv_suspects


def _normal(rng, *shape, dtype=np.float64):
    return rng.normal(size=tuple(int(d) for d in shape)).astype(dtype)


def _conv_probe(reason, *args, rtol=1e-7, atol=1e-9, hint="", **kwargs):
    """A probe whose wrong answer is told which typical mistake it matches (the self-check's table)."""
    return Probe(reason, args, kwargs, expect=conv_reference(*args, **kwargs), rtol=rtol, atol=atol,
                 mistakes=conv_suspects(*args, **kwargs), hint=hint)


#: the rule of each stage's output shape, told when an answer's values are wrong
_MULTI_RULE = "one output map of shape (H - kh + 1, W - kw + 1): sum over the channels as well"


def single(rng):
    probes = []
    for _ in range(6):
        kh, kw = rng.integers(1, 5, size=2)
        probes.append(_conv_probe("wrong values on random inputs",
                                  _normal(rng, kh + rng.integers(0, 6), kw + rng.integers(0, 6)), _normal(rng, kh, kw)))
    image = rng.integers(0, 256, size=(9, 7)).astype(np.uint8)
    edge_kernel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float32)
    probes.append(_conv_probe("a uint8 image with a float32 kernel (dtype, no wrap-around)", image, edge_kernel,
                              rtol=1e-6, atol=1e-3))
    x = _normal(rng, 3, 6)
    probes.append(_conv_probe("a kernel as large as the image", x, _normal(rng, 3, 6)))
    probes.append(_conv_probe("a 1x1 kernel", x, np.array([[-2.5]])))
    return probes


def multi(rng):
    probes = []
    for _ in range(5):
        c, (kh, kw) = int(rng.integers(1, 6)), rng.integers(1, 4, size=2)
        probes.append(_conv_probe("wrong values on random inputs",
                                  _normal(rng, kh + rng.integers(0, 5), kw + rng.integers(0, 5), c),
                                  _normal(rng, kh, kw, c), hint=_MULTI_RULE))
    k = np.zeros((2, 2, 3), np.float32)
    k[..., int(rng.integers(0, 3))] = 1.0
    probes.append(_conv_probe("each channel must meet its own kernel slice (float32)",
                              _normal(rng, 5, 5, 3, dtype=np.float32), k, rtol=1e-5, atol=1e-6))
    probes.append(_conv_probe("an RGB uint8 image with a float kernel",
                              rng.integers(0, 256, size=(6, 8, 3)).astype(np.uint8), _normal(rng, 3, 3, 3)))
    return probes


def filters(rng):
    import keras

    probes = []
    for _ in range(5):
        (cin, f), (kh, kw) = rng.integers(1, 5, size=2), rng.integers(1, 4, size=2)
        probes.append(_conv_probe("wrong values on random inputs",
                                  _normal(rng, kh + rng.integers(0, 5), kw + rng.integers(0, 5), cin),
                                  _normal(rng, kh, kw, cin, f), _normal(rng, f)))
    layer = keras.layers.Conv2D(4, (3, 2), kernel_initializer=keras.initializers.RandomNormal(seed=int(rng.integers(1000))),
                                bias_initializer=keras.initializers.RandomNormal(seed=int(rng.integers(1000))))
    layer.build((None, 7, 6, 3))
    kernel, bias = (keras.ops.convert_to_numpy(v) for v in (layer.kernel, layer.bias))
    probes.append(_conv_probe("the float32 weights of a real Keras layer",
                              _normal(rng, 7, 6, 3, dtype=np.float32), kernel, bias, rtol=1e-4, atol=1e-5))
    probes.append(_conv_probe("one bias per filter, not per position",
                              np.zeros((3, 3, 2)), np.zeros((1, 1, 2, 3)), _normal(rng, 3)))
    return probes


def full(rng):
    probes = []
    paddings = [0, 1, 2, "valid", "same"]
    for trial in range(12):
        (cin, f), (kh, kw) = rng.integers(1, 4, size=2), rng.integers(1, 5, size=2)
        stride, padding = int(rng.integers(1, 4)), paddings[trial % len(paddings)]
        words = f"padding={padding!r}" if isinstance(padding, str) else ("an int padding" if padding else "no padding")
        probes.append(_conv_probe(f"wrong result with {words}{' and a stride > 1' if stride > 1 else ''}",
                                  _normal(rng, kh + rng.integers(0, 7), kw + rng.integers(0, 7), cin),
                                  _normal(rng, kh, kw, cin, f), _normal(rng, f) if trial % 3 else None,
                                  stride=stride, padding=padding))
    for h, w, k, s in [(6, 6, 2, 1), (7, 8, 4, 2), (5, 9, 2, 3), (8, 8, 3, 2)]:
        probes.append(_conv_probe("'same' with an odd amount of padding (the extra row goes at the bottom)",
                                  _normal(rng, h, w, 2), _normal(rng, k, k, 2, 2), None, stride=s, padding="same"))
    probes.append(_conv_probe("a stride larger than the kernel", _normal(rng, 9, 9, 1), np.ones((1, 1, 1, 1)),
                              stride=4))
    x32, w32 = _normal(rng, 6, 6, 3, dtype=np.float32), _normal(rng, 3, 3, 3, 2, dtype=np.float32)
    probes.append(_conv_probe("float32 stays float32", x32, w32, padding="same", rtol=1e-4, atol=1e-5))
    probes.append(_conv_probe("float32 with a bias stays float32", x32, w32, np.zeros(2, np.float32), stride=2,
                              rtol=1e-4, atol=1e-5))
    probes.append(Probe("an unknown padding must raise ValueError", (x32, w32), {"padding": "full"},
                        raises="ValueError"))
    return probes


def _numeric_backward(dout, x, w, padding):
    """(dx, dw, db) by central differences of L = sum(dout * conv(x, w, b)), in float64, with a
    NumPy forward pass: a check independent of TensorFlow. L is linear in each of x, w and b,
    so the differences are exact but for rounding."""
    p, h = int(padding), 1e-5
    kh, kw = w.shape[:2]

    def loss(x, w, b):
        windows = np.lib.stride_tricks.sliding_window_view(np.pad(x, ((p, p), (p, p), (0, 0))), (kh, kw), (0, 1))
        return float(np.sum(dout * (np.einsum("ijcmn,mncf->ijf", windows, w) + b)))

    def numeric(point, at):
        grad = np.zeros_like(point)
        for index in np.ndindex(point.shape):
            step = np.zeros_like(point)
            step[index] = h
            grad[index] = (at(point + step) - at(point - step)) / (2 * h)
        return grad

    b = np.zeros(w.shape[3])
    return (numeric(x, lambda v: loss(v, w, b)), numeric(w, lambda v: loss(x, v, b)),
            numeric(b, lambda v: loss(x, w, v)))


_PART_WORDS = {"dx": "dx (the input's gradient)", "dw": "dw (the weights' gradient)", "db": "db (the biases' gradient)"}
#: the rule of each part's shape, told when its values are wrong and no typical mistake matches
_PART_RULES = {"dx": "dx has the shape of x: pad dout so that every pixel, corners included, finds each "
                     "output it touched, and give back only the pixels of x, not of the padded input",
               "dw": "dw has the shape of w, (kh, kw, C_in, F)",
               "db": "db has one value per filter, shape (F,)"}


def _backward_probes(reason, dout, x, w, padding, expected, **tolerance):
    return [Probe(f"{_PART_WORDS[part]}: {reason}", (part, dout, x, w), {"padding": padding}, expect=value,
                  mistakes={words: wrong(dout, x, w, padding) for words, wrong in BACKWARD_MISTAKES[part].items()},
                  hint=_PART_RULES[part], **tolerance) for part, value in zip(("dx", "dw", "db"), expected)]


def backward(rng):
    probes = []
    for trial in range(5):
        (cin, f), (kh, kw) = rng.integers(1, 4, size=2), rng.integers(1, 5, size=2)
        padding = int(rng.integers(0, 3)) if trial % 2 else 0
        x, w = _normal(rng, kh + rng.integers(0, 5), kw + rng.integers(0, 5), cin), _normal(rng, kh, kw, cin, f)
        dout = _normal(rng, x.shape[0] + 2 * padding - kh + 1, x.shape[1] + 2 * padding - kw + 1, f)
        words = "random inputs" + (" with padding" if padding else "")
        probes += _backward_probes(f"differs from tf.GradientTape on {words}", dout, x, w, padding,
                                   conv_backward_reference(dout, x, w, padding), rtol=1e-7, atol=1e-9)
    x, w = _normal(rng, 5, 4, 2), _normal(rng, 3, 2, 2, 2)
    dout = _normal(rng, 5, 5, 2)
    probes += _backward_probes("differs from a numeric gradient (padding 1)", dout, x, w, 1,
                               _numeric_backward(dout, x, w, 1), rtol=1e-6, atol=1e-7)
    x, w = _normal(rng, 3, 5, 2), _normal(rng, 3, 5, 2, 3)
    dout = _normal(rng, 1, 1, 3)
    probes += _backward_probes("a kernel as large as the input", dout, x, w, 0,
                               conv_backward_reference(dout, x, w, 0))
    x, w = _normal(rng, 6, 6, 3, dtype=np.float32), _normal(rng, 3, 3, 3, 2, dtype=np.float32)
    dout = _normal(rng, 6, 6, 2, dtype=np.float32)
    probes += _backward_probes("float32 stays float32", dout, x, w, 1, conv_backward_reference(dout, x, w, 1),
                               rtol=1e-4, atol=1e-4)
    return probes


def _keras_count(in_channels, layers, bias):
    import keras

    model = keras.Sequential([keras.Input((32, 32, in_channels))] + [
        keras.layers.Conv2D(filters, kernel, use_bias=bias, padding="same") for filters, kernel in layers])
    return int(model.count_params())


def params(rng):
    probes = []
    for trial in range(8):
        layers = []
        for _ in range(int(rng.integers(1, 4))):
            kernel = int(rng.integers(1, 8)) if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(1, 8, size=2))
            layers.append((int(rng.integers(1, 70)), kernel))
        cin, bias = int(rng.integers(1, 70)), bool(trial % 3)
        reason = (f"{'one layer' if len(layers) == 1 else 'a stack of layers'}, "
                  f"{'with' if bias else 'without'} biases")
        probes.append(Probe(reason, (cin, layers), {"bias": bias}, expect=_keras_count(cin, layers, bias),
                            integer=True, hint="each layer's input has as many channels as the layer before it "
                                               "has filters" if len(layers) > 1 else ""))
    probes.append(Probe("an empty stack has no parameters", (int(rng.integers(1, 9)), []), expect=0, integer=True))
    return probes


def quiz(rng):
    # whole numbers, as int or float
    return [Probe("answer_alexnet", name="answer_alexnet", expect=_keras_count(3, [(96, 11)], True), rtol=0, atol=0,
                  dtype=False),
            Probe("answer_dense", name="answer_dense", expect=32 * 32 * 3 * 10 + 10, rtol=0, atol=0, dtype=False),
            # the lab says: compared to one decimal
            Probe("answer_ratio", name="answer_ratio", expect=round(30730 / 760, 1), rtol=0, atol=0.05, dtype=False)]


STEPS = [
    Step("conv2d_single", single, call="conv2d_single", numpy_only=True),
    Step("conv2d_multi", multi, call="conv2d_multi", needs=("conv2d_single",), numpy_only=True),
    Step("conv2d_filters", filters, call="conv2d_filters", needs=("conv2d_single", "conv2d_multi"), numpy_only=True),
    Step("conv2d_full", full, call="conv2d", needs=("conv2d_single", "conv2d_multi", "conv2d_filters"),
         numpy_only=True),
    # the grader reads the three results one at a time, through backward_part (in the answer cell)
    Step("conv2d_backward", backward, call="backward_part",
         needs=("conv2d_single", "conv2d_multi", "conv2d_filters", "conv2d_full"), numpy_only=True),
    # Keras is allowed here (the lab says so): TensorFlow may start inside the sandbox
    Step("count_params", params, call="count_params", timeout=60, memory_mb=4096),
    Step("params_quiz", quiz, names=("answer_alexnet", "answer_dense", "answer_ratio"), needs=("count_params",),
         timeout=60, memory_mb=4096),
]
