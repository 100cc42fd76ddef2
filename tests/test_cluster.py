"""Grading a class on Dask (coursegrader.cluster): the README's commands on a real cluster of
separate processes on 127.0.0.1, one of whose workers dies mid-run; a task that fails twice;
a scheduler that does not answer; a worker with another course checkout.

The loopback cluster (coursegrader.loopback) is a `dask scheduler` and two `dask worker`
processes, as on grading machines; the gradebook a throw-away PostgreSQL server.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest

from course_files import LABS, ROOT

from coursegrader import classroom, cluster, generated_class, loopback, pgtemp
from test_class_workflow import check_scores, fresh_copy, postgres, readme_commands  # noqa: F401

LAB = LABS[0]
pytestmark = pytest.mark.xdist_group("class")   # one grading cluster at a time on the 2 cores


def cluster_commands(address: str) -> list[str]:
    """The README's class commands, autograde run on the cluster its "Several machines" shows."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- cluster-commands:begin -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README.md's \"Several machines\" lost its cluster commands"
    on_cluster = [line for line in block.group(1).splitlines() if " autograde " in line]
    assert len(on_cluster) == 1 and "--scheduler tcp://HOST:8786" in on_cluster[0], on_cluster
    return [on_cluster[0].replace("tcp://HOST:8786", address) if " autograde " in line else line
            for line in readme_commands()]


def _kill_mid_grading(address, workers: dict, busy: set, out: dict, stop: threading.Event):
    """Kill the first worker found grading a submission inside its sandbox once the cluster has
    graded a few: all by Dask's own account (the workers' counts of tasks done, the task
    executing on the victim) and the system's (its sandbox, a child process, running). Not
    by the results recorded: under load, the client may record none before the class is
    graded. Note whom and what it was grading."""
    from distributed import Client

    def executing(dask_worker):   # runs on each worker (a nested function travels by value)
        state = dask_worker.state
        return dask_worker.name, state.executed_count, [ts.key for ts in state.executing]

    with Client(address, timeout="30s") as client:
        while not stop.wait(0.05):   # until the run ends
            polled = client.run(executing, on_error="ignore").values()
            graded = sum(count for _, count, _ in polled)
            for name, _, keys in polled:
                grading = [key for key in keys if isinstance(key, tuple) and key[1] in busy]
                victim = workers[name]
                if graded >= 3 and grading and _has_children(victim.pid):
                    victim.send_signal(signal.SIGKILL)
                    out.update(victim=name, key=grading[0], graded_before=graded)
                    return


def _has_children(pid: int) -> bool:
    import psutil

    try:
        return bool(psutil.Process(pid).children())
    except psutil.NoSuchProcess:   # a child ended while they were listed
        return False


def _runs_of(address, key) -> int:
    """How many times the scheduler sent `key` to a worker (its transitions to processing)."""
    from distributed import Client

    def processing(dask_scheduler):
        return sum(finish == "processing" for _, _, finish, *_ in dask_scheduler.story(key))

    with Client(address, timeout="30s") as client:
        return client.run_on_scheduler(processing)


def test_readme_commands_on_a_cluster_whose_worker_dies(postgres, tmp_path):  # noqa: F811
    """The README's commands grade a class of 30 with --scheduler on a scheduler and two worker
    processes; one worker is killed while it grades a submission in its sandbox: Dask runs
    that task again on the other, and every student is graded once, rightly."""
    clone = fresh_copy(tmp_path / "course")
    expected = generated_class.write(LAB, 30, tmp_path / "lms", "cheap")
    busy = {s for s, w in expected.items() if w["kind"] != "broken"}   # graded in a sandbox
    for name in ("roster.csv", "submissions.zip"):
        shutil.copy(tmp_path / "lms" / name, clone / name)
    gradebook = pgtemp.create_database(postgres, f"cluster_{tmp_path.name}")  # new on a rerun too
    workers_env = {k: v for k, v in os.environ.items() if k not in ("GRADEBOOK", "CLASS_DIR")}
    with loopback.cluster(2, cwd=clone, env=dict(workers_env, COURSE_ROOT=str(clone))) as (address, workers):
        assert address.startswith("tcp://127.0.0.1:")
        env = dict(workers_env, GRADEBOOK=gradebook)
        killed, stop = {}, threading.Event()
        killer = threading.Thread(target=_kill_mid_grading, args=(address, workers, busy, killed, stop))
        killer.start()
        try:
            proc = subprocess.run(["bash", "-c", "set -euo pipefail\n" + "\n".join(cluster_commands(address))],
                                  cwd=clone, env=env, capture_output=True, text=True, timeout=900)
        finally:
            stop.set()
            killer.join(timeout=60)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
        assert killed, f"the run ended before a worker was found grading in its sandbox: {proc.stdout[-2000:]}"
        (survivor,) = set(workers) - {killed["victim"]}
        assert workers[killed["victim"]].wait(timeout=30) == -signal.SIGKILL and workers[survivor].poll() is None
        assert _runs_of(address, killed["key"]) >= 2, "the killed worker's task was run again"
    student = killed["key"][1]
    print(f"\nkilled {killed['victim']} after {killed['graded_before']} graded, while it graded {student}")
    assert "graded 30 in" in proc.stdout and "on 2 Dask workers at tcp://127.0.0.1:" in proc.stdout
    try:
        rows = check_scores(clone / "class", expected)
    except AssertionError:   # say what the killed worker's submission was given, and why
        print(f"{student}: {(clone / 'class' / 'autograded' / student / LAB / 'result.json').read_text()[:3000]}")
        raise
    with classroom.open_gradebook(gradebook) as book:
        submissions = book.find_assignment(LAB).submissions
        assert sorted(s.student.id for s in submissions) == sorted(expected), "a student graded twice, or not at all"
    assert {r["status"] for r in rows.values()} == {"graded"}
    lines = [line.split()[0] for line in proc.stdout.splitlines() if re.match(r"\s+\S+\s+[\d.]+ / [\d.]+", line)]
    assert sorted(lines) == sorted(expected), "each student's result is recorded once"


