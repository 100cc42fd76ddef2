"""coursekit._introspect: how coursekit reads Sequential, functional, nested,
softmax-ended and mixed-precision Keras 3 models."""

import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from coursekit import _introspect as ins  # noqa: E402

L = keras.layers
SHAPE = (12, 12, 3)


def sequential():
    return keras.Sequential(
        [
            keras.Input(SHAPE),
            L.Conv2D(4, 3, activation="relu", name="conv1"),
            L.Conv2D(6, 3, name="conv2"),
            L.GlobalAveragePooling2D(name="gap"),
            L.Dense(3, activation="softmax", name="probs"),
        ],
        name="seq",
    )


def functional_softmax_layer():
    x = inputs = keras.Input(SHAPE)
    x = L.Conv2D(4, 3, activation="relu", name="conv1")(x)
    x = L.Conv2D(6, 3, name="conv2")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(3, name="logits")(x)
    return keras.Model(inputs, L.Softmax(name="softmax")(x), name="func")


def functional_activation_layer():
    x = inputs = keras.Input(SHAPE)
    a = L.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(x)
    b = L.Conv2D(4, 1, padding="same", name="branch")(x)
    x = L.Add(name="add")([a, b])  # not a chain: a real graph
    x = L.Conv2D(6, 3, name="conv2")(x)
    x = L.Flatten(name="flat")(x)
    x = L.Dense(3, name="logits")(x)
    return keras.Model(inputs, L.Activation("softmax", name="act")(x), name="graph")


def nested(trainable=False):
    """A transfer-learning model: a frozen "pretrained" conv base inside."""
    base = keras.Sequential(
        [keras.Input(SHAPE), L.Conv2D(4, 3, activation="relu", name="b_conv1"), L.Conv2D(6, 3, name="b_conv2")],
        name="base",
    )
    base.trainable = trainable
    inputs = keras.Input(SHAPE)
    x = base(inputs, training=False)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(3, activation="softmax", name="head")(x)
    return keras.Model(inputs, x, name="transfer")


def nested_in_sequential():
    inner_in = keras.Input(SHAPE)
    inner = L.Conv2D(6, 3, name="f_conv")(L.Conv2D(4, 3, activation="relu", name="f_conv0")(inner_in))
    base = keras.Model(inner_in, inner, name="fbase")
    head = keras.Sequential([keras.Input((8, 8, 6)), L.GlobalAveragePooling2D(), L.Dense(3, activation="softmax", name="hd")], name="head")
    return keras.Sequential([keras.Input(SHAPE), base, head], name="seq_of_models")


MODELS = {
    "sequential": sequential,
    "functional": functional_softmax_layer,
    "graph": functional_activation_layer,
    "nested": nested,
    "nested_in_sequential": nested_in_sequential,
}


@pytest.fixture
def images():
    return np.random.default_rng(0).random((5, *SHAPE), dtype=np.float32)


@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS.keys())
def test_logits_are_pre_softmax_and_model_is_untouched(make, images):
    model = make()
    probs = model(images).numpy()
    logits = ins.logits_model(model)(images).numpy()
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), probs, atol=1e-6)
    assert not np.allclose(logits.sum(-1), 1.0)
    np.testing.assert_allclose(model(images).numpy(), probs)  # the model itself is unchanged


@pytest.mark.parametrize("make", MODELS.values(), ids=MODELS.keys())
def test_probe_reads_the_last_conv_layer_with_gradients(make, images):
    model = make()
    name = ins.last_spatial_layer(model)
    assert "conv2" in name or name == "f_conv"
    p = ins.probe(model, [name])
    assert ins.probe(model, [name]) is p  # cached: one object, no retracing
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        acts, logits = p(x)
        score = tf.reduce_sum(logits[:, 0])
    grads = tape.gradient(score, acts)
    assert acts.dtype == logits.dtype == tf.float32
    assert acts.shape[0] == 5 and acts.shape[-1] == 6 and acts.shape.rank == 4
    assert grads is not None and np.abs(grads.numpy()).sum() > 0
    np.testing.assert_allclose(logits.numpy(), ins.logits_model(model)(x).numpy(), atol=1e-6)


def test_probe_matches_a_direct_submodel(images):
    model = functional_activation_layer()
    acts, _ = ins.probe(model, ["conv1"])(images)
    direct = keras.Model(model.input, model.get_layer("conv1").output)(images)
    np.testing.assert_allclose(acts.numpy(), direct.numpy(), atol=1e-6)


def test_probe_inside_a_nested_model_with_several_layers(images):
    model = nested()
    a1, a2, logits = ins.probe(model, ["b_conv1", "b_conv2"])(images)
    base = model.get_layer("base")
    np.testing.assert_allclose(a2.numpy(), base(images).numpy(), atol=1e-6)
    assert a1.shape == (5, 10, 10, 4)
    assert logits.shape == (5, 3)


def test_probe_accepts_layer_objects_and_the_nested_model_itself(images):
    model = nested()
    acts, _ = ins.probe(model, [model.get_layer("base")])(images)
    assert acts.shape == (5, 8, 8, 6)


