"""What the course checks need to know about its own files."""

import functools
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

# A published student copy (scripts/publish.py) has labs/ but no solutions/, and no grading package.
HAS_SOLUTIONS = (ROOT / "solutions").is_dir()
if HAS_SOLUTIONS:
    from coursegrader import course  # noqa: F401  (re-exported: the instructor's chores, generate and grade)


def lab_order(name: str) -> tuple:
    """Course order: lab2 before lab10 (a plain sort puts lab10 first)."""
    number = re.match(r"lab(\d+)_", name)
    return (int(number.group(1)) if number else 10**6, name)


LABS = sorted((p.name for p in (ROOT / ("solutions" if HAS_SOLUTIONS else "labs")).iterdir()
               if (p / f"{p.name}.ipynb").exists()), key=lab_order)
NOTEBOOKS = sorted(
    p for folder in ("chapters", "solutions", "labs") for p in (ROOT / folder).rglob("*.ipynb")
    if ".ipynb_checkpoints" not in p.parts
)

_REGIONS = re.compile(
    r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.DOTALL
)


def secret_lines(lab: str) -> list[str]:
    """Distinctive lines of the solutions, hidden tests and hidden checks (grader.py) of a lab.

    Short lines such as `return out` prove nothing when found, and neither do lines that the
    course shows elsewhere on purpose (`public_text`): `keras.utils.set_random_seed(seed)` in a
    solution is no secret when a lab's given code or a chapter holds it too.
    """
    if not HAS_SOLUTIONS:
        import pytest

        pytest.skip("a published copy has no solutions/ to look for")
    bodies = [body for source in _cell_sources(_solution(lab)) for _kind, body in _REGIONS.findall(source)]
    grader = ROOT / "solutions" / lab / "grader.py"
    if grader.exists():
        bodies.append(grader.read_text())
    public = public_text()
    lines = []
    for body in bodies:
        for line in body.splitlines():
            text = normalize(line)
            if len(text) >= 20 and not text.startswith("#") and text not in public:
                lines.append(text)
    return lines


@functools.cache
def public_text() -> str:
    """What the course publishes on purpose, normalized: every lab's given code (its solution
    notebook less the solution and hidden-test regions), the chapters, coursekit and the benchmarks."""
    given = [_REGIONS.sub("", source) for lab in LABS for source in _cell_sources(_solution(lab))]
    chapters = [source for path in sorted((ROOT / "chapters").glob("*.ipynb")) for source in _cell_sources(path)]
    code = [path.read_text() for folder in ("src/coursekit", "benchmarks")
            for path in sorted((ROOT / folder).rglob("*.py"))]
    return "\n".join(normalize(line) for text in (*given, *chapters, *code) for line in text.splitlines())


def _solution(lab: str) -> pathlib.Path:
    return ROOT / "solutions" / lab / f"{lab}.ipynb"


def _cell_sources(path: pathlib.Path) -> list[str]:
    return ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]]


def normalize(text: str) -> str:
    return " ".join(text.split())
