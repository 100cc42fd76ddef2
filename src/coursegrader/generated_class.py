"""A generated class: N students' submissions of a lab, as an LMS download, with the expected scores.

    python scripts/make_class.py LAB N OUT_DIR [--mix cheap|realistic] [--seed S]

writes OUT_DIR/submissions.zip (Canvas-style names: `<login>_<userid>_<subid>_<lab>.ipynb`),
OUT_DIR/roster.csv (nbgrader's roster format) and OUT_DIR/expected.json
({student: {"kind", "expected": {step: points}}}). Submissions are made from the current
lab with the corpus's (:mod:`.corpus`) honest notebook and wrong answers, so they follow the
lab as it changes:

- right:        every answer is the solution's
- partly_wrong: some answers wrong (a mistake costs points once: later steps still score)
- in_progress:  the first steps answered, the rest left as released ("no answer yet")
- mangled:      answered, then saved by Colab (nbformat 4.4, no cell ids) or stripped of metadata
- broken:       empty, cut off mid-file, not a notebook, JSON without cells (a recorded 0)

`cheap` (the CI mix) keeps most submissions to the NumPy steps or to intake's refusals, so
that 200 grade in minutes on 2 cores; `realistic` is a class that did its work.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import pathlib
import random
import zipfile

from . import corpus as make_corpus

MIXES = {  # kind -> share of the class
    "cheap": {"right": 0.04, "partly_wrong": 0.08, "in_progress": 0.14, "mangled": 0.04, "broken": 0.70},
    "realistic": {"right": 0.45, "partly_wrong": 0.25, "in_progress": 0.10, "mangled": 0.10, "broken": 0.10},
}


class Maker:
    def __init__(self, lab: str, rng: random.Random):
        self.L = make_corpus.Lab(lab)
        self.rng = rng
        self.steps = self.L.steps
        self.cheap = [s for s in self.steps if s.numpy_only]   # steps graded without TensorFlow

    def _personal(self, nb, student):
        nb = copy.deepcopy(nb)
        nb.setdefault("metadata", {})["lms"] = {"submitter": student}   # distinct bytes per student
        return nb

    def _answered(self, upto):
        """Honest answers for the steps in `upto`, the released stub for the others."""
        nb, honest = copy.deepcopy(self.L.release), self.L.honest()
        for step in upto:
            self.L.cell(nb, step.grade_id)["source"] = self.L.cell(honest, step.grade_id)["source"]
        return nb

    def _expected(self, answered, wrong=()):
        return {s.grade_id: (self.L.points[s.grade_id] if s in answered and s not in wrong else 0.0)
                for s in self.steps}

    def make(self, kind: str, student: str, cheap: bool) -> tuple[bytes, dict]:
        pool = self.cheap if cheap else self.steps
        if kind == "right":
            nb = self._answered(self.steps)
            return _dump(self._personal(nb, student)), self._expected(self.steps)
        if kind == "partly_wrong":
            wrong = self.rng.sample(pool, self.rng.randint(1, max(1, len(pool) - 1)))
            nb = self._answered(pool)
            for step in wrong:
                self.L.cell(nb, step.grade_id)["source"] = make_corpus.wrong_answer(step)
            return _dump(self._personal(nb, student)), self._expected(pool, wrong)
        if kind == "in_progress":
            upto = pool[:self.rng.randint(1, len(pool))]
            return _dump(self._personal(self._answered(upto), student)), self._expected(upto)
        if kind == "mangled":
            nb = self._personal(self._answered(pool), student)
            if self.rng.random() < 0.5:                      # Colab: nbformat 4.4, no cell ids
                nb["nbformat_minor"] = 4
                for cell in nb["cells"]:
                    cell.pop("id", None)
                nb["metadata"]["colab"] = {"provenance": []}
            else:                                            # an editor that drops cell metadata
                for cell in nb["cells"]:
                    cell["metadata"] = {}
            return _dump(nb), self._expected(pool)
        return self._broken(student), self._expected(())

    def _broken(self, student):
        honest = _dump(self._personal(self.L.honest(), student))
        choice = self.rng.randrange(4)
        if choice == 0:
            return honest[: self.rng.randint(10, len(honest) - 10)]          # cut off mid-upload
        if choice == 1:
            return b""
        if choice == 2:
            return f"{student}: I could not upload my notebook, sorry\n".encode()
        return json.dumps({"student": student, "cells_missing": True}).encode()


def _dump(nb) -> bytes:
    return json.dumps(nb, indent=1).encode()


def write(lab: str, count: int, out: pathlib.Path, mix: str = "cheap", seed: int = 0) -> dict:
    rng = random.Random(seed)
    maker = Maker(lab, rng)
    shares = MIXES[mix]
    kinds = [k for k, share in shares.items() for _ in range(round(share * count))]
    kinds = (kinds + ["broken"] * count)[:count]
    rng.shuffle(kinds)
    out.mkdir(parents=True, exist_ok=True)
    expected = {}
    with zipfile.ZipFile(out / "submissions.zip", "w", zipfile.ZIP_DEFLATED) as archive, \
            open(out / "roster.csv", "w", newline="") as roster:
        writer = csv.writer(roster)
        writer.writerow(["id", "first_name", "last_name", "email"])
        for n, kind in enumerate(kinds):
            student = f"s{n:04d}"
            data, marks = maker.make(kind, student, cheap=mix == "cheap" and kind != "right")
            archive.writestr(f"{student}_{1000 + n}_{50000 + n}_{lab}.ipynb", data)
            writer.writerow([student, f"Student{n}", "Generated", f"{student}@example.edu"])
            expected[student] = {"kind": kind, "expected": marks}
    (out / "expected.json").write_text(json.dumps(expected, indent=1))
    return expected


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lab")
    parser.add_argument("count", type=int)
    parser.add_argument("out")
    parser.add_argument("--mix", choices=sorted(MIXES), default="cheap")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    made = write(args.lab, args.count, pathlib.Path(args.out), args.mix, args.seed)
    kinds = {k: sum(v["kind"] == k for v in made.values()) for k in MIXES[args.mix]}
    print(f"{len(made)} submissions in {args.out}/submissions.zip: {kinds}")
    return 0
