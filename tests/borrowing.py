"""A lab as the grader sees it, and the public functions of coursekit: what the borrowed-answer
and chapter-answer tests try as a step's answer."""

from __future__ import annotations

import ast
import contextlib
import functools
import io
import importlib
import inspect
import json
import pkgutil
import signal

import judging
from course_files import ROOT

from coursegrader import grade, intake, spec, static

SEED = 20261207
SECONDS = 20   # an answer slower than this on a probe is no answer (grading's step limits are tighter)


@functools.cache
def public_functions() -> list:
    """Every public function that coursekit's public modules define, as installed."""
    import coursekit

    found = []
    for info in pkgutil.walk_packages(coursekit.__path__, "coursekit."):
        if any(part.startswith("_") for part in info.name.split(".")[1:]):
            continue
        module = importlib.import_module(info.name)
        found += [f for name, f in inspect.getmembers(module, inspect.isfunction)
                  if not name.startswith("_") and f.__module__ == info.name]
    assert len(found) > 50, f"only {len(found)} public functions found in coursekit: the walk is broken"
    return found


class Lab:
    """A lab as the grader sees it: steps, release, given cells, references, points."""

    def __init__(self, lab: str):
        self.name, self.dir = lab, ROOT / "solutions" / lab
        self.release = json.loads((ROOT / "labs" / lab / f"{lab}.ipynb").read_text())
        self.steps = spec.load(self.dir / "grader.py")
        self.references = grade.reference_sources(json.loads((self.dir / f"{lab}.ipynb").read_text()))
        self.given = grade.Given(self.release)
        self.worth = grade.points(self.release)
        self._drawn: dict[int, judging.Drawn] = {}

    def probes(self, index: int, step) -> judging.Drawn:
        """The step's probes of SEED, drawn once for all the answers tried on it (drawing them builds
        reference models in labs 4 and 8), the first time an answer gets past the static rules."""
        if index not in self._drawn:
            self._drawn[index] = judging.Drawn(step, index, SEED)
        return self._drawn[index]

    def parameters(self, step) -> tuple[str, list[str], int]:
        """The function the student writes (the one the grader calls, else the first that the answer
        defines: lab 4's blocks are called through block_model), its parameter names, and how many
        of them are required."""
        defs = [n for n in ast.parse(self.references[step.grade_id]).body if isinstance(n, ast.FunctionDef)]
        assert defs, f"{self.name}: the reference of {step.grade_id} defines no function"
        node = next((n for n in defs if n.name == step.call), defs[0])
        names = [a.arg for a in node.args.args]
        return node.name, names, len(names) - len(node.args.defaults)

    def fitting(self, step) -> list:
        """The public coursekit functions that can be called with the step's arguments, less the
        modules that the step allows (its own, and those of the steps it builds on)."""
        _, names, required = self.parameters(step)
        allow = grade._box_allow(step, self.steps)
        return [f for f in public_functions()
                if not static.allowed(f"{f.__module__}.{f.__name__}", allow)
                and (_binds(f, names) or _binds(f, names[:required]))]

    def prepare(self, step, answer: str):
        """The grader's decision for this answer, before anything runs: a verdict, or None."""
        taken = intake.Intake(answers={s.grade_id: "" for s in self.steps} | {step.grade_id: answer}, extra=[])
        verdict, _, _ = grade._prepare_step(step, {}, taken, self.given, self.references,
                                            self.worth[step.grade_id], 0, grade._box_allow(step, self.steps))
        return verdict


def _binds(f, names) -> bool:
    try:
        inspect.signature(f).bind(*names)
        return True
    except (TypeError, ValueError):
        return False


def helpers_used(module: ast.Module, tree: ast.Module, keep=lambda node: True) -> list[str]:
    """The module's top-level definitions and assignments (those that `keep` accepts) that `tree`
    uses, and those they use, in the module's order."""
    defined = {}
    for node in module.body:
        if not keep(node):
            continue
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined.update({n.id: node for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)})
    used, todo = [], [tree]
    while todo:
        names = {n.id for n in ast.walk(todo.pop()) if isinstance(n, ast.Name)}
        for name in sorted(names):
            node = defined.get(name)
            if node is not None and node not in used:
                used.append(node)
                todo.append(node)
    order = {id(node): n for n, node in enumerate(module.body)}
    return [ast.unparse(node) for node in sorted(used, key=lambda node: order[id(node)])]


class _Slow(Exception):
    pass


@contextlib.contextmanager
def _limit(seconds: int):
    def stop(*_):
        raise _Slow
    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def scores(lab: Lab, index: int, step, answer: str, folder) -> bool:
    """Whether `answer`, as the step's answer, earns points on the probes of SEED: the grader's
    static rules, then its judges, in this process (tests/judging.py). For the course's own code
    only (chapters, coursekit), never a student's: nothing hides libraries or limits memory here."""
    verdict = lab.prepare(step, answer)
    if verdict is not None:
        return verdict["score"] > 0
    _, namespace = judging.solution(lab.name)
    function = lab.parameters(step)[0]
    probes = lab.probes(index, step)   # the grader's time, not the answer's: outside its limit
    mine = {"__name__": "__main__"}
    kept = namespace.get(function)
    try:
        with _limit(SECONDS), contextlib.redirect_stdout(io.StringIO()):
            exec(compile(answer, f"<chapter copy of {step.grade_id}>", "exec"), mine)  # noqa: S102
            namespace[function] = mine[function]
            return not judging.judge(step, index, namespace, SEED, folder, first=True, probes=probes)
    except _Slow:
        return False
    except Exception:  # noqa: BLE001 - a copy that does not even load scores nothing
        return False
    finally:
        namespace[function] = kept
