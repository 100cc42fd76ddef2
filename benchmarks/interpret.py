"""Time coursekit's interpretability (and attack) helpers against their peers.

Run:  .venv/bin/python benchmarks/interpret.py [--quick] [--only gradcam,smoothgrad]

Every case uses the SAME small CNN (64x64x3 input, softmax output) and the SAME
batch of images (except `gradcam_pretrained`: the book's pretrained ImageNet
network on 16 photos of 224x224, see its docstring), runs a warm-up, then
alternates coursekit and the peer (A B A B ...) with benchmarks/_harness.py
`paired`, and prints one line:

    <case> coursekit_s=<median> peer_s=<median> ratio=<peer/coursekit>

Peers and how they are run (so that each runs as well as it can):
* tf-keras-vis 0.8.7 (Grad-CAM, SmoothGrad, activation maximization) gets a
  functional model and no model_modifier: for the softmax it is given, once and
  outside the timed calls, the clone with a linear last layer that its own
  ReplaceToLinear modifier would make; it needs no other shim on Keras 3.
* cleverhans 4.0 (PGD) imports only its tf2 PGD module and gets the same logits model.
Each case's docstring says what exactly both sides compute.

Adding a case: write a function `def my_case(ctx: Context) -> None` that prints
its line(s) with `report(...)`, and register it with the `@case("name")`
decorator (or `CASES["name"] = fn`). Cases run in registration order.
"""

from __future__ import annotations

import argparse
import os
import warnings
from dataclasses import dataclass, field
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

# coursekit is installed (make bench runs .venv's Python); _harness is found because a script's
# own folder heads sys.path.
from _harness import median_time, paired, report  # noqa: E402

# tf-keras-vis calls single-input models with a list of inputs; Keras 3 warns each time.
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")


@dataclass
class Context:
    """What every case shares: one model, one batch, the repeat counts."""

    model: keras.Model
    images: np.ndarray  # float32 (N, 64, 64, 3) in [0, 1]
    labels: np.ndarray  # int (N,): the model's predictions
    layer: str  # the last conv layer's name
    repeats: int
    warmup: int
    quick: bool
    extra: dict = field(default_factory=dict)

    def paired(self, ours: Callable[[], object], peer: Callable[[], object]):
        return paired(ours, peer, repeats=self.repeats, warmup=self.warmup)

    def median_time(self, fn: Callable[[], object]) -> float:
        return median_time(fn, repeats=self.repeats, warmup=self.warmup)


CASES: dict[str, Callable[[Context], None]] = {}


def case(name: str):
    """Register a benchmark case under `name`."""

    def register(fn: Callable[[Context], None]):
        CASES[name] = fn
        return fn

    return register


def small_cnn(num_classes: int = 10, size: int = 64, seed: int = 0) -> keras.Model:
    """The benchmark model: a small functional CNN ending in softmax."""
    keras.utils.set_random_seed(seed)
    L = keras.layers
    inputs = keras.Input((size, size, 3), name="images")
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = L.MaxPooling2D(name="pool1")(x)
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = L.MaxPooling2D(name="pool2")(x)
    x = L.Conv2D(64, 3, padding="same", activation="relu", name="conv3")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="bench_cnn")


def make_context(quick: bool = False, batch: int = 32) -> Context:
    model = small_cnn()
    rng = np.random.default_rng(0)
    images = rng.random((batch, 64, 64, 3), dtype=np.float32)
    labels = np.asarray(model(images).numpy().argmax(-1))
    return Context(
        model=model,
        images=images,
        labels=labels,
        layer="conv3",
        repeats=3 if quick else 7,
        warmup=1 if quick else 2,
        quick=quick,
    )


# --------------------------------------------------------------------------- peers


