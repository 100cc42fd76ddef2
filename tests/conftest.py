import os

import pytest

# Quiet, CPU-only and reproducible for every test process.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

pytest_plugins = ["budgets", "book_build", "graded_labs"]


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


# Fixtures that do a lab's expensive work once per worker: a test that uses one for a lab joins
# that lab's xdist group, so that one worker grades (or generates) each lab, once; the other part
# of a whole corpus ("lab1_convolution#2", tests/graded_labs.py) is a group of its own.
_PER_LAB_FIXTURES = {"graded_labs", "generated"}


def pytest_itemcollected(item):
    # Here, not in pytest_collection_modifyitems: -m and xdist's groups read the marks there.
    fixtures = set(getattr(item, "fixturenames", ()))
    for fixture in fixtures:
        for mark in _MARKS_BY_FIXTURE.get(fixture, ()):
            item.add_marker(mark)
    params = getattr(getattr(item, "callspec", None), "params", {})
    lab = params.get("lab") or params.get("corpus")
    if lab and _PER_LAB_FIXTURES & fixtures:
        item.add_marker(pytest.mark.xdist_group(f"lab-{lab}"))
