"""Time budgets, reported: the table at the end of `make test`.

A test records a time with the `record_budget` fixture:

    def test_solution_autogrades_to_full_marks(lab, record_budget):
        result = course.grade(lab)
        record_budget("lab", lab, result["seconds"])

`record_budget(kind, name, seconds, budget=60.0)` records, it does not assert: a test that
must fail on a slow chapter or lab asserts that itself. The record travels with the test's
report (`user_properties`), so it reaches the table from pytest-xdist workers too. The table
lists every record, slowest first within each kind, and marks one over its budget `OVER`.
"""

from __future__ import annotations

import pytest

DEFAULT_BUDGET = 60.0  # seconds on the 2-core CPU: a chapter's execution, a lab's autograding
_KEY = "budget"
_records: dict[tuple[str, str], dict] = {}


@pytest.fixture
def record_budget(request):
    def record(kind: str, name: str, seconds: float, budget: float = DEFAULT_BUDGET, note: str = ""):
        request.node.user_properties.append(
            (_KEY, {"kind": kind, "name": name, "seconds": float(seconds),
                    "budget": float(budget), "note": note}))
    return record


def pytest_runtest_logreport(report):
    # Runs in the main process for every report, its workers' included.
    for key, value in getattr(report, "user_properties", ()):
        if key == _KEY and isinstance(value, dict):
            _records[(value["kind"], value["name"])] = value


def budget_table(records) -> list[str]:
    rows = sorted(records, key=lambda r: (r["kind"], -r["seconds"]))
    lines = [f"{'kind':<8} {'name':<30} {'seconds':>8} {'budget':>7}  status"]
    for r in rows:
        status = "OVER" if r["seconds"] > r["budget"] else "ok"
        note = f" ({r['note']})" if r["note"] else ""
        lines.append(f"{r['kind']:<8} {r['name']:<30} {r['seconds']:8.1f} {r['budget']:7.0f}  {status}{note}")
    return lines


def pytest_terminal_summary(terminalreporter):
    if not _records:
        return
    terminalreporter.section("time budgets (2-core CPU: chapter execution, lab autograding)")
    for line in budget_table(_records.values()):
        terminalreporter.write_line(line)
