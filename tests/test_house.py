"""Everything a maintainer needs is in the repository, and what it says is true.

CONTRIBUTING.md's table "Where to change what" names files that exist, and no file of the
repository sends its reader to documents outside it (the authors' design folder) or to the
numbers of an issue tracker that the repository does not hold.
"""

import re
import subprocess

import pytest

from course_files import ROOT

PLACEHOLDER = re.compile(r"<[a-z_]+>")


def _table_paths() -> list[str]:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    table = text.split("### Where to change what", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    paths = []
    for row in rows:
        for cell in row.strip("|").split("|")[1:]:
            for code in re.findall(r"`([^`]+)`", cell):
                if "/" in code and " " not in code and not code.startswith((".venv", "make", "CI=")):
                    paths.append(code.split("::")[0])
    return paths


def test_the_where_to_change_what_table_names_files_that_exist():
    paths = _table_paths()
    assert len(paths) > 25, f"only {len(paths)} paths read from the table: the parser is broken"
    missing = [p for p in paths if not list(ROOT.glob(PLACEHOLDER.sub("*", p).rstrip("/")))]
    assert not missing, f"CONTRIBUTING.md's 'Where to change what' names paths that do not exist: {missing}"


def _tracked_text_files():
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    for name in names.splitlines():
        path = ROOT / name
        if path.suffix in {".py", ".md", ".ipynb", ".yml", ".yaml", ".toml", ".cfg", ".txt", ""} and path.is_file():
            yield name, path.read_text(errors="replace")


def test_nothing_points_outside_the_repository_or_to_issue_numbers():
    outside = re.compile(r"\.\./shared|shared/(DESIGN|OFFLINE-DATA)\.md|lecture" r"-notes/")
    tracker = re.compile(r"\b[Ii]ssue #?\d+\b")
    found = [f"{name}: {m.group(0)}" for name, text in _tracked_text_files()
             for pattern in (outside, tracker) for m in pattern.finditer(text)]
    assert not found, "the repository refers to what its readers do not have:\n" + "\n".join(found[:20])
