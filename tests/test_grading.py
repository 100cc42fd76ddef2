"""Grading that holds: the corpus of cheating, broken and mangled submissions.

The corpus is made from the current lab by coursegrader.corpus; it is graded with the lab's
solution and honest bystanders (tests/graded_labs.py: lab 1's whole corpus in two runs, one
per pytest worker), and every case must score what a correct grader gives. The sandbox
itself, the feedback and the self-checks are tested too.
"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from course_files import LABS, ROOT, course, normalize, secret_lines
from graded_labs import BYSTANDERS, PARTS, SEED, full_corpus, in_part, runs

from coursegrader import cli, corpus as make_corpus, grade as engine, gradebook, sandbox
from coursekit import checks

BOXED, WHY = sandbox.available()
needs_sandbox = pytest.mark.skipif(
    not BOXED and not os.environ.get("CI"),
    reason=f"the corpus runs cheating code, which only a sandbox may run: {WHY}")


@pytest.fixture(scope="module", params=[run for lab in LABS for run in runs(lab)])
def corpus(request, graded_labs):
    """A grading run of the lab's corpus, graded once (tests/graded_labs.py): the lab's run grades
    its solution first; "<lab>#2" is the other part of a whole corpus."""
    return graded_labs(request.param)


def _table(corpus):
    rows = [f"{'case':34} {'expected':>8} {'got':>5}"]
    for name, case in corpus["cases"].items():
        rows.append(f"{name:34} {sum(case.expected.values()):8g} {corpus['results'][name]['score']:5g}")
    return "\n".join(rows)


def test_the_corpus_covers_every_mechanism_and_its_runs_grade_every_case_once():
    cases = make_corpus.cases(LABS[0])
    names = [c.name for c in cases]
    parts = [in_part(names, part, PARTS) for part in range(1, PARTS + 1)]
    assert len(runs(LABS[0])) == PARTS and sorted(sum(parts, [])) == sorted(names), parts
    mechanisms = " ".join(c.mechanism for c in cases)
    for words in ("patching what the tests call", "objects that lie", "rewriting the tests",
                  "reading what it should not", "writing the gradebook", "daemon", "NumPy-only",
                  "foreign nbgrader cell", "duplicated test cell", "loop that ignores interrupts",
                  "kernel killed inside a hidden test", "invalid JSON", "empty file", "stderr",
                  "metadata stripped", "renamed grade_id", "flagged solution", "large number",
                  "costs points once", "quiz"):
        assert words in mechanisms, words


@needs_sandbox
@pytest.mark.parametrize("name", [c.name for c in make_corpus.cases(LABS[0])])
def test_corpus_case_scores_what_a_correct_grader_gives(corpus, name):
    if name not in corpus["cases"]:
        pytest.skip(f"not in {corpus['run']}'s corpus (no step for it, a representative corpus, "
                    "or graded in the other part)")
    case, result = corpus["cases"][name], corpus["results"][name]
    got = {gid: verdict["score"] for gid, verdict in result["steps"].items()}
    assert got == case.expected, {gid: v["reason"] for gid, v in result["steps"].items()}
    # the gradebook holds the same scores, under nbgrader's test cell names
    assert result["cells"] == {f"test_{g}": (s, result["steps"][g]["max_score"]) for g, s in got.items()}
    assert result["sandbox"] == "bubblewrap"
    if case.flagged:
        assert result["flags"], "the instructor should see a flag"
    if case.clean:
        assert not result["flags"] and not result["notes"], "no noise for an honest submission"
    if result["refused"] or sum(got.values()) < sum(case.expected.values()):
        assert all(v["reason"] for v in result["steps"].values())


@needs_sandbox
def test_other_submissions_are_unaffected_and_present(corpus):
    """Honest submissions graded before and after every cheat of the run keep full marks, clean."""
    print("\n" + _table(corpus))
    results = corpus["results"]
    assert set(results) >= set(corpus["cases"])
    if full_corpus(corpus["lab"]):
        assert list(results)[0] in ("honest", BYSTANDERS[0]) and list(results)[-1] == BYSTANDERS[1], list(results)
    for name in [n for n in (*BYSTANDERS, "honest") if n in results]:
        assert results[name]["score"] == results[name]["max_score"] > 0
        assert not results[name]["flags"] and not results[name]["notes"]
    assert corpus["after"] == corpus["before"], "a submission changed a file outside its sandbox"


@needs_sandbox
def test_no_process_outlives_grading(corpus):
    alive = []
    for proc in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            if make_corpus.DAEMON_MARK in (proc / "cmdline").read_bytes().decode(errors="replace"):
                alive.append(proc.name)
        except OSError:
            pass
    assert not alive, f"daemons left by a submission: {alive}"


@needs_sandbox
def test_feedback_shows_no_hidden_check_and_no_probe(corpus):
    lab, folder = corpus["lab"], corpus["folder"]
    pages = {p.parts[-3]: normalize(p.read_text()) for p in (folder / "feedback").rglob("*.html")}
    assert set(pages) == set(corpus["results"])
    secrets = secret_lines(lab)
    probes = make_corpus.spec.load(ROOT / "solutions" / lab / "grader.py")[0].probes(np.random.default_rng(0))
    for student, page in pages.items():
        assert not [line for line in secrets if line in page], student
        assert str(SEED) not in page
        assert "visible test" in page
    # what the student reads for a failed step: a reason in words
    if "loop_ignoring_interrupts" in pages:
        assert "timed out after" in pages["loop_ignoring_interrupts"]
    if "empty_file" in pages:   # in every lab's corpus (one part of a whole one)
        assert "not graded: the file is empty" in pages["empty_file"]
    assert probes  # the grader has probes, and none of their numbers appear in the pages
    numbers = {f"{v:.6f}"[:8] for p in probes for a in p.args if isinstance(a, np.ndarray) and a.dtype.kind == "f"
               for v in a.ravel()[:3]}
    assert not [n for n in numbers for page in pages.values() if n in page]


# --- recording: nbgrader's gradebook (coursegrader.gradebook, for grade and for autograde) --------


def _recorded(book, lab, student):
    submission = book.find_submission(lab, student)
    comments = {c.name: c.comment for nb in submission.notebooks for c in nb.comments}
    return gradebook.scores(submission), comments


def test_a_result_is_recorded_whole_with_its_reasons_and_read_back(monkeypatch):
    """Each test cell's score and, as the answer cell's comment, the step's reason; a result without
    steps (a grader error) is a 0 in every cell with its reason; a re-grade replaces the whole
    result, in the same submission."""
    lab = LABS[0]
    worth = engine.points(json.loads((ROOT / "labs" / lab / f"{lab}.ipynb").read_text()))
    total = float(sum(worth.values()))
    steps = {g: {"score": p * (n % 2), "max_score": p, "reason": f"reason {g}"}
             for n, (g, p) in enumerate(worth.items())}
    with course.scratch_course(lab) as folder, \
            gradebook.open_gradebook(f"sqlite:///{folder / 'gradebook.db'}") as book:
        gradebook.write(book, lab, "ann", {"steps": steps, "flags": [], "refused": None})
        got, comments = _recorded(book, lab, "ann")
        assert got == {"cells": {f"test_{g}": (float(v["score"]), float(p)) for (g, p), v
                                 in zip(worth.items(), steps.values())},
                       "score": float(sum(v["score"] for v in steps.values())), "max_score": total}
        assert {g: comments[g] for g in worth} == {g: f"reason {g}" for g in worth}

        def broken(*args, **kwargs):
            raise OSError("disk full")

        monkeypatch.setattr(engine, "grade_submission", broken)
        error = course.grade_one(lab, b"{}", 1, {})
        assert error["refused"] == "grader error" and error["steps"] == {}, error
        assert error["flags"] == ["grader error: OSError: disk full"]
        gradebook.write(book, lab, "ann", error)
        got, comments = _recorded(book, lab, "ann")
        assert got == {"cells": {f"test_{g}": (0.0, float(p)) for g, p in worth.items()}, "score": 0.0,
                       "max_score": total}
        assert set(comments.values()) == {"grader error"}
        assert len(book.find_assignment(lab).submissions) == 1


# --- the sandbox itself -------------------------------------------------------------------------


def _in_box(code: str, hide=()):
    command = sandbox._bwrap_command("/nonexistent", hide, [sys.executable, "-I", "-c", code])
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not BOXED, reason=WHY)
def test_the_sandbox_sees_no_course_no_network_and_runs_unprivileged():
    # coursekit itself is visible (labs call coursekit.train; it is public), the course is not
    course_files = [ROOT / "solutions", ROOT / "labs", ROOT / "nbgrader_config.py", ROOT / "scripts",
                    ROOT / "tests", ROOT / "_config.yml"]
    code = ("import os, socket, pathlib\n"
            f"print(os.getuid(), any(os.path.exists(p) for p in {[str(p) for p in course_files]!r}), "
            "os.path.exists('/var/lib/dpkg'))\n"
            "s = socket.socket()\n"
            "try:\n    s.connect(('1.1.1.1', 80)); print('net')\nexcept OSError:\n    print('nonet')\n")
    proc = _in_box(code)
    assert proc.stdout.split() == ["65534", "False", "False", "nonet"], proc.stderr


@pytest.mark.skipif(not BOXED, reason=WHY)
def test_numpy_only_steps_cannot_import_the_libraries():
    proc = _in_box("import numpy\nimport tensorflow as tf\nprint(hasattr(tf, 'nn'))\n"
                   "import scipy\nprint(hasattr(scipy, 'signal'))", hide=("tensorflow", "scipy"))
    assert proc.stdout.split() == ["False", "False"], proc.stderr


def test_without_a_sandbox_grading_says_so(monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "available", lambda: (False, "bubblewrap is not installed"))
    result = course.grade(LABS[0], ROOT / "labs" / LABS[0] / f"{LABS[0]}.ipynb")
    assert "graded without a sandbox" in result["flags"]
    assert "WITHOUT a sandbox" in capsys.readouterr().err


# --- self-checks catch what grading penalizes -----------------------------------------------------


def test_quiz_self_check_counts_wrong_answers_without_revealing_them():
    key = checks.answer_key({"a": 34944, "b": 30730, "c": 30730 / 760})
    wrong = checks.check_answers("quiz", {"a": 34944, "b": 1, "c": 2.0}, key, verbose=False)
    assert not wrong and "2 of 3 answers are wrong: b, c" in wrong.message
    assert "34944" not in wrong.message and "30730" not in wrong.message
    assert checks.check_answers("quiz", {"a": 34944.0, "b": 30730, "c": 40.43}, key, verbose=False)
    assert "define c" in checks.check_answers("quiz", {"a": 1, "b": 2}, key, verbose=False).message


def test_float64_for_float32_input_is_caught_by_the_self_check():
    def right_but_float64(x, k):
        windows = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float64), np.shape(k))
        return np.einsum("ijmn,mn->ij", windows, np.asarray(k, np.float64))

    result = checks.check_conv(right_but_float64, "single", verbose=False)
    assert not result and "dtype float64 but expected float32" in result.message


# --- Keras models come back as .keras files, loaded with safe_mode=True ------------------------------

_MODEL_GRADER = '''
from coursegrader import Probe, Step

def _dense(model):
    return None if model.count_params() == 10 else "wrong number of parameters"

STEPS = [Step(gid, lambda rng: [Probe("a Dense(2) layer on 4 inputs", judge=_dense)], call=gid,
              timeout=120, memory_mb=4096) for gid in ("build_safe", "build_lambda")]
'''


def _cell(gid, source, **nbgrader):
    return {"cell_type": "code", "id": gid.replace("_", "-"), "metadata": {"nbgrader": {"grade_id": gid, **nbgrader}},
            "source": source, "outputs": [], "execution_count": None}


def _grade_cells(tmp_path, name, grader, cells, submitted=None, seed=1):
    """Grade `submitted` cells (default: `cells`, the solution) against a one-notebook lab
    `name` made of `grader` and `cells`, whose release raises in every cell."""
    from coursegrader import grade_submission

    lab = tmp_path / name
    lab.mkdir()
    (lab / "grader.py").write_text(grader)
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    (lab / f"{name}.ipynb").write_text(json.dumps(notebook))
    release = {**notebook, "cells": [dict(c, source="raise NotImplementedError()") for c in cells]}
    (tmp_path / "release.ipynb").write_text(json.dumps(release))
    submission = dict(notebook, cells=submitted or cells)
    return grade_submission(lab, tmp_path / "release.ipynb", json.dumps(submission).encode(), seed=seed)


@pytest.mark.skipif(not BOXED, reason=WHY)
def test_a_returned_keras_model_is_loaded_in_safe_mode(tmp_path):
    dense = "keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])"
    cells = [_cell("build_safe", f"def build_safe():\n    return {dense}\n", solution=True),
             _cell("test_build_safe", "", grade=True, points=1),
             _cell("build_lambda", "def build_lambda():\n    return keras.Sequential([keras.Input((4,)), "
                   "keras.layers.Lambda(lambda t: t * 0), keras.layers.Dense(2)])\n", solution=True),
             _cell("test_build_lambda", "", grade=True, points=1)]
    result = _grade_cells(tmp_path, "lab_models", _MODEL_GRADER, cells)
    assert result["steps"]["build_safe"]["score"] == 1, result["steps"]
    assert result["steps"]["build_lambda"]["score"] == 0
    assert "loads safely" in result["steps"]["build_lambda"]["reason"]


_FORBID_GRADER = '''
import numpy as np
from coursegrader import Probe, Step

def _probes(rng):
    a, b = rng.normal(size=5), rng.normal(size=5)
    return [Probe("the larger of two arrays", (a, b), expect=np.maximum(a, b))]

STEPS = [Step("larger", _probes, call="larger", forbid=("max", "maximum", "where", "abs"),
              forbid_reason="build it from a ReLU and sums")]
'''


@pytest.mark.skipif(not BOXED, reason=WHY)
@pytest.mark.parametrize("answer, score", [
    ("def larger(a, b):\n    return b + np.clip(a - b, 0, None)\n", 1),
    ("def larger(a, b):\n    return np.maximum(a, b)\n", 0),
    ("def larger(a, b):\n    return getattr(np, 'maximum')(a, b)\n", 0),
    ("def _mine(a, b):\n    return np.where(a > b, a, b)\n\ndef larger(a, b):\n    return _mine(a, b)\n", 0),
])
def test_a_step_can_forbid_functions(tmp_path, answer, score):
    """A step's own rule ("no maximum of any kind") is checked by the grader, not only by the
    self-check; a helper defined in another cell that breaks it is not given to the step."""
    from coursegrader import grade_submission

    lab = tmp_path / "lab_forbid"
    lab.mkdir()
    (lab / "grader.py").write_text(_FORBID_GRADER)
    cells = [_cell("larger", answer.split("def larger")[0] or "pass\n", solution=False, locked=False),
             _cell("larger", "def larger" + answer.split("def larger")[1], solution=True),
             _cell("test_larger", "", grade=True, points=1)]
    cells[0]["metadata"] = {}
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}
    (lab / "lab_forbid.ipynb").write_text(json.dumps(notebook))
    release = {**notebook, "cells": [dict(c, source="raise NotImplementedError()") for c in cells[1:]]}
    (tmp_path / "release.ipynb").write_text(json.dumps(release))
    result = grade_submission(lab, tmp_path / "release.ipynb", json.dumps(notebook).encode(), seed=1)
    step = result["steps"]["larger"]
    assert step["score"] == score, step
    if not score:
        assert "build it from a ReLU and sums" in step["reason"], step


@needs_sandbox
@pytest.mark.grading
@pytest.mark.slow
def test_the_command_line_flags_cheats_with_a_nonzero_exit(capsys, tmp_path):
    """The command line is the same for every lab: tested on the first, with two of its cases."""
    folder, report = tmp_path, tmp_path / "report.json"
    for case in make_corpus.cases(LABS[0]):
        if case.name in ("patch_isclose", "invalid_json"):
            (folder / f"{case.name}.ipynb").write_bytes(case.data)
    status = cli.main(["grade", LABS[0], str(folder / "patch_isclose.ipynb"),
                          str(folder / "invalid_json.ipynb"), "--seed", str(SEED), "--report", str(report)])
    out = capsys.readouterr().out
    assert status == 2 and "FLAG: " in out and "not graded: the file is not valid notebook JSON" in out
    results = json.loads(report.read_text())
    assert set(results) == {"patch_isclose", "invalid_json"} and results["invalid_json"]["score"] == 0
    assert results["patch_isclose"]["seed"] == SEED


# --- the static flags: what reaches for the grader, and what a lab asks for ------------------------

@pytest.mark.parametrize("source, flagged", [
    ("np.isclose = lambda *a, **k: True\n", "replaces np.isclose"),
    ("import coursekit.checks as c\nc.check_conv = print\n", "replaces c.check_conv"),
    ("def freeze(base):\n    base.trainable = False\n    for layer in base.layers[-4:]:\n"
     "        layer.trainable = True\n    return base\n", None),   # lab 8 asks for exactly this
])
def test_static_flags_patching_but_not_freezing_layers(source, flagged):
    from coursegrader import static

    found = static.suspicious(source)
    assert (flagged in found) if flagged else not found, found


_TWO_STEPS_GRADER = '''
import numpy as np
from coursegrader import Probe, Step

STEPS = [Step(gid, lambda rng: [Probe("0, 1, 2", expect=np.arange(3.0))], call=gid)
         for gid in ("first", "second")]
'''

# A daemon that keeps writing the right answer where the next step's results will be.
_FORGER = '''import os, signal, time
def first():
    if os.fork() == 0:
        os.setsid()
        time.sleep(1.0)  # until this step is over
        for _ in range(300):
            try:
                np.savez("/job/current/out.npz", r0=np.arange(3.0))
                with open("/job/current/out.json", "w") as f:
                    f.write('{"results": [{"kind": "array", "type": "ndarray", "key": "r0"}], "notes": []}')
            except OSError:
                pass
            time.sleep(0.02)
        os._exit(0)
    if KILL:
        os.kill(os.getppid(), signal.SIGKILL)
    return np.arange(3.0)
'''


@pytest.mark.skipif(not BOXED, reason=WHY)
@pytest.mark.parametrize("kill, second, expected", [
    (True, "np.zeros(3)", {"first": 0, "second": 0}),
    (False, "np.zeros(3)", {"first": 1, "second": 0}),
    (True, "np.arange(3.0)", {"first": 0, "second": 1}),
])
def test_a_step_cannot_answer_for_the_next_one_nor_cost_it_points(tmp_path, kill, second, expected):
    """The steps of a submission share a sandbox session: a step that leaves a daemon, or kills
    the session, changes no other step's score."""
    cells = [_cell("first", f"KILL = {kill}\n" + _FORGER, solution=True),
             _cell("test_first", "", grade=True, points=1),
             _cell("second", f"def second():\n    return {second}\n", solution=True),
             _cell("test_second", "", grade=True, points=1)]
    result = _grade_cells(tmp_path, "lab_two", _TWO_STEPS_GRADER, cells)
    assert {gid: v["score"] for gid, v in result["steps"].items()} == expected, result["steps"]


