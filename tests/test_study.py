"""Studies: the grid, resuming after kill -9, divergence recorded, and the CLI's errors."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from normlab.cli import main
from normlab.errors import ConfigError
from normlab.experiments.store import ResultsDB
from normlab.experiments.study import StudySpec, Variant, parse_seeds
from normlab.train import TrainConfig


def test_parse_seeds():
    assert parse_seeds("3") == [0, 1, 2]
    assert parse_seeds("0,3,7") == [0, 3, 7]
    assert parse_seeds("10-12") == [10, 11, 12]
    for bad in ("0", "x", "3-1", "1,1", ""):
        with pytest.raises(ConfigError, match="--seeds"):
            parse_seeds(bad)


def test_grid_pairs_seeds_across_variants():
    spec = StudySpec(variants=[Variant.parse("lenet5"), Variant.parse("lenet5:norm=group")], seeds=[4, 5],
                     base=TrainConfig(epochs=1))
    grid = spec.configs()
    assert [(v.label, s) for v, s, _ in grid] == [("lenet5", 4), ("lenet5", 5),
                                                   ("lenet5:norm=group", 4), ("lenet5:norm=group", 5)]
    assert all(c.seed == s for _, s, c in grid)
    assert len({c.config_hash() for _, _, c in grid}) == 4
    with pytest.raises(ConfigError, match="valid names"):
        Variant.parse("lenet6")


def _study_cmd(out, data_dir, extra=()):
    return [sys.executable, "-m", "normlab", "study", "--variants", "lenet5", "lenet5-bn", "--seeds", "3",
            "--epochs", "2", "--subset", "1024", "--device", "cpu", "--workers", "1", "--threads", "1",
            "--no-report", "--quiet", "--out", str(out), "--data-dir", str(data_dir), *extra]


def test_sigkill_mid_study_then_resume(tmp_path, data_dir):
    out = tmp_path / "study"
    db_path = out / "normlab.db"
    proc = subprocess.Popen(_study_cmd(out, data_dir), start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        done = 0
        while time.time() < deadline and proc.poll() is None:
            if db_path.exists():
                try:
                    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5) as conn:
                        done = conn.execute("select count(*) from runs where status='done'").fetchone()[0]
                except sqlite3.Error:
                    done = 0
                if done >= 2:
                    break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stderr.read().decode()
        assert done >= 2, "the study never finished two runs"
        os.killpg(proc.pid, signal.SIGKILL)  # the study and any worker, mid-run
    finally:
        proc.wait(timeout=30)

    conn = sqlite3.connect(db_path)
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    statuses = dict(conn.execute("select status, count(*) from runs group by status").fetchall())
    assert statuses.get("done", 0) >= 2 and statuses.get("done", 0) < 6
    before = dict(conn.execute("select config_hash, finished_at from runs where status='done'").fetchall())
    # Epoch rows exist only for finished runs: a run is recorded whole or not at all.
    orphans = conn.execute("select count(*) from epochs e join runs r on r.id = e.run_id "
                           "where r.status not in ('done', 'diverged')").fetchone()[0]
    assert orphans == 0
    conn.close()

    subprocess.run(_study_cmd(out, data_dir), check=True, capture_output=True, timeout=300)
    with ResultsDB(db_path) as db:
        runs = db.list_runs()
    assert len(runs) == 6 and {r.status for r in runs} == {"done"}
    assert len({(r.variant, r.seed) for r in runs}) == 6
    for r in runs:
        assert r.epochs_done == 2
        if r.config_hash in before:
            assert r.finished_at == before[r.config_hash]  # skipped, not redone


def test_diverged_run_is_recorded_and_the_study_goes_on(tmp_path, data_dir, capsys):
    out = tmp_path / "div"
    # The diverging variant first: the run after it must still happen.
    code = main(["study", "--variants", "lenet5:activation=relu", "lenet5", "--seeds", "1", "--epochs", "1",
                 "--subset", "512", "--optimizer", "sgd", "--lr", "1e6", "--device", "cpu", "--workers", "1",
                 "--quiet", "--out", str(out), "--data-dir", str(data_dir)])
    assert code == 0
    with ResultsDB(out / "normlab.db") as db:
        by_variant = {r.variant: r for r in db.list_runs()}
    assert by_variant["lenet5:activation=relu"].status == "diverged"
    assert by_variant["lenet5:activation=relu"].diverged_epoch == 1
    # At this rate lenet5's loss explodes too, which the trainer also calls diverged (a loss
    # beyond 3 x ln C): what matters here is that its run was recorded after the other diverged.
    assert by_variant["lenet5"].status in ("done", "diverged")
    assert (out / "report.html").exists()
    assert "diverged" in capsys.readouterr().out


def test_study_cli_errors_are_clear(tmp_path, capsys):
    assert main(["study", "--variants", "lenet9", "--out", str(tmp_path)]) == 2
    assert "lenet9" in capsys.readouterr().err
    assert main(["study", "--seeds", "zero", "--out", str(tmp_path)]) == 2
    assert "--seeds" in capsys.readouterr().err


def _tagged_pids(tag: str) -> list[int]:
    pids = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as fh:
                if f"NORMLAB_TEST_TAG={tag}".encode() in fh.read():
                    pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_workers_exit_when_the_driver_is_killed(tmp_path, data_dir):
    tag = f"orphans-{os.getpid()}-{time.time_ns()}"
    # Runs of about half a minute each, so that workers left running would still be there when
    # the test looks, seconds after the kill (a run that ended on its own would hide the bug).
    cmd = [sys.executable, "-m", "normlab", "study", "--variants", "lenet5", "lenet5-bn", "--seeds", "1",
           "--epochs", "30", "--subset", "16384", "--device", "cpu", "--workers", "2", "--no-report", "--quiet",
           "--out", str(tmp_path / "s"), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, env={**os.environ, "NORMLAB_TEST_TAG": tag},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(_tagged_pids(tag)) < 4:  # driver, forkserver, two workers
            time.sleep(0.1)
        assert len(_tagged_pids(tag)) >= 4, "the workers never started"
        time.sleep(3.0)  # until they are training: a worker still starting dies with its driver anyway
        proc.send_signal(signal.SIGKILL)  # the driver alone, as a user's kill -9 would
        proc.wait(timeout=10)
        deadline = time.time() + 10
        while time.time() < deadline and _tagged_pids(tag):
            time.sleep(0.2)
        assert _tagged_pids(tag) == [], "worker processes outlived the killed driver"
    finally:
        for pid in _tagged_pids(tag):
            os.kill(pid, signal.SIGKILL)


# -- issue 12: grid limits, workers, checkpoint keys, data up front, the out-folder lock, SIGINT ----


def _fake_result(task) -> dict:
    """A finished run's result dict, without training (for tests of the driver's bookkeeping)."""
    from normlab.train import RunRecord

    return RunRecord(config=task.config, train_loss_per_batch=[1.0], val_loss_per_batch=[1.0],
                     train_accuracy=[0.5], val_accuracy=[0.5], train_loss=[1.0], val_loss=[1.0],
                     epoch_seconds=[0.1], train_seconds=[0.1], images_per_second=[10.0], status="done").to_dict()


class _RecordingEngine:
    """An engine that records what it was given and finishes every task at once."""

    def __init__(self):
        self.calls = []

    def __call__(self, tasks, *, workers, on_start, on_done, **kwargs):
        from normlab.experiments.engines.local import TaskOutcome

        self.calls.append({"tasks": list(tasks), "workers": workers})
        outcomes = []
        for task in tasks:
            on_start(task)
            outcomes.append(TaskOutcome(task, _fake_result(task)))
            on_done(outcomes[-1])
        return outcomes


def _small_spec(name="default", seeds=(0, 1), variants=("lenet5",), **base):
    base = {"epochs": 1, "subset": 512, "device": "cpu", **base}
    return StudySpec(name=name, variants=[Variant.parse(v) for v in variants], seeds=list(seeds),
                     base=TrainConfig(**base))


def test_seed_count_and_grid_size_are_checked_before_the_grid_is_built(tmp_path, capsys):
    from normlab.experiments.study import MAX_RUNS, MAX_SEEDS

    for text in ("999999999", "0-999999999", "99999999999999999999"):
        with pytest.raises(ConfigError, match=f"at most {MAX_SEEDS:,}"):
            parse_seeds(text)
    assert len(parse_seeds(str(MAX_SEEDS))) == MAX_SEEDS
    many = [Variant(f"v{i}", {"model": "lenet5", "lr": 1e-3 * (i + 1)}) for i in range(MAX_RUNS // MAX_SEEDS + 1)]
    with pytest.raises(ConfigError, match=f"at most {MAX_RUNS:,} runs"):
        StudySpec(variants=many, seeds=list(range(MAX_SEEDS))).configs()
    assert main(["study", "--seeds", "999999999", "--out", str(tmp_path / "s")]) == 2
    assert f"at most {MAX_SEEDS:,}" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_variants_with_the_same_config_are_an_error():
    spec = StudySpec(variants=[Variant("a", {"model": "lenet5"}), Variant("b", {"model": "lenet5"})], seeds=[0])
    with pytest.raises(ConfigError, match="'a' and 'b' give the same config"):
        spec.configs()


def test_workers_are_capped_at_the_number_of_pending_runs(tmp_path, data_dir):
    from normlab.experiments.study import run_study

    engine = _RecordingEngine()
    out = run_study(_small_spec(seeds=[0, 1]), tmp_path / "s", engine=engine, workers=8, data_dir=str(data_dir))
    assert out.progress.done == 2
    assert engine.calls[-1]["workers"] == 2 and {t.threads for t in engine.calls[-1]["tasks"]} == {1}
    # One pending run (seeds 0 and 1 are finished): one worker, with the config's threads.
    run_study(_small_spec(seeds=[0, 1, 2]), tmp_path / "s", engine=engine, workers=8, data_dir=str(data_dir))
    assert engine.calls[-1]["workers"] == 1 and [t.threads for t in engine.calls[-1]["tasks"]] == [None]


def test_a_second_study_name_in_the_same_out_trains_its_own_runs(tmp_path, data_dir):
    from normlab.experiments.study import run_study

    out = tmp_path / "s"
    for name in ("first", "second"):
        result = run_study(_small_spec(name=name, seeds=[0], threads=1), out, data_dir=str(data_dir))
        assert result.progress.done == 1
    with ResultsDB(out / "normlab.db") as db:
        first, second = db.list_runs("first")[0], db.list_runs("second")[0]
    assert first.config_hash == second.config_hash
    # The second study trained: its epoch took its own time, not the one copied from the first's checkpoint.
    assert second.epoch_seconds != first.epoch_seconds
    assert second.wall_seconds > 0.1
    assert len(list((out / "checkpoints").glob("*.pt"))) == 2


def test_missing_data_is_one_error_before_anything_is_written(tmp_path, capsys):
    from normlab.errors import DownloadError
    from normlab.experiments.study import run_study

    empty = tmp_path / "empty"
    empty.mkdir()
    engine = _RecordingEngine()
    with pytest.raises(DownloadError, match="lacks"):
        run_study(_small_spec(), tmp_path / "runs" / "s", engine=engine, data_dir=str(empty))
    assert engine.calls == [] and not (tmp_path / "runs").exists()
    assert main(["study", "--variants", "lenet5", "--seeds", "3", "--data-dir", str(empty), "--quiet",
                 "--out", str(tmp_path / "cli")]) == 2
    err = capsys.readouterr().err
    assert err.count("normlab: error:") == 1 and str(empty) in err
    assert not (tmp_path / "cli").exists()


def test_a_failed_download_says_where_normlab_looked_and_how_to_point_it_at_files(tmp_path, monkeypatch):
    import normlab.data.download as download
    from normlab.errors import DownloadError
    from normlab.experiments.study import run_study

    def offline(spec, key, directory, **kwargs):
        raise DownloadError(f"could not download {key} into {directory}; tried: (offline)")

    monkeypatch.delenv("NORMLAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(download, "download_file", offline)
    with pytest.raises(DownloadError) as info:
        run_study(_small_spec(), tmp_path / "s", engine=_RecordingEngine())
    message = str(info.value)
    assert "(offline)" in message and "--data-dir" in message and "NORMLAB_DATA" in message
    assert str(tmp_path / "cache") in message
    assert not (tmp_path / "s").exists()


def test_an_out_that_cannot_be_created_is_an_output_error(tmp_path, data_dir):
    from normlab.errors import OutputError
    from normlab.experiments.study import run_study

    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OutputError, match="cannot create folder .*file/s"):
        run_study(_small_spec(), tmp_path / "file" / "s", engine=_RecordingEngine(), data_dir=str(data_dir))


def test_a_damaged_database_is_checked_before_runs_are_skipped(tmp_path, data_dir, monkeypatch):
    from normlab.experiments.store import StoreError
    from normlab.experiments.study import run_study

    run_study(_small_spec(), tmp_path / "s", engine=_RecordingEngine(), data_dir=str(data_dir))

    def damaged(self):
        raise StoreError(f"{self.path} is damaged")

    monkeypatch.setattr(ResultsDB, "quick_check", damaged)
    engine = _RecordingEngine()
    with pytest.raises(StoreError, match="damaged"):
        run_study(_small_spec(seeds=[0, 1, 2]), tmp_path / "s", engine=engine, data_dir=str(data_dir))
    assert engine.calls == []


def test_partial_checkpoint_files_of_a_killed_run_are_removed(tmp_path, data_dir):
    from normlab.experiments.study import run_study

    partial = tmp_path / "s" / "checkpoints" / ".default-0123.pt.k2j4h1.tmp"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half a checkpoint")
    keep = tmp_path / "s" / "checkpoints" / "notes.txt"
    keep.write_text("mine")
    run_study(_small_spec(), tmp_path / "s", engine=_RecordingEngine(), data_dir=str(data_dir))
    assert not partial.exists() and keep.exists()


def test_an_interrupt_marks_the_unfinished_runs_for_resumption(tmp_path, data_dir):
    from normlab.experiments.engines.local import TaskOutcome
    from normlab.experiments.study import run_study

    def interrupted(tasks, *, workers, on_start, on_done, **kwargs):
        for task in tasks:
            on_start(task)
        on_done(TaskOutcome(tasks[0], _fake_result(tasks[0])))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_study(_small_spec(seeds=[0, 1, 2]), tmp_path / "s", engine=interrupted, workers=3,
                  data_dir=str(data_dir))
    with ResultsDB(tmp_path / "s" / "normlab.db") as db:
        runs = {r.seed: r for r in db.list_runs()}
    assert runs[0].status == "done"
    for seed in (1, 2):
        assert runs[seed].status == "failed" and "interrupted" in runs[seed].message
    engine = _RecordingEngine()
    out = run_study(_small_spec(seeds=[0, 1, 2]), tmp_path / "s", engine=engine, data_dir=str(data_dir))
    assert out.progress.skipped == 1 and sorted(t.extra["seed"] for t in engine.calls[0]["tasks"]) == [1, 2]


_HOLD_LOCK = """
import sys, time
from normlab.experiments.study import out_lock
with out_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_command_into_the_same_out_is_refused_while_the_first_runs(tmp_path, data_dir, capsys):
    from normlab.experiments.study import LOCK_NAME, out_lock

    out = tmp_path / "s"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        study = ["study", "--variants", "lenet5", "--seeds", "1", "--epochs", "1", "--subset", "256",
                 "--quiet", "--out", str(out), "--data-dir", str(data_dir)]
        start = time.monotonic()
        assert main(study) == 2
        assert time.monotonic() - start < 30  # refused at once, not after waiting
        err = capsys.readouterr().err
        assert str(out) in err and f"pid {holder.pid}" in err
        assert main(["compare", "--epochs", "1", "--subset", "256", "--out", str(out),
                     "--data-dir", str(data_dir)]) == 2
        assert f"pid {holder.pid}" in capsys.readouterr().err
        assert not (out / "normlab.db").exists()
    finally:
        holder.kill()  # SIGKILL: the kernel releases the lock, nothing is left to clean up
        holder.wait()
    with out_lock(out):
        assert (out / LOCK_NAME).exists()
    assert not (out / LOCK_NAME).exists()


