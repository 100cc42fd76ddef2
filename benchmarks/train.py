"""Images per second: coursekit.train.fit vs plain model.fit, same model, data and batch size.

    python benchmarks/train.py            # auto: the GPU case if TensorFlow sees a GPU, else CPU cases
    python benchmarks/train.py --cpu      # CPU cases (CUDA hidden)
    python benchmarks/train.py --gpu      # CIFAR-sized ResNet on synthetic 32x32x3 data, fp32 model.fit as peer

Each call trains one epoch; the two sides run alternately (A B A B, benchmarks/_harness.py) on
two copies of one model with the same initial weights, after a warm-up that compiles both.
Prints `<case> coursekit_ips=<median> peer_ips=<median> ratio=<coursekit/peer>`; ratio is the median
of the per-pair ratios. Targets: ratio >= 1.0 on CPU, >= 2.0 on GPU.
"""

from __future__ import annotations

import argparse
import os
import sys


def _args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--cpu", action="store_true", help="CPU cases, with CUDA hidden")
    mode.add_argument("--gpu", action="store_true", help="the GPU case (fails without a GPU)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--case", action="append", help="run only these cases (by name)")
    p.add_argument("--smoke", action="store_true",
                   help="check that the cases run: two batches each, one repeat (no meaningful figures)")
    return p.parse_args()


ARGS = _args()
if ARGS.cpu:
    os.environ["CUDA_VISIBLE_DEVICES"] = ""
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

# coursekit is installed (make bench runs .venv's Python); _harness is found because a script's
# own folder heads sys.path.
from _harness import paired  # noqa: E402
from coursekit import train  # noqa: E402


def mnist_cnn():
    """The keras-io MNIST convnet."""
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])


def mnist_mlp():
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ])


def cifar_cnn():
    return keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])


def cifar_resnet(widths=(64, 128, 256), blocks=2):
    """A CIFAR-sized ResNet (ResNet-18 style basic blocks, three stages)."""
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(widths[0], 3, padding="same", use_bias=False)(inputs)
    h = keras.layers.BatchNormalization()(h)
    h = keras.layers.ReLU()(h)
    for stage, width in enumerate(widths):
        for block in range(blocks):
            stride = 2 if stage > 0 and block == 0 else 1
            shortcut = h
            h = keras.layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False)(h)
            h = keras.layers.BatchNormalization()(h)
            h = keras.layers.ReLU()(h)
            h = keras.layers.Conv2D(width, 3, padding="same", use_bias=False)(h)
            h = keras.layers.BatchNormalization()(h)
            if stride != 1 or shortcut.shape[-1] != width:
                shortcut = keras.layers.Conv2D(width, 1, strides=stride, use_bias=False)(shortcut)
                shortcut = keras.layers.BatchNormalization()(shortcut)
            h = keras.layers.ReLU()(keras.layers.Add()([h, shortcut]))
    h = keras.layers.GlobalAveragePooling2D()(h)
    outputs = keras.layers.Dense(10, activation="softmax")(h)
    return keras.Model(inputs, outputs)


# name -> (builder, input shape, number of images, batch size[, coursekit.train.fit options]);
# n is a multiple of the batch, so both sides train on the same number of images (coursekit
# drops a last partial batch). The *_xla cases force XLA on, to check that "auto" (off on CPU)
# is the right default there. The *_dataset case gives both sides a tf.data.Dataset of single
# examples (the peer shuffles, batches and prefetches it the usual way).
CPU_CASES = {
    "cpu_mnist_cnn_b32": (mnist_cnn, (28, 28, 1), 6144, 32),
    "cpu_mnist_cnn_b128": (mnist_cnn, (28, 28, 1), 6144, 128),
    "cpu_mnist_mlp_b32": (mnist_mlp, (28, 28, 1), 16384, 32),
    "cpu_cifar_cnn_b64": (cifar_cnn, (32, 32, 3), 4096, 64),
    "cpu_mnist_cnn_b32_dataset": (mnist_cnn, (28, 28, 1), 6144, 32, {"as_dataset": True}),
    "cpu_mnist_cnn_b32_xla": (mnist_cnn, (28, 28, 1), 6144, 32, {"jit_compile": True}),
    "cpu_cifar_cnn_b64_xla": (cifar_cnn, (32, 32, 3), 4096, 64, {"jit_compile": True}),
}
GPU_CASES = {
    "gpu_cifar_resnet_b128": (cifar_resnet, (32, 32, 3), 25600, 128),
    "gpu_cifar_resnet_b256": (cifar_resnet, (32, 32, 3), 25600, 256),
}


def compiled(builder):
    model = builder()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def run_case(name, builder, shape, n, batch, options=None):
    if ARGS.smoke:
        n = 2 * batch
    rng = np.random.default_rng(0)
    x = rng.random((n, *shape), dtype=np.float32)
    y = rng.integers(0, 10, n)
    keras.utils.set_random_seed(0)
    ours_model = compiled(builder)
    peer_model = compiled(builder)
    peer_model.set_weights(ours_model.get_weights())

    options = dict(options or {})
    if options.pop("as_dataset", False):
        ds = tf.data.Dataset.from_tensor_slices((x, y))

        def ours():
            train.fit(ours_model, ds, epochs=1, batch_size=batch, verbose=0, **options)

        def peer():
            peer_model.fit(ds.shuffle(n).batch(batch).prefetch(tf.data.AUTOTUNE), epochs=1, verbose=0)
    else:
        def ours():
            train.fit(ours_model, x, y, epochs=1, batch_size=batch, verbose=0, **options)

        def peer():
            peer_model.fit(x, y, epochs=1, batch_size=batch, verbose=0)

    repeats, warmup = (1, 1) if ARGS.smoke else (ARGS.repeats, ARGS.warmup)
    ours_s, peer_s, ratio = paired(ours, peer, repeats=repeats, warmup=warmup)
    trained = (n // batch) * batch
    line = f"{name} coursekit_ips={trained / ours_s:.0f} peer_ips={n / peer_s:.0f} ratio={ratio * trained / n:.2f}"
    print(line, flush=True)
    return line


def main():
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    if ARGS.gpu and not has_gpu:
        sys.exit("--gpu: TensorFlow sees no GPU here.")
    cases = GPU_CASES if (ARGS.gpu or (has_gpu and not ARGS.cpu)) else CPU_CASES
    if ARGS.case:
        cases = {k: v for k, v in {**CPU_CASES, **GPU_CASES}.items() if k in ARGS.case}
    print(train.describe_device(quiet=True), flush=True)
    print(f"tensorflow {tf.__version__}, keras {keras.__version__}, repeats={ARGS.repeats}", flush=True)
    for name, spec in cases.items():
        run_case(name, *spec)


if __name__ == "__main__":
    main()
