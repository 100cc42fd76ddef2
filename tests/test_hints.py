"""No hint hands a student the answer to a lab step.

A self-check (``coursekit.checks``, installed by the students) and a grader's feedback name what
went wrong and point the way: the rule that fails, the convention, what to compare with, a tiny
case to work by hand. They never give a line of the solution, nor the formula or the value that
the step asks the student to derive. The hints looked at: every string of ``coursekit.checks``'s
modules (messages, hints, tables of mistakes, docstrings), the hints recorded beside the expected
outputs (``checks/expected/<module>.npz``, written from ``coursegrader.references``), and every
string of the labs' graders. Two things may not be in them: a distinctive line of a lab's
solutions or hidden checks (``secret_lines``), and the shorter answers of ``BANNED``, which hints
once gave.
"""

import ast
import functools

import numpy as np
import pytest

from course_files import HAS_SOLUTIONS, LABS, ROOT, normalize, secret_lines

pytestmark = pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no solutions/")

CHECKS = ROOT / "src" / "coursekit" / "checks"

#: answers shorter than a secret line (formulas, code fragments) that hints gave before they were
#: rewritten into rules: none may come back, in any hint
BANNED = {
    "lab1_convolution": ["w[::-1, ::-1]", "turned by 180", "kh - 1 rows", "axes 0 and 1", "(i + m, j + n",
                         "correlate the (padded) input with dout"],
    "lab2_padding_stride": ["(ceil(n / s) - 1) * s", "subtract padding * jump", "(k - 1) * d + 1 pixels",
                            "adds (k - 1) * d units"],
    "lab3_pooling": ["dout / size**2", "add (+=)"],
    "lab4_architectures": ["on all H x W positions"],
    "lab6_batch_norm": ["(m * dout -", "x_hat * sum(dout * x_hat)", "closed form: dx"],
    "lab7_initialization": ["(1 + alpha**2)", "(1 + alpha ** 2)", "alpha**2 of its mean square"],
    "lab8_transfer_learning": ["/ 127.5", "127.5 - 1", "keras.Model(base.input", "global average pooling",
                               "GlobalAveragePooling2D()("],
    "lab9_visualization": ["get_layer(n).output", "for n in layer_names"],
    "lab10_fcn": ["i*stride :", "i * stride :", "i*stride + kh", "1 - |a - centre| / f", "0.25, 0.75, 0.75, 0.25"],
}

#: hints as they were before they were rewritten: the scan must find the answer in each
ONCE_GIVEN = {
    "lab1_convolution": [
        "did you flip the kernel? dx is a full convolution of dout with the kernel turned by 180 degrees "
        "(w[::-1, ::-1]), with its input and output channels swapped.",
        "dx has the shape of x, (H, W, C_in): a full convolution of dout needs kh - 1 rows and kw - 1 columns "
        "of zeros around it, and the forward's padding is cut off at the end."],
    "lab2_padding_stride": ["the total depends on the stride: (ceil(n / s) - 1) * s + span - n, at least 0.",
                            "padding before the input moves the first window to the left: subtract padding * "
                            "jump from the start."],
    "lab3_pooling": ["each upstream value is shared equally, dout / size**2, by the inputs of its window; "
                     "windows that overlap add (+=) their gradients."],
    "lab6_batch_norm": ["x reaches the output three ways: directly, through the mean and through the variance; "
                        "closed form: dx = gamma / (m * std) * (m * dout - sum(dout) - x_hat * sum(dout * x_hat))."],
    "lab7_initialization": ["the mean square of a leaky ReLU is (1 + alpha**2) / 2 of its input's: alpha enters "
                            "squared, sqrt(2 / (1 + alpha)) forgets the square"],
    "lab8_transfer_learning": ["MobileNetV2 expects x / 127.5 - 1, in float32",
                               "keras.Model(base.input, the layer's output averaged over positions)"],
    "lab9_visualization": ["outputs = [model.get_layer(n).output for n in layer_names], and the sub-model "
                           "starts at model.inputs (not a new keras.Input)."],
    "lab10_fcn": ["each input value x[i, j] adds x[i, j] * k into out[i*stride : i*stride + kh, "
                  "j*stride : j*stride + kw]; the output has (H - 1) * stride + kh rows.",
                  "For size 4: f = 2, centre 1.5, and the ramp 1 - |a - centre| / f gives (0.25, 0.75, 0.75, 0.25)."],
}


def _strings(path, docstrings: bool = True) -> list[str]:
    """Every string of a module, implicit concatenations joined, f-strings by their literal parts
    (docstrings too, or not: a grader's are the instructor's, and no student reads them)."""
    tree = ast.parse(path.read_text())
    skip = set() if docstrings else {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and ast.get_docstring(node) is not None}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            found.append("".join(v.value for v in node.values if isinstance(v, ast.Constant)))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            found.append(node.value)
    return found


@functools.cache
def hints() -> tuple[str, ...]:
    """What a student can read of the self-checks and the graders' feedback, normalized."""
    texts = [s for path in sorted(CHECKS.glob("*.py")) for s in _strings(path)]
    for path in sorted((CHECKS / "expected").glob("*.npz")):
        with np.load(path, allow_pickle=False) as table:
            texts += [str(h) for key in table.files if key.endswith(":hints") for h in table[key]]
    texts += [s for path in sorted((ROOT / "solutions").glob("*/grader.py")) for s in _strings(path, False)]
    return tuple(dict.fromkeys(normalize(text) for text in texts))


@functools.cache
def _public_but_checks() -> str:
    """What the course shows on purpose, less coursekit.checks: secret_lines counts a line that
    coursekit shows as public, so a hint that gave a solution line away would hide it."""
    from coursegrader.solution_text import public_text

    shown = {normalize(line) for path in CHECKS.glob("*.py") for line in path.read_text().splitlines()}
    return "\n".join(line for line in public_text().splitlines() if line not in shown)


def answers(lab: str) -> list[str]:
    """The lab's distinctive solution lines (coursekit.checks not counted as showing them), and its
    known short answers."""
    return [*secret_lines(lab, public=_public_but_checks()), *map(normalize, BANNED.get(lab, []))]


def given_away(texts, lab: str) -> list[tuple[str, str]]:
    """(answer, hint) for each hint that holds one of the lab's answers."""
    found = answers(lab)
    return [(answer, text) for text in texts for answer in found if answer in text]


@pytest.mark.parametrize("lab", LABS)
def test_no_hint_gives_a_step_away(lab):
    leaks = given_away(hints(), lab)
    assert not leaks, "\n".join(f"{answer!r} in the hint {text!r}" for answer, text in leaks)


@pytest.mark.parametrize("lab", sorted(ONCE_GIVEN))
def test_the_scan_finds_the_answers_hints_once_gave(lab):
    for old in ONCE_GIVEN[lab]:
        assert given_away([normalize(old)], lab), old


@pytest.mark.parametrize("lab", LABS)
def test_the_scan_finds_a_solution_line_in_a_hint(lab):
    for line in secret_lines(lab)[:3]:
        assert given_away([f"Hint: {line} (and so on)"], lab), line


def test_the_hints_are_read():
    texts = hints()
    assert any("the order of layer_names" in t for t in texts)            # a self-check's hint
    assert any("did you forget to add the bias b?" in t for t in texts)   # a recorded one
    assert any("one output per layer name" in t for t in texts)           # a grader's
