"""A corpus of cheating, broken and mangled submissions, made from the current lab.

    coursegrader corpus LAB OUT_DIR     write OUT_DIR/<case>.ipynb and OUT_DIR/expected.json

Every case starts from an honest submission (the release with the solution's answers
typed in, as a student would hand it in) and changes one thing. Its expected score per
step is what a correct grader gives: cheats earn only what their honest parts earn,
mangled notebooks are graded on what they hold. The cases use only what the lab's
grader.py says about its steps (names, what each builds on, points), so they follow
the lab as it changes. Each case names the defence that it covers.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import pathlib

from . import grade as engine, intake, spec
from .course import ROOT

#: a marker that a surviving daemon would carry on its command line
DAEMON_MARK = "3599.25"


@dataclasses.dataclass
class Case:
    name: str
    mechanism: str
    data: bytes
    expected: dict[str, float]            # step grade_id -> score
    flagged: bool = False                 # must the instructor see a flag?
    clean: bool = False                   # must the report be silent (no notes, no flags)?


class Lab:
    def __init__(self, lab: str):
        self.lab = lab
        self.release = json.loads((ROOT / "labs" / lab / f"{lab}.ipynb").read_text())
        for cell in self.release["cells"]:
            cell["source"] = intake.cell_source(cell)
        solution = json.loads((ROOT / "solutions" / lab / f"{lab}.ipynb").read_text())
        self.references = engine.reference_sources(solution)
        self.steps = spec.load(ROOT / "solutions" / lab / "grader.py")
        self.points = engine.points(self.release)
        calls = [s for s in self.steps if s.call]
        # a function step that a later one builds on (not always the lab's first step)
        self.first = next((s for s in calls if any(s.grade_id in t.needs for t in calls)), calls[0])
        self.later = next(s for s in calls if self.first.grade_id in s.needs)  # one that builds on it
        self.numpy = next((s for s in calls if s.numpy_only), self.first)
        self.values = next((s for s in self.steps if not s.call), None)

    def honest(self) -> dict:
        nb = copy.deepcopy(self.release)
        for cell in nb["cells"]:
            gid = intake.cell_meta(cell).get("grade_id")
            if gid in self.references:
                cell["source"] = self.references[gid]
        return nb

    def full(self, **changes) -> dict[str, float]:
        return {s.grade_id: changes.get(s.grade_id, self.points[s.grade_id]) for s in self.steps}

    def lose(self, step: spec.Step) -> dict[str, float]:
        """Full marks but for ``step``."""
        return self.full(**{step.grade_id: 0.0})

    def zero(self) -> dict[str, float]:
        return {s.grade_id: 0.0 for s in self.steps}

    def cell(self, nb, gid):
        return next(c for c in nb["cells"] if intake.cell_meta(c).get("grade_id") == gid)

    def with_answer(self, gid: str, source: str, nb=None) -> dict:
        nb = nb or self.honest()
        self.cell(nb, gid)["source"] = source
        return nb


def _bytes(nb) -> bytes:
    return json.dumps(nb, indent=1).encode()


def wrong_answer(step: spec.Step, extra: str = "") -> str:
    """An answer that defines the step's function (or values) with wrong results."""
    if step.call:
        return f"{extra}\ndef {step.call}(*args, **kwargs):\n    return np.zeros((1, 1)) - 7.0\n"
    return extra + "\n" + "\n".join(f"{name} = -7" for name in step.names) + "\n"


def _debug_print(source: str, step: spec.Step) -> str:
    """The answer with `print(..., file=sys.stderr)` first in the step's functions (at the top for a
    value step), and no import of sys: the lab's setup cell imports it, as in the notebook."""
    import ast

    line = "print('debugging', file=sys.stderr)"
    tree = ast.parse(source)
    functions = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    if not functions:
        return f"{line}\n{source}"
    for function in functions:
        first = function.body[0]
        docstring = isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant)
        function.body.insert(1 if docstring else 0, ast.parse(line).body[0])
    return ast.unparse(tree) + "\n"


_ROOTS = "('/work', '/home', '/tmp', '/srv', '/opt')"


def _on_every_file(roots: str, names: str, action: str) -> str:
    """A cheat's code: `action` on every file `_p` named like `names` below `roots`, failures ignored."""
    body = "".join(f"        {line}\n" for line in action.splitlines())
    return ("import glob, sqlite3\n"
            f"for _p in [p for r in {roots} for n in {names} for p in glob.glob(f'{{r}}/**/{{n}}', recursive=True)]:\n"
            f"    try:\n{body}    except Exception:\n        pass\n")


