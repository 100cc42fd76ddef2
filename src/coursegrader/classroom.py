"""Running a class: release, collect, autograde in parallel, feedback, export.

    coursegrader release LAB [--roster roster.csv]     gradebook entries + release
    coursegrader collect LAB SOURCE [--pattern REGEX]  a folder or an LMS zip
    coursegrader autograde LAB [--workers N | --scheduler tcp://HOST:8786] [--seed N] [--force]
    coursegrader feedback LAB
    coursegrader export [LAB ...]                      CSV per lab and for the course

Everything lives in one class folder (``--class-dir``, default ``$CLASS_DIR`` or
``class/``), laid out as nbgrader lays out a course (``submitted/<student>/<lab>/``,
``autograded/``, ``feedback/``). The gradebook is nbgrader's, at the SQLAlchemy URL
``--db`` (default ``$GRADEBOOK``, else ``sqlite:///<class-dir>/gradebook.db``): a
PostgreSQL URL such as ``postgresql://grader@db.host/cnn`` lets several graders,
processes or machines, write to it at once.

Grading is course.py's (each submission in its own sandbox, judged by a trusted
process), and writing a result into the gradebook is gradebook.py's. This module adds
the class around it: one seed per lab for the whole class; one Dask task per submission
(cluster.py: an embedded cluster, or the instructor's), each result recorded once, by
this process, as soon as it comes back (a crash loses nothing already graded; the
workers never touch the gradebook); and a re-run that grades only submissions whose
bytes changed since their recorded result, or whose task failed.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import os
import pathlib
import re
import shutil
import time
import zipfile

from . import course  # the grading chores this module builds on
from .gradebook import open_gradebook, record, scores, ungraded, with_driver, without_password

ROOT = course.ROOT
_CANVAS = re.compile(r"^(?P<student>[^_/]+)_(?:late_)?\d+_\d+_")   # login_[late_]userid_subid_name


# --- the class folder and its gradebook ------------------------------------------------

class Class:
    def __init__(self, folder=None, db=None):
        self.dir = pathlib.Path(folder or os.environ.get("CLASS_DIR") or "class").resolve()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = with_driver(db or os.environ.get("GRADEBOOK") or f"sqlite:///{self.dir / 'gradebook.db'}")

    def submitted(self, lab, student=None):
        return self.dir / "submitted" / (student or "") / (lab if student else "")

    def notebook(self, lab, student):
        return self.dir / "submitted" / student / lab / f"{lab}.ipynb"

    def result_path(self, lab, student):
        return self.dir / "autograded" / student / lab / "result.json"

    def students_with(self, lab):
        root = self.dir / "submitted"
        return sorted(p.name for p in root.iterdir() if (p / lab / f"{lab}.ipynb").exists()) if root.exists() else []

    def seed(self, lab, override=None):
        """One seed per lab for the whole class, kept, so that a re-run uses the same probes."""
        path = self.dir / "seeds.json"
        seeds = json.loads(path.read_text()) if path.exists() else {}
        if override is not None or lab not in seeds:
            from .grade import new_seed
            seeds[lab] = new_seed() if override is None else override
            _write_atomic(path, json.dumps(seeds, indent=1))
        return seeds[lab]


def _write_atomic(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# --- release -----------------------------------------------------------------------------

def release(klass: Class, lab: str, roster: str | None = None) -> pathlib.Path:
    """Record the lab (its graded cells and points) and the roster in the gradebook, and put
    the student version under <class>/release/<lab>/ for the exchange or the LMS."""
    with course.scratch_course(lab) as scratch:
        course.nbgrader(["generate_assignment", lab, "--force", f"--db={klass.db}"], scratch)
        if roster:
            course.nbgrader(["db", "student", "import", str(pathlib.Path(roster).resolve()),
                              f"--db={klass.db}"], scratch)
        target = klass.dir / "release" / lab
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(scratch / "labs" / lab, target)
    drift = (target / f"{lab}.ipynb").read_bytes() != (course.RELEASE / lab / f"{lab}.ipynb").read_bytes()
    if drift:
        print(f"WARNING: labs/{lab} differs from what solutions/ generates: run `make labs` and commit")
    return target


# --- collect -----------------------------------------------------------------------------

def _roster_ids(klass: Class) -> list[str]:
    with open_gradebook(klass.db) as gradebook:
        return [s.id for s in gradebook.students]


def student_of(name: str, roster: list[str], pattern: re.Pattern | None = None) -> str | None:
    """The student a file belongs to: the --pattern's `student` group; else the longest roster id
    that starts a folder or the file name (LMS names: `jdoe_123_456_lab1.ipynb`, `jdoe/lab1.ipynb`);
    else Canvas's login prefix; else the first folder; else the file's stem."""
    if pattern is not None:
        found = pattern.search(name)
        return found.group("student") if found else None
    parts = pathlib.PurePosixPath(name).parts
    for part in parts:
        hits = [s for s in roster if part == s or re.match(re.escape(s) + r"[_\-. ]", part)]
        if hits:
            return max(hits, key=len)
    found = _CANVAS.match(parts[-1])
    if found:
        return found.group("student")
    return parts[0] if len(parts) > 1 else pathlib.PurePosixPath(name).stem


def _entries(source: pathlib.Path):
    """(name, bytes, time) for each notebook in a folder or a zip; other files are reported."""
    skipped = []
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                if not info.filename.endswith(".ipynb") or "__MACOSX" in info.filename:
                    skipped.append(info.filename)
                    continue
                yield info.filename, archive.read(info), datetime.datetime(*info.date_time)
    elif source.is_dir():
        for path in sorted(source.rglob("*")):
            if path.is_file():
                if path.suffix != ".ipynb" or ".ipynb_checkpoints" in path.parts:
                    skipped.append(str(path.relative_to(source)))
                    continue
                stamp = datetime.datetime.fromtimestamp(path.stat().st_mtime)
                yield str(path.relative_to(source).as_posix()), path.read_bytes(), stamp
    else:
        raise SystemExit(f"{source}: neither a folder nor a zip file")
    for name in skipped:
        print(f"  skipped (not a notebook): {name}")


def collect(klass: Class, lab: str, source, pattern: str | None = None) -> dict[str, str]:
    """Copy each student's notebook to submitted/<student>/<lab>/<lab>.ipynb. Returns
    {student: new | changed | unchanged}. The latest file wins when a student has several."""
    roster = _roster_ids(klass)
    regex = re.compile(pattern) if pattern else None
    latest: dict[str, tuple] = {}
    for name, data, stamp in _entries(pathlib.Path(source)):
        student = student_of(name, roster, regex)
        if not student:
            print(f"  no student in the name, left out: {name}")
            continue
        if student in latest:
            print(f"  {student} handed in several files; keeping the latest")
        if student not in latest or stamp >= latest[student][1]:
            latest[student] = (data, stamp, name)
    status = {}
    for student, (data, stamp, name) in sorted(latest.items()):
        target = klass.notebook(lab, student)
        old = target.read_bytes() if target.exists() else None
        status[student] = "new" if old is None else "unchanged" if old == data else "changed"
        if old != data:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            (target.parent / "timestamp.txt").write_text(stamp.isoformat(sep=" "))
    unknown = sorted(set(status) - set(roster)) if roster else []
    if unknown:
        print(f"  not on the roster (collected anyway; add them or fix --pattern): {', '.join(unknown)}")
    missing = sorted(set(roster) - set(klass.students_with(lab)))
    if missing:
        print(f"  no submission yet from {len(missing)}: {', '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}")
    return status


# --- autograde ---------------------------------------------------------------------------

def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def to_grade(klass: Class, lab: str, seed: int, force: bool = False) -> dict[str, bytes]:
    """Submissions with no recorded result for these bytes, this seed and this gradebook."""
    todo = {}
    for student in klass.students_with(lab):
        data = klass.notebook(lab, student).read_bytes()
        done = klass.result_path(lab, student)
        if not force and done.exists():
            old = json.loads(done.read_text())
            same = ((old.get("sha256"), old.get("seed"), old.get("gradebook"))
                    == (_digest(data), seed, without_password(klass.db)))
            if same and not old.get("retry"):
                continue
        todo[student] = data
    return todo


def autograde(klass: Class, lab: str, workers: int | None = None, seed: int | None = None,
              force: bool = False, quiet: bool = False, scheduler=None) -> dict[str, dict]:
    """Grade every changed submission of `lab`, one Dask task each (cluster.py: an embedded
    cluster of `workers` processes, or the scheduler at `scheduler`); return {student: result}.
    Each result is recorded in the gradebook and under autograded/ as soon as it comes back."""
    from . import cluster, grade as engine

    seed = klass.seed(lab, seed)
    todo = to_grade(klass, lab, seed, force)
    kept = len(klass.students_with(lab)) - len(todo)
    if not todo:
        print(f"{lab}: nothing changed since the last run ({kept} results kept)")
        return {}
    probes = engine.probes_for(course.SOLUTIONS / lab, seed)   # once, shared with every worker
    start = time.perf_counter()
    with cluster.connect(scheduler, workers, tasks=len(todo)) as client:
        cluster.check_course(client, lab)
        size = cluster.size(client)
        if not quiet:
            print(f"{lab}: grading {len(todo)} submissions on {cluster.describe(client)}")
        results = _grade_on(client, klass, lab, todo, seed, probes, quiet)
    elapsed = time.perf_counter() - start
    print(f"{lab}: graded {len(todo)} in {elapsed:.1f} s with {size} workers "
          f"({60 * len(todo) / elapsed:.1f} per minute); {kept} unchanged results kept; seed {seed}")
    return results


def _grade_on(client, klass: Class, lab: str, todo: dict[str, bytes], seed: int, probes, quiet: bool):
    """One task per submission (Dask retries a task once; a task whose worker dies is run again);
    each result, or the failure of its task, recorded once, as it comes back."""
    import uuid

    from distributed import as_completed

    from .progress import Progress

    shared = client.scatter([probes], broadcast=True, hash=False)[0]   # sent once to each worker
    run = uuid.uuid4().hex[:8]
    futures = {client.submit(course.grade_one, lab, data, seed, shared, retries=1, key=(f"grade-{lab}", student, run)):
               student for student, data in todo.items()}
    progress = Progress(lab, len(todo), quiet=quiet)
    results, failed = {}, 0
    for future in as_completed(futures):
        student = futures[future]
        result = _outcome(future, lab, seed, len(results))
        failed += bool(result.get("retry"))
        result.update(sha256=_digest(todo[student]), student=student, timestamp=_timestamp(klass, lab, student),
                      gradebook=without_password(klass.db))
        record(klass.db, lab, student, result)
        _write_atomic(klass.result_path(lab, student), json.dumps(result, indent=1))
        results[student] = result
        future.release()
        if not quiet:
            print(f"  {student:<24} {result['score']:g} / {result['max_score']:g}"
                  f"{'  FLAGGED' if result['flags'] else ''}{'  ' + result['refused'] if result['refused'] else ''}")
        if progress.due():
            progress.show(len(results), _running(client, futures), failed)
    return results


def _running(client, futures) -> int:
    """How many of these tasks a worker is running now."""
    ours = {f.key for f in futures if f.status == "pending"}
    return sum(key in ours for keys in client.processing().values() for key in keys)


def _outcome(future, lab: str, seed: int, recorded: int) -> dict:
    """The task's result; for a task that failed twice (its grader raised, or its worker died
    each time it ran), a 0 with the reason, flagged, that the next autograde grades again.

    Read with result(), never from the future's status: a result held by a worker that dies
    before this process reads it is lost (status "lost", after as_completed yielded it) and
    Dask computes it again; result() waits for that, where the status said "not finished"."""
    from concurrent.futures import CancelledError

    try:
        return future.result()
    except CancelledError:   # the scheduler went away: what is recorded stays; re-run for the rest
        raise SystemExit(f"{lab}: the Dask scheduler went away after {recorded} results (each recorded); "
                         "run autograde again to grade the rest") from None
    except Exception as error:  # noqa: BLE001 - whatever the task raised twice, or KilledWorker
        why = ("not graded: every worker that ran it died (out of memory? see the Dask workers' logs)"
               if type(error).__name__ == "KilledWorker"
               else f"not graded: the grader failed twice ({type(error).__name__}: {error})")
    return ungraded(lab, seed, why, retry=True)


def _timestamp(klass, lab, student):
    path = klass.notebook(lab, student).parent / "timestamp.txt"
    return path.read_text().strip() if path.exists() else None


# --- feedback and export -----------------------------------------------------------------

def feedback(klass: Class, lab: str) -> list[pathlib.Path]:
    """One HTML page per graded student: score, reason per step, the visible tests. Built from
    the release and the recorded verdicts only: hidden checks and probes never reach it."""
    from . import feedback as render

    release_nb = json.loads((course.RELEASE / lab / f"{lab}.ipynb").read_text())
    pages = []
    for student in klass.students_with(lab):
        result_path = klass.result_path(lab, student)
        if not result_path.exists():
            print(f"  {student}: not graded yet (run autograde)")
            continue
        page = klass.dir / "feedback" / student / lab / f"{lab}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(render.render(json.loads(result_path.read_text()), release_nb))
        pages.append(page)
    return pages


def lab_rows(klass: Class, lab: str) -> tuple[list[str], list[list]]:
    """The gradebook's view of one lab: a row per student on the roster or with a submission."""
    with open_gradebook(klass.db) as gradebook:
        assignment = gradebook.find_assignment(lab)
        cells = [c.name for nb in assignment.notebooks for c in nb.grade_cells]
        header = ["student", "status", "score", "max_score"] + cells + ["reasons"]
        rows = []
        for student in sorted(gradebook.students, key=lambda s: s.id):
            try:
                sub = gradebook.find_submission(lab, student.id)
            except Exception:  # noqa: BLE001 - nbgrader's MissingEntry: on the roster, nothing handed in
                rows.append([student.id, "no submission", 0, assignment.max_score] + [0] * len(cells) + [""])
                continue
            got = scores(sub)
            reasons = [f"{c.name}: {c.comment}" for nb in sub.notebooks for c in nb.comments if c.comment]
            rows.append([student.id, "graded", got["score"], got["max_score"]]
                        + [got["cells"].get(c, (0,))[0] for c in cells] + ["; ".join(reasons)])
        return header, rows


