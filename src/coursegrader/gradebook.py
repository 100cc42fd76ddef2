"""nbgrader's gradebook: the one place that opens it, writes a graded result into it and reads
the scores back. `coursegrader grade` (course.grade_many: a throw-away SQLite gradebook) and a
class's autograde (classroom: SQLite by default, PostgreSQL for several graders at once) both
record through :func:`write`.

A result is written whole or not at all, one writer at a time per (lab, student), and retried
on lock or race errors: the score of each test cell and, as each answer cell's comment, the
step's reason. A result without steps (refused, or not graded: :func:`ungraded`) gives every
cell 0 and says why in the comments.

nbgrader and SQLAlchemy are imported when a gradebook is opened (seconds of imports), and this
module imports neither course nor classroom at import time (classroom imports course).
"""

from __future__ import annotations

import contextlib
import re
import time


def with_driver(url: str) -> str:
    """postgresql:// means psycopg 3 (the `grading` extra), whatever SQLAlchemy's default driver."""
    return re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url)


def without_password(url: str) -> str:
    """The URL without its password, fit to be written down."""
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1@", url)


def course_id() -> str:
    """The course's id in nbgrader_config.py: generate_assignment records the labs under it."""
    from .course import ROOT   # here, not at import time: course is this module's user

    text = (ROOT / "nbgrader_config.py").read_text()
    found = re.search(r"course_id\s*=\s*['\"]([^'\"]+)", text)
    return found.group(1) if found else "default_course"


def open_gradebook(url: str):
    """nbgrader's Gradebook at the SQLAlchemy `url`, for this course (close it, or use `with`)."""
    import warnings

    from nbgrader.api import Gradebook
    from sqlalchemy.exc import SAWarning

    warnings.filterwarnings("ignore", category=SAWarning)  # autoflush notices from inside nbgrader
    return Gradebook(url, course_id=course_id())


_WRITERS: dict = {}


def writer(url: str):
    """This process's gradebook connection for `url`, opened once (opening one inspects the schema)."""
    if url not in _WRITERS:
        _WRITERS[url] = open_gradebook(url)
    return _WRITERS[url]


def record(url: str, lab: str, student: str, result: dict, attempts: int = 20) -> None:
    """:func:`write` one graded submission through this process's connection to `url`."""
    write(writer(url), lab, student, result, attempts)


def write(book, lab: str, student: str, result: dict, attempts: int = 20) -> None:
    """Write one graded submission into the open gradebook `book`, whole or not at all: the score
    of each test cell and, as the answer cell's comment, the reason. Retried on lock or race errors."""
    from nbgrader.api import InvalidEntry, MissingEntry
    from sqlalchemy.exc import DBAPIError

    steps = result.get("steps") or {}
    why = result.get("refused") or "; ".join(result.get("flags", [])) or "not graded"
    for attempt in range(attempts):
        try:
            with student_lock(book, f"{lab}/{student}"):
                _write_once(book, lab, student, steps, why, result.get("timestamp"))
            return
        except (DBAPIError, InvalidEntry, MissingEntry):
            book.db.rollback()
            if attempt == attempts - 1:
                raise
        time.sleep(0.05 * (attempt + 1))


@contextlib.contextmanager
def student_lock(book, key: str):
    """One writer at a time per `key` (lab/student): two graders of the same student never mix
    their step scores. PostgreSQL: an advisory lock; SQLite: a file lock beside the file."""
    url = book.engine.url
    if url.get_backend_name() == "postgresql":
        from sqlalchemy import text

        with book.engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": key})
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": key})
                conn.commit()
    elif url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        import fcntl

        with open(url.database + ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
    else:
        yield


def _write_once(book, lab, student, steps, why, timestamp):
    book.update_or_create_student(student)
    kwargs = {"timestamp": timestamp} if timestamp else {}
    submission = book.update_or_create_submission(lab, student, **kwargs)
    for notebook in submission.notebooks:
        for grade in notebook.grades:
            gid = grade.name[len("test_"):] if grade.name.startswith("test_") else grade.name
            verdict = steps.get(gid)
            grade.auto_score = verdict["score"] if verdict else 0.0
            grade.manual_score = None
        for comment in notebook.comments:
            verdict = steps.get(comment.name)
            comment.auto_comment = verdict["reason"] if verdict else why if not steps else None
    book.db.commit()


def scores(submission) -> dict:
    """A submission's points as the gradebook holds them: "cells" (test cell -> (score, max)),
    "score" and "max_score". `submission`: the gradebook's, from find_submission(lab, student)."""
    cells = {grade.name: (float(grade.score), float(grade.max_score))
             for notebook in submission.notebooks for grade in notebook.grades}
    return {"cells": cells, "score": float(submission.score), "max_score": float(submission.max_score)}


def ungraded(lab: str, seed: int, why: str, refused: str | None = None, **extra) -> dict:
    """The result of a submission the grader could not grade: no steps, 0 points, flagged with
    `why`, refused with `refused` (default: `why`). Recorded, it is a 0 with its reason."""
    return {"lab": lab, "seed": seed, "steps": {}, "notes": [], "score": 0.0, "max_score": 0.0,
            "flags": [why], "refused": refused or why, **extra}
