"""How coursekit reads any Keras 3 model, and what input it accepts: one import for the rooms.

Every interpretability and attack helper needs the same few things from a model: a layer by
name, index or object (also inside a nested "pretrained base"), the last convolutional layer,
the logits before a final softmax or sigmoid, and the activations of some layers, all in
float32. Each idea has its own module; this one gathers their names for the callers:

* ``coursekit._layers`` -- finding layers, and the policy for ``model`` and ``layer`` arguments;
* ``coursekit._squash`` -- recognising a final softmax or sigmoid, and calling a layer without it;
* ``coursekit._graph`` -- re-running the graph with the same layers (probes), cached and traced once;
* ``coursekit._heads`` -- the logits model and what the output means (units, binary, multi-label);
* ``coursekit._inputs`` -- the input policy for data (finite values, raw pixels, image shapes).
"""

from __future__ import annotations

from coursekit._heads import Head, head, logits_model, num_classes
from coursekit._inputs import as_images, as_targets, check_inputs
from coursekit._layers import require_model, find_layer, last_conv_layer, last_spatial_layer

# The names coursekit's other modules (features, cam, attacks, arith, train) read from here.
from coursekit._arrays import describe  # noqa: F401
from coursekit._graph import build, cached, final_operation, input_spec, probe, traced  # noqa: F401
from coursekit._inputs import has_rescaling  # noqa: F401
from coursekit._layers import is_model, output_rank, walk_layers  # noqa: F401
from coursekit._squash import softmax_kind  # noqa: F401

__all__ = [
    "require_model",
    "check_inputs",
    "find_layer",
    "last_conv_layer",
    "last_spatial_layer",
    "probe",
    "logits_model",
    "head",
    "Head",
    "as_images",
    "as_targets",
    "num_classes",
]
