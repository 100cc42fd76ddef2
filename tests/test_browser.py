"""The built book in a real browser: headless Chromium, driven by Playwright, on
_build/html served from 127.0.0.1.

Every page, at 1280 px and at 390 px (a phone): no console error, no request to another
host, maths typeset by MathJax, no sideways scroll on the phone. Then: the solution
dropdowns open, every internal link and image resolves, and the search finds
"receptive field". Screenshots of the main pages go to _build/screenshots/.

Needs Chromium (Debian: `apt-get install -y chromium`; `.ci/run` installs it). Without it
these tests skip with that advice, except under CI (the CI variable set), where they fail.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from course_files import ROOT

pytestmark = pytest.mark.xdist_group("book")

WIDTHS = {"desktop": 1280, "phone": 390}
# Headless, and no background traffic of Chromium's own (updates, sync, field trials).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOT_PAGES = ["intro.html", "chapters/convolution.html", "labs/lab1_convolution/lab1_convolution.html",
                    "api/cam.html"]
SCREENSHOTS = ROOT / "_build" / "screenshots"
HOW_TO = ("the browser tests need Chromium and the Python package playwright: "
          "`apt-get install -y chromium` (Debian/Ubuntu) and `pip install -e '.[dev]'`, "
          "or set CHROMIUM=/path/to/chromium")


def _chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture(scope="session")
def chromium():
    path = _chromium_path()
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        path = None
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI never skips the browser tests: {HOW_TO}")
        pytest.skip(HOW_TO)
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="session")
def site(book):
    """The built book on http://127.0.0.1:<free port>."""
    handler = functools.partial(_QuietHandler, directory=str(book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser(chromium):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


def _pages(book) -> list[str]:
    """Every page, less the redirects (index.html points to the first page)."""
    return sorted(str(p.relative_to(book)) for p in book.rglob("*.html")
                  if "_static" not in p.parts and "_sources" not in p.parts
                  and 'http-equiv="Refresh"' not in p.read_text(errors="replace")[:2000])


class Visit:
    """One page in a fresh browser context, with everything it asked for recorded."""

    def __init__(self, browser, base: str, path: str, width: int):
        self.host = urllib.parse.urlsplit(base).netloc
        self.context = browser.new_context(viewport={"width": width, "height": 900},
                                           has_touch=width <= WIDTHS["phone"])
        self.remote, self.problems = [], []
        # Anything for another host is recorded and refused: the test never waits on a network.
        self.context.route("**/*", self._route)
        self.touch = width <= WIDTHS["phone"]
        self.page = self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        self.page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status} {r.url}"))
        self.page.goto(base + path, wait_until="load")
        self.page.evaluate("() => window.MathJax?.startup?.promise ?? null")  # typesetting done

    def _route(self, route):
        url = urllib.parse.urlsplit(route.request.url)
        if url.scheme in ("data", "blob") or url.netloc == self.host:
            route.continue_()
        else:
            self.remote.append(route.request.url)
            route.abort()

    def close(self):
        self.context.close()


@pytest.fixture(scope="session")
def visits(book, site, browser):
    """{(width name, page): findings} for every page at every width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, width in WIDTHS.items():
        for path in _pages(book):
            visit = Visit(browser, site, path, width)
            try:
                results[(name, path)] = {
                    "problems": visit.problems + [f"request to another host: {u}" for u in visit.remote],
                    "maths": visit.page.evaluate(_MATHS),
                    "overflow": visit.page.evaluate(_OVERFLOW),
                    "links": visit.page.evaluate(
                        "() => [...document.querySelectorAll('a[href]')].map(a => a.href)"),
                    "images": visit.page.evaluate(
                        "() => [...document.querySelectorAll('img')].map(i => i.src)"),
                }
                if path in SCREENSHOT_PAGES:
                    shot = SCREENSHOTS / f"{path.replace('/', '_')[:-5]}-{width}.png"
                    visit.page.screenshot(path=str(shot), full_page=True)
            finally:
                visit.close()
    return results


# Maths present, and every formula typeset with no TeX error.
_MATHS = """() => {
  const formulas = [...document.querySelectorAll('.math')];
  return {formulas: formulas.length,
          typeset: formulas.filter(f => f.querySelector('mjx-container')).length,
          errors: document.querySelectorAll('mjx-merror').length};
}"""

# How far the page scrolls sideways, and the outermost elements that stick out (skipping
# those inside a box that scrolls or clips by itself), for the message.
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const excess = document.documentElement.scrollWidth - width;
  const contained = e => {
    for (let a = e; a && a !== document.body; a = a.parentElement) {
      const style = getComputedStyle(a);
      if (style.position === 'fixed') return true;  // off-canvas drawers do not scroll the page
      if (a !== e && style.overflowX !== 'visible' && a.getBoundingClientRect().right <= width + 1) return true;
    }
    return false;
  };
  const sticksOut = e => e.getBoundingClientRect().right > width + 1;
  const culprits = [...document.querySelectorAll('body *')]
    .filter(e => sticksOut(e) && !contained(e) && !(e.parentElement && sticksOut(e.parentElement)
                                                    && !contained(e.parentElement)))
    .slice(0, 5).map(e => e.tagName.toLowerCase() + '.' + [...e.classList].join('.')
                          + ' "' + (e.textContent || '').trim().slice(0, 40) + '"');
  return {excess, culprits};
}"""


@pytest.mark.parametrize("width", WIDTHS)
def test_pages_load_with_no_error_and_no_other_host(visits, width):
    problems = {path: v["problems"] for (name, path), v in visits.items() if name == width and v["problems"]}
    assert not problems, problems


def test_every_page_was_visited(visits, book):
    assert len(visits) == len(WIDTHS) * len(_pages(book)) > 10


def test_maths_is_typeset(visits):
    pages_with_maths = {path: v["maths"] for (_, path), v in visits.items() if v["maths"]["formulas"]}
    assert "chapters/convolution.html" in pages_with_maths
    bad = {path: m for path, m in pages_with_maths.items() if m["typeset"] < m["formulas"] or m["errors"]}
    assert not bad, f"formulas left untypeset or with TeX errors: {bad}"


def test_no_page_scrolls_sideways_on_a_phone(visits):
    wide = {path: v["overflow"] for (name, path), v in visits.items()
            if name == "phone" and v["overflow"]["excess"] > 1}
    assert not wide, f"pages wider than a 390 px phone: {wide}"


def test_internal_links_and_images_resolve(visits, site):
    targets = {url for v in visits.values() for url in v["links"] + v["images"] if url.startswith(site)}
    assert len(targets) > 20
    pages, broken = {}, []
    for url in sorted(targets):
        address, _, fragment = url.partition("#")
        if address not in pages:
            try:
                with urllib.request.urlopen(address, timeout=10) as response:
                    pages[address] = response.read().decode("utf-8", errors="replace")
            except urllib.error.HTTPError as err:
                pages[address] = None
                broken.append(f"{url}: HTTP {err.code}")
                continue
        body = pages[address]
        if body is not None and fragment and address.endswith(".html"):
            if not re.search(rf'\bid="{re.escape(urllib.parse.unquote(fragment))}"', body):
                broken.append(f"{url}: no element with that id")
    assert not broken, broken


def test_images_are_displayed(browser, site):
    visit = Visit(browser, site, "chapters/convolution.html", WIDTHS["desktop"])
    try:
        visit.page.evaluate("() => document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
        visit.page.wait_for_function("() => [...document.images].every(i => i.complete)")
        empty = visit.page.evaluate("() => [...document.images].filter(i => !i.naturalWidth).map(i => i.src)")
        count = visit.page.evaluate("() => document.images.length")
    finally:
        visit.close()
    assert count >= 5 and not empty, empty


def test_solution_dropdowns_open(browser, site):
    visit = Visit(browser, site, "chapters/convolution.html", WIDTHS["phone"])
    try:
        page = visit.page
        solutions = page.locator(".solution.dropdown")
        assert solutions.count() >= 1
        for i in range(solutions.count()):
            solution = solutions.nth(i)
            body = solution.locator(":scope > :not(.admonition-title)").first
            assert not body.is_visible(), f"solution {i} is open before it is clicked"
            solution.locator(".toggle-button").click()  # the title's link would only scroll
            body.wait_for(state="visible", timeout=5000)
        details = page.locator("details.sd-dropdown")
        for i in range(details.count()):
            details.nth(i).locator("summary").click()
            assert details.nth(i).evaluate("d => d.open")
    finally:
        visit.close()


def test_search_finds_receptive_field(browser, site):
    visit = Visit(browser, site, "search.html?q=receptive+field", WIDTHS["desktop"])
    try:
        # Sphinx adds the hits one at a time (each fetches its page's summary) and says when it is
        # done; reading the list before that sees only the first few.
        visit.page.wait_for_function(
            "() => /finished|did not match/.test("
            "document.querySelector('#search-results .search-summary')?.innerText || '')",
            timeout=30000)
        hits = visit.page.eval_on_selector_all("#search-results li a", "links => links.map(a => a.href)")
    finally:
        visit.close()
    assert any("chapters/convolution.html" in hit for hit in hits), hits


def test_phone_menu_and_contents_open(browser, site):
    """At 390 px the menu button (the primary sidebar) and "On this page" (the secondary one)
    open their drawers (_static/sidebar-toggles.js: the themes bind only the first, hidden,
    toggle of each kind)."""
    visit = Visit(browser, site, "chapters/padding_stride.html", WIDTHS["phone"])
    try:
        page = visit.page
        for toggle, dialog, inside in [
                (".primary-toggle", "#pst-primary-sidebar-modal", "a[href*='convolution']"),
                (".secondary-toggle", "#pst-secondary-sidebar-modal", "a[href^='#']")]:
            buttons = page.locator(f"{toggle}:visible")
            assert buttons.count() >= 1, f"no visible {toggle} at 390 px"
            buttons.first.tap() if visit.touch else buttons.first.click()
            page.wait_for_function(f"() => document.querySelector('{dialog}')?.open", timeout=5000)
            link = page.locator(f"{dialog} {inside}").first
            assert link.is_visible(), f"{dialog} opened without its links"
            page.keyboard.press("Escape")
            page.wait_for_function(f"() => !document.querySelector('{dialog}').open", timeout=5000)
        assert not visit.problems, visit.problems
    finally:
        visit.close()


def test_one_search_box_on_the_desktop(browser, site):
    visit = Visit(browser, site, "chapters/convolution.html", WIDTHS["desktop"])
    try:
        boxes = visit.page.locator(
            "input[type=search]:visible, .search-button:visible, .search-button-field:visible")
        assert boxes.count() == 1, f"{boxes.count()} search boxes or buttons shown"
    finally:
        visit.close()


# Output boxes of executed cells whose content is wider than the box (it would scroll sideways).
_WIDE_OUTPUTS = """() => [...document.querySelectorAll('div.cell_output pre, div.cell_output table')]
  .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().width >
               e.closest('article').getBoundingClientRect().width + 1)
  .map(e => (e.textContent || '').trim().split('\\n')[0].slice(0, 60))"""


@pytest.mark.parametrize("chapter", [p.stem for p in sorted((ROOT / "chapters").glob("*.ipynb"))])
def test_printed_outputs_fit_at_1280_px(browser, site, chapter):
    """Printed tables are formatted for about 80 columns (or are HTML tables): at 1280 px no
    output box scrolls sideways."""
    visit = Visit(browser, site, f"chapters/{chapter}.html", WIDTHS["desktop"])
    try:
        wide = visit.page.evaluate(_WIDE_OUTPUTS)
    finally:
        visit.close()
    assert not wide, f"{len(wide)} output boxes wider than the page: {wide}"


def test_identifiers_stay_whole_on_the_desktop(browser, site):
    """`overflow-wrap: anywhere` applies on a phone only: at 1280 px an identifier such as
    conv2d_single in lab 1's table of steps is never broken mid-word."""
    visit = Visit(browser, site, "labs/lab1_convolution/lab1_convolution.html", WIDTHS["desktop"])
    try:
        broken = visit.page.evaluate("""() => [...document.querySelectorAll('code.literal')]
          .filter(c => !/\\s/.test(c.textContent.trim()) && c.getClientRects().length > 1)
          .map(c => c.textContent.trim())""")
    finally:
        visit.close()
    assert not broken, f"identifiers broken across lines at 1280 px: {broken}"


# Legible figures (CONTRIBUTING.md, "Legible at 390 px"): a figure's smallest text, in pixels
# as shown, is its smallest font size in points (test_template.figure_fonts: the imports
# cell's rcParams or a fontsize= of its cell) x dpi/72 x shown width / natural width.
MIN_TEXT_PX = {"desktop": 9.0, "phone": 7.0}
_FIGURE_SIZES = """async () => {
  const images = [...document.querySelectorAll('figure[id] img')];
  images.forEach(i => i.loading = 'eager');
  await Promise.all(images.map(i => i.decode().catch(() => null)));
  return images.map(i => ({name: i.closest('figure[id]').id, natural: i.naturalWidth,
                           shown: i.getBoundingClientRect().width}));
}"""


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("chapter", sorted(p.stem for p in (ROOT / "chapters").glob("*.ipynb")))
def test_figure_text_is_legible(browser, site, chapter, width):
    from test_template import figure_fonts

    dpi, fonts = figure_fonts(ROOT / "chapters" / f"{chapter}.ipynb")
    visit = Visit(browser, site, f"chapters/{chapter}.html", WIDTHS[width])
    try:
        shown = visit.page.evaluate(_FIGURE_SIZES)
    finally:
        visit.close()
    assert {s["name"] for s in shown} == set(fonts), "every figure of the notebook is on the page"
    small = {}
    for s in shown:
        px = fonts[s["name"]] * dpi / 72 * s["shown"] / s["natural"]
        if px < MIN_TEXT_PX[width]:
            small[s["name"]] = (f"{fonts[s['name']]:g} pt at {s['natural']} px shown "
                                f"{s['shown']:.0f} px wide: {px:.1f} px")
    assert not small, (f"text under {MIN_TEXT_PX[width]:g} px at {WIDTHS[width]} px: {small}; "
                       "draw narrower (stack panels) or with larger fonts")
