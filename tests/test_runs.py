"""coursekit.runs: recorded training runs, saved, checked and loaded back."""

import json

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from coursekit import runs  # noqa: E402


def _tiny(units=3):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(units), keras.layers.Dense(2)])


def test_a_saved_run_loads_back_exactly(tmp_path):
    model = _tiny()
    history = {"loss": [1.5, 0.75], "val_loss": [1.625, 1.0]}
    runs.save("tiny", model, history, 12.34, "CPU, 2 cores", tmp_path)
    run = runs.load("tiny", tmp_path)
    assert run.history == history
    assert (run.seconds, run.device) == (12.3, "CPU, 2 cores")
    fresh = run.apply(_tiny())
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert set(run.versions) == {"tensorflow", "keras"}


def test_a_run_refuses_another_architecture(tmp_path):
    runs.save("tiny", _tiny(3), {"loss": [1.0]}, 1.0, "CPU", tmp_path)
    with pytest.raises(ValueError, match="does not fit this model"):
        runs.load("tiny", tmp_path).apply(_tiny(5))


def test_altered_weights_and_missing_runs_say_what_to_do(tmp_path):
    path = runs.save("tiny", _tiny(), {"loss": [1.0]}, 1.0, "CPU", tmp_path)
    np.savez_compressed(path, *[w + 1 for w in _tiny().get_weights()])
    with pytest.raises(ValueError, match="make record-runs"):
        runs.load("tiny", tmp_path)
    with pytest.raises(FileNotFoundError, match="make record-runs"):
        runs.load("nothing", tmp_path)


def test_the_shipped_seed_network_run_is_the_notes_network_for_two_epochs():
    """The run chapter 5 loads on a CPU: the seed network's 1,199,882 parameters (conv32, conv64,
    dense 128, dense 10), 12 short epochs of history, and learned weights (not the initial ones)."""
    run = runs.load("mnist_cnn")
    shapes = [w.shape for w in run.weights]
    assert shapes == [(3, 3, 1, 32), (32,), (3, 3, 32, 64), (64,), (9216, 128), (128,), (128, 10), (10,)]
    assert sum(w.size for w in run.weights) == 1_199_882
    assert len(run.history["val_accuracy"]) == 12
    assert run.history["val_accuracy"][-1] > 0.98
    assert np.all(run.weights[1] != 0), "trained biases are not all zero, as initial ones are"
    meta = json.loads((runs.RECORDED / "mnist_cnn.json").read_text())
    assert meta["seconds"] > 0 and meta["device"]
