"""Judging answers in this process: the probes that grading with a seed draws, the answer's
return values encoded as the runner encodes them, and the grader's own judges. No sandbox, so a
seed costs milliseconds: for the course's own code only (the solution, the chapters), never a
student's."""

from __future__ import annotations

import contextlib
import functools
import io
import json
import pathlib

import numpy as np

from course_files import ROOT
from coursegrader import grade, runner, spec


def _silenced():
    """The answers' prints go nowhere: a test reads return values only."""
    return contextlib.redirect_stdout(io.StringIO())


@functools.cache
def solution(lab: str) -> tuple[list, dict]:
    """(the lab's steps, a namespace in which the solution's answer cells ran, in order)."""
    import keras
    import tensorflow as tf

    folder = ROOT / "solutions" / lab
    notebook = json.loads((folder / f"{lab}.ipynb").read_text())
    code = {"cells": [c for c in notebook["cells"] if c["cell_type"] == "code"]}   # not written answers
    sources = grade.reference_sources(code)
    namespace = {"__name__": "__main__", "np": np, "tf": tf, "keras": keras,
                 "get_ipython": runner._Anything(), "checks": runner._Anything()}
    with _silenced():
        for grade_id, source in sources.items():
            grade._settings_kept(exec, compile(source, f"<solution {grade_id}>", "exec"), namespace)
    return spec.load(folder / "grader.py"), namespace


def _returned(value, folder: pathlib.Path):
    """(result, arrays) as the grader reads what the student's process returned."""
    arrays = {}
    runner.JOB = str(folder)
    got = runner._encode(value, "r0", arrays)
    if got.get("kind") == "model":
        whole = folder / "r0.keras"
        arrays["r0"] = grade._load_model(whole) if whole.exists() else grade._load_architecture(folder / "r0.json")
    return got, arrays


def _answer(step, namespace, probe, seed):
    """What the namespace's answer returns for a probe."""
    runner._seed(seed, not step.numpy_only)
    if step.call is None:
        return namespace[probe.name]
    args = [_fresh(a) for a in probe.args]
    kwargs = {k: _fresh(v) for k, v in probe.kwargs.items()}
    return namespace[step.call](*args, **kwargs)


def _fresh(value):
    """The answer's own copy of a probe's argument (it may change what it is given), as the
    student's process gets one; a Keras model is shared, and put back by `Drawn.restore`."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if type(value) in (list, tuple):
        return type(value)(_fresh(v) for v in value)
    if type(value) is dict:
        return {k: _fresh(v) for k, v in value.items()}
    return value


def drawn(step, index, seed) -> list:
    """The probes, with their expected values, that grading with `seed` draws for the step."""
    with _silenced():
        return grade._settings_kept(step.probes, np.random.default_rng([seed, index]))


class Drawn:
    """A step's probes drawn once and given to answer after answer (drawing them builds reference
    models in labs 4 and 8): the Keras models among their arguments get their weights and
    trainable flags back after each answer, as each student's process loads its own copy."""

    def __init__(self, step, index, seed):
        self.probes = drawn(step, index, seed)
        models = {id(a): a for p in self.probes for a in [*p.args, *p.kwargs.values()]
                  if hasattr(a, "get_weights") and hasattr(a, "layers")}
        self._kept = [(m, m.get_weights(), [layer.trainable for layer in m.layers], m.trainable)
                      for m in models.values()]

    def restore(self):
        for model, weights, layers, trainable in self._kept:
            model.trainable = trainable
            for layer, flag in zip(model.layers, layers):
                layer.trainable = flag
            model.set_weights(weights)


def judge(step, index, namespace, seed, folder: pathlib.Path, first: bool = False,
          probes: Drawn | None = None) -> list[str]:
    """The reasons for which grading with `seed` marks the namespace's answers to a step down
    (none: full marks for the step); only the first reason when `first` (no points either way).
    `probes`: the step's probes for `seed`, drawn once for several answers (else drawn now)."""
    if probes is None:
        probes = drawn(step, index, seed)
    else:
        probes.restore()
        probes = probes.probes
    box_seed, reasons = grade._box_seed(seed, index), []
    for number, probe in enumerate(probes):
        try:
            with _silenced():
                value = grade._settings_kept(_answer, step, namespace, probe, box_seed + number)
            got, arrays = _returned(value, folder)
        except Exception as error:  # noqa: BLE001 - reported as the runner reports it
            got, arrays = {"kind": "raised", "type": type(error).__name__}, {}
        reason = grade._settings_kept(grade._check, probe, got, arrays)
        if reason is not None:
            reasons.append(reason)
            if first:
                break
    return reasons
