"""The book builds strictly (warnings and broken cross-references are errors, chapters
executed), serves its own MathJax, captions every figure, cites in one style, documents
coursekit's API, and holds no solution or hidden-test line of any lab."""

import html
import re
import sys

import pytest
import yaml

from course_files import LABS, ROOT, normalize, secret_lines

pytestmark = pytest.mark.xdist_group("book")

CHAPTER_PAGES = sorted((ROOT / "chapters").glob("*.ipynb"))


def _text(page):
    raw = page.read_text(errors="replace")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.DOTALL)
    return normalize(html.unescape(re.sub(r"<[^>]+>", " ", raw)))


def _page(book, chapter):
    return book / "chapters" / f"{chapter.stem}.html"


def test_book_has_intro_and_executed_chapters(book):
    assert (book / "index.html").exists()
    for chapter in CHAPTER_PAGES:
        figures = re.findall(r'<img[^>]+src="[^"]*_images/[^"]+\.(?:png|jpe?g|webp)"',
                             _page(book, chapter).read_text())
        assert len(figures) >= 3, f"{chapter.stem}: expected figures drawn by code, found {len(figures)}"


@pytest.mark.parametrize("chapter", CHAPTER_PAGES, ids=lambda p: p.stem)
def test_every_figure_in_the_html_has_a_caption_and_alt_text(book, chapter):
    page = _page(book, chapter).read_text()
    images = re.findall(r"<img\b[^>]*>", page)
    drawn = [img for img in images if "_images/" in img]
    assert drawn, "no figure drawn by code"
    for img in drawn:
        alt = html.unescape(re.search(r'alt="([^"]*)"', img).group(1))
        assert len(alt) >= 40 and not re.search(r"\.(png|svg|jpe?g)\b", alt), f"alt text {alt!r}"
    figures = re.findall(r"<figure\b.*?</figure>", page, flags=re.DOTALL)
    in_figures = sum(len(re.findall(r"<img\b[^>]*_images/", f)) for f in figures)
    assert in_figures == len(drawn), "every drawn image must sit in a <figure>"
    assert all("<figcaption" in f for f in figures), "a figure without a caption"


# What the machine that built the book would leave on a page: its paths, checksums, hardware,
# the notes coursekit prints on where data came from, and "skipped" notices.
MACHINE_OUTPUT = re.compile(
    r"/root\b|/home/\w|/Users/\w|/tmp/|[A-Za-z]:\\Users|\bSHA-?256\b|\b[0-9a-f]{40,}\b"
    r"|\bskipped \(set\b|\bcores?, [\d.]+ GiB RAM|\bGiB RAM\b|\brecorded on \d{4}-\d\d-\d\d"
    r"|\bcoursekit\.(?:data|models): \w+ from\b|\.(?:npz|h5|pth|weights\.h5)\b(?=[ ,)])", re.I)


@pytest.mark.parametrize("chapter", CHAPTER_PAGES, ids=lambda p: p.stem)
def test_no_machine_output_on_a_page(book, chapter):
    """CONTRIBUTING.md, "No machine output": no path, checksum, hardware line, weight file or
    "skipped" notice in a page's text, executed outputs included (coursekit.verbose(False) in
    the chapters' setup cell; times are said in the reader's terms, "in 6 s on a CPU")."""
    found = sorted({m.group(0) for m in MACHINE_OUTPUT.finditer(_text(_page(book, chapter)))})
    assert not found, found


MAX_IMAGE_BYTES = 300 * 1024


def test_no_image_is_heavy(book):
    """Figures stay light on a phone's connection: none over 300 KB. A photo-like figure is drawn
    as JPEG (`set_matplotlib_formats("jpeg")` in its cell), diagrams and plots as PNG."""
    shown = {name for page in book.rglob("*.html")
             for name in re.findall(r'<img[^>]+src="[^"]*_images/([^"/]+)"', page.read_text(errors="replace"))}
    sizes = {name: (book / "_images" / name).stat().st_size for name in shown}
    heavy = {name: size // 1024 for name, size in sizes.items() if size > MAX_IMAGE_BYTES}
    assert not heavy, f"images over {MAX_IMAGE_BYTES // 1024} KB (KB): {heavy}"


def test_citations_match_the_reference_list(book):
    """One style: the label in the text is the label in the list ([3] and [3])."""
    for chapter in CHAPTER_PAGES:
        page = _page(book, chapter).read_text()
        listed = {re.sub(r"<[^>]+>", "", label).strip() for label in re.findall(
            r'<span class="label"><span class="fn-bracket">\[</span>(.*?)<span class="fn-bracket">', page)}
        cited = {re.sub(r"<[^>]+>", "", text).strip() for text in re.findall(
            r'<a class="reference internal" href="#id\d+"[^>]*>(.*?)</a>', page)}
        assert listed, f"{chapter.stem}: no references listed"
        assert cited and cited <= listed, f"{chapter.stem}: cited {sorted(cited)}, listed {sorted(listed)}"
        assert all(label.isdigit() for label in listed), f"labels are not numbers: {sorted(listed)}"


def test_mathjax_is_served_by_the_book_itself(book):
    page = _page(book, CHAPTER_PAGES[0]).read_text()
    scripts = re.findall(r'<script[^>]+src="([^"]+)"', page)
    mathjax = [s for s in scripts if "mathjax" in s.lower()]
    assert mathjax and all(s.startswith("../_static/mathjax/") for s in mathjax), mathjax
    assert (book / "_static" / "mathjax" / mathjax[0].split("/")[-1].split("?")[0]).exists()
    assert (book / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_no_page_loads_anything_from_another_host(book):
    """Links to other sites are fine; scripts, styles, images and fonts must be local."""
    for page in book.rglob("*.html"):
        text = page.read_text(errors="replace")
        remote = re.findall(r'<(?:script|img|iframe|source)\b[^>]*\bsrc="((?:https?:)?//[^"]+)"', text)
        remote += re.findall(r'<link\b[^>]*\bhref="((?:https?:)?//[^"]+)"[^>]*>', text)
        remote = [url for url in remote if "rel=\"canonical\"" not in url]
        assert not remote, f"{page.relative_to(book)} loads {remote}"


def test_jupyterhub_button_only_when_configured(book):
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    hub = (config.get("launch_buttons") or {}).get("jupyterhub_url")
    site = " ".join(p.read_text(errors="replace") for p in (book / "chapters").glob("*.html"))
    assert "example.org" not in site
    assert ("JupyterHub" in site) == bool(hub)


def test_api_reference_covers_every_public_name(book):
    """Every public module has a page, and every name in its __all__ is documented there."""
    import coursekit

    sys.path.insert(0, str(ROOT / "_ext"))
    from api_reference import public_api

    for module in coursekit._SUBMODULES:
        page = book / "api" / f"{module}.html"
        assert page.exists(), f"api/{module}.md is missing from the book"
        text = page.read_text()
        missing = [name for where, name in public_api(module) if f'id="coursekit.{where}.{name}"' not in text]
        assert not missing, f"api/{module}: not documented: {missing}"


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
