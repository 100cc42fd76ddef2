"""The instructor's nbgrader chores, each in a throw-away course folder: generate and grade.

    coursegrader generate [LAB ...]            regenerate labs/ from solutions/
    coursegrader grade LAB [NOTEBOOK ...]      grade notebooks (default: the solution)

nbgrader still makes the release (generate_assignment) and holds the scores (its
gradebook); the grading itself is this package's engine (grade.py): student code runs in a
sandbox and a trusted process judges what it returns (GRADING.md). Working in a
temporary copy of the course means the repository never gains a gradebook or
half-written files, and a submission is read, never modified. `grade` exits with
status 2 when a submission is flagged for the instructor (tampering, or graded
without a sandbox).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import multiprocessing
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from . import gradebook

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def course_root() -> pathlib.Path:
    """The course repository graded here: $COURSE_ROOT, else the folder (or the nearest one above
    the current folder) that holds solutions/ and nbgrader_config.py, else this package's checkout."""
    if os.environ.get("COURSE_ROOT"):
        return pathlib.Path(os.environ["COURSE_ROOT"]).resolve()
    here = pathlib.Path.cwd().resolve()
    checkout = pathlib.Path(__file__).resolve().parents[2]
    for folder in (here, *here.parents, checkout):
        if (folder / "solutions").is_dir() and (folder / "nbgrader_config.py").is_file():
            return folder
    raise SystemExit("no course here: run from the course repository (it holds solutions/ and "
                     "nbgrader_config.py) or set COURSE_ROOT to it")


ROOT = course_root()
SOLUTIONS = ROOT / "solutions"
RELEASE = ROOT / "labs"


def lab_order(name: str) -> tuple:
    """Course order: lab2 before lab10 (a plain sort puts lab10 first)."""
    number = re.match(r"lab(\d+)_", name)
    return (int(number.group(1)) if number else 10**6, name)


