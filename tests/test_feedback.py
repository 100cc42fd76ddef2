"""Grading feedback names the mistake, and a step's independent parts score on their own.

The grader's judging, on results as the student's process returns them (no sandbox needed):
a wrong answer that matches a probe's typical mistake is told which one, in the self-check's
words, without the probe's values; a step declared in parts scores each part whose probes all
pass, so that one mistake costs once.
"""

import numpy as np
import pytest

from coursegrader import grade
from coursegrader.spec import Probe, Step

X = np.arange(12.0).reshape(4, 3)
RIGHT = (X - X.mean(0)) / np.sqrt(X.var(0) + 1e-5)
UNBIASED = (X - X.mean(0)) / np.sqrt(X.var(0, ddof=1) + 1e-5)
WORDS = "the variance divides by m - 1 (unbiased); Keras divides by m"


def _probe(part="", mistakes=None, expect=RIGHT):
    return Probe("random (N, D) inputs", (X,), expect=expect, rtol=1e-6, atol=1e-8,
                 mistakes={WORDS: UNBIASED} if mistakes is None else mistakes, part=part)


def _judged(step, probes, values):
    results = [{"kind": "array", "key": f"r{n}"} for n in range(len(values))]
    arrays = {f"r{n}": value for n, value in enumerate(values)}
    return grade._judge(step, probes, results, arrays, 3.0, [])


STEP = Step("batchnorm_forward", lambda rng: [], call="batchnorm_forward")


def test_a_wrong_answer_that_matches_a_typical_mistake_is_told_which():
    verdict = _judged(STEP, [_probe(), _probe()], [UNBIASED, UNBIASED])
    assert verdict["score"] == 0
    assert verdict["reason"] == (f"random (N, D) inputs: matches a typical mistake: {WORDS} "
                                 "(2 of 2 hidden cases failed)")
    assert str(UNBIASED[0, 0])[:5] not in verdict["reason"]   # words, never the values


def test_a_wrong_answer_that_matches_no_mistake_says_which_property_failed():
    verdict = _judged(STEP, [_probe()], [RIGHT + 1])
    assert verdict["reason"] == "random (N, D) inputs: wrong values (1 of 1 hidden cases failed)"


def test_a_right_answer_is_right_even_where_a_mistake_gives_the_same_numbers():
    verdict = _judged(STEP, [_probe(mistakes={WORDS: RIGHT})], [RIGHT])
    assert verdict["score"] == 3 and verdict["reason"] == "correct"


def test_a_judged_probe_names_the_mistake_too():
    probe = _probe()
    probe.judge = lambda value: None if np.allclose(value, RIGHT) else "wrong values"
    verdict = _judged(STEP, [probe], [UNBIASED])
    assert f"matches a typical mistake: {WORDS}" in verdict["reason"]


RULE = "each upstream value goes whole to the first maximum of its window"


def test_a_wrong_answer_that_matches_no_mistake_is_told_the_probes_rule():
    verdict = _judged(STEP, [Probe("ties: equal values in a window", (X,), expect=RIGHT, hint=RULE)], [RIGHT + 1])
    assert verdict["reason"] == f"ties: equal values in a window: wrong values; {RULE} (1 of 1 hidden cases failed)"


def test_the_rule_follows_a_wrong_shape_a_judge_and_a_result_that_is_no_number_but_not_a_crash():
    probe = Probe("ties", (X,), expect=RIGHT, hint=RULE)
    assert grade._check(probe, {"kind": "array", "key": "r0"}, {"r0": RIGHT[:2]}) == f"ties: wrong shape; {RULE}"
    assert grade._check(probe, {"kind": "float", "value": "nan"}, {}) == f"ties: not a numeric result; {RULE}"
    assert grade._check(probe, {"kind": "raised", "type": "KeyError"}, {}) == "ties: your code raised KeyError"
    judged = Probe("ties", (X,), judge=lambda value: "the maps differ", hint=RULE)
    assert grade._check(judged, {"kind": "array", "key": "r0"}, {"r0": RIGHT}) == f"ties: the maps differ; {RULE}"


def test_a_typical_mistake_is_named_before_the_rule_and_on_a_wrong_shape_too():
    keepdims = X.mean(0, keepdims=True)
    probe = Probe("random inputs", (X,), expect=X.mean(0), hint=RULE, mistakes={"keepdims=True": keepdims})
    assert grade._check(probe, {"kind": "array", "key": "r0"}, {"r0": keepdims}) == \
        "random inputs: matches a typical mistake: keepdims=True"


