"""Hidden checks of lab 9, on the instructor's side only (never copied to labs/).

Every function of this lab takes a Keras model: each probe passes one of
``coursekit.checks.probe_model``'s small models, with weights drawn here at grading time (the
student's code gets a fresh copy of it). Step 1 returns a model, loaded here with
safe_mode=True and run on the probe's images. Expected values are computed here, in the
trusted process, from closed forms (a tf.nn forward pass, ReLU(CAM) on a GAP -> Dense
model, w / ||w|| for a linear unit, FGSM on a linear classifier) and from coursekit (Grad-CAM on a non-CAM head, gradient
ascent on a ReLU unit, FGSM on a network trained here on MNIST), and from the references of
coursegrader (occlusion maps by one forward pass per position, the randomization test on
them). A reason says what
property failed, never the inputs. TensorFlow is imported inside the probe functions.
"""

import warnings

import numpy as np

from coursegrader.references import visualization as refs
from coursekit.checks import visualization as vis
from coursegrader import Probe, Step, quiet

EPS_MNIST = 0.1        # FGSM's eps on the MNIST network, as the lab says
BAND = 0.05            # adversarial accuracy may exceed the recipe's by this much


def _model(kind, rng, scale=0.5):
    """A probe model with weights drawn from rng."""
    model = vis.probe_model(kind)
    flat = (scale * rng.normal(size=vis.flat_weights(model).size)).astype(np.float32)
    vis.set_flat_weights(model, flat)
    return model


def _images(rng, n, shape):
    return rng.random((n, *shape)).astype(np.float32)


#: what a wrong sub-model is told (the self-check's words)
FEATURES_RULE = ("one output per layer name, in the order of layer_names, each the named layer's output "
                 "in the model's own graph, from model.inputs")


def features(rng):
    model = _model("cnn", rng)
    images = _images(rng, 3, (16, 16, 3))
    acts = refs.vis_forward_reference(model, images)
    cases = [(["conv1"], "one layer"), (["conv2", "pool1"], "two layers, in the order given"),
             (["pool1", "gap", "logits"], "pooling, GAP and dense layers too")]
    return [Probe(f"the activations differ from a forward pass ({reason})", (model, names),
                  judge=_same_activations(images, [acts[n] for n in names]), hint=FEATURES_RULE)
            for names, reason in cases]


def _same_activations(images, expected):
    """A judge of the returned sub-model: its outputs on `images`, in order, equal `expected`."""
    def judge(sub):
        outputs = sub(images)
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        if len(outputs) != len(expected):
            return "one output per layer name is expected"
        for got, want in zip(outputs, expected):
            got = np.asarray(got)
            if got.shape != want.shape or not np.allclose(got, want, rtol=1e-4, atol=1e-5):
                return "wrong activations"
        return None
    return judge


def _ascent_judge(w, floor=None, activation=None):
    """A judge: norm <= 1, and cosine with w >= 0.99 (a linear unit) or the unit excited at
    least `floor` (a ReLU unit, against coursekit's own gradient ascent)."""
    def judge(x):
        x = np.asarray(x, dtype=np.float64)
        if x.shape != w.shape:
            return "the image must have the model's input shape, without the batch axis"
        if not np.isfinite(x).all() or np.linalg.norm(x) > 1.0 + 1e-3:
            return "the image must stay in the unit L2 ball"
        if floor is not None:
            return None if activation(x) >= floor else "the unit is less excited than by the recipe"
        cosine = np.sum(x * w) / (np.linalg.norm(x) * np.linalg.norm(w) + 1e-12)
        return None if cosine >= 0.99 else "it does not converge to w / ||w||"
    return judge


def ascent(rng):
    import keras

    from coursekit.features import maximize_activation

    probes = []
    model = _model("linear", rng)
    kernel = model.get_layer("linear").get_weights()[0]
    for unit in rng.choice(4, size=2, replace=False):
        probes.append(Probe("a linear unit", (model, "linear", int(unit), 40, 0.1),
                            judge=_ascent_judge(kernel[:, unit].reshape(8, 8, 2))))
    model = _model("cnn", rng)
    sub = keras.Model(model.inputs[0], model.get_layer("conv2").output)
    for unit in range(6):   # the first unit that fires (a dead ReLU unit warns and is skipped)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            best = maximize_activation(model, "conv2", [unit], steps=60, lr=0.1, param="pixel",
                                       optimizer="sgd", transform=False, value_range=None, norm=1.0,
                                       seed=0)[0]
        if _unit(sub, best, unit) > 0:
            break
    probes.append(Probe("a ReLU unit deeper in a network", (model, "conv2", unit, 60, 0.1),
                        judge=_ascent_judge(best, floor=0.9 * _unit(sub, best, unit),
                                            activation=lambda x: _unit(sub, x, unit))))
    return probes


