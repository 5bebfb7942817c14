"""Studies: a grid of variants x seeds, run by an engine, recorded in the results database.

Seeds are paired: seed s gives every variant the same data order and, where their shapes agree,
the same initial weights (see :func:`normlab.train.build_model`), so a difference between
variants is not the luck of one draw. The driver alone writes to the database; a run is
identified by (study, config hash), which is what makes a rerun skip what is finished, and its
epoch checkpoint is named by both (:func:`checkpoint_key`), so that a second study in the same
folder never continues another's run. One command at a time writes into an output folder
(:func:`out_lock`); the data is loaded once, before any run starts, so a dataset that cannot be
had is one error rather than one per run.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from normlab.errors import ConfigError, DownloadError, OutputError
from normlab.experiments.engines.local import RunTask, TaskOutcome
from normlab.fileio import ensure_dir, output_error
from normlab.train import TrainConfig

try:
    import fcntl
except ImportError:  # Windows: no flock; folders are then not locked
    fcntl = None

#: Limits on a grid, checked before it is built: a typo such as ``--seeds 999999999`` would
#: otherwise build a billion configs before failing for lack of memory.
MAX_SEEDS = 10_000
MAX_RUNS = 100_000
#: The lock file a command holds in its output folder while it runs (see :func:`out_lock`).
LOCK_NAME = ".normlab.lock"


@dataclass(frozen=True)
class Variant:
    """One arm of a study: a label and the config fields it sets (``model`` at least)."""

    label: str
    overrides: dict[str, Any] = field(default_factory=dict, hash=False)

    @classmethod
    def parse(cls, text: str) -> "Variant":
        """Parse a registry name or override string (``lenet5:norm=group``) into a variant.

        The whole text is the model spec; the model registry validates it when the run is built.
        """
        text = text.strip()
        if not text:
            raise ConfigError("empty variant; give a registry name such as lenet5 or lenet5-bn")
        from normlab.models.spec import model_options

        model_options(text)  # fail now, with the valid names, rather than in a worker
        return cls(label=text, overrides={"model": text})


@dataclass
class StudySpec:
    """What a study runs: variants x seeds over a base config."""

    name: str = "default"
    variants: list[Variant] = field(default_factory=lambda: [Variant.parse("lenet5"), Variant.parse("lenet5-bn")])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    base: TrainConfig = field(default_factory=TrainConfig)
    preset: str | None = None  # the preset that built it, for the report's sections
    quick: bool = False  # the preset's --quick grid: the report marks its verdicts indicative only

    def configs(self) -> list[tuple[Variant, int, TrainConfig]]:
        """Every (variant, seed, config) of the grid, variants outermost.

        The grid's size is checked before it is built (:data:`MAX_SEEDS`, :data:`MAX_RUNS`), each
        variant's config is resolved (its names looked up, its diagnostics settings checked), and two
        variants that give the same config are an error: the database would take them for one run.
        """
        from normlab.diagnostics import validate_diagnostics
        from normlab.train.resolve import resolve

        labels = [v.label for v in self.variants]
        duplicates = sorted({l for l in labels if labels.count(l) > 1})
        if duplicates:
            raise ConfigError(f"variant labels must be unique; repeated: {', '.join(duplicates)}")
        if not self.seeds:
            raise ConfigError("a study needs at least one seed")
        _check_seed_count(len(self.seeds), "the study's seeds")
        runs = len(self.variants) * len(self.seeds)
        if runs > MAX_RUNS:
            raise ConfigError(f"{len(self.variants)} variant(s) x {len(self.seeds):,} seed(s) = {runs:,} runs; a study "
                              f"takes at most {MAX_RUNS:,} runs (split it into several studies)")
        grid = [(v, s, self.base.replace(**v.overrides, seed=s)) for v in self.variants for s in self.seeds]
        first_with: dict[str, str] = {}
        for variant, _, config in grid[:: len(self.seeds)]:  # one seed suffices: seeds differ for all variants alike
            validate_diagnostics(resolve(config).diagnostics)  # here, rather than once per run in a worker
            other = first_with.setdefault(config.config_hash(), variant.label)
            if other != variant.label:
                raise ConfigError(f"variants {other!r} and {variant.label!r} give the same config; "
                                  "a study runs each config once")
        return grid


def parse_seeds(text: str) -> list[int]:
    """Parse ``--seeds``: a count (``5`` means 0..4), a list (``0,3,7``) or a range (``10-14``).

    At most :data:`MAX_SEEDS` seeds, checked before the list is built.
    """
    text = text.strip()
    invalid = ConfigError(
        f"--seeds {text!r} is invalid; give a count (5 = seeds 0-4), a list (0,3,7) or a range (10-14)")
    if re.fullmatch(r"\d+", text):
        if int(text) < 1:
            raise invalid
        return seed_range(int(text), f"--seeds {text}")
    if re.fullmatch(r"\d+-\d+", text):
        lo, hi = map(int, text.split("-"))
        if hi < lo:
            raise invalid
        _check_seed_count(hi - lo + 1, f"--seeds {text}")
        return list(range(lo, hi + 1))
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise invalid from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise invalid
    _check_seed_count(len(seeds), f"--seeds {text}")
    return seeds


def seed_range(count: int, what: str = "--seeds") -> list[int]:
    """Seeds ``0..count-1``; ``count`` must be in [1, :data:`MAX_SEEDS`] (``what`` names it in the error)."""
    if count < 1:
        raise ConfigError(f"{what} must be a positive count, got {count}")
    _check_seed_count(count, what)
    return list(range(count))


def _check_seed_count(count: int, what: str) -> None:
    if count > MAX_SEEDS:
        raise ConfigError(f"{what} asks for {count:,} seeds; a study takes at most {MAX_SEEDS:,} (run more as "
                          f"further studies into the same --out, e.g. --seeds {MAX_SEEDS}-{2 * MAX_SEEDS - 1})")


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", text)


def checkpoint_key(study: str, config_hash: str) -> str:
    """The file name (without ``.pt``) of a run's epoch checkpoint: its study and config hash.

    The database identifies a run by both, and so must its checkpoint, or a second study in the
    same folder would continue the first one's checkpoints. The hash covers both exactly.
    """
    digest = hashlib.sha256(f"{study}\0{config_hash}".encode()).hexdigest()[:16]
    return f"{_safe_name(study)[:40]}-{digest}"


class OutFolderBusyError(OutputError):
    """Another normlab command is writing into the same output folder."""


_HELD: set[Path] = set()  # output folders whose lock this process holds


@contextmanager
def out_lock(out: str | Path) -> Iterator[Path]:
    """Hold the lock of output folder ``out`` (created if needed) while the block runs.

    A second command into the same folder fails at once with :class:`OutFolderBusyError` naming
    the pid that holds it. The lock is an ``flock``, which the kernel releases when its process
    dies, so ``kill -9`` leaves no stale lock. Re-entrant within a process. A folder this call
    created and left empty is removed again.
    """
    out = Path(out)
    created = []
    for folder in (out, *out.parents):
        if folder.exists():
            break
        created.append(folder)
    ensure_dir(out)
    key = out.resolve()
    if fcntl is None or key in _HELD:
        yield out
        return
    path = out / LOCK_NAME
    fd = _acquire(path, out)
    _HELD.add(key)
    try:
        yield out
    finally:
        _HELD.discard(key)
        # Removed while still held: a command that opened the old file sees it is gone (_acquire).
        path.unlink(missing_ok=True)
        os.close(fd)
        for folder in created:  # innermost first; stops at the first that is not empty
            try:
                folder.rmdir()
            except OSError:
                break


def _acquire(path: Path, out: Path) -> int:
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as exc:
            raise output_error(path, exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            who = f"another normlab command (pid {holder})" if holder.isdigit() else "another normlab command"
            raise OutFolderBusyError(f"{out} is in use by {who}; wait for it to finish, or choose another "
                                     "--out") from None
        except OSError as exc:
            os.close(fd)
            raise output_error(path, exc, what="lock") from exc
        try:
            current = os.stat(path).st_ino
        except FileNotFoundError:
            current = None
        if current == os.fstat(fd).st_ino:
            break
        os.close(fd)  # the previous holder removed the file after we opened it: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError as exc:
        os.close(fd)
        raise output_error(path, exc) from exc
    return fd


def check_data(configs: Iterable[TrainConfig], data_dir: str | None = None, *, keep: bool = False) -> None:
    """Load, in this process, each distinct dataset that ``configs`` train on, once.

    Data that cannot be had is then one error before any run starts, instead of one from every
    run; when the files were to come from the cache, it adds where normlab looked and how to point
    it at local files. ``keep`` leaves the data loaded for runs in this process.
    """
    from normlab.experiments.engines.local import preload_data

    configs = list(configs)
    try:
        preload_data(configs, data_dir, keep=keep)
    except DownloadError as exc:
        hints = sorted({h for c in configs if (h := _data_hint(c.dataset, data_dir))})
        if not hints:
            raise
        raise DownloadError("\n".join([str(exc), *hints])) from None


def _data_hint(dataset: str, data_dir: str | None) -> str | None:
    from normlab.data.download import ENV_VAR, data_directory

    directory, source = data_directory(dataset, data_dir)
    if source != "cache":
        return None  # the error names the folder the user chose
    env = os.environ.get(ENV_VAR)
    looked = f"${ENV_VAR} is not set" if not env else f"${ENV_VAR}={env} has no {dataset} files"
    return (f"normlab looked for {dataset} in its cache {directory} because no --data-dir was given and {looked}; "
            f"point it at a folder with the {dataset} files with --data-dir DIR or {ENV_VAR}=DIR")


def _remove_partial_checkpoints(folder: Path) -> None:
    """Remove the temporary files of checkpoint writes that a killed worker left half done."""
    if folder.is_dir():
        for path in folder.glob(".*.pt.*.tmp"):
            path.unlink(missing_ok=True)


@dataclass
class StudyProgress:
    """Counts for the live view."""

    total: int
    skipped: int = 0
    done: int = 0
    running: int = 0
    failed: int = 0
    diverged: int = 0


@dataclass
class StudyOutcome:
    """What a call to :func:`run_study` did."""

    db_path: Path
    progress: StudyProgress
    seconds: float
    outcomes: list[TaskOutcome]
    workers: int = 0  # what the engine was given: at most one per pending run


def run_study(spec: StudySpec, out_dir: str | Path, *, engine: Callable[..., list[TaskOutcome]] | None = None,
              workers: int = 1, data_dir: str | None = None, db_path: str | Path | None = None,
              checkpoints: bool = True, on_event: Callable[[str, Any, StudyProgress], None] | None = None,
              on_epoch: Callable[[RunTask, int, dict[str, float]], None] | None = None,
              tensorboard_dir: str | Path | None = None,
              checkpoint_name: Callable[[Variant, int, TrainConfig], str] | None = None) -> StudyOutcome:
    """Run every pending (variant, seed) of ``spec`` and record it in ``<out_dir>/normlab.db``.

    Finished runs (done or diverged) are skipped; interrupted or failed ones are redone, from
    their last epoch checkpoint when there is one. ``engine`` is a callable with the signature
    of :func:`normlab.experiments.engines.local.run_local` (the default); it gets at most one
    worker per pending run. ``on_event`` receives ``("start", task)``, ``("done", outcome)``
    and ``("skip", (variant, seed, config))`` for a live view; ``on_epoch(task, epoch, summary)``
    hears of each finished epoch (engines that stream epochs, such as the local one).
    ``tensorboard_dir`` adds TensorBoard event files, one folder per (variant, seed).
    ``checkpoint_name`` names a run's checkpoint in ``<out_dir>/checkpoints`` (default:
    :func:`checkpoint_key`).

    The folder is locked (:func:`out_lock`), the database is checked for damage before anything
    is skipped on its word, and the data is loaded once first (:func:`check_data`). An interrupt
    or any other exception stops the runs in flight, which keep their last epoch checkpoint and
    are recorded as failed, so the same call resumes them.
    """
    from normlab.experiments.engines.local import run_local
    from normlab.experiments.store import ResultsDB

    engine = engine or run_local
    out = Path(out_dir)
    db_path = Path(db_path) if db_path else out / "normlab.db"
    grid = spec.configs()
    progress = StudyProgress(total=len(grid))
    with out_lock(out):
        _remove_partial_checkpoints(out / "checkpoints")
        finished: set[str] = set()
        if db_path.exists():
            with ResultsDB(db_path, create=False) as db:
                db.quick_check()  # a damaged file must not decide which runs are skipped
                hashes = [c.config_hash() for _, _, c in grid]
                finished = set(hashes) - db.pending(spec.name, hashes)
        pending = []
        for variant, seed, config in grid:
            if config.config_hash() in finished:
                progress.skipped += 1
                if on_event:
                    on_event("skip", (variant, seed, config), progress)
            else:
                pending.append((variant, seed, config))
        if workers > 0:  # 0 asks an engine (Ray) for as many as fit
            workers = min(workers, max(1, len(pending)))
        threads = 1 if workers > 1 and spec.base.device in ("cpu", "auto") else spec.base.threads
        tasks, variants = [], {}
        for variant, seed, config in pending:
            key = config.config_hash()
            name = checkpoint_name(variant, seed, config) if checkpoint_name else checkpoint_key(spec.name, key)
            extra = {"variant": variant.label, "seed": seed}
            if tensorboard_dir:
                extra["tensorboard"] = str(Path(tensorboard_dir).resolve() / f"{_safe_name(variant.label)}_seed{seed}")
            tasks.append(RunTask(key=key, config=config.to_dict(), data_dir=data_dir, threads=threads, extra=extra,
                                 checkpoint_path=str(out / "checkpoints" / f"{name}.pt") if checkpoints else None))
            variants[key] = (variant, seed, config)
        # Before the database is created: a study whose data cannot be had writes nothing.
        check_data([c for _, _, c in pending], data_dir, keep=engine is run_local and workers <= 1)
        start = time.perf_counter()
        with ResultsDB(db_path) as db:
            db.set_study_info(spec.name, {"preset": spec.preset, "quick": spec.quick})
            outcomes = _run_tasks(db, spec.name, tasks, variants, engine, workers, progress, on_event, on_epoch)
    return StudyOutcome(db_path=db_path, progress=progress, seconds=time.perf_counter() - start,
                        outcomes=outcomes, workers=workers)


def _run_tasks(db, study: str, tasks: list[RunTask], variants: dict, engine, workers: int, progress: StudyProgress,
               on_event, on_epoch) -> list[TaskOutcome]:
    """Hand ``tasks`` to ``engine`` and record each run's start and result in ``db`` as it comes."""
    run_ids: dict[str, int] = {}
    recorded: set[str] = set()

    def on_start(task: RunTask) -> None:
        variant, seed, config = variants[task.key]
        run_ids[task.key] = db.start_run(study=study, variant=variant.label, seed=seed, config=config.to_dict(),
                                         config_hash=task.key, device=config.device)
        progress.running += 1
        if on_event:
            on_event("start", task, progress)

    def on_done(outcome: TaskOutcome) -> None:
        run_id = run_ids[outcome.task.key]
        progress.running -= 1
        if outcome.result is None:
            db.fail_run(run_id, outcome.error or "unknown error")
            progress.failed += 1
        else:
            db.finish_run(run_id, outcome.result)
            if outcome.result.get("status") == "diverged":
                progress.diverged += 1
            else:
                progress.done += 1
        recorded.add(outcome.task.key)
        if on_event:
            on_event("done", outcome, progress)

    if not tasks:
        return []
    by_key = {t.key: t for t in tasks}
    streams = {"on_epoch": lambda key, epoch, summary: on_epoch(by_key[key], epoch, summary)} if on_epoch else {}
    try:
        return engine(tasks, workers=workers, on_start=on_start, on_done=on_done, **streams)
    except BaseException as exc:
        # The engine has stopped the runs in flight on its way out; each keeps the checkpoint of
        # its last finished epoch. A failed run is redone from there by the same call.
        for key in run_ids.keys() - recorded:
            try:
                db.fail_run(run_ids[key], f"interrupted ({type(exc).__name__}) before it finished; the same "
                                          "command resumes it from its last epoch checkpoint")
            except Exception:  # noqa: BLE001 - the database may be what failed; 'running' is resumed too
                pass
        raise
