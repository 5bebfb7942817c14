"""The local engine: a pool of worker processes on this machine.

LeNet-5's layers are too small for two CPU threads to help one step much, so on the CPU each
worker runs with one torch thread and the workers fill the cores (benchmarks/RESULTS.md).

Workers are forked from a *forkserver* that has already imported torch and the trainer (on
Linux; ``spawn`` elsewhere): forking the driver itself could deadlock once its OpenMP pool has
run, and a spawned worker would spend most of its start-up importing torch.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from queue import Empty
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

_DATA_CACHE: dict[tuple, Any] = {}
#: What the forkserver imports once, so that no worker pays for it.
_PRELOAD = ["torch", "torch._dynamo", "torch.optim", "normlab.train.loop", "normlab.train.resolve", "normlab.data",
            "normlab.models.lenet"]
_EVENTS = None  # in a worker: the queue that carries epoch summaries to the driver


@dataclass
class RunTask:
    """One training run to execute: a config plus where its data and checkpoint live."""

    key: str  # unique among the tasks of one call: a study uses the config hash, compare the model
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


def data_key(config: dict[str, Any], data_dir: str | None) -> tuple:
    """The data settings a run depends on: runs with the same key can share one copy of the data."""
    return (config.get("dataset"), config.get("transform"), config.get("val_split"), config.get("standardize"),
            config.get("input_norm"), config.get("subset"), data_dir)


def preload_data(configs: Iterable[Any], data_dir: str | None = None, *, keep: bool = False) -> None:
    """Load each distinct dataset of ``configs`` (:class:`~normlab.train.TrainConfig`) in this process.

    Raises what loading raises (a dataset that cannot be had, a ``subset`` larger than it). With
    ``keep`` the last one stays loaded for runs in this process (``workers=1``); otherwise it is
    dropped, so that a driver does not hold a copy beside its workers' own.
    """
    try:
        for config in configs:
            _splits_for(config, data_dir)
    finally:
        if not keep:
            _DATA_CACHE.clear()


def _splits_for(config, data_dir):
    from normlab.train.loop import load_data

    key = data_key(config.to_dict(), data_dir)
    if key not in _DATA_CACHE:
        _DATA_CACHE.clear()  # one dataset per worker at a time keeps memory flat
        _DATA_CACHE[key] = load_data(config, data_dir)
    return _DATA_CACHE[key]


def execute_task(task: RunTask, *, splits=None, callbacks=()) -> dict[str, Any]:
    """Run one task in this process and return ``RunRecord.to_dict()``.

    This is where a run is assembled: the config is resolved, its diagnostics are built as
    callbacks after ``callbacks`` and the engine's own, and :func:`normlab.train.train` runs it.
    The data is loaded once per process and reused by later tasks with the same data settings,
    unless the caller passes ``splits`` (the Ray engine's shared copy).
    """
    import torch

    from normlab.diagnostics import build_diagnostics
    from normlab.train import TrainConfig, train, tune_malloc
    from normlab.train.resolve import resolve

    tune_malloc()  # this process exists to train: see its docstring
    if task.threads is not None:
        torch.set_num_threads(task.threads)
    config = resolve(TrainConfig.from_dict(task.config))
    if splits is None:
        splits = _splits_for(config, task.data_dir)
    callbacks = list(callbacks)
    if _EVENTS is not None:
        callbacks.append(_EpochReporter(_EVENTS, task.key))
    if task.extra.get("tensorboard"):
        from normlab.train.tensorboard import TensorBoardCallback

        callbacks.append(TensorBoardCallback(task.extra["tensorboard"]))
    callbacks += build_diagnostics(config.diagnostics)
    result = train(config, splits=splits, checkpoint_path=task.checkpoint_path,
                   resume=task.resume and task.checkpoint_path is not None, progress=False, callbacks=callbacks)
    return result.to_dict()


def default_workers(device: str = "auto") -> int:
    """Workers for a local study: one per core on the CPU, one when a GPU does the work."""
    import torch

    if device != "cpu" and (torch.cuda.is_available() or device.startswith("cuda")):
        return 1
    return max(1, os.cpu_count() or 1)


def worker_context():
    """The multiprocessing context of worker pools: a preloaded forkserver on Linux, spawn elsewhere.

    Not on macOS: forking a process that has loaded Apple's frameworks (torch does) can crash the
    child, which is why Python itself spawns there by default.
    """
    if sys.platform.startswith("linux") and "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(_PRELOAD)  # takes effect when the server starts
        return ctx
    return mp.get_context("spawn")


def prestart_workers() -> None:
    """Start the worker server now, in the background, if this platform forks workers from one, so
    that its imports (torch's) run on another core while the command imports its own."""
    ctx = worker_context()
    if ctx.get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def run_local(tasks: Iterable[RunTask], *, workers: int = 1, on_start: Callable[[RunTask], None] | None = None,
              on_done: Callable[[TaskOutcome], None] | None = None,
              on_epoch: Callable[[str, int, dict[str, float]], None] | None = None,
              max_retries: int = 1) -> list[TaskOutcome]:
    """Run ``tasks`` on ``workers`` processes (in this process when ``workers == 1``).

    Outcomes stream to ``on_done`` as tasks finish, in completion order; the full list is also
    returned. ``on_epoch(key, epoch, summary)`` hears of every finished epoch while runs go on
    (:meth:`~normlab.train.record.RunRecord.epoch_summary`). A task that raises is reported with its
    error and the others go on. A worker process that dies takes the pool down with it: the tasks in
    flight are retried (``max_retries`` times) in a fresh pool, the rest carry on there. An
    exception in this process (``KeyboardInterrupt`` from SIGINT, or one raised by a callback)
    stops every worker at once and propagates; each run keeps its last epoch checkpoint.
    """
    tasks = list(tasks)
    outcomes: list[TaskOutcome] = []

    def finish(outcome: TaskOutcome) -> None:
        outcomes.append(outcome)
        if on_done:
            on_done(outcome)

    if workers <= 1:
        callbacks = [_EpochReporter(on_epoch)] if on_epoch else []
        for task in tasks:
            if on_start:
                on_start(task)
            for cb in callbacks:
                cb.key = task.key
            try:
                finish(TaskOutcome(task, execute_task(task, callbacks=callbacks)))
            except Exception as exc:  # noqa: BLE001 - a failed run is recorded, the study goes on
                finish(TaskOutcome(task, None, f"{type(exc).__name__}: {exc}"))
        return outcomes

    ctx = worker_context()
    events = ctx.Queue() if on_epoch else None
    queue = list(tasks)
    attempts: dict[str, int] = {}

    def drain() -> None:
        while events is not None:
            try:
                key, epoch, summary = events.get_nowait()
            except Empty:
                return
            on_epoch(key, epoch, summary)

    while queue:
        # Workers block reading this pipe, whose write end only this process holds: when it dies,
        # however it dies, they read EOF and exit (see _init_worker).
        driver_alive, alive_w = ctx.Pipe(duplex=False)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(events, dict(os.environ), driver_alive))
        pending: dict[Future, RunTask] = {}
        lost: list[RunTask] = []
        try:
            while (queue or pending) and not lost:
                while queue and len(pending) < workers:
                    task = queue.pop(0)
                    attempts[task.key] = attempts.get(task.key, 0) + 1
                    if on_start:
                        on_start(task)
                    pending[pool.submit(execute_task, task)] = task
                done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                drain()
                for future in done:
                    task = pending.pop(future)
                    try:
                        finish(TaskOutcome(task, future.result()))
                    except BrokenProcessPool:
                        lost.append(task)
                    except Exception as exc:  # noqa: BLE001
                        finish(TaskOutcome(task, None, f"{type(exc).__name__}: {exc}"))
            # A worker that dies (killed, out of memory) breaks the whole pool and every task in
            # flight with it; which one it ran cannot be told, so each is retried once in a fresh
            # pool (from its checkpoint, if it has one) and fails only if it breaks a pool again.
            for task in [*lost, *pending.values()]:
                if attempts[task.key] > max_retries:
                    finish(TaskOutcome(task, None, "worker process died (killed, or out of memory)"))
                else:
                    queue.insert(0, task)
        except BaseException:
            # Interrupted (SIGINT to this process, Ctrl-C) or a callback failed: stop the workers
            # now rather than let shutdown() wait for their runs to end. Closing the pipe makes
            # each exit at once; a run keeps the checkpoint of its last finished epoch.
            alive_w.close()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            driver_alive.close()
            alive_w.close()
            drain()
    return outcomes


def _init_worker(events, environ: dict[str, str], driver_alive) -> None:
    global _EVENTS
    _EVENTS = events
    # Ctrl-C reaches the whole process group; the driver alone decides, and stops the workers
    # through the pipe below. (A worker that raised KeyboardInterrupt itself would die printing a
    # traceback, or report its run as failed.)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # tqdm's default lock is a multiprocessing semaphore, which a worker stopped with os._exit
    # (below) cannot unlink, and the resource tracker then warns of a leak as the command exits.
    # A worker shows no progress bars: a thread lock does.
    from tqdm import tqdm

    tqdm.set_lock(threading.RLock())
    # A forked worker inherits the server's environment, fixed when the server started; a
    # spawned one would see the driver's as it is now (NORMLAB_DATA, say). Keep the latter.
    os.environ.clear()
    os.environ.update(environ)
    # A driver killed with SIGKILL cannot stop its workers; without this they would finish their
    # runs (minutes) and compete with the resumed study for the cores. Watching the parent
    # process is not enough: a forkserver worker's parent is the server, which outlives the
    # driver for as long as any worker lives. The driver never writes to this pipe, so the read
    # returns only at EOF, when the driver's end is closed: the driver has died (or finished).
    def watch() -> None:
        try:
            driver_alive.recv_bytes()
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="normlab-driver-watch", daemon=True).start()


class _EpochReporter:
    """Send a summary of each finished epoch to the driver (a queue in workers, a call in-process)."""

    def __init__(self, sink, key: str = ""):
        self.sink = sink
        self.key = key

    def __getattr__(self, name):  # the Callback hooks this reporter does not use
        if name.startswith("on_"):
            return lambda *args, **kwargs: None
        raise AttributeError(name)

    def on_epoch_end(self, epoch, result) -> None:
        summary = result.epoch_summary(epoch)
        if callable(self.sink):
            self.sink(self.key, epoch, summary)
        else:
            self.sink.put((self.key, epoch, summary))
