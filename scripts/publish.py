"""Write the students' repository: the course without its solutions, with a fresh history.

    python scripts/publish.py OUT_DIR [--repo-url https://github.com/ORG/NAME]

OUT_DIR receives the files git tracks here (the book sources, labs/, coursekit and its
tests, the Makefile), except what only an instructor may see or needs:

- solutions/ (solutions and hidden checks) and GRADING.md (how hidden checks are written);
- the grading package (src/coursegrader, and grader/ that builds it: the grading engine, the class
  workflow, the corpus, the lab references) and the
  instructor's scripts that use it (a generated class, benchmarks of grading);
- test modules that read solutions/ (the grading and course checks): a published copy has
  none, so its own `make test` runs what applies to it;
- the README's instructor section (between `<!-- instructors:begin -->` and `end`).

It then points the launch buttons, the repository button and the install lines at
--repo-url (default: _config.yml's repository url), checks that no solution or
hidden-check line made it through, and makes one commit in a new git repository:
the course's history, which still holds the solutions, is never published.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))   # course_files: what the course tests call secret
MARKER = ".published-by-course"
INSTRUCTOR_ONLY = re.compile(r"^(solutions/|GRADING\.md$|src/coursegrader/|grader/|scripts/(make_class|publish)\.py$"
                             r"|benchmarks/grading\.py$)")
_READS_SOLUTIONS = re.compile(r"""["']solutions["']|SOLUTIONS\b|import make_class|coursegrader""")
_INSTRUCTORS = re.compile(r"<!-- instructors:begin -->.*?<!-- instructors:end -->", re.S)
_STUDENT_NOTE = ("This is the students' copy of the course: the labs' solutions and hidden checks, and the "
                 "instructor's tools, stay in the course's private repository.")


def _git(*args, cwd=ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def repository_url() -> str:
    found = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", (ROOT / "_config.yml").read_text(), re.M)
    return found.group(1) if found else ""


def published_files() -> tuple[list[str], list[str]]:
    """Tracked files that a student may see, and the test modules left out: those that read
    solutions/ or that hold a line of a lab's solution (an independent reference answer)."""
    import course_files

    kept, dropped, secrets = [], [], secret_lines()
    for name in _git("ls-files", "-z").split("\0"):
        path = ROOT / name
        if not name or not path.is_file() or INSTRUCTOR_ONLY.search(name):
            continue
        if re.match(r"tests/test_\w+\.py$", name):
            text = path.read_text()
            flat = course_files.normalize(text)
            if _READS_SOLUTIONS.search(text) or any(line in flat for line in secrets):
                dropped.append(name)
                continue
        kept.append(name)
    return kept, dropped


def secret_lines() -> list[str]:
    """Distinctive lines of every lab's solutions and hidden checks, as the course tests define
    them (less what the course publishes on purpose: the labs' given code, chapters, coursekit)."""
    import course_files

    return sorted({line for lab in course_files.LABS for line in course_files.secret_lines(lab)})


def leaks(folder: pathlib.Path) -> list[str]:
    """'file: line' for each secret line found in a text file of `folder`."""
    import course_files

    found, secrets = [], secret_lines()
    for path in folder.rglob("*"):
        if ".git" in path.relative_to(folder).parts or not path.is_file():
            continue
        try:
            text = course_files.normalize(path.read_text())
        except UnicodeDecodeError:
            continue
        found += [f"{path.relative_to(folder)}: {line}" for line in secrets if line in text]
    return found


def publish(out: pathlib.Path, repo_url: str | None = None) -> pathlib.Path:
    out = out.resolve()
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise SystemExit(f"{out} exists and was not written by publish: choose an empty folder")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    old_url, new_url = repository_url(), (repo_url or repository_url()).rstrip("/")
    names, dropped = published_files()
    for name in names:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
        if target.suffix in (".md", ".yml", ".yaml", ".toml", ".ipynb", ".py", ".cfg", ".txt", "") and old_url:
            text = target.read_text()
            changed = text.replace(old_url, new_url)
            if name == "README.md":
                changed = _INSTRUCTORS.sub(_STUDENT_NOTE, changed)
            if changed != text:
                target.write_text(changed)
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


if __name__ == "__main__":
    sys.exit(main())