def _wrong_and_cheating(L: Lab, add, cheats: dict[str, tuple[str, str]]) -> None:
    """Cases whose first step answers wrong, then runs code that cheats (``{name: (mechanism,
    code)}``): each is flagged and the step scores 0."""
    s1 = L.first
    for name, (mechanism, code) in cheats.items():
        add(name, mechanism, L.with_answer(s1.grade_id, wrong_answer(s1) + code), L.lose(s1), flagged=True)


def _anchors(L: Lab, add) -> None:
    """The two anchors."""
    add("honest", "reference: the solution's answers", L.honest(), L.full(), clean=True)
    add("untouched_release", "reference: nothing answered", L.release, L.zero(), clean=True)


def _patching(L: Lab, add) -> None:
    """Patching what the tests call."""
    s1 = L.first
    patches = {
        "patch_assert_allclose": "np.testing.assert_allclose = lambda *a, **k: None\n"
                                 "np.testing.assert_array_equal = lambda *a, **k: None",
        "patch_isclose": "np.isclose = lambda *a, **k: np.array(True)\n"
                         "np.allclose = lambda *a, **k: True\nnp.array_equal = lambda *a, **k: True",
        "patch_builtin": "import builtins\nbuiltins.isinstance = lambda *a: True\n"
                         "builtins.abs = lambda x: 0\nbuiltins.AssertionError = type(None)",
        "patch_checks": "import coursekit.checks as _c\nchecks.check_conv = lambda *a, **k: True\n"
                        "_c.compare = _c.check_function = lambda *a, **k: True",
    }
    for name, patch in patches.items():
        add(name, "patching what the tests call", L.with_answer(s1.grade_id, wrong_answer(s1, patch)), L.lose(s1), flagged=True)


def _lying_objects(L: Lab, add) -> None:
    """Objects that lie."""
    s1 = L.first
    liar = ("class _Liar(np.ndarray):\n"
            "    def __eq__(self, other): return np.ones(np.shape(other), bool)\n"
            "    __ne__ = lambda self, other: np.zeros(np.shape(other), bool)\n"
            "    def __array_finalize__(self, obj): pass\n"
            "    shape = property(lambda self: (3, 3))\n")
    add("lying_array_subclass", "objects that lie",
        L.with_answer(s1.grade_id, liar + f"def {s1.call}(*args, **kwargs):\n"
                      "    return np.zeros((2, 2)).view(_Liar)\n"), L.lose(s1), flagged=True)
    int_step = next((s for s in L.steps if s.call and any(p.integer for p in s.probes(__import__('numpy').random.default_rng(0)))), None)
    if int_step is not None:
        add("lying_int", "objects that lie",
            L.with_answer(int_step.grade_id,
                          "class _Yes(int):\n    __eq__ = lambda self, other: True\n    __ne__ = lambda self, other: False\n"
                          "    __hash__ = int.__hash__\n"
                          f"def {int_step.call}(*args, **kwargs):\n    return _Yes(0)\n"),
            L.full(**{int_step.grade_id: 0.0}), flagged=True)
    add("frame_reader", "objects that lie (reads the expected value from the caller's frame)",
        L.with_answer(s1.grade_id,
                      "import sys\n"
                      f"def {s1.call}(*args, **kwargs):\n"
                      "    frame = sys._getframe(1)\n"
                      "    while frame is not None:\n"
                      "        for name, value in frame.f_locals.items():\n"
                      "            if name.lstrip('_') in ('want', 'expected', 'expect', 'reference'):\n"
                      "                return value\n"
                      "        frame = frame.f_back\n"
                      "    return np.zeros((1, 1))\n"), L.lose(s1), flagged=True)

    forge = ("import atexit, json, sys\n"
             "def _forge():\n"
             "    job = sys.argv[1] if len(sys.argv) > 1 else '/job'\n"
             "    with open(job + '/out.json', 'w') as f:\n"
             "        json.dump({'results': [{'kind': 'array', 'key': [1]}, {'kind': 'int', 'value': 'x'}] * 50}, f)\n"
             "atexit.register(_forge)\n")
    add("forged_result_files", "objects that lie (the student's process forges the files it returns)",
        L.with_answer(s1.grade_id, wrong_answer(s1, forge)), L.lose(s1), flagged=True)


