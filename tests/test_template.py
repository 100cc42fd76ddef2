"""The chapter and lab template of CONTRIBUTING.md, checked on every chapter and lab.

Each test names the rule it enforces; CONTRIBUTING.md lists them. All but the last run
in seconds on the committed notebooks; the last one executes the chapters."""

import ast
import re

import nbformat
import pytest
import yaml

from course_files import LABS, ROOT

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
MAX_LINE = 80
MIN_ALT = 40
DRAWS = re.compile(r"\bplt\.(show|subplots|figure|imshow|plot)\(|\bfig\.|\.imshow\(|\bplot\.\w+\(")
CHAPTER_BUDGET = 60.0  # seconds on the 2-core CPU


def _nb(path):
    return nbformat.read(path, as_version=4)


def _lab_of(chapter) -> str:
    """The chapter's lab: lab<N>_<chapter>, exactly one."""
    matches = [lab for lab in LABS if re.fullmatch(rf"lab\d+_{re.escape(chapter.stem)}", lab)]
    assert len(matches) == 1, (f"chapter {chapter.stem}: expected one lab<N>_{chapter.stem} in solutions/, "
                               f"found {matches}: every chapter has its lab")
    return matches[0]


def _lab_nb(lab):
    return _nb(ROOT / "solutions" / lab / f"{lab}.ipynb")


def _step_ids(lab) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in _lab_nb(lab).cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def _markdown(path) -> str:
    return "\n\n".join(c.source for c in _nb(path).cells if c.cell_type == "markdown")


def _chapter_code_cells(path):
    """The chapter's own code cells (the generated setup cell is checked elsewhere)."""
    return [c for c in _nb(path).cells if c.cell_type == "code" and c.get("id") != "setup"]


def _directives(markdown: str, name: str) -> list[tuple[str, dict]]:
    """(argument, options) of every {name} directive in fenced MyST markdown."""
    found = []
    for match in re.finditer(rf"^(`{{3,}}|:{{3,}})\{{{name}\}}[ \t]*(.*)\n((?::\S+:.*\n)*)", markdown, re.M):
        options = dict(re.findall(r"^:(\S+):[ \t]*(.*)$", match.group(3), re.M))
        found.append((match.group(2).strip(), options))
    return found


chapters = pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)


def test_there_are_chapters():
    assert CHAPTERS, "chapters/ holds no notebook"


@chapters
def test_chapter_is_in_the_toc_with_its_lab(chapter):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {entry["file"] for part in toc["parts"] for entry in part["chapters"]}
    assert f"chapters/{chapter.stem}" in files, "add the chapter to _toc.yml"
    lab = _lab_of(chapter)
    assert f"labs/{lab}/{lab}" in files, "add the chapter's lab to _toc.yml"


@chapters
def test_chapter_opens_with_a_title_and_the_question(chapter):
    first = next(c for c in _nb(chapter).cells if c.cell_type == "markdown")
    assert re.match(r"# \S", first.source), "the first markdown cell starts with the title (# ...)"
    prose = re.sub(r"\$[^$]*\$", "", first.source)
    assert "?" in prose, "the first cell asks the question that the chapter answers"


@chapters
def test_drawing_code_is_folded_and_computing_code_shown(chapter):
    cells = _chapter_code_cells(chapter)
    for cell in cells:
        folded = "hide-input" in cell.metadata.get("tags", [])
        draws = bool(DRAWS.search(cell.source))
        if cell is cells[0]:   # the imports cell: plumbing, folded, defines and prints nothing
            assert folded, f"cell {cell.id}: fold the imports cell (tag hide-input)"
            assert not re.search(r"^(def|class) |print\(", cell.source, re.M), (
                f"cell {cell.id}: the folded imports cell only imports, seeds and configures")
            continue
        head = cell.source.splitlines()[0] if cell.source else ""
        assert folded == draws, (
            f"cell {cell.id} ({head!r}): "
            + ("drawing code must be folded (tag hide-input)" if draws else
               "only drawing code is folded: show code that computes"))
        if folded:
            assert "print(" not in cell.source, (
                f"cell {cell.id} prints results but is folded: split computing from drawing")


