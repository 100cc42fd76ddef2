"""coursekit.arith against known answers: the lecture quizzes, Keras' own shape
inference, and VGG16's published parameter count and receptive field."""

import itertools

import keras
import pytest

from coursekit import arith


@pytest.mark.parametrize(
    "cin, cout, k, expected",
    [
        (3, 2, 3, 56),     # seeds: 3 input maps, 2 output maps, 3x3 kernels
        (3, 10, 5, 760),   # seeds: 32x32x3 input, 10 filters of 5x5
        (3, 8, 5, 608),    # 8 filters 5x5 on 3 channels
        (1, 2, 3, 20),     # seeds: 1 input map, 2 3x3 kernels
    ],
)
def test_conv_params_match_lecture_quizzes(cin, cout, k, expected):
    assert arith.conv_params(cin, cout, k) == expected
    layer = keras.layers.Conv2D(cout, k)
    layer.build((None, 32, 32, cin))
    assert layer.count_params() == expected


def test_conv1_of_the_lenet_style_table():
    # The seeds' table gives CONV1 (f=5, s=1, 8 filters) on 32x32x3 as 208 parameters: that is
    # 5*5*8 + 8, which leaves out the 3 input channels (a known erratum of that slide). The
    # count Keras reports, and the chapter explains, is 5*5*3*8 + 8 = 608.
    assert arith.conv_params(1, 8, 5) == 208
    assert arith.conv_params(3, 8, 5) == 608
    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 5)])
    assert arith.param_table(model).total == model.count_params() == 608
    assert arith.conv_output_size(32, 5, stride=1) == 28


def test_fully_connected_versus_convolution_on_32x32x3():
    dense = 32 * 32 * 3 * (32 * 32 * 3) + 32 * 32 * 3
    assert dense == 9_440_256
    assert arith.conv_params(3, 3, 3) == 84


def test_vgg16_parameter_count_and_table_total():
    model = keras.applications.VGG16(weights=None)
    table = arith.param_table(model)
    assert table.total == model.count_params() == 138_357_544
    fc1 = next(row for row in table if row.name == "fc1")
    assert fc1.params == 7 * 7 * 512 * 4096 + 4096
    assert "fc1" in str(table) and "<table>" in table._repr_html_()


def test_vgg16_block5_pool_receptive_field():
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    rf = arith.receptive_field(model, "block5_pool")
    assert (rf.size, rf.jump) == (212, 32)
    assert arith.receptive_field(model, "block1_conv2").size == 5
    assert arith.receptive_field(model).layer == "block5_pool"


def test_receptive_field_of_strided_padded_chain_by_hand():
    # Worked by hand: 3x3 s1 "same" -> size 3; 2x2 pool s2 -> size 4, jump 2;
    # 3x3 s1 valid -> size 4 + 2*2 = 8, jump 2; 3x3 dilation 2 -> span 5, size 8 + 4*2 = 16.
    model = keras.Sequential([
        keras.Input((64, 64, 1)),
        keras.layers.Conv2D(4, 3, padding="same", name="a"),
        keras.layers.MaxPooling2D(2, name="p"),
        keras.layers.Conv2D(4, 3, name="b"),
        keras.layers.Conv2D(4, 3, dilation_rate=2, name="c"),
    ])
    got = [(arith.receptive_field(model, n).size, arith.receptive_field(model, n).jump)
           for n in "apbc"]
    assert got == [(3, 1), (4, 2), (8, 2), (16, 2)]
    assert arith.receptive_field(model, "a").start == 0.5  # same padding keeps centres
    assert arith.receptive_field(model, "b").start == 3.0  # 1.0 after pooling, +1 pixel*jump 2


def test_receptive_field_sees_into_nested_models():
    base = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 5, name="inner")],
                            name="base")
    outer = keras.Sequential([keras.Input((32, 32, 3)), base, keras.layers.Conv2D(4, 3, name="top")])
    assert arith.receptive_field(outer, "top").size == 7


def test_unknown_layer_suggests_names():
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="conv_a")])
    with pytest.raises(ValueError, match="conv_a"):
        arith.receptive_field(model, "conv-a")