def _assert_same(a, b, where):
    """Equal values: arrays element by element, tuples and lists item by item."""
    if isinstance(a, (tuple, list)):
        assert isinstance(b, (tuple, list)) and len(a) == len(b), where
        for x, y in zip(a, b):
            _assert_same(x, y, where)
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=where)


def test_expected_values_computed_ahead_are_those_computed_first():
    """probes_ahead (a background thread, while the sandbox runs) gives the probes of probes_for:
    same steps, reasons, arguments and expected values, for the same seed."""
    from coursegrader import grade

    lab_dir = ROOT / "solutions" / LABS[0]
    first, ahead = grade.probes_for(lab_dir, 11), grade.probes_ahead(lab_dir, 11)
    assert list(ahead) == list(first) and len(ahead) == len(first)
    for gid, probes in first.items():
        assert [p.reason for p in ahead[gid]] == [p.reason for p in probes], gid
        for mine, theirs in zip(ahead[gid], probes):
            for a, b in zip([mine.expect, *mine.args], [theirs.expect, *theirs.args]):
                _assert_same(a, b, gid)
    other = grade.probes_for(lab_dir, 12)
    drawn = [(p.args[0], q.args[0]) for gid in first for p, q in zip(first[gid], other[gid]) if p.args]
    assert any(np.shape(a) != np.shape(b) or not np.array_equal(a, b) for a, b in drawn), "the seed draws inputs"


