"""The local engine: a pool of worker processes on this machine.

LeNet-5's layers are too small for two CPU threads to help one step much, so on the CPU each
worker runs with one torch thread and the workers fill the cores (see benchmarks/RESULTS.md for
the measurement behind this default). Workers are started with ``spawn``: forking a process
whose OpenMP pool is running can deadlock.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

_DATA_CACHE: dict[tuple, Any] = {}


@dataclass
class RunTask:
    """One training run to execute: a config plus where its data and checkpoint live."""

    key: str  # unique within a study, e.g. "lenet5-bn/seed=3"
    config: dict[str, Any]  # TrainConfig.to_dict()
    data_dir: str | None = None
    checkpoint_path: str | None = None
    threads: int | None = None  # torch threads in the worker; None leaves torch's default
    resume: bool = True  # continue from checkpoint_path when it exists (a study's redo)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TaskOutcome:
    """What came back from a task: a result dict, or the error that stopped it."""

    task: RunTask
    result: dict[str, Any] | None
    error: str | None = None


def _splits_for(config, data_dir):
    from normlab.train.loop import load_data

    key = (config.dataset, config.transform, config.val_split, config.standardize, config.subset, data_dir)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # one dataset per worker at a time keeps memory flat
        _DATA_CACHE[key] = load_data(config, data_dir)
    return _DATA_CACHE[key]


def execute_task(task: RunTask, *, splits=None, callbacks=()) -> dict[str, Any]:
    """Run one task in this process and return ``RunResult.to_dict()``.

    The data is loaded once per process and reused by later tasks with the same data settings,
    unless the caller passes ``splits`` (the Ray engine passes the copy that every worker on a
    node shares through Ray's object store). ``callbacks`` are added to the run's own.
    """
    import torch

    from normlab.train import TrainConfig, train

    if task.threads is not None:
        torch.set_num_threads(task.threads)
    config = TrainConfig.from_dict(task.config)
    if splits is None:
        splits = _splits_for(config, task.data_dir)
    callbacks = list(callbacks)
    if task.extra.get("tensorboard"):
        from normlab.train.tensorboard import TensorBoardCallback

        callbacks.append(TensorBoardCallback(task.extra["tensorboard"]))
    result = train(config, splits=splits, checkpoint_path=task.checkpoint_path,
                   resume=task.resume and task.checkpoint_path is not None, progress=False, callbacks=callbacks)
    return result.to_dict()


def default_workers(device: str = "auto") -> int:
    """Workers for a local study: one per core on the CPU, one when a GPU does the work."""
    import torch

    if device != "cpu" and (torch.cuda.is_available() or device.startswith("cuda")):
        return 1
    return max(1, os.cpu_count() or 1)


def run_local(
    tasks: Iterable[RunTask],
    *,
    workers: int = 1,
    on_start: Callable[[RunTask], None] | None = None,
    on_done: Callable[[TaskOutcome], None] | None = None,
) -> list[TaskOutcome]:
    """Run ``tasks`` on ``workers`` processes (in this process when ``workers == 1``).

    Outcomes stream to ``on_done`` as tasks finish, in completion order; the full list is also
    returned. A task that raises is reported with its error and the others go on.
    """
    tasks = list(tasks)
    outcomes: list[TaskOutcome] = []

    def finish(outcome: TaskOutcome) -> None:
        outcomes.append(outcome)
        if on_done:
            on_done(outcome)

    if workers <= 1:
        for task in tasks:
            if on_start:
                on_start(task)
            try:
                finish(TaskOutcome(task, execute_task(task)))
            except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the study goes on
                finish(TaskOutcome(task, None, f"{type(exc).__name__}: {exc}"))
        return outcomes

    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: dict[Future, RunTask] = {}
        queue = list(tasks)

        def submit_next() -> None:
            task = queue.pop(0)
            if on_start:
                on_start(task)
            pending[pool.submit(execute_task, task)] = task

        while queue and len(pending) < workers:
            submit_next()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    finish(TaskOutcome(task, future.result()))
                except BrokenProcessPool as exc:
                    finish(TaskOutcome(task, None, f"worker process died: {exc}"))
                except Exception as exc:  # noqa: BLE001
                    finish(TaskOutcome(task, None, f"{type(exc).__name__}: {exc}"))
                if queue:
                    submit_next()
    return outcomes