def all_labs() -> list[str]:
    return sorted((p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").exists()), key=lab_order)


def nbgrader(args, cwd):
    # nbgrader runs tools such as `alembic` from PATH: put this Python's bin folder first.
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@contextlib.contextmanager
def scratch_course(lab: str):
    """A temporary nbgrader course holding one lab's source, already generated."""
    if not (SOLUTIONS / lab / f"{lab}.ipynb").exists():
        raise SystemExit(f"no lab {lab!r}: choose one of {all_labs()}")
    with tempfile.TemporaryDirectory(prefix="cnn-course-") as tmp:
        yield _prepare_course(lab, pathlib.Path(tmp))


def _prepare_course(lab: str, course: pathlib.Path) -> pathlib.Path:
    """Fill `course` with the lab's generated nbgrader course (release and gradebook)."""
    shutil.copytree(_generated_course(lab), course, dirs_exist_ok=True)
    return course


def _generated_course(lab: str) -> pathlib.Path:
    """The lab's course as `nbgrader generate_assignment` leaves it, made once per content.

    Generating costs seconds of nbgrader per call, and a test run or a demo asks for the same lab
    many times: the result is kept under $COURSE_CACHE (default _build/nbgrader-courses), keyed by
    a hash of what generate reads, and copied for each use.
    """
    cache = pathlib.Path(os.environ.get("COURSE_CACHE") or ROOT / "_build" / "nbgrader-courses")
    target = cache / f"{lab}-{_source_key(lab)}"
    if not target.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        fresh = pathlib.Path(tempfile.mkdtemp(prefix=f".{lab}-", dir=cache))
        _generate_into(lab, fresh)
        with contextlib.suppress(OSError):  # another process made it first: theirs is the same
            fresh.rename(target)
        shutil.rmtree(fresh, ignore_errors=True)
        for stale in cache.glob(f"{lab}-*"):
            if stale != target:
                shutil.rmtree(stale, ignore_errors=True)
    return target


def _source_key(lab: str) -> str:
    """A hash of what generate reads: the lab's source (less grader.py), the config, nbgrader."""
    from importlib.metadata import version

    digest = hashlib.sha256(version("nbgrader").encode())
    files = [ROOT / "nbgrader_config.py", *(SOLUTIONS / lab).rglob("*")]
    for path in sorted(p for p in files if p.is_file() and not set(p.parts) & set(_PRIVATE)):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


# grader.py holds the hidden checks: it stays on the instructor's side, out of the release.
_PRIVATE = ("grader.py", "__pycache__")


def _generate_into(lab: str, course: pathlib.Path) -> None:
    shutil.copy(ROOT / "nbgrader_config.py", course)
    shutil.copytree(SOLUTIONS / lab, course / "solutions" / lab, ignore=shutil.ignore_patterns(*_PRIVATE))
    # Generating also records the graded cells and their points in the gradebook.
    nbgrader(["generate_assignment", lab, "--force"], course)


def generate(lab: str, release: pathlib.Path = RELEASE) -> pathlib.Path:
    """Write the student version of `lab` into release/<lab>/ and return that folder."""
    with scratch_course(lab) as course:
        target = release / lab
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(course / "labs" / lab, target)
    return target


def grade_one(lab: str, data: bytes, seed: int, probes: dict) -> dict:
    """One submission, in a worker process: a grader error becomes a recorded zero, never a loss."""
    from . import grade as engine

    start = time.perf_counter()
    try:
        result = engine.grade_submission(SOLUTIONS / lab, RELEASE / lab / f"{lab}.ipynb", data, seed=seed,
                                         probes=probes)
    except Exception as error:  # noqa: BLE001 - the submission keeps a gradebook entry and a reason
        result = gradebook.ungraded(lab, seed, f"grader error: {type(error).__name__}: {error}", refused="grader error")
    result["wall_seconds"] = time.perf_counter() - start   # this submission's own grading
    return result


def grade_many(lab: str, submissions: dict[str, str | os.PathLike], *, seed: int | None = None,
               workers: int | None = None, feedback: str | os.PathLike | None = None) -> dict[str, dict]:
    """Grade {student: notebook path} in parallel workers and record every score in one nbgrader
    gradebook. Each result gains "cells" (test cell -> (score, max)) as the gradebook holds them."""
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    from . import feedback as render_feedback, grade as engine

    if lab not in all_labs():
        raise SystemExit(f"no lab {lab!r}: choose one of {all_labs()}")
    seed = engine.new_seed() if seed is None else seed
    blobs = {student: _read_bytes(path) for student, path in submissions.items()}
    workers = workers or min(len(blobs), os.cpu_count() or 1)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cnn-course-") as tmp, ThreadPoolExecutor(1) as background:
        # nbgrader makes the gradebook (a subprocess) while the expected values are computed
        course = background.submit(_prepare_course, lab, pathlib.Path(tmp))
        background.submit(importlib.import_module, "nbgrader.api")  # 9 s of imports, off the critical path
        if workers > 1:
            probes = engine.probes_for(SOLUTIONS / lab, seed)  # once for the whole run, sent to each worker
            # spawn, not fork: a forked copy of a process that already runs TensorFlow can deadlock
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                futures = {s: pool.submit(grade_one, lab, data, seed, probes) for s, data in blobs.items()}
                results = {s: _result(f, lambda s=s: grade_one(lab, blobs[s], seed, probes))
                           for s, f in futures.items()}
        else:
            probes = engine.probes_ahead(SOLUTIONS / lab, seed)  # computed while the first one is graded
            results = {s: grade_one(lab, data, seed, probes) for s, data in blobs.items()}
            probes.finish()  # refused submissions look no step up
        with gradebook.open_gradebook(f"sqlite:///{course.result() / 'gradebook.db'}") as book:
            for student, result in results.items():   # recorded as autograde would, and read back
                gradebook.write(book, lab, student, result)
                result.update(gradebook.scores(book.find_submission(lab, student)))
    release = json.loads((RELEASE / lab / f"{lab}.ipynb").read_text())
    for student, result in results.items():
        result["elapsed"] = time.perf_counter() - start
        if feedback is not None:
            target = pathlib.Path(feedback) / student / lab
            target.mkdir(parents=True, exist_ok=True)
            (target / f"{lab}.html").write_text(render_feedback.render(result, release))
    return results


def _result(future, again):
    """A worker's result; if the worker itself died, grade that submission again here."""
    try:
        return future.result()
    except Exception:  # noqa: BLE001 - BrokenProcessPool and the like: never lose a submission
        return again()


def grade(lab: str, submission: str | os.PathLike | None = None, student: str = "demo",
          seed: int | None = None, feedback: str | os.PathLike | None = None) -> dict:
    """Grade one submission (default: the solution) and return its result (see grade_many)."""
    notebook = f"{lab}.ipynb"
    submission = pathlib.Path(submission) if submission else SOLUTIONS / lab / notebook
    return grade_many(lab, {student: submission}, seed=seed, workers=1, feedback=feedback)[student]


def _read_bytes(path) -> bytes:
    try:
        return pathlib.Path(path).read_bytes()
    except OSError:
        return b""  # graded as an empty submission: a recorded zero with its reason