SIZES = [1, 5, 7, 8, 28, 32]
KERNELS = [1, 2, 3, 5]
STRIDES = [1, 2, 3]
DILATIONS = [1, 2]


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_agrees_with_keras_compute_output_shape(padding):
    checked = 0
    for size, k, s, d in itertools.product(SIZES, KERNELS, STRIDES, DILATIONS):
        if s > 1 and d > 1:
            continue  # Keras refuses strides > 1 together with dilation > 1
        span = d * (k - 1) + 1
        if padding == "valid" and span > size:
            with pytest.raises(ValueError, match="kernel spans"):
                arith.conv_output_size(size, k, s, padding, d)
            continue
        layer = keras.layers.Conv2D(1, k, strides=s, padding=padding, dilation_rate=d)
        keras_h = layer.compute_output_shape((None, size, size + 3, 1))[1]
        assert arith.conv_output_size(size, k, s, padding, d) == keras_h, (size, k, s, d)
        checked += 1
    assert checked > 50


@pytest.mark.parametrize("size, k, s, p", [(7, 3, 2, 1), (32, 5, 1, 2), (28, 4, 2, 0), (5, 3, 1, 3)])
def test_integer_padding_matches_explicit_zero_padding(size, k, s, p):
    model = keras.Sequential([keras.Input((size, size, 1)), keras.layers.ZeroPadding2D(p),
                              keras.layers.Conv2D(1, k, strides=s)])
    assert arith.conv_output_size(size, k, s, p) == model.output_shape[1]


def test_full_padding_grows_the_output():
    assert arith.conv_output_size(5, 3, padding="full") == 7


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        (dict(size=0, kernel=3), ValueError, "size"),
        (dict(size=5, kernel=2.5), TypeError, "kernel must be an integer"),
        (dict(size=5, kernel=3, padding="middle"), ValueError, "valid"),
        (dict(size=5, kernel=3, stride=0), ValueError, "stride"),
        (dict(size=3, kernel=5), ValueError, "kernel spans 5"),
    ],
)
def test_bad_input_says_what_to_do(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        arith.conv_output_size(**kwargs)


def test_param_table_of_an_unbuilt_model_says_how_to_build_it():
    model = keras.Sequential([keras.layers.Conv2D(8, 3), keras.layers.Flatten(), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match=r"not built.*keras.Input\(shape=.*model.build"):
        arith.param_table(model)
    model.build((None, 28, 28, 1))
    table = arith.param_table(model)
    assert table.total == model.count_params() == 3 * 3 * 8 + 8 + 26 * 26 * 8 * 10 + 10


def test_param_table_and_receptive_field_name_a_wrong_model():
    for fn in (arith.param_table, arith.receptive_field):
        with pytest.raises(TypeError, match="model must be a Keras model.*got the str 'vgg16'"):
            fn("vgg16")


@pytest.mark.parametrize("height, kernel, stride", [(224, 3, 2), (225, 3, 2), (9, 4, 1), (10, 5, 3)])
def test_receptive_field_start_matches_tensorflow_same_padding(height, kernel, stride):
    """With "same" padding TensorFlow puts total // 2 zeros before, and the total depends on
    the input height at stride > 1. The first unit's field, read off its gradient, must be
    centred where `start` says (pixel i has its centre at i + 0.5)."""
    import numpy as np
    import tensorflow as tf

    model = keras.Sequential([keras.Input((height, height, 1)),
                              keras.layers.Conv2D(1, kernel, strides=stride, padding="same",
                                                  kernel_initializer="ones", use_bias=False),
                              keras.layers.Conv2D(1, 3, strides=2, padding="same",
                                                  kernel_initializer="ones", use_bias=False)])
    x = tf.ones((1, height, height, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        unit = model(x)[0, 0, 0, 0]
    rows = np.nonzero(tape.gradient(unit, x).numpy()[0, :, 0, 0])[0]
    rf = arith.receptive_field(model)
    # The field may be cut by the border: its centre is start, its far edge start + (size - 1) / 2.
    assert rows.max() + 1 == rf.start + (rf.size - 1) / 2 + 0.5
