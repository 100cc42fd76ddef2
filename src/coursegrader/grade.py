"""The trusted grader: one submission in, one result out.

:func:`grade_submission` is a pure function of (lab folder, release, submission
bytes, seed): it touches no gradebook and no other submission, so a class is
graded by calling it in parallel workers and recording each result. For every
step it builds a job (what the release's locked cells give the student: imports and
helpers; the helper definitions from the student's other cells; the reference versions
of the steps it builds on; the student's answer cell; the probe inputs), runs it in the
sandbox, and judges the returned values here, against
expected values that the student's process never sees.
"""

from __future__ import annotations

import collections.abc
import concurrent.futures
import contextlib
import functools
import json
import pathlib
import re
import secrets
import sys
import tempfile
import time
import traceback

import numpy as np

from . import intake, sandbox, spec, static

_REGION = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)
_MAX_OUTPUT = 64 << 20   # bytes the grader reads back from one step


def reference_sources(solution_nb: dict) -> dict[str, str]:
    """grade_id -> the solution's answer cell, markers removed: the reference version of a step."""
    return {intake.cell_meta(c)["grade_id"]: _REGION.sub("", intake.cell_source(c))
            for c in solution_nb["cells"] if intake.cell_meta(c).get("solution")}


def reference_namespace(lab_dir: pathlib.Path, *grade_ids: str, **names) -> dict:
    """The lab's reference solution of these steps, run here (trusted code, its prints silenced),
    in a namespace that holds np and ``names``: what a lab's grader.py compares students with."""
    sources = reference_sources(json.loads((lab_dir / f"{lab_dir.name}.ipynb").read_text()))
    namespace = {"np": np, "__name__": f"{lab_dir.name}_reference", **names}
    with spec.quiet():
        for grade_id in grade_ids:
            exec(compile(sources[grade_id], f"<reference {grade_id}>", "exec"), namespace)  # noqa: S102
    return namespace


def points(release_nb: dict) -> dict[str, float]:
    """grade_id of each answer -> points of its test cell test_<grade_id>."""
    cells = intake.release_cells(release_nb)
    return {gid[len("test_"):]: float(intake.cell_meta(c).get("points", 0))
            for gid, c in cells.items() if intake.cell_meta(c).get("grade") and gid.startswith("test_")}


def probes_for(lab_dir: pathlib.Path, seed: int) -> dict[str, list[spec.Probe]]:
    """Probes and expected values of every step of a lab, for one seed: compute them once per
    grading run and hand them to every worker (they are plain data)."""
    return _probes(str(lab_dir / "grader.py"), seed)


@functools.lru_cache(maxsize=8)
def _probes(grader_path: str, seed: int) -> dict[str, list[spec.Probe]]:
    return dict(_ProbesAhead(spec.load(pathlib.Path(grader_path)), seed))  # all of them, now


class _ProbesAhead(collections.abc.Mapping):
    """{grade_id: probes}, computed in a background thread in step order; a lookup waits for its step."""

    def __init__(self, steps: list[spec.Step], seed: int):
        pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="probes")
        self._futures = {step.grade_id: pool.submit(_settings_kept, step.probes, np.random.default_rng([seed, index]))
                         for index, step in enumerate(steps)}
        pool.shutdown(wait=False)  # the queued steps still run

    def __getitem__(self, grade_id: str) -> list[spec.Probe]:
        return self._futures[grade_id].result()

    def __iter__(self):
        return iter(self._futures)

    def __len__(self) -> int:
        return len(self._futures)

    def finish(self) -> None:
        """Wait for the steps still being computed, so that no probe thread outlives its grading
        run (a refused submission looks none up) and writes into whatever runs next."""
        concurrent.futures.wait(self._futures.values())


def _settings_kept(work, *args):
    """work(*args), then TensorFlow's process-wide settings as they were: a lab's reference code
    may switch them (coursekit.train.fit(deterministic=True) turns op determinism on for the rest of
    the process), and no later step, submission or lab graded in this process may run under them."""
    before = _tf_settings() if "tensorflow" in sys.modules else None  # never import it for nothing
    try:
        return work(*args)
    finally:
        if "tensorflow" in sys.modules:
            _set_tf_settings(before)


