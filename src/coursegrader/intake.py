"""Intake: turn whatever a student handed in into the answers to grade, never losing it.

A submission is matched against the release, not trusted for its structure:
- an empty file or one that is not a notebook is refused with a reason (a recorded 0);
- old formats are upgraded (nbformat 4.4 without cell ids, v3);
- each answer cell of the release is found in the submission by its ``grade_id``,
  else (metadata stripped or altered, as Colab round trips and some editors do) by
  what the cell defines, else it is missing;
- a duplicated answer cell counts once (the last one, as running the notebook
  top to bottom would); cells of other assignments, and test or locked cells, are
  never run: the grader uses the release's versions, so editing them gains nothing.
What was repaired goes into ``notes``; what looks like tampering into ``flags``.
Honest submissions produce neither.
"""

from __future__ import annotations

import dataclasses
import json

from . import static


@dataclasses.dataclass
class Intake:
    answers: dict[str, str]              # grade_id -> the student's source (IPython syntax made Python)
    extra: list[str]                     # the student's other code cells, for their helper definitions
    notes: list[str] = dataclasses.field(default_factory=list)
    flags: list[str] = dataclasses.field(default_factory=list)
    refused: str | None = None           # why nothing could be graded
    untouched: set[str] = dataclasses.field(default_factory=set)  # answers left as released


def cell_source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def cell_meta(cell) -> dict:
    meta = cell.get("metadata") if isinstance(cell, dict) else None
    nbg = meta.get("nbgrader") if isinstance(meta, dict) else None
    return nbg if isinstance(nbg, dict) else {}


def python_source(source: str) -> str:
    """IPython syntax (magics, !shell) as plain Python that the sandbox can run."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - leave it: the sandbox will report a SyntaxError
        return source


def release_cells(release_nb: dict) -> dict[str, dict]:
    return {cell_meta(c)["grade_id"]: c for c in release_nb["cells"] if cell_meta(c).get("grade_id")}


def read(data: bytes, release_nb: dict, targets: dict[str, set[str]]) -> Intake:
    """Normalize a submission. ``targets`` maps each answer's grade_id to the names its cell must
    define (e.g. {"conv2d_full": {"conv2d"}}), used to find cells whose metadata was lost."""
    text = data.decode("utf-8", errors="replace").strip() if data else ""
    if not text:
        return Intake({}, [], refused="the file is empty")
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        return Intake({}, [], refused=f"the file is not valid notebook JSON ({error.msg} at line {error.lineno})")
    cells = _cells(raw)
    if cells is None:
        return Intake({}, [], refused="the file is JSON but not a Jupyter notebook (no cells)")
    notes = []
    version = (raw.get("nbformat"), raw.get("nbformat_minor", 0))
    if all(isinstance(v, int) for v in version) and version < (4, 5):
        notes.append(f"notebook format {version[0]}.{version[1]} upgraded to 4.5")
    return _match(cells, release_nb, targets, notes)


def _cells(raw) -> list[dict] | None:
    """The cells of a v4 notebook, or of a v3 one (worksheets, `input`), as v4-like dicts."""
    if not isinstance(raw, dict):
        return None
    if isinstance(raw.get("cells"), list):
        cells = raw["cells"]
    elif isinstance(raw.get("worksheets"), list) and raw["worksheets"] and isinstance(raw["worksheets"][0], dict):
        cells = [dict(c, source=c.get("input", c.get("source", ""))) for c in raw["worksheets"][0].get("cells", [])
                 if isinstance(c, dict)]
    else:
        return None
    return [c for c in cells if isinstance(c, dict)]


def _match(cells, release_nb, targets, notes) -> Intake:
    release = release_cells(release_nb)
    answers_ids = {gid for gid, c in release.items() if cell_meta(c).get("solution")}
    flags, answers, extra, by_id, unmatched = [], {}, [], {}, []
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        meta, source = cell_meta(cell), cell_source(cell)
        gid = meta.get("grade_id")
        if gid in answers_ids:
            by_id.setdefault(gid, []).append(source)
        elif gid in release:
            if source.strip() != cell_source(release[gid]).strip():
                edited = f"locked cell {gid!r} was edited; the release's version was used"
                (flags if cell_meta(release[gid]).get("grade") else notes).append(edited)
            if meta.get("solution") and not cell_meta(release[gid]).get("solution"):
                flags.append(f"locked cell {gid!r} was marked as an answer cell; it was not graded as one")
        elif gid:
            flags.append(f"cell {index} carries nbgrader metadata of another assignment ({gid!r}); ignored")
            unmatched.append(source)
        else:
            unmatched.append(source)
    # a cell that is exactly a release cell (its metadata lost) is the release's, not the student's code
    released = {cell_source(c).strip() for gid, c in release.items() if gid not in answers_ids}
    unmatched = [src for src in unmatched if src.strip() not in released]
    for gid in sorted(answers_ids, key=list(release).index):
        if gid in by_id:
            candidates = by_id[gid]
            if len(candidates) > 1:
                notes.append(f"answer cell {gid!r} appears {len(candidates)} times; the last copy was graded")
            answers[gid] = candidates[-1]
            continue
        found = [s for s in unmatched if targets.get(gid) and targets[gid] <= static.defines(python_source(s))]
        if found:
            answers[gid] = found[-1]
            unmatched.remove(found[-1])
            notes.append(f"answer cell {gid!r} had lost its nbgrader metadata; found by its content")
        else:
            answers[gid] = ""
            notes.append(f"no answer cell for {gid!r} was found")
    extra.extend(unmatched)
    untouched = {gid for gid, src in answers.items() if src.strip() == cell_source(release[gid]).strip()}
    answers = {gid: python_source(src) for gid, src in answers.items()}
    return Intake(answers, [python_source(s) for s in extra], notes, flags, untouched=untouched)