def test_a_judged_number_is_told_its_mistake():
    probe = Probe("a small slope", (0.1,), judge=lambda gain: None if gain == 1.0 else "the signal shrinks",
                  mistakes={"forgets the square": 0.5})
    assert grade._check(probe, {"kind": "float", "value": 0.5}, {}) == \
        "a small slope: matches a typical mistake: forgets the square"


def test_a_quiz_names_its_wrong_answers_never_their_values():
    quiz = Step("params_quiz", lambda rng: [], names=("answer_a", "answer_b", "answer_c"))
    probes = [Probe(name, name=name, expect=value, rtol=0, atol=0, dtype=False)
              for name, value in (("answer_a", 7), ("answer_b", 30730), ("answer_c", 40.4))]
    results = [{"kind": "int", "value": 7}, {"kind": "int", "value": 30720}, {"kind": "float", "value": 40.4}]
    verdict = grade._judge(quiz, probes, results, {}, 2.0, [])
    assert verdict["score"] == 0 and verdict["reason"] == "1 of 3 answers are wrong: answer_b"
    assert "30730" not in verdict["reason"] and "30720" not in verdict["reason"]


PARTS = Step("batchnorm_forward", lambda rng: [], call="batchnorm_forward",
             parts={"training mode": 0.5, "inference mode": 0.5})


def test_a_mistake_in_one_part_costs_only_that_part():
    probes = [_probe("training mode"), _probe("training mode"), _probe("inference mode")]
    verdict = _judged(PARTS, probes, [UNBIASED, UNBIASED, RIGHT])
    assert verdict["score"] == 1.5 and verdict["max_score"] == 3
    assert verdict["reason"] == (f"training mode: random (N, D) inputs: matches a typical mistake: {WORDS} "
                                 "(2 of 2 hidden cases failed); inference mode: correct")


def test_every_part_right_is_full_marks_and_every_part_wrong_is_zero():
    probes = [_probe("training mode"), _probe("inference mode")]
    assert _judged(PARTS, probes, [RIGHT, RIGHT])["score"] == 3
    assert _judged(PARTS, probes, [RIGHT + 1, RIGHT + 1])["score"] == 0


def test_parts_must_share_all_the_points():
    with pytest.raises(ValueError, match="sum to 0.9, not 1"):
        Step("s", lambda rng: [], call="s", parts={"a": 0.5, "b": 0.4})


def test_a_probe_of_no_declared_part_judges_the_whole_step():
    probes = [_probe("training mode"), _probe("inference mode"), _probe("")]
    verdict = _judged(PARTS, probes, [RIGHT, RIGHT, RIGHT + 1])
    assert verdict["score"] == 0 and verdict["reason"].startswith("random (N, D) inputs: wrong values")


# --- lab 6 through the README's grading command ------------------------------------------------

def _lab6_with_forward(source: str, folder):
    import json

    from course_files import ROOT

    from coursegrader import intake

    lab = "lab6_batch_norm"
    solution = json.loads((ROOT / "solutions" / lab / f"{lab}.ipynb").read_text())
    answer = next(grade._REGION.sub("", intake.cell_source(c)) for c in solution["cells"]
                  if intake.cell_meta(c).get("grade_id") == "batchnorm_forward")
    assert "var = x.var(axis=axes)" in answer, "the solution changed: update this mistake"
    release = json.loads((ROOT / "labs" / lab / f"{lab}.ipynb").read_text())
    for cell in release["cells"]:
        if intake.cell_meta(cell).get("grade_id") == "batchnorm_forward":
            cell["source"] = answer.replace("var = x.var(axis=axes)", source)
    path = folder / "unbiased.ipynb"
    path.write_text(json.dumps(release))
    return lab, path


def test_lab6_a_wrong_training_mode_scores_only_the_inference_part_and_names_the_mistake(tmp_path):
    from coursegrader import cli, sandbox

    if not sandbox.available()[0]:
        pytest.skip("grading needs its sandbox")
    lab, path = _lab6_with_forward("var = x.var(axis=axes, ddof=1)", tmp_path)
    report = tmp_path / "report.json"
    cli.main(["grade", lab, str(path), "--seed", "20261207", "--report", str(report)])
    import json

    step = json.loads(report.read_text())["unbiased"]["steps"]["batchnorm_forward"]
    assert step["score"] == 1 and step["max_score"] == 3, step
    assert step["reason"].startswith("training mode: ") and step["reason"].endswith("; inference mode: correct"), step
    assert "matches a typical mistake: the variance divides by m - 1" in step["reason"], step
