"""Running a student's code inside a self-check: whatever it raises becomes a short report (the
step not written yet, or the exception and the line of their code that raised it), never a
traceback.

Every self-check calls the student's function the same way::

    with running(fn, name, where) as crash:
        got = fn(x)
    if crash:
        return crash.report(verbose, strict)
"""

from __future__ import annotations

import contextlib
import linecache
import traceback
from typing import Callable

from ._report import Check, finish


def not_written(name: str) -> str:
    """What a check says of a step whose body is still the release's ``raise NotImplementedError()``."""
    return f"{name} is not implemented yet: replace `raise NotImplementedError()` with your code."


def error_lines(error: BaseException, fn: Callable, name: str | None = None) -> list[str]:
    """Two lines on an exception raised by the student's function: what and where (one line for a
    step not written yet)."""
    if isinstance(error, NotImplementedError):
        return [not_written(name or getattr(fn, "__name__", "this step"))]
    frames = traceback.extract_tb(error.__traceback__)
    code = getattr(fn, "__code__", None)
    theirs = [f for f in frames if code is not None and f.filename == code.co_filename]
    frame = theirs[-1] if theirs else (frames[-1] if frames else None)
    lines = [f"raised {type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"]
    if frame is not None:
        source = frame.line or linecache.getline(frame.filename, frame.lineno).strip()
        where = "your code" if theirs else frame.filename
        offset = f"line {frame.lineno - code.co_firstlineno + 1} of {fn.__name__}" if theirs else f"line {frame.lineno}"
        lines.append(f"in {where}, {offset}: {source}")
    return lines


class Crash:
    """What :func:`running` saw: falsy while the student's code has raised nothing."""

    def __init__(self, name: str):
        self.name = name
        self.lines: list[str] = []
        self.error: BaseException | None = None

    def __bool__(self) -> bool:
        return bool(self.lines)

    def report(self, verbose: bool, strict: bool) -> Check:
        """The failed check that says what the student's code raised."""
        return finish(Check(self.name, False, self.lines), verbose, strict)


@contextlib.contextmanager
def running(fn: Callable, name: str, where: str | None = None, *, step: str | None = None):
    """Run the block (a call of the student's ``fn``); an exception it raises is caught and
    explained in the yielded :class:`Crash`, whose report is the failed check ``name``.
    ``where`` (which case) heads the explanation of an error, not that of a step not written yet;
    ``step`` names the step in the latter (default: ``name``)."""
    crash = Crash(name)
    try:
        yield crash
    except NotImplementedError as error:
        crash.error, crash.lines = error, [not_written(step or name)]
    except Exception as error:  # noqa: BLE001 - any student error becomes a report
        crash.error = error
        crash.lines = [line for line in (where, *error_lines(error, fn, step or name)) if line]
