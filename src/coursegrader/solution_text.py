"""Which text of the course is an answer: the distinctive lines of the labs' solutions and
hidden checks, against what the course publishes on purpose.

The students' copy (:mod:`.publish`) must hold none of these lines, and neither may the book,
a lab's release or a feedback page (the course's tests look for them too). A line counts when
it is long enough to prove something when found (20 characters, spaces normalized), is not a
comment, and is not shown elsewhere on purpose: a lab's given code, a chapter, coursekit or the
benchmarks (`public_text`).
"""

from __future__ import annotations

import functools
import json
import pathlib
import re

from . import course

REGIONS = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.DOTALL)
MIN_LENGTH = 20   # `return out` proves nothing when found


def normalize(text: str) -> str:
    """Whitespace collapsed, so that a line is found however it was re-indented or wrapped."""
    return " ".join(text.split())


def secret_lines(lab: str, public: str | None = None) -> list[str]:
    """Distinctive lines of a lab's solutions, hidden tests and hidden checks (grader.py), less
    those found in `public` (default: :func:`public_text`)."""
    bodies = [body for source in _cell_sources(_solution(lab)) for _kind, body in REGIONS.findall(source)]
    grader = course.SOLUTIONS / lab / "grader.py"
    if grader.exists():
        bodies.append(grader.read_text())
    public = public_text() if public is None else public
    return [text for body in bodies for text in map(normalize, body.splitlines())
            if len(text) >= MIN_LENGTH and not text.startswith("#") and text not in public]


def all_secret_lines() -> list[str]:
    """Every lab's secret lines, once each."""
    return sorted({line for lab in course.all_labs() for line in secret_lines(lab)})


@functools.cache
def public_text() -> str:
    """What the course publishes on purpose, normalized: every lab's given code (its solution
    notebook less the solution and hidden-test regions), the chapters, coursekit and the benchmarks."""
    root = course.ROOT
    given = [REGIONS.sub("", source) for lab in course.all_labs() for source in _cell_sources(_solution(lab))]
    chapters = [source for path in sorted((root / "chapters").glob("*.ipynb")) for source in _cell_sources(path)]
    code = [path.read_text() for folder in ("src/coursekit", "benchmarks")
            for path in sorted((root / folder).rglob("*.py"))]
    return "\n".join(normalize(line) for text in (*given, *chapters, *code) for line in text.splitlines())


def _solution(lab: str) -> pathlib.Path:
    return course.SOLUTIONS / lab / f"{lab}.ipynb"


def _cell_sources(path: pathlib.Path) -> list[str]:
    return ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]]