def _unit(sub, x, unit):
    return float(np.mean(np.asarray(sub(np.asarray(x, np.float32)[None]))[..., unit]))


def cams(rng):
    from coursekit.cam import grad_cam

    probes = []
    model = _model("cnn", rng)
    images = _images(rng, 4, (16, 16, 3))
    conv2 = refs.vis_forward_reference(model, images)["conv2"]
    dense = np.asarray(model.get_layer("logits").kernel)
    for c in rng.choice(5, size=2, replace=False):
        probes.append(Probe("on a GAP -> Dense model, Grad-CAM must equal ReLU(CAM) divided by its maximum",
                            (model, images, int(c), "conv2"), expect=refs.cam_reference(conv2, dense, int(c)),
                            rtol=1e-4, atol=1e-5))
    model = _model("flat", rng)
    images = _images(rng, 3, (12, 12, 2))
    for layer in ("conv1", "conv2"):
        c = int(rng.integers(3))
        raw = grad_cam(model, images, c, layer, normalize=False)   # 'same' convs: already 12 x 12
        peak = raw.max(axis=(1, 2), keepdims=True)
        want = np.divide(raw, peak, out=np.zeros_like(raw), where=peak > 0).astype(np.float32)
        probes.append(Probe("wrong maps on a model whose head is Flatten -> Dense (not CAM)",
                            (model, images, c, layer), expect=want, rtol=1e-3, atol=1e-4))
    probes.append(_blob_probe(rng))
    return probes


def _blob(rng):
    """The "blob" model, which finds a bright 6 x 6 square (class 1), and 3 images with the square
    at corners drawn now."""
    model = vis.probe_model("blob")
    spot = np.full((5, 5, 1, 1), 1.0 / 25)
    kernel = np.concatenate([-spot, spot - 0.02], axis=-1).astype(np.float32)    # (5, 5, 1, 2)
    weights = [kernel, np.array([0.0, -0.3], np.float32),
               np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32), np.zeros(2, np.float32)]
    model.set_weights(weights)
    images = 0.3 * rng.random((3, 24, 24, 1)).astype(np.float32)
    corners = rng.integers(2, 16, size=(3, 2))
    for image, (r, c) in zip(images, corners):
        image[r:r + 6, c:c + 6] = 1.0
    return model, images, corners


def _peaks_on_blob(shape, corners, on_blob, wrong):
    """A judge of maps of the blob images: each map's peak must lie on its square. ``on_blob(i, r)``
    says whether index ``i`` of the map (a row or a column) falls on the square that starts at index
    ``r`` of the image."""
    def judge(maps):
        maps = np.asarray(maps)
        if maps.shape != shape:
            return "wrong shape"
        for m, corner in zip(maps, corners):
            peak = np.unravel_index(np.argmax(m), m.shape)
            if not all(on_blob(i, r) for i, r in zip(peak, corner)):
                return wrong
        return None
    return judge


def _blob_probe(rng):
    """Class 1's evidence, a bright square, placed at a spot drawn now: the map's peak must lie on it."""
    model, images, corners = _blob(rng)
    judge = _peaks_on_blob((3, 24, 24), corners, lambda i, r: r - 1 <= i <= r + 6,
                           "the map's peak is not on the object")
    return Probe("a synthetic image with the class evidence at a known spot",
                 (model, images, 1, "conv"), judge=judge)


def attacks(rng):
    probes = []
    model = _model("linear", rng)
    linear = model.get_layer("linear")
    kernel, bias = np.asarray(linear.kernel), np.asarray(linear.bias)
    images = _images(rng, 6, (8, 8, 2))
    images[0] = 0.0
    images[1] = 1.0
    labels = rng.integers(0, 4, size=6)
    for eps, reason in ((0.03, "a small eps"), (0.25, "a large eps: clip to [0, 1]")):
        probes.append(Probe(f"FGSM differs from its closed form on a linear classifier ({reason})",
                            (model, images, labels, eps),
                            expect=refs.linear_fgsm_reference(kernel, bias, images, labels, eps),
                            rtol=0, atol=1e-5, mistakes=refs.fgsm_mistakes(kernel, bias, images, labels, eps)))
    probes.append(_mnist_probe(rng))
    return probes


