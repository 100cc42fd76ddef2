"""The instructor's nbgrader chores, each in a throw-away course folder.

    python scripts/course.py generate [LAB ...]       regenerate labs/ from solutions/
    python scripts/course.py grade LAB [NOTEBOOK]     autograde NOTEBOOK (default: the solution)

Working in a temporary copy of the course means the repository never gains a
gradebook or half-written files, and a submission is copied, never modified.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
RELEASE = ROOT / "labs"


def all_labs() -> list[str]:
    return sorted(p.name for p in SOLUTIONS.iterdir() if (p / f"{p.name}.ipynb").exists())


def _nbgrader(args, cwd):
    # nbgrader runs tools such as `alembic` from PATH: put this Python's bin folder first.
    bin_dir = os.path.dirname(sys.executable)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@contextlib.contextmanager
def scratch_course(lab: str):
    """A temporary nbgrader course holding one lab's source, already generated."""
    if not (SOLUTIONS / lab / f"{lab}.ipynb").exists():
        raise SystemExit(f"no lab {lab!r}: choose one of {all_labs()}")
    with tempfile.TemporaryDirectory(prefix="cnn-course-") as tmp:
        course = pathlib.Path(tmp)
        shutil.copy(ROOT / "nbgrader_config.py", course)
        shutil.copytree(SOLUTIONS / lab, course / "solutions" / lab)
        # Generating also records the graded cells and their points in the gradebook.
        _nbgrader(["generate_assignment", lab, "--force"], course)
        yield course


def generate(lab: str, release: pathlib.Path = RELEASE) -> pathlib.Path:
    """Write the student version of `lab` into release/<lab>/ and return that folder."""
    with scratch_course(lab) as course:
        target = release / lab
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(course / "labs" / lab, target)
    return target


def grade(lab: str, submission: str | os.PathLike | None = None, student: str = "demo") -> dict:
    """Autograde `submission` and return its score, per graded cell and in total.

    A submission whose code kills the Python kernel is not lost: the cell that does it is
    replaced by one that raises, and the rest is graded as usual (`result["error"]` says so).
    """
    notebook = f"{lab}.ipynb"
    submission = pathlib.Path(submission) if submission else SOLUTIONS / lab / notebook
    with scratch_course(lab) as course:
        target = course / "submitted" / student / lab
        target.mkdir(parents=True)
        shutil.copy(submission, target / notebook)
        start = time.perf_counter()
        error = None
        for _attempt in range(3):
            try:
                _nbgrader(["autograde", lab, "--force"], course)
            except RuntimeError as err:
                error = _last_error(str(err))
                killer = _disarm_kernel_killer(target / notebook)
                if killer is not None:
                    error = f"{error}; cell {killer} stopped the kernel and was graded as failing"
                    continue
                # Nothing left to disarm (e.g. a locked test cell crashed): every cell scores zero.
                return _zero_scores(course, lab) | {"seconds": time.perf_counter() - start,
                                                   "error": error}
            result = _scores(course, lab, student) | {"seconds": time.perf_counter() - start}
            return result | ({"error": error} if error else {})
        return _zero_scores(course, lab) | {"seconds": time.perf_counter() - start, "error": error}


def _disarm_kernel_killer(path: pathlib.Path) -> int | None:
    """Run the notebook cell by cell; the first student cell that kills the kernel is replaced
    by one that raises. Returns that cell's index, or None when no student cell did it."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent)}})
    os.environ["NBGRADER_EXECUTION"] = "autograde"  # the kernel sees what nbgrader would set
    try:
        with client.setup_kernel():
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    if cell.get("metadata", {}).get("nbgrader", {}).get("locked"):
                        return None  # nbgrader restores locked cells: disarming would not last
                    cell.source = "raise RuntimeError('this cell stopped the Python kernel during grading')"
                    cell.outputs = []
                    nbformat.write(nb, path)
                    return index
    finally:
        os.environ.pop("NBGRADER_EXECUTION", None)
    return None


def _scores(course: pathlib.Path, lab: str, student: str) -> dict:
    """Points per graded cell, as nbgrader's gradebook recorded them."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(lab, student)
        cells = {grade.name: (float(grade.score), float(grade.max_score))
                 for notebook in submission.notebooks for grade in notebook.grades}
        return {"cells": cells, "score": float(submission.score),
                "max_score": float(submission.max_score)}


def _zero_scores(course: pathlib.Path, lab: str) -> dict:
    """Every graded cell of the lab at zero points, out of its full points."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        assignment = gradebook.find_assignment(lab)
        cells = {cell.name: (0.0, float(cell.max_score))
                 for notebook in assignment.notebooks for cell in notebook.grade_cells}
    return {"cells": cells, "score": 0.0, "max_score": sum(total for _, total in cells.values())}


def _last_error(log: str) -> str:
    lines = [line for line in log.splitlines() if "Error" in line or "died" in line]
    return lines[-1].strip() if lines else log.strip().splitlines()[-1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="regenerate labs/ from solutions/")
    gen.add_argument("labs", nargs="*")
    grd = sub.add_parser("grade", help="autograde a submission and print its score")
    grd.add_argument("lab")
    grd.add_argument("submission", nargs="?")
    args = parser.parse_args(argv)
    if args.command == "generate":
        for lab in args.labs or all_labs():
            print(f"generated {generate(lab).relative_to(ROOT)}")
        return 0
    result = grade(args.lab, args.submission)
    for grade_id, (got, total) in result["cells"].items():
        print(f"  {grade_id:<28} {got:g} / {total:g}")
    if "error" in result:
        print(f"  note: {result['error']}")
    print(f"{args.lab}: score {result['score']:g} / {result['max_score']:g} "
          f"(autograded in {result['seconds']:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
