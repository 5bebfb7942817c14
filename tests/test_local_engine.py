"""The local engine: worker processes, streaming outcomes and epoch events, and worker death."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from normlab.experiments.engines.local import RunTask, run_local, worker_context
from normlab.train import TrainConfig


def _tasks(data_dir, n=3, epochs=2, tmp=None):
    return [RunTask(key=f"seed{i}", data_dir=str(data_dir), threads=1,
                    config=TrainConfig(model="lenet5-bn", epochs=epochs, subset=2048, device="cpu", seed=i).to_dict(),
                    checkpoint_path=str(tmp / f"seed{i}.pt") if tmp else None)
            for i in range(n)]


def _in_worker_modules(_):
    import sys

    return "torch" in sys.modules, "torch._dynamo" in sys.modules


def _children() -> dict[int, list[tuple[int, bytes]]]:
    """Every process by parent pid: (pid, command line)."""
    children: dict[int, list[tuple[int, bytes]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append((int(entry.name), cmdline))
    return children


def _worker_pids() -> list[int]:
    """The pool's worker processes: spawned by this process, or forked by its forkserver."""
    children = _children()
    pids = []
    for pid, cmdline in children.get(os.getpid(), []):
        if b"spawn_main" in cmdline:
            pids.append(pid)
        elif b"forkserver" in cmdline:
            pids.extend(child for child, _ in children.get(pid, []))
    return pids


def test_workers_fork_from_a_server_that_has_imported_torch():
    # Worker start-up is what the forkserver saves: a worker finds torch (and the torch._dynamo
    # that torch.optim imports) already imported.
    ctx = worker_context()
    if ctx.get_start_method() != "forkserver":
        pytest.skip("workers are spawned on this platform")
    with ctx.Pool(1) as pool:
        assert pool.map(_in_worker_modules, [0]) == [(True, True)]


def test_workers_match_in_process_and_stream_epochs(data_dir):
    serial = {o.task.key: o.result for o in run_local(_tasks(data_dir, n=2), workers=1)}
    epochs = []
    parallel = run_local(_tasks(data_dir, n=2), workers=2, on_epoch=lambda k, e, s: epochs.append((k, e)))
    assert {o.task.key for o in parallel} == {"seed0", "seed1"}
    for o in parallel:
        assert o.error is None
        assert o.result["train_loss_per_batch"] == serial[o.task.key]["train_loss_per_batch"]
        assert o.result["val_accuracy"] == serial[o.task.key]["val_accuracy"]
    assert sorted(epochs) == [("seed0", 1), ("seed0", 2), ("seed1", 1), ("seed1", 2)]


def test_killed_worker_is_retried_and_the_rest_finish(data_dir, tmp_path):
    reference = {o.task.key: o.result for o in run_local(_tasks(data_dir, epochs=3), workers=1)}
    started = []

    def killer():
        # Kill one worker once the first epochs are under way.
        deadline = time.time() + 60
        while time.time() < deadline:
            pids = _worker_pids()
            if len(started) >= 2 and pids:
                time.sleep(1.5)
                os.kill(_worker_pids()[0], signal.SIGKILL)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    outcomes = run_local(_tasks(data_dir, epochs=3, tmp=tmp_path), workers=2, on_start=started.append)
    thread.join(timeout=5)
    assert len(started) > 3  # some task was started again after the kill
    keys = sorted(o.task.key for o in outcomes)
    assert keys == ["seed0", "seed1", "seed2"]  # every run once
    for o in outcomes:
        assert o.error is None, o.error
        assert o.result["val_accuracy"] == reference[o.task.key]["val_accuracy"]
        assert o.result["train_loss_per_batch"] == reference[o.task.key]["train_loss_per_batch"]


def test_an_interrupted_driver_stops_its_workers_at_once_and_keeps_their_checkpoints(data_dir, tmp_path):
    import _thread

    import torch

    epochs = 30  # far longer than the test waits: workers left training would still be there

    interrupted = []

    def interrupt_when_checkpointed():
        deadline = time.time() + 120
        while time.time() < deadline and len(list(tmp_path.glob("*.pt"))) < 2:
            time.sleep(0.05)
        interrupted.append(time.monotonic())
        _thread.interrupt_main()  # KeyboardInterrupt in the driver, as SIGINT to it alone gives

    threading.Thread(target=interrupt_when_checkpointed, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_local(_tasks(data_dir, n=2, epochs=epochs, tmp=tmp_path), workers=2)
    assert time.monotonic() - interrupted[0] < 10
    deadline = time.time() + 5
    while time.time() < deadline and _worker_pids():
        time.sleep(0.1)
    assert _worker_pids() == []
    for path in tmp_path.glob("*.pt"):
        assert 1 <= torch.load(path, weights_only=True)["epoch"] < epochs
