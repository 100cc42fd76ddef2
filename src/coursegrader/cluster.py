"""Where a class is graded: a Dask client, for an embedded cluster or the instructor's own.

    with cluster.connect() as client:                       # a LocalCluster, one worker per core
    with cluster.connect(workers=4) as client:              # ... with 4 workers
    with cluster.connect("tcp://head:8786") as client:      # a running Dask scheduler

The scheduler's address comes from the argument, else Dask's own configuration
(``DASK_SCHEDULER_ADDRESS``). The embedded cluster has one single-threaded worker process
per core, spawned (not forked: a forked copy of a process that runs TensorFlow can
deadlock), on 127.0.0.1, with no memory limit of Dask's (the sandbox sets each step's);
a cluster of one is a thread of this process, which has TensorFlow loaded already (the
expected values), where a worker process would load it again.
Dask does the scheduling, the load balancing and the retries: a task whose worker dies is
run again on another worker, and after ``ALLOWED_FAILURES + 1`` deaths it fails
(``KilledWorker``); the instructor's scheduler is started with the same setting
(README, "Several machines"). Every worker must grade with the hidden checks and release of
this checkout: :func:`check_course` refuses to start otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os

ALLOWED_FAILURES = 1          # a task's worker may die once; the second death fails the task
CONNECT_TIMEOUT = "30s"       # the scheduler must answer within this
WORKERS_TIMEOUT = 600         # seconds to wait for a first worker (a batch queue may be slow)


def address(scheduler: str | None = None) -> str | None:
    """The scheduler to use: `scheduler`, else DASK_SCHEDULER_ADDRESS (Dask's config), else None."""
    import dask

    return scheduler or dask.config.get("scheduler-address", None)


@contextlib.contextmanager
def connect(scheduler=None, workers: int | None = None, tasks: int | None = None):
    """A Dask client: to `scheduler` (an address, or a cluster object such as a LocalCluster),
    else to an embedded LocalCluster of `workers` processes (default: one per core), no more
    than there are `tasks`."""
    from distributed import Client

    target = scheduler if scheduler is not None and not isinstance(scheduler, str) else address(scheduler)
    if target is None:
        count = max(1, min(workers or os.cpu_count() or 1, tasks or 1 << 30))
        with _embedded(count) as local, Client(local) as client:
            yield client
        return
    if workers is not None:
        raise SystemExit("--workers sizes the embedded cluster; a cluster's size is set where its workers "
                         "start (`dask worker --nworkers N`, or the cluster's scale): drop --workers")
    with _client(target) as client:
        _wait_for_workers(client)
        yield client


@contextlib.contextmanager
def _embedded(workers: int):
    import dask
    from distributed import LocalCluster

    processes = workers > 1   # else in-process: Dask's inproc transport, nothing listens at all
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}), \
            LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                         host="127.0.0.1" if processes else None, dashboard_address=None, memory_limit=0,
                         silence_logs=logging.ERROR) as local:
        yield local


@contextlib.contextmanager
def _client(target):
    from distributed import Client

    try:
        client = Client(target, timeout=CONNECT_TIMEOUT)
    except OSError as error:
        raise SystemExit(f"no Dask scheduler answered at {target} within {CONNECT_TIMEOUT}: start one "
                         f"(`dask scheduler`) or fix --scheduler / DASK_SCHEDULER_ADDRESS ({error})") from None
    with client:
        yield client


def _wait_for_workers(client) -> None:
    if client.scheduler_info().get("workers"):
        return
    print(f"waiting up to {WORKERS_TIMEOUT} s for a first worker to join {client.scheduler.address}")
    try:
        client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
    except TimeoutError:
        raise SystemExit(f"no worker joined {client.scheduler.address} in {WORKERS_TIMEOUT} s: start workers "
                         f"(`dask worker {client.scheduler.address}`, or scale the cluster)") from None


def size(client) -> int:
    """How many tasks the cluster runs at once (its workers' threads)."""
    return sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())


def describe(client) -> str:
    """'2 embedded Dask workers', or '16 Dask workers at tcp://head:8786 (dashboard: http://...)'."""
    from distributed import LocalCluster

    if isinstance(getattr(client, "cluster", None), LocalCluster):
        return f"{size(client)} embedded Dask worker{'s' if size(client) > 1 else ''}"
    info = client.scheduler_info()
    link = f" (dashboard: {client.dashboard_link})" if "dashboard" in info.get("services", {}) else ""
    return f"{size(client)} Dask workers at {client.scheduler.address}{link}"


def course_digest(lab: str) -> str:
    """What a worker grades `lab` with: a digest of solutions/<lab>/ (hidden checks included) and
    of the release, in this process's course checkout; or why there is none."""
    try:
        from . import course
    except SystemExit as error:   # no course checkout where this worker runs
        return f"no course ({error})"
    digest = hashlib.sha256()
    files = sorted(p for p in (course.SOLUTIONS / lab).rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in [*files, course.RELEASE / lab / f"{lab}.ipynb"]:
        digest.update(str(path.relative_to(course.ROOT)).encode() + b"\0")
        digest.update(path.read_bytes() if path.exists() else b"(missing)")
    return digest.hexdigest()


def check_course(client, lab: str) -> None:
    """Refuse to grade when a worker's checkout would grade `lab` with other hidden checks or
    another release than this one's."""
    ours = course_digest(lab)
    theirs = client.run(course_digest, lab, on_error="return")
    odd = {worker: str(d) for worker, d in theirs.items() if d != ours}
    if odd:
        listed = "; ".join(f"{w}: {d if d.startswith('no course') else 'different files'}" for w, d in odd.items())
        raise SystemExit(f"{len(odd)} of {len(theirs)} Dask workers would grade {lab} from another course "
                         f"checkout than this one ({listed}): give every worker this commit (run them from "
                         f"a checkout at `git rev-parse HEAD`, or with COURSE_ROOT set to one) and try again")
