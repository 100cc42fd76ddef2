"""What the student reads after grading: for each step, the score, the reason in words,
and the visible test of the release. Built only from the release and the verdicts: the
hidden checks, the probe inputs and the seed never reach it."""

from __future__ import annotations

import html

from . import intake


def render(result: dict, release_nb: dict) -> str:
    """An HTML page of feedback for one graded submission."""
    cells = intake.release_cells(release_nb)
    title = f"{html.escape(result['lab'])}: {result['score']:g} / {result['max_score']:g}"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>",
             f"<h1>{title}</h1>"]
    if result.get("refused"):
        parts.append(f"<p><strong>Not graded:</strong> {html.escape(result['refused'])}</p>")
    for gid, verdict in result["steps"].items():
        parts.append(f"<h2>{html.escape(gid)}: {verdict['score']:g} / {verdict['max_score']:g}</h2>")
        parts.append(f"<p>{html.escape(verdict['reason'])}</p>")
        test = cells.get(f"test_{gid}")
        if test is not None:
            parts.append("<p>The visible test:</p><pre>" + html.escape(intake.cell_source(test)) + "</pre>")
    return "\n".join(parts + ["</body></html>"])