def export(klass: Class, labs: list[str], out: pathlib.Path | None = None) -> list[pathlib.Path]:
    """<out>/<lab>.csv for each lab and <out>/grades.csv for the course (a row per student)."""
    out = pathlib.Path(out or klass.dir / "exports")
    out.mkdir(parents=True, exist_ok=True)
    written, totals, maxima = [], {}, {}
    for lab in labs:
        header, rows = lab_rows(klass, lab)
        written.append(_write_csv(out / f"{lab}.csv", header, rows))
        maxima[lab] = rows[0][3] if rows else 0
        for row in rows:
            totals.setdefault(row[0], {})[lab] = row[2]
    course_rows = [[s] + [marks.get(lab, 0) for lab in labs] + [sum(marks.values())]
                   for s, marks in sorted(totals.items())]
    course_rows.append(["(max)"] + [maxima[lab] for lab in labs] + [sum(maxima.values())])
    written.append(_write_csv(out / "grades.csv", ["student", *labs, "total"], course_rows))
    return written


def _write_csv(path, header, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([[f"{v:g}" if isinstance(v, float) else v for v in row] for row in rows])
    _write_atomic(path, buffer.getvalue())
    return path


def released_labs(klass: Class) -> list[str]:
    with open_gradebook(klass.db) as gradebook:
        return sorted(a.name for a in gradebook.assignments)