def test_silenced_blocks_in_two_threads_leave_the_process_printing_where_it_did():
    """A grader silences trusted code in the probe thread while the main thread silences its own.
    Plain redirect_stdout blocks that interleave (A in, B in, A out, B out) leave sys.stdout on A's
    buffer; quiet() runs them one at a time, so each restores what it found."""
    import threading
    import time

    from coursegrader import quiet

    before, inside, release = sys.stdout, threading.Event(), threading.Event()

    def background():
        with quiet():
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=background)
    thread.start()
    inside.wait(5)
    threading.Timer(0.2, release.set).start()   # the background block ends first...
    with quiet():
        time.sleep(0.4)                          # ...while this one would still be open
    thread.join(5)
    assert sys.stdout is before


@needs_sandbox
def test_a_grading_run_leaves_no_probe_thread_running():
    """A blank submission looks few steps' probes up (its steps fail before judging): the run
    still waits for the probe thread, which would otherwise go on after the run returns, and
    print, or silence the process, in whatever runs next."""
    import threading

    from coursegrader import grade

    lab = "lab4_architectures"   # its probes build reference networks: seconds of work
    blank = (ROOT / "labs" / lab / f"{lab}.ipynb").read_bytes()
    result = grade.grade_submission(ROOT / "solutions" / lab, ROOT / "labs" / lab / f"{lab}.ipynb",
                                    blank, seed=SEED)
    assert result["score"] == 0
    assert not [t.name for t in threading.enumerate() if t.name.startswith("probes")]


