"""A student's function run on several cases, each compared with the recorded reference:
:func:`check_function`, and :func:`case` to write the cases."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ._compare import compare
from ._recorded import NotRecorded
from ._report import Check, finish, fmt_argument
from ._student import running

__all__ = ["case", "check_function"]


def case(*args, label: str | None = None, **kwargs) -> dict:
    """One test case for :func:`check_function`: positional and keyword arguments."""
    return {"args": args, "kwargs": kwargs, "label": label}


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _call_text(fn_name: str, the_case: dict) -> str:
    parts = [fmt_argument(a) for a in the_case["args"]]
    parts += [f"{k}={fmt_argument(v)}" for k, v in the_case["kwargs"].items()]
    text = f"{fn_name}({', '.join(parts)})"
    return f"{the_case['label']}: {text}" if the_case.get("label") else text


def check_function(
    name: str,
    fn: Callable,
    cases: Iterable[dict],
    reference: Callable,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    check_dtype: bool = False,
    hint: str | None = None,
    suspects: Callable[..., Mapping[str, Any]] | None = None,
    guard: Callable[[], Any] | None = None,
    verbose: bool = True,
    strict: bool = False,
) -> Check:
    """Run ``fn`` on each case and compare with ``reference`` on the same arguments.

    ``reference`` and ``suspects`` are usually the recorded outputs of
    ``coursekit.checks._recorded.recorded``: no lab's reference implementation ships with coursekit.

    Stops at the first failing case and says which one it was. ``suspects(*args,
    **kwargs)`` returns ``{hint: wrong_result}`` for known mistakes (see
    :func:`compare`). ``guard`` is a context-manager factory (e.g.
    :func:`no_library_convolution`) that the student's call runs inside. The
    student's inputs are copies, and a function that changes them is reported.
    """
    fn_name = getattr(fn, "__name__", name)
    cases = list(cases)

    def fail(*reasons):
        return finish(Check(name, False, reasons), verbose, strict)

    if not callable(fn):
        return fail(f"{fn_name} is a {type(fn).__name__}, not a function.")
    for number, the_case in enumerate(cases, 1):
        args = tuple(_copy(a) for a in the_case["args"])
        kwargs = {k: _copy(v) for k, v in the_case["kwargs"].items()}
        where = f"case {number} of {len(cases)}, {_call_text(fn_name, the_case)}"
        manager = guard() if guard is not None else contextlib.nullcontext()
        with running(fn, name, where, step=fn_name) as crash, manager as watch:
            got = fn(*args, **kwargs)
        forbidden = watch.blocked(crash.error) if hasattr(watch, "blocked") else None
        if forbidden:
            return fail(where, f"your function calls {forbidden}: {getattr(watch, 'reason', '')}")
        if crash:
            return crash.report(verbose, strict)
        for original, given in zip(the_case["args"], args):
            if isinstance(original, np.ndarray) and not np.array_equal(original, given):
                return fail(where, f"{fn_name} changed one of its input arrays in place; "
                            "work on a copy (or write into a new output array).")
        try:
            expected = reference(*the_case["args"], **the_case["kwargs"])
        except NotRecorded as missing:
            return fail(where, str(missing))
        wrong = suspects(*the_case["args"], **the_case["kwargs"]) if suspects else None
        result = compare(name, got, expected, rtol=rtol, atol=atol, hint=hint,
                         check_dtype=check_dtype, suspects=wrong, context=where, verbose=False)
        if not result:
            return finish(result, verbose, strict)
    return finish(Check(name, True, [f"{len(cases)} case{'s' * (len(cases) != 1)}"]), verbose, strict)