def _tf_settings() -> tuple:
    import keras

    from coursekit._device import op_determinism_enabled

    return (op_determinism_enabled(), keras.mixed_precision.global_policy().name,
            keras.backend.floatx(), keras.backend.image_data_format())


def _set_tf_settings(settings: tuple | None) -> None:
    import keras
    from tensorflow.python.framework import config  # its enable/disable: no public switch-off

    from coursekit._device import op_determinism_enabled

    determinism, policy, floatx, data_format = settings or (False, "float32", "float32", "channels_last")
    if op_determinism_enabled() != determinism:
        (config.enable_op_determinism if determinism else config.disable_op_determinism)()
    keras.mixed_precision.set_global_policy(policy)
    keras.backend.set_floatx(floatx)
    keras.backend.set_image_data_format(data_format)


def probes_ahead(lab_dir: pathlib.Path, seed: int) -> collections.abc.Mapping:
    """The same probes as :func:`probes_for`, computed while grading goes on: the grader computes a
    step's expected values while the sandbox starts and runs the steps before it (one submission,
    or several graded one after the other in this process)."""
    return _ProbesAhead(spec.load(lab_dir / "grader.py"), seed)


def new_seed() -> int:
    return secrets.randbelow(2**31)


def grade_submission(lab_dir: pathlib.Path, release_path: pathlib.Path, data: bytes, *,
                     seed: int, probes: collections.abc.Mapping | None = None, use_sandbox: bool | None = None) -> dict:
    """Grade one submission (its bytes). Returns steps (score, max, reason), notes, flags, refused.

    ``probes`` (from :func:`probes_for` or :func:`probes_ahead` with the same seed) saves recomputing
    the expected values."""
    start = time.perf_counter()
    lab = lab_dir.name
    solution = json.loads((lab_dir / f"{lab}.ipynb").read_text())
    release = json.loads(release_path.read_text())
    steps = spec.load(lab_dir / "grader.py")
    worth = points(release)
    ok, how = sandbox.available()
    boxed = ok if use_sandbox is None else (use_sandbox and ok)
    result = {"lab": lab, "seed": seed, "sandbox": how if boxed else f"NONE ({how})",
              "steps": {}, "notes": [], "flags": [], "refused": None}
    if not boxed:
        print(f"WARNING: grading {lab} WITHOUT a sandbox: {how}. Student code runs with the grader's "
              "rights; do not trust these scores.", file=sys.stderr)
        result["flags"].append("graded without a sandbox")
    taken = intake.read(data, release, {s.grade_id: s.defines for s in steps})
    result["notes"] += taken.notes
    result["flags"] += taken.flags
    if taken.refused:
        result["refused"] = taken.refused
        result["steps"] = {s.grade_id: _verdict(0, worth[s.grade_id], f"not graded: {taken.refused}")
                           for s in steps}
    else:
        own = probes is None
        probes = probes_ahead(lab_dir, seed) if own else probes
        result["steps"] = _grade_steps(steps, probes, taken, Given(release), reference_sources(solution), worth,
                                       boxed, seed)
        if own:
            probes.finish()
        for gid, verdict in result["steps"].items():
            result["flags"] += [f"{gid}: {f}" for f in verdict.pop("flags")]
            result["notes"] += [f"{gid}: {n}" for n in verdict.pop("notes")]
    result["score"] = sum(v["score"] for v in result["steps"].values())
    result["max_score"] = sum(worth.values())
    result["seconds"] = round(time.perf_counter() - start, 2)
    return result


def _verdict(score, max_score, reason, flags=(), notes=()):
    return {"score": float(score), "max_score": float(max_score), "reason": reason,
            "flags": list(flags), "notes": list(notes)}


