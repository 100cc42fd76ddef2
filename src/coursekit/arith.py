"""Convolution arithmetic: output sizes, receptive fields and parameter counts.

The formulas follow Dumoulin & Visin, "A guide to convolution arithmetic for
deep learning" (2016). Every function here is pure arithmetic except the two
that read a Keras model (`receptive_field`, `param_table`).
"""

from __future__ import annotations

import dataclasses
import html
import math
import operator
from typing import Sequence

__all__ = [
    "conv_output_size",
    "conv_params",
    "receptive_field",
    "ReceptiveField",
    "param_table",
    "ParamTable",
    "LayerParams",
]

_PADDING_NAMES = ("valid", "same", "full")


def _positive_int(name: str, value, minimum: int = 1) -> int:
    try:
        number = operator.index(value)  # accepts ints and NumPy ints, refuses 2.5 and "3"
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}.") from None
    if isinstance(value, bool) or number < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return number


def _pad_total(padding, kernel_span: int, size: int, stride: int) -> int:
    """Total padding (both sides) for an int or a Keras/NumPy padding name."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return 0
        if mode == "full":
            return 2 * (kernel_span - 1)
        if mode == "same":
            # Keras/TF "same": output is ceil(size / stride), padding split as needed.
            out = math.ceil(size / stride)
            return max((out - 1) * stride + kernel_span - size, 0)
        raise ValueError(
            f"padding {padding!r} is not known: use an int or one of {_PADDING_NAMES}."
        )
    return 2 * _positive_int("padding", padding, minimum=0)


def conv_output_size(size, kernel, stride=1, padding=0, dilation=1) -> int:
    """Output length of a convolution (or pooling) along one axis.

    Parameters
    ----------
    size : int
        Input length (e.g. image height).
    kernel : int
        Kernel length.
    stride : int
    padding : int or {"valid", "same", "full"}
        An int pads that many zeros on *each* side. "same" is TensorFlow's
        convention (output = ceil(size / stride)); "full" pads kernel-1 per side.
    dilation : int
        Spacing between kernel taps; the kernel then spans dilation*(kernel-1)+1.

    Returns
    -------
    int
        floor((size + total_padding - span) / stride) + 1.

    Examples
    --------
    >>> conv_output_size(32, 5)            # 32x32 image, 5x5 kernel
    28
    >>> conv_output_size(7, 3, stride=2, padding=1)
    4
    """
    size = _positive_int("size", size)
    kernel = _positive_int("kernel", kernel)
    stride = _positive_int("stride", stride)
    dilation = _positive_int("dilation", dilation)
    span = dilation * (kernel - 1) + 1
    total = _pad_total(padding, span, size, stride)
    if size + total < span:
        raise ValueError(
            f"the kernel spans {span} pixels but the padded input is only {size + total}: "
            "use a smaller kernel or dilation, or more padding."
        )
    return (size + total - span) // stride + 1


def conv_params(in_channels, out_channels, kernel, bias=True) -> int:
    """Trainable parameters of a 2-D convolution layer: kh * kw * in * out (+ out biases).

    Parameters
    ----------
    in_channels, out_channels : int
        Input and output feature maps (>= 1).
    kernel : int or (int, int)
        Kernel size: an int for a square kernel, or (height, width).
    bias : bool
        Whether the layer has one bias per output map (Keras' default).

    Returns
    -------
    int

    Examples
    --------
    >>> conv_params(3, 2, 3)    # 3 input maps, 2 output maps, 3x3 kernels
    56
    >>> conv_params(64, 128, (1, 1), bias=False)
    8192
    """
    kh, kw = (kernel, kernel) if not isinstance(kernel, Sequence) else tuple(kernel)
    weights = _positive_int("kernel height", kh) * _positive_int("kernel width", kw)
    weights *= _positive_int("in_channels", in_channels) * _positive_int("out_channels", out_channels)
    return weights + (int(out_channels) if bias else 0)


# --------------------------------------------------------------------------
# Receptive fields
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of one layer's units, along one spatial axis.

    size: how many input pixels one unit sees; jump: distance in input pixels
    between neighbouring units (the cumulative stride); start: centre of the
    first unit's field in input coordinates (negative when padding is involved).
    """

    layer: str
    size: int
    jump: int
    start: float


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def _spatial_geometry(layer):
    """(kernel, stride, dilation, padding) along the height axis, or None.

    None means the layer keeps the spatial grid as it is (activations, batch norm,
    dropout...). Global pooling and Flatten end the spatial part of a network.
    """
    import keras

    conv = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        raise ValueError(
            f"layer {layer.name!r} is a transposed convolution; receptive_field only "
            "handles downsampling paths (conv and pooling)."
        )
    if isinstance(layer, conv):
        return (_pair(layer.kernel_size)[0], _pair(layer.strides)[0],
                _pair(layer.dilation_rate)[0], layer.padding)
    if isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
        return _pair(layer.pool_size)[0], _pair(layer.strides)[0], 1, layer.padding
    if isinstance(layer, keras.layers.ZeroPadding2D):
        (top, _bottom), _ = layer.padding
        return 1, 1, 1, int(top)
    return None


def _input_height(model) -> int | None:
    """The model's input height, when its input shape is known."""
    try:
        shape = model.inputs[0].shape
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
    return int(shape[1]) if len(shape) == 4 and shape[1] is not None else None


def _plain_layers(model):
    """The model's layers in order, nested models opened up (coursekit._introspect.walk_layers)."""
    import keras

    from coursekit._introspect import walk_layers

    return [layer for layer in walk_layers(model) if not isinstance(layer, keras.Model)]


def receptive_field(model, layer=None) -> ReceptiveField:
    """Receptive field size, jump and start of a layer's units.

    Parameters
    ----------
    model : keras.Model
        A chain of Conv2D/pooling layers (Sequential, or functional with a single
        path such as VGG; nested models are opened up). It need not be built.
    layer : None, str, int or keras layer
        The layer (a name, an index into ``model.layers`` or a layer object);
        None = the last layer that still has a spatial grid (before Flatten,
        global pooling or Dense).

    Returns
    -------
    ReceptiveField
        ``size`` (int): input pixels one unit sees; ``jump`` (int): input pixels
        between neighbouring units; ``start`` (float): centre of the first
        unit's field. Height is reported (kernels are read along the height).

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((32, 32, 3)),
    ...     keras.layers.Conv2D(8, 3, name="c1"), keras.layers.MaxPooling2D(name="p1"),
    ...     keras.layers.Conv2D(8, 3, name="c2")])
    >>> rf = receptive_field(model, "c2")
    >>> rf.size, rf.jump
    (8, 2)
    """
    import keras

    from coursekit._introspect import require_model, find_layer

    layers = _plain_layers(require_model(model, graph=False))
    if layer is not None:
        layer = find_layer(model, layer).name  # an unknown name gets a list of close ones
    size, jump, start = 1, 1, 0.5
    height = _input_height(model)  # TF's "same" split depends on it; None when unknown
    result = None
    for l in layers:
        if isinstance(l, (keras.layers.Flatten, keras.layers.GlobalAveragePooling2D,
                          keras.layers.GlobalMaxPooling2D, keras.layers.Dense)):
            if layer is None:
                break
            raise ValueError(
                f"layer {layer!r} comes after {l.name!r}, which ends the spatial grid; "
                "receptive fields are defined only for layers before it."
            )
        geometry = _spatial_geometry(l)
        if geometry is not None:
            kernel, stride, dilation, padding = geometry
            span = dilation * (kernel - 1) + 1
            if isinstance(padding, int):
                pad_before = padding
            elif padding == "same":
                # TensorFlow puts total // 2 before (the odd pixel after); the total depends
                # on the input height at strides > 1. Unknown height: assume the symmetric case.
                total = _pad_total("same", span, height, stride) if height else span - 1
                pad_before = total // 2
            else:
                pad_before = 0
            start = start + ((span - 1) / 2 - pad_before) * jump
            size = size + (span - 1) * jump
            jump = jump * stride
            if height:
                height = conv_output_size(height, kernel, stride, padding, dilation)
        result = ReceptiveField(l.name, size, jump, start)
        if l.name == layer:
            break
    if result is None:
        raise ValueError(f"model {model.name!r} has no layers to measure.")
    return result


# --------------------------------------------------------------------------
# Parameter tables
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LayerParams:
    name: str
    kind: str
    output_shape: tuple
    params: int
    formula: str


def _formula(layer) -> str:
    """How the layer's parameter count arises, for the common layer types."""
    import keras

    if not layer.weights:
        return "0"
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.Conv2DTranspose):
        kh, kw = _pair(layer.kernel_size)
        cin = layer.kernel.shape[2]
        bias = f" + {layer.filters}" if layer.use_bias else ""
        return f"{kh}*{kw}*{cin}*{layer.filters}{bias}"
    if isinstance(layer, keras.layers.Dense):
        bias = f" + {layer.units}" if layer.use_bias else ""
        return f"{layer.kernel.shape[0]}*{layer.units}{bias}"
    if isinstance(layer, keras.layers.BatchNormalization):
        return f"4*{layer.weights[0].shape[0]} (2 trainable)"
    return " + ".join("*".join(str(d) for d in w.shape) for w in layer.weights)


