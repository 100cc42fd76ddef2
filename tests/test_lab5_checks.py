"""coursekit.checks for lab 5 (training a convnet), against known answers.

The layer tables must reproduce the parameter counts that the lecture notes print (Keras
summaries: 1,199,882 for the MNIST network; 2,687, 56,867 and 1,741,571 for makeModel with 1,
16 and 128 filters) and Keras' own counts; each self-check must pass a right solution and name
the usual mistake in a wrong one. Solutions are written here, independently of the lab.
"""

import pytest

from coursekit import checks

keras = pytest.importorskip("keras")


def seed_cnn(padding="valid", rate=0.25):
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, padding=padding, activation="relu"),
        keras.layers.Conv2D(64, 3, padding=padding, activation="relu"),
        keras.layers.MaxPooling2D(2), keras.layers.Dropout(rate), keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(0.5),
        keras.layers.Dense(10, activation="softmax"),
    ])


def capacity(filters, input_shape=(28, 28, 1), classes=10, pool=2):
    model = keras.Sequential([keras.Input(input_shape)])
    for width in (filters, 2 * filters, 4 * filters):
        model.add(keras.layers.Conv2D(width, 3, padding="same", activation="relu"))
        model.add(keras.layers.MaxPooling2D(pool))
    for layer in (keras.layers.AveragePooling2D(2), keras.layers.Flatten(),
                  keras.layers.Dense(128, activation="relu"), keras.layers.Dropout(0.5),
                  keras.layers.Dense(classes, activation="softmax")):
        model.add(layer)
    return model


def augmenter(seed, flip=False, shift=0.1, rotation=0.04, zoom=0.1, seeded=True, fill="constant",
              mode="horizontal"):
    s = {"seed": seed} if seeded else {}
    layers = [keras.layers.RandomFlip(mode, **s)] if flip else []
    if shift:
        layers.append(keras.layers.RandomTranslation(shift, shift, fill_mode=fill, **s))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, fill_mode=fill, **s))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, fill_mode=fill, **s))
    return keras.Sequential(layers)


def test_seed_table_matches_keras_and_the_notes():
    model = seed_cnn()
    assert sum(row[2] for row in checks.SEED_CNN_LAYERS) == 1_199_882 == model.count_params()
    assert checks.check_model("seed", model, checks.SEED_CNN_LAYERS, verbose=False)


@pytest.mark.parametrize("filters, input_shape, classes, printed", [
    (1, (32, 32, 3), 3, 2_687), (16, (32, 32, 3), 3, 56_867), (128, (32, 32, 3), 3, 1_741_571),
    (5, (28, 28, 1), 10, None)])
def test_capacity_table_matches_keras_and_the_notes(filters, input_shape, classes, printed):
    rows = checks.capacity_net_layers(filters, input_shape, classes)
    model = capacity(filters, input_shape, classes)
    assert sum(row[2] for row in rows) == model.count_params()
    assert printed is None or model.count_params() == printed
    assert checks.check_model("capacity", model, rows, verbose=False)


def test_seed_check_passes_the_right_network_and_names_mistakes():
    assert checks.check_seed_cnn(seed_cnn, verbose=False)
    padded = checks.check_seed_cnn(lambda: seed_cnn(padding="same"), verbose=False)
    assert not padded and "output shape" in padded.lines[0]
    wrong_rate = checks.check_seed_cnn(lambda: seed_cnn(rate=0.5), verbose=False)
    assert not wrong_rate and "dropout" in wrong_rate.lines[0]


def test_capacity_check_names_a_wrong_pooling():
    assert checks.check_capacity_net(capacity, verbose=False)
    wrong = checks.check_capacity_net(lambda f, s=(28, 28, 1), c=10: capacity(f, s, c, pool=1), verbose=False)
    assert not wrong


def test_augmenter_check_passes_the_right_one_and_names_mistakes():
    assert checks.check_augmenter(augmenter, verbose=False)
    unseeded = checks.check_augmenter(lambda seed, **kw: augmenter(seed, seeded=False, **kw), verbose=False)
    assert not unseeded and "seed" in unseeded.lines[0]
    upside_down = checks.check_augmenter(lambda seed, **kw: augmenter(seed, mode="vertical", **kw), verbose=False)
    assert not upside_down and "mirrored left-right" in upside_down.lines[0]


def test_the_quiz_runs_show_the_answers_that_lab5_marks_against():
    # Lab 5 marks its quiz against the design of QUIZ_RUNS (run 1 underfits, run 2 overfits):
    # trained here on other digits and seeds, each run's curves must say the same.
    import importlib.util

    import numpy as np

    from coursekit import data
    from course_files import ROOT

    spec = importlib.util.spec_from_file_location("lab5_grader", ROOT / "solutions" / "lab5_training" / "grader.py")
    grader = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(grader)
    (x, y), (x_test, y_test) = data.load("mnist")
    for seed, start in [(7, 31_000), (1234, 52_000)]:
        curves = checks.quiz_curves(capacity, x[start:start + 1000], y[start:start + 1000],
                                    x_test[start // 10:start // 10 + 500], y_test[start // 10:start // 10 + 500],
                                    seed=seed)
        final = {run: (np.mean(h["accuracy"][-3:]), np.mean(h["val_accuracy"][-3:])) for run, h in curves.items()}
        read = {"underfitting_run": min(final, key=lambda run: final[run][0]),          # fits not even its data
                "overfitting_run": max(final, key=lambda run: final[run][0] - final[run][1])}  # the widest gap
        assert read == grader.QUIZ_ANSWERS, (seed, final)
