"""The examples in the docstrings of the public modules run and print what they say.

A module's own docstring builds the model and images that its functions'
examples use, so each function's example stays one or two lines.
"""

import doctest
import importlib

import pytest

pytest.importorskip("keras")

PUBLIC = ["arith", "attacks", "cam", "features", "plot"]
# How coursekit reads a model: its rooms, whose examples run too (their names are not public API).
ROOMS = ["_layers", "_squash", "_graph", "_heads", "_inputs"]
MODULES = PUBLIC + ROOMS
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE | doctest.IGNORE_EXCEPTION_DETAIL


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"coursekit.{name}")
    tests = doctest.DocTestFinder().find(module)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    shared = {}
    for test in sorted(tests, key=lambda t: t.name != module.__name__):  # module docstring first
        test.globs.update({"np": __import__("numpy"), "keras": __import__("keras"), **shared})
        runner.run(test, clear_globs=False)
        if test.name == module.__name__:
            shared = {k: v for k, v in test.globs.items() if k not in vars(module)}
    assert sum(len(t.examples) for t in tests) > 0, f"coursekit.{name} has no examples"
    assert runner.failures == 0, f"{runner.failures} docstring example(s) of coursekit.{name} failed (see above)"


def test_every_public_function_has_an_example():
    missing = []
    for name in PUBLIC:
        module = importlib.import_module(f"coursekit.{name}")
        for public in module.__all__:
            obj = getattr(module, public)
            if callable(obj) and not isinstance(obj, type) and ">>>" not in (obj.__doc__ or ""):
                missing.append(f"{name}.{public}")
    assert not missing, f"public functions without an example: {missing}"


def _public_docs():
    for name in MODULES:
        module = importlib.import_module(f"coursekit.{name}")
        yield f"coursekit.{name}", module
        for public in module.__all__:
            obj = getattr(module, public)
            if callable(obj):
                yield f"coursekit.{name}.{public}", obj


@pytest.mark.parametrize("name, obj", list(_public_docs()), ids=[n for n, _ in _public_docs()])
def test_docstrings_are_valid_restructuredtext(name, obj):
    """What sphinx-autoapi renders: numpy sections through napoleon, then docutils, no warnings."""
    napoleon = pytest.importorskip("sphinx.ext.napoleon")
    docutils_core = pytest.importorskip("docutils.core")
    import inspect

    from docutils import nodes
    from docutils.parsers.rst import roles

    for role in ("func", "class", "meth", "mod", "attr", "obj", "exc", "data"):  # Sphinx's Python roles
        roles.register_generic_role(role, nodes.literal)
    doc = inspect.getdoc(obj)
    assert doc, f"{name} has no docstring"
    rest = str(napoleon.NumpyDocstring(doc, napoleon.Config(napoleon_use_param=True)))
    warnings = []
    stream = type("Stream", (), {"write": lambda self, text: warnings.append(text)})()
    docutils_core.publish_doctree(rest, settings_overrides={"warning_stream": stream, "report_level": 2})
    assert not warnings, f"{name}: " + "".join(warnings)


def test_the_mixed_precision_claim_says_what_runs_in_float16():
    from coursekit import attacks, cam

    for module in (cam, attacks):
        assert "everything is computed in float32" not in module.__doc__
        assert "float16" in module.__doc__
