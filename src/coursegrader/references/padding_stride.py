"""Lab 2's references: output sizes, TensorFlow's "same" split, the dilated convolution and the
receptive field of a stack, and the typical mistakes that ``coursekit.checks``' lab 2 self-checks
name (dilation left out, rounding in the wrong place, symmetric "same", the jump not multiplied)."""

from __future__ import annotations

import math

import numpy as np

from coursekit import arith

from .convolution import conv_reference, same_padding

DILATION_HINT = ("did you forget the dilation? A kernel of k taps with dilation d spans "
                 "(k - 1) * d + 1 pixels: use that span wherever the kernel size appears.")


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


def output_size_reference(n, k, stride=1, padding=0, dilation=1):
    return arith.conv_output_size(n, k, stride, padding, dilation)


def output_size_suspects(n, k, stride=1, padding=0, dilation=1):
    before, after = _pad_pair(padding, n, k, stride, dilation)
    span, found = _span(k, dilation), {}
    if dilation > 1:
        found[DILATION_HINT] = (n + before + after - k) // stride + 1
    if stride > 1:
        found["round down once, at the end: floor((n + 2p - span) / stride) + 1, not ceil and not "
              "floor((n + 2p) / stride) - ..."] = math.ceil((n + before + after - span) / stride) + 1
    if isinstance(padding, str) and padding == "same" and stride > 1:
        found["'same' keeps ceil(n / stride) pixels, not n: the stride still divides."] = n
    return found


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
        found["the total depends on the stride: (ceil(n / s) - 1) * s + span - n, at least 0."] = \
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
        "each layer adds (k - 1) * d units of the layer below, and they lie `jump` input pixels apart: "
        "multiply by the jump before updating it.": (no_jump[0], want[1], want[2]),
        DILATION_HINT: receptive_field_reference([(k, s, 1, p) for k, s, _d, p in full]),
        "padding before the input moves the first window to the left: subtract padding * jump from "
        "the start.": receptive_field_reference([tuple(layer)[:3] for layer in layers]),
    }
    return {hint: wrong for hint, wrong in found.items() if tuple(wrong) != tuple(want)}


SELF_CHECKS = {
    "output_size": (output_size_reference, output_size_suspects),
    "same_padding": (same_pads, same_padding_suspects),
    "conv2d_im2col": (dilated_conv_reference, im2col_suspects),
    "receptive_field": (receptive_field_reference, receptive_field_suspects),
}