def _rewriting_tests(L: Lab, add) -> None:
    """Rewriting the tests before they run."""
    s1, nb = L.first, copy.deepcopy(L.release)
    transformer = ("ip = get_ipython()\n"
                   "ip.input_transformers_post.append(lambda lines: [] if 'test' in ''.join(lines) else lines)\n"
                   "import ast\nclass _Empty(ast.NodeTransformer):\n"
                   "    def visit_Module(self, node):\n        node.body = []\n        return node\n"
                   "ip.ast_transformers.append(_Empty())\n")
    L.cell(nb, s1.grade_id)["source"] = transformer + L.cell(nb, s1.grade_id)["source"]
    add("input_transformer_empty_lab", "rewriting the tests before they run", nb, L.zero(), flagged=True)


def _reading(L: Lab, add) -> None:
    """Reading what it should not."""
    snoop = ("import os, glob\n_found = []\n"
             "for _root in ['/work', '/home', '/tmp', '/srv', '/var', '/opt', '/mnt', os.getcwd()]:\n"
             "    for _pat in ['**/grader.py', '**/gradebook.db', f'**/solutions/**/*.ipynb', '**/submitted/**/*.ipynb']:\n"
             "        try:\n            _found += glob.glob(os.path.join(_root, _pat), recursive=True)[:20]\n"
             "        except Exception:\n            pass\n"
             "    if len(_found) > 20:\n        break\n"
             "for _path in _found:\n"
             "    if _path.endswith('.ipynb'):\n"
             "        import json\n"
             "        for _c in json.load(open(_path))['cells']:\n"
             "            _src = ''.join(_c['source'])\n"
             f"            if 'def {L.first.call}' in _src and 'NotImplementedError' not in _src:\n"
             "                exec(_src.replace('### BEGIN SOLUTION', '').replace('### END SOLUTION', ''))\n")
    _wrong_and_cheating(L, add, {"read_solutions_and_others": (
        "reading what it should not (solutions, hidden tests, other submissions)", snoop)})


def _writing(L: Lab, add) -> None:
    """Writing the gradebook, the config, other submissions, a daemon."""
    writer = _on_every_file("('/work', '/home', '/tmp', '/srv', '/var', '/opt')", "('gradebook.db',)",
                            "_con = sqlite3.connect(_p)\n_con.execute('update grade set manual_score = 0')\n"
                            "_con.execute('update grade set auto_score = 9999')\n_con.commit()\n")
    poison = _on_every_file(_ROOTS, "('nbgrader_config.py', 'grader.py')",
                            "open(_p, 'a').write('\\nraise SystemExit(0)\\n')\n")
    overwrite = _on_every_file(_ROOTS, "('*.ipynb',)", "open(_p, 'w').write('{}')\n")
    daemon = ("import os\n"
              "if os.fork() == 0:\n    os.setsid()\n"
              "    if os.fork() == 0:\n"
              f"        os.execv('/bin/sleep', ['sleep', '{DAEMON_MARK}'])\n"
              "    os._exit(0)\n")
    _wrong_and_cheating(L, add, {
        "write_gradebook": ("writing the gradebook (own score up, others zeroed)", writer),
        "poison_config_and_tests": ("writing the gradebook (poisons config and tests for later submissions)", poison),
        "overwrite_other_submissions": ("writing the gradebook (overwrites other students' notebooks)", overwrite),
        "daemon": ("writing the gradebook (a daemon that outlives grading)", daemon),
    })


