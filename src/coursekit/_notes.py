"""coursekit's notes on where data and weights came from (a line each), and the switch that
silences them (`coursekit.verbose`).

On by default, for a student's notebook; the book's setup cell turns them off, so that a page
shows results, not the machine that built it. COURSEKIT_VERBOSE=0 turns them off too.
"""

from __future__ import annotations

import os

_state = {"verbose": os.environ.get("COURSEKIT_VERBOSE", "1") != "0"}


def verbose(on: bool | None = None) -> bool:
    """Set the switch when ``on`` is given; return it."""
    if on is not None:
        _state["verbose"] = bool(on)
    return _state["verbose"]


def say(module: str, message: str, quiet: bool = False) -> None:
    """Print coursekit.<module>: message, unless quiet or coursekit.verbose(False)."""
    if _state["verbose"] and not quiet:
        print(f"coursekit.{module}: {message}")
