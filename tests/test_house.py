"""Everything a maintainer needs is in the repository, and what it says is true.

CONTRIBUTING.md's table "Where to change what" names files that exist, and no file of the
repository sends its reader to documents outside it (the authors' design folder) or to the
numbers of an issue tracker that the repository does not hold.
"""

import ast
import re
import subprocess

import pytest

from course_files import ROOT

PLACEHOLDER = re.compile(r"<[a-z_]+>")


def _table_paths() -> list[str]:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    table = text.split("### Where to change what", 1)[1].split("\n\n", 2)[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line][1:]
    paths = []
    for row in rows:
        for cell in row.strip("|").split("|")[1:]:
            for code in re.findall(r"`([^`]+)`", cell):
                if "/" in code and " " not in code and not code.startswith((".venv", "make", "CI=")):
                    paths.append(code.split("::")[0])
    return paths


def test_the_where_to_change_what_table_names_files_that_exist():
    paths = _table_paths()
    assert len(paths) > 25, f"only {len(paths)} paths read from the table: the parser is broken"
    missing = [p for p in paths if not list(ROOT.glob(PLACEHOLDER.sub("*", p).rstrip("/")))]
    assert not missing, f"CONTRIBUTING.md's 'Where to change what' names paths that do not exist: {missing}"


def _tracked_text_files():
    try:
        names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    for name in names.splitlines():
        path = ROOT / name
        if path.suffix in {".py", ".md", ".ipynb", ".yml", ".yaml", ".toml", ".cfg", ".txt", ""} and path.is_file():
            yield name, path.read_text(errors="replace")


def test_nothing_points_outside_the_repository_or_to_issue_numbers():
    outside = re.compile(r"\.\./shared|shared/(DESIGN|OFFLINE-DATA)\.md|lecture" r"-notes/")
    tracker = re.compile(r"\b[Ii]ssue #?\d+\b")
    found = [f"{name}: {m.group(0)}" for name, text in _tracked_text_files()
             for pattern in (outside, tracker) for m in pattern.finditer(text)]
    assert not found, "the repository refers to what its readers do not have:\n" + "\n".join(found[:20])


# --------------------------------------------------------------------------- the rooms of src/

SRC = ROOT / "src"
PACKAGES = ("coursekit", "coursegrader")
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _modules():
    for package in PACKAGES:
        for path in sorted((SRC / package).rglob("*.py")):
            parts = path.relative_to(SRC).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            yield name, path, path.name == "__init__.py"


def _is_module(dotted: str) -> bool:
    path = SRC.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base[:len(base) - node.level + (1 if is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def _reaches_into_privates(module: str, path, is_package: bool) -> list[str]:
    """`from X import _name` and `X._name`, where X is another of our modules and _name is not
    one of its submodules."""
    tree = ast.parse(path.read_text())
    bound: dict[str, str] = {}  # local name -> our module it stands for
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    local = alias.asname or alias.name.split(".")[0]
                    bound[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node)
            if source.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                if _is_module(f"{source}.{alias.name}"):
                    bound[alias.asname or alias.name] = f"{source}.{alias.name}"
                elif _private(alias.name) and source != module:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: from {source} import {alias.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            dotted = _dotted(node.value)
            if dotted is None or dotted.split(".")[0] not in bound:
                continue
            head, *rest = dotted.split(".")
            target = ".".join([bound[head], *rest])
            if _is_module(target) and target != module and not _is_module(f"{target}.{node.attr}"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {dotted}.{node.attr}")
    return found


def test_no_module_reaches_into_another_modules_private_names():
    found = [line for name, path, is_package in _modules() for line in _reaches_into_privates(name, path, is_package)]
    assert not found, ("a module uses another module's private name: make it a package-level name of "
                       "that module (or move it to a private module both import):\n" + "\n".join(found))


def _docstring_lines(tree) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def _sizes(path):
    """(lines of the module, [(function, lines)]), docstrings not counted."""
    text = path.read_text()
    tree = ast.parse(text)
    docs = _docstring_lines(tree)
    functions = [(node.name, node.end_lineno - node.lineno + 1
                  - len([n for n in docs if node.lineno <= n <= node.end_lineno]))
                 for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return len(text.splitlines()) - len(docs), functions


def test_every_module_and_function_is_short():
    # a long room does several things: split it where its ideas part
    long = []
    for _, path, _ in _modules():
        lines, functions = _sizes(path)
        where = path.relative_to(ROOT)
        if lines > MAX_MODULE_LINES:
            long.append(f"{where}: {lines} lines (at most {MAX_MODULE_LINES}, docstrings not counted)")
        long += [f"{where}: {name}() has {n} lines (at most {MAX_FUNCTION_LINES})"
                 for name, n in functions if n > MAX_FUNCTION_LINES]
    assert not long, "\n".join(long)


# --------------------------------------------------------------------------- scripts/ and tests/
# Scripts are command lines over the installed packages, and tests reach the instructor's logic
# through the installed coursegrader: neither folder is put on sys.path, nor imported by name.

APART = ("scripts", "tests", "benchmarks")


def _module_names(folder: str) -> set[str]:
    return {path.stem for path in (ROOT / folder).glob("*.py")}


def _crossings(name: str, text: str) -> list[str]:
    """`sys.path` changes that name scripts/ or tests/, and imports of another folder's modules,
    in the file `name` (a path relative to the repository) whose source is `text`."""
    folder = name.split("/")[0]
    foreign = set().union(*(_module_names(other) for other in ("scripts", "tests") if other != folder))
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call) and _dotted(node.func) in ("sys.path.insert", "sys.path.append", "sys.path.extend"):
            words = {n.value for arg in node.args for n in ast.walk(arg)
                     if isinstance(n, ast.Constant) and isinstance(n.value, str)}
            if any(part in ("scripts", "tests") for word in words for part in re.split(r"[\\/]", word)):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
        modules = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                   else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        found += [f"{name}:{node.lineno}: imports {module}" for module in modules if module.split(".")[0] in foreign]
    return found


@pytest.mark.parametrize("name, text", [
    ("tests/test_x.py", 'import sys\nsys.path.insert(0, str(ROOT / "scripts"))\n'),
    ("tests/test_x.py", "import make_class\n"),
    ("tests/test_x.py", "from setup_cells import source\n"),
    ("benchmarks/x.py", 'sys.path.insert(0, os.path.join(ROOT, "scripts"))\nimport make_class\n'),
    ("scripts/x.py", 'sys.path.insert(0, str(ROOT / "tests"))\n'),
    ("scripts/x.py", "import course_files\n"),
])
def test_the_crossing_detector_finds_crossings(name, text):
    assert _crossings(name, text)


@pytest.mark.parametrize("name, text", [
    ("tests/test_x.py", "from coursegrader import generated_class, publish\n"),
    ("tests/test_x.py", 'sys.path.insert(0, str(ROOT / "_ext"))\nfrom course_files import ROOT\n'),
    ("scripts/x.py", "from coursegrader.publish import main\n"),
    ("benchmarks/x.py", "from _harness import paired\n"),
])
def test_the_crossing_detector_lets_good_imports_pass(name, text):
    assert not _crossings(name, text)


def test_scripts_and_tests_do_not_import_each_other():
    found = [line for folder in APART for path in sorted((ROOT / folder).rglob("*.py"))
             for line in _crossings(str(path.relative_to(ROOT)), path.read_text())]
    assert not found, ("scripts/, tests/ and benchmarks/ reach each other's code: move the logic into "
                       "the installed package (coursekit or coursegrader) and import it there:\n" + "\n".join(found))
