"""One table of bad inputs over every public function of cam, attacks, features, arith and plot.

Each bad input must raise a ValueError or TypeError from coursekit itself (never a TensorFlow
or Keras traceback from deep inside), whose message names the argument and says what to do.
"""

import inspect
import os
import traceback

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import coursekit  # noqa: E402
from coursekit import arith, attacks, cam, features, plot  # noqa: E402

L = keras.layers
SIZE = 12
PACKAGE = os.path.dirname(coursekit.__file__)
# A message "says what to do" when it holds one of these.
ADVICE = (
    "pass", "use", "rebuild", "add", "give", "resize", "scale", "start", "replace", "find", "check",
    "wrap", "try", "see", "pick", "stack", "train", "must", "expected", "needs",
)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = L.Conv2D(4, 3, name="conv")
        self.pool = L.GlobalAveragePooling2D()
        self.out = L.Dense(3, activation="softmax")

    def call(self, x):
        return self.out(self.pool(self.conv(x)))


def _model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 1)),
            L.Conv2D(4, 3, activation="relu", name="conv"),
            L.GlobalAveragePooling2D(),
            L.Dense(3, activation="softmax", name="out"),
        ]
    )


MODEL = _model()
GOOD = np.random.default_rng(0).random((2, SIZE, SIZE, 1)).astype("float32")
SUB = Subclassed()
SUB(GOOD)  # called: built, yet without a graph
NAN = GOOD.copy()
NAN[1, 2, 3, 0] = np.nan
EMPTY = GOOD[:0]
RANK = GOOD[:, :, 0, 0]  # (2, 12): no image axes

# The bad values, by case: (value, the words the message must hold besides the argument's name)
BAD_MODELS = {"None": (None, "got None"), "str": ("cnn", "got the str 'cnn'"), "subclassed": (SUB, "subclassed")}
BAD_IMAGES = {"nan": (NAN, "NaN"), "empty": (EMPTY, "empty"), "rank": (RANK, "shape")}


def _image_fn(fn, images_arg="images", **fixed):
    """Cases for a function fn(model, images, ...)."""
    cases = {}
    for case, (value, words) in BAD_MODELS.items():
        cases[f"model={case}"] = ("model", words, lambda v=value: fn(v, GOOD, **fixed))
    for case, (value, words) in BAD_IMAGES.items():
        cases[f"{images_arg}={case}"] = (images_arg, words, lambda v=value: fn(MODEL, v, **fixed))
    return cases


TABLE = {}
for f in (cam.cam, cam.grad_cam, cam.grad_cam_plus_plus, cam.score_cam):
    TABLE[f] = {
        **_image_fn(f),
        "targets=out of range": ("targets", "out of range", lambda f=f: f(MODEL, GOOD, targets=7)),
        "layer=missing": ("layer", "no layer named 'conv9'", lambda f=f: f(MODEL, GOOD, layer="conv9")),
        "layer=wrong rank": ("layer", "4-D", lambda f=f: f(MODEL, GOOD, layer="out")),
    }
for f in (cam.saliency, cam.smooth_grad, cam.integrated_gradients):
    TABLE[f] = {
        **_image_fn(f),
        "targets=out of range": ("targets", "out of range", lambda f=f: f(MODEL, GOOD, targets=[0, 3])),
        "targets=str": ("targets", "class indices", lambda f=f: f(MODEL, GOOD, targets="cat")),
    }
TABLE[cam.explainer] = {
    f"model={case}": ("model", words, lambda v=value: cam.explainer(cam.CAMExplainer, v))
    for case, (value, words) in BAD_MODELS.items()
}
TABLE[cam.region_target] = {
    "mask=wrong rank": ("mask", "(H, W)", lambda: cam.region_target(1, np.ones((2, SIZE, SIZE)))),
}
for f in (attacks.fgsm, attacks.pgd):
    TABLE[f] = {
        **_image_fn(f, eps=0.1),
        "labels=out of range": ("labels", "out of range", lambda f=f: f(MODEL, GOOD, [0, 5], eps=0.1)),
        "eps=nan": ("eps", "finite", lambda f=f: f(MODEL, GOOD, eps=float("nan"))),
    }
TABLE[attacks.robust_accuracy] = {
    **_image_fn(lambda m, x: attacks.robust_accuracy(m, x, None, "fgsm", eps=[0.0, 0.1])),
    "labels=out of range": ("labels", "out of range", lambda: attacks.robust_accuracy(MODEL, GOOD, [0, 9], "fgsm", [0.1])),
    "attack=unknown": ("attack", "use one of", lambda: attacks.robust_accuracy(MODEL, GOOD, None, "cw", [0.1])),
}
TABLE[features.feature_maps] = {
    **_image_fn(features.feature_maps, "image"),
    "layers=missing": ("layers", "no layer named", lambda: features.feature_maps(MODEL, GOOD, "conv9")),
}
TABLE[features.maximize_activation] = {
    **{
        f"model={case}": ("model", words, lambda v=value: features.maximize_activation(v, "conv", 0, steps=1))
        for case, (value, words) in BAD_MODELS.items()
    },
    "units=out of range": ("unit", "out of range", lambda: features.maximize_activation(MODEL, "conv", 9, steps=1)),
    "layer=missing": ("layer", "no layer named", lambda: features.maximize_activation(MODEL, "conv9", 0, steps=1)),
    "lr=nan": ("lr", "finite", lambda: features.maximize_activation(MODEL, "conv", 0, steps=1, lr=float("nan"))),
}
TABLE[features.filters] = {
    "layer=None": ("layer", "got None", lambda: features.filters(None)),
    "layer=missing": ("layer", "no layer named", lambda: features.filters("conv9", MODEL)),
    "layer=no kernel": ("layer", "kernel", lambda: features.filters(MODEL.layers[1])),
    "model=None with a name": ("model", "no model", lambda: features.filters("conv")),
    "model=str": ("model", "got the str", lambda: features.filters("conv", "cnn")),
}
for f in (arith.param_table, arith.receptive_field):
    TABLE[f] = {
        "model=None": ("model", "got None", lambda f=f: f(None)),
        "model=str": ("model", "got the str 'cnn'", lambda f=f: f("cnn")),
        "model=unbuilt" if f is arith.param_table else "layer=missing": (
            ("model", "not built", lambda: arith.param_table(keras.Sequential([L.Dense(2)])))
            if f is arith.param_table
            else ("layer", "no layer named", lambda: arith.receptive_field(MODEL, "conv9"))
        ),
    }