def test_probe_before_the_activation_function(images):
    model = nested()  # b_conv1 has a fused ReLU
    post, _ = ins.probe(model, ["b_conv1"])(images)
    pre, logits = ins.probe(model, ["b_conv1"], pre_activation=True)(images)
    assert (pre.numpy() < 0).any()
    np.testing.assert_allclose(np.maximum(pre.numpy(), 0), post.numpy(), atol=1e-6)
    np.testing.assert_allclose(logits.numpy(), ins.logits_model(model)(images).numpy(), atol=1e-6)
    relu_layer = keras.Sequential([keras.Input(SHAPE), L.Conv2D(3, 3, name="c"), L.ReLU(name="r"), L.Flatten(), L.Dense(2)])
    pre_r, _ = ins.probe(relu_layer, ["r"], pre_activation=True)(images)
    c, _ = ins.probe(relu_layer, ["c"])(images)
    np.testing.assert_allclose(pre_r.numpy(), c.numpy(), atol=1e-6)


def test_mixed_precision_outputs_are_float32(mixed_precision, images):
    model = nested(trainable=True)
    assert model(images).dtype == tf.float16
    acts, logits = ins.probe(model, ["b_conv2"])(images)
    assert acts.dtype == logits.dtype == tf.float32
    np.testing.assert_allclose(
        tf.nn.softmax(logits).numpy(), model(images).numpy().astype(np.float32), atol=2e-2
    )


def test_find_layer_unknown_name_lists_close_names():
    with pytest.raises(ValueError) as err:
        ins.find_layer(nested(), "b_conv3")
    msg = str(err.value)
    assert "'b_conv3'" in msg and "'b_conv2'" in msg and "summary(expand_nested=True)" in msg


def test_find_layer_searches_nested_models():
    model = nested()
    assert ins.find_layer(model, "b_conv1") is model.get_layer("base").get_layer("b_conv1")


def test_last_spatial_layer_needs_a_conv_layer():
    dense_only = keras.Sequential([keras.Input((10,)), L.Dense(4), L.Dense(2)])
    with pytest.raises(ValueError, match="convolutional"):
        ins.last_spatial_layer(dense_only)


def test_unbuilt_model_gets_an_actionable_error():
    with pytest.raises(ValueError, match="keras.Input"):
        ins.logits_model(keras.Sequential([L.Conv2D(2, 3), L.Flatten(), L.Dense(2)]))


def test_as_images_accepts_one_image_or_a_batch(images):
    model = sequential()
    one = ins.as_images(model, images[0])
    assert one.shape == (1, *SHAPE) and one.dtype == tf.float32
    assert ins.as_images(model, images.astype(np.float64)).shape == (5, *SHAPE)
    assert ins.as_images(model, tf.constant(images)).shape == (5, *SHAPE)


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda x: x[:, :8], "Resize them first"),
        (lambda x: np.transpose(x, (0, 3, 1, 2)), "channels-first"),
        (lambda x: x[..., :1], "repeat the grey channel"),
        (lambda x: x[None], "batch (N, H, W, C)"),
        (lambda x: (x * 255).astype(np.uint8), "/ 255"),
        (lambda x: np.where(x > 0.5, np.nan, x), "NaN"),
    ],
    ids=["size", "channels_first", "grey", "rank", "uint8", "nan"],
)
def test_as_images_errors_say_what_to_do(bad, message, images):
    with pytest.raises(ValueError) as err:
        ins.as_images(sequential(), bad(images))
    assert message in str(err.value)


def test_as_images_missing_channel_axis_for_grey_model():
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2D(2, 3), L.Flatten(), L.Dense(2)])
    with pytest.raises(ValueError, match=r"images\[\.\.\., None\]"):
        ins.as_images(model, np.zeros((4, 8, 8), np.float32))


def test_a_model_without_a_channels_axis_is_told_how_to_add_one():
    model = keras.Sequential([keras.Input((8, 8)), L.Flatten(), L.Dense(2)])
    with pytest.raises(ValueError, match=r"keras.Input\(shape=\(H, W, 1\)\)"):
        ins.as_images(model, np.zeros((4, 8, 8), np.float32))


def test_uint8_is_fine_when_the_model_rescales():
    model = keras.Sequential([keras.Input((8, 8, 3)), L.Rescaling(1 / 255), L.Conv2D(2, 3), L.Flatten(), L.Dense(2)])
    x = ins.as_images(model, np.full((2, 8, 8, 3), 200, np.uint8))
    assert x.dtype == tf.float32 and float(x.numpy().max()) == 200.0


