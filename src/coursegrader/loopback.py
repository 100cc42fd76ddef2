"""A throw-away Dask cluster for tests and benchmarks: a scheduler and N workers on 127.0.0.1,
each its own process, started with Dask's own command line, as on a real cluster.

    with loopback.cluster(2, cwd=course_checkout) as (address, workers):
        ...                                  # autograde --scheduler address
        workers["w1"].kill()                 # a worker that dies mid-run

Workers run without a nanny (a killed worker stays dead, as a lost machine would), one
thread each, in `cwd` (their course checkout). The scheduler lets a task's worker die
once (cluster.ALLOWED_FAILURES), as the README's scheduler does. Everything is stopped on
exit; nothing listens beyond 127.0.0.1, and every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from .cluster import ALLOWED_FAILURES

START_TIMEOUT = 120   # seconds for the scheduler and every worker to be up


@contextlib.contextmanager
def cluster(workers: int = 2, cwd=None, env: dict | None = None):
    """Yields (the scheduler's address, {worker name: its Popen})."""
    env = dict(os.environ if env is None else env,
               DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=str(ALLOWED_FAILURES))
    env.pop("DASK_SCHEDULER_ADDRESS", None)
    with tempfile.TemporaryDirectory(prefix="dask-loopback-") as tmp, contextlib.ExitStack() as stack:
        tmp = pathlib.Path(tmp)
        start = lambda name, *args: stack.enter_context(_process(  # noqa: E731
            [sys.executable, "-m", "dask", *args], tmp / f"{name}.log", cwd, env))
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
              "--scheduler-file", str(tmp / "scheduler.json"))
        address = _address(tmp / "scheduler.json")
        procs = {f"w{n}": start(f"w{n}", "worker", address, "--name", f"w{n}", "--nthreads", "1",
                                "--no-nanny", "--host", "127.0.0.1", "--no-dashboard", "--memory-limit", "0")
                 for n in range(workers)}
        _wait_for(address, workers, tmp)
        yield address, procs


@contextlib.contextmanager
def _process(command, log: pathlib.Path, cwd, env):
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _address(scheduler_file: pathlib.Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
            return json.loads(scheduler_file.read_text())["address"]
        time.sleep(0.1)
    raise RuntimeError(f"the Dask scheduler did not start in {START_TIMEOUT} s: {_logs(scheduler_file.parent)}")


def _wait_for(address: str, workers: int, tmp: pathlib.Path) -> None:
    from distributed import Client

    with Client(address, timeout="30s") as client:
        try:
            client.wait_for_workers(workers, timeout=START_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(f"{workers} Dask workers did not join in {START_TIMEOUT} s: {_logs(tmp)}") from None


def _logs(folder: pathlib.Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(folder.glob("*.log")))
