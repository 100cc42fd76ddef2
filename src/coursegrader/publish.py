"""Write the students' repository: the course without its solutions, with a fresh history.

    python scripts/publish.py OUT_DIR [--repo-url https://github.com/ORG/NAME]

OUT_DIR receives the files git tracks in the course repository (the book sources, labs/,
coursekit and its tests, the Makefile), except what only an instructor may see or needs:

- solutions/ (solutions and hidden checks) and GRADING.md (how hidden checks are written);
- the grading package (src/coursegrader, and grader/ that builds it: the grading engine, the class
  workflow, the corpus, the lab references, this publisher) and the instructor's scripts that
  call it (a generated class, publishing, benchmarks of grading);
- test modules that read solutions/ or use the grading package (the grading and course checks):
  a published copy has neither, so its own `make test` runs what applies to it;
- the README's instructor section (between `<!-- instructors:begin -->` and `end`).

It then points the launch buttons, the repository button and the install lines at
--repo-url (default: _config.yml's repository url), checks that no solution or
hidden-check line (:mod:`.solution_text`) made it through, and makes one commit in a new git
repository: the course's history, which still holds the solutions, is never published.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import subprocess

from . import course
from .solution_text import all_secret_lines, normalize

MARKER = ".published-by-course"
INSTRUCTOR_ONLY = re.compile(r"^(solutions/|GRADING\.md$|src/coursegrader/|grader/|scripts/(make_class|publish)\.py$"
                             r"|benchmarks/grading\.py$)")
_READS_SOLUTIONS = re.compile(r"""["']solutions["']|SOLUTIONS\b|coursegrader""")
_INSTRUCTORS = re.compile(r"<!-- instructors:begin -->.*?<!-- instructors:end -->", re.S)
_STUDENT_NOTE = ("This is the students' copy of the course: the labs' solutions and hidden checks, and the "
                 "instructor's tools, stay in the course's private repository.")


def _git(*args, cwd=None) -> str:
    return subprocess.run(["git", *args], cwd=cwd or course.ROOT, check=True, capture_output=True, text=True).stdout


def repository_url() -> str:
    found = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", (course.ROOT / "_config.yml").read_text(), re.M)
    return found.group(1) if found else ""


def published_files() -> tuple[list[str], list[str]]:
    """Tracked files that a student may see, and the test modules left out: those that read
    solutions/ or use the grading package, or that hold a line of a lab's solution (an
    independent reference answer)."""
    kept, dropped, secrets = [], [], all_secret_lines()
    for name in _git("ls-files", "-z").split("\0"):
        path = course.ROOT / name
        if not name or not path.is_file() or INSTRUCTOR_ONLY.search(name):
            continue
        if re.match(r"tests/test_\w+\.py$", name):
            text = path.read_text()
            flat = normalize(text)
            if _READS_SOLUTIONS.search(text) or any(line in flat for line in secrets):
                dropped.append(name)
                continue
        kept.append(name)
    return kept, dropped


def leaks(folder: pathlib.Path) -> list[str]:
    """'file: line' for each secret line found in a text file of `folder`."""
    found, secrets = [], all_secret_lines()
    for path in folder.rglob("*"):
        if ".git" in path.relative_to(folder).parts or not path.is_file():
            continue
        try:
            text = normalize(path.read_text())
        except UnicodeDecodeError:
            continue
        found += [f"{path.relative_to(folder)}: {line}" for line in secrets if line in text]
    return found


def _copy(names: list[str], out: pathlib.Path, old_url: str, new_url: str) -> None:
    """The files, with the course's URL replaced and the README's instructor section left out."""
    for name in names:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(course.ROOT / name, target)
        if target.suffix in (".md", ".yml", ".yaml", ".toml", ".ipynb", ".py", ".cfg", ".txt", "") and old_url:
            text = target.read_text()
            changed = text.replace(old_url, new_url)
            if name == "README.md":
                changed = _INSTRUCTORS.sub(_STUDENT_NOTE, changed)
            if changed != text:
                target.write_text(changed)


def publish(out: pathlib.Path, repo_url: str | None = None) -> pathlib.Path:
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise SystemExit(f"{out} exists and was not written by publish: choose an empty folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    old_url, new_url = repository_url(), (repo_url or repository_url()).rstrip("/")
    names, dropped = published_files()
    _copy(names, out, old_url, new_url)
    (out / MARKER).write_text(f"published for students as {new_url}\n"
                              f"instructor-only tests left out: {', '.join(dropped)}\n")
    bad = leaks(out)
    if bad:
        shutil.rmtree(out)
        raise SystemExit("refusing to publish: solution or hidden-check text found:\n  " + "\n  ".join(bad[:20]))
    _git("init", "-q", "-b", "main", cwd=out)
    _git("add", "-A", cwd=out)
    _git("-c", "user.name=Course publisher", "-c", "user.email=course@localhost", "commit", "-q",
         "-m", "The course for students (published without solutions)", cwd=out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("--repo-url", help="the public repository (default: _config.yml's repository url)")
    args = parser.parse_args(argv)
    out = publish(pathlib.Path(args.out), args.repo_url)
    print(f"published {len(_git('ls-files', cwd=out).splitlines())} files into {out} (one commit, no history); "
          f"push it to {args.repo_url or repository_url()}")
    return 0