def test_float_pixels_in_0_255_warn(images):
    with pytest.warns(UserWarning, match="images / 255"):
        ins.as_images(sequential(), images * 255)
    model = keras.Sequential([keras.Input(SHAPE), L.Rescaling(1 / 255), L.Conv2D(2, 3), L.Flatten(), L.Dense(2)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ins.as_images(model, images * 255)  # the model rescales: fine
        ins.as_images(sequential(), images * 2 - 1)  # centred inputs: fine
        ins.as_images(sequential(), images * 255, warn_range=False)  # the caller knows


def test_as_targets():
    np.testing.assert_array_equal(ins.as_targets(2, 3, 5).numpy(), [2, 2, 2])
    np.testing.assert_array_equal(ins.as_targets([0, 4, 1], 3, 5).numpy(), [0, 4, 1])
    assert ins.as_targets(np.array([1, 2, 3]), 3, 5).dtype == tf.int32
    with pytest.raises(ValueError, match=r"0\.\.4"):
        ins.as_targets([0, 5, 1], 3, 5)
    with pytest.raises(ValueError, match="one per image"):
        ins.as_targets([0, 1], 3, 5)
    with pytest.raises(ValueError, match="one-hot"):
        ins.as_targets(np.eye(5)[[0, 1, 2]], 3, 5)
    with pytest.raises(ValueError, match="out of range"):
        ins.as_targets(-1, 3, 5)


# --------------------------------------------------------------------------- the input policy


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__(name="mynet")
        self.conv = L.Conv2D(4, 3)
        self.pool = L.GlobalAveragePooling2D()
        self.out = L.Dense(3)

    def call(self, x):
        return self.out(self.pool(self.conv(x)))


def test_a_non_keras_model_is_named_in_the_message():
    for bad, words in ((None, "got None"), ("cnn", "got the str 'cnn'"), (np.mean, "got the function 'mean'"),
                       (L.Dense(2), "got a Dense. Wrap the layer")):
        with pytest.raises(TypeError, match=rf"model must be a Keras model.*{words}"):
            ins.require_model(bad)


def test_a_called_subclassed_model_gets_the_subclassed_message(images):
    model = Subclassed()
    model(images)  # called: built, but still without a graph
    with pytest.raises(ValueError, match=r"model is a subclassed keras.Model \(Subclassed\).*functional API"):
        ins.as_images(model, images)
    with pytest.raises(ValueError, match="subclassed"):
        ins.logits_model(model)
    assert ins.require_model(model, graph=False) is model


def test_check_inputs_refuses_nan_and_inf_and_flags_raw_pixels():
    model = sequential()
    x = np.zeros((2, *SHAPE), np.float32)
    x[1, 3, 4, 2] = np.inf
    with pytest.raises(ValueError, match=r"x contain 1 NaN or infinite.*\(1, 3, 4, 2\).*nan_to_num"):
        ins.check_inputs(model, x)
    with pytest.warns(UserWarning, match="images / 255"):
        ins.check_inputs(model, np.full((2, *SHAPE), 120, np.uint8))
    with pytest.warns(UserWarning, match=r"validation_data\[1\]"):
        ins.check_inputs(model, [np.zeros((2, 3)), np.full((2, *SHAPE), 200.0)], "validation_data")
    with pytest.raises(ValueError, match=r"x\['a'\] contain"):
        ins.check_inputs(model, {"a": np.array([np.nan])})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ins.check_inputs(model, np.random.default_rng(0).random((2, *SHAPE)))  # [0, 1]: silent
        ins.check_inputs(model, tf.zeros((2, 3)))
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        ins.check_inputs(model, "data.npz")


def test_a_layer_by_name_index_or_object():
    model = sequential()
    conv2 = model.get_layer("conv2")
    assert ins.find_layer(model, "conv2") is conv2
    assert ins.find_layer(model, 1) is conv2 and ins.find_layer(model, -3) is conv2
    assert ins.find_layer(model, np.int64(1)) is conv2
    assert ins.find_layer(model, conv2) is conv2
    with pytest.raises(ValueError, match=r"layer=4 is out of range.*-4\.\.3"):
        ins.find_layer(model, 4)
    with pytest.raises(TypeError, match="layer must be a layer name"):
        ins.find_layer(model, 1.5)


def test_last_conv_layer_skips_pooling_dropout_and_activations():
    model = keras.Sequential(
        [keras.Input(SHAPE), L.Conv2D(4, 3, name="c1"), L.DepthwiseConv2D(3, name="dw"), L.ReLU(),
         L.MaxPooling2D(), L.Dropout(0.3), L.Flatten(), L.Dense(2)]
    )
    assert ins.last_conv_layer(model) == "dw"
    assert ins.last_spatial_layer(model) != "dw"  # the old default: a layer after the convolution


def test_head_of_softmax_sigmoid_and_logit_models():
    assert ins.head(sequential()) == ins.Head(3, "softmax", 2)
    binary = keras.Sequential([keras.Input((4,)), L.Dense(1, activation="sigmoid")])
    assert ins.head(binary).binary and ins.head(binary).classes == 2
    multi = keras.Sequential([keras.Input((4,)), L.Dense(5), L.Activation("sigmoid")])
    assert ins.head(multi).multilabel and ins.head(multi).classes == 5
    x = np.random.default_rng(0).random((3, 4)).astype("float32")
    np.testing.assert_allclose(ins.logits_model(multi)(x), multi.layers[0](x), atol=1e-6)
