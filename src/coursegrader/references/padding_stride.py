"""Lab 2's references: the cost of a layer (parameters and multiply-adds), TensorFlow's "same"
split, the dilated convolution and the receptive field of a stack, and the typical mistakes that
``coursekit.checks``' lab 2 self-checks name (biases, groups, a depthwise kernel that mixes
channels, dilation left out, symmetric "same", the jump not multiplied)."""

from __future__ import annotations

import math

import numpy as np

from .convolution import conv_reference, same_padding

# hints name the mistake and a case to work by hand, not the rules the steps ask to derive
DILATION_HINT = ("did you forget the dilation? With dilation d the k taps lie d pixels apart: count the "
                 "pixels from the first tap to the last (draw k = 3, d = 2), and use that span wherever the "
                 "kernel size appears.")


def _span(kernel: int, dilation: int) -> int:
    return (int(kernel) - 1) * int(dilation) + 1


def same_pads(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding along one axis, (before, after): the odd pixel goes after."""
    return same_padding(size, _span(kernel, dilation), stride)


def _pad_pair(padding, size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) for an int (each side), "valid", "same" or "full"."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "same":
            return same_pads(size, kernel, stride, dilation)
        if mode == "full":
            return (_span(kernel, dilation) - 1,) * 2
        if mode == "valid":
            return 0, 0
        raise ValueError(f"padding must be an int, 'valid', 'same' or 'full', not {padding!r}")
    return int(padding), int(padding)


def dilated_conv_reference(x, w, b=None, stride: int = 1, padding=0, dilation: int = 1) -> np.ndarray:
    """:func:`conv_reference` with dilation and "full" padding too (x (H, W, C), w (kh, kw, C, F)).

    A dilated kernel is the kernel with ``dilation - 1`` zeros between its taps, so this
    spreads the taps out and pads explicitly, then calls :func:`conv_reference`.
    """
    x, w = np.asarray(x), np.asarray(w)
    (kh, kw), d = w.shape[:2], int(dilation)
    spread = np.zeros((_span(kh, d), _span(kw, d), *w.shape[2:]), dtype=w.dtype)
    spread[::d, ::d] = w
    pads = [_pad_pair(padding, x.shape[0], kh, stride, d), _pad_pair(padding, x.shape[1], kw, stride, d)]
    return conv_reference(np.pad(x, pads + [(0, 0)] * (x.ndim - 2)), spread, b, stride, 0)


def _side_out(side: int, k: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(side / stride)
    if padding == "valid" and side >= k:
        return (side - k) // stride + 1
    raise ValueError(f"padding {padding!r} with a kernel of {k} on {side} pixels")


def _kernel_weights(kind: str, c_in: int, c_out: int, k: int, groups: int) -> int:
    """The weights that multiply inputs (no bias): each is used once at every output position."""
    if kind == "conv" and not (c_in % groups or c_out % groups):
        return k * k * (c_in // groups) * c_out
    if kind == "depthwise" and c_out % c_in == 0:
        return k * k * c_out
    if kind == "separable":
        return k * k * c_in + c_in * c_out
    raise ValueError(f"kind {kind!r} with {c_in} -> {c_out} channels and {groups} groups")


def layer_cost_reference(kind, side, c_in, c_out, k=3, stride=1, padding="same", groups=1):
    """(parameters, multiply-adds) of a Keras Conv2D(groups=...), DepthwiseConv2D or
    SeparableConv2D layer with biases, on a side x side x c_in input."""
    out = _side_out(side, k, stride, padding)
    weights = _kernel_weights(kind, c_in, c_out, k, groups)
    return weights + c_out, out * out * weights


def layer_cost_suspects(kind, side, c_in, c_out, k=3, stride=1, padding="same", groups=1):
    params, madds = layer_cost_reference(kind, side, c_in, c_out, k, stride, padding, groups)
    out = _side_out(side, k, stride, padding)
    weights = _kernel_weights(kind, c_in, c_out, k, groups)
    found = {"did you forget the biases? Each layer kind here has one bias per output channel.":
             (weights, madds),
             "a multiply-add is a weight times an input: the biases are additions, do not count "
             "them in the multiply-adds.": (params, madds + out * out * c_out)}
    if padding == "same" and side % stride:
        found["'same' keeps ceil(side / stride) pixels: round up, not down."] =             (params, (side // stride) ** 2 * weights)
    if kind == "conv" and groups > 1:
        dense = k * k * c_in * c_out
        found["with groups, each filter sees only c_in / groups channels: divide by the groups."] = \
            (dense + c_out, out * out * dense)
    if kind == "depthwise":
        dense = k * k * c_in * c_out
        found["a depthwise convolution does not mix channels: one k x k kernel per output map, "
              "not k * k * c_in * c_out weights."] = (dense + c_out, out * out * dense)
    if kind == "separable" and stride > 1:
        found["the pointwise 1x1 part of a separable convolution runs on the depthwise part's "
              "output, after the stride: count it at the output resolution."] = \
            (params, out * out * k * k * c_in + side * side * c_in * c_out)
    return {hint: wrong for hint, wrong in found.items() if tuple(wrong) != (params, madds)}


def same_padding_suspects(n, k, stride=1, dilation=1):
    before, after = same_pads(n, k, stride, dilation)
    total = before + after
    found = {"TensorFlow puts the odd row/column of padding after (bottom/right), not before.": (after, before)}
    if total % 2:
        found["'same' is not symmetric: when the total is odd, before = total // 2 and after gets "
              "the rest."] = (total // 2, total // 2)
    if dilation > 1:
        found[DILATION_HINT] = same_pads(n, k, stride, 1)
    if stride > 1:
        found["the total depends on the stride: the last of the ceil(n / s) windows starts at a multiple "
              "of s; how far past the n pixels does its span reach? (work n = 5, k = 3, s = 2 by hand)"] = \
            ((_span(k, dilation) - 1) // 2, _span(k, dilation) - 1 - (_span(k, dilation) - 1) // 2)
    return {hint: wrong for hint, wrong in found.items() if tuple(wrong) != (before, after)}


def im2col_suspects(x, w, b=None, stride=1, padding=0, dilation=1):
    found = {}
    if dilation > 1:
        found[DILATION_HINT] = dilated_conv_reference(x, w, b, stride, padding, 1)
    if isinstance(padding, str) and padding == "same":
        (pt, pb), (pl, pr) = (same_pads(x.shape[i], w.shape[i], stride, dilation) for i in (0, 1))
        if (pt, pl) != (pb, pr):
            xp = np.pad(x, ((pb, pt), (pr, pl), (0, 0)))
            found["for 'same' with an odd amount of padding, the extra row/column goes at the "
                  "bottom/right."] = dilated_conv_reference(xp, w, b, stride, 0, dilation)
    if b is not None:
        found["did you forget to add the bias b?"] = dilated_conv_reference(x, w, None, stride, padding, dilation)
    found["did you flip the kernel? Multiply each window by the kernel as it is."] = \
        dilated_conv_reference(x, w[::-1, ::-1], b, stride, padding, dilation)
    return found


def receptive_field_reference(layers) -> tuple[int, int, float]:
    """(size, jump, start) after ``layers`` of (kernel, stride, dilation[, padding before]).

    ``start`` is the centre of the first unit's field, with input pixel i centred at i.
    """
    size, jump, start = 1, 1, 0.0
    for layer in layers:
        kernel, stride, dilation, padding = (*tuple(layer), 0)[:4]
        span = _span(kernel, dilation)
        start += ((span - 1) / 2 - int(padding)) * jump
        size += (span - 1) * jump
        jump *= int(stride)
    return size, jump, start


def receptive_field_suspects(layers):
    want = receptive_field_reference(layers)
    full = [(*tuple(layer), 0)[:4] for layer in layers]
    no_jump = receptive_field_reference([(k, 1, d, p) for k, _s, d, p in full])
    found = {
        "the units of the layer below lie `jump` input pixels apart, not 1: multiply by the jump (the "
        "one before this layer's stride changes it) when you count what the window adds.":
        (no_jump[0], want[1], want[2]),
        DILATION_HINT: receptive_field_reference([(k, s, 1, p) for k, s, _d, p in full]),
        "the padding is left out: p zeros before the input move the first window to the left, by p "
        "units of the layer below; measure that shift in input pixels, as for the size.":
        receptive_field_reference([tuple(layer)[:3] for layer in layers]),
    }
    return {hint: wrong for hint, wrong in found.items() if tuple(wrong) != tuple(want)}


SELF_CHECKS = {
    "layer_cost": (layer_cost_reference, layer_cost_suspects),
    "same_padding": (same_pads, same_padding_suspects),
    "conv2d_im2col": (dilated_conv_reference, im2col_suspects),
    "receptive_field": (receptive_field_reference, receptive_field_suspects),
}
