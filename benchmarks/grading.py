"""Grading throughput: submissions per minute, and per worker, on Dask clusters, in one run.

    python benchmarks/grading.py [--count 12] [--mix realistic] [--lab LAB] [--workers 1,2,N] [--loopback 2]

One generated class (coursegrader.generated_class) is graded from scratch by
coursegrader.classroom's autograde on the embedded cluster once per worker count, then
on a loopback cluster (coursegrader.loopback: a `dask scheduler` and `--loopback` worker
processes on 127.0.0.1, as on grading machines; 0 leaves it out), each time into a fresh
class folder and gradebook (a temporary PostgreSQL server when one is installed, else
SQLite), so every run does the same work. The speed-up is against the first run of the
same invocation. N defaults to the machine's cores.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pathlib
import sys
import tempfile
import time

from coursegrader import classroom, generated_class, loopback, pgtemp

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(lab: str, lms: pathlib.Path, workers: int | None, db: str | None, folder: pathlib.Path,
        scheduler: str | None = None) -> float:
    klass = classroom.Class(folder, db)
    classroom.release(klass, lab, str(lms / "roster.csv"))
    classroom.collect(klass, lab, lms / "submissions.zip")
    klass.seed(lab, 12345)                       # the same probes for every run
    start = time.perf_counter()
    results = classroom.autograde(klass, lab, workers=workers, quiet=True, scheduler=scheduler)
    elapsed = time.perf_counter() - start
    assert len(results) == len(klass.students_with(lab)), "a submission was not graded"
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lab", default=classroom.course.all_labs()[0])
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--mix", default="realistic", choices=sorted(generated_class.MIXES))
    parser.add_argument("--workers", default=f"1,2,{os.cpu_count()}", help="the embedded cluster's sizes")
    parser.add_argument("--loopback", type=int, default=2, help="workers of the loopback cluster (0: none)")
    args = parser.parse_args(argv)
    counts = sorted({int(w) for w in args.workers.split(",")})
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp, contextlib.ExitStack() as stack:
        tmp = pathlib.Path(tmp)
        made = generated_class.write(args.lab, args.count, tmp / "lms", args.mix)
        server = stack.enter_context(pgtemp.temporary_postgres()) if pgtemp.binaries() else None
        kinds = {k: sum(v["kind"] == k for v in made.values()) for k in generated_class.MIXES[args.mix]}
        print(f"{args.count} submissions of {args.lab} ({args.mix}: {kinds}); cores={os.cpu_count()}; "
              f"gradebook={'postgresql' if server else 'sqlite'}", flush=True)
        # The expected values are computed once per seed and cached in this process: compute
        # them before the first timed run, so that every run does the same work.
        from coursegrader import grade as engine
        engine.probes_for(classroom.course.SOLUTIONS / args.lab, 12345)
        runs = [("embedded", w) for w in counts] + ([("loopback", args.loopback)] if args.loopback else [])
        base = None
        for kind, workers in runs:
            db = pgtemp.create_database(server, f"bench_{kind}{workers}") if server else None
            folder = tmp / f"class-{kind}{workers}"
            if kind == "embedded":
                seconds = run(args.lab, tmp / "lms", workers, db, folder)
            else:
                with loopback.cluster(workers, cwd=ROOT) as (address, _):
                    seconds = run(args.lab, tmp / "lms", None, db, folder, scheduler=address)
            rate = 60 * args.count / seconds
            base = base or rate
            print(f"grading cluster={kind} workers={workers} seconds={seconds:.1f} per_minute={rate:.1f} "
                  f"per_minute_per_worker={rate / workers:.1f} speedup={rate / base:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
