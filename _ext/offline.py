"""The book works offline: no page asks another host for anything.

- MathJax 3 is served from the built book itself. Its files come from the PyPI package
  `django-static-mathjax` (MathJax 3's `es5` build as released on npm; nothing of Django
  is used or installed), listed in the `book` extra of pyproject.toml. When the HTML is
  written they are copied into `_build/html/_static/mathjax/`, and `mathjax_path` points there.
- Thebe (live code on a remote Binder kernel, its JavaScript from unpkg.com) is not used by
  this book, but jupyter-book always loads sphinx-thebe, whose page script names a remote URL
  and, declared twice, raises a script error. Its scripts are left out of every page.
"""

from __future__ import annotations

import pathlib
import shutil

from sphinx.errors import ExtensionError

TARGET = "mathjax"             # under _static/
ENTRY = "tex-mml-chtml.js"     # the component Sphinx loads from a CDN by default


def mathjax_files() -> pathlib.Path:
    """The folder of MathJax 3's `es5` build, installed from PyPI."""
    try:
        import mathjax  # the package django-static-mathjax
    except ImportError as err:
        raise ExtensionError("MathJax is missing: pip install 'django-static-mathjax>=3.2.2,<4' "
                             "(it is in the `book` extra: pip install -e '.[book]')") from err
    es5 = pathlib.Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"
    if not (es5 / ENTRY).exists():
        raise ExtensionError(f"{es5 / ENTRY} not found: reinstall django-static-mathjax (MathJax 3)")
    return es5


def _point_to_local_copy(app, config) -> None:
    mathjax_files()  # fail at the start of the build, not after hours of execution
    config.mathjax_path = f"{TARGET}/{ENTRY}"  # relative paths are relative to _static/


def _copy_files(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        target = pathlib.Path(app.outdir) / "_static" / TARGET
        shutil.copytree(mathjax_files(), target, dirs_exist_ok=True)


def _drop_thebe(app, pagename, templatename, context, doctree) -> None:
    def is_thebe(script) -> bool:
        body = getattr(script, "attributes", {}).get("body", "")
        return "thebe" in str(script) or "THEBE_JS_URL" in body
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not is_thebe(s)]


def setup(app):
    app.connect("config-inited", _point_to_local_copy)
    app.connect("html-page-context", _drop_thebe, priority=900)  # after the scripts are added
    app.connect("build-finished", _copy_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
