"""Each lab graded once per test run, and every grading test reads that one result.

One `grade_many` per lab takes the solution (graded first: its time is the lab's budget),
the untouched release and the corpus of cheating, broken and mangled submissions
(coursegrader.corpus), in one pytest worker with one grading worker: the full-marks test
(test_course.py) and the corpus tests (test_grading.py) check its results. tests/conftest.py
puts every test that uses it for a lab into that lab's xdist group, so no lab is graded twice.

The attacks are generic, so the first lab runs the whole corpus (with bystanders, timeouts and
the command line) and later labs a representative few, the cases that depend on a lab's own
steps (COURSE_FULL_CORPUS=1 runs everything on every lab). Without a sandbox, outside CI, only
the solution is graded: the corpus runs cheating code, which only a sandbox may run.
The grading seed is fixed, so that a run can be repeated (COURSE_SEED overrides it); that a
right answer scores full marks on every seed is tests/test_seed_fairness.py's job.
"""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from course_files import HAS_SOLUTIONS, LABS, ROOT

SEED = int(os.environ.get("COURSE_SEED", 20261201))
SOLUTION = "solution"
REPRESENTATIVE = {"honest", "untouched_release", "invalid_json", "mistake_reused_costs_once", "patch_isclose",
                  "empty_file", "debug_print_to_given_sys"}
BYSTANDERS = ("bystander_first", "bystander_last")   # other students in the same run


def full_corpus(lab: str) -> bool:
    return lab == LABS[0] or bool(os.environ.get("COURSE_FULL_CORPUS"))


def corpus_allowed() -> tuple[bool, str]:
    from coursegrader import sandbox

    boxed, why = sandbox.available()
    return boxed or bool(os.environ.get("CI")), why


def _digest(paths):
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def _submissions(lab: str, folder) -> tuple[dict, dict]:
    """{student: notebook} with the solution first, and the corpus cases graded with it.

    With the corpus, the solution is its `honest` case: the release with the solution's answers,
    as a student who wrote them hands it in. Without it, the instructor's source notebook.
    """
    from coursegrader import corpus as make_corpus

    if not corpus_allowed()[0]:
        shutil.copy(ROOT / "solutions" / lab / f"{lab}.ipynb", folder / f"{SOLUTION}.ipynb")
        return {SOLUTION: folder / f"{SOLUTION}.ipynb"}, {}
    cases = {c.name: c for c in make_corpus.write(lab, folder) if full_corpus(lab) or c.name in REPRESENTATIVE}
    for stale in {p.stem for p in folder.glob("*.ipynb")} - set(cases):
        (folder / f"{stale}.ipynb").unlink()
    if full_corpus(lab):
        for name in BYSTANDERS:
            shutil.copy(folder / "honest.ipynb", folder / f"{name}.ipynb")
    submissions = {p.stem: p for p in sorted(folder.glob("*.ipynb"))}
    return {"honest": submissions.pop("honest"), **submissions}, cases


def grade_lab(lab: str, folder) -> dict:
    from coursegrader import course

    submissions, cases = _submissions(lab, folder)
    watched = [*submissions.values(), ROOT / "nbgrader_config.py", *(ROOT / "solutions" / lab).iterdir()]
    before = _digest(watched)
    results = course.grade_many(lab, submissions, seed=SEED, workers=1, feedback=folder / "feedback")
    return {"lab": lab, "folder": folder, "cases": cases, "results": results,
            "solution": results[next(iter(submissions))],
            "before": before, "after": _digest(watched)}


@pytest.fixture(scope="session")
def graded_labs(tmp_path_factory):
    """graded_labs(lab) -> {"lab", "folder", "cases", "results", "solution", "before", "after"},
    graded once ("solution": the solution's result, also in "results")."""
    if not HAS_SOLUTIONS:
        pytest.skip("a published copy has no solutions/ to grade")
    done: dict[str, dict] = {}

    def graded(lab: str) -> dict:
        if lab not in done:
            done[lab] = grade_lab(lab, tmp_path_factory.mktemp(f"graded-{lab}"))
        return done[lab]
    return graded
