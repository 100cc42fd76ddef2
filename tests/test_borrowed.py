"""The grader refuses borrowed answers: coursekit, the students' package, answers no lab step.

Every public function of the installed coursekit (found by walking its modules, not from a
list) whose signature fits a graded step is tried as that step's answer in two ways:
- wrapped (the answer calls it): the step scores 0, with the reason that names it;
- pasted (its body, renamed, as the answer, with its module's imports): it must score no
  points on the probes of a fixed seed, judged by the grader's static rules and then its own
  judges, in this process (coursekit is the course's own code: tests/judging.py). A body that
  scores is a lab's answer key shipped to every student.
The verdicts come from the grader's own functions (the rule is static: no sandbox is
needed to refuse a wrap); one notebook per lab also goes through the command line.
"""

from __future__ import annotations

import ast
import copy
import inspect
import json
import textwrap

import pytest

from borrowing import Lab, _binds, helpers_used, scores
from course_files import LABS, ROOT

from coursegrader import cli, grade, intake

SEED = 20261207
pytestmark = pytest.mark.grading


def _function_steps(lab: Lab):
    return [s for s in lab.steps if s.call]


def wrap(f, function, names) -> str:
    return (f"from {f.__module__} import {f.__name__} as _borrowed\n\n"
            f"def {function}({', '.join(names)}):\n    return _borrowed({', '.join(names)})\n")


@pytest.mark.parametrize("lab", LABS)
def test_every_coursekit_function_wrapped_as_an_answer_scores_zero_with_its_reason(lab):
    L, scored, tried = Lab(lab), [], 0
    for step in _function_steps(L):
        function, names, required = L.parameters(step)
        for f in L.fitting(step):
            args = names if _binds(f, names) else names[:required]
            verdict = L.prepare(step, wrap(f, function, args))
            tried += 1
            reason = f"calls {f.__module__}.{f.__name__}: this step asks you to write it"
            if verdict is None or verdict["score"] or reason not in verdict["reason"]:
                scored.append(f"{step.grade_id} <- {f.__module__}.{f.__name__}: "
                              f"{'would run in the sandbox' if verdict is None else verdict}")
    assert tried, f"{lab}: no coursekit function fits any step: the signature test is broken"
    assert not scored, f"{len(scored)} of {tried} borrowed answers were not refused:\n" + "\n".join(scored[:20])


def test_a_borrowed_answer_is_refused_through_the_command_line(tmp_path, capsys):
    """Lab 2 with two answers that call coursekit (5/15 before the rule)."""
    lab = "lab2_padding_stride"
    nb = copy.deepcopy(json.loads((ROOT / "labs" / lab / f"{lab}.ipynb").read_text()))
    answers = {"same_padding": "from coursekit.arith import conv_output_size\n\n"
                               "def same_padding(n, k, stride=1, dilation=1):\n"
                               "    out = conv_output_size(n, k, stride, 'same', dilation)\n"
                               "    total = max((out - 1) * stride + (k - 1) * dilation + 1 - n, 0)\n"
                               "    return total // 2, total - total // 2\n",
               "receptive_field": "import coursekit\n\ndef receptive_field(layers):\n"
                                  "    return coursekit.arith.receptive_field(layers)\n"}
    for cell in nb["cells"]:
        if intake.cell_meta(cell).get("grade_id") in answers:
            cell["source"] = answers[intake.cell_meta(cell)["grade_id"]]
    (tmp_path / "borrowed.ipynb").write_text(json.dumps(nb))
    report = tmp_path / "report.json"
    cli.main(["grade", lab, str(tmp_path / "borrowed.ipynb"), "--seed", str(SEED), "--report", str(report)])
    result = json.loads(report.read_text())["borrowed"]
    assert result["score"] == 0, result["steps"]
    assert result["steps"]["same_padding"]["reason"] == \
        "calls coursekit.arith.conv_output_size: this step asks you to write it"
    assert result["steps"]["receptive_field"]["reason"] == \
        "calls coursekit.arith.receptive_field: this step asks you to write it"
    out = capsys.readouterr().out
    assert out.count("calls coursekit.arith.conv_output_size: this step asks you to write it") == 1, out
    # the student is named by the file, and the steps' points form one column whatever the names' lengths
    assert out.startswith("borrowed ("), out
    rows = [line for line in out.splitlines() if line.startswith("  ") and " / " in line]
    assert len(rows) == len(result["steps"]) and len({row.index(" / ") for row in rows}) == 1, out


