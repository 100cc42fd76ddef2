"""The book builds strictly (warnings are errors, chapters executed) and the HTML
holds no solution or hidden-test line of any lab."""

import html
import os
import re
import subprocess

import pytest

from course_files import LABS, ROOT, normalize, secret_lines

BUILD = ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def book():
    jupyter_book = ROOT / ".venv" / "bin" / "jupyter-book"
    command = [str(jupyter_book) if jupyter_book.exists() else "jupyter-book",
               "build", "--warningiserror", "--keep-going", str(ROOT)]
    # The chapters' kernels must draw inline: the Agg backend the tests use would drop every figure.
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"the book build failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
    return BUILD


def _text(page):
    raw = page.read_text(errors="replace")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.DOTALL)
    return normalize(html.unescape(re.sub(r"<[^>]+>", " ", raw)))


def test_book_has_intro_and_an_executed_convolution_chapter(book):
    assert (book / "index.html").exists()
    page = book / "chapters" / "convolution.html"
    assert page.exists()
    figures = re.findall(r'<img[^>]+src="[^"]*_images/[^"]+\.png"', page.read_text())
    assert len(figures) >= 3, f"expected at least 3 figures drawn by code, found {len(figures)}"


def test_labs_are_in_the_book_with_launch_buttons(book):
    for lab in LABS:
        page = book / "labs" / lab / f"{lab}.html"
        assert page.exists(), f"{lab} is missing from _toc.yml"
        assert "colab.research.google.com" in page.read_text()


def test_no_solution_or_hidden_test_in_the_html(book):
    site = " ".join(_text(p) for p in book.rglob("*.html"))
    for lab in LABS:
        leaked = [line for line in secret_lines(lab) if line in site]
        assert not leaked, f"{lab}: solution or hidden-test lines in the HTML: {leaked[:5]}"
    assert "BEGIN HIDDEN TESTS" not in site and "BEGIN SOLUTION" not in site
