"""The grader refuses borrowed answers: coursekit, the students' package, answers no lab step.

Every public function of the installed coursekit (found by walking its modules, not from a
list) whose signature fits a graded step is tried as that step's answer in two ways:
- wrapped (the answer calls it): the step scores 0, with the reason that names it;
- pasted (its body, renamed, as the answer, with its module's imports): it must score no
  points, graded as grading does (a sandbox session, a process per body, 5 s each) on the
  probes of a fixed seed. A body that scores is a lab's answer key shipped to every student.
The verdicts come from the grader's own functions (the rule is static: no sandbox is
needed to refuse a wrap); one notebook per lab also goes through the command line.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import inspect
import json
import pathlib
import shutil
import tempfile
import textwrap

import numpy as np
import pytest

from borrowing import Lab, _binds, helpers_used
from course_files import LABS, ROOT

from coursegrader import cli, grade, intake, sandbox, static

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
        if intake._meta(cell).get("grade_id") in answers:
            cell["source"] = answers[intake._meta(cell)["grade_id"]]
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
    step = next(s for s in L.steps if s.grade_id == "train_and_evaluate")
    assert step.allow == ("coursekit.train",)
    assert L.prepare(step, L.references[step.grade_id]) is None   # the solution calls coursekit.train.fit
    verdict = L.prepare(step, L.references[step.grade_id].replace(
        "def train_and_evaluate(", "from coursekit import arith\n\ndef train_and_evaluate(", 1).replace(
        "    return np.array(", "    arith.receptive_field(model, -1)\n    return np.array(", 1))
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


@contextlib.contextmanager
def step_job(L: Lab, step, probes):
    """The step's job files as the grader writes them (probes, models, given code, references),
    written once for all the bodies tried on the step: only the answer changes."""
    with tempfile.TemporaryDirectory() as tmp:
        job = pathlib.Path(tmp) / "base"
        job.mkdir()
        helpers = grade._usable(step, L.given.sources, grade._box_allow(step, L.steps))
        needed = [(f"reference {n}", L.references[n]) for n in step.needs]
        grade._write_job(job, step, probes, "", helpers, needed, 0)
        yield job


def scoring(base: pathlib.Path, step, answers: list[str], probes) -> list[bool]:
    """Which answers pass these probes (the first ones of the job), graded as grading does: one
    sandbox session, each answer in its own process, 5 s each (a body that slow is no answer)."""
    whole = json.loads((base / "job.json").read_text())

    def writer(answer):
        def write(folder):
            for path in base.iterdir():
                if path.name != "job.json":
                    shutil.copy(path, folder / path.name)
            (folder / "job.json").write_text(json.dumps(whole | {"answer": answer,
                                                                 "probes": whole["probes"][:len(probes)]}))
        return write

    jobs = [sandbox.Job(base.parent / f"answer{n}", 5.0, step.memory_mb, writer(a)) for n, a in enumerate(answers)]
    hide = static.LIBRARIES if step.numpy_only else ()   # coursekit stays: the bodies import none of it
    with contextlib.closing(sandbox.run_jobs(jobs, hide=hide, sandbox=sandbox.available()[0])) as outcomes:
        verdicts = [grade._finish_step(step, probes, job.folder, outcome, 1.0, []) for job, outcome in zip(jobs, outcomes)]
    for job in jobs:
        shutil.rmtree(job.folder, ignore_errors=True)
    return [v["score"] > 0 for v in verdicts]


# Open: coursekit.arith's public conv_params, which the chapters use, is lab 1's count_params.
# That step must ask for something coursekit does not compute (or the function leaves coursekit).
# Until then it is named here: the test fails on any other answer that coursekit ships, and when
# this one stops scoring (update the list). Lab 2's output_size, answered by conv_output_size,
# became layer_cost (parameters and multiply-adds of conv, grouped, depthwise, separable layers).
OPEN = {"lab1_convolution": {"count_params <- the body of coursekit.arith.conv_params"}}


@pytest.mark.slow   # a sandbox session per step, ~50 bodies each: minutes per lab on 2 cores
@pytest.mark.parametrize("lab", LABS)
def test_no_coursekit_function_body_answers_a_step(lab):
    L, scored, tried = Lab(lab), [], 0
    for number, step in enumerate(_function_steps(L)):
        function = L.parameters(step)[0]
        candidates = [(f, answer) for f in L.fitting(step) if (answer := pasted(f, function)) is not None]
        runnable = [(f, answer) for f, answer in candidates if L.prepare(step, answer) is None]
        tried += len(candidates)
        if not runnable:
            continue
        probes = grade._settings_kept(step.probes, np.random.default_rng([SEED, number]))
        with step_job(L, step, probes) as base:
            # all probes must pass for a point: most bodies fail the first one, and stop there
            first = scoring(base, step, [a for _, a in runnable], probes[:1])
            passing = [(f, a) for (f, a), ok in zip(runnable, first) if ok]
            for (f, _), ok in zip(passing, scoring(base, step, [a for _, a in passing], probes) if passing else []):
                if ok:
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
    ns = _notebook_functions("import keras\n" + L.references["train_and_evaluate"])
    fn = ns["train_and_evaluate"]
    assert _borrowed.borrowed(fn, _borrowed.ALLOWED["train_and_evaluate"]) == []
    assert _borrowed.borrowed(fn) == ["calls coursekit.train.fit"]