_RANDOM_GRADER = '''
import numpy as np
from coursegrader import Probe, Step

def _show(value):  # a judge that fails, saying what came back: the test reads it in the reason
    weights = value.get_weights()[0] if hasattr(value, "get_weights") else value
    return "got " + " ".join(f"{v:.6f}" for v in np.ravel(weights)[:4])

STEPS = [Step("draw", lambda rng: [Probe("shown", judge=_show)], call="draw", numpy_only=True),
         Step("build", lambda rng: [Probe("shown", judge=_show)], call="build", timeout=120, memory_mb=4096)]
'''


@pytest.mark.skipif(not BOXED, reason=WHY)
def test_student_randomness_is_seeded_so_a_regrade_gives_the_same_result(tmp_path):
    """Unseeded student code (random draws, a model's initial weights) sees the same random state
    whenever a submission is graded with the same seed."""
    cells = [_cell("draw", "def draw():\n    return np.random.random(4)\n", solution=True),
             _cell("test_draw", "", grade=True, points=1),
             _cell("build", "def build():\n    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n",
                   solution=True),
             _cell("test_build", "", grade=True, points=1)]
    reasons = []
    for run, seed in enumerate((1, 1, 2)):
        (tmp_path / f"run{run}").mkdir()
        result = _grade_cells(tmp_path / f"run{run}", "lab_random", _RANDOM_GRADER, cells, seed=seed)
        reasons.append({gid: v["reason"] for gid, v in result["steps"].items()})
    assert all(reason.startswith("shown: got ") for reason in reasons[0].values()), reasons
    assert reasons[0] == reasons[1], "a regrade with the same seed"
    assert all(reasons[0][gid] != reasons[2][gid] for gid in ("draw", "build")), "another seed"


