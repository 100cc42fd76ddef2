"""The instructor's one command: `coursegrader SUBCOMMAND ...` (or `python -m coursegrader`).

    coursegrader generate [LAB ...]                       regenerate labs/ from solutions/
    coursegrader grade LAB [NOTEBOOK ...] [--seed N] [--feedback DIR] [--workers N] [--report FILE]
    coursegrader corpus LAB OUT_DIR                       the adversarial corpus, made from the lab
    coursegrader release LAB [--roster roster.csv]        a class: gradebook entries + release
    coursegrader collect LAB SOURCE [--pattern REGEX]     a folder or an LMS zip
    coursegrader autograde LAB [--workers N | --scheduler tcp://HOST:8786] [--seed N] [--force]
    coursegrader feedback LAB
    coursegrader export [LAB ...] [--out DIR]             CSV per lab and for the course

It works on the course repository it is run in (the folder holding solutions/ and
nbgrader_config.py, or $COURSE_ROOT). The class commands keep their files in one class
folder (--class-dir, default $CLASS_DIR or ./class) and their gradebook at --db (default
$GRADEBOOK, else SQLite in the class folder). `grade` exits with status 2 when a submission
is flagged for the instructor (tampering, or graded without a sandbox).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pathlib
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="coursegrader", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="regenerate labs/ from solutions/")
    gen.add_argument("labs", nargs="*")
    grd = sub.add_parser("grade", help="grade submissions and print their scores and reasons")
    grd.add_argument("lab")
    grd.add_argument("submissions", nargs="*", help="notebooks; each file's stem names the student")
    grd.add_argument("--seed", type=int, help="re-grade with the probes of an earlier run")
    grd.add_argument("--feedback", help="write each student's feedback page under this folder")
    grd.add_argument("--workers", type=int)
    grd.add_argument("--report", help="write every result (scores, reasons, repairs, flags, seed) as JSON")
    cor = sub.add_parser("corpus", help="write the adversarial corpus of a lab and its expected scores")
    cor.add_argument("lab")
    cor.add_argument("out")
    _class_commands(sub)
    return parser


def _class_commands(sub) -> None:
    def add(name, help):
        command = sub.add_parser(name, help=help)
        command.add_argument("--class-dir", help="the class folder (default $CLASS_DIR, else ./class)")
        command.add_argument("--db", help="gradebook SQLAlchemy URL (default $GRADEBOOK, else SQLite in the class folder)")
        return command

    rel = add("release", "record the lab and the roster in the gradebook; write the release")
    rel.add_argument("labs", nargs="+")
    rel.add_argument("--roster", help="CSV with an `id` column (and first_name, last_name, email)")
    col = add("collect", "take submissions from a folder or an LMS zip")
    col.add_argument("lab")
    col.add_argument("source")
    col.add_argument("--pattern", help="regex with a (?P<student>...) group, matched on each file's path")
    aut = add("autograde", "grade every new or changed submission, in parallel")
    aut.add_argument("lab")
    aut.add_argument("--workers", type=int, help="the embedded Dask cluster's graders (default: one per core)")
    aut.add_argument("--scheduler", help="grade on this Dask scheduler, e.g. tcp://head:8786 "
                                         "(default $DASK_SCHEDULER_ADDRESS, else an embedded cluster)")
    aut.add_argument("--seed", type=int, help="a new seed for the class's probes (re-grades everyone)")
    aut.add_argument("--force", action="store_true", help="grade everyone again")
    fbk = add("feedback", "write feedback pages under <class>/feedback/")
    fbk.add_argument("lab")
    exp = add("export", "write <class>/exports/<lab>.csv and grades.csv")
    exp.add_argument("labs", nargs="*", help="default: every lab in the gradebook")
    exp.add_argument("--out")


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "generate":
        from . import course

        for lab in args.labs or course.all_labs():
            print(f"generated {course.generate(lab).relative_to(course.ROOT)}")
        return 0
    if args.command == "grade":
        return _grade(args)
    if args.command == "corpus":
        from . import corpus

        made = corpus.write(args.lab, pathlib.Path(args.out))
        print(f"{len(made)} cases in {args.out}")
        return 0
    return _class(args)


def _grade(args) -> int:
    from . import course

    paths = [pathlib.Path(p) for p in args.submissions] or [course.SOLUTIONS / args.lab / f"{args.lab}.ipynb"]
    students = student_names(paths)
    results = course.grade_many(args.lab, students, seed=args.seed, workers=args.workers, feedback=args.feedback)
    if args.report:
        pathlib.Path(args.report).write_text(json.dumps(results, indent=1, default=str))
    flagged = False
    for student, result in results.items():
        print(f"{student} ({students[student]}): {result['score']:g} / {result['max_score']:g}, "
              f"graded in {result.get('seconds', 0):.1f} s, seed {result['seed']}, sandbox {result.get('sandbox')}")
        width = max(map(len, result["steps"]), default=0)
        for gid, verdict in result["steps"].items():
            print(f"  {gid:<{width}} {verdict['score']:>5g} / {verdict['max_score']:<4g} {verdict['reason']}")
        for note in result["notes"]:
            print(f"  repaired: {note}")
        for flag in result["flags"]:
            print(f"  FLAG: {flag}")
        flagged |= bool(result["flags"])
    return 2 if flagged else 0


def student_names(paths: list[pathlib.Path]) -> dict[str, pathlib.Path]:
    """A distinct student id per file: its stem, else its folder and stem, else numbered."""
    names = {}
    for number, path in enumerate(paths, 1):
        name = path.stem if sum(p.stem == path.stem for p in paths) == 1 else f"{path.parent.name}-{path.stem}"
        names[name if name not in names else f"{name}-{number}"] = path
    return names


def _class(args) -> int:
    from . import classroom

    klass = classroom.Class(args.class_dir, args.db)
    if args.command == "release":
        for lab in args.labs:
            print(f"released {lab} into {classroom.release(klass, lab, args.roster)}")
    elif args.command == "collect":
        status = classroom.collect(klass, args.lab, args.source, args.pattern)
        counts = {k: sum(v == k for v in status.values()) for k in ("new", "changed", "unchanged")}
        print(f"collected {len(status)} submissions of {args.lab}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    elif args.command == "autograde":
        results = classroom.autograde(klass, args.lab, args.workers, args.seed, args.force, scheduler=args.scheduler)
        flagged = [s for s, r in results.items() if r["flags"]]
        if flagged:
            print(f"FLAGGED for the instructor ({len(flagged)}): {', '.join(flagged)}; "
                  f"see {klass.dir / 'autograded'}/<student>/{args.lab}/result.json")
    elif args.command == "feedback":
        pages = classroom.feedback(klass, args.lab)
        print(f"wrote {len(pages)} feedback pages under {klass.dir / 'feedback'}")
    elif args.command == "export":
        labs = args.labs or classroom.released_labs(klass)
        for path in classroom.export(klass, labs, args.out and pathlib.Path(args.out)):
            print(f"wrote {path}")
    return 0


def run() -> None:
    """The console script's entry point."""
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