def _linear_model(model: keras.Model) -> keras.Model:
    """The peers' input model: a clone of `model` with the same weights and the final
    softmax replaced by a linear activation -- exactly what tf-keras-vis's
    `model_modifier=ReplaceToLinear()` does (clone + set_weights + swap the activation),
    done once here so that no peer pays for it inside the timed calls. A clone (not
    coursekit's logits_model) so that every layer's `.output` is connected to the
    clone's input, which tf-keras-vis needs to cut the model at a layer."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.layers[-1].activation = keras.activations.linear
    return clone


def _peer_score(labels):
    from tf_keras_vis.utils.scores import CategoricalScore

    return CategoricalScore(list(map(int, labels)))


# --------------------------------------------------------------------------- cases

# Cases are defined below this line. Keep each one self-contained.


def _peer_visualizer(cls, model):
    """A tf-keras-vis visualizer on `model`, with no model_modifier (so no clone)."""
    return cls(model, model_modifier=None, clone=False)


@case("gradcam")
def gradcam_case(ctx: Context) -> None:
    """coursekit.cam.grad_cam vs tf_keras_vis.gradcam.Gradcam, layer conv3, labels given.

    The peer gets the softmax-stripped model (what its ReplaceToLinear modifier would
    do, without cloning) and `CategoricalScore(labels)`; it rebuilds an intermediate
    model, runs eagerly and upsamples with scipy on every call. Both return (N, 64, 64)
    maps in [0, 1]. Also prints `gradcam_floor`: coursekit's Grad-CAM time over one
    forward pass of the model (`model.predict_on_batch`-like compiled call) on the
    same batch.
    """
    from tf_keras_vis.gradcam import Gradcam

    from coursekit.cam import grad_cam

    gc = _peer_visualizer(Gradcam, _linear_model(ctx.model))
    score = _peer_score(ctx.labels)

    def ours():
        return grad_cam(ctx.model, ctx.images, ctx.labels, layer=ctx.layer)

    def peer():
        return gc(score, ctx.images, penultimate_layer=ctx.layer)

    a, b = ours(), peer()
    assert a.shape == b.shape == ctx.images.shape[:3], (a.shape, b.shape)
    # The 16x16 maps agree to float precision; the upsampling conventions differ
    # (scipy zoom aligns corners, tf.image.resize uses half-pixel centres).
    corr = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert corr > 0.9, f"Grad-CAM maps disagree with the peer (correlation {corr:.3f})"
    report("gradcam", *ctx.paired(ours, peer))

    # Paired too (forward A, Grad-CAM B, ...): the machine is shared and noisy.
    forward = tf.function(lambda x: ctx.model(x, training=False))
    x = tf.constant(ctx.images)
    forward_s, ours_s, ratio = ctx.paired(lambda: forward(x).numpy(), ours)
    print(
        f"gradcam_floor coursekit_s={ours_s:.4f} forward_s={forward_s:.4f} ratio={ratio:.2f}",
        flush=True,
    )


@case("smoothgrad")
def smoothgrad_case(ctx: Context) -> None:
    """coursekit.cam.smooth_grad vs tf_keras_vis.saliency.Saliency(smooth_samples=...).

    20 noisy samples per image, noise 0.2 of each image's range, labels given, on the
    softmax-stripped model for the peer. The peer loops over the samples eagerly (one
    batch of N per sample); coursekit runs them through one compiled gradient step.
    """
    from tf_keras_vis.saliency import Saliency

    from coursekit.cam import smooth_grad

    samples, noise = 20, 0.2
    sal = _peer_visualizer(Saliency, _linear_model(ctx.model))
    score = _peer_score(ctx.labels)

    def ours():
        return smooth_grad(ctx.model, ctx.images, ctx.labels, samples=samples, noise=noise, seed=0)

    def peer():
        return sal(score, ctx.images, smooth_samples=samples, smooth_noise=noise)

    a, b = ours(), peer()
    assert a.shape == b.shape == ctx.images.shape[:3], (a.shape, b.shape)
    report("smoothgrad", *ctx.paired(ours, peer))


@case("actmax")
def actmax_case(ctx: Context) -> None:
    """coursekit.features.maximize_activation vs tf_keras_vis ActivationMaximization.

    8 live channels of conv3 at once (batch = units), 64 steps, with the same transformation
    robustness on both sides (jitter 3 px, rotation +-5 degrees, scale 1 +- 0.05) and no
    regularizers; images in [0, 1]. coursekit uses its default Fourier (decorrelated
    colour) parameterization, which costs an FFT per step more than the peer's pixels;
    the peer runs its step eagerly with scipy rotations and zooms.
    """
    from tf_keras_vis.activation_maximization import ActivationMaximization
    from tf_keras_vis.activation_maximization.input_modifiers import Jitter, Rotate2D, Scale

    from coursekit.features import maximize_activation

    steps = 64
    sub = keras.Model(ctx.model.input, ctx.model.get_layer(ctx.layer).output)
    # 8 channels that fire on the batch (a dead ReLU channel has no gradient on either side)
    units = [int(u) for u in np.argsort(-sub(ctx.images).numpy().mean(axis=(0, 1, 2)))[:8]]
    am = _peer_visualizer(ActivationMaximization, sub)

    def score(output):
        return [tf.reduce_mean(output[i, ..., u]) for i, u in enumerate(units)]

    seed = tf.random.uniform((len(units), 64, 64, 3), 0.4, 0.6, seed=0)

    def ours():
        return maximize_activation(
            ctx.model, ctx.layer, units, steps=steps, seed=0, jitter=3, rotate=5.0, scale=0.05
        )

    def peer():
        return am(
            score, seed, input_range=(0.0, 1.0), steps=steps, regularizers=[],
            input_modifiers=[Jitter(jitter=3), Rotate2D(degree=5.0), Scale(0.95, 1.05)],
            optimizer=keras.optimizers.Adam(0.05),
        )

    a, b = ours(), np.asarray(peer())
    assert a.shape == b.shape == (len(units), 64, 64, 3), (a.shape, b.shape)
    report("actmax", *ctx.paired(ours, peer))


@case("pgd")
def pgd_case(ctx: Context) -> None:
    """coursekit.attacks.pgd vs cleverhans' tf2 `projected_gradient_descent`.

    Same model (cleverhans' model_fn must return logits, so it gets the softmax-stripped
    `_linear_model`), same batch and labels, L-inf eps=8/255, step 2/255, 10 steps, random
    start, bounds [0, 1]. cleverhans (4.0, imported as the one module, no shim needed) runs
    one compiled gradient per step plus eager clipping; coursekit runs all steps in one
    compiled call. Also prints `pgd_floor`: coursekit's PGD time over `steps` compiled
    forward+backward passes to the input on the same batch (1.0 = no overhead).
    """
    from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent

    from coursekit.attacks import pgd

    eps, step, steps = 8 / 255, 2 / 255, 10
    logits = _linear_model(ctx.model)
    x = tf.constant(ctx.images)
    y = tf.constant(ctx.labels, tf.int64)

    def ours():
        return pgd(ctx.model, ctx.images, ctx.labels, eps=eps, step_size=step, steps=steps, seed=0)

    def peer():
        return projected_gradient_descent(
            logits, x, eps, step, steps, np.inf, clip_min=0.0, clip_max=1.0, y=y,
            rand_init=True, sanity_checks=False,
        ).numpy()

    for adv in (ours(), peer()):  # both do the same job: stay in the ball and the bounds
        assert np.abs(adv - ctx.images).max() <= eps + 1e-6 and 0.0 <= adv.min() <= adv.max() <= 1.0
    report("pgd", *ctx.paired(ours, peer))

    @tf.function
    def input_gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(
                tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits(x, training=False))
            )
        return tape.gradient(loss, x)

    ours_s = ctx.median_time(ours)
    grad_s = ctx.median_time(lambda: input_gradient(x).numpy())
    print(
        f"pgd_floor coursekit_s={ours_s:.4f} grad_s={grad_s:.4f} steps={steps} "
        f"ratio={ours_s / (steps * grad_s):.2f}",
        flush=True,
    )


@case("gradcam_pretrained")
def gradcam_pretrained_case(ctx: Context) -> None:
    """coursekit.cam.grad_cam on the book's pretrained network vs tf-keras-vis and a plain tape.

    EfficientNet-Lite0 with its 1000-class head (`coursekit.models.pretrained`, offline
    weights), a batch of 16 photos of 224x224 (crops of coursekit's sample photos), each
    explained for its predicted class at the last feature maps (`top_conv_relu6`, 7x7x1280).
    Two peers, each printed on its own line:
    * `gradcam_pretrained`: tf-keras-vis 0.8.7 `Gradcam` on the softmax-stripped clone (as in
      the `gradcam` case);
    * `gradcam_pretrained_tape`: the textbook Grad-CAM, one eager `tf.GradientTape` around the
      feature maps and the logits computed from them, the gradients averaged, a ReLU and a
      bilinear resize -- what a student writes (lab 9) and what keras-io's example does.
    All three return (16, 224, 224) maps; they are checked to agree before timing.
    """
    from coursekit import data, models
    from coursekit.cam import grad_cam

    net = models.pretrained("efficientnet_lite0", include_top=True, quiet=True)
    model, layer = net.model, "top_conv_relu6"
    photos = [data.photo(name) for name in ("chelsea", "coffee", "astronaut", "rocket")]
    crops = [p[r:r + 224, c:c + 224] for p in photos for r, c in ((0, 0), (16, 24), (32, 8), (8, 32))]
    images = net.preprocess_input(np.stack(crops).astype("float32"))
    labels = model.predict(images, verbose=0).argmax(axis=1)

    def ours():
        return grad_cam(model, images, labels, layer=layer)

    features = keras.Model(model.inputs[0], model.get_layer(layer).output)
    head = model.get_layer("predictions")

    def tape():
        x = tf.constant(images)
        with tf.GradientTape() as g:
            maps = features(x)
            # the class logit: the softmax's input, recomputed from the dense layer's kernel
            pooled = tf.reduce_mean(maps, axis=(1, 2))
            logits = tf.matmul(pooled, head.kernel) + head.bias
            score = tf.reduce_sum(tf.gather(logits, labels[:, None], batch_dims=1))
        weights = tf.reduce_mean(g.gradient(score, maps), axis=(1, 2))
        cams = tf.nn.relu(tf.einsum("nhwk,nk->nhw", maps, weights))
        cams = tf.image.resize(cams[..., None], images.shape[1:3])[..., 0]
        lo = tf.reduce_min(cams, axis=(1, 2), keepdims=True)
        hi = tf.reduce_max(cams, axis=(1, 2), keepdims=True)
        return ((cams - lo) / (hi - lo)).numpy()

    a, b = ours(), tape()
    assert a.shape == b.shape == images.shape[:3], (a.shape, b.shape)
    assert np.abs(a - b).max() < 1e-3, f"Grad-CAM maps disagree with the tape ({np.abs(a - b).max():.2e})"
    try:
        from tf_keras_vis.gradcam import Gradcam

        gc = _peer_visualizer(Gradcam, _linear_model(model))
        score = _peer_score(labels)

        def peer():
            return gc(score, images, penultimate_layer=layer)

        c = np.asarray(peer())
    except Exception as error:  # noqa: BLE001 - the peer may not run on this model: say so
        print(f"gradcam_pretrained tf-keras-vis did not run: {type(error).__name__}: {error}"[:300], flush=True)
    else:
        # Same 7x7 maps; upsampled 32x, scipy's corner-aligned zoom and tf.image.resize's
        # half-pixel centres differ more than in the small case (4x): hence 0.85, not 0.9.
        corr = np.corrcoef(a.ravel(), c.ravel())[0, 1]
        assert corr > 0.85, f"Grad-CAM maps disagree with tf-keras-vis (correlation {corr:.3f})"
        print(f"gradcam_pretrained correlation with tf-keras-vis {corr:.3f}", flush=True)
        report("gradcam_pretrained", *ctx.paired(ours, peer))
    report("gradcam_pretrained_tape", *ctx.paired(ours, tape))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (3 instead of 7)")
    parser.add_argument("--only", default="", help="comma-separated case names; default: all")
    parser.add_argument("--batch", type=int, default=32, help="images per batch (default 32)")
    args = parser.parse_args(argv)
    wanted = [c for c in args.only.split(",") if c] or list(CASES)
    unknown = [c for c in wanted if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {list(CASES)}")
    ctx = make_context(quick=args.quick, batch=args.batch)
    print(
        f"# tf {tf.__version__}, keras {keras.__version__}, batch {len(ctx.images)}x64x64x3, "
        f"repeats {ctx.repeats}, threads {os.cpu_count()}",
        flush=True,
    )
    for name in wanted:
        CASES[name](ctx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
