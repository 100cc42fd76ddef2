"""What a self-check says: the :class:`Check` it returns, how it ends (printed, strict on demand,
failed when the student borrowed coursekit for the step) and how values are written in it."""

from __future__ import annotations

from typing import Iterable

import numpy as np

from coursekit._arrays import fmt_shape

__all__ = ["Check"]

PASS_MARK = "\u2714"  # heavy check mark
FAIL_MARK = "\u2718"  # heavy ballot X


class Check:
    """The outcome of one check: truthy when it passed, printable, and strict on demand."""

    def __init__(self, name: str, passed: bool, lines: Iterable[str] = ()):
        self.name = name
        self.passed = bool(passed)
        self.lines = [line for line in lines if line]
        self._shown = False

    @property
    def message(self) -> str:
        mark, word = (PASS_MARK, "PASS") if self.passed else (FAIL_MARK, "FAIL")
        head = f"{mark} {self.name}: {word}"
        if not self.lines:
            return head
        if self.passed:
            return f"{head} ({'; '.join(self.lines)})"
        return head + "".join("\n    " + line.replace("\n", "\n    ") for line in self.lines)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"Check({self.name!r}, passed={self.passed})"

    def show(self) -> "Check":
        print(self.message)
        self._shown = True
        return self

    def _ipython_display_(self):
        # The check already printed its report; do not print it a second time when
        # it is the last expression of a cell.
        if not self._shown:
            self.show()

    def require(self) -> "Check":
        """Raise AssertionError with the report if the check failed."""
        if not self.passed:
            raise AssertionError(self.message)
        return self


def finish(check: Check, verbose: bool, strict: bool) -> Check:
    """The check as the student gets it: failed if their function borrowed coursekit for the
    step, printed when ``verbose``, raised when ``strict`` and failed."""
    check = _borrowing(check)
    if verbose:
        check.show()
    if strict:
        check.require()
    return check


def fail(name: str, lines: Iterable[str], verbose: bool, strict: bool) -> Check:
    """A failed check, finished."""
    return finish(Check(name, False, lines), verbose, strict)


def _borrowing(check: Check) -> Check:
    """The check, failed, when the student's function calls coursekit for what the step asks them
    to write: grading would give it 0, and the student hears it here first."""
    from ._borrowed import ALLOWED, borrowed, students_functions

    lines = [f"{fn.__name__} {use}: grading gives this step 0, it asks you to write that yourself"
             for fn in students_functions() for use in borrowed(fn, ALLOWED.get(check.name, ()))]
    lines = [line for line in dict.fromkeys(lines) if line not in check.lines]   # nested checks: said once
    return Check(check.name, False, [*lines, *([] if check.passed else check.lines)]) if lines else check


# --------------------------------------------------------------------------
# How values are written in a report
# --------------------------------------------------------------------------


def fmt_index(index) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def fmt_value(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value == int(value) and abs(value) < 1e15:
            return f"{value:.1f}"
        return f"{value:.6g}"
    return repr(value)


def fmt_argument(value) -> str:
    """An argument as a call is written in a report: arrays by shape and dtype."""
    if isinstance(value, np.ndarray):
        return f"array{fmt_shape(value.shape)} {value.dtype}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"tensor{fmt_shape(tuple(value.shape))} {getattr(value.dtype, 'name', value.dtype)}"
    return repr(value)
