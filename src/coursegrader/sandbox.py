"""Run untrusted code in a box: bubblewrap namespaces, an unprivileged user, rlimits.

The box sees the Python installation read-only, an empty /tmp and one job folder,
nothing else: not the course folder, the gradebook, the solutions or other
submissions. It has no network. Each run gets a wall-clock limit, a CPU-time limit
and an address-space limit; when it ends, its PID namespace ends with it, so no
process it started survives. Libraries can be removed from its view
(``hide=("tensorflow", ...)``), which is how "NumPy only" is enforced, and so can
coursekit, all of it but the modules a step may use (``coursekit=("coursekit.train",)``).

Where bubblewrap is missing or does not work, code still runs (with the limits, in
its own process group) but :func:`available` says why not, and the grader reports
the submission as graded without a sandbox.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator

NOBODY = 65534


@dataclasses.dataclass
class Outcome:
    returncode: int | None       # None when it was killed for running too long
    seconds: float
    stderr: str                  # for the instructor's log only: it never changes a score
    timed_out: bool = False
    ended_session: bool = False  # the step ended (or hung) its session: a crash, whatever it wrote

    @property
    def killed_by(self) -> str | None:
        if self.timed_out:
            return "time"
        if self.returncode is not None and self.returncode < 0:
            return signal.Signals(-self.returncode).name
        return None


def _python_roots() -> list[str]:
    """Folders the interpreter and its packages live in, read-only in the box."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable))}
    roots |= {sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib")}
    # coursekit itself (labs call coursekit.train): an editable install lives outside site-packages.
    # Only coursekit's folder: the grading package beside it in a checkout stays out of the box.
    roots.add(_coursekit_dir())
    kept = []
    for root in sorted(roots, key=len):  # drop folders already inside another one
        if os.path.isdir(root) and not any(root.startswith(k + os.sep) for k in kept):
            kept.append(root)
    return kept


def _coursekit_dir() -> str:
    """Where coursekit is installed, found without importing it (no TensorFlow in the grader for it)."""
    import importlib.util

    return str(pathlib.Path(importlib.util.find_spec("coursekit").origin).resolve().parent)


def _coursekit_hidden(allow) -> list[str]:
    """coursekit's files and folders that a step allowed `allow` may not see: every module but the
    allowed ones and those they import (read from their source, never run here)."""
    root = pathlib.Path(_coursekit_dir())
    if not allow:
        return [str(root)]
    modules = {p.stem: p for p in root.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    # the package's __init__ runs on every import: it and what it imports stay visible too
    keep, todo = set(), ["__init__", *(a.split(".")[1] for a in allow if a.count(".") >= 1)]
    while todo:
        name = todo.pop()
        if name in keep or name not in modules:
            continue
        keep.add(name)
        todo += _imported_modules(modules[name] if modules[name].is_file() else modules[name] / "__init__.py")
    return [str(path) for name, path in sorted(modules.items()) if name not in keep]


def _imported_modules(path: pathlib.Path) -> list[str]:
    """The coursekit modules that this coursekit file imports (absolute or relative)."""
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            parts = (node.module or "").split(".") if node.level else (node.module or "").split(".")[1:]
            if node.level or (node.module or "").split(".")[0] == "coursekit":
                found += parts[:1] if parts and parts[0] else [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name.split(".")[1] for a in node.names if a.name.startswith("coursekit.")]
    return found


def _library_dirs(names) -> list[str]:
    site = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    return [os.path.join(s, n) for s in site for n in names if os.path.isdir(os.path.join(s, n))]


@functools.lru_cache(maxsize=1)
def available() -> tuple[bool, str]:
    """(True, "bubblewrap") when the box works here, else (False, why not)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return False, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap"
    try:
        proc = subprocess.run(_bwrap_command("/nonexistent-job", [], ["/bin/true"]),
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"bubblewrap does not start: {error}"
    if proc.returncode != 0:
        return False, f"bubblewrap does not work here: {proc.stderr.strip()[:300]}"
    return True, "bubblewrap"


def _bwrap_command(job: str, hide, command, coursekit=None) -> list[str]:
    args = ["bwrap", "--unshare-all", "--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY),
            "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--chdir", "/tmp",
            "--setenv", "HOME", "/tmp"]
    for path in ("/usr", "/lib", "/lib64", "/bin", "/etc/alternatives", "/etc/ld.so.cache", "/etc/fonts"):
        if os.path.exists(path):
            args += ["--ro-bind", path, path]
    for root in _python_roots():
        args += ["--ro-bind", root, root]
    for folder in _library_dirs(hide):
        args += ["--tmpfs", folder]   # an empty folder where the library was
    for path in _coursekit_hidden(coursekit) if coursekit is not None else ():
        args += ["--tmpfs", path] if os.path.isdir(path) else ["--ro-bind", "/dev/null", path]  # an empty module
    if os.path.isdir(job):
        args += ["--bind", job, "/job"]
    return args + list(command)


def _limits(cpu_seconds: int, memory_bytes: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 20, 256 << 20))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


@dataclasses.dataclass
class Job:
    folder: pathlib.Path         # job.json, probes.npz (made by write); the step's results go here
    timeout: float               # seconds of wall-clock time for the step
    memory_mb: int               # address space of the step's process
    write: Callable[[pathlib.Path], None]  # writes the job into the folder, just before the step runs


_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
        "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
        "NBGRADER_EXECUTION": "autograde"}  # labs skip long training when this is set
_START_SECONDS = 180   # for a session to import its libraries
_MARGIN_SECONDS = 30   # past a step's own timeout, which the session enforces, before the grader does


def run_jobs(jobs: list[Job], *, hide=(), coursekit=None, warm=(), sandbox: bool = True) -> Iterator[Outcome]:
    """Run each job's step, in order, and yield their outcomes. `hide` names libraries to hide;
    `coursekit`, when not None, the only coursekit modules the steps may see; `warm`, modules that
    the session imports once for all its steps (those the lab's given cells import).

    The steps share a session (runner.py --session): the libraries are imported once, and each
    step runs alone in a forked process under its own limits. A step that kills the session, or
    hangs it, costs that step only: the next steps get a new session. The next step is sent
    before an outcome is yielded, so the caller judges a step while the box runs the next one."""
    done = 0
    while done < len(jobs):
        with contextlib.closing(_session(jobs[done:], hide, coursekit, warm, sandbox)) as outcomes:
            for outcome in outcomes:
                done += 1
                yield outcome


def _session(jobs: list[Job], hide, coursekit, warm, boxed: bool) -> Iterator[Outcome]:
    """Outcomes of the first jobs, up to and including the first one that ends the session."""
    import tempfile

    warm = (() if hide else ("tensorflow", "keras")) + tuple(warm)
    with tempfile.TemporaryDirectory(prefix="session-", dir=jobs[0].folder.parent) as tmp:
        root = pathlib.Path(tmp)
        os.chmod(root, 0o777)  # the box's unprivileged user writes the steps' results here
        shutil.copy(pathlib.Path(__file__).with_name("runner.py"), root / "runner.py")
        if boxed:
            command = _bwrap_command(str(root), hide, [sys.executable, "-I", "/job/runner.py", "--session",
                                                       "/job/current", "boxed", *warm], coursekit)
        else:
            command = [sys.executable, "-I", str(root / "runner.py"), "--session", str(root / "current"),
                       "open", *warm]
        cpu = int(sum(job.timeout for job in jobs)) + _START_SECONDS
        memory = max(job.memory_mb for job in jobs)
        with open(root / "stderr.txt", "wb") as stderr:
            proc = subprocess.Popen(command, env=_ENV if boxed else {**_ENV, "PYTHONNOUSERSITE": "1"},
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                    start_new_session=True, preexec_fn=_limits(cpu, memory << 20))
        try:
            yield from _steps(proc, root, jobs)
        finally:
            _end(proc)


def _send(proc, root: pathlib.Path, job: Job) -> bool:
    """Put the job's folder into the box as its current step and start it; False if the session is gone."""
    job.folder.mkdir()
    job.write(job.folder)
    current = root / "current"
    job.folder.rename(current)
    os.chmod(current, 0o777)
    try:
        proc.stdin.write(json.dumps({"timeout": job.timeout, "memory_mb": job.memory_mb}).encode() + b"\n")
        proc.stdin.flush()
    except OSError:  # BrokenPipeError: the previous step ended the session
        return False
    return True


def _steps(proc, root: pathlib.Path, jobs: list[Job]) -> Iterator[Outcome]:
    import time

    pending = bytearray()
    sent = _readline(proc.stdout.fileno(), pending, _START_SECONDS) == "ready"
    start = time.perf_counter()
    sent = _send(proc, root, jobs[0]) and sent
    for index, job in enumerate(jobs):
        line = _readline(proc.stdout.fileno(), pending, job.timeout + _MARGIN_SECONDS) if sent else None
        if line is None:   # the session died or hung: end it before its files are read
            _end(proc)
        (root / "current").rename(job.folder)
        if line is None:
            seconds = time.perf_counter() - start
            yield Outcome(proc.returncode, seconds, _tail(job.folder / "stderr.txt"),
                          timed_out=seconds >= job.timeout, ended_session=True)
            return
        report = json.loads(line)
        outcome = Outcome(report["returncode"], report["seconds"], _tail(job.folder / "stderr.txt"),
                          bool(report["timed_out"]))
        if index + 1 < len(jobs):  # the box starts the next step while this one is judged
            start = time.perf_counter()
            sent = _send(proc, root, jobs[index + 1])
        yield outcome


def _readline(fd: int, pending: bytearray, seconds: float) -> str | None:
    """The next line the session reports, or None when it ends or stays silent for `seconds`."""
    import select
    import time

    deadline = time.monotonic() + seconds
    while b"\n" not in pending:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        pending += chunk
    line, _, rest = bytes(pending).partition(b"\n")
    pending[:] = rest
    return line.decode(errors="replace")


def _end(proc) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group, whatever it left behind
    proc.wait()


def _tail(path: pathlib.Path, size: int = 2000) -> str:
    """The end of a step's stderr; the step wrote the file, so a link or a FIFO there reads as ""."""
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return ""
    with open(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return ""
        f.seek(max(info.st_size - size, 0))
        return f.read().decode(errors="replace")
