"""Records what the self-checks compare with: ``python -m coursegrader.references.record`` (``make labs``).

The self-check cells of the solution notebooks run here, as a student's kernel runs them, on
the solution's answers; each check that looks up a recorded output (``coursekit.checks._recorded``)
gets it from the reference of this package instead, and the reference's output and the outputs
of the typical mistakes are written, per ``coursekit.checks`` module, into
``src/coursekit/checks/expected/<module>.npz``. Every self-check must pass on the solution while
it records: a reference and a solution that disagree stop the recording.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import pathlib

import numpy as np

from coursekit.checks import _recorded

#: coursekit.checks module -> the lab whose self-check cells record it, and those cells' steps
#: (and, where a cell needs a name that the lab's given cells define, what stands for it)
RECORDED = {
    "convolution": ("lab1_convolution", ("conv2d_single", "conv2d_multi", "conv2d_filters", "conv2d_full",
                                         "conv2d_backward")),
    "padding_stride": ("lab2_padding_stride", ("layer_cost", "same_padding", "conv2d_im2col", "receptive_field")),
    "architectures": ("lab4_architectures", ("block_cost",)),
    "pooling": ("lab3_pooling", ("max_pool_forward", "avg_pool_forward", "max_pool_backward", "avg_pool_backward",
                                 "global_average_pool", "max_pool_by_conv")),
    "training": ("lab5_training", ("momentum_step", "adam_step")),
    "batch_norm": ("lab6_batch_norm", ("batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt")),
    "initialization": ("lab7_initialization", ("leaky_relu_gain", "signal_norms")),
    "fcn": ("lab10_fcn", ("conv_transpose2d", "mean_iou")),
    "visualization": ("lab9_visualization", ("feature_extractor", "grad_cam", "fgsm", "occlusion",
                                              "sanity_check")),
    "transfer_learning": ("lab8_transfer_learning", ("preprocess", "truncated_base", "budget_curve"),
                          lambda: {"base": importlib.import_module("coursekit.checks").cut_base(),
                                   "keras": importlib.import_module("keras")}),
}


class Recorder:
    """Hands the self-checks the references' outputs, and keeps them, with the mistakes', per module."""

    def __init__(self):
        self.tables: dict[str, dict[str, np.ndarray]] = {}

    def pair(self, module: str, name: str):
        reference, suspects = importlib.import_module(f"{__package__}.{module}").SELF_CHECKS[name]
        table = self.tables.setdefault(module, {})

        def expected(*args, **kwargs):
            value = reference(*args, **kwargs)
            table[_recorded.digest(name, args, kwargs)] = np.asarray(value)
            return value

        def mistakes(*args, **kwargs):
            found = suspects(*args, **kwargs) if suspects else {}
            key = _recorded.digest(name, args, kwargs)
            table[f"{key}:hints"] = np.array(list(found), dtype=str)
            for number, wrong in enumerate(found.values()):
                table[f"{key}:{number}"] = np.asarray(wrong)
            return found

        return expected, mistakes


def selfcheck_cells(lab: str, steps=None) -> list[tuple[str, str]]:
    """(grade_id, source) of the solution's self-check cells, in order (all, or those of `steps`)."""
    from ..course import SOLUTIONS

    notebook = json.loads((SOLUTIONS / lab / f"{lab}.ipynb").read_text())
    cells = []
    for cell in notebook["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if grade_id.startswith("selfcheck_") and (steps is None or grade_id[len("selfcheck_"):] in steps):
            cells.append((grade_id, "".join(cell["source"])))
    return cells


def run_selfchecks(lab: str, steps=None, namespace: dict | None = None, **given) -> str:
    """Run the solution's self-check cells of `lab` on its answers (and `given` names); returns what
    they printed."""
    from coursekit import checks

    from ..course import SOLUTIONS
    from ..grade import reference_namespace, reference_sources

    lab_dir = SOLUTIONS / lab
    if namespace is None:
        answers = reference_sources(json.loads((lab_dir / f"{lab}.ipynb").read_text()))
        namespace = reference_namespace(lab_dir, *answers, checks=checks, **given)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        for grade_id, source in selfcheck_cells(lab, steps):
            exec(compile(source, f"<{lab} {grade_id}>", "exec"), namespace)  # noqa: S102 - the course's own cells
    return printed.getvalue()


def record(folder: pathlib.Path = _recorded.FOLDER, labs=None) -> list[pathlib.Path]:
    """Record every module of RECORDED (or those of `labs`) into `folder`; returns the files written."""
    recorder = Recorder()
    _recorded.recorder = recorder
    try:
        for module, (lab, steps, *given) in RECORDED.items():
            if labs and lab not in labs:
                continue
            printed = run_selfchecks(lab, steps, **(given[0]() if given else {}))
            if "FAIL" in printed or module not in recorder.tables:
                raise RuntimeError(f"{lab}'s self-checks do not pass on its solution:\n{printed}")
    finally:
        _recorded.recorder = None
        _recorded.forget()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for module, table in recorder.tables.items():
        path = folder / f"{module}.npz"
        if not _same(path, table):  # an unchanged recording is not rewritten (no churn in git)
            np.savez_compressed(path, **table)
        written.append(path)
    return written


def _same(path: pathlib.Path, table: dict[str, np.ndarray]) -> bool:
    if not path.exists():
        return False
    with np.load(path, allow_pickle=False) as old:
        return sorted(old.files) == sorted(table) and all(
            old[key].dtype == table[key].dtype and np.array_equal(old[key], table[key]) for key in table)


if __name__ == "__main__":
    # by its own name, not as __main__: the self-checks take functions of __main__ for the student's
    import argparse

    from coursegrader.references import record as recorder_module

    parser = argparse.ArgumentParser(prog="python -m coursegrader.references.record")
    parser.add_argument("labs", nargs="*", help="record only these labs' modules (default: all)")
    parser.add_argument("--folder", type=pathlib.Path, default=_recorded.FOLDER)
    options = parser.parse_args()
    for path in recorder_module.record(options.folder, options.labs):
        print(f"recorded {path}")
