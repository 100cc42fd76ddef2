"""The instructor's class workflow (coursegrader.classroom), run as the README shows it.

A generated class (coursegrader.generated_class: right, partly wrong, in progress, mangled and
broken submissions of the current lab, with the scores a correct grader gives) goes
from an LMS zip to grades CSVs on a throw-away PostgreSQL server, graded in parallel.
Also: a re-run grades only what changed and keeps every recorded score; concurrent
writers never mix or lose a student's scores; SQLite stays the default; the published
students' repository holds no solution or hidden-check text.

CLASS_SIZE (default 30: the properties proved, nothing lost, an idempotent re-run, right
scores, do not depend on the class's size) and CLASS_MIX (cheap, the default, or realistic)
size the README run; `make class-demo` runs 200 (MIX=realistic: a class that did its work).
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import os
import pathlib
import random
import re
import resource
import shutil
import subprocess
import sys
import time
import zipfile

import pytest

from course_files import LABS, ROOT, normalize, secret_lines

from coursegrader import classroom, generated_class, pgtemp, publish, solution_text

LAB = LABS[0]
pytestmark = pytest.mark.xdist_group("class")   # one PostgreSQL server, on one worker


@pytest.fixture(scope="module")
def postgres():
    if pgtemp.binaries() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: .ci/run installs it (apt-get install postgresql)")
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with pgtemp.temporary_postgres() as url:
        yield url


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- class-commands:begin -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README.md's instructor section lost its class commands"
    return [line for line in block.group(1).splitlines() if line.strip() and not line.lstrip().startswith("#")]


def fresh_copy(target: pathlib.Path) -> pathlib.Path:
    """The course as a fresh clone has it (tracked and new files), sharing this checkout's .venv."""
    names = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                           check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, names):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


