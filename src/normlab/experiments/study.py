"""Studies: a grid of variants x seeds, run by an engine, recorded in the results database.

Seeds are paired: seed s gives every variant the same data order and, where their shapes agree,
the same initial weights (see :func:`normlab.train.build_model`), so a difference between
variants is not the luck of one draw. The driver alone writes to the database; a run is
identified by (study, config hash), which is what makes a rerun skip what is finished.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from normlab.errors import ConfigError
from normlab.experiments.engines.local import RunTask, TaskOutcome
from normlab.train import TrainConfig


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
        from normlab.models import model_options

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

    def configs(self) -> list[tuple[Variant, int, TrainConfig]]:
        """Every (variant, seed, config) of the grid, variants outermost."""
        labels = [v.label for v in self.variants]
        duplicates = sorted({l for l in labels if labels.count(l) > 1})
        if duplicates:
            raise ConfigError(f"variant labels must be unique; repeated: {', '.join(duplicates)}")
        if not self.seeds:
            raise ConfigError("a study needs at least one seed")
        return [(v, s, self.base.replace(**v.overrides, seed=s)) for v in self.variants for s in self.seeds]


def parse_seeds(text: str) -> list[int]:
    """Parse ``--seeds``: a count (``5`` means 0..4), a list (``0,3,7``) or a range (``10-14``)."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d+", text):
            n = int(text)
            if n < 1:
                raise ValueError
            return list(range(n))
        if re.fullmatch(r"\d+-\d+", text):
            lo, hi = map(int, text.split("-"))
            if hi < lo:
                raise ValueError
            return list(range(lo, hi + 1))
        seeds = [int(s) for s in text.split(",") if s.strip()]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError
        return seeds
    except ValueError:
        raise ConfigError(
            f"--seeds {text!r} is invalid; give a count (5 = seeds 0-4), a list (0,3,7) or a range (10-14)"
        ) from None


def _run_folder(label: str, seed: int) -> str:
    """A file-system-safe folder name for one (variant, seed)."""
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", label) + f"_seed{seed}"


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


def run_study(
    spec: StudySpec,
    out_dir: str | Path,
    *,
    engine: Callable[..., list[TaskOutcome]] | None = None,
    workers: int = 1,
    data_dir: str | None = None,
    db_path: str | Path | None = None,
    checkpoints: bool = True,
    on_event: Callable[[str, Any, StudyProgress], None] | None = None,
    tensorboard_dir: str | Path | None = None,
) -> StudyOutcome:
    """Run every pending (variant, seed) of ``spec`` and record it in ``<out_dir>/normlab.db``.

    Finished runs (done or diverged) are skipped; interrupted or failed ones are redone, from
    their last epoch checkpoint when there is one. ``engine`` is a callable with the signature
    of :func:`normlab.experiments.engines.local.run_local` (the default). ``on_event`` receives
    ``("start", task)``, ``("done", outcome)`` and ``("skip", config)`` for a live view.
    ``tensorboard_dir`` adds TensorBoard event files, one folder per (variant, seed).
    """
    from normlab.experiments.engines.local import run_local
    from normlab.experiments.store import ResultsDB

    engine = engine or run_local
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db_path = Path(db_path) if db_path else out / "normlab.db"
    grid = spec.configs()
    progress = StudyProgress(total=len(grid))
    start = time.perf_counter()
    threads = 1 if workers > 1 and spec.base.device in ("cpu", "auto") else spec.base.threads
    with ResultsDB(db_path) as db:
        pending = db.pending(spec.name, [c.config_hash() for _, _, c in grid])
        tasks, run_ids, variants = [], {}, {}
        for variant, seed, config in grid:
            key = config.config_hash()
            if key not in pending:
                progress.skipped += 1
                if on_event:
                    on_event("skip", (variant, seed, config), progress)
                continue
            ckpt = str(out / "checkpoints" / f"{key}.pt") if checkpoints else None
            extra = {"variant": variant.label, "seed": seed}
            if tensorboard_dir:
                extra["tensorboard"] = str(Path(tensorboard_dir).resolve() / _run_folder(variant.label, seed))
            tasks.append(RunTask(key=key, config=config.to_dict(), data_dir=data_dir, checkpoint_path=ckpt,
                                 threads=threads, extra=extra))
            variants[key] = (variant, seed, config)

        def on_start(task: RunTask) -> None:
            variant, seed, config = variants[task.key]
            run_ids[task.key] = db.start_run(study=spec.name, variant=variant.label, seed=seed,
                                             config=config.to_dict(), config_hash=task.key,
                                             device=config.device)
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
            if on_event:
                on_event("done", outcome, progress)

        outcomes = engine(tasks, workers=workers, on_start=on_start, on_done=on_done) if tasks else []
    return StudyOutcome(db_path=db_path, progress=progress, seconds=time.perf_counter() - start, outcomes=outcomes)
