"""coursekit.features: filters, feature maps and activation maximization."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from coursekit import features as F  # noqa: E402
from coursekit import _graph  # noqa: E402
from coursekit._introspect import logits_model, probe  # noqa: E402

L = keras.layers
SIZE = 24


def cnn(seed=0):
    """A small CNN whose conv2 is linear (no dead ReLU channels to maximize)."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            L.Conv2D(6, 3, activation="relu", name="conv1"),
            L.Conv2D(8, 3, name="conv2"),
            L.GlobalAveragePooling2D(name="gap"),
            L.Dense(4, activation="softmax", name="probs"),
        ],
        name="cnn",
    )


def nested(seed=0):
    keras.utils.set_random_seed(seed)
    base = keras.Sequential(
        [keras.Input((SIZE, SIZE, 3)), L.Conv2D(6, 3, activation="relu", name="b1"), L.Conv2D(8, 3, name="b2")],
        name="base",
    )
    base.trainable = False
    inputs = keras.Input((SIZE, SIZE, 3))
    x = L.GlobalAveragePooling2D()(base(inputs, training=False))
    return keras.Model(inputs, L.Dense(4, activation="softmax", name="head")(x), name="transfer")


def channel_means(model, layer, images):
    acts = probe(model, [layer])(images)[0].numpy()
    return acts.mean(axis=(1, 2))


# --------------------------------------------------------------------------- filters and maps


def test_filters_returns_the_kernel():
    model = cnn()
    w = F.filters(model.get_layer("conv1"))
    assert w.shape == (3, 3, 3, 6) and w.dtype == np.float32
    np.testing.assert_array_equal(w, model.get_layer("conv1").get_weights()[0])
    np.testing.assert_array_equal(F.filters("conv1", model), w)
    shown = F.filters(model.get_layer("conv1"), normalize=True)
    assert shown.min() == 0.0 and shown.max() == 1.0


def test_filters_errors():
    model = cnn()
    with pytest.raises(ValueError, match="Conv2D"):
        F.filters(model.get_layer("probs"))
    with pytest.raises(ValueError, match="no model"):
        F.filters("conv1")
    with pytest.raises(ValueError, match="'conv1'"):
        F.filters("conv_1", model)


def test_feature_maps_of_one_image_and_a_batch():
    model = nested()
    x = np.random.default_rng(0).random((3, SIZE, SIZE, 3), dtype=np.float32)
    one = F.feature_maps(model, x[0], ["b1", "b2"])
    assert one["b1"].shape == (22, 22, 6) and one["b2"].shape == (20, 20, 8)
    batch = F.feature_maps(model, x, "b2")
    assert list(batch) == ["b2"] and batch["b2"].shape == (3, 20, 20, 8)
    np.testing.assert_allclose(batch["b2"][0], one["b2"], atol=1e-6)
    assert list(F.feature_maps(model, x[0])) == ["b1", "b2"]  # default: every conv map


# --------------------------------------------------------------------------- activation maximization


@pytest.mark.parametrize("param", ["fourier", "pixel"])
def test_maximize_activation_raises_each_units_activation(param):
    model = cnn()
    units = [0, 3, 5]
    images = F.maximize_activation(model, "conv2", units, steps=60, seed=0, param=param)
    assert images.shape == (3, SIZE, SIZE, 3) and images.dtype == np.float32
    assert images.min() >= 0.0 and images.max() <= 1.0
    start = np.random.default_rng(0).random((3, SIZE, SIZE, 3), dtype=np.float32) * 0.2 + 0.4
    reached = channel_means(model, "conv2", images)
    before = channel_means(model, "conv2", start)
    for i, u in enumerate(units):
        assert reached[i, u] > before[i, u] + 0.05, (u, reached[i, u], before[i, u])
        # each image excites its own unit more than the other images do
        assert reached[i, u] >= reached[:, u].max() - 1e-6


def test_linear_unit_under_a_norm_bound_converges_to_its_weights():
    model = keras.Sequential([keras.Input((6, 6, 2)), L.Flatten(), L.Dense(3, name="linear")])
    w = model.get_layer("linear").get_weights()[0]
    images = F.maximize_activation(
        model, "linear", [0, 1, 2], steps=150, seed=0, param="pixel", value_range=None,
        norm=1.0, transform=False, optimizer="sgd", lr=0.05,
    )
    for u in range(3):
        v = images[u].ravel()
        cosine = v @ w[:, u] / np.linalg.norm(v) / np.linalg.norm(w[:, u])
        assert cosine > 0.99, cosine
        assert np.linalg.norm(v) <= 1.0 + 1e-5