def test_sigint_to_the_driver_stops_the_workers_and_the_same_command_resumes(tmp_path, data_dir):
    import torch

    tag = f"sigint-{os.getpid()}-{time.time_ns()}"
    out = tmp_path / "s"
    epochs = 8
    cmd = [sys.executable, "-m", "normlab", "study", "--variants", "lenet5", "lenet5-bn", "--seeds", "1",
           "--epochs", str(epochs), "--subset", "4096", "--device", "cpu", "--workers", "2", "--no-report",
           "--quiet", "--out", str(out), "--data-dir", str(data_dir)]
    proc = subprocess.Popen(cmd, env={**os.environ, "NORMLAB_TEST_TAG": tag},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list(out.glob("checkpoints/*.pt"))) < 2:
            time.sleep(0.05)
        assert len(list(out.glob("checkpoints/*.pt"))) == 2, "the runs never finished an epoch"
        os.kill(proc.pid, signal.SIGINT)  # the driver alone, as `kill -INT` or a notebook does
        interrupted = time.monotonic()
        assert proc.wait(timeout=60) == 130
        assert time.monotonic() - interrupted < 10
        assert proc.stderr.read().splitlines() == [  # one line, no warnings
            "normlab: interrupted; finished epochs are kept: run the same command again to resume"]
        deadline = time.time() + 5
        while time.time() < deadline and _tagged_pids(tag):
            time.sleep(0.1)
        assert _tagged_pids(tag) == [], "worker processes outlived the interrupted driver"
    finally:
        for pid in _tagged_pids(tag):
            os.kill(pid, signal.SIGKILL)

    kept = {}
    for path in out.glob("checkpoints/*.pt"):
        payload = torch.load(path, weights_only=True)
        kept[payload["config"]["model"]] = (payload["epoch"], payload["result"]["epoch_seconds"])
    assert min(epoch for epoch, _ in kept.values()) < epochs  # stopped, not trained to the end
    conn = sqlite3.connect(out / "normlab.db")
    assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"
    statuses = dict(conn.execute("select variant, status from runs").fetchall())
    conn.close()
    assert {statuses[m] for m, (epoch, _) in kept.items() if epoch < epochs} == {"failed"}

    subprocess.run(cmd, check=True, capture_output=True, timeout=300)
    with ResultsDB(out / "normlab.db") as db:
        runs = {r.variant: r for r in db.list_runs()}
    for model, (epoch, seconds) in kept.items():
        assert runs[model].status == "done" and runs[model].epochs_done == epochs
        # Resumed: the epochs finished before the interrupt are the checkpoint's, not trained again.
        assert runs[model].epoch_seconds[:epoch] == seconds