@pytest.mark.parametrize("answer, reason", [
    # the student's own value named like a given module is not coursekit
    ("def same_padding(n, k, stride=1, dilation=1):\n    data = n\n    return (data - k) // stride, 0\n",
     None),
    # a self-check run at the top of the answer cell does nothing in grading: not borrowing
    ("def same_padding(n, k, stride=1, dilation=1):\n    return 0, 0\nchecks.check_same_padding(same_padding)\n",
     None),
    # through a helper of another cell, imported there
    ("def same_padding(n, k, stride=1, dilation=1):\n    return _mine(n, k, stride, 'same', dilation), 0\n",
     "calls coursekit.arith.conv_output_size: this step asks you to write it"),
    # the given `checks`, inside the function
    ("def same_padding(n, k, stride=1, dilation=1):\n    return checks.output_size_reference(n, k)\n",
     "calls coursekit.checks.output_size_reference: this step asks you to write it"),
    ("def same_padding(*a):\n    return __import__('coursekit.arith').arith.conv_output_size(*a)\n",
     "imports coursekit.arith by name: this step asks you to write it"),
])
def test_the_rule_reads_helpers_given_names_and_names_by_string(answer, reason):
    L = Lab("lab2_padding_stride")
    step = next(s for s in L.steps if s.grade_id == "same_padding")
    helper = ("from coursekit.arith import conv_output_size\n\n"
              "def _mine(n, k, s, p, d):\n    return conv_output_size(n, k, s, p, d)\n")
    taken = intake.Intake(answers={s.grade_id: "" for s in L.steps} | {"same_padding": answer}, extra=[helper])
    verdict, _, _ = grade._prepare_step(step, {}, taken, L.given, L.references, 3.0, 0, ())
    if reason is None:
        assert verdict is None, verdict
    else:
        assert verdict is not None and verdict["score"] == 0 and reason in verdict["reason"], verdict


def test_a_step_may_use_what_its_grader_allows_and_nothing_else():
    L = Lab("lab5_training")
    step = next(s for s in L.steps if s.grade_id == "fixed_run")
    assert step.allow == ("coursekit.train",)
    assert L.prepare(step, L.references[step.grade_id]) is None   # the solution calls coursekit.train.fit
    verdict = L.prepare(step, L.references[step.grade_id].replace(
        "def fixed_run(", "from coursekit import arith\n\ndef fixed_run(", 1).replace(
        "    return model\n", "    arith.receptive_field(model, -1)\n    return model\n", 1))
    assert verdict["score"] == 0 and verdict["reason"] == (
        "calls coursekit.arith.receptive_field: this step asks you to write it "
        "(of coursekit it may use coursekit.train only)"), verdict


# --- a coursekit function's body, pasted as the answer, scores nothing --------------------------

def pasted(f, function: str) -> str | None:
    """f's source renamed to the step's function, after its module's own imports (not coursekit's,
    which the rule refuses anyway) and the module's private helpers and constants that it uses:
    what a student copying the installed package would write."""
    try:
        source = textwrap.dedent(inspect.getsource(f))
        module = ast.parse(inspect.getsource(inspect.getmodule(f)))
    except (OSError, TypeError):
        return None
    imports = [ast.unparse(n) for n in module.body if isinstance(n, (ast.Import, ast.ImportFrom))
               and not (isinstance(n, ast.ImportFrom) and (n.level or (n.module or "").startswith("coursekit")))
               and not (isinstance(n, ast.Import) and any(a.name.startswith("coursekit") for a in n.names))]
    tree = ast.parse(source)
    tree.body[0].name = function
    tree.body[0].decorator_list = []
    return "\n".join(imports + helpers_used(module, tree) + [ast.unparse(tree)]) + "\n"


