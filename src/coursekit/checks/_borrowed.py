"""Does the student's function call coursekit for what the lab asks them to write?

Grading gives such a step 0 ("calls coursekit.arith.conv_output_size: this step asks you to
write it"): a step may use only the parts of coursekit that it lists (``ALLOWED``: lab 5 trains
with ``coursekit.train``). A self-check says so first, before the notebook is handed in. It
reads the student's function (and the helper functions it calls) as written, and resolves
each name it uses in the function's own globals: only what the code names counts.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import types

#: the parts of coursekit a step's answer may use, by the check's name (the lab's grader lists
#: the same: a test holds the two equal)
ALLOWED = {
    "fixed_run": ("coursekit.train",),   # lab 5's repaired run may feed its data with train.fit
}


def _coursekit_name(value) -> str | None:
    """coursekit.arith for the module, coursekit.arith.conv_output_size for its function."""
    if isinstance(value, types.ModuleType):
        name = value.__name__
    else:
        module = getattr(value, "__module__", None) or ""
        name = f"{module}.{getattr(value, '__qualname__', '')}" if module else ""
    return name if name.split(".")[0] == "coursekit" else None


def _students(value) -> bool:
    """A function or class that the student's notebook defined (not a library's)."""
    return (inspect.isfunction(value) or inspect.isclass(value)) and getattr(value, "__module__", "") == "__main__"


def _allowed(name: str, allow) -> bool:
    return any(name == a or name.startswith(a + ".") for a in allow)


def borrowed(fn, allow=()) -> list[str]:
    """'calls coursekit.X.y' for each coursekit name that fn (or a function of the student's that
    it calls) uses beyond `allow`; empty when none."""
    found, seen, todo = set(), set(), [fn]
    while todo:
        item = todo.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        functions = [m for m in vars(item).values() if inspect.isfunction(m)] if inspect.isclass(item) else [item]
        for function in functions:
            for name, value in _uses(function):
                coursekit = _coursekit_name(value)
                if coursekit and not _allowed(name if name.startswith("coursekit") else coursekit, allow):
                    found.add(f"calls {name if name.startswith('coursekit') else coursekit}")
                elif _students(value):
                    todo.append(value)
    return sorted(found)


def _uses(function) -> list[tuple[str, object]]:
    """(dotted name as written, value) of each global name chain the function reads."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        return []
    closure = inspect.getclosurevars(function)
    namespace = {**function.__globals__, **closure.nonlocals}
    local = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    local |= {a.arg for a in ast.walk(tree) if isinstance(a, ast.arg)}
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)) or node.id in local \
                or node.id not in namespace:
            continue
        value = namespace[node.id]
        root = _coursekit_name(value)
        dotted = root if isinstance(value, types.ModuleType) and root else node.id
        top = node
        while isinstance(parents.get(top), ast.Attribute) and hasattr(value, parents[top].attr):
            top = parents[top]
            value = getattr(value, top.attr)
            dotted += "." + top.attr
        found.append((dotted, value))
    return found


def students_functions(depth: int = 8) -> list:
    """The student's functions handed to the self-check being finished: the arguments of the
    coursekit.checks frames on the stack (every check takes the student's code as an argument)."""
    found, frame = [], sys._getframe(1)
    for _ in range(depth):
        frame = frame.f_back
        if frame is None or not frame.f_globals.get("__name__", "").startswith("coursekit.checks"):
            break
        found += [v for v in frame.f_locals.values() if _students(v) and v not in found]
    return found
