"""Run untrusted code in a box: bubblewrap namespaces, an unprivileged user, rlimits.

The box sees the Python installation read-only, an empty /tmp and one job folder,
nothing else: not the course folder, the gradebook, the solutions or other
submissions. It has no network. Each run gets a wall-clock limit, a CPU-time limit
and an address-space limit; when it ends, its PID namespace ends with it, so no
process it started survives. Libraries can be removed from its view
(``hide=("tensorflow", ...)``), which is how "NumPy only" is enforced.

Where bubblewrap is missing or does not work, code still runs (with the limits, in
its own process group) but :func:`available` says why not, and the grader reports
the submission as graded without a sandbox.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import pathlib
import resource
import shutil
import signal
import subprocess
import sys
import sysconfig

NOBODY = 65534


@dataclasses.dataclass
class Outcome:
    returncode: int | None       # None when it was killed for running too long
    seconds: float
    stderr: str                  # for the instructor's log only: it never changes a score
    timed_out: bool = False

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
    # coursekit itself (labs call coursekit.train): an editable install lives outside site-packages
    roots.add(str(pathlib.Path(__file__).resolve().parents[1]))
    kept = []
    for root in sorted(roots, key=len):  # drop folders already inside another one
        if os.path.isdir(root) and not any(root.startswith(k + os.sep) for k in kept):
            kept.append(root)
    return kept


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


def _bwrap_command(job: str, hide, command) -> list[str]:
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


def run(job: pathlib.Path, *, timeout: float, memory_mb: int, hide=(), sandbox: bool = True) -> Outcome:
    """Run the student-side runner on `job` (a folder with job.json and probes.npz)."""
    import time

    runner = pathlib.Path(__file__).with_name("runner.py")
    shutil.copy(runner, job / "runner.py")
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg",
           "NBGRADER_EXECUTION": "autograde"}  # labs skip long training when this is set
    if sandbox:
        os.chmod(job, 0o777)  # the box's unprivileged user writes its results here
        command = _bwrap_command(str(job), hide, [sys.executable, "-I", "/job/runner.py", "/job"])
    else:
        env["PYTHONNOUSERSITE"] = "1"
        command = [sys.executable, "-I", str(job / "runner.py"), str(job)]
    start = time.perf_counter()
    # stderr goes to a file (capped by RLIMIT_FSIZE), never into the grader's memory
    with open(job / "stderr.txt", "wb") as stderr:
        proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=stderr, start_new_session=True,
                                preexec_fn=_limits(int(timeout) + 1, memory_mb << 20))
    try:
        proc.wait(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the whole group, whatever it left behind
        proc.wait()
    return Outcome(None if timed_out else proc.returncode, time.perf_counter() - start,
                   _tail(job / "stderr.txt"), timed_out)


def _tail(path: pathlib.Path, size: int = 2000) -> str:
    with open(path, "rb") as f:
        f.seek(max(path.stat().st_size - size, 0))
        return f.read().decode(errors="replace")
