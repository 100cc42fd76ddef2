"""Execute the book's chapters in parallel, into the jupyter-cache that the build reads.

    python scripts/execute_chapters.py [--jobs N] [--json FILE] [CHAPTER ...]

`jupyter-book build` (with `execute_notebooks: cache`) executes a chapter only when the
cache holds no run of its current code, and it executes them one at a time. Run first, this
script fills the cache with N chapters at once and prints how long each took; the build
then only renders. A chapter whose code has not changed since its cached run is not run
again: its recorded time is reported, marked "cached".
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import resource
import sys
import time

import nbformat
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = ROOT / "chapters"


def _execute_config() -> dict:
    return yaml.safe_load((ROOT / "_config.yml").read_text())["execute"]


def cache():
    from jupyter_cache import get_cache

    return get_cache(str(ROOT / _execute_config()["cache"]))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(path: pathlib.Path, timeout: int) -> tuple[nbformat.NotebookNode, float, float, str | None]:
    """Execute one chapter in its own folder, as the build would (in a worker process).

    Returns the notebook, the wall seconds, the kernel's CPU seconds and the error. The CPU
    time does not grow when other work shares the cores, so it tells a slow chapter from a
    busy machine (the kernel is this worker's child, reaped at shutdown).
    """
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    cpu = _children_cpu()
    result = single_nb_execution(nb, cwd=str(path.parent), timeout=timeout, allow_errors=False)
    return nb, result.time, _children_cpu() - cpu, result.exc_string


def _cached_run(nb) -> dict | None:
    try:
        record = cache().match_cache_notebook(nb)
    except KeyError:
        return None
    return {"seconds": record.data.get("execution_seconds"),
            "cpu_seconds": record.data.get("cpu_seconds"), "cached": True, "error": None}


def execute(chapters: list[pathlib.Path], jobs: int) -> dict[str, dict]:
    """Run every chapter missing from the cache, `jobs` at a time, and cache the results.

    Returns {chapter name: {"seconds": float, "cpu_seconds": float | None, "cached": bool,
    "error": str | None}}.
    """
    from jupyter_cache.base import CacheBundleIn

    # The build's kernels draw inline; a backend chosen for the caller (the tests' Agg) would
    # leave every figure out, so the kernels must not inherit it.
    os.environ.pop("MPLBACKEND", None)
    report, todo = {}, []
    for path in chapters:
        cached = _cached_run(nbformat.read(path, as_version=4))
        if cached is None:
            todo.append(path)
        else:
            report[path.stem] = cached
    timeout = _execute_config().get("timeout", 600)
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        runs = {pool.submit(_run, path, timeout): path for path in todo}
        for future in concurrent.futures.as_completed(runs):
            path = runs[future]
            nb, seconds, cpu_seconds, error = future.result()
            report[path.stem] = {"seconds": seconds, "cpu_seconds": cpu_seconds,
                                 "cached": False, "error": error}
            if error is None:  # the build then uses this run instead of executing again
                book_cache = cache()
                record = book_cache.add_nb_to_project(str(path))
                book_cache.cache_notebook_bundle(
                    CacheBundleIn(nb, record.uri, data={"execution_seconds": seconds, "cpu_seconds": cpu_seconds}),
                    check_validity=False, overwrite=True)
    return dict(sorted(report.items()))


def all_chapters() -> list[pathlib.Path]:
    return sorted(CHAPTERS.glob("*.ipynb"))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*", help="chapter names (default: all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="chapters executed at once (default: one per core)")
    parser.add_argument("--json", type=pathlib.Path, help="also write the report to this file")
    args = parser.parse_args(argv)
    chapters = [CHAPTERS / f"{name}.ipynb" for name in args.chapters] or all_chapters()
    start = time.perf_counter()
    report = execute(chapters, args.jobs)
    for name, run in report.items():
        status = "cached" if run["cached"] else ("FAILED" if run["error"] else "executed")
        cpu = f"{run['cpu_seconds']:6.1f} s CPU" if run.get("cpu_seconds") is not None else ""
        print(f"  {name:<28} {run['seconds']:6.1f} s  {cpu}  {status}")
    print(f"{len(report)} chapters in {time.perf_counter() - start:.1f} s, {args.jobs} at a time")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    failed = {name: run["error"] for name, run in report.items() if run["error"]}
    for name, error in failed.items():
        print(f"\n{name} failed:\n{error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
