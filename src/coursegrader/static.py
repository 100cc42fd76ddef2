"""What a student's code says it will do, read without running it.

Three questions, all answered from the syntax tree:
- does a step's answer reach into coursekit, the students' package, beyond what the
  step allows (``Step.allow``)? Then it borrows the computation that it was asked to
  write, and scores zero with that reason (the sandbox also hides the rest of coursekit);
- does a step that must be NumPy-only name a library that computes the answer
  (``tf``, ``keras``, ``scipy``, ``torch``...)? Then the step scores zero, whatever
  it returns (the sandbox also hides those libraries);
- does the code reach for the grading machinery (patching modules or builtins,
  frames, input transformers, files, processes, the gradebook)? Then the
  instructor is told. It costs no points by itself: in this design none of it can
  change a score, and the step is judged on what it returns.
"""

from __future__ import annotations

import ast

#: libraries whose convolutions (or whole numerics) a NumPy-only step may not use
LIBRARIES = ("tensorflow", "keras", "scipy", "torch", "jax", "jaxlib", "cv2", "skimage", "tf_keras")
#: the names a notebook usually binds them to
LIBRARY_ALIASES = {"tf", "keras", "scipy", "torch", "jax", "cv2", "skimage"}

_SUSPICIOUS_MODULES = {"builtins", "inspect", "ctypes", "gc", "sqlite3", "subprocess", "socket",
                       "IPython", "importlib", "multiprocessing", "threading", "shutil", "pickle",
                       "nbgrader", "sys", "os", "pathlib", "glob", "signal", "traceback"}
_SUSPICIOUS_CALLS = {"get_ipython", "setattr", "delattr", "__import__", "exec", "eval", "compile",
                     "open", "globals", "_getframe", "currentframe", "system", "popen", "fork"}


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


_MAGIC_CALLS = {"run_line_magic", "run_cell_magic", "system", "getoutput"}


def _magic(call: ast.Call) -> bool:
    """get_ipython().run_line_magic(...) and the like: what IPython writes for %magics and !shell
    lines (no-ops when grading), not a reach for the kernel."""
    def is_get_ipython(node):
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "get_ipython"

    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in _MAGIC_CALLS and is_get_ipython(func.value):
        return True
    return is_get_ipython(call) and any(isinstance(p, ast.Attribute) and p.attr in _MAGIC_CALLS
                                        for p in getattr(call, "_parents", ()))


#: special methods that make an object lie about comparisons or conversions
_LYING_METHODS = {"__eq__", "__ne__", "__array__", "__array_finalize__", "__array_ufunc__", "__array_function__",
                  "__float__", "__int__", "__index__", "__bool__", "__lt__", "__le__", "__gt__", "__ge__",
                  "__getattribute__", "__instancecheck__"}


