"""The two distributions: the students' cnn-coursekit holds no grading and no answer key.

The student wheel is built as PyPI would get it (`python -m build`) and its files listed:
no grading package, and no module that defines a lab step's reference (a function named
``*_reference``). The instructor's cnn-coursegrader (grader/) asks for what the course's
`grading` extra installs. `make dist` builds both, checks them with twine and installs them
into a clean venv.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile

import pytest

from course_files import ROOT

pytestmark = pytest.mark.slow   # a wheel build: ~15 s


@pytest.fixture(scope="module")
def student_wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(out.glob("cnn_coursekit-*.whl"))
    assert len(wheels) == 1, list(out.iterdir())
    return wheels[0]


def test_the_student_wheel_holds_coursekit_and_no_grading(student_wheel):
    with zipfile.ZipFile(student_wheel) as wheel:
        names = wheel.namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("cnn_coursekit-")}
    assert packages == {"coursekit"}, packages
    assert "coursekit/arith.py" in names and "coursekit/checks/__init__.py" in names
    assert not [n for n in names if "grading" in n or "coursegrader" in n or "grader" in n.split("/")[-1]]


def test_the_student_wheel_ships_no_reference_implementation(student_wheel):
    """A lab step's reference lives with the instructor (coursegrader), never in coursekit."""
    found = []
    with zipfile.ZipFile(student_wheel) as wheel:
        for name in wheel.namelist():
            if name.endswith(".py"):
                text = wheel.read(name).decode()
                found += [f"{name}: def {m}" for m in re.findall(r"^\s*def (\w+_reference)\(", text, re.M)]
    assert not found, "answer keys in the students' package:\n" + "\n".join(found)


def test_the_grader_distribution_asks_for_what_the_grading_extra_installs():
    course = tomllib.loads((ROOT / "pyproject.toml").read_text())
    grader = tomllib.loads((ROOT / "grader" / "pyproject.toml").read_text())
    kit = course["project"]["name"]
    assert grader["project"]["dependencies"][0].startswith(kit), "cnn-coursegrader first needs coursekit"
    assert grader["project"]["dependencies"][1:] == course["project"]["optional-dependencies"]["grading"]
    assert grader["project"]["scripts"] == {"coursegrader": "coursegrader.cli:run"}
    assert (ROOT / "grader" / "src" / "coursegrader").resolve() == ROOT / "src" / "coursegrader"
