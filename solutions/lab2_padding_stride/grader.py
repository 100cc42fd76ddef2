"""Hidden checks of lab 2, on the instructor's side only (never copied to labs/).

Every expected value is computed here, in the trusted grader, from an independent source:
Keras' ``count_params`` and a count of multiply-adds from the weights and output shape of the
layer Keras builds for a layer's cost, TensorFlow's rule for the
"same" split (a test holds it to ``tf.nn.conv2d``), ``tf.nn.conv2d`` (with its own ``dilations``)
for the convolution, ``coursekit.arith.receptive_field`` on Keras models for
receptive fields, and the design's constraints (not one answer) for the design question.
Inputs are drawn from the generator seeded at grading time. A reason names the property that
failed, never the inputs. Keras and TensorFlow are imported inside the functions that need
them: the grading workers load STEPS without them.
"""

import math

import numpy as np

from coursekit import arith, checks
from coursegrader import Probe, Step
from coursegrader.references.padding_stride import (im2col_suspects, layer_cost_suspects, receptive_field_suspects,
                                                    same_padding_suspects)

PADDINGS = ("valid", "same", "full")


def _keras_layer(kind, c_in, c_out, k, stride, padding, groups):
    import keras

    if kind == "conv":
        return keras.layers.Conv2D(c_out, k, strides=stride, padding=padding, groups=groups)
    if kind == "depthwise":
        return keras.layers.DepthwiseConv2D(k, strides=stride, padding=padding, depth_multiplier=c_out // c_in)
    return keras.layers.SeparableConv2D(c_out, k, strides=stride, padding=padding)


def keras_cost(kind, side, c_in, c_out, k=3, stride=1, padding="same", groups=1):
    """(count_params, multiply-adds) of the layer Keras builds. The multiply-adds are counted from
    Keras' own weights and output shape, not from a formula: every weight of a kernel (a 4-D
    weight; biases are 1-D) multiplies one input at each of the output positions of its stage,
    and both stages of SeparableConv2D run at the output's resolution."""
    layer = _keras_layer(kind, c_in, c_out, k, stride, padding, groups)
    shape = (None, side, side, c_in)
    layer.build(shape)
    out = layer.compute_output_shape(shape)
    kernels = sum(int(np.prod(w.shape)) for w in layer.weights if len(w.shape) == 4)
    return np.array([layer.count_params(), int(out[1]) * int(out[2]) * kernels])


def _cost_config(rng, kind, words):
    groups = int(rng.choice([2, 4, 8])) if "group" in words else 1
    c_in, c_out = groups * int(rng.integers(1, 9)), groups * int(rng.integers(1, 9))
    if kind == "depthwise":
        c_out = c_in * int(rng.integers(1, 4))
    k = 1 if "pointwise" in words else int(rng.integers(1, 8))
    stride = int(rng.integers(2, 4)) if "stride" in words else int(rng.integers(1, 3))
    padding = "valid" if "valid" in words else str(rng.choice(["same", "valid"]))
    side = int(rng.integers(k, 60))
    return (kind, side, c_in, c_out), {"k": k, "stride": stride, "padding": padding, "groups": groups}


def layer_costs(rng):
    probes = []
    for kind, words in [("conv", "a standard convolution"), ("conv", "a pointwise (1x1) convolution"),
                        ("conv", "a grouped convolution"), ("conv", "a grouped convolution with a stride"),
                        ("conv", "'valid' padding with a stride"), ("depthwise", "a depthwise convolution"),
                        ("depthwise", "a depthwise convolution with a stride"),
                        ("separable", "a separable convolution"),
                        ("separable", "a separable convolution with a stride"),
                        ("separable", "a separable convolution with 'valid' padding")]:
        for _ in range(2):
            args, kwargs = _cost_config(rng, kind, words)
            probes.append(Probe(words, args, kwargs, expect=keras_cost(*args, **kwargs),
                                dtype=False, rtol=0, atol=0, mistakes=layer_cost_suspects(*args, **kwargs)))
    side = 2 * int(rng.integers(5, 40)) + 1   # an odd side at stride 2: "same" rounds up
    probes.append(Probe("'same' with a stride that does not divide the side (round up)",
                        ("separable", side, 16, 32), {"stride": 2},
                        expect=keras_cost("separable", side, 16, 32, stride=2), dtype=False,
                        rtol=0, atol=0, mistakes=layer_cost_suspects("separable", side, 16, 32, stride=2)))
    probes.append(Probe("an unknown kind must raise ValueError", ("dense", 8, 4, 4), raises="ValueError"))
    probes.append(Probe("groups that do not divide the channels must raise ValueError",
                        ("conv", 8, 6, 4), {"groups": 4}, raises="ValueError"))
    probes.append(Probe("a kernel larger than the input with 'valid' must raise ValueError",
                        ("conv", 3, 2, 2), {"k": int(rng.integers(4, 8)), "padding": "valid"},
                        raises="ValueError"))
    return probes


def tf_same_pads(n, k, stride, dilation):
    """(before, after): TensorFlow's padding="SAME" along one axis, by TensorFlow's own rule.

    The output keeps ceil(n / stride) pixels; the total padding is what the last window needs,
    at least 0, and the odd pixel goes after (``tensorflow/core/framework/kernel_shape_util.cc``).
    A test checks this rule against ``tf.nn.conv2d`` wherever the split changes the output. (It is
    not read off TensorFlow's output: where most taps fall on zeros, several splits give the same
    output, and the first of them is not always TensorFlow's.)
    """
    total = max((math.ceil(n / stride) - 1) * stride + (k - 1) * dilation + 1 - n, 0)
    return total // 2, total - total // 2


def same_paddings(rng):
    probes = []
    for trial in range(10):
        k = int(rng.integers(1, 7))
        stride, dilation = (int(rng.integers(1, 5)), 1) if trial % 3 else (1, int(rng.integers(2, 4)))
        n = int(rng.integers(1, 40))
        before, after = tf_same_pads(n, k, stride, dilation)
        words = ("an odd total (the extra zero goes after)" if (before + after) % 2 else
                 "an even total") + (", stride > 1" if stride > 1 else "") + (", dilation" if dilation > 1 else "")
        probes.append(Probe(words, (n, k), {"stride": stride, "dilation": dilation},
                            expect=np.array([before, after]), dtype=False, rtol=0, atol=0,
                            mistakes=same_padding_suspects(n, k, stride, dilation)))
    n = 2 * int(rng.integers(20, 120))   # even sizes at stride 2: (0, 1)
    probes.append(Probe("an even size at stride 2", (n, 3, 2), expect=np.array(tf_same_pads(n, 3, 2, 1)),
                        dtype=False, rtol=0, atol=0))
    return probes


def _tf_conv(x, w, b, stride, padding, dilation):
    """tf.nn.conv2d with its own dilations and the padding written out, in float64."""
    import tensorflow as tf  # the reference: tf.nn.conv2d, with its own padding and dilations

    (kh, kw), d = w.shape[:2], dilation
    if padding == "same":
        pads = [list(tf_same_pads(x.shape[i], w.shape[i], stride, d)) for i in (0, 1)]
    elif padding == "full":
        pads = [[(kh - 1) * d] * 2, [(kw - 1) * d] * 2]
    elif padding == "valid":
        pads = [[0, 0], [0, 0]]
    else:
        pads = [[padding] * 2] * 2
    out = tf.nn.conv2d(tf.constant(x[None], tf.float64), tf.constant(w, tf.float64), stride,
                       [[0, 0], *pads, [0, 0]], dilations=d).numpy()[0]
    if b is not None:
        out = out + b
    dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
    return out.astype(dtype)


def _normal(rng, *shape, dtype=np.float64):
    return rng.normal(size=tuple(int(s) for s in shape)).astype(dtype)


def im2col(rng):
    probes = []
    paddings = [0, 1, 2, "valid", "same", "full"]
    for trial in range(18):
        padding = paddings[trial % len(paddings)]
        (kh, kw), (c_in, f) = rng.integers(1, 5, size=2), rng.integers(1, 4, size=2)
        stride, dilation = int(rng.integers(1, 4)), int(rng.integers(1, 4)) if trial % 2 else 1
        h = (kh - 1) * dilation + 1 + int(rng.integers(0, 8))
        w_ = (kw - 1) * dilation + 1 + int(rng.integers(0, 8))
        x, w = _normal(rng, h, w_, c_in), _normal(rng, kh, kw, c_in, f)
        b = _normal(rng, f) if trial % 3 else None
        words = (f"padding={padding!r}" if isinstance(padding, str) else
                 ("an int padding" if padding else "no padding"))
        words += (", stride > 1" if stride > 1 else "") + (", dilation" if dilation > 1 else "")
        probes.append(Probe(f"wrong result with {words}", (x, w, b),
                            {"stride": stride, "padding": padding, "dilation": dilation},
                            expect=_tf_conv(x, w, b, stride, padding, dilation),
                            mistakes=im2col_suspects(x, w, b, stride, padding, dilation)))
    for h, k, s, d in [(7, 4, 2, 1), (8, 2, 3, 1), (10, 3, 2, 2)]:   # odd "same" totals
        x, w = _normal(rng, h, h + 1, 2), _normal(rng, k, k, 2, 3)
        probes.append(Probe("'same' with an odd amount of padding (the extra row goes at the bottom)",
                            (x, w, None), {"stride": s, "padding": "same", "dilation": d},
                            expect=_tf_conv(x, w, None, s, "same", d),
                            mistakes=im2col_suspects(x, w, None, s, "same", d)))
    x32, w32, b32 = _normal(rng, 9, 8, 3, dtype=np.float32), _normal(rng, 3, 3, 3, 4, dtype=np.float32), \
        _normal(rng, 4, dtype=np.float32)
    probes.append(Probe("float32 stays float32", (x32, w32, b32), {"stride": 2, "padding": "same"},
                        expect=_tf_conv(x32, w32, b32, 2, "same", 1), rtol=1e-4, atol=1e-5))
    image = rng.integers(0, 256, size=(12, 12, 1)).astype(np.uint8)
    kernel = _normal(rng, 3, 3, 1, 2)
    probes.append(Probe("a uint8 image with a float kernel", (image, kernel), {"padding": 1},
                        expect=_tf_conv(image.astype(np.float64), kernel, None, 1, 1, 1)))
    probes.append(Probe("a 1x1 kernel is a per-pixel matrix product", (x32, w32[:1, :1]), {},
                        expect=_tf_conv(x32, w32[:1, :1], None, 1, 0, 1), rtol=1e-4, atol=1e-5))
    big, kernel = _normal(rng, 96, 96, 3), _normal(rng, 3, 3, 3, 8)
    probes.append(Probe("a larger image", (big, kernel), {"padding": "same"},
                        expect=_tf_conv(big, kernel, None, 1, "same", 1)))
    return probes


def _arith_field(layers):
    """coursekit.arith.receptive_field on a Keras model of the stack (start: pixel i centred at i)."""
    import keras

    model = keras.Sequential([keras.Input((None, None, 1))])
    for k, s, d, p in layers:
        if p:
            model.add(keras.layers.ZeroPadding2D(p))
        if d == 1 and s == k > 1:   # a pooling layer has a kernel and a stride too
            model.add(keras.layers.MaxPooling2D(k))
        else:                        # Keras takes a stride or a dilation, never both
            model.add(keras.layers.Conv2D(1, k, strides=s, dilation_rate=d))
    field = arith.receptive_field(model)
    return np.array([field.size, field.jump, field.start - 0.5])


def receptive_fields(rng):
    probes = []
    for trial in range(10):
        layers = []
        for _ in range(int(rng.integers(1, 7))):
            k = int(rng.integers(1, 6))
            stride, dilation = (int(rng.integers(1, 4)), 1) if rng.random() < 0.7 else (1, int(rng.integers(2, 5)))
            padding = int(rng.integers(0, 3)) if trial % 2 else 0
            layers.append((k, stride, dilation, padding))
        words = ("strides" if any(l[1] > 1 for l in layers) else "stride 1") + \
                (" and dilations" if any(l[2] > 1 for l in layers) else "") + \
                (", with padding (start)" if trial % 2 else "")
        given = [l if l[3] else l[:3] for l in layers]   # 3-tuples where there is no padding
        probes.append(Probe(f"a stack with {words}", (given,), expect=_arith_field(layers),
                            dtype=False, rtol=0, atol=1e-9, mistakes=receptive_field_suspects(given)))
    probes.append(Probe("no layers at all", ([],), expect=np.array([1.0, 1.0, 0.0]), dtype=False, rtol=0, atol=1e-9))
    blocks = [(3, 1, 1, 0), (2, 2, 1, 0)] * int(rng.integers(2, 5))
    probes.append(Probe("conv3x3-pool2x2 blocks (the jump multiplies)", ([l[:3] for l in blocks],),
                        expect=_arith_field(blocks), dtype=False, rtol=0, atol=1e-9))
    return probes


def design(rng):
    return [Probe("your design", name="design", judge=checks.rf_design_problems)]


STEPS = [
    Step("layer_cost", layer_costs, call="layer_cost", numpy_only=True),
    Step("same_padding", same_paddings, call="same_padding", numpy_only=True),
    Step("conv2d_im2col", im2col, call="conv2d_im2col", needs=("same_padding",), numpy_only=True),
    Step("receptive_field", receptive_fields, call="receptive_field", numpy_only=True),
    Step("rf_design", design, names=("design",), numpy_only=True),
]
