"""Course checks: notebooks are clean, labs/ is generated from solutions/, nothing
secret reaches students, and autograding gives full marks and zero as it should."""

import json
import re

import nbformat
import pytest

from course_files import LABS, NOTEBOOKS, ROOT, course, normalize, secret_lines


def test_there_is_something_to_check():
    assert LABS, "solutions/ holds no lab"
    assert any(p.parts[-2] == "chapters" or "chapters" in p.parts for p in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_is_committed_clean(path):
    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    nbformat.validate(nb)
    assert (nb.nbformat, nb.nbformat_minor) >= (4, 5), "cell ids need nbformat 4.5"
    ids = [cell.get("id") for cell in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids), "every cell needs a unique id"
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} have outputs: clear them before committing"


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """generated(lab) -> the folder nbgrader's generate writes for it (kept per content:
    coursegrader.course reuses a lab's generated course while its source is unchanged)."""
    release = tmp_path_factory.mktemp("release")
    return lambda lab: course.generate(lab, release)


@pytest.mark.parametrize("lab", LABS)
def test_labs_are_exactly_what_nbgrader_generates(lab, generated):
    fresh = generated(lab)
    committed = ROOT / "labs" / lab
    fresh_files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    committed_files = sorted(p.relative_to(committed) for p in committed.rglob("*") if p.is_file())
    assert committed_files == fresh_files, "run `make labs` and commit labs/"
    for rel in fresh_files:
        assert (committed / rel).read_bytes() == (fresh / rel).read_bytes(), (
            f"labs/{lab}/{rel} differs from what nbgrader generates: run `make labs`")


@pytest.mark.parametrize("lab", LABS)
def test_no_solution_or_hidden_test_reaches_the_labs(lab):
    secrets = secret_lines(lab)
    assert len(secrets) >= 5, "the lab should have real solutions and hidden tests"
    student_text = normalize("\n".join(
        p.read_text(errors="replace") for p in (ROOT / "labs").rglob("*") if p.is_file()))
    assert "BEGIN SOLUTION" not in student_text and "BEGIN HIDDEN TESTS" not in student_text
    leaked = [line for line in secrets if line in student_text]
    assert not leaked, f"solution or hidden-test lines in labs/: {leaked[:5]}"


@pytest.mark.parametrize("lab", LABS)
def test_solution_autogrades_to_full_marks(lab, graded_labs, record_budget):
    """Graded through the command line's engine (scratch nbgrader course, expected values,
    sandboxed steps, gradebook), first of its lab's run (tests/graded_labs.py): its own grading
    time goes into the budget table."""
    result = graded_labs(lab)["solution"]
    record_budget("lab", lab, result["wall_seconds"],
                  note=f"{result['seconds']:.1f} s of it in the sandboxed steps, sandbox {result['sandbox']}")
    assert result["max_score"] > 0
    lost = {gid: (v["score"], v["reason"]) for gid, v in result["steps"].items() if v["score"] < v["max_score"]}
    assert result["score"] == result["max_score"], (f"seed {result['seed']}: {lost}; notes {result['notes']}; "
                                                    f"gradebook {result['cells']}")


# The untouched student version grading to zero is the corpus's `untouched_release` case
# (tests/test_grading.py), graded on every lab.


def _solution_ids(lab):
    nb = json.loads((ROOT / "solutions" / lab / f"{lab}.ipynb").read_text())
    meta = [c.get("metadata", {}).get("nbgrader", {}) for c in nb["cells"]]
    return ({m["grade_id"] for m in meta if m.get("solution")},
            {m["grade_id"] for m in meta if m.get("grade")})


@pytest.mark.parametrize("lab", LABS)
def test_every_exercise_has_a_graded_test_of_the_same_name(lab):
    solutions, graded = _solution_ids(lab)
    assert solutions, "the lab has no solution cells"
    assert {f"test_{i}" for i in solutions} <= graded, "name each test cell test_<exercise id>"


def test_book_exercises_that_name_a_lab_exercise_use_its_id():
    """One identifier per exercise: snake_case labels in the chapters are lab grade_ids
    (kebab-case labels are exercises of the chapter alone)."""
    lab_ids = set().union(*(_solution_ids(lab)[0] for lab in LABS))
    labels = set()
    for chapter in (ROOT / "chapters").glob("*.ipynb"):
        for cell in json.loads(chapter.read_text())["cells"]:
            labels |= set(re.findall(r"^:label: (\S+)", "".join(cell["source"]), flags=re.M))
    shared = {label for label in labels if "_" in label}
    assert shared, "no chapter exercise points to a lab"
    assert shared <= lab_ids, f"exercise labels with no lab exercise of that id: {shared - lab_ids}"