@chapters
def test_every_figure_has_a_caption_and_alt_text(chapter):
    names = []
    for cell in _chapter_code_cells(chapter):
        if not DRAWS.search(cell.source):
            continue
        meta = cell.metadata.get("mystnb", {})
        figure, image = meta.get("figure", {}), meta.get("image", {})
        assert figure.get("caption", "").strip(), f"cell {cell.id}: mystnb.figure.caption is missing"
        assert re.fullmatch(r"fig-[a-z0-9-]+", figure.get("name", "")), (
            f"cell {cell.id}: mystnb.figure.name must be fig-<topic>-<what>")
        alt = image.get("alt", "")
        assert len(alt) >= MIN_ALT and not re.search(r"\.(png|svg|jpe?g)\b", alt), (
            f"cell {cell.id}: mystnb.image.alt must describe the picture ({MIN_ALT}+ characters)")
        names.append(figure["name"])
    assert names, "a chapter shows its ideas in figures drawn by code"
    assert len(set(names)) == len(names), "figure names must be unique"


# Legible figures (CONTRIBUTING.md, "Legible at 390 px"). A figure's text is drawn at the
# sizes of the imports cell's plt.rcParams (font.size, axes.titlesize, figure.dpi) or at a
# literal fontsize=/labelsize= of its own cell, never smaller than that by a name ("small")
# or a variable, so that its smallest size in points is read from the notebook.
# test_browser.py::test_figure_text_is_legible turns it into pixels on the page.
FONT_LITERAL = re.compile(r"\b(?:fontsize|labelsize)\s*=\s*(\d+(?:\.\d+)?)\b|"
                          r"[\"']size[\"']\s*:\s*(\d+(?:\.\d+)?)\b")
FONT_HIDDEN = re.compile(r"\b(?:fontsize|labelsize)\s*=\s*(?!\d)|rcParams|rc_context|"
                         r"[\"'](?:xx?-)?small(?:er)?[\"']|set_(?:font)?size\(|"
                         r"\.(?:text|annotate|set_title|suptitle|title|xlabel|ylabel|"
                         r"set_xlabel|set_ylabel)\([^()]*\bsize\s*=")


def _helper_fonts() -> dict[str, float]:
    """{name: smallest literal font size} of the drawing helpers of coursekit.plot."""
    tree = ast.parse((ROOT / "src" / "coursekit" / "plot.py").read_text())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            own = [float(a or b) for a, b in FONT_LITERAL.findall(ast.unparse(node))]
            if own:
                found[node.name] = min(own)
        elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.Name)
              and node.value.id in found):  # an alias: heatmap_overlay = overlay
            found.update({t.id: found[node.value.id] for t in node.targets
                          if isinstance(t, ast.Name)})
    return found


def figure_fonts(chapter) -> tuple[float, dict[str, float]]:
    """(dpi, {figure name: smallest font size in points}) of a chapter's figures."""
    cells = _chapter_code_cells(chapter)
    rc_line = re.search(r"plt\.rcParams\.update\((\{.*?\})\)", cells[0].source, re.S)
    assert rc_line, f"{chapter.stem}: the imports cell sets plt.rcParams.update({{...}})"
    rc = ast.literal_eval(rc_line.group(1))
    sizes = [v for k, v in rc.items() if k.endswith("size") and isinstance(v, (int, float))]
    assert "font.size" in rc and "figure.dpi" in rc, f"{chapter.stem}: rcParams {rc}"
    fonts, helpers = {}, _helper_fonts()
    for cell in cells[1:]:
        name = cell.metadata.get("mystnb", {}).get("figure", {}).get("name")
        if name:
            own = [float(a or b) for a, b in FONT_LITERAL.findall(cell.source)]
            own += [size for helper, size in helpers.items()
                    if re.search(rf"\bplot\.{helper}\(", cell.source)]
            fonts[name] = min(sizes + own)
    return float(rc["figure.dpi"]), fonts


@chapters
def test_figure_font_sizes_are_literal_points(chapter):
    """Only the imports cell's rcParams and numeric fontsize=/labelsize= set a figure's text
    size, so that test_browser.py::test_figure_text_is_legible knows the smallest one."""
    for cell in _chapter_code_cells(chapter)[1:]:
        hidden = FONT_HIDDEN.search(cell.source)
        assert not hidden, (
            f"cell {cell.id}: {hidden.group(0)!r} sets a font size the legibility test cannot "
            "read: use fontsize=<points> (a number) or the imports cell's plt.rcParams")
    dpi, fonts = figure_fonts(chapter)
    assert fonts and dpi > 0


