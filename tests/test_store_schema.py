"""The results database's schema: its checks, and the upgrade of a file of schema version 1."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from normlab.errors import ConfigError, NormlabError
from normlab.experiments.store import SCHEMA_VERSION, ResultsDB, StoreError
from normlab.train import TrainConfig
from test_store import SRC, make_result


@pytest.fixture()
def db_path(tmp_path) -> Path:
    return tmp_path / "study" / "normlab.db"


def test_wal_mode_foreign_keys_and_schema(db_path):
    with ResultsDB(db_path) as db:
        conn = db.conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        assert meta["schema_version"] == str(SCHEMA_VERSION) and meta["created_by"]
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("INSERT INTO epochs (run_id, epoch) VALUES (12345, 1)")
    with ResultsDB(db_path, synchronous="NORMAL") as db:  # reopening is idempotent
        assert db.conn.execute("PRAGMA synchronous").fetchone()[0] == 1
        assert db.list_runs() == []
    with pytest.raises(ConfigError, match="synchronous"):
        ResultsDB(db_path, synchronous="OFF")


def test_newer_schema_refused(db_path):
    ResultsDB(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    with pytest.raises(StoreError) as info:
        ResultsDB(db_path)
    msg = str(info.value)
    assert str(db_path) in msg
    assert f"schema version {SCHEMA_VERSION + 1}" in msg and f"schema version {SCHEMA_VERSION} at most" in msg
    assert isinstance(info.value, NormlabError) and isinstance(info.value, ValueError)


def test_inconsistent_schema_version_refused(db_path):
    ResultsDB(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA user_version = 0")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="unknown results schema"):
        ResultsDB(db_path)


def test_not_a_database_refused(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("these are my notes, not a database\n" * 20)
    with pytest.raises(StoreError, match="not an SQLite file") as info:
        ResultsDB(text)
    assert str(text) in str(info.value)
    assert text.read_text().startswith("these are my notes")  # left untouched

    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="not a normlab results database.*customers"):
        ResultsDB(other)


# -- databases of schema version 1 (before the runs' environment) ----------------------

SCHEMA_1 = Path(__file__).parent / "data" / "results_schema_1.sql"


def schema_1_db(path: Path) -> Path:
    """A database as normlab's store wrote it at schema version 1 (from a dump of one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA_1.read_text())
    conn.execute("PRAGMA journal_mode = WAL")  # as the store leaves its files
    conn.close()
    return path


def versions(path: Path) -> tuple[int, str, bool]:
    """``(user_version, meta schema_version, whether runs has an environment column)``."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
        meta = dict(conn.execute("SELECT key, value FROM meta"))
        return conn.execute("PRAGMA user_version").fetchone()[0], meta["schema_version"], "environment" in columns
    finally:
        conn.close()


def test_schema_1_is_read_as_it_is_when_read_only(db_path):
    schema_1_db(db_path)
    with ResultsDB(db_path, readonly=True) as db:
        assert db.schema_version == 1
        db.quick_check()
        runs = db.list_runs(full=True)
        assert [(r.status, r.message, r.epochs_done, r.environment) for r in runs] == [
            ("done", "", 2, {}), ("failed", "boom", 0, {}), ("running", "", 0, {})]
        assert runs[0].val_accuracy == [0.85, 0.95] and runs[0].train_loss_per_batch == [2.25, 1.5, 0.75]
        assert runs[0].diagnostics == {"grad_norm": [0.5, 0.25]} and runs[0].host == "lab-box-7"
        assert db.pending("post", ["a1", "b2", "c3"]) == {"b2", "c3"}
        assert json.loads(db.export("json"))[0]["environment"] == {}
        with pytest.raises(StoreError, match="read-only"):
            db.fail_run(3, "x")
    assert versions(db_path) == (1, "1", False)  # untouched


def test_schema_1_is_upgraded_when_opened_for_writing(db_path, tmp_path):
    schema_1_db(db_path)
    with ResultsDB(db_path, readonly=True) as db:
        before = [r.to_dict() for r in db.list_runs(full=True)]
    with ResultsDB(db_path) as db:
        assert db.schema_version == SCHEMA_VERSION == 2
        assert [r.to_dict() for r in db.list_runs(full=True)] == before  # the old runs, environment {}
        cfg = TrainConfig(seed=3)
        rid = db.start_run(study="post", variant="lenet5", seed=3, config=cfg.to_dict(), config_hash="c3")
        assert rid == 3  # the run left running is redone in its row
        db.finish_run(rid, {**make_result(cfg), "environment": {"threads": 2}})
        assert db.pending("post", ["a1", "b2", "c3"]) == {"b2"}
    assert versions(db_path) == (2, "2", True)
    with ResultsDB(db_path, readonly=True) as db:
        db.quick_check()
        assert db.schema_version == 2 and db.get_run(3).environment == {"threads": 2}
        assert db.get_run(1).to_dict() == before[0]
    # An upgraded file has the tables a new one gets.
    fresh = tmp_path / "fresh.db"
    ResultsDB(fresh).close()
    tables = []
    for path in (db_path, fresh):
        conn = sqlite3.connect(path)
        tables.append({name: conn.execute(f"PRAGMA table_info({name})").fetchall()
                       for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")})
        conn.close()
    assert tables[0] == tables[1]


UPGRADE_KILLED = textwrap.dedent("""
    import os, signal, sqlite3, sys

    connect = sqlite3.connect

    def traced(*args, **kwargs):
        conn = connect(*args, **kwargs)
        def trace(sql):
            print(sql.split()[0:3], flush=True)
            if sql.startswith("PRAGMA user_version ="):  # the upgrade's last statement, before COMMIT
                os.kill(os.getpid(), signal.SIGKILL)
        conn.set_trace_callback(trace)
        return conn

    sqlite3.connect = traced
    from normlab.experiments.store import ResultsDB
    ResultsDB(sys.argv[1])
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_upgrade_killed_before_commit_leaves_schema_1(db_path):
    schema_1_db(db_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", UPGRADE_KILLED, str(db_path)], capture_output=True, text=True,
                          timeout=120, env=env, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "['ALTER', 'TABLE', 'runs']" in proc.stdout  # killed inside the upgrade, after its ALTER
    assert versions(db_path) == (1, "1", False)
    with ResultsDB(db_path, readonly=True) as db:
        db.quick_check()
        assert [r.status for r in db.list_runs()] == ["done", "failed", "running"]
    with ResultsDB(db_path) as db:  # the next writer upgrades it
        assert db.schema_version == 2 and len(db.list_runs()) == 3
    assert versions(db_path) == (2, "2", True)
