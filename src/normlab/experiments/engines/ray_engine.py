"""The Ray engine: each (variant, seed) run is one Ray task on a cluster.

The driver keeps the results database and writes each result as its task finishes; workers
never open it, so any number of nodes can train while SQLite sees one writer. Each task runs
:func:`normlab.experiments.engines.local.execute_task`, as the local engine does, so the same
seed gives the same numbers on either. The driver puts each distinct dataset into Ray's object
store once, and every worker on a node reads the same shared-memory copy. At most as many runs
are in flight as the cluster has room for, so a run marked ``running`` is really running. The
README's "Studies on a Ray cluster" has the rest (failures, checkpoints, troubleshooting).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from normlab.errors import ConfigError, require_extra
from normlab.experiments.engines.local import RunTask, TaskOutcome, data_key, execute_task

MAX_RETRIES = 3
# ray.wait returns at least this often, so Ctrl-C is handled promptly and a cluster that grows
# gets more runs in flight.
_WAIT_SECONDS = 1.0
_SPLIT_NAMES = ("train", "val", "test")


def _import_ray():
    return require_extra("ray", "ray", "--engine ray (running studies on a Ray cluster)")


def pack_splits(splits) -> dict[str, Any]:
    """Turn :class:`~normlab.data.DataSplits` into plain fields with numpy arrays, which Ray
    serialises out of band: a worker gets read-only views of the node's shared-memory copy."""
    packed: dict[str, Any] = {}
    for name in _SPLIT_NAMES:
        ds = getattr(splits, name)
        if ds is None:
            packed[name] = None
            continue
        fields = {f.name: getattr(ds, f.name) for f in dataclasses.fields(ds) if f.init}
        fields["images"] = ds.images.cpu().contiguous().numpy()
        fields["labels"] = ds.labels.cpu().contiguous().numpy()
        packed[name] = fields
    return packed


def unpack_splits(packed: dict[str, Any]):
    """Rebuild :class:`~normlab.data.DataSplits` from :func:`pack_splits`' output, without copying."""
    from normlab.data import DataSplits, ImageDataset

    splits = {}
    with warnings.catch_warnings():
        # The arrays are read-only views of Ray's shared memory. Training only reads the raw
        # images (the transformed copy, or each transformed batch, is a new tensor), so sharing
        # them is safe.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        for name in _SPLIT_NAMES:
            fields = packed[name]
            splits[name] = None if fields is None else ImageDataset(**fields)
    return DataSplits(**splits)


def run_on_worker(task: RunTask, packed: dict[str, Any] | None, driver_version: str, *,
                  callbacks: Sequence = ()) -> dict[str, Any]:
    """The body of one Ray task: check the node's normlab, rebuild the data, train one run.

    ``callbacks`` (:class:`normlab.train.Callback`) join the run's own; a custom
    :attr:`RayEngine.worker` that wraps this function can pass them.
    """
    from normlab import __version__

    if __version__ != driver_version:
        # Different code on a node would quietly give numbers that the seeds cannot reproduce.
        raise ConfigError(f"node {socket.gethostname()} has normlab {__version__} but the driver has "
                          f"{driver_version}; install the same normlab on every node of the cluster")
    splits = unpack_splits(packed) if packed is not None else None
    return execute_task(task, splits=splits, callbacks=callbacks)