MIN_PROSE = 0.60


@chapters
def test_chapter_reads_as_prose(chapter):
    """At least 60 % of the words a reader sees are prose: markdown against the code cells
    shown (folded and removed cells do not count)."""
    prose = shown = 0
    for cell in _nb(chapter).cells:
        words = len(cell.source.split())
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "markdown":
            prose += words
        elif not {"hide-input", "remove-input", "remove-cell"} & set(tags):
            shown += words
    share = prose / (prose + shown)
    assert share >= MIN_PROSE, (f"{share:.0%} prose ({prose} words against {shown} of code "
                                "shown): fold code that only draws, explain what the code does")


@chapters
def test_code_lines_are_short(chapter):
    long = [(cell.id, line) for cell in _nb(chapter).cells if cell.cell_type == "code"
            for line in cell.source.splitlines() if len(line) > MAX_LINE]
    assert not long, f"lines over {MAX_LINE} characters scroll sideways on a phone: {long[:3]}"


@chapters
def test_chapter_is_seeded(chapter):
    code = "\n".join(c.source for c in _chapter_code_cells(chapter))
    assert "keras.utils.set_random_seed(" in code, "seed Keras, TensorFlow and Python"
    assert not re.search(r"np\.random\.(rand|randn|randint|normal|uniform|seed)\(", code), (
        "use a seeded Generator: rng = np.random.default_rng(0)")
    for cell in _chapter_code_cells(chapter):
        ast.parse(cell.source)  # a syntax error would only show at build time


@chapters
def test_exercise_labels_are_lab_grade_ids(chapter):
    exercises = _directives(_markdown(chapter), "exercise")
    assert exercises, "a chapter ends with exercises"
    lab = _lab_of(chapter)
    steps = _step_ids(lab)
    for title, options in exercises:
        label = options.get("label")
        assert label in steps, f"exercise {title!r}: label {label!r} is not a step of {lab}: {sorted(steps)}"


@chapters
def test_exercise_solutions_are_folded(chapter):
    markdown = _markdown(chapter)
    labels = {options.get("label") for _, options in _directives(markdown, "exercise")}
    solutions = _directives(markdown, "solution")
    assert {target for target, _ in solutions} == labels, "every exercise has one solution"
    for target, options in solutions:
        assert "dropdown" in options.get("class", ""), f"solution {target}: add ':class: dropdown'"


@chapters
def test_what_to_remember_then_references(chapter):
    markdown = _markdown(chapter)
    match = re.search(r"^## What to remember\n(.*?)^## References\n(.*)", markdown, re.M | re.S)
    assert match, "the chapter ends with '## What to remember', then '## References'"
    points = re.findall(r"^- ", match.group(1), re.M)
    assert 1 <= len(points) <= 5, f"What to remember: 1 to 5 points, found {len(points)}"
    assert "{bibliography}" in match.group(2)


# Words about documents the reader never sees. "seed" alone is fine (random seeds): these
# are the phrases that speak of source material, plus R's spelling of a Python argument.
SOURCE_TALK = re.compile(
    r"\bthe seeds\b(?! (?:of|and|\d))|\bseeds'|\bseed's\b|\bseed networks?\b"
    r"|\bthe seed (?:prints|says|writes|asks|shows|works|uses|table|example|drawings?)\b"
    r"|\bone of the seeds\b|\b(?:the|their|our|these|lecture|course) notes\b|\bnotes'"
    r"|\blecture(?:'s| material| slides)?\b|\bslides?\b(?= (?:say|show|give|print|list))"
    r"|include_top = FALSE", re.I)


def _voice_texts():
    """(where, text) of every chapter's and lab's prose, captions, alt text and comments."""
    notebooks = CHAPTERS + [ROOT / "solutions" / lab / f"{lab}.ipynb" for lab in LABS]
    for path in notebooks:
        for cell in _nb(path).cells:
            text = cell.source
            if cell.cell_type == "code":  # comments, docstrings and strings only
                text = "\n".join(re.findall(r"#.*|\"[^\"\n]*\"|'[^'\n]*'", text))
            text += " " + str(cell.metadata.get("mystnb", ""))
            yield f"{path.relative_to(ROOT)} cell {cell.get('id')}", text
    yield "intro.md", (ROOT / "intro.md").read_text()