def test_same_seed_same_images_and_no_retracing():
    model = cnn()
    a = F.maximize_activation(model, "conv2", [1, 2], steps=12, seed=7)
    np.testing.assert_array_equal(a, F.maximize_activation(model, "conv2", [1, 2], steps=12, seed=7))
    assert not np.allclose(a, F.maximize_activation(model, "conv2", [1, 2], steps=12, seed=8))
    # steps, lr and the transformation ranges are tensors: no retrace
    F.maximize_activation(model, "conv2", [4, 0], steps=5, seed=1, lr=0.1, jitter=2, rotate=10.0)
    maximizers = [v for v in _graph._CACHE[model].values() if isinstance(v, F.ActivationMaximizer)]
    (maximizer,) = maximizers
    assert maximizer.traces == 1
    assert maximizer._run.experimental_get_tracing_count() == 1


def test_dead_relu_units_warn_and_pre_activation_revives_them():
    model = cnn()
    conv1 = model.get_layer("conv1")
    kernel, bias = conv1.get_weights()
    bias[2] = -100.0  # channel 2 never fires on images in [0, 1]
    conv1.set_weights([kernel, bias])
    with pytest.warns(UserWarning, match="pre_activation=True"):
        F.maximize_activation(model, "conv1", [2], steps=5, seed=0)
    images = F.maximize_activation(model, "conv1", [2], steps=40, seed=0, param="pixel", pre_activation=True)
    pre = probe(model, ["conv1"], pre_activation=True)
    start = np.full((1, SIZE, SIZE, 3), 0.5, np.float32)
    assert pre(images)[0].numpy()[..., 2].mean() > pre(start)[0].numpy()[..., 2].mean() + 0.1


def test_class_visualization_reads_logits():
    model = cnn()
    for layer in (None, "probs"):  # the softmax layer means its logits
        images = F.maximize_activation(model, layer, [2], steps=40, seed=0, param="pixel")
        logits = logits_model(model)
        start = np.full((1, SIZE, SIZE, 3), 0.5, np.float32)
        assert logits(images).numpy()[0, 2] > logits(start).numpy()[0, 2]


def test_nested_and_mixed_precision(mixed_precision):
    model = nested()
    assert model.get_layer("base").get_layer("b2").compute_dtype == "float16"
    images = F.maximize_activation(model, "b2", [0, 1], steps=20, seed=0, size=32)
    assert images.shape == (2, 32, 32, 3) and images.dtype == np.float32
    assert np.isfinite(images).all()


def test_other_sizes_and_rescaling_models():
    model = keras.Sequential(
        [keras.Input((SIZE, SIZE, 1)), L.Rescaling(1 / 255), L.Conv2D(4, 3, name="conv"), L.Flatten(), L.Dense(2)]
    )
    images = F.maximize_activation(model, "conv", [0], steps=5, seed=0, size=(16, 20))
    assert images.shape == (1, 16, 20, 1)
    assert images.max() > 1.5  # "auto" range: the model takes 0..255 pixels


def test_maximize_activation_errors():
    model = cnn()
    with pytest.raises(ValueError, match=r"8 units/channels; pass indices in 0\.\.7"):
        F.maximize_activation(model, "conv2", [8], steps=2)
    with pytest.raises(ValueError, match="'conv2'"):
        F.maximize_activation(model, "conv_2", [0], steps=2)
    with pytest.raises(ValueError, match="fourier"):
        F.maximize_activation(model, "conv2", [0], steps=2, param="cppn")
    with pytest.raises(ValueError, match="ints"):
        F.maximize_activation(model, "conv2", [0.5], steps=2)


def test_the_cache_does_not_keep_models_alive():
    import gc
    import weakref

    model = cnn()
    F.maximize_activation(model, "conv2", [0], steps=2, seed=0)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"lr": -0.05}, r"lr must be > 0.*gradient ASCENT"),
        ({"lr": float("nan")}, r"lr must be a finite number"),
        ({"lr": 0}, r"lr must be > 0"),
        ({"scale": -1.0}, r"scale must be >= 0"),
        ({"jitter": float("inf")}, r"jitter must be a finite number"),
        ({"norm": -2.0}, r"norm must be > 0"),
        ({"steps": 2.5}, r"steps must be an integer"),
    ],
)
def test_maximize_activation_refuses_settings_that_would_silently_fail(kwargs, match):
    with pytest.raises(ValueError, match=match):
        F.maximize_activation(cnn(), "conv2", [0], **{"steps": 2, **kwargs})


def test_a_layer_by_index_in_filters_feature_maps_and_maximize_activation():
    model = cnn()
    image = np.random.default_rng(0).random((SIZE, SIZE, 3)).astype("float32")
    name = model.layers[1].name
    np.testing.assert_array_equal(F.filters(1, model), F.filters(name, model))
    assert list(F.feature_maps(model, image, 1)) == [name]
    a = F.maximize_activation(model, 1, [0], steps=3, seed=0)
    np.testing.assert_array_equal(a, F.maximize_activation(model, name, [0], steps=3, seed=0))