# Known and open, lab -> {"<grade_id> <- the body of <function>"}: the test fails on any other
# answer that coursekit ships, and when one of these stops scoring (update the list). Lab 1's
# count_params, answered by coursekit.arith.conv_params, became the count of a stack of layers;
# lab 2's output_size, answered by conv_output_size, became layer_cost (parameters and
# multiply-adds of conv, grouped, depthwise, separable layers).
OPEN: dict[str, set[str]] = {}


@pytest.mark.slow   # ~50 bodies a step, each judged on a seed's probes in process: a minute a lab
@pytest.mark.parametrize("lab", LABS)
def test_no_coursekit_function_body_answers_a_step(lab, tmp_path):
    L, scored, tried = Lab(lab), [], 0
    for index, step in enumerate(L.steps):
        if not step.call:
            continue
        function = L.parameters(step)[0]
        for f in L.fitting(step):
            answer = pasted(f, function)
            if answer is None:
                continue
            tried += 1
            if scores(L, index, step, answer, tmp_path):
                scored.append(f"{step.grade_id} <- the body of {f.__module__}.{f.__name__}")
    assert tried, f"{lab}: no coursekit function fits any step: the signature test is broken"
    assert set(scored) == OPEN.get(lab, set()), (
        "coursekit ships these answers (their bodies, pasted, score points):\n" + "\n".join(scored)
        + f"\nknown and open: {sorted(OPEN.get(lab, ()))}")


# --- the self-check says so before the notebook is handed in ------------------------------------

def _notebook_functions(source: str) -> dict:
    """Run `source` as a notebook cell runs it: in __main__, its source readable by inspect."""
    import linecache

    filename = f"<cell {abs(hash(source))}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"__name__": "__main__"}
    exec(compile(source, filename, "exec"), namespace)  # noqa: S102 - the test's own code
    return namespace


def test_the_self_check_fails_a_borrowed_answer_and_says_why():
    from coursekit import checks

    ns = _notebook_functions(
        "import coursekit\n\n"
        "def _mine(n, k, stride, dilation):\n"
        "    return coursekit.arith.conv_output_size(n, k, stride, 'same', dilation)\n\n"
        "def same_padding(n, k, stride=1, dilation=1):\n"
        "    total = max((_mine(n, k, stride, dilation) - 1) * stride + (k - 1) * dilation + 1 - n, 0)\n"
        "    return total // 2, total - total // 2\n")
    result = checks.check_same_padding(ns["same_padding"], verbose=False)
    assert not result.passed
    assert result.lines[0] == ("same_padding calls coursekit.arith.conv_output_size: grading gives this step 0, "
                               "it asks you to write that yourself"), result.lines
    assert sum("coursekit.arith" in line for line in result.lines) == 1, "said once"
    with pytest.raises(AssertionError, match="calls coursekit.arith.conv_output_size"):
        checks.check_same_padding(ns["same_padding"], verbose=False, strict=True)


def test_the_self_check_knows_what_each_step_allows():
    from coursekit.checks import _borrowed

    for lab in LABS:
        L = Lab(lab)
        for step in L.steps:
            assert _borrowed.ALLOWED.get(step.grade_id, ()) == grade._box_allow(step, L.steps), \
                f"{lab} {step.grade_id}: coursekit.checks._borrowed.ALLOWED and the grader disagree"
    L = Lab("lab5_training")
    ns = _notebook_functions("import keras\n" + L.references["fixed_run"])
    fn = ns["fixed_run"]
    assert _borrowed.borrowed(fn, _borrowed.ALLOWED["fixed_run"]) == []
    assert _borrowed.borrowed(fn) == ["calls coursekit.train.fit"]