def test_the_book_speaks_in_its_own_voice():
    """No page speaks of seeds, notes or slides that the reader never sees (CONTRIBUTING.md,
    "The voice"): a circulating number is stated as such, and the right one computed."""
    found = [f"{where}: {m.group(0)!r}" for where, text in _voice_texts()
             for m in SOURCE_TALK.finditer(text)]
    assert not found, found


MENTION = re.compile(r"\b(chapters?|labs?)\s+(\d+)\b", re.I)
LINK = re.compile(r"\{doc\}`[^`<]*<([^>]+)>`|\[[^\]]*\]\(([^)]*)\)")


@chapters
def test_chapter_and_lab_mentions_are_links(chapter):
    """ "chapter 7" and "lab 1" are links to that chapter or lab (the book numbers its chapters
    in the sidebar and the titles: numbered: true in _toc.yml)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    order = [entry["file"] for entry in toc["parts"][0]["chapters"]]
    assert toc["parts"][0].get("numbered"), "number the chapters: numbered: true in _toc.yml"
    bad = []
    for cell in _nb(chapter).cells:
        if cell.cell_type != "markdown":
            continue
        links = [(m.span(), m.group(1) or m.group(2)) for m in LINK.finditer(cell.source)]
        for mention in MENTION.finditer(cell.source):
            kind, n = mention.group(1).lower(), int(mention.group(2))
            target = next((t for (a, b), t in links if a <= mention.start() < b), None)
            if kind.startswith("chapter"):
                want = f"/{order[n - 1]}" if n <= len(order) else None
            else:
                want = f"/labs/lab{n}_"
            if target is None or want is None or not target.startswith(want):
                bad.append(f"cell {cell.id}: {mention.group(0)!r} -> {target}")
    assert not bad, f"link each mention to its chapter or lab ({{doc}}`lab 1 </labs/...>`): {bad}"


def test_one_citation_style():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert config["bibtex_reference_style"] == "label", "numbers in the text, as in the list"
    assert config["bibtex_default_style"] in ("unsrt", "plain")


@pytest.mark.parametrize("lab", LABS)
def test_lab_states_its_budget_and_steps(lab):
    cells = _lab_nb(lab).cells
    first = cells[0]
    assert first.cell_type == "markdown" and re.search(r"time budget", first.source, re.I), (
        "the first cell states the time budget")
    missing = [step for step in _step_ids(lab) if f"`{step}`" not in first.source]
    assert not missing, f"the first cell's table of steps misses {missing}"
    points = sum(c.metadata["nbgrader"].get("points", 0) for c in cells
                 if c.metadata.get("nbgrader", {}).get("grade"))
    table = sum(int(p) for p in re.findall(r"\|\s*(\d+)\s*\|\s*$", first.source, re.M))
    assert table == points, f"the table's points add up to {table}, the graded cells to {points}"


@pytest.mark.parametrize("lab", LABS)
def test_lab_steps_have_self_checks(lab):
    cells = _lab_nb(lab).cells
    ids = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in cells}
    for step in _step_ids(lab):
        if not re.search(r"^def ", ids[step].source, re.M):
            continue  # a quiz: the graded cell says what is wrong
        check = ids.get(f"selfcheck_{step}")
        assert check is not None, f"step {step}: add a self-check cell selfcheck_{step}"
        assert "checks." in check.source, f"selfcheck_{step} should use coursekit.checks"


@pytest.mark.xdist_group("book")
@chapters
def test_chapter_executes_and_its_time_is_reported(chapter, executed_chapters, record_budget):
    run = executed_chapters[chapter.stem]
    assert run["error"] is None, run["error"]
    cpu = run.get("cpu_seconds")
    # Judged on the kernel's CPU seconds, which do not grow when the chapters share the cores
    # (wall seconds do). Alone, a chapter's wall time is at most its CPU time unless it waits.
    # Measured and reported against the 60 s budget (OVER in the table at the end of the run),
    # not asserted: a test that times itself fails on the machine, not on the chapter.
    seconds, measure = (cpu, "CPU s") if cpu is not None else (run["seconds"], "wall s")
    notes = [measure, f"{run['seconds']:.1f} s wall"] + (["cached run"] if run["cached"] else [])
    record_budget("chapter", chapter.stem, seconds, CHAPTER_BUDGET, note=", ".join(notes))