def test_a_result_lost_with_its_worker_is_computed_again():
    """A result held by a worker that dies before the client reads it is lost after as_completed
    yielded its future; autograde waits for Dask to compute it again. (Read from the future's
    status, it was recorded as a 0, "the grader failed twice (NoneType: None)".) The second run
    takes 3 s, so the lost state lasts long enough to be seen, whatever the machine's load."""
    from distributed import Client, wait

    def three_slowly_elsewhere():   # defined here: Dask sends its code to the workers
        from distributed import get_worker

        if get_worker().name != "w1":
            time.sleep(3)
        return 3

    key = (f"grade-{LAB}", "ann", "run")
    with loopback.cluster(2) as (address, workers), Client(address, timeout="30s") as client:
        where = {w["name"]: a for a, w in client.scheduler_info()["workers"].items()}
        future = client.submit(three_slowly_elsewhere, key=key, workers=[where["w1"]], allow_other_workers=True)
        wait(future, timeout=60)
        workers["w1"].kill()
        deadline = time.monotonic() + 60
        while future.status == "finished" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert future.status == "lost"
        assert classroom._outcome(future, LAB, 0, recorded=0) == 3
        assert _runs_of(address, key) == 2, "computed once on each worker"


def test_a_task_that_fails_twice_is_a_recorded_zero_with_its_reason(tmp_path, monkeypatch):
    """Dask retries a failed task once; a second failure is a 0 in the gradebook with the reason,
    never a gap, and the next autograde grades that submission again."""
    from distributed import LocalCluster

    klass = classroom.Class(tmp_path / "class", f"sqlite:///{tmp_path / 'gradebook.db'}")
    maker = generated_class.Maker(LAB, random.Random(3))
    folder = tmp_path / "handed-in"
    for student in ("ann", "bob"):
        (folder / student).mkdir(parents=True)
        (folder / student / f"{LAB}.ipynb").write_bytes(maker.make("broken", student, cheap=True)[0])
    classroom.release(klass, LAB)
    classroom.collect(klass, LAB, folder)
    calls = tmp_path / "calls"

    def flaky(lab, data, seed, probes):   # Dask sends a copy of it: count in a file
        with open(calls, "a") as log:
            log.write("called\n")
        raise OSError("disk full")

    monkeypatch.setattr(classroom.course, "grade_one", flaky)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as local:
        results = classroom.autograde(klass, LAB, quiet=True, scheduler=local)
    assert calls.read_text().count("called") == 4, "each task is run twice, no more"
    classroom.export(klass, [LAB])
    header, rows = classroom.lab_rows(klass, LAB)
    for student, row in ((r[0], dict(zip(header, r))) for r in rows):
        assert row["status"] == "graded" and row["score"] == 0
        assert "the grader failed twice (OSError: disk full)" in row["reasons"], row
        assert results[student]["flags"] and results[student]["retry"]
    monkeypatch.undo()
    assert set(classroom.to_grade(klass, LAB, klass.seed(LAB))) == {"ann", "bob"}, "a failed task is graded again"