class Given:
    """What the release's locked cells give every step, as the notebook does: their imports (the
    setup cell's ``sys``) and function definitions, never their other statements (data loading,
    self-checks), and the names they bind to coursekit (``checks``, ``data``)."""

    def __init__(self, release_nb: dict):
        cells = [c for c in release_nb["cells"] if c.get("cell_type") == "code"
                 and intake.cell_meta(c).get("locked") and not intake.cell_meta(c).get("grade")
                 and not intake.cell_meta(c).get("solution")]
        self.sources = [(f"given cell {intake.cell_meta(c).get('grade_id', n)}", static.definitions(intake.cell_source(c)))
                        for n, c in enumerate(cells)]
        self.coursekit = {k: v for _, s in self.sources for k, v in static.coursekit_bindings(s).items()}
        # imported once per sandbox session, not once per step (matplotlib.pyplot: 0.4 s)
        self.modules = tuple(sorted({m for _, s in self.sources for m in static.imported_modules(s)
                                     if m.split(".")[0] not in (static.COURSEKIT, *static.LIBRARIES)}))


def _usable(step: spec.Step, sources, box_allow) -> list[tuple[str, str]]:
    """Definitions a step may be given: for a NumPy-only step, only those that use no library; less
    the imports of the parts of coursekit hidden from the step (they would stop the cell)."""
    if step.numpy_only:
        sources = [(n, d) for n, d in sources if not static.library_uses(d)]
    sources = [(n, static.drop_coursekit_imports(d, box_allow)) for n, d in sources]
    return [(n, d) for n, d in sources if d.strip()]


def _helpers(step: spec.Step, taken: intake.Intake) -> list[tuple[str, str]]:
    """Definitions from the student's other cells."""
    sources = [src for gid, src in taken.answers.items() if gid != step.grade_id] + taken.extra
    return [(f"your cell {n}", static.definitions(src)) for n, src in enumerate(sources)]


def _called(answer: str, helpers: list[tuple[str, str]]) -> list[str]:
    """The helper definitions the answer calls, and those they call in turn."""
    names, called, left = static.names(answer), [], list(helpers)
    while True:
        found = [d for _, d in left if static.defines(d) & names]
        if not found:
            return called
        called += found
        left = [(n, d) for n, d in left if d not in found]
        names = set().union(*map(static.names, found))


def _box_allow(step: spec.Step, steps: list[spec.Step]) -> tuple[str, ...]:
    """The parts of coursekit the step's sandbox shows: its own, and those of the reference
    versions of the steps it builds on (they run there too)."""
    by_id = {s.grade_id: s for s in steps}
    allow, todo, seen = set(step.allow), list(step.needs), set()
    while todo:
        gid = todo.pop()
        if gid in by_id and gid not in seen:
            seen.add(gid)
            allow |= set(by_id[gid].allow)
            todo += by_id[gid].needs
    return tuple(sorted(allow))


def _grade_steps(steps, probes, taken, given, references, worth, boxed, seed) -> dict[str, dict]:
    """A verdict per step. Steps that run code share one sandbox session (one per set of hidden
    libraries): the libraries load once, and each step still runs alone, under its own limits.
    A step's files are written (its probes awaited) just before it runs."""
    verdicts, pending = {}, []
    with tempfile.TemporaryDirectory(prefix="grade-") as tmp:
        for number, step in enumerate(steps):
            verdict, flags, write = _prepare_step(step, probes, taken, given, references, worth[step.grade_id],
                                                  _box_seed(seed, number), _box_allow(step, steps))
            if verdict is None:
                pending.append((step, sandbox.Job(pathlib.Path(tmp) / f"step{number}", step.timeout,
                                                  step.memory_mb, write), flags, _box(step, steps)))
            else:
                verdicts[step.grade_id] = dict(verdict, seconds=0.0)
        for box in dict.fromkeys(box for *_, box in pending):
            group = [item for item in pending if item[3] == box]
            # closing: the session ends here, not when the generator is garbage-collected
            with contextlib.closing(sandbox.run_jobs([job for _, job, _, _ in group], hide=box[0], coursekit=box[1],
                                                     warm=given.modules, sandbox=boxed)) as outcomes:
                for (step, job, flags, _), outcome in zip(group, outcomes):
                    verdict = _settings_kept(_finish_step, step, probes[step.grade_id], job.folder, outcome,
                                             worth[step.grade_id], flags)
                    verdicts[step.grade_id] = dict(verdict, seconds=round(outcome.seconds, 2))
    return {step.grade_id: verdicts[step.grade_id] for step in steps}


