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
        assert len(r.epochs) == 2
        if r.config_hash in before:
            assert r.finished_at == before[r.config_hash]  # skipped, not redone


def test_diverged_run_is_recorded_and_the_study_goes_on(tmp_path, data_dir, capsys):
    out = tmp_path / "div"
    code = main(["study", "--variants", "lenet5", "lenet5:activation=relu", "--seeds", "1", "--epochs", "1",
                 "--subset", "512", "--optimizer", "sgd", "--lr", "1e6", "--device", "cpu", "--workers", "1",
                 "--quiet", "--out", str(out), "--data-dir", str(data_dir)])
    assert code == 0
    with ResultsDB(out / "normlab.db") as db:
        by_variant = {r.variant: r for r in db.list_runs()}
    assert by_variant["lenet5:activation=relu"].status == "diverged"
    assert by_variant["lenet5:activation=relu"].diverged_epoch == 1
    assert by_variant["lenet5"].status == "done"
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