def _mnist_probe(rng):
    """A small network trained here on MNIST; the student's FGSM must stay in the eps-ball and
    the bounds and bring its accuracy down to (nearly) the reference FGSM's."""
    import keras

    from coursekit.attacks import fgsm
    from coursekit.data import load as load_dataset

    with quiet():
        (x_train, y_train), (x_test, y_test) = load_dataset("mnist", quiet=True)
    train = rng.choice(len(x_train), 3000, replace=False)
    test = rng.choice(len(x_test), 300, replace=False)
    keras.utils.set_random_seed(int(rng.integers(10_000)))
    model = vis.probe_model("mnist")
    model.compile(keras.optimizers.Adam(3e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x_train[train, ..., None] / np.float32(255), y_train[train], batch_size=64, epochs=1, verbose=0)
    images = (x_test[test, ..., None] / np.float32(255)).astype(np.float32)
    labels = y_test[test].astype(np.int64)
    reference = fgsm(model, images, labels, eps=EPS_MNIST)
    floor = float(np.mean(np.argmax(model(reference), axis=1) == labels))

    def judge(adv):
        adv = np.asarray(adv, dtype=np.float32)
        if adv.shape != images.shape:
            return "wrong shape"
        if not np.isfinite(adv).all() or np.abs(adv - images).max() > EPS_MNIST + 1e-5:
            return f"a pixel moved by more than eps = {EPS_MNIST}"
        if adv.min() < 0 or adv.max() > 1:
            return "pixels left [0, 1]"
        accuracy = float(np.mean(np.argmax(model(adv), axis=1) == labels))
        return None if accuracy <= floor + BAND else "the attack does not fool the network enough"

    return Probe(f"a network trained on MNIST, eps = {EPS_MNIST}",
                 (model, images, labels, EPS_MNIST), judge=judge)


PATCHES = ((4, 2), (3, 3), (5, 2), (3, 1))    # (patch, stride) on 16 x 16 images


def occlusions(rng):
    model = _model("cnn", rng)
    images = _images(rng, 3, (16, 16, 3))
    patch, stride = PATCHES[int(rng.integers(len(PATCHES)))]
    c = int(rng.integers(5))
    probes = [Probe("the maps differ from the drops in the class's softmax probability under a "
                    "grey square", (model, images, c, patch, stride),
                    expect=refs.occlusion_reference(model, images, c, patch, stride),
                    rtol=1e-4, atol=1e-5, mistakes=refs.occlusion_mistakes(model, images, c, patch, stride))]
    model = _model("flat", rng)
    images = _images(rng, 2, (12, 12, 2))
    probes.append(Probe("a stride that does not divide the image (the last corner is H - patch or "
                        "before)", (model, images, 2, 5, 3),
                        expect=refs.occlusion_reference(model, images, 2, 5, 3), rtol=1e-4, atol=1e-5,
                        mistakes=refs.occlusion_mistakes(model, images, 2, 5, 3)))
    model, images, corners = _blob(rng)
    judge = _peaks_on_blob((3, 10, 10), corners, lambda i, r: r - 6 < 2 * i <= r + 6,   # patch 6, stride 2
                           "the largest drop is not where the object is")
    probes.append(Probe("a synthetic image with the class evidence at a known spot",
                        (model, images, 1, 6, 2), judge=judge))
    return probes


def sanities(rng):
    """Weights at a scale where the softmax does not saturate: float32 and float64 then rank the
    maps' values alike."""
    probes = []
    for kind, shape, classes, scale in (("cnn", (16, 16, 3), 5, 0.3), ("flat", (12, 12, 2), 3, 0.2)):
        model = _model(kind, rng, scale)
        images = _images(rng, 3, shape)
        patch, stride = PATCHES[int(rng.integers(3))]
        args = (model, images, int(rng.integers(classes)), patch, stride, int(rng.integers(10_000)))
        probes.append(Probe("the correlations differ from the test's recipe (a copy with weights "
                            "drawn from N(0, std of each array), Spearman's correlation per image)",
                            args, judge=_correlations(refs.sanity_reference(*args)), rtol=0, atol=0.01,
                            mistakes=refs.sanity_mistakes(*args)))
    return probes


def _correlations(want):
    """A judge: one correlation per image, in [-1, 1], each within 0.01 of the reference's (a
    swap of two nearly equal values moves it by less than 0.001)."""
    def judge(got):
        got = np.asarray(got, dtype=np.float64)
        if got.shape != want.shape:
            return "one correlation per image is expected"
        if not np.isfinite(got).all() or np.abs(got).max() > 1 + 1e-9:
            return "a correlation lies in [-1, 1] (a constant map gives 0)"
        return None if np.allclose(got, want, rtol=0, atol=0.01) else "wrong correlations"
    return judge


STEPS = [
    Step("feature_extractor", features, call="feature_extractor", timeout=60, memory_mb=4096),
    Step("gradient_ascent", ascent, call="gradient_ascent", needs=("feature_extractor",), timeout=90,
         memory_mb=4096),
    Step("grad_cam", cams, call="grad_cam", needs=("feature_extractor",), timeout=60, memory_mb=4096),
    Step("fgsm", attacks, call="fgsm", timeout=60, memory_mb=4096),
    Step("occlusion", occlusions, call="occlusion", timeout=60, memory_mb=4096),
    Step("sanity_check", sanities, call="sanity_check", needs=("occlusion",), timeout=60,
         memory_mb=4096),
]