TABLE[arith.conv_output_size] = {
    "size=None": ("size", "integer", lambda: arith.conv_output_size(None, 3)),
    "size=nan": ("size", "integer", lambda: arith.conv_output_size(float("nan"), 3)),
    "kernel=str": ("kernel", "integer", lambda: arith.conv_output_size(28, "3")),
    "padding=unknown": ("padding", "use an int", lambda: arith.conv_output_size(28, 3, padding="half")),
    "kernel=too big": ("kernel", "smaller kernel", lambda: arith.conv_output_size(2, 5)),
}
TABLE[arith.conv_params] = {
    "in_channels=None": ("in_channels", "integer", lambda: arith.conv_params(None, 2, 3)),
    "kernel=0": ("kernel", ">= 1", lambda: arith.conv_params(3, 2, 0)),
}
TABLE[plot.image_grid] = {
    "images=None": ("images", "got None", lambda: plot.image_grid(None)),
    "images=str": ("images", "got the str", lambda: plot.image_grid("x.png")),
    "images=nan": ("images", "NaN", lambda: plot.image_grid(NAN)),
    "images=empty": ("images", "0 images", lambda: plot.image_grid(EMPTY)),
    "images=wrong rank": ("images", "shape", lambda: plot.image_grid(np.zeros(5))),
}
TABLE[plot.overlay] = {
    "images=None": ("images", "got None", lambda: plot.overlay(None, GOOD[..., 0])),
    "heatmaps=nan": ("heatmaps", "NaN", lambda: plot.overlay(GOOD, NAN[..., 0])),
    "heatmaps=count": ("heatmaps", "one heatmap per image", lambda: plot.overlay(GOOD, GOOD[:1, ..., 0])),
}
TABLE[plot.heatmap_overlay] = {
    "heatmap=None": ("heatmap", "got None", lambda: plot.heatmap_overlay(GOOD[0], None)),
    "heatmap=wrong rank": ("heatmap", "(H, W)", lambda: plot.heatmap_overlay(GOOD[0], GOOD)),
    "image=nan": ("image", "NaN", lambda: plot.heatmap_overlay(NAN[1], GOOD[0, ..., 0])),
}
TABLE[plot.filter_mosaic] = {
    "kernel=None": ("kernel", "got None", lambda: plot.filter_mosaic(None)),
    "kernel=wrong rank": ("kernel", "(kh, kw, in, out)", lambda: plot.filter_mosaic(np.zeros((3, 3)))),
}
TABLE[plot.feature_map_mosaic] = {
    "maps=None": ("maps", "got None", lambda: plot.feature_map_mosaic(None)),
    "maps=wrong rank": ("maps", "(h, w, channels)", lambda: plot.feature_map_mosaic(np.zeros((4, 4)))),
}
TABLE[plot.training_curves] = {
    "history=None": ("history", "got None", lambda: plot.training_curves(None)),
    "metrics=missing": ("metrics", "accuracy", lambda: plot.training_curves({"loss": [1.0]}, "accuracy")),
}

CASES = [(f"{fn.__module__.split('.')[-1]}.{fn.__name__}[{case}]", arg, words, call)
         for fn, cases in TABLE.items() for case, (arg, words, call) in cases.items()]


@pytest.mark.parametrize("name, arg, words, call", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_message_that_names_the_argument_and_says_what_to_do(name, arg, words, call):
    with pytest.raises((ValueError, TypeError)) as info:
        call()
    message = str(info.value)
    where = traceback.extract_tb(info.tb)[-1].filename
    assert where.startswith(PACKAGE), f"{name}: raised inside {where}, not by coursekit:\n{message}"
    assert arg in message, f"{name}: the message does not name {arg!r}:\n{message}"
    assert words.lower() in message.lower(), f"{name}: expected {words!r} in:\n{message}"
    assert any(w in message.lower() for w in ADVICE), f"{name}: the message does not say what to do:\n{message}"


def test_the_table_covers_every_public_function():
    covered = set(TABLE)
    missing = [
        f"{module.__name__}.{name}"
        for module in (arith, attacks, cam, features, plot)
        for name in module.__all__
        if inspect.isfunction(getattr(module, name)) and getattr(module, name) not in covered
    ]
    assert not missing, f"public functions without bad-input cases: {missing}"
