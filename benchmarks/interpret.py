"""Time coursekit's interpretability (and attack) helpers against their peers.

Run:  .venv/bin/python benchmarks/interpret.py [--quick] [--only gradcam,smoothgrad]

Every case uses the SAME small CNN (64x64x3 input, softmax output) and the SAME
batch of images, runs a warm-up, then alternates coursekit and the peer
(A B A B ...) with benchmarks/_harness.py `paired`, and prints one line:

    <case> coursekit_s=<median> peer_s=<median> ratio=<peer/coursekit>

Adding a case: write a function `def my_case(ctx: Context) -> None` that prints
its line(s) with `report(...)`, and register it with the `@case("name")`
decorator (or `CASES["name"] = fn`). Cases run in registration order.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from _harness import median_time, paired, report  # noqa: E402


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
    """The peer's input model: the same layers and weights, with the final softmax
    removed (what tf-keras-vis's ReplaceToLinear modifier does; that modifier
    clones the model, which is not needed here and fails on some Keras 3 models)."""
    from coursekit._introspect import logits_model

    return logits_model(model)


def _peer_score(labels):
    from tf_keras_vis.utils.scores import CategoricalScore

    return CategoricalScore(list(map(int, labels)))


# --------------------------------------------------------------------------- cases

# Cases are defined below this line. Keep each one self-contained.


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
