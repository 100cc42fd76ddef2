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
