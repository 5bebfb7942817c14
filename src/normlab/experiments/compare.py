"""``normlab compare``: the post's experiment, plain LeNet-5 against LeNet-5 with BatchNorm.

A comparison is a one-seed study named ``compare`` into ``OUT/normlab.db``, and its outputs are
built from the database's records afterwards, so the same command resumes an interrupted
comparison and skips finished runs. ``--seeds N`` makes it an N-seed study with a report.
An output folder holds one comparison (:func:`compare_folder`).
"""

from __future__ import annotations

import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from normlab.errors import ConfigError
from normlab.experiments import study
from normlab.experiments.engines.local import TaskOutcome
from normlab.experiments.study import LOCK_NAME, StudySpec, Variant, checkpoint_key, seed_range
from normlab.fileio import output_error
from normlab.post import POST_MODELS
from normlab.train.config import TrainConfig
from normlab.train.record import RunRecord

DEFAULT_MODELS = POST_MODELS
STUDY_NAME = "compare"

# What compare writes into its folder; anything else there is not its to delete.
_DB_FILES = ("normlab.db", "normlab.db-wal", "normlab.db-shm", "normlab.db-journal")
_PLAIN_OUTPUTS = ("val_accuracy.png", "losses.png", "metrics.json", "per_epoch.csv", "per_batch.csv")
_REPORT = "report.html"
_CHECKPOINTS = "checkpoints"
_PARTIAL = re.compile(r"\..+\.tmp")  # an atomic write that a killed process left half done


@dataclass
class CompareResult:
    """The runs of a comparison, keyed by model name, and how long this call took to train them."""

    results: dict[str, RunRecord]
    seconds: float
    workers: int
    errors: dict[str, str]
    skipped: list[str] = field(default_factory=list)  # finished by an earlier call, not trained again
    written: list[Path] = field(default_factory=list)


def compare_spec(base: TrainConfig, models: Sequence[str] = DEFAULT_MODELS, seeds: int | None = None) -> StudySpec:
    """The study behind a comparison: each of ``models`` with ``base``'s settings.

    One seed (``base.seed``) by default, or seeds ``0..seeds-1``. Every model gets the same
    seed, hence the same data order and, where shapes agree, the same initial weights.
    """
    repeated = sorted({m for m in models if list(models).count(m) > 1})
    if repeated:
        raise ConfigError(f"--models lists {', '.join(repeated)} more than once")
    seed_list = [base.seed] if seeds is None else seed_range(seeds)
    return StudySpec(name=STUDY_NAME, variants=[Variant.parse(m) for m in models], seeds=seed_list, base=base)


def plain_checkpoint_name(variant: Variant, seed: int, config: TrainConfig) -> str:
    """A one-seed comparison names each model's checkpoint after the model (for ``normlab predict``)."""
    return variant.label


@contextmanager
def compare_folder(out: str | Path, spec: StudySpec, *, overwrite: bool = False,
                   data_dir: str | None = None) -> Iterator[Path]:
    """Hold ``out`` (locked) for the comparison ``spec`` while the block runs.

    The folder must be new, empty, or hold this same comparison (which then resumes). Results of
    another configuration or another command are a :class:`ConfigError` that names what differs,
    unless ``overwrite``: then they are deleted first (after the data is found, so that a run that
    cannot start deletes nothing), as are this comparison's own results, which are trained again.
    Files that compare did not write are never deleted: their presence is an error either way.
    """
    with study.out_lock(out) as folder:
        plain = len(spec.seeds) == 1
        own, stale, foreign = _survey(folder, spec, plain)
        if foreign:
            raise ConfigError(f"--out {folder} holds {_listing(foreign)}, which normlab compare did not write; "
                              "choose another --out (compare deletes only its own outputs, also with --overwrite)")
        if stale and not overwrite:
            raise ConfigError(f"--out {folder} holds the results of another run ({'; '.join(stale[:3])}); "
                              "pass --overwrite to delete them and run this comparison, or choose another --out")
        if overwrite and (own or stale):
            study.check_data([c for _, _, c in spec.configs()], data_dir)
            _delete(folder)
        yield folder


