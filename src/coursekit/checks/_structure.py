"""A Keras model's structure against the expected one, layer by layer: types, output shapes and
parameter counts (the "structure" tier of grading)."""

from __future__ import annotations

from coursekit._arrays import fmt_shape

from ._report import Check, finish
from ._student import running

__all__ = ["check_structure"]


def flat_layers(model):
    """A model's layers, nested models flattened, input layers left out."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from flat_layers(layer)
        elif type(layer).__name__ != "InputLayer":
            yield layer


def _layer_formula(layer) -> str:
    """How a layer's parameter count arises, for the layers a lab usually has."""
    weights = [tuple(int(d) for d in w.shape) for w in layer.weights]
    return " + ".join("x".join(str(d) for d in shape) for shape in weights) or "no weights"


def check_structure(name: str, model, expected, *, verbose: bool = True, strict: bool = False) -> Check:
    """Compare a Keras model with the expected structure, layer by layer.

    ``expected`` lists one ``(layer type, output shape without the batch axis,
    parameter count)`` per layer, input layer left out, nested models flattened;
    ``None`` in a position skips that comparison. Reports the first difference with
    the layer's name and, for parameter counts, the shapes of its weights. ``model`` may be a
    function of no arguments that builds it (``lambda: tiny_net(True)``): an error raised while
    it builds is then reported, not raised.
    """
    expected = [tuple(row) for row in expected]

    def fail(*reasons):
        return finish(Check(name, False, reasons), verbose, strict)

    if callable(model) and not hasattr(model, "layers"):
        build = model
        with running(build, name) as crash:
            model = build()
        if crash:
            return crash.report(verbose, strict)
    if model is None or not hasattr(model, "layers"):
        return fail(f"expected a Keras model, got {type(model).__name__}: did you forget to return it?")
    layers = list(flat_layers(model))
    kinds = [type(layer).__name__ for layer in layers]
    if len(layers) != len(expected):
        return fail(f"{len(layers)} layers but expected {len(expected)}.",
                    f"yours:    {', '.join(kinds) or 'none'}",
                    f"expected: {', '.join(str(row[0]) for row in expected)}")
    for number, (layer, (kind, shape, params)) in enumerate(zip(layers, expected), 1):
        where = f"layer {number} ({layer.name})"
        if kind is not None and type(layer).__name__ != kind:
            return fail(f"{where} is a {type(layer).__name__} but expected a {kind}.")
        if shape is not None:
            try:
                got_shape = tuple(layer.output.shape)[1:]
            except (AttributeError, ValueError):
                return fail(f"{where} has no output shape yet: start the model with keras.Input(shape=...).")
            if tuple(got_shape) != tuple(shape):
                same_grid = len(got_shape) == len(shape) and tuple(got_shape)[:-1] == tuple(shape)[:-1]
                return fail(f"{where}: output shape {fmt_shape(got_shape)} but expected {fmt_shape(shape)}.",
                            "check its number of filters (or units)." if same_grid else
                            "check its kernel size, strides and padding, and the layers before it.")
        if params is not None and layer.count_params() != params:
            return fail(f"{where}: {layer.count_params():,} parameters but expected {params:,} "
                        f"(its weights: {_layer_formula(layer)}).",
                        "check its number of units or filters, its kernel size and use_bias, "
                        "and how many channels reach it.")
    total = sum(layer.count_params() for layer in layers)
    return finish(Check(name, True, [f"{len(layers)} layers, {total:,} parameters"]), verbose, strict)


# The name this check had first (labs written before the rename call it); the package exports it.
check_model = check_structure