@pytest.mark.parametrize("workers, transport", [(1, "inproc://"), (2, "tcp://127.0.0.1:")])
def test_the_embedded_cluster(workers, transport):
    """One worker per process asked for (one: a thread of this process), single-threaded,
    listening on 127.0.0.1 only; never more workers than submissions."""
    with cluster.connect(workers=workers, tasks=5) as client:
        assert client.scheduler.address.startswith(transport)
        assert cluster.size(client) == workers and cluster.describe(client).endswith("embedded Dask worker" + "s" * (workers > 1))
        assert client.submit(sum, [1, 2]).result() == 3
    with cluster.connect(workers=8, tasks=1) as client:
        assert cluster.size(client) == 1


def test_no_scheduler_is_a_clear_error_in_bounded_time(monkeypatch):
    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT", "2s")
    start = time.monotonic()
    with pytest.raises(SystemExit, match=r"no Dask scheduler answered at tcp://127\.0\.0\.1:9 .*--scheduler"):
        with cluster.connect("tcp://127.0.0.1:9"):
            pass
    assert time.monotonic() - start < 30


def test_workers_is_for_the_embedded_cluster(monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:9")
    import dask

    dask.config.refresh()
    try:
        assert cluster.address() == "tcp://127.0.0.1:9"
        with pytest.raises(SystemExit, match="--workers sizes the embedded cluster"):
            with cluster.connect(workers=2):
                pass
    finally:
        monkeypatch.delenv("DASK_SCHEDULER_ADDRESS")
        dask.config.refresh()
    assert cluster.address() is None


def test_a_worker_with_another_checkout_is_refused(monkeypatch):
    """A worker whose hidden checks differ from the client's would grade with other probes."""
    from distributed import Client, LocalCluster

    real = cluster.course_digest

    def digest(lab, dask_worker=None):   # client.run fills dask_worker: on the worker, another checkout
        return "0" * 64 if dask_worker is not None else real(lab)

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as local, \
            Client(local) as client:
        cluster.check_course(client, LAB)   # the same checkout: no complaint
        monkeypatch.setattr(cluster, "course_digest", digest)
        with pytest.raises(SystemExit, match=r"1 of 1 Dask workers would grade \S+ from another course checkout"):
            cluster.check_course(client, LAB)


def test_progress_line():
    from coursegrader.progress import Progress

    now = [100.0]
    progress = Progress(LAB, 200, every=15, clock=lambda: now[0])
    assert not progress.due()
    now[0] += 60
    assert progress.due()
    line = progress.line(done=40, running=2, failed=1)
    assert line.startswith(f"{LAB}: 40/200 done, 2 running, 1 failed; 40.0 a minute; finish about ")
    assert line.endswith("(in 4 min 0 s)")
    assert not Progress(LAB, 200, quiet=True, clock=lambda: now[0] + 99).due()


def test_the_documented_clusters_keep_the_grading_settings():
    """The README's commands, the Slurm and the Kubernetes configurations all run single-threaded
    graders and let a task's worker die once, as the embedded cluster does; the workers' image
    has bubblewrap and the grading extra."""
    import yaml

    deploy = ROOT / "src" / "coursegrader" / "deploy"
    failures = str(cluster.ALLOWED_FAILURES)
    commands = re.search(r"<!-- cluster-commands:begin -->(.*?)<!-- cluster-commands:end -->",
                         (ROOT / "README.md").read_text(), re.S).group(1)
    assert f"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES={failures} dask scheduler" in commands
    assert re.search(r"dask worker tcp://HOST:8786 .*--nthreads 1", commands)

    slurm = yaml.safe_load((deploy / "dask.yaml").read_text())
    assert slurm["distributed"]["scheduler"]["allowed-failures"] == cluster.ALLOWED_FAILURES
    job = slurm["jobqueue"]["slurm"]
    assert job["processes"] == job["cores"], "one single-threaded grader per core"
    assert any("activate" in line for line in job["job-script-prologue"])

    k8s = yaml.safe_load((deploy / "dask-cluster.yaml").read_text())
    assert (k8s["apiVersion"], k8s["kind"]) == ("kubernetes.dask.org/v1", "DaskCluster")
    (worker,) = k8s["spec"]["worker"]["spec"]["containers"]
    (scheduler,) = k8s["spec"]["scheduler"]["spec"]["containers"]
    assert worker["args"][:2] == ["dask", "worker"] and "--nthreads" in worker["args"]
    assert worker["args"][worker["args"].index("--nthreads") + 1] == "1"
    assert worker["securityContext"]["seccompProfile"]["type"] == "Unconfined", "bubblewrap needs user namespaces"
    assert {"name": "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES", "value": failures} in scheduler["env"]
    assert worker["image"] == scheduler["image"]

    image = (deploy / "Dockerfile").read_text()
    assert "bubblewrap" in image and re.search(r'pip install .*-e "\.\[[^]]*grading[^]]*\]"', image)
    extras = re.search(r"^grading = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.S | re.M).group(1)
    assert '"dask>=' in extras and '"distributed>=' in extras
