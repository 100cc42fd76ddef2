"""Installing coursekit: the distribution has a name of its own (`cnn-coursekit`), every
install line uses it, the repository URL lives in `_config.yml` alone, and the setup cell
of every notebook is the one that scripts/setup_cells.py generates from it.

Known answers, computed here rather than asked of the generator: the install source is
`git+<repository.url>@<branch>` of `_config.yml`, and the setup cell is the first code cell,
found by its nbgrader grade_id "setup" (a lab) or its cell id "setup" (a chapter), hidden by
the tag remove-cell. Whether every generated copy is current is the generator's own
`--check`, run as a maintainer runs it."""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib

import nbformat
import pytest
import yaml

from course_files import NOTEBOOKS, ROOT

SETUP = "setup"        # the setup cell's nbgrader grade_id (a lab) or cell id (a chapter)
HIDE = "remove-cell"   # the book's tag for a cell it leaves out
README_INSTALL = re.compile(r"<!-- install:begin.*?<!-- install:end -->", re.S)


def repository() -> tuple[str, str]:
    """_config.yml's repository url (no trailing slash) and branch."""
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    return repo["url"].rstrip("/"), repo["branch"]


def install_source() -> str:
    """Where a setup cell's pip finds coursekit."""
    url, branch = repository()
    return f"git+{url}@{branch}"


def _lab_notebooks(released: bool) -> dict[str, pathlib.Path]:
    """Each lab's notebook, by lab: its release (labs/) or its source."""
    return {p.stem: p for p in NOTEBOOKS
            if p.stem == p.parent.name and (p.parent.parent.name == "labs") == released}


def setup_cell_index(nb) -> int | None:
    """A cell's name is its nbgrader grade_id (a lab's cells), else its cell id (a chapter's)."""
    names = [cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or cell.get("id") for cell in nb.cells]
    return names.index(SETUP) if SETUP in names else None


def setup_cell(path: pathlib.Path) -> str | None:
    nb = nbformat.read(path, as_version=4)
    index = setup_cell_index(nb)
    return None if index is None else nb.cells[index].source


# Files that a person reads or runs to install something.
TEXT_FILES = ["README.md", "CONTRIBUTING.md", "intro.md", "environment.yml", "Makefile",
              ".ci/run", "pyproject.toml", "_config.yml", "nbgrader_config.py"]

_PIP_LINE = re.compile(r"pip3?\s+install\b[^\n]*")
_BARE_IN_PIP = re.compile(r"(?<![\w./-])coursekit(?=$|[\s\"'\[@=<>~!;,])")
_BARE_REQUIREMENT = re.compile(r"[\"'\s]coursekit\s*(\[[^\]]*\]\s*)?(@|==|>=|<=|~=|!=)")
_CONDA_PIP_ENTRY = re.compile(r"^\s*-\s*[\"']?coursekit\b", re.MULTILINE)


def bare_coursekit_installs(text: str) -> list[str]:
    """Install lines or requirement strings that name the bare `coursekit` distribution."""
    commands = [line.split(" #")[0] for line in _PIP_LINE.findall(text)]  # shell comments aside
    found = [command for command in commands if _BARE_IN_PIP.search(command)]
    found += [m.group(0) for m in _BARE_REQUIREMENT.finditer(text)]
    found += [m.group(0) for m in _CONDA_PIP_ENTRY.finditer(text)]
    return found


def _install_texts(setup_cells: bool = True):
    for name in TEXT_FILES:
        if (ROOT / name).exists():
            yield name, (ROOT / name).read_text()
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        setup = setup_cell_index(nb)
        yield str(path.relative_to(ROOT)), "\n".join(
            cell.source for index, cell in enumerate(nb.cells) if setup_cells or index != setup)


@pytest.mark.parametrize("text", [
    "pip install coursekit",
    'pip install "coursekit[cpu]"',
    "!pip install -q coursekit==0.1.0",
    '    "coursekit[offline] @ git+https://example.org/repo"], check=True)',
    "  - pip:\n      - coursekit\n",
])
def test_the_detector_finds_bare_installs(text):
    assert bare_coursekit_installs(text)


@pytest.mark.parametrize("text", [
    'pip install "cnn-coursekit[cpu] @ git+https://example.org/repo@main"',
    'pip install -e ".[cpu,offline]" jupyterlab',
    "import coursekit\nfrom coursekit import checks",
    'f"cnn-coursekit[{extras}] @ {SOURCE}"',
    "python -m pip install -e .  # installs coursekit from this checkout",
])
def test_the_detector_lets_good_lines_pass(text):
    assert not bare_coursekit_installs(text)


def test_the_distribution_is_cnn_coursekit():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == "cnn-coursekit"


