import os

import pytest

# Quiet, CPU-only and reproducible for every test process.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

pytest_plugins = ["budgets", "book_build"]


@pytest.fixture
def mixed_precision():
    """Build the test's models under mixed_float16, then restore float32 for the others."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


# Markers follow from what a test needs, so that a new test is marked without anyone remembering.
_MARKS_BY_FIXTURE = {
    "book": ("book",), "executed_chapters": ("book",),
    "chromium": ("browser", "book"),
    "corpus": ("grading", "slow"), "graded_labs": ("grading", "slow"),
    "postgres": ("grading", "slow"),
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            for mark in _MARKS_BY_FIXTURE.get(fixture, ()):
                item.add_marker(mark)