_SETTINGS_GRADER = '''
import numpy as np
from coursegrader import Probe, Step

def _switch():  # what a lab's reference code may do: coursekit.train.fit(deterministic=True), say
    import keras, tensorflow as tf
    tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy("mixed_float16")

def _probes(rng):
    _switch()
    return [Probe("0, 1, 2", judge=lambda value: _switch())]

STEPS = [Step("count", _probes, call="count")]
'''


@pytest.mark.skipif(not BOXED, reason=WHY)
def test_a_labs_reference_code_leaves_no_tensorflow_setting_behind(tmp_path):
    """Op determinism or a mixed-precision policy switched on while the expected values are computed
    or a step is judged is switched back: later steps, submissions and labs graded in the same
    process run as they would alone (a leak made lab 9 and 10's judges fail after lab 5's)."""
    import keras
    from tensorflow.python.framework import config

    config.disable_op_determinism()   # an earlier test in this worker may have switched it on
    keras.mixed_precision.set_global_policy("float32")
    cells = [_cell("count", "def count():\n    return np.arange(3.0)\n", solution=True),
             _cell("test_count", "", grade=True, points=1)]
    result = _grade_cells(tmp_path, "lab_settings", _SETTINGS_GRADER, cells)
    assert result["steps"]["count"]["score"] == 1, result["steps"]
    assert not config.is_op_determinism_enabled()
    assert keras.mixed_precision.global_policy().name == "float32"


def test_a_step_allowed_coursekit_train_sees_what_coursekit_itself_imports():
    # `from coursekit import train` runs coursekit/__init__.py first: the modules it imports
    # must stay in the box (a hidden one made every import of coursekit fail there)
    import ast

    root = pathlib.Path(sandbox._coursekit_dir())
    hidden = {pathlib.Path(p).stem for p in sandbox._coursekit_hidden(("coursekit.train",))}
    tree = ast.parse((root / "__init__.py").read_text())
    imported = {a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
                and node.module == "coursekit" for a in node.names}
    assert "train" not in hidden and not imported & hidden, imported & hidden
    assert "data" in hidden and "checks" in hidden     # what train does not need stays out