def test_no_install_line_names_the_bare_coursekit():
    bad = {name: hits for name, text in _install_texts() if (hits := bare_coursekit_installs(text))}
    assert not bad, f"PyPI's `coursekit` is another project; install `cnn-coursekit`: {bad}"


def test_setup_cells_and_readme_are_generated():
    proc = subprocess.run([sys.executable, "scripts/setup_cells.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"run `make setup-cells` (then `make labs`):\n{proc.stdout}{proc.stderr[-2000:]}"


# Chapters, the labs' sources and their releases.
SETUP_NOTEBOOKS = [p for p in NOTEBOOKS if p.parent.name == "chapters" or p.stem == p.parent.name]


@pytest.mark.parametrize("path", SETUP_NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_notebook_has_the_setup_cell_first(path):
    nb = nbformat.read(path, as_version=4)
    index = setup_cell_index(nb)
    assert index is not None, "no setup cell: run `make setup-cells`"
    first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    assert index == first_code, "the setup cell must be the first code cell"
    cell = nb.cells[index]
    assert HIDE in cell.metadata.get("tags", []), "the book must hide the setup cell"
    assert f'SOURCE = "{install_source()}"' in cell.source, "run `make setup-cells`"


def test_released_labs_carry_the_same_setup_cell():
    sources, releases = _lab_notebooks(released=False), _lab_notebooks(released=True)
    if not sources:
        pytest.skip("a published copy has only the releases (each checked above)")
    assert set(releases) == set(sources), "run `make labs`"
    for lab, release in releases.items():
        assert setup_cell(release) == setup_cell(sources[lab]), f"{release.relative_to(ROOT)}: run `make labs`"


def test_the_repository_url_lives_in_config_alone():
    """Generated copies (setup cells, README's install block) are allowed: they are checked above."""
    url, _ = repository()
    assert url.startswith("https://") and "example" not in url
    texts = dict(_install_texts(setup_cells=False))
    texts["README.md"] = README_INSTALL.sub("", texts["README.md"])
    repeats = [name for name, text in texts.items() if name != "_config.yml" and url in text]
    assert not repeats, f"{url} is written by hand in {repeats}: read it from _config.yml"


def test_no_placeholder_launch_buttons():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    for key, value in (config.get("launch_buttons") or {}).items():
        if isinstance(value, str) and value.startswith("http"):
            assert not re.search(r"example\.(org|com|net)", value), f"placeholder {key}: {value}"


def _site_packages_without_coursekit(tmp_path):
    """This environment's packages, coursekit left out, as one folder of links."""
    site = sysconfig.get_paths()["purelib"]
    folder = tmp_path / "deps"
    folder.mkdir()
    for entry in os.listdir(site):
        if "coursekit" in entry.lower() or entry.endswith(".pth") or entry == "__pycache__":
            continue
        (folder / entry).symlink_to(os.path.join(site, entry))
    return folder


def _project_copy(tmp_path):
    """What pip needs to build cnn-coursekit, copied so the checkout gains no build files."""
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT / "src", copy / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    return copy


@pytest.mark.slow   # a fresh virtual environment and a build of the package
def test_a_chapter_setup_cell_installs_coursekit_where_it_is_missing(tmp_path):
    """As in a fresh Colab runtime: no coursekit, TensorFlow present. The setup cell installs
    cnn-coursekit (from a copy of this checkout in place of the remote repository), and the
    chapter's imports then work."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    venv_site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip()
    # TensorFlow, Keras and the rest come from this environment, as Colab has them already.
    (pathlib.Path(venv_site) / "deps.pth").write_text(str(_site_packages_without_coursekit(tmp_path)))

    chapter = sorted((ROOT / "chapters").glob("*.ipynb"))[0]
    nb = nbformat.read(chapter, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    setup, imports = code[0], code[1]
    local = f"file://{_project_copy(tmp_path)}"
    assert install_source() in setup
    script = "\n".join([setup.replace(install_source(), local), imports,
                        "print('coursekit from', coursekit.__file__)",
                        # package data: chapter 5 loads its recorded run from the installed coursekit
                        "print('recorded run', sum(w.size for w in coursekit.runs.load('mnist_cnn').weights))"])
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    before = subprocess.run([str(python), "-c", "import coursekit"], capture_output=True, env=env, cwd=tmp_path)
    assert before.returncode != 0, "coursekit should be missing from the fresh environment"
    proc = subprocess.run([str(python), "-c", script], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Device: CPU" in proc.stdout
    assert f"coursekit from {venv}" in proc.stdout, proc.stdout
    assert "recorded run 1199882" in proc.stdout, proc.stdout
