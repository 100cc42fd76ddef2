"""Recorded training runs: a run too long for a page on a CPU, trained once and shipped.

A chapter that trains a network for real on a GPU (or with ``COURSE_FULL_RUN=1``) can record
that run: its trained weights, its history, how long it took and on what device. On a CPU the
same page then loads the recorded weights and tests them live, so the book shows the real
network and its real curves within its time budget. ``make record-runs`` re-records every run
by executing its chapter with ``COURSE_FULL_RUN=1 COURSE_RECORD_RUNS=src/coursekit/recorded``::

    run = runs.load("mnist_cnn")
    model = run.apply(mnist_cnn())        # the recorded weights, checked against the model
    run.history["val_accuracy"], run.seconds, run.device
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import time

import numpy as np

__all__ = ["Run", "save", "load", "record_to"]

RECORDED = pathlib.Path(__file__).resolve().parent / "recorded"


@dataclasses.dataclass
class Run:
    """A recorded run (`load` gives one).

    Parameters
    ----------
    name : str
        The name it was saved under, e.g. ``"mnist_cnn"``.
    weights : list of numpy.ndarray
        The trained weights, in ``model.get_weights()`` order.
    history : dict
        Keras' ``History.history``: metric name -> one value per epoch.
    seconds : float
        How long the training took, as measured around ``fit``.
    device : str
        What it ran on, as ``coursekit.train.describe_device`` says it.
    versions : dict
        TensorFlow's and Keras' versions.
    recorded : str
        When, in UTC.
    """

    name: str
    weights: list[np.ndarray]
    history: dict[str, list[float]]
    seconds: float        # the training, as `fit` took it
    device: str           # e.g. "CPU, 2 cores, 23.4 GiB RAM" or "NVIDIA H200, 139.8 GiB"
    versions: dict[str, str]
    recorded: str         # UTC date and time

    def apply(self, model):
        """Load the recorded weights into `model`, which must be the recorded architecture (a
        ValueError says so otherwise), and return it."""
        current = model.get_weights()
        shapes = [w.shape for w in self.weights]
        if [w.shape for w in current] != shapes:
            raise ValueError(f"recorded run {self.name!r} does not fit this model: its weights have shapes "
                             f"{shapes}, the model's {[w.shape for w in current]}. Build the network the "
                             "chapter records, layer for layer, before applying the run.")
        model.set_weights(self.weights)
        return model


def _paths(name: str, directory) -> tuple[pathlib.Path, pathlib.Path]:
    folder = pathlib.Path(directory) if directory else RECORDED
    return folder / f"{name}.npz", folder / f"{name}.json"


def save(name: str, model, history: dict, seconds: float, device: str, directory=None) -> pathlib.Path:
    """Record a finished run of `model` (weights, history, time, device) as `name`."""
    import keras
    import tensorflow as tf

    weights_path, meta_path = _paths(name, directory)
    weights_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(weights_path, *model.get_weights())
    meta = {"history": {k: [float(v) for v in values] for k, values in history.items()},
            "seconds": round(float(seconds), 1), "device": device,
            "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
            "recorded": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "sha256": hashlib.sha256(weights_path.read_bytes()).hexdigest()}
    meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return weights_path


def load(name: str, directory=None) -> Run:
    """The recorded run `name`; a clear error if it is missing or its weights were altered."""
    weights_path, meta_path = _paths(name, directory)
    if not (weights_path.is_file() and meta_path.is_file()):
        raise FileNotFoundError(f"no recorded run {name!r} in {weights_path.parent}: record it with "
                                "`make record-runs` (or train it on a GPU, where the page trains it live)")
    meta = json.loads(meta_path.read_text())
    if hashlib.sha256(weights_path.read_bytes()).hexdigest() != meta["sha256"]:
        raise ValueError(f"{weights_path} is not the file recorded with {meta_path.name} (checksum differs): "
                         "record the run again with `make record-runs`")
    with np.load(weights_path, allow_pickle=False) as arrays:
        weights = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    return Run(name, weights, meta["history"], meta["seconds"], meta["device"], meta["versions"],
               meta["recorded"])


def record_to() -> str | None:
    """Where a chapter executed by ``make record-runs`` saves its runs (None: do not record)."""
    return os.environ.get("COURSE_RECORD_RUNS") or None
