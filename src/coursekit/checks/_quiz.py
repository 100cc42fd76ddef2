"""Quiz answers, checked without revealing them: the lab holds one-way digests of the right
answers (:func:`answer_key`), and :func:`check_answers` says which answers are wrong."""

from __future__ import annotations

import hashlib
import math
from typing import Any, Mapping

from ._report import Check, finish

__all__ = ["answer_key", "check_answers"]


def _fingerprint(name: str, value) -> str | None:
    """A one-way digest of a numeric answer, rounded to one decimal."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    text = f"cnn-course:{name}:{round(number, 1):.1f}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def answer_key(answers: Mapping[str, Any]) -> dict[str, str]:
    """The key that :func:`check_answers` takes, made from the right answers (for a lab's author)."""
    return {name: _fingerprint(name, value) for name, value in answers.items()}


def check_answers(name: str, namespace: Mapping[str, Any], key: Mapping[str, str], *,
                  verbose: bool = True, strict: bool = False) -> Check:
    """Say how many quiz answers are wrong (and which), without revealing the right ones.

    ``namespace`` is where the answers live (``globals()`` in a notebook), ``key`` comes
    from :func:`answer_key`. Numbers are compared rounded to one decimal.
    """
    missing = [n for n in key if n not in namespace]
    if missing:
        return finish(Check(name, False, [f"define {', '.join(missing)} in the cell above."]), verbose, strict)
    wrong = [n for n, digest in key.items() if _fingerprint(n, namespace[n]) != digest]
    if not wrong:
        return finish(Check(name, True, [f"{len(key)} answers"]), verbose, strict)
    return finish(Check(name, False, [f"{len(wrong)} of {len(key)} answers are wrong: {', '.join(wrong)}.",
                                       "Numbers are compared rounded to one decimal."]), verbose, strict)