@dataclass(frozen=True)
class RayEngine:
    """An engine (see :func:`normlab.experiments.study.run_study`) that runs tasks on Ray.

    ``address`` is a cluster address, ``auto`` (the cluster running on this machine) or None:
    ``$RAY_ADDRESS`` if set, else a new local Ray instance that is shut down at the end. When
    this process is already connected to Ray (``ray.init`` was called), that connection is used
    and left open. ``gpus_per_run`` GPUs (fractions allowed, to share a GPU) are reserved for
    each run; ``max_retries`` is how often a run whose worker died is tried again.

    ``worker`` is the function each Ray task runs, called as ``worker(task, packed_data,
    driver_version)``; the default, :func:`run_on_worker`, trains the run. A replacement that
    wraps it can instrument runs on the cluster (the tests use one to kill a worker mid-run).
    It must be importable on the workers, or registered with cloudpickle to travel by value.
    """

    address: str | None = None
    gpus_per_run: float = 0.0
    max_retries: int = MAX_RETRIES
    worker: Callable[..., dict[str, Any]] = run_on_worker

    def __post_init__(self) -> None:
        if not (isinstance(self.gpus_per_run, (int, float)) and math.isfinite(self.gpus_per_run)
                and self.gpus_per_run >= 0):
            raise ConfigError(f"--gpus-per-run must be a number >= 0, got {self.gpus_per_run!r}")
        if self.gpus_per_run > 1 and self.gpus_per_run != int(self.gpus_per_run):
            raise ConfigError(f"--gpus-per-run above 1 must be a whole number, got {self.gpus_per_run!r}")
        if not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ConfigError(f"max_retries must be an integer >= 0, got {self.max_retries!r}")

    def __call__(self, tasks: Iterable[RunTask], *, workers: int = 0, on_start: Callable[[RunTask], None] | None = None,
                 on_done: Callable[[TaskOutcome], None] | None = None) -> list[TaskOutcome]:
        """Run ``tasks`` on Ray with at most ``workers`` in flight (0: as many as the cluster fits).

        Outcomes stream to ``on_done`` in completion order and are also returned, as with
        :func:`normlab.experiments.engines.local.run_local`.
        """
        tasks = list(tasks)
        if not tasks:
            return []
        ray = _import_ray()
        self._check_devices(tasks)
        owned = self._connect(ray)
        try:
            return self._run(ray, tasks, workers, on_start, on_done)
        finally:
            if owned:
                # Stops the instance we started, or only disconnects from a cluster we joined.
                ray.shutdown()

    # -- setup ----------------------------------------------------------------------------

    def resolved_address(self) -> str | None:
        """The address to connect to: ``address``, else ``$RAY_ADDRESS``, else None (a new local Ray)."""
        return self.address or os.environ.get("RAY_ADDRESS") or None

    def _connect(self, ray) -> bool:
        """Connect unless already connected; return whether this call made the connection."""
        if ray.is_initialized():
            return False
        address = self.resolved_address()
        try:
            if address:
                ray.init(address=address, logging_level=logging.WARNING)
            else:
                # "local" rather than None: ray.init() alone would join the last cluster
                # started on this machine, which is what --address auto is for.
                ray.init(address="local", include_dashboard=False, logging_level=logging.WARNING)
        except ConnectionError as exc:
            raise ConfigError(f"cannot connect to a Ray cluster at --address {address!r}: {str(exc).rstrip('.')}. "
                              f"Start one with `ray start --head`, or leave out --address (and RAY_ADDRESS) for a "
                              f"local Ray") from None
        return True

    def _check_devices(self, tasks: list[RunTask]) -> None:
        devices = {t.config.get("device", "auto") for t in tasks}
        if self.gpus_per_run == 0 and any(str(d).startswith("cuda") for d in devices):
            raise ConfigError("--device cuda with --engine ray needs --gpus-per-run (e.g. 1): Ray hides the "
                              "GPUs from tasks that did not ask for one")
        if self.gpus_per_run > 0 and "cpu" in devices:
            raise ConfigError("--gpus-per-run reserves GPUs that --device cpu would not use; "
                              "drop one of the two")

    @staticmethod
    def _cpus_for(task: RunTask) -> int:
        return max(1, task.threads or 1)

    def _capacity(self, ray, cpus: int) -> int:
        """How many runs the cluster can hold at once, by its CPUs and GPUs."""
        resources = ray.cluster_resources()
        fits = int(resources.get("CPU", 0) // cpus)
        if self.gpus_per_run > 0:
            fits = min(fits, int(resources.get("GPU", 0) // self.gpus_per_run + 1e-9))
        return fits

    # -- running --------------------------------------------------------------------------

    def _run(self, ray, tasks, workers, on_start, on_done) -> list[TaskOutcome]:
        from normlab import __version__
        from normlab.train import TrainConfig
        from normlab.train.loop import load_data

        cpus = max(self._cpus_for(t) for t in tasks)
        capacity = self._capacity(ray, cpus)
        if capacity < 1 and workers <= 0:
            resources = ray.cluster_resources()
            raise ConfigError(f"the Ray cluster has {resources.get('CPU', 0):g} CPU(s) and "
                              f"{resources.get('GPU', 0):g} GPU(s); a run asks for {cpus} CPU(s) and "
                              f"{self.gpus_per_run:g} GPU(s), so none can start")
        # One object per distinct data setting, put once; each node fetches it once.
        data_refs: dict[tuple, Any] = {}
        for task in tasks:
            key = data_key(task.config, task.data_dir)
            if key not in data_refs:
                splits = load_data(TrainConfig.from_dict(task.config), task.data_dir)
                data_refs[key] = ray.put(pack_splits(splits))
                del splits

        remote = ray.remote(self.worker)
        outcomes: list[TaskOutcome] = []
        queue = list(tasks)
        pending: dict[Any, RunTask] = {}

        def submit(task: RunTask) -> None:
            if on_start:
                on_start(task)
            ckpt = os.path.abspath(task.checkpoint_path) if task.checkpoint_path else None
            sent = dataclasses.replace(task, threads=self._cpus_for(task), checkpoint_path=ckpt)
            ref = remote.options(
                num_cpus=self._cpus_for(task), num_gpus=self.gpus_per_run, max_retries=self.max_retries,
                retry_exceptions=False, name=f"normlab:{task.extra.get('variant', task.key)}"
                                             f"/seed={task.extra.get('seed', '?')}",
            ).remote(sent, data_refs[data_key(task.config, task.data_dir)], __version__)
            pending[ref] = task

        try:
            while queue or pending:
                if queue:
                    limit = workers if workers > 0 else max(1, self._capacity(ray, cpus))
                    while queue and len(pending) < limit:
                        submit(queue.pop(0))
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=_WAIT_SECONDS)
                for ref in ready:
                    outcome = self._outcome(ray, ref, pending.pop(ref))
                    outcomes.append(outcome)
                    if on_done:
                        on_done(outcome)
        except BaseException:
            # Ctrl-C, or a failure in the driver's callbacks: stop the cluster's work for this
            # study. force=True kills a running task's worker; cancelled tasks are not retried.
            for ref in pending:
                try:
                    ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - already finished or gone: nothing to cancel
                    pass
            raise
        return outcomes

    def _outcome(self, ray, ref, task: RunTask) -> TaskOutcome:
        try:
            return TaskOutcome(task, ray.get(ref))
        except ray.exceptions.RayTaskError as exc:
            # The run raised: record its own error, as the local engine would.
            cause = getattr(exc, "cause", None) or exc
            return TaskOutcome(task, None, f"{type(cause).__name__}: {cause}")
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError,
                ray.exceptions.OutOfMemoryError, ray.exceptions.LocalRayletDiedError) as exc:
            return TaskOutcome(task, None, f"worker process died ({self.max_retries} retries used): "
                                           f"{type(exc).__name__}: {exc}")
        except ray.exceptions.RayError as exc:
            return TaskOutcome(task, None, f"Ray could not run the task: {type(exc).__name__}: {exc}")


def make_ray_engine(address: str | None = None, *, gpus_per_run: float = 0.0,
                    max_retries: int = MAX_RETRIES) -> RayEngine:
    """Return a :class:`RayEngine`; raise :class:`~normlab.errors.MissingExtraError` without Ray.

    Example::

        from normlab.experiments.engines.ray_engine import make_ray_engine
        from normlab.experiments.study import StudySpec, run_study

        run_study(StudySpec(), "runs/study", engine=make_ray_engine("auto"), workers=0)
    """
    _import_ray()
    return RayEngine(address=address, gpus_per_run=float(gpus_per_run), max_retries=max_retries)