def _output_shape(layer) -> tuple:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return ()


class ParamTable(list):
    """A list of LayerParams that prints as a table (text and HTML)."""

    @property
    def total(self) -> int:
        return sum(row.params for row in self)

    def _rows(self):
        header = ("layer", "type", "output shape", "params", "how")
        body = [(r.name, r.kind, str(r.output_shape), f"{r.params:,}", r.formula) for r in self]
        return header, body

    def __str__(self) -> str:
        header, body = self._rows()
        rows = [header, *body, ("total", "", "", f"{self.total:,}", "")]
        widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines.insert(len(lines) - 1, "-" * len(lines[0]))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        header, body = self._rows()
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in header)
        rows = "".join(
            "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in body
        )
        foot = f"<tr><th>total</th><td></td><td></td><th>{self.total:,}</th><td></td></tr>"
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}{foot}</tbody></table>"

    def __repr__(self) -> str:
        return str(self)


def param_table(model) -> ParamTable:
    """One row per layer: name, type, output shape, parameter count and formula.

    Parameters
    ----------
    model : keras.Model
        A built model (Sequential, functional, nested or subclassed): one that
        starts with ``keras.Input(shape=...)``, was built with
        ``model.build((None, H, W, C))`` or has been called on data. An unbuilt
        model has no weights yet, so it is refused with that advice rather than
        reported as 0 parameters.

    Returns
    -------
    ParamTable
        A list of :class:`LayerParams` (name, kind, output_shape, params (int),
        formula (str)); nested models are expanded, so a transfer-learning model
        shows the layers of its base. ``table.total`` equals
        ``model.count_params()``. It prints as a text table and renders as HTML
        in a notebook.

    Examples
    --------
    >>> import keras
    >>> model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(32, 3)])
    >>> param_table(model).total    # 3*3*1*32 + 32
    320
    """
    from coursekit._introspect import require_model

    require_model(model, graph=False)
    unbuilt = [layer.name for layer in _plain_layers(model) if not layer.built]
    if not model.built or unbuilt:
        raise ValueError(
            f"model {model.name!r} is not built{' (layers ' + ', '.join(map(repr, unbuilt[:5])) + ')' if unbuilt else ''}"
            ", so its layers have no weights yet and every count would be 0. Give it an input "
            "shape first: start it with keras.Input(shape=(H, W, C)), or call "
            "model.build((None, H, W, C)), or call it once on a batch."
        )
    table = ParamTable()
    for layer in _plain_layers(model):
        table.append(LayerParams(layer.name, type(layer).__name__, _output_shape(layer),
                                 int(layer.count_params()) if layer.built else 0,
                                 _formula(layer)))
    return table