def _survey(out: Path, spec: StudySpec, plain: bool) -> tuple[list[str], list[str], list[str]]:
    """Sort what ``out`` holds into (this comparison's, another run's outputs, not compare's own)."""
    from normlab.experiments.store import ResultsDB

    grid = {c.config_hash(): (v, s, c) for v, s, c in spec.configs()}
    names = {*_DB_FILES, LOCK_NAME, _CHECKPOINTS}
    names.update((*_PLAIN_OUTPUTS, *(f"accuracy_{v.label}.png" for v in spec.variants)) if plain else (_REPORT,))
    own, other_outputs, foreign = [], [], []
    for path in sorted(out.iterdir()) if out.is_dir() else []:
        if _PARTIAL.fullmatch(path.name) or path.name == LOCK_NAME:
            continue
        if path.name == _CHECKPOINTS and not path.is_dir():
            foreign.append(path.name)
        elif path.name in names:
            own.append(path.name)
        elif _is_compare_output(path.name):
            other_outputs.append(path.name)
        else:
            foreign.append(path.name)
    expected = {(plain_checkpoint_name(v, s, c) if plain else checkpoint_key(STUDY_NAME, h)) + ".pt"
                for h, (v, s, c) in grid.items()}
    checkpoints = out / _CHECKPOINTS
    for path in sorted(checkpoints.iterdir()) if checkpoints.is_dir() else []:
        if _PARTIAL.fullmatch(path.name):
            continue
        if path.suffix != ".pt" or not path.is_file():
            foreign.append(f"{_CHECKPOINTS}/{path.name}")
        elif path.name not in expected:
            other_outputs.append(f"{_CHECKPOINTS}/{path.name}")
    stale = [f"outputs of another comparison: {_listing(other_outputs)}"] if other_outputs else []
    db_path = out / _DB_FILES[0]
    if not db_path.exists():
        kept = [n for n in own if not (n == _CHECKPOINTS and not any(checkpoints.iterdir()))]
        if kept:
            stale.insert(0, f"{_listing(kept)} without the results database that says which configuration made them")
        return kept, stale, foreign
    with ResultsDB(db_path, create=False) as db:
        foreign += [f"{db_path.name} with the runs of study {name!r}" for name in db.studies() if name != STUDY_NAME]
        differences: dict[str, list[str]] = {}  # how a recorded run differs -> its variants
        for record in db.list_runs(STUDY_NAME):
            if record.config_hash not in grid:
                differences.setdefault(_difference(record, grid), []).append(record.variant)
    stale[:0] = [f"{', '.join(dict.fromkeys(variants))}{what}" for what, variants in differences.items()]
    return own, stale, foreign


def _listing(names: list[str], shown: int = 4) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _is_compare_output(name: str) -> bool:
    return name in (*_PLAIN_OUTPUTS, _REPORT) or bool(re.fullmatch(r"accuracy_.+\.png", name))


def _difference(record, grid: dict) -> str:
    """How a recorded run differs from this comparison, as words to follow its variant's name."""
    ours = next((c.to_dict() for v, s, c in grid.values() if v.label == record.variant and s == record.seed), None)
    if ours is None:
        if any(v.label == record.variant for v, _, _ in grid.values()):
            return f" seed {record.seed}, which this comparison does not run"
        return ", a model this comparison does not run"
    return " with " + ", ".join(f"{k} {record.config.get(k)!r} there, {ours.get(k)!r} here"
                                for k in sorted(set(ours) | set(record.config)) if ours.get(k) != record.config.get(k))


def _delete(out: Path) -> None:
    """Delete compare's outputs in ``out`` (the survey found nothing else there)."""
    try:
        for path in out.iterdir():
            if path.name == _CHECKPOINTS:
                shutil.rmtree(path)
            elif path.name != LOCK_NAME:
                path.unlink()
    except OSError as exc:
        raise output_error(exc.filename or out, exc, what="delete") from exc


def run_compare(base: TrainConfig, models: Sequence[str] = DEFAULT_MODELS, *, out_dir: str | Path, workers: int = 1,
                data_dir: str | None = None, overwrite: bool = False,
                on_done: Callable[[TaskOutcome], None] | None = None,
                on_epoch: Callable[[str, int, dict], None] | None = None,
                export: Callable[[Path, "CompareResult"], list[Path]] | None = None) -> CompareResult:
    """Train each of ``models`` with ``base``'s settings (same seed: same data order and weights)
    into ``out_dir``'s results database, and return the recorded runs.

    ``export(out_dir, result)`` writes the outputs made from them while the folder is still held
    (``normlab compare`` passes :func:`normlab.report.exports.write_compare_outputs`: the post's
    figures, ``metrics.json`` and CSV files) and returns the paths written.

    With ``workers > 1`` the models train at the same time in worker processes with one torch
    thread each. Each model's checkpoint is ``out_dir/checkpoints/<model>.pt`` (for ``normlab
    predict``). ``on_epoch(model, epoch, summary)`` hears of each finished epoch, ``on_done`` of
    each finished run.
    """
    spec = compare_spec(base, models)
    with compare_folder(out_dir, spec, overwrite=overwrite, data_dir=data_dir):
        outcome = study.run_study(
            spec, out_dir, workers=workers, data_dir=data_dir, checkpoint_name=plain_checkpoint_name,
            on_event=(lambda kind, payload, progress: on_done(payload) if kind == "done" else None) if on_done else None,
            on_epoch=(lambda task, epoch, summary: on_epoch(task.extra["variant"], epoch, summary)) if on_epoch else None,
        )
        result = _result_from_store(outcome, spec)
        if export is not None:  # under the folder's lock, so no other command sees half the outputs
            result.written = export(Path(out_dir), result)
    return result


def _result_from_store(outcome, spec: StudySpec) -> CompareResult:
    """The comparison as the database records it, one run per model."""
    from normlab.experiments.store import ResultsDB

    hashes = {c.config_hash() for _, _, c in spec.configs()}
    with ResultsDB(outcome.db_path, create=False) as db:
        records = {r.variant: r for r in db.list_runs(STUDY_NAME, full=True) if r.config_hash in hashes}
    results, errors = {}, {}
    for variant in spec.variants:
        record = records[variant.label]
        if record.finished:
            results[variant.label] = record
        else:
            errors[variant.label] = record.message or record.status
    trained = {o.task.extra["variant"] for o in outcome.outcomes}
    return CompareResult(results=results, seconds=outcome.seconds, workers=outcome.workers, errors=errors,
                         skipped=[v.label for v in spec.variants if v.label not in trained])
