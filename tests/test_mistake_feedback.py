"""The grader names each typical mistake, as the self-check does.

For every lab and every typical mistake of ``MISTAKES`` (tests/test_selfchecks.py: the solution's
answer cell changed as a student's mistake changes it), the changed answer is graded with the
lab's hidden checks, in this process (tests/judging.py: the probes of a grading seed, the runner's
encoding of what comes back, the grader's static rules and judges), and must lose points with a
reason that names the mistake: the self-check's words, or the grader's own words for it
(``GRADER_WORDS``), never only "wrong values". The mistake is as a student makes it: a reason
that says only which property failed teaches less than the self-check the student skipped.
"""

import pathlib

import numpy as np
import pytest

from course_files import HAS_SOLUTIONS, LABS

pytestmark = [pytest.mark.grading,
              pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no solutions/")]

if HAS_SOLUTIONS:
    import judging
    from test_selfchecks import MISTAKES

    from coursegrader import grade, runner, static

#: a class's grading seed (one seed: each mistake must lose points and be named on it)
SEED = 20261207

#: (lab, step, what the mistake writes) -> the words of the grader's reason where they are not the
#: self-check's (the self-check's words name a variable or a number that the grader says otherwise)
GRADER_WORDS = {
    ("lab5_training", "lr_range_test", "return float(rates[len(losses) - 1])"):
        "past the point where the loss stops falling",
    ("lab3_pooling", "max_pool_by_conv", "return tf.maximum(top, bottom)"): "from convolutions and ReLU only",
    ("lab8_transfer_learning", "truncated_base", "keras.layers.GlobalMaxPooling2D()("): "averaged over the positions",
    ("lab9_visualization", "gradient_ascent", "x.assign(x)"): "must stay in the unit L2 ball",
    ("lab9_visualization", "grad_cam", "cam = ("): "must equal ReLU(CAM)",
    ("lab10_fcn", "dense_to_conv", "kernel.reshape(c, h, w, kernel.shape[1]).transpose(1, 2, 0, 3)"):
        "channels last, as Flatten ordered them",
}

#: steps whose probes train a network or build large models (seconds a seed)
SLOW = {"shift_study", "vgg", "lr_range_test", "fixed_run", "bn_experiment", "linear_probe",
        "budget_curve", "gradient_ascent", "grad_cam", "fgsm", "train_unet", "design_net"}


def _cases():
    for (lab, step), entries in MISTAKES.items():
        for number, (old, new, words) in enumerate(entries):
            marks = [pytest.mark.slow] if step in SLOW else []
            yield pytest.param(lab, step, old, new, GRADER_WORDS.get((lab, step, new), words),
                               id=f"{lab}-{step}-{number}", marks=marks)


def _statically(step, answer: str) -> str | None:
    """The reason for which the grader scores the answer 0 without running it, as grade.py words it."""
    if step.numpy_only and (uses := static.library_uses(answer)):
        return f"uses {', '.join(uses)}: this step must be written with NumPy only"
    if step.forbid and (uses := static.forbidden_uses(answer, step.forbid)):
        return f"uses {', '.join(uses)}: {step.forbid_reason or 'this step may not use them'}"
    return None


def graded(lab: str, grade_id: str, answer: str, folder: pathlib.Path, seed: int = SEED) -> dict:
    """The verdict ({score, max_score, reason}) that grading with `seed` gives `answer` to the step,
    the other steps being the solution's."""
    steps, solution = judging.solution(lab)
    index = next(n for n, s in enumerate(steps) if s.grade_id == grade_id)
    step = steps[index]
    if (reason := _statically(step, answer)) is not None:
        return {"score": 0, "max_score": 1, "reason": reason}
    namespace = _namespace(lab, grade_id, answer, solution)
    probes = grade._settings_kept(step.probes, np.random.default_rng([seed, index]))
    box_seed, results, arrays = grade._box_seed(seed, index), [], {}
    for number, probe in enumerate(probes):
        try:
            with judging._silenced():
                value = grade._settings_kept(judging._answer, step, namespace, probe, box_seed + number)
            (folder / str(number)).mkdir()
            got, returned = judging._returned(value, folder / str(number))
        except Exception as error:  # noqa: BLE001 - reported as the runner reports it
            got, returned = {"kind": "raised", "type": type(error).__name__}, {}
        if "key" in got:
            got = {**got, "key": f"r{number}"}
            arrays[f"r{number}"] = returned.get("r0")
        results.append(got)
    return grade._settings_kept(grade._judge, step, probes, results, arrays, 1.0, [])


def _sources(lab: str) -> dict[str, str]:
    """The solution's answer cells, by grade_id, in order."""
    import json

    from course_files import ROOT

    notebook = json.loads((ROOT / "solutions" / lab / f"{lab}.ipynb").read_text())
    return grade.reference_sources({"cells": [c for c in notebook["cells"] if c["cell_type"] == "code"]})


def _answer(lab: str, grade_id: str) -> str:
    return _sources(lab)[grade_id]


def _namespace(lab: str, grade_id: str, answer: str, solution: dict) -> dict:
    """The solution's cells run again with `answer` in place of the step's: a function of another
    cell that calls the step (a dispatcher) calls the mistaken version, as in the sandbox."""
    namespace = {k: v for k, v in solution.items() if k in ("__name__", "np", "tf", "keras", "get_ipython", "checks")}
    with judging._silenced():
        for name, source in _sources(lab).items():
            source = answer if name == grade_id else source
            grade._settings_kept(exec, compile(source, f"<solution {name}>", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("lab,step,old,new,words", list(_cases()) if HAS_SOLUTIONS else [])
def test_the_grader_names_each_typical_mistake(lab, step, old, new, words, tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "JOB", runner.JOB)
    answer = _answer(lab, step)
    assert old in answer, f"{lab} {step}: the solution no longer holds {old!r}"
    verdict = graded(lab, step, answer.replace(old, new), tmp_path)
    assert verdict["score"] < verdict["max_score"], f"{lab} {step}: {new!r} loses no points"
    assert words in verdict["reason"], f"{lab} {step}: {new!r} is not named: {verdict['reason']}"


def test_the_solution_graded_here_has_full_marks(tmp_path, monkeypatch):
    """The harness above can tell right from wrong: the solution's own answer keeps its points."""
    monkeypatch.setattr(runner, "JOB", runner.JOB)
    verdict = graded("lab1_convolution", "conv2d_single", _answer("lab1_convolution", "conv2d_single"), tmp_path)
    assert verdict["score"] == verdict["max_score"] and verdict["reason"] == "correct", verdict


@pytest.mark.parametrize("lab", LABS if HAS_SOLUTIONS else [])
def test_every_step_has_a_typical_mistake(lab):
    """Each step of each lab is tested on at least one typical mistake, here and in its self-check."""
    from course_files import ROOT

    from coursegrader import spec

    steps = [s.grade_id for s in spec.load(ROOT / "solutions" / lab / "grader.py")]
    assert not [s for s in steps if (lab, s) not in MISTAKES], f"{lab}: steps without a MISTAKES entry"
