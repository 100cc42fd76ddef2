"""A chapter never gives its lab away: no function that a chapter defines answers a step of its lab.

Every function that the lab's chapter defines, in any code cell, whose name is the function
the step asks for, or whose signature takes the step's arguments, is pasted as that step's
answer, as a student copying the page would write it: renamed to the step's function, after the
chapter's imports and the chapter's functions and constants that it uses. It is judged as grading
judges it, on the probes of a fixed seed: the grader's static rules first (a copy that calls
coursekit is refused), then the grader's judges, in this process (tests/judging.py: the chapters
are the course's own code, so no sandbox is needed). It must score nothing.
"""

from __future__ import annotations

import ast
import contextlib
import json

import pytest

from borrowing import Lab, _binds, helpers_used, scores
from course_files import HAS_SOLUTIONS, LABS, ROOT

pytestmark = [pytest.mark.grading,
              pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no solutions/")]


# Known leaks, lab -> {"<grade_id> <- <chapter function>"}: a chapter function that scores. The
# test fails on any other, and when one of these stops scoring (then remove it here).
OPEN: dict[str, set[str]] = {}


def chapter_of(lab: str):
    return ROOT / "chapters" / f"{lab.split('_', 1)[1]}.ipynb"


def chapter_module(lab: str) -> ast.Module:
    """The chapter's code cells as one module (IPython's magics and shell lines left out)."""
    body = []
    for cell in json.loads(chapter_of(lab).read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        source = "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))
        with contextlib.suppress(SyntaxError):
            body += ast.parse(source).body
    return ast.Module(body=body, type_ignores=[])


def _cheap(node) -> bool:
    """A definition a copy takes along: functions, classes and constants, not a trained model."""
    return not isinstance(node, (ast.Assign, ast.AnnAssign)) or not any(
        isinstance(n, ast.Call) for n in ast.walk(node))


def _signature_stub(node: ast.FunctionDef):
    """A function with node's parameters and no body, for inspect.signature (defaults as None)."""
    args = ast.fix_missing_locations(ast.parse(ast.unparse(node.args).join(["def f(", "): pass"])))
    stub = args.body[0]
    for arg in [*stub.args.args, *stub.args.kwonlyargs, stub.args.vararg, stub.args.kwarg]:
        if arg is not None:
            arg.annotation = None
    stub.args.defaults = [ast.Constant(None) for _ in stub.args.defaults]
    stub.args.kw_defaults = [None if d is None else ast.Constant(None) for d in stub.args.kw_defaults]
    namespace = {}
    exec(compile(ast.fix_missing_locations(args), "<stub>", "exec"), namespace)  # noqa: S102
    return namespace["f"]


def candidates(lab: Lab, step, module: ast.Module) -> list[tuple[str, str]]:
    """(chapter function's name, the answer pasted from it) for each chapter function that fits."""
    function, names, required = lab.parameters(step)
    imports = [ast.unparse(n) for n in module.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    found = []
    for node in module.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        stub = _signature_stub(node)
        if node.name != function and not (_binds(stub, names) or _binds(stub, names[:required])):
            continue
        tree = ast.Module(body=[ast.parse(ast.unparse(node)).body[0]], type_ignores=[])
        tree.body[0].name, tree.body[0].decorator_list = function, []
        others = [h for h in helpers_used(module, tree, _cheap) if not h.startswith(f"def {node.name}(")]
        found.append((node.name, "\n".join(imports + others + [ast.unparse(tree)]) + "\n"))
    return found


@pytest.mark.parametrize("lab", LABS if HAS_SOLUTIONS else [])
def test_no_chapter_function_answers_a_step_of_its_lab(lab, tmp_path):
    L, module, scored, tried = Lab(lab), chapter_module(lab), [], 0
    for index, step in enumerate(L.steps):
        if not step.call:
            continue
        for name, answer in candidates(L, step, module):
            tried += 1
            if scores(L, index, step, answer, tmp_path):
                scored.append(f"{step.grade_id} <- {name}")
    assert set(scored) == OPEN.get(lab, set()), (
        f"{len(scored)} of {tried} functions of {chapter_of(lab).name}, pasted as a step's answer, "
        "score points (the chapter gives its lab away):\n" + "\n".join(scored)
        + f"\nknown and open: {sorted(OPEN.get(lab, ()))}")


def test_a_copied_chapter_function_is_found_and_scores(tmp_path):
    """The test can fail: lab 1's solution of conv2d_single, written as a chapter would write it
    under another name, is found by its signature and scores."""
    L = Lab("lab1_convolution")
    index, step = next((i, s) for i, s in enumerate(L.steps) if s.grade_id == "conv2d_single")
    reference = ast.parse(L.references["conv2d_single"])
    node = next(n for n in reference.body if isinstance(n, ast.FunctionDef) and n.name == step.call)
    node.name = "correlate_on_the_page"
    module = ast.Module(body=[n for n in reference.body if isinstance(n, (ast.Import, ast.ImportFrom))]
                        + [ast.parse("import numpy as np").body[0], node], type_ignores=[])
    found = dict(candidates(L, step, module))
    assert "correlate_on_the_page" in found
    assert scores(L, index, step, found["correlate_on_the_page"], tmp_path)