def parse(source: str):
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def library_uses(source: str) -> list[str]:
    """The libraries a NumPy-only answer reaches for, by name (empty when none)."""
    tree = parse(source)
    if tree is None:
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in LIBRARIES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in LIBRARIES:
            found.append(node.module)
        elif isinstance(node, ast.Name) and node.id in LIBRARY_ALIASES and isinstance(node.ctx, ast.Load):
            found.append(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in LIBRARIES:
            found.append(f"{node.value!r} (imported by name)")
    return sorted(set(found))


#: the students' package: a step may use only the parts of it that its grader lists
COURSEKIT = "coursekit"


def _is_coursekit(dotted: str) -> bool:
    return dotted.split(".")[0] == COURSEKIT


def allowed(dotted: str, allow) -> bool:
    """Is this coursekit name inside one of the allowed modules (``coursekit.train`` allows
    ``coursekit.train.fit``)?"""
    return any(dotted == a or dotted.startswith(a + ".") for a in allow)


def coursekit_bindings(source: str) -> dict[str, str]:
    """name -> the coursekit module or function it is bound to, for each import of coursekit
    in this code (``from coursekit import arith as a`` -> {"a": "coursekit.arith"})."""
    tree = parse(source)
    found = {}
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _is_coursekit(alias.name):
                    found[alias.asname or COURSEKIT] = alias.name if alias.asname else COURSEKIT
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module and _is_coursekit(node.module):
            found.update({alias.asname or alias.name: f"{node.module}.{alias.name}" for alias in node.names})
    return found


def _bound_locally(tree) -> set[str]:
    """Names this code binds itself (arguments, assignments, loops, definitions): a name that a
    given cell bound to coursekit (``data``) means the student's own value here."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def borrowed(source: str, allow=(), given: dict[str, str] | None = None) -> list[str]:
    """What this code takes from coursekit beyond `allow`, in words ("calls
    coursekit.arith.conv_output_size"), empty when nothing. `given` holds the names that the
    notebook's given cells bound to coursekit (``checks``, ``data``). The self-checks that a
    student runs at the top of a cell (``checks.check_conv(...)``) are not borrowing: in
    grading they do nothing; inside a function they are."""
    tree = parse(source)
    if tree is None:
        return []
    local = _bound_locally(tree)
    bindings = {k: v for k, v in (given or {}).items() if k not in local} | coursekit_bindings(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in bindings:
            top, dotted = node, bindings[node.id]
            while isinstance(parents.get(top), ast.Attribute):
                top = parents[top]
                dotted += "." + top.attr
            if allowed(dotted, allow) or (dotted.startswith("coursekit.checks") and not _in_function(top, parents)):
                continue
            call = isinstance(parents.get(top), ast.Call) and parents[top].func is top
            found.add(f"{'calls' if call else 'uses'} {dotted}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _is_coursekit(node.value) \
                and node.value.replace(".", "").replace("_", "").isalnum() and not allowed(node.value, allow):
            found.add(f"imports {node.value} by name")
    return sorted(found)


def _in_function(node, parents) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return True
    return False


def drop_coursekit_imports(source: str, allow=()) -> str:
    """This code less its top-level imports of coursekit modules that `allow` does not list:
    they would fail in the sandbox, where the rest of coursekit is hidden, and stop the cell."""
    tree = parse(source)
    if tree is None:
        return source

    def kept(node) -> bool:
        if isinstance(node, ast.Import):
            return not any(_is_coursekit(a.name) and not allowed(a.name, allow) for a in node.names)
        if isinstance(node, ast.ImportFrom) and not node.level and node.module and _is_coursekit(node.module):
            return all(allowed(f"{node.module}.{a.name}", allow) for a in node.names)
        return True
    return ast.unparse(ast.Module(body=[n for n in tree.body if kept(n)], type_ignores=[]))


def forbidden_uses(source: str, names) -> list[str]:
    """The forbidden `names` this code uses: as a name (``max``), an attribute
    (``tf.nn.max_pool2d``), or a string that looks one up (``getattr(tf.nn, "max_pool2d")``)."""
    tree, names = parse(source), set(names)
    if tree is None or not names:
        return []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in names and isinstance(node.ctx, ast.Load):
            found.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in names:
            found.add(ast.unparse(node))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names:
            found.add(f"{node.value!r} (looked up by name)")
    return sorted(found)


# Attributes that a lab asks students to set on their own models (freezing layers is how
# Keras fine-tunes): setting them cannot reach the grader, which reads models from files.
_MODEL_STATE = {"trainable"}


def suspicious(source: str) -> list[str]:
    """What in this code reaches for the grading machinery, in words (empty when nothing)."""
    tree = parse(source)
    if tree is None:
        return []
    local = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child._parents = (node,)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"imports {a.name}" for a in node.names if a.name.split(".")[0] in _SUSPICIOUS_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in _SUSPICIOUS_MODULES:
            found.append(f"imports from {node.module}")
        elif isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            for target in targets:
                root = _root(target)
                if (isinstance(target, ast.Attribute) and root not in local and root != "self"
                        and target.attr not in _MODEL_STATE):
                    found.append(f"replaces {ast.unparse(target)}")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            # model.compile(...) is Keras, not the builtin compile(): only the bare name is suspicious
            method_compile = name == "compile" and isinstance(func, ast.Attribute)
            if name in _SUSPICIOUS_CALLS and not _magic(node) and not method_compile:
                found.append(f"calls {ast.unparse(func)}")
        elif isinstance(node, ast.ClassDef):
            lies = {n.name for n in node.body if isinstance(n, ast.FunctionDef)} | {
                t.id for n in node.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
            if lies & _LYING_METHODS:
                found.append(f"defines a class that overrides {', '.join(sorted(lies & _LYING_METHODS))}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr not in (
                "__init__", "__name__", "__class__", "__doc__"):
            found.append(f"uses {ast.unparse(node)}")
    return sorted(set(found))


def _imports_library(node) -> bool:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    return any(name.split(".")[0] in LIBRARIES for name in names)


def definitions(source: str) -> str:
    """Only the imports and undecorated function and class definitions of a cell: helpers
    that another step may use, without running the cell's other statements. Imports of the
    big libraries are left out: steps that may use them get ``tf`` and ``keras`` on first use."""
    tree = parse(source)
    if tree is None:
        return ""
    kept = [node for node in tree.body
            if (isinstance(node, (ast.Import, ast.ImportFrom)) and not _imports_library(node))
            or (isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.decorator_list)]
    return ast.unparse(ast.Module(body=kept, type_ignores=[]))


def imported_modules(source: str) -> set[str]:
    """The modules this code imports, by their full names."""
    tree = parse(source)
    found = set()
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
    return found


def names(source: str) -> set[str]:
    """Every plain name this code reads."""
    tree = parse(source)
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)} if tree else set()


def defines(source: str) -> set[str]:
    """Top-level names a cell binds (functions, classes, assignments)."""
    tree = parse(source)
    if tree is None:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names
