"""Lab 4's reference for ``block_cost`` (parameters and multiply-adds of an inverted residual
block), and the typical mistakes that its self-check names. The grader checks the step against
Keras itself (``count_params`` and a count over the built layers); this formula only records
the self-check's expected outputs."""

from __future__ import annotations

import math

BN_HINT = ("batch normalization has 4 parameters per channel (gamma, beta, and the moving mean "
           "and variance): count_params counts all four, after each of the three convolutions.")
FLOOR_HINT = ("'same' padding at stride 2 gives ceil(H / 2) rows, not H // 2: an odd size keeps "
              "its last row.")
EXPAND_HINT = ("with expansion 1 there is no expanding 1x1 convolution (nor its batch "
               "normalization): the block starts with the depthwise convolution.")
WHERE_HINT = ("the expanding 1x1 convolution is counted on the wrong map: each convolution runs once "
              "per position of its own output, and in step 4's block the stride is the depthwise "
              "convolution's: which convolution comes before it?")


def _cost(input_shape, filters, expansion=6, stride=1, *, bn=4, shrink=math.ceil,
          always_expand=False, expand_at_output=False):
    h, w, c = (int(v) for v in input_shape)
    wide = int(expansion) * c
    out = shrink(h / stride) * shrink(w / stride)
    params = 9 * wide + bn * wide + wide * filters + bn * filters
    macs = out * 9 * wide + out * wide * filters
    if expansion != 1 or always_expand:
        params += c * wide + bn * wide
        macs += (out if expand_at_output else h * w) * c * wide
    return params, macs


def block_cost_reference(input_shape, filters, expansion=6, stride=1):
    return _cost(input_shape, filters, expansion, stride)


def block_cost_suspects(input_shape, filters, expansion=6, stride=1):
    args = (input_shape, filters, expansion, stride)
    right = _cost(*args)
    found = {BN_HINT: _cost(*args, bn=0), FLOOR_HINT: _cost(*args, shrink=math.floor),
             EXPAND_HINT: _cost(*args, always_expand=True),
             WHERE_HINT: _cost(*args, expand_at_output=True)}
    return {hint: wrong for hint, wrong in found.items() if wrong != right}


SELF_CHECKS = {"block_cost": (block_cost_reference, block_cost_suspects)}