def _numpy_rule(L: Lab, add) -> None:
    """The NumPy-only rule."""
    num = L.numpy
    add("tf_raw_ops", "the NumPy-only rule (TensorFlow raw ops)",
        L.with_answer(num.grade_id, "import tensorflow as tf\n" + L.references[num.grade_id].replace(
            "np.sum(", "tf.raw_ops.Sum(input=").replace("np.tensordot(", "tf.tensordot(")), L.lose(num), flagged=True)
    add("keras_ops", "the NumPy-only rule (keras.ops, no import in the cell)",
        L.with_answer(num.grade_id, f"def {num.call}(*args, **kwargs):\n"
                      "    return keras.ops.convert_to_numpy(keras.ops.conv(*args))\n"), L.lose(num), flagged=True)
    nb = L.with_answer(num.grade_id,
                       f"_orig = {num.call}\n" if False else
                       f"def {num.call}(*args, **kwargs):\n    return _CACHE[tuple(np.shape(a) for a in args)]\n")
    nb["cells"].insert(2, {"cell_type": "code", "metadata": {}, "source":
                           "from scipy import signal\n_CACHE = {}\n"
                           "# results computed with SciPy in an earlier cell, looked up later\n",
                           "outputs": [], "execution_count": None, "id": "scipy-cache"})
    add("scipy_cached_earlier", "the NumPy-only rule (SciPy result cached in an earlier cell)", nb, L.lose(num))
    add("obfuscated_import", "the NumPy-only rule (library imported by a computed name)",
        L.with_answer(num.grade_id, "_lib = __import__('sci' + 'py.signal', fromlist=['x'])\n"
                      f"def {num.call}(x, k, *args, **kwargs):\n"
                      "    return _lib.correlate(np.asarray(x), np.asarray(k), mode='valid')\n"), L.lose(num), flagged=True)


def _isolation(L: Lab, add) -> None:
    """One bad submission must not break the others."""
    s1, s2 = L.first, L.later
    nb = L.honest()
    test_cell = L.cell(nb, f"test_{s1.grade_id}")
    nb["cells"].insert(nb["cells"].index(test_cell) + 1, copy.deepcopy(test_cell) | {"id": "dup-test"})
    add("duplicated_test_cell", "one bad submission breaks the others (duplicated test cell)", nb, L.full())
    nb = L.honest()
    nb["cells"].insert(3, {"cell_type": "code", "id": "foreign", "outputs": [], "execution_count": None,
                           "source": "assert True\n",
                           "metadata": {"nbgrader": {"grade": True, "grade_id": "hw9_problem1", "locked": True,
                                                     "points": 50, "schema_version": 3, "solution": False,
                                                     "task": False, "checksum": "0"}}})
    add("foreign_metadata_cell", "one bad submission breaks the others (foreign nbgrader cell)", nb, L.full(),
        flagged=True)
    add("loop_ignoring_interrupts", "one bad submission breaks the others (loop that ignores interrupts)",
        L.with_answer(s2.grade_id, f"def {s2.call}(*args, **kwargs):\n"
                      "    while True:\n        try:\n            pass\n        except BaseException:\n            pass\n"),
        L.lose(s2))
    add("kill_in_answer_cell", "one bad submission breaks the others (kernel killed in an answer cell)",
        L.with_answer(s2.grade_id, "import os\nos._exit(1)\n" + L.references[s2.grade_id]), L.lose(s2), flagged=True)
    add("kill_in_hidden_test", "one bad submission breaks the others (kernel killed inside a hidden test)",
        L.with_answer(s2.grade_id, "import os, signal\n" f"def {s2.call}(*args, **kwargs):\n"
                      "    os.kill(os.getpid(), signal.SIGKILL)\n"), L.lose(s2), flagged=True)
    add("memory_hog", "one bad submission breaks the others (out of memory)",
        L.with_answer(s2.grade_id, f"def {s2.call}(*args, **kwargs):\n"
                      "    hog = [bytearray(1 << 28) for _ in range(400)]\n    return hog\n"), L.lose(s2))
    add("invalid_json", "one bad submission breaks the others (invalid JSON)", b'{"cells": [ {"cell_ty', L.zero())
    add("empty_file", "one bad submission breaks the others (empty file)", b"", L.zero())
    add("not_a_notebook", "one bad submission breaks the others (JSON, not a notebook)", b'[1, 2, 3]', L.zero())


