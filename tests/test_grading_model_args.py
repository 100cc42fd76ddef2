"""Grading with models in both directions: a Keras model chosen by the grader is a probe's
argument (saved into the job, loaded in the sandbox), and a judge reads how the returned model
was compiled (optimizer, learning rate) from the file, as JSON. Lab 8 grades its steps this way."""


import pytest

from coursegrader import sandbox

from test_grading import _cell, _grade_cells

BOXED, WHY = sandbox.available()

_GRADER = '''
from coursegrader import Probe, Step


def _probes(rng):
    import keras

    base = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="inner")])

    def judge(model):
        rate = ((model.compile_config_read.get("optimizer") or {}).get("config") or {}).get("learning_rate")
        if model.get_layer("inner").trainable:
            return "the base is not frozen"
        if rate is None or abs(rate - 3e-4) > 1e-9:
            return "not compiled at the learning rate it was given"
        return None
    return [Probe("frozen and recompiled", (base, 3e-4), judge=judge)]


STEPS = [Step("freeze", _probes, call="freeze", timeout=120, memory_mb=4096)]
'''

_RIGHT = '''def freeze(model, lr):
    model.layers[0].trainable = False
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
    return model
'''

_NOT_RECOMPILED = '''def freeze(model, lr):
    model.layers[0].trainable = False
    return model
'''


def _grade(tmp_path, grader, grade_id, right, answer):
    """Grade `answer` to a one-step lab whose solution is `right`."""
    cells = [_cell(grade_id, right, solution=True), _cell(f"test_{grade_id}", "", grade=True, points=1)]
    submitted = [dict(cells[0], source=answer), cells[1]]
    return _grade_cells(tmp_path, "lab_models", grader, cells, submitted)["steps"][grade_id]


@pytest.mark.skipif(not BOXED, reason=WHY)
@pytest.mark.parametrize("answer, score", [(_RIGHT, 1), (_NOT_RECOMPILED, 0)])
def test_a_model_is_a_probe_argument_and_its_compile_config_is_judged(tmp_path, answer, score):
    verdict = _grade(tmp_path, _GRADER, "freeze", _RIGHT, answer)
    assert verdict["score"] == score, verdict
    if not score:
        assert "learning rate" in verdict["reason"]


_UNBUILT_GRADER = '''
import numpy as np

from coursegrader import Probe, Step


def _judge(model):
    x = np.arange(12, dtype=np.float32).reshape(1, 2, 3, 2)
    if not np.array_equal(np.asarray(model(x, training=False)), x):
        return "at inference the input must come back unchanged"
    return None


STEPS = [Step("augmenter", lambda rng: [Probe("flip", (3,), judge=_judge)], call="augmenter",
              timeout=120, memory_mb=4096)]
'''

_AUGMENTER = '''def augmenter(seed):
    return keras.Sequential([keras.layers.RandomFlip("horizontal", seed=seed)])
'''


@pytest.mark.skipif(not BOXED, reason=WHY)
def test_a_returned_model_that_was_never_built_comes_back(tmp_path):
    # preprocessing layers have no weights until called: the model is still saved and judged
    verdict = _grade(tmp_path, _UNBUILT_GRADER, "augmenter", _AUGMENTER, _AUGMENTER)
    assert verdict["score"] == 1, verdict
