"""coursekit's docstrings in the API reference, read as they read in `help()`.

Docstrings are written for the terminal first, where ``|g|`` is an absolute value. In
reStructuredText it would be a substitution that does not exist, and the strict build
would fail, so bars inside a line are escaped before the docstring is parsed.
"""

from __future__ import annotations

import re

_ABSOLUTE_VALUE = re.compile(r"(?<![\\`|])\|(?=[^|\s`])([^|\n`]*?[^|\s\\`])\|(?![|_\w])")


def escape_bars(line: str) -> str:
    stripped = line.lstrip()
    if stripped == "|" or stripped.startswith("| "):  # a line block or a table row: real rST
        return line
    return _ABSOLUTE_VALUE.sub(r"\\|\1\\|", line)


def _process(app, what, name, obj, options, lines) -> None:
    lines[:] = [escape_bars(line) for line in lines]  # only coursekit is documented


def setup(app):
    app.connect("autodoc-process-docstring", _process)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
