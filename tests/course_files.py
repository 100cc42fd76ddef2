"""What the course checks need to know about its own files.

The instructor's side (which lines of a lab are its answers) is the grading package's
(coursegrader.solution_text): tests reach it through the installed package, never through
scripts/ (tests/test_house.py holds both folders to that)."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent

# A published student copy (coursegrader.publish) has labs/ but no solutions/, and no grading package.
HAS_SOLUTIONS = (ROOT / "solutions").is_dir()
if HAS_SOLUTIONS:
    # re-exported: the instructor's chores (generate and grade), and which lines of a lab are its answers
    from coursegrader import course  # noqa: F401
    from coursegrader.solution_text import normalize, secret_lines  # noqa: F401
else:
    def normalize(text: str) -> str:
        """Whitespace collapsed (the grading package's solution_text.normalize; a published copy lacks it)."""
        return " ".join(text.split())

    def secret_lines(lab: str, public: str | None = None) -> list[str]:
        import pytest

        pytest.skip("a published copy has no solutions/ to look for")


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
