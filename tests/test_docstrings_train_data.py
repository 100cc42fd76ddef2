"""The public functions of coursekit.train and coursekit.data document themselves the way the
book renders them (numpy format through sphinx-autoapi/napoleon): every one has Parameters (when
it takes any), Returns and an Example, and the result is valid reStructuredText."""

import inspect

import pytest

napoleon = pytest.importorskip("sphinx.ext.napoleon")
docutils_core = pytest.importorskip("docutils.core")

from coursekit import data, train  # noqa: E402

PUBLIC = [getattr(train, n) for n in train.__all__] + [
    getattr(data, n) for n in data.__all__ if inspect.isfunction(getattr(data, n))]


@pytest.mark.parametrize("fn", PUBLIC, ids=lambda f: f"{f.__module__}.{f.__name__}")
def test_docstring_sections_and_valid_rest(fn):
    doc = inspect.getdoc(fn)
    assert doc, f"{fn.__name__} has no docstring"
    if inspect.signature(fn).parameters:
        assert "\nParameters\n----------\n" in doc
    assert "\nReturns\n-------\n" in doc
    assert "\nExamples\n--------\n" in doc and ">>> " in doc
    rest = str(napoleon.NumpyDocstring(doc, napoleon.Config(napoleon_use_param=True, napoleon_use_rtype=True)))
    messages = []

    class Collect:
        def write(self, text):
            messages.append(text)

    docutils_core.publish_doctree(rest, settings_overrides={"warning_stream": Collect(), "report_level": 2})
    assert not messages, "".join(messages)


def test_mixed_precision_is_described_as_it_runs():
    doc = train.fit.__doc__
    # the forward pass runs in float16/bfloat16 under a mixed policy; only variables, outputs and loss are float32
    assert "compute their forward and backward passes in float16/bfloat16" in doc
    assert "everything is computed in float32" not in doc
