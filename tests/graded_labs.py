"""Each lab graded once per test run, and every grading test reads that one result.

One `grade_many` per lab takes the solution (graded first: its time is the lab's budget),
the untouched release and the corpus of cheating, broken and mangled submissions
(coursegrader.corpus), in one pytest worker with one grading worker: the full-marks test
(test_course.py) and the corpus tests (test_grading.py) check its results. tests/conftest.py
puts every test that uses it for a lab into that lab's xdist group, so no lab is graded twice.

The attacks are generic, so the first lab runs the whole corpus (with bystanders, timeouts and
the command line) and later labs a representative few, the cases that depend on a lab's own
steps (COURSE_FULL_CORPUS=1 runs everything on every lab). A whole corpus is graded in PARTS runs
(`runs`), each its own xdist group, so that both pytest workers share it: each run grades an
honest submission first and an honest bystander last, after every cheat of its run. Without a sandbox, outside CI, only
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
PARTS = 2   # runs that share a whole corpus (lab 1's: 44 submissions, 285 s on one worker)


def full_corpus(lab: str) -> bool:
    return lab == LABS[0] or bool(os.environ.get("COURSE_FULL_CORPUS"))


def runs(lab: str) -> list[str]:
    """The lab's grading runs: the lab itself (its solution graded first), and "<lab>#2"... for
    the other parts of a whole corpus."""
    return [lab] + [f"{lab}#{part}" for part in range(2, PARTS + 1)] if full_corpus(lab) else [lab]


def lab_of(run: str) -> tuple[str, int]:
    lab, _, part = run.partition("#")
    return lab, int(part or 1)


def in_part(names: list[str], part: int, parts: int) -> list[str]:
    """The cases (in the corpus's order) that a part grades: every parts-th, from the part-th."""
    return names[part - 1::parts]


def corpus_allowed() -> tuple[bool, str]:
    from coursegrader import sandbox

    boxed, why = sandbox.available()
    return boxed or bool(os.environ.get("CI")), why


def _digest(paths):
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def _submissions(run: str, folder) -> tuple[dict, dict]:
    """{student: notebook} in grading order, and the corpus cases graded in the run.

    With the corpus, the solution is its `honest` case: the release with the solution's answers,
    as a student who wrote them hands it in, graded first (the other parts of a whole corpus grade
    bystander_first first); bystander_last, a copy of it, is graded last. Without the corpus, the
    instructor's source notebook, alone (and nothing in the other parts).
    """
    from coursegrader import corpus as make_corpus

    lab, part = lab_of(run)
    if not corpus_allowed()[0]:
        if part > 1:
            return {}, {}
        shutil.copy(ROOT / "solutions" / lab / f"{lab}.ipynb", folder / f"{SOLUTION}.ipynb")
        return {SOLUTION: folder / f"{SOLUTION}.ipynb"}, {}
    written = {c.name: c for c in make_corpus.write(lab, folder)}
    names = (in_part(list(written), part, len(runs(lab))) if full_corpus(lab) else
             [n for n in written if n in REPRESENTATIVE])
    cases = {n: written[n] for n in names}
    for stale in {p.stem for p in folder.glob("*.ipynb")} - set(cases):
        (folder / f"{stale}.ipynb").unlink()
    first = "honest" if "honest" in cases else BYSTANDERS[0]
    order = [first, *sorted(set(cases) - {first})]
    if full_corpus(lab):
        order.append(BYSTANDERS[1])
        for name in {first, BYSTANDERS[1]} - set(cases):
            (folder / f"{name}.ipynb").write_bytes(written["honest"].data)
    return {name: folder / f"{name}.ipynb" for name in order}, cases


def grade_lab(run: str, folder) -> dict:
    from coursegrader import course

    lab = lab_of(run)[0]
    submissions, cases = _submissions(run, folder)
    if not submissions:
        return {"lab": lab, "run": run, "folder": folder, "cases": {}, "results": {}, "solution": None,
                "before": {}, "after": {}}
    watched = [*submissions.values(), ROOT / "nbgrader_config.py", *(ROOT / "solutions" / lab).iterdir()]
    before = _digest(watched)
    results = course.grade_many(lab, submissions, seed=SEED, workers=1, feedback=folder / "feedback")
    return {"lab": lab, "run": run, "folder": folder, "cases": cases, "results": results,
            "solution": results[next(iter(submissions))],
            "before": before, "after": _digest(watched)}


@pytest.fixture(scope="session")
def graded_labs(tmp_path_factory):
    """graded_labs(run) -> {"lab", "run", "folder", "cases", "results", "solution", "before", "after"},
    graded once ("solution": the result of the run's first submission, also in "results"; a lab's
    first run, named by the lab, grades its solution first)."""
    if not HAS_SOLUTIONS:
        pytest.skip("a published copy has no solutions/ to grade")
    done: dict[str, dict] = {}

    def graded(run: str) -> dict:
        if run not in done:
            done[run] = grade_lab(run, tmp_path_factory.mktemp(f"graded-{run.replace('#', '-part')}"))
        return done[run]
    return graded