def _box(step, steps) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What the step's sandbox hides: (libraries, the parts of coursekit it shows). Steps with
    the same box share a session."""
    return static.LIBRARIES if step.numpy_only else (), _box_allow(step, steps)


def _box_seed(seed: int, number: int) -> int:
    """The seed of the student's code in step `number`: its models start from the same weights
    each time the submission is graded with `seed`, so a regrade gives the same score."""
    return int(np.random.default_rng([seed, number, 1]).integers(2**31))


def _prepare_step(step, probes, taken, given, references, worth, box_seed, box_allow):
    """(a verdict, flags, None) when the step is decided without running it; else (None, flags,
    write), where write(folder) writes its job, with the step's probes (`probes[grade_id]`, which
    may still be being computed: see probes_ahead)."""
    answer = taken.answers.get(step.grade_id, "")
    if not answer.strip() or step.grade_id in taken.untouched:
        return _verdict(0, worth, "no answer yet"), [], None
    helpers = _helpers(step, taken)
    flags = [f"the answer {f}" for f in static.suspicious(answer)]
    # Names bound to coursekit by the lab's given cells and by the student's other cells (imports).
    bindings = given.coursekit | {k: v for _, d in helpers for k, v in static.coursekit_bindings(d).items()}
    # What the step allows, and what the steps it builds on allow (the student's own versions of
    # them, which it may call, are replaced by their references, which use it).
    taken_from = static.borrowed("\n".join([answer, *_called(answer, helpers)]), box_allow, bindings)
    if taken_from:
        only = f" (of coursekit it may use {', '.join(box_allow)} only)" if box_allow else ""
        return _verdict(0, worth, f"{'; '.join(taken_from)}: this step asks you to write it{only}",
                        flags + [f"{'; '.join(taken_from)} (borrowed from coursekit)"]), flags, None
    helpers = _usable(step, helpers, box_allow)
    if step.numpy_only:
        uses = static.library_uses(answer)
        if uses:
            return _verdict(0, worth, f"uses {', '.join(uses)}: this step must be written with NumPy only",
                            flags + [f"uses {', '.join(uses)} in a NumPy-only step"]), flags, None
    if step.forbid:
        # The rule covers the helpers the answer calls; other cells may break it freely.
        uses = static.forbidden_uses("\n".join([answer, *_called(answer, helpers)]), step.forbid)
        if uses:
            rule = step.forbid_reason or "this step may not use them"
            return _verdict(0, worth, f"uses {', '.join(uses)}: {rule}",
                            flags + [f"uses {', '.join(uses)}, which the step forbids"]), flags, None
        helpers = [(n, d) for n, d in helpers if not static.forbidden_uses(d, step.forbid)]
    needed = [(f"reference {n}", references[n]) for n in step.needs]
    helpers = _usable(step, given.sources, box_allow) + helpers

    def write(job):
        _write_job(job, step, probes[step.grade_id], answer, helpers, needed, box_seed)
    return None, flags, write


def _finish_step(step, probes, job, outcome, worth, flags) -> dict:
    if outcome.timed_out:
        return _verdict(0, worth, f"timed out after {step.timeout:g} s", flags,
                        [f"stopped after {step.timeout:g} s"])
    returned = None if outcome.ended_session else _read_outputs(job)
    if returned is None:
        what = f"killed by {outcome.killed_by}" if outcome.killed_by else f"exit status {outcome.returncode}"
        what = "it ended its sandbox session" if outcome.ended_session else what
        return _verdict(0, worth, "your code crashed or ran out of memory while it was being graded", flags,
                        [f"the student's process died ({what})"])
    results, arrays = returned
    return _judge(step, probes, results, arrays, worth, flags)


def _write_job(job, step, probes, answer, helpers, references, box_seed):
    arrays, encoded = {}, []

    def enc(value, key):
        if isinstance(value, np.ndarray):
            arrays[key] = value
            return {"array": key}
        if type(value).__module__.split(".")[0] == "keras" and hasattr(value, "save"):
            value.save(job / f"{key}.keras")  # the grader's own model: the student's code gets a fresh copy
            return {"model": key}
        return {"tuple": list(value)} if isinstance(value, tuple) else {"value": value}

    for n, probe in enumerate(probes):
        encoded.append({"name": probe.name,
                        "args": [enc(a, f"p{n}a{i}") for i, a in enumerate(probe.args)],
                        "kwargs": {k: enc(v, f"p{n}k{k}") for k, v in probe.kwargs.items()}})
    np.savez(job / "probes.npz", **arrays)
    (job / "job.json").write_text(json.dumps({
        "before": helpers, "answer": answer, "references": references, "call": step.call,
        "probes": encoded, "seed": box_seed, "lazy_modules": [] if step.numpy_only else [["tf", "tensorflow"], ["keras", "keras"]]}))


def _read_outputs(job: pathlib.Path):
    """The student's results, read as plain data; None when missing, unreadable or too large."""
    out_json, out_npz = job / "out.json", job / "out.npz"
    try:
        if out_json.stat().st_size > _MAX_OUTPUT or out_npz.stat().st_size > _MAX_OUTPUT:
            return None
        results = json.loads(out_json.read_text())["results"]
        with np.load(out_npz, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
        for result in results:
            if isinstance(result, dict) and result.get("kind") == "model":
                key = str(result["key"])
                whole, architecture = job / f"{key}.keras", job / f"{key}.json"
                arrays[key] = _load_model(whole) if whole.exists() else _load_architecture(architecture)
        return results, arrays
    except Exception:  # noqa: BLE001 - whatever the student's process left is untrusted
        return None


def _load_model(path: pathlib.Path):
    """A Keras model the student's code saved; safe_mode refuses code (lambdas) inside it."""
    if not (path.is_file() and re.fullmatch(r"r\d+\.keras", path.name)) or path.stat().st_size > _MAX_OUTPUT:
        return None
    import keras

    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception:  # noqa: BLE001 - an unloadable or unsafe file is a wrong answer, not a crash
        return None
    # How it was compiled (optimizer, learning rate), read as plain JSON, never compiled here.
    model.compile_config_read = _compile_config(path)
    return model


def _compile_config(path: pathlib.Path) -> dict:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
        found = config.get("compile_config") if isinstance(config, dict) else None
        return found if isinstance(found, dict) else {}
    except Exception:  # noqa: BLE001 - untrusted file: no config is an answer like any other
        return {}


def _load_architecture(path: pathlib.Path):
    """A model too large to come back whole: rebuilt from its architecture, in safe mode, with
    fresh weights (enough for structural checks: layers, shapes, parameter counts)."""
    if not (path.is_file() and re.fullmatch(r"r\d+\.json", path.name)) or path.stat().st_size > _MAX_OUTPUT:
        return None
    import keras

    try:
        config = json.loads(path.read_text())
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
        return model if isinstance(model, keras.Model) else None
    except Exception:  # noqa: BLE001 - an unloadable or unsafe architecture is a wrong answer
        return None


def _judge(step, probes, results, arrays, worth, flags) -> dict:
    if not isinstance(results, list) or len(results) != len(probes):
        return _verdict(0, worth, "your code crashed while it was being graded", flags)
    reasons = [_safe_check(probe, got, arrays) for probe, got in zip(probes, results)]
    failures = [reason for reason in reasons if reason is not None]
    if not failures:
        return _verdict(worth, worth, "correct", flags)
    if step.call is None and not any(p.judge for p in probes):   # a judge's reason reveals no answer
        wrong = [p.name for p, r in zip(probes, reasons) if r is not None and p.name]
        named = f": {', '.join(wrong)}" if len(wrong) == len(failures) else ""   # as the self-check names them
        return _verdict(0, worth, f"{len(failures)} of {len(probes)} answers are wrong{named}", flags)
    if step.parts:
        return _verdict_by_parts(step, probes, reasons, worth, flags)
    return _verdict(0, worth, f"{failures[0]} ({len(failures)} of {len(probes)} hidden cases failed)", flags)


def _verdict_by_parts(step, probes, reasons, worth, flags) -> dict:
    """Each part of the step scores its share when all its probes pass: a mistake costs once. A
    probe of no declared part judges the whole step (an author's slip never gives points away)."""
    whole = [r for p, r in zip(probes, reasons) if p.part not in step.parts and r is not None]
    if whole:
        return _verdict(0, worth, f"{whole[0]} ({len(whole)} of {len(probes)} hidden cases failed)", flags)
    said, score = [], 0.0
    for part, share in step.parts.items():
        failed = [r for p, r in zip(probes, reasons) if p.part == part and r is not None]
        tried = sum(p.part == part for p in probes)
        if failed:
            said.append(f"{part}: {failed[0]} ({len(failed)} of {tried} hidden cases failed)")
        else:
            score += share * worth
            said.append(f"{part}: correct")
    return _verdict(round(score, 2), worth, "; ".join(said), flags)


def _safe_check(probe: spec.Probe, got, arrays) -> str | None:
    """_check on data the student's process wrote: whatever its shape, a wrong answer, never a crash."""
    try:
        return _check(probe, got, arrays)
    except Exception:  # noqa: BLE001
        traceback.print_exc()  # the instructor's log: a judge that fails on a right answer is a bug
        return f"{probe.reason}: an unreadable result"


def _check(probe: spec.Probe, got, arrays) -> str | None:
    """None when `got` is right for `probe`, else the words that say what is wrong."""
    if not isinstance(got, dict):
        return f"{probe.reason}: no result"
    kind = got.get("kind")
    if probe.raises:
        if kind == "raised" and got.get("type") == probe.raises:
            return None
        return f"{probe.reason}: expected a {probe.raises}"
    if kind == "raised":
        return f"{probe.reason}: your code raised {got.get('type', 'an error')}"
    if kind in ("error", "none"):
        return _wrong(probe, None, "returned None" if kind == "none" else "not a numeric result")
    if got.get("changed_input"):
        return f"{probe.reason}: your function changed its input array"
    if probe.judge is not None:
        value = arrays.get(got.get("key")) if kind in ("array", "model") else got.get("value")
        if value is None:
            return f"{probe.reason}: {'a Keras model that loads safely' if kind == 'model' else 'a result'} is expected"
        verdict = probe.judge(value)
        return None if verdict is None else _wrong(probe, value, verdict)
    if kind == "model":
        return f"{probe.reason}: a model was returned where a value is expected"
    if probe.integer:
        if kind != "int":
            return f"{probe.reason}: an int is expected"
        return None if got.get("value") == int(probe.expect) else _wrong(probe, np.asarray(got["value"]), "wrong value")
    if kind == "array":
        value = arrays.get(got.get("key"))
        if value is None:
            return f"{probe.reason}: no result"
    elif kind in ("int", "float", "bool") and isinstance(got.get("value"), (int, float)):
        value = np.asarray(got["value"])
    else:
        return _wrong(probe, None, "not a numeric result")   # NaN, infinity, text
    want = np.asarray(probe.expect)
    if want.ndim and kind != "array":
        return f"{probe.reason}: a NumPy array is expected"
    if value.shape != want.shape:
        return _wrong(probe, value, "wrong shape")
    if probe.dtype and value.dtype != want.dtype:
        return f"{probe.reason}: dtype {value.dtype}, expected {want.dtype}"
    if value.dtype.kind not in "biuf" or not np.allclose(value.astype(np.float64), want.astype(np.float64),
                                                          rtol=probe.rtol, atol=probe.atol):
        return _wrong(probe, value, "wrong values")
    return None


def _wrong(probe: spec.Probe, value, verdict: str) -> str:
    """What a wrong result reads: the typical mistake it matches, else what failed and the rule the
    probe tests (its hint); words that never give the probe's values away."""
    named = _mistake(probe, value)
    if named:
        return f"{probe.reason}: {named}"
    return f"{probe.reason}: {verdict}" + (f"; {probe.hint}" if probe.hint else "")


def _mistake(probe: spec.Probe, value) -> str | None:
    """The words of the typical mistake whose output `value` matches on this probe, if one does:
    the self-check's words, which name the mistake and never the probe's values."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):   # a judged number
        value = np.asarray(value)
    if not probe.mistakes or not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        return None
    for words, wrong in probe.mistakes.items():
        wrong = np.asarray(wrong)
        if wrong.shape == value.shape and wrong.dtype.kind in "biuf" and np.allclose(
                value.astype(np.float64), wrong.astype(np.float64), rtol=probe.rtol, atol=probe.atol):
            return f"matches a typical mistake: {words}"
    return None