def _honest_work(L: Lab, add) -> None:
    """Honest work must not score low."""
    s1 = L.first
    nb = L.honest()
    for gid, source in L.references.items():
        L.cell(nb, gid)["source"] = ("import sys, warnings\nprint('debugging', file=sys.stderr)\n"
                                     "warnings.warn('just a warning')\n" + source)
    add("stderr_and_warnings", "honest work scored low (stderr output)", nb, L.full())
    nb = L.honest()
    for step in L.steps:
        L.cell(nb, step.grade_id)["source"] = _debug_print(L.references[step.grade_id], step)
    add("debug_print_to_given_sys", "honest work scored low (a debug print to sys.stderr, sys from the setup cell)",
        nb, L.full(), clean=True)
    nb = L.honest()
    for cell in nb["cells"]:
        cell["metadata"] = {}
    add("metadata_stripped", "honest work scored low (nbgrader metadata stripped)", nb, L.full())
    nb = L.honest()
    nb["nbformat_minor"] = 4
    nb["metadata"] = {"colab": {"provenance": []}, "kernelspec": {"name": "python3", "display_name": "Python 3"}}
    for cell in nb["cells"]:
        cell.pop("id", None)
        cell["metadata"] = {"id": "x" + str(abs(hash(str(cell["source"])))), "colab": {"base_uri": "https://localhost:8080/"}}
        if cell["cell_type"] == "code":
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ok\n"]}]
            cell["execution_count"] = 1
    add("colab_saved_nbformat_4_4", "honest work scored low (Colab round trip, nbformat 4.4, no ids)", nb, L.full())
    nb = L.honest()
    intake.cell_meta(L.cell(nb, s1.grade_id))["grade_id"] = s1.grade_id + "_renamed"
    add("renamed_grade_id", "honest work scored low (a renamed grade_id)", nb, L.full(), flagged=True)
    nb = L.honest()
    intake.cell_meta(L.cell(nb, f"test_{s1.grade_id}"))["solution"] = True
    add("test_cell_flagged_solution", "honest work scored low (test cell flagged solution: true)", nb, L.full(),
        flagged=True)
    nb = L.honest()
    L.cell(nb, f"test_{s1.grade_id}")["source"] += "\n10 ** 400\n"
    add("test_cell_large_number", "honest work scored low (test cell ending in a large number)", nb, L.full(),
        flagged=True)
    nb = L.honest()
    nb["cells"] = [c for c in nb["cells"] if not intake.cell_meta(c).get("locked") or c["cell_type"] == "markdown"]
    add("locked_cells_deleted", "intake: deleted cells restored", nb, L.full())
    nb = L.honest()
    L.cell(nb, f"test_{s1.grade_id}")["source"] = "pass\n"
    add("test_cell_emptied", "rewriting the tests (a test cell edited to nothing)",
        L.with_answer(s1.grade_id, wrong_answer(s1), nb), L.lose(s1), flagged=True)
    nb = L.honest()
    answer = L.cell(nb, s1.grade_id)
    nb["cells"].insert(nb["cells"].index(answer), copy.deepcopy(answer) | {"source": wrong_answer(s1), "id": "dup-old"})
    add("duplicated_answer_cell", "intake: duplicated answer cell (the last copy counts)", nb, L.full())
    add("ipython_magics", "intake: IPython syntax in an answer cell",
        L.with_answer(s1.grade_id, "%load_ext autoreload\n!echo hello\n" + L.references[s1.grade_id]), L.full(),
        clean=True)
    add("mistake_reused_costs_once", "a mistake costs points once (wrong first step, reused later)",
        L.with_answer(s1.grade_id, L.references[s1.grade_id].replace(f"def {s1.call}(", "def _mine(", 1)
                      + f"\ndef {s1.call}(*args, **kwargs):\n    return _mine(*args, **kwargs)[::-1] + 1\n"),
        L.lose(s1))
    if L.values is not None:
        add("quiz_all_wrong", "honest work: wrong quiz answers cost the quiz only",
            L.with_answer(L.values.grade_id, wrong_answer(L.values)), L.full(**{L.values.grade_id: 0.0}))


_SECTIONS = (_anchors, _patching, _lying_objects, _rewriting_tests, _reading, _writing, _numpy_rule, _isolation, _honest_work)


def cases(lab: str) -> list[Case]:
    """Every case of the corpus for one lab, section by section."""
    L = Lab(lab)
    out: list[Case] = []

    def add(name, mechanism, nb_or_bytes, expected, flagged=False, clean=False):
        data = nb_or_bytes if isinstance(nb_or_bytes, bytes) else _bytes(nb_or_bytes)
        out.append(Case(name, mechanism, data, expected, flagged, clean))

    for section in _SECTIONS:
        section(L, add)
    return out


def write(lab: str, folder: pathlib.Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    made = cases(lab)
    for case in made:
        (folder / f"{case.name}.ipynb").write_bytes(case.data)
    (folder / "expected.json").write_text(json.dumps(
        {c.name: {"mechanism": c.mechanism, "expected": c.expected, "flagged": c.flagged, "clean": c.clean}
         for c in made}, indent=1))
    return made
