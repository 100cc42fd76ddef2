"""One result against the expected one: first its structure (``None``, shape, dtype, NaN), then
its values, with a diagnosis of common slips (transposed, sign flipped, off by a constant,
scaled) and of known mistakes (``suspects``)."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from coursekit._arrays import fmt_shape, to_numpy

from ._report import Check, finish, fmt_index, fmt_value

__all__ = ["compare"]


def returned_array(value):
    """(array, problem) for what a student returned."""
    if value is None:
        return None, "returned None: did you forget the `return` statement?"
    try:
        array = to_numpy(value)
    except Exception:  # noqa: BLE001 - symbolic tensors and the like
        if hasattr(value, "numpy"):
            return None, f"returned a symbolic {type(value).__name__}; return a NumPy array."
        array = np.asarray(None, dtype=object)
    if array.dtype == object:
        return None, (f"returned a {type(value).__name__} that NumPy cannot turn into a numeric array "
                      "(a ragged list, or a list of arrays of different shapes?).")
    return array, None


def report_numbers(report, n: int):
    """(the ``n`` numbers of a student's report as an array, None), or (None, what is wrong with
    its form)."""
    try:
        values = np.asarray(report, dtype=float)
    except (TypeError, ValueError):
        return None, f"report must be a tuple of {n} numbers"
    if values.shape != (n,) or not np.all(np.isfinite(values)):
        return None, f"report must be a tuple of {n} finite numbers"
    return values, None


def _shape_hints(got_shape, want_shape) -> list[str]:
    hints = []
    if len(got_shape) == len(want_shape) and tuple(got_shape) == tuple(want_shape)[::-1]:
        hints.append("the axes look reversed: check the order in which you index or build them.")
    elif int(np.prod(got_shape)) == int(np.prod(want_shape)) and got_shape:
        squeeze_g = tuple(d for d in got_shape if d != 1)
        squeeze_w = tuple(d for d in want_shape if d != 1)
        if squeeze_g == squeeze_w:
            hints.append("same numbers, but an axis of size 1 is missing or extra "
                         "(np.squeeze, or x[..., None], to fix it).")
        else:
            hints.append("same number of values arranged differently: check reshape and axis order.")
    return hints


def _value_hints(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> list[str]:
    """Cheap diagnoses of common slips, tried in order."""
    hints = []
    if got.ndim == 2 and got.shape[0] == got.shape[1] and got.shape[0] > 1:
        if np.allclose(got, want.T, rtol=rtol, atol=atol):
            return ["your result is the transpose of the expected one: rows and columns are swapped."]
    if np.any(want != 0) and np.allclose(got, -want, rtol=rtol, atol=atol):
        return ["your result has the opposite sign everywhere."]
    diff = got.astype(np.float64) - want.astype(np.float64)
    if diff.size > 1 and np.allclose(diff, diff.flat[0], rtol=0, atol=atol + rtol * np.abs(want).max()):
        hints.append(f"every value is off by the same amount ({fmt_value(diff.flat[0])}): "
                     "a constant added twice, or forgotten?")
        return hints
    nonzero = np.abs(want) > atol
    if nonzero.sum() > 1 and np.all(np.isfinite(got)):
        ratio = got[nonzero].astype(np.float64) / want[nonzero]
        if np.allclose(ratio, ratio[0], rtol=1e-6) and not np.isclose(ratio[0], 1.0):
            hints.append(f"every value is {fmt_value(ratio[0])} times the expected one: "
                         "a missing or extra scale factor?")
    return hints


def _structure_problems(got, want: np.ndarray, check_dtype: bool):
    """(the result as an array, []) or (None, what is wrong with its type, shape, dtype or NaN)."""
    got_arr, problem = returned_array(got)
    if problem:
        return None, [problem]
    if got_arr.shape != want.shape:
        return None, [f"shape {fmt_shape(got_arr.shape)} but expected {fmt_shape(want.shape)}.",
                      *_shape_hints(got_arr.shape, want.shape)]
    if check_dtype and got_arr.dtype != want.dtype:
        return None, [f"dtype {got_arr.dtype} but expected {want.dtype}: "
                      f"the result should keep the inputs' dtype (e.g. np.zeros(shape, dtype=...))."]
    if got_arr.dtype.kind not in "biufc":
        return None, [f"dtype {got_arr.dtype} is not numeric."]
    want_finite = np.isfinite(want) if want.dtype.kind in "fc" else np.ones(want.shape, bool)
    bad_nan = ~np.isfinite(got_arr) & want_finite if got_arr.dtype.kind in "fc" else np.zeros(want.shape, bool)
    if bad_nan.any():
        where = f" at {fmt_index(np.argwhere(bad_nan)[0])}" if want.ndim else ""
        return None, [f"{int(bad_nan.sum())} value(s) are NaN or infinite, the first{where}: "
                      "uninitialised memory (np.empty) or a division by zero?"]
    return got_arr, []


def _value_problems(got: np.ndarray, want: np.ndarray, rtol, atol, suspects, reveal) -> list[str]:
    """What differs between two arrays of one shape ([] when they agree), the most telling first:
    a known mistake, then where and by how much, then a common slip."""
    exact = got.dtype.kind in "biu" and want.dtype.kind in "biu"
    close = got == want if exact else np.isclose(got, want, rtol=rtol, atol=atol, equal_nan=True)
    if np.all(close):
        return []
    for suspect_hint, wrong in (suspects or {}).items():
        wrong = np.asarray(wrong)
        if wrong.shape == got.shape and np.allclose(got, wrong, rtol=rtol, atol=atol):
            return [f"values differ from the expected ones, and match what this mistake gives: {suspect_hint}"]
    if not reveal:
        return [f"{fmt_value(got.item()) if got.ndim == 0 else 'your answer'} is not right yet."]
    if want.ndim == 0:
        return [f"got {fmt_value(got.item())} but expected {fmt_value(want.item())}."]
    bad = ~close
    first = tuple(np.argwhere(bad)[0])
    err = np.abs(got.astype(np.float64) - want.astype(np.float64))
    err[~np.isfinite(err)] = np.inf
    worst = np.unravel_index(np.argmax(np.where(bad, err, -1)), want.shape)
    report = [
        f"values differ at {fmt_index(first)}: got {fmt_value(got[first])}, expected {fmt_value(want[first])}.",
        f"{int(bad.sum())} of {bad.size} values differ; the largest error is "
        f"{fmt_value(err[worst])} at {fmt_index(worst)}.",
    ]
    if not exact and np.isfinite(err[worst]):
        report[-1] += f" (tolerance: rtol={rtol:g}, atol={atol:g})"
    return [*report, *_value_hints(got, want, rtol, atol)]


def compare(
    name: str,
    got,
    expected,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    hint: str | None = None,
    check_dtype: bool = False,
    suspects: Mapping[str, Any] | None = None,
    context: str | None = None,
    reveal: bool = True,
    verbose: bool = True,
    strict: bool = False,
) -> Check:
    """Compare a student's result with the expected one and explain any difference.

    Parameters
    ----------
    name : the exercise, printed at the start of the report.
    got, expected : arrays, tensors, numbers or nested lists.
    rtol, atol : tolerance, as in ``np.allclose``. Integers compare exactly when both
        sides are integers.
    hint : what to look at, added to every failure.
    check_dtype : also require ``got.dtype == expected.dtype``.
    suspects : ``{hint: wrong_result}``: results that a known mistake produces. When
        ``got`` matches one of them, its hint is the diagnosis.
    context : which case this is (e.g. the input shapes), printed on failure.
    reveal : show the expected values; ``False`` for quiz answers, where the report
        should say "not yet" without giving the answer away.
    verbose : print the report. strict : raise AssertionError on failure.
    """
    want = np.asarray(expected)
    got_arr, problems = _structure_problems(got, want, check_dtype)
    if not problems:
        problems = _value_problems(got_arr, want, rtol, atol, suspects, reveal)
    lines = [context] if context else []
    if problems:
        lines += [*problems, f"Hint: {hint}" if hint else ""]
    return finish(Check(name, not problems, lines), verbose, strict)
