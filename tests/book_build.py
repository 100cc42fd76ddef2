"""The built book, shared by the book, template and browser tests.

Chapters are executed first, in parallel, into the jupyter-cache (scripts/execute_chapters.py),
then `jupyter-book build` renders them strictly: a warning or a broken cross-reference fails.
Every test that uses these fixtures is marked `xdist_group("book")`, so that under
pytest-xdist (`--dist loadgroup`) one worker builds the book once while the others grade labs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys

import pytest

from course_files import ROOT

BUILD = ROOT / "_build" / "html"
BIN = ROOT / ".venv" / "bin"


def _tool(name: str) -> str:
    return str(BIN / name) if (BIN / name).exists() else name


def _without_mplbackend() -> dict:
    # The chapters' kernels must draw inline: the Agg backend the tests use would drop every figure.
    return {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}


@contextlib.contextmanager
def _once_per_run(tmp_path_factory, name):
    """A folder shared by the workers of one pytest run, and a lock on it: a session fixture
    that builds into ROOT/_build must run once per run, not once per xdist worker."""
    base = tmp_path_factory.getbasetemp()
    # under xdist each worker's basetemp is <run>/popen-gwN: <run> is this run's, shared
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / name
    shared.mkdir(exist_ok=True)
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield shared
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def executed_chapters(tmp_path_factory):
    """{chapter: {"seconds", "cached", "error"}}: every chapter run into the book's cache."""
    with _once_per_run(tmp_path_factory, "chapters") as shared:
        report = shared / "times.json"
        if not report.exists():
            jobs = os.environ.get("BOOK_JOBS") or str(max(1, (os.cpu_count() or 1) // _workers()))
            proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "execute_chapters.py"),
                                   "--jobs", jobs, "--json", str(report)],
                                  cwd=ROOT, env=_without_mplbackend(), capture_output=True, text=True)
            if not report.exists():
                pytest.fail(f"executing the chapters failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return json.loads(report.read_text())


def _workers() -> int:
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


@pytest.fixture(scope="session")
def book(request):
    """_build/html, built strictly from the chapters just executed.

    BOOK_BUILT=1 reuses the book already in _build/html (while working on the tests only).
    """
    if os.environ.get("BOOK_BUILT") == "1" and (BUILD / "index.html").exists():
        return BUILD
    executed_chapters = request.getfixturevalue("executed_chapters")
    failed = {name: run["error"] for name, run in executed_chapters.items() if run["error"]}
    assert not failed, f"chapters failed to execute: {failed}"
    # --all: every page read again, so that no warning hides in a page kept from an earlier build
    # (executed chapters still come from the jupyter-cache).
    command = [_tool("jupyter-book"), "build", "--all", "--warningiserror", "--nitpick", "--keep-going",
               str(ROOT)]
    with _once_per_run(request.getfixturevalue("tmp_path_factory"), "book") as shared:
        outcome = shared / "outcome.txt"
        if not outcome.exists():
            proc = subprocess.run(command, cwd=ROOT, env=_without_mplbackend(), capture_output=True, text=True)
            outcome.write_text("" if proc.returncode == 0 else f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}")
        failure = outcome.read_text()
    assert not failure, f"the book build failed:\n{failure}"
    return BUILD