def run_commands(lines, cwd, env):
    """Run shell lines as written; returns stdout, wall seconds and CPU seconds (all processes)."""
    start, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(["bash", "-c", "set -euo pipefail\n" + "\n".join(lines)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=3000)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout, time.perf_counter() - start, _children_cpu() - cpu


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def check_scores(class_dir: pathlib.Path, expected: dict):
    """Every student: the gradebook's CSV holds the expected score of each step, and the
    recorded result a reason that agrees with it."""
    rows = {row["student"]: row for row in read_csv(class_dir / "exports" / f"{LAB}.csv")}
    assert set(rows) == set(expected), "a submission was lost or one appeared from nowhere"
    wrong = []
    for student, want in expected.items():
        row, steps = rows[student], want["expected"]
        got = {gid: float(row[f"test_{gid}"]) for gid in steps}
        if got != steps or float(row["score"]) != sum(steps.values()) or row["status"] != "graded":
            wrong.append(f"{student} ({want['kind']}): {got} != {steps}")
        result = json.loads((class_dir / "autograded" / student / LAB / "result.json").read_text())
        for gid, verdict in result["steps"].items():
            assert verdict["reason"], f"{student} {gid}: no reason"
            assert (verdict["reason"] == "correct") == (verdict["score"] == verdict["max_score"] > 0), \
                f"{student} {gid}: {verdict}"
            assert f"{gid}: {verdict['reason']}" in row["reasons"]
        if want["kind"] == "broken":
            assert result["refused"] and all(v["reason"].startswith("not graded") for v in result["steps"].values())
    assert not wrong, f"{len(wrong)} of {len(expected)} scored wrong:\n" + "\n".join(wrong[:20])
    return rows


def test_readme_class_workflow_on_postgres(postgres, tmp_path):
    """From a fresh copy, the README's commands take a generated class from an LMS zip to grades
    CSVs on PostgreSQL, in parallel, with nothing lost; then a re-run grades only what changed."""
    size, mix = int(os.environ.get("CLASS_SIZE", 30)), os.environ.get("CLASS_MIX", "cheap")
    clone = fresh_copy(tmp_path / "course")
    expected = generated_class.write(LAB, size, tmp_path / "lms", mix)
    for name in ("roster.csv", "submissions.zip"):
        shutil.copy(tmp_path / "lms" / name, clone / name)
    env = dict(os.environ, GRADEBOOK=pgtemp.create_database(postgres, "readme"))
    env.pop("CLASS_DIR", None)
    out, seconds, cpu = run_commands(readme_commands(), clone, env)
    print(f"\n{size} submissions ({mix}) from the README's commands in {seconds:.0f} s, {cpu:.0f} CPU s:\n"
          + "\n".join(line for line in out.splitlines() if "graded" in line or "collected" in line))
    class_dir = clone / "class"
    check_scores(class_dir, expected)
    course = {row["student"]: row for row in read_csv(class_dir / "exports" / "grades.csv")}
    assert set(course) == set(expected) | {"(max)"}
    assert all(float(course[s][LAB]) == sum(w["expected"].values()) for s, w in expected.items())
    secrets = secret_lines(LAB)
    pages = list((class_dir / "feedback").rglob("*.html"))
    assert len(pages) == size
    for page in pages:
        text = normalize(page.read_text())
        assert not [line for line in secrets if line in text], f"{page}: hidden text in feedback"

    # A re-run: nothing changed, nothing graded, nothing recorded lost.
    autograde = [line for line in readme_commands() if " autograde " in line]
    before = {p: p.stat().st_mtime_ns for p in (class_dir / "autograded").rglob("result.json")}
    out, *_ = run_commands(autograde, clone, env)
    assert "nothing changed" in out
    assert {p: p.stat().st_mtime_ns for p in before} == before

    # A new download: two students handed in again, one is missing from it.
    students = sorted(expected)
    gone, again = students[0], students[1:3]
    with zipfile.ZipFile(clone / "submissions.zip") as old, \
            zipfile.ZipFile(clone / "again.zip", "w") as new:
        for info in old.infolist():
            owner = info.filename.split("_")[0]
            if owner == gone:
                continue
            data = old.read(info)
            if owner in again:   # handed in again, broken this time (empty, or a stray space)
                data = b"" if data else b" "
            new.writestr(info, data)
    for student in again:
        expected[student] = {"kind": "broken", "expected": {g: 0.0 for g in expected[student]["expected"]}}
    commands = [line.replace("submissions.zip", "again.zip") for line in readme_commands()
                if " collect " in line or " autograde " in line or " export" in line]
    out, *_ = run_commands(commands, clone, env)
    assert f"graded {len(again)} in" in out and f"{size - len(again)} unchanged results kept" in out
    check_scores(class_dir, expected)   # the missing student keeps the recorded score
    kept = {p: t for p, t in before.items() if p.parts[-3] not in again}
    assert {p: p.stat().st_mtime_ns for p in kept} == kept, "an unchanged submission was graded again"


def test_sqlite_is_the_default_and_a_folder_collects(tmp_path, monkeypatch):
    """One instructor on a laptop: no database server, submissions in a folder per student."""
    monkeypatch.delenv("GRADEBOOK", raising=False)
    klass = classroom.Class(tmp_path / "class")
    assert klass.db == f"sqlite:///{tmp_path / 'class' / 'gradebook.db'}"
    maker = generated_class.Maker(LAB, random.Random(1))
    folder, expected = tmp_path / "handed-in", {}
    for n, kind in enumerate(["in_progress", "partly_wrong", "broken", "mangled"]):
        student = f"student{n}"
        data, expected[student] = maker.make(kind, student, cheap=True)
        (folder / student).mkdir(parents=True)
        (folder / student / f"{LAB}.ipynb").write_bytes(data)
    (folder / "student0" / "notes.txt").write_text("not a notebook")
    classroom.release(klass, LAB)
    assert classroom.collect(klass, LAB, folder) == {s: "new" for s in expected}
    results = classroom.autograde(klass, LAB, workers=2, quiet=True)
    assert {s: {g: v["score"] for g, v in r["steps"].items()} for s, r in results.items()} == expected
    classroom.export(klass, [LAB])
    check_scores(klass.dir, {s: {"kind": "", "expected": e} for s, e in expected.items()})


def _fake(lab_steps, tag, full):
    return {"steps": {gid: {"score": points if full else 0.0, "max_score": points, "reason": tag}
                      for gid, points in lab_steps.items()}, "flags": [], "refused": None}


def _writer(url, lab_steps, shared, own, tag, full, rounds):
    for r in range(rounds):
        for student in shared + own:
            classroom.record(url, LAB, student, _fake(lab_steps, f"{tag}/{r}", full))


def test_concurrent_writers_lose_nothing_on_postgres(postgres, tmp_path):
    """Four graders write at once: some students are graded by all four (a re-grade racing another),
    each has students of its own. Every write lands whole: no student mixes two graders' steps,
    none is missing, none has two submissions."""
    klass = classroom.Class(tmp_path / "class", pgtemp.create_database(postgres, "concurrent"))
    classroom.release(klass, LAB)
    from coursegrader import grade as engine

    steps = engine.points(json.loads((ROOT / "labs" / LAB / f"{LAB}.ipynb").read_text()))
    shared = [f"shared{n}" for n in range(4)]
    jobs = [(klass.db, steps, shared, [f"own{w}-{n}" for n in range(3)], f"w{w}", w % 2 == 0, 3)
            for w in range(4)]
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.starmap(_writer, jobs)
    header, rows = classroom.lab_rows(klass, LAB)
    table = {row[0]: dict(zip(header, row)) for row in rows}
    owners = {s for job in jobs for s in job[3]}
    assert set(table) == set(shared) | owners
    for student, row in table.items():
        tags = set(re.findall(r"w\d/\d", row["reasons"]))
        assert len(tags) == 1, f"{student} mixes the writes of {tags}"
        (tag,) = tags
        full = int(tag[1]) % 2 == 0
        assert row["score"] == (sum(steps.values()) if full else 0), f"{student}: {row}"
        if student.startswith("own"):
            assert tag.endswith(f"/{jobs[0][6] - 1}"), f"{student}: the last write was lost ({tag})"
    with classroom.open_gradebook(klass.db) as gradebook:
        assert len(gradebook.find_assignment(LAB).submissions) == len(table)


@pytest.mark.parametrize("name, roster, student", [
    ("jdoe_12345_67890_lab1_convolution.ipynb", [], "jdoe"),                 # Canvas
    ("jdoe_late_12345_67890_lab1_convolution.ipynb", [], "jdoe"),            # Canvas, late
    ("ann_lee_4_5_lab1_convolution.ipynb", ["ann_lee", "ann"], "ann_lee"),   # an id with an underscore
    ("ann_lee/lab1_convolution.ipynb", [], "ann_lee"),                       # a folder per student
    ("ann_lee/lab1_convolution/lab1_convolution.ipynb", [], "ann_lee"),      # nbgrader's layout
    ("Ann Lee_991_assignsubmission_file_/lab1.ipynb", ["ann", "Ann Lee"], "Ann Lee"),   # Moodle
    ("bob.ipynb", [], "bob"),                                                # a notebook per student
])
def test_student_of_an_lms_file_name(name, roster, student):
    assert classroom.student_of(name, roster) == student


def test_student_pattern_overrides():
    pattern = re.compile(r"^(?P<student>\d+)-")
    assert classroom.student_of("12345-lab1.ipynb", [], pattern) == "12345"
    assert classroom.student_of("lab1.ipynb", [], pattern) is None


def test_published_repository_holds_no_solutions(tmp_path):
    url = "https://github.com/state-university/cnn-course-students"
    out = publish.publish(tmp_path / "students", url)
    files = subprocess.run(["git", "ls-files"], cwd=out, check=True, capture_output=True, text=True).stdout.split()
    assert not [f for f in files if f.startswith("solutions/") or f.endswith("grader.py")]
    # no grading engine, and no lab step's reference implementation (those live in coursegrader)
    assert not [f for f in files if f.startswith(("src/coursegrader/", "grader/"))]
    assert not [f"{f}: {m}" for f in files if f.endswith(".py")
                for m in re.findall(r"^\s*def (?!test_)(\w+_reference)\(", (out / f).read_text(), re.M)]
    assert "labs/" + LAB + "/" + LAB + ".ipynb" in files and "src/coursekit/__init__.py" in files
    log = subprocess.run(["git", "log", "--oneline"], cwd=out, check=True, capture_output=True, text=True)
    assert len(log.stdout.splitlines()) == 1, "the course's history (which holds the solutions) leaked"
    secrets, old_url = solution_text.all_secret_lines(), publish.repository_url()
    assert len(secrets) >= 20 and any("Step(" in line for line in secrets), "too few secret lines to look for"
    for name in files:
        text = (out / name).read_text(errors="replace")
        assert "### BEGIN SOLUTION" not in text and "### BEGIN HIDDEN TESTS" not in text, name
        flat = normalize(text)
        assert not [line for line in secrets if line in flat], f"{name}: solution or hidden-check text"
        assert old_url == url or old_url not in text, f"{name} still points at {old_url}"
    config = (out / "_config.yml").read_text()
    assert re.search(rf"^repository:\s*\n\s+url:\s*{re.escape(url)}\s*$", config, re.M)
    assert "use_repository_button: true" in config and "colab_url:" in config
    lab = (out / "labs" / LAB / f"{LAB}.ipynb").read_text()
    assert url in lab, "the lab's setup cell installs coursekit from the published repository"
    assert "coursegrader" not in (out / "README.md").read_text()
    # Its own test suite collects without solutions/ (it stopped at collection before).
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
                          cwd=out, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " tests collected" in proc.stdout or "tests collected" in proc.stdout
