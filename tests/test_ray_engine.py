"""The Ray engine against a real local Ray (2 CPUs), shared by the tests of this module.

Checks: same numbers as the local engine for the same seeds; a worker killed mid-run is retried
and resumes from its checkpoint with the same numbers; divergence and bad configs are recorded
and do not stop the study; Ctrl-C cancels the outstanding tasks and a rerun resumes; the data
goes into the object store once, as only the images the study uses; without Ray, ``--engine ray``
is an error that names the extra.
"""

from __future__ import annotations

import importlib.util
import math
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from normlab.errors import MissingExtraError
from normlab.experiments.store import ResultsDB
from normlab.experiments.study import StudySpec, Variant, run_study
from normlab.train import TrainConfig



def _have_ray() -> bool:
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # ValueError: sys.modules["ray"] is None, as when blocked
        return False


HAVE_RAY = _have_ray()
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed (pip install 'normlab[ray]')")

SUBSET = 2000  # 32 batches of 64 per epoch


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray instance with 2 CPUs for the whole module, shut down at the end."""
    if not HAVE_RAY:
        pytest.skip("ray is not installed (pip install 'normlab[ray]')")
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


@pytest.fixture
def engine(ray_cluster):
    from normlab.experiments.engines.ray_engine import make_ray_engine

    return make_ray_engine()


# What a task's worker should do besides training, set per task by a test in RunTask.extra:
# "attempts": a file that gets one line (the worker's pid) per attempt; "fail": raise this
# message in the worker; "kill_marker" + "kill_step": the first attempt (the marker file does
# not exist yet) creates the marker and SIGKILLs its own worker after that step.
HOOKS = "test_hooks"


def hooked_worker(task, packed, driver_version):
    """A RayEngine.worker that obeys ``task.extra[HOOKS]``, then trains as the default one does."""
    import os
    import signal

    from normlab.experiments.engines.ray_engine import run_on_worker
    from normlab.train import Callback

    hooks = task.extra.get(HOOKS) or {}
    if hooks.get("attempts"):
        with open(hooks["attempts"], "a") as f:
            f.write(f"{os.getpid()}\n")
    if hooks.get("fail"):
        raise RuntimeError(hooks["fail"])  # a run that fails for its own reason, in the worker

    class KillWorker(Callback):
        def on_step_end(self, step, epoch, x, y, loss):
            if step >= hooks["kill_step"]:
                with open(hooks["kill_marker"], "x") as f:
                    f.write(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)

    kill = hooks.get("kill_marker") and not os.path.exists(hooks["kill_marker"])
    return run_on_worker(task, packed, driver_version, callbacks=[KillWorker()] if kill else [])


@pytest.fixture
def hooked_engine(engine):
    """The engine with :func:`hooked_worker`; this module travels to the workers by value."""
    import dataclasses

    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield dataclasses.replace(engine, worker=hooked_worker)
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _spec(variants, seeds, epochs=1, **base) -> StudySpec:
    return StudySpec(name="t", variants=variants, seeds=seeds,
                     base=TrainConfig(epochs=epochs, subset=SUBSET, device="cpu", **base))


def _runs(db_path) -> dict[tuple[str, int], object]:
    with ResultsDB(db_path) as db:
        records = db.list_runs("t", full=True)
    keyed = {(r.variant, r.seed): r for r in records}
    assert len(keyed) == len(records), "a (variant, seed) is recorded twice"
    return keyed


def _wait_for_free_cpus(ray, n: float, seconds: float = 20.0) -> float:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        free = ray.available_resources().get("CPU", 0)
        if free >= n:
            return free
        time.sleep(0.2)
    return ray.available_resources().get("CPU", 0)


# -- without Ray ----------------------------------------------------------------------------


def test_missing_ray_names_the_extra(monkeypatch):
    from normlab.experiments.engines.ray_engine import make_ray_engine

    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(MissingExtraError, match=r"pip install 'normlab\[ray\]'"):
        make_ray_engine()


def test_cli_without_ray_is_a_clear_error(monkeypatch, capsys, tmp_path):
    from normlab.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)
    code = main(["study", "--engine", "ray", "--seeds", "1", "--out", str(tmp_path / "s"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "normlab[ray]" in err and "--engine ray" in err
    assert not (tmp_path / "s" / "normlab.db").exists()


def test_bad_gpus_per_run_is_rejected():
    pytest.importorskip("ray", reason="ray is not installed (pip install 'normlab[ray]')")
    from normlab.errors import ConfigError
    from normlab.experiments.engines.ray_engine import make_ray_engine

    with pytest.raises(ConfigError, match="--gpus-per-run"):
        make_ray_engine(gpus_per_run=-1)


def test_pack_splits_sends_only_the_subset_and_round_trips(data_dir):
    from normlab.experiments.engines.ray_engine import pack_splits, unpack_splits
    from normlab.train.loop import load_data

    splits = load_data(TrainConfig(subset=SUBSET, val_split=1000, standardize=True), str(data_dir))
    packed = pack_splits(splits)
    assert packed["train"]["images"].nbytes == SUBSET * 28 * 28
    assert packed["val"]["images"].nbytes == 1000 * 28 * 28
    back = unpack_splits(packed)
    for name in ("train", "val", "test"):
        a, b = getattr(splits, name), getattr(back, name)
        assert b.images.data_ptr() == a.images.data_ptr()  # no copy made on the way
        assert b.images.equal(a.images) and b.labels.equal(a.labels)
        assert (b.mean, b.std, b.transform, b.split) == (a.mean, a.std, a.transform, a.split)


# -- with Ray -------------------------------------------------------------------------------


@needs_ray
def test_same_metrics_as_the_local_engine(engine, data_dir, tmp_path):
    spec = _spec([Variant.parse("lenet5"), Variant.parse("lenet5-bn")], [0, 1])
    local = run_study(spec, tmp_path / "local", workers=2, data_dir=str(data_dir))
    ray_out = run_study(spec, tmp_path / "ray", engine=engine, workers=0, data_dir=str(data_dir))
    assert local.progress.done == ray_out.progress.done == 4
    a, b = _runs(local.db_path), _runs(ray_out.db_path)
    assert a.keys() == b.keys() and len(a) == 4
    for key in a:
        assert b[key].status == "done"
        assert b[key].val_accuracy == a[key].val_accuracy
        assert b[key].val_loss == a[key].val_loss
        assert b[key].train_loss == a[key].train_loss
        assert b[key].train_loss_per_batch == a[key].train_loss_per_batch
        assert b[key].val_loss_per_batch == a[key].val_loss_per_batch
        assert len(b[key].train_loss_per_batch) == 32
    # The variants really differ, so equal numbers are not an accident of the comparison.
    assert a[("lenet5", 0)].val_loss != a[("lenet5-bn", 0)].val_loss


@needs_ray
def test_killed_worker_is_retried_and_resumes_with_the_same_numbers(hooked_engine, ray_cluster, data_dir, tmp_path):
    from normlab.train import train
    from normlab.train.loop import load_data

    marker, attempts = tmp_path / "killed", tmp_path / "attempts"
    victims = []

    def killing_engine(tasks, **kwargs):
        # Seed 0 kills its own worker with SIGKILL at step 40, in epoch 2 (32 steps per epoch),
        # after the epoch-1 checkpoint: the retry must continue from there.
        for task in tasks:
            if task.extra["seed"] == 0:
                task.extra[HOOKS] = {"kill_marker": str(marker), "kill_step": 40, "attempts": str(attempts)}
                victims.append(task.checkpoint_path)
        return hooked_engine(tasks, **kwargs)

    spec = _spec([Variant.parse("lenet5-bn")], [0, 1], epochs=2)
    out = run_study(spec, tmp_path / "study", engine=killing_engine, workers=0, data_dir=str(data_dir))

    assert marker.exists(), "the first attempt did not kill its worker"
    pids = attempts.read_text().split()
    assert len(pids) == 2 and pids[0] == marker.read_text() != pids[1]  # killed, then retried elsewhere
    assert len(victims) == 1
    assert out.progress.done == 2 and out.progress.failed == 0
    runs = _runs(out.db_path)
    assert sorted(runs) == [("lenet5-bn", 0), ("lenet5-bn", 1)]
    killed = runs[("lenet5-bn", 0)]
    assert killed.status == "done" and killed.epochs_done == 2
    assert Path(victims[0]).parent == tmp_path / "study" / "checkpoints" and Path(victims[0]).exists()

    # The same run, never interrupted, in this process with one thread as on the workers.
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = spec.configs()[0][2]
        reference = train(config, splits=load_data(config, str(data_dir)), progress=False)
    finally:
        torch.set_num_threads(threads)
    assert killed.val_accuracy == reference.val_accuracy
    assert killed.val_loss == reference.val_loss
    # The database keeps per-batch losses as float32.
    assert killed.train_loss_per_batch == [float(np.float32(v)) for v in reference.train_loss_per_batch]
    assert len(killed.train_loss_per_batch) == 64


@needs_ray
def test_divergence_and_bad_config_are_recorded_once_and_the_rest_finish(hooked_engine, data_dir, tmp_path):
    variants = [
        Variant.parse("lenet5"),
        Variant("diverges", {"model": "lenet5:activation=relu", "optimizer": "sgd", "lr": 1e6}),
        # A valid config whose run raises in the worker (configs are validated in the driver).
        Variant("broken", {"model": "lenet5-bn"}),
    ]

    def counting_engine(tasks, **kwargs):
        for task in tasks:
            task.extra[HOOKS] = {"attempts": str(tmp_path / f"attempts-{task.extra['variant']}")}
            if task.extra["variant"] == "broken":
                task.extra[HOOKS]["fail"] = "injected failure"
        return hooked_engine(tasks, **kwargs)

    out = run_study(_spec(variants, [0]), tmp_path / "study", engine=counting_engine, workers=0,
                    data_dir=str(data_dir))
    p = out.progress
    assert (p.done, p.diverged, p.failed) == (1, 1, 1)
    runs = _runs(out.db_path)
    assert runs[("lenet5", 0)].status == "done"
    assert not math.isnan(runs[("lenet5", 0)].val_accuracy[0])
    diverged = runs[("diverges", 0)]
    assert diverged.status == "diverged" and diverged.diverged_epoch == 1
    broken = runs[("broken", 0)]
    assert broken.status == "failed"
    assert broken.message.startswith("RuntimeError:") and "injected failure" in broken.message
    # An error of the run's own is not a dead worker: it is tried once, not retried.
    for label in ("lenet5", "diverges", "broken"):
        assert len((tmp_path / f"attempts-{label}").read_text().split()) == 1, label


@needs_ray
def test_interrupt_cancels_outstanding_tasks_and_a_rerun_resumes(engine, ray_cluster, data_dir, tmp_path):
    quick, slow, other = (Variant.parse("lenet5"), Variant("slow", {"model": "lenet5", "epochs": 60}),
                          Variant.parse("lenet5-bn"))
    # Two runs fit the cluster: "lenet5" and "slow" start; "slow" would take about a minute.

    def interrupt(kind, payload, progress):
        if kind == "done":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(_spec([quick, slow, other], [0]), tmp_path / "study", engine=engine, workers=0,
                  data_dir=str(data_dir), on_event=interrupt)
    interrupted_at = time.monotonic()
    # "slow" was cancelled (its worker killed): both CPUs are free again at once.
    assert _wait_for_free_cpus(ray_cluster, 2, seconds=30) == 2
    assert time.monotonic() - interrupted_at < 10
    first = _runs(tmp_path / "study" / "normlab.db")
    # The cancelled run is recorded as interrupted, which the same command redoes.
    assert {k: r.status for k, r in first.items()} == {("lenet5", 0): "done", ("slow", 0): "failed"}
    assert "interrupted" in first[("slow", 0)].message

    # The rerun (without "slow", to keep the test short) skips the finished run.
    events = []
    out = run_study(_spec([quick, other], [0]), tmp_path / "study", engine=engine, workers=0,
                    data_dir=str(data_dir), on_event=lambda kind, payload, progress: events.append(kind))
    assert out.progress.skipped == 1 and out.progress.done == 1
    assert events.count("skip") == 1 and events.count("start") == 1
    runs = _runs(out.db_path)
    assert {k: r.status for k, r in runs.items()} == {
        ("lenet5", 0): "done", ("slow", 0): "failed", ("lenet5-bn", 0): "done"}


@needs_ray
def test_data_goes_into_the_object_store_once(ray_cluster, data_dir):
    from normlab.experiments.engines.ray_engine import pack_splits
    from normlab.train.loop import load_data

    splits = load_data(TrainConfig(subset=SUBSET), str(data_dir))
    ref = ray_cluster.put(pack_splits(splits))
    size = ray_cluster.experimental.get_object_locations([ref])[ref]["object_size"]
    images = (SUBSET + 10_000) * 28 * 28
    # The object holds the subset and the test set, not the 60,000 training images it is cut from.
    assert images <= size < images * 1.2
    del ref


@needs_ray
def test_cli_runs_a_study_on_ray(ray_cluster, data_dir, tmp_path, capsys):
    from normlab.cli import main

    out = tmp_path / "cli"
    code = main(["study", "--engine", "ray", "--variants", "lenet5", "--seeds", "1", "--epochs", "1",
                 "--subset", "500", "--data-dir", str(data_dir), "--out", str(out), "--no-report", "--quiet"])
    assert code == 0, capsys.readouterr().err
    assert "1 run(s) done" in capsys.readouterr().out
    with ResultsDB(out / "normlab.db") as db:
        assert [r.status for r in db.list_runs()] == ["done"]


def _task(**config):
    from normlab.experiments.engines.local import RunTask

    return RunTask(key="k", config=TrainConfig(epochs=1, subset=SUBSET, **config).to_dict(),
                   extra={"variant": "lenet5", "seed": 0})


@needs_ray
def test_gpu_settings_that_cannot_run_fail_before_any_task(ray_cluster):
    from normlab.errors import ConfigError
    from normlab.experiments.engines.ray_engine import make_ray_engine

    started = []
    with pytest.raises(ConfigError, match="needs --gpus-per-run"):
        make_ray_engine()([_task(device="cuda")], on_start=started.append)
    with pytest.raises(ConfigError, match="--device cpu"):
        make_ray_engine(gpus_per_run=1)([_task(device="cpu")], on_start=started.append)
    # The test cluster has no GPU: waiting for one would hang, so the engine says so instead.
    with pytest.raises(ConfigError, match=r"0 GPU\(s\); a run asks for 1 CPU\(s\) and 1 GPU\(s\)"):
        make_ray_engine(gpus_per_run=1)([_task(device="cuda")], on_start=started.append)
    assert started == []


def test_a_node_with_other_normlab_code_refuses_to_run():
    pytest.importorskip("ray", reason="ray is not installed (pip install 'normlab[ray]')")
    from normlab.errors import ConfigError
    from normlab.experiments.engines.ray_engine import run_on_worker

    with pytest.raises(ConfigError, match="install the same normlab on every node"):
        run_on_worker(_task(), None, "0.0.0-other")
