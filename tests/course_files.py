"""What the course checks need to know about its own files."""

import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import course  # noqa: E402  (scripts/course.py)

# A published student copy (scripts/publish.py) has labs/ but no solutions/.
HAS_SOLUTIONS = (ROOT / "solutions").is_dir()
LABS = course.all_labs() if HAS_SOLUTIONS else sorted((p.name for p in (ROOT / "labs").iterdir() if p.is_dir()), key=course.lab_order)
NOTEBOOKS = sorted(
    p for folder in ("chapters", "solutions", "labs") for p in (ROOT / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)

_REGIONS = re.compile(
    r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.DOTALL
)


def secret_lines(lab: str) -> list[str]:
    """Distinctive lines of the solutions, hidden tests and hidden checks (grader.py) of a lab.

    Short lines such as `return out` are left out: they prove nothing when found.
    """
    if not HAS_SOLUTIONS:
        import pytest

        pytest.skip("a published copy has no solutions/ to look for")
    nb = json.loads((ROOT / "solutions" / lab / f"{lab}.ipynb").read_text())
    bodies = [body for cell in nb["cells"] for _kind, body in _REGIONS.findall("".join(cell["source"]))]
    grader = ROOT / "solutions" / lab / "grader.py"
    if grader.exists():
        bodies.append(grader.read_text())
    lines = []
    for body in bodies:
        for line in body.splitlines():
            text = normalize(line)
            if len(text) >= 20 and not text.startswith("#"):
                lines.append(text)
    return lines


def normalize(text: str) -> str:
    return " ".join(text.split())
