"""The results database: round trips, resume semantics, damaged files, read-only media, crash safety.

The schema's checks and upgrades are in test_store_schema.py, the CLI in test_runs_cli.py."""

from __future__ import annotations

import csv
import io
import json
import os
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from normlab.errors import ConfigError
from normlab.experiments.store import (
    ResultsDB,
    StoreError,
    decode_losses,
    encode_losses,
    resolve_db_path,
)
from normlab.train import RunRecord, TrainConfig

SRC = Path(__file__).resolve().parents[1] / "src"


def make_result(config: TrainConfig, *, epochs: int = 3, n_train: int = 40, n_val: int = 8,
                status: str = "done", **extra) -> dict:
    """A synthetic result dict (as a worker sends it) with distinct, checkable numbers."""
    s = config.seed
    r = RunRecord(
        config=config.to_dict(),
        train_loss_per_batch=[2.3 / (1 + i + s) + 1e-7 * i for i in range(n_train)],
        val_loss_per_batch=[1.1 / (1 + i) + 0.01 * s for i in range(n_val)],
        train_accuracy=[0.8 + 0.05 * e + 0.001 * s for e in range(epochs)],
        val_accuracy=[0.85 + 0.04 * e + 0.001 * s for e in range(epochs)],
        train_loss=[0.5 / (e + 1) for e in range(epochs)],
        val_loss=[0.4 / (e + 1) for e in range(epochs)],
        epoch_seconds=[10.0 + e for e in range(epochs)],
        train_seconds=[8.0 + e for e in range(epochs)],
        images_per_second=[7500.0 + e for e in range(epochs)],
        status=status,
        device="cpu",
        **extra,
    )
    return r.to_dict()


def start(db: ResultsDB, config: TrainConfig, study: str = "default", variant: str | None = None) -> int:
    return db.start_run(study=study, variant=variant or config.model, seed=config.seed,
                        config=config.to_dict(), config_hash=config.config_hash(), device="cpu")


@pytest.fixture()
def db_path(tmp_path) -> Path:
    return tmp_path / "study" / "normlab.db"


def test_roundtrip_full_result(db_path):
    cfg = TrainConfig(model="lenet5-bn", seed=3, val_split=5000)
    result = make_result(
        cfg, epochs=4, n_train=937, n_val=157, val_split_name="val", test_accuracy=0.9912,
        test_loss=0.031, test_epoch=3,
        diagnostics={"grad_norm": {"layer1": [0.5, 0.25, float("inf")]}, "note": "ok"},
    )
    with ResultsDB(db_path) as db:
        rid = start(db, cfg, study="bn-study")
        db.finish_run(rid, result)
    with ResultsDB(db_path) as db:  # reopened: the data is on disk, not in a cache
        rec = db.get_run(rid)
    assert isinstance(rec, RunRecord)
    assert (rec.study, rec.variant, rec.seed, rec.status) == ("bn-study", "lenet5-bn", 3, "done")
    assert rec.config == cfg.to_dict()
    assert rec.config_hash == cfg.config_hash()
    assert rec.finished_at >= rec.started_at > 0
    assert rec.normlab_version and rec.torch_version and rec.host and rec.device == "cpu"
    assert (rec.test_accuracy, rec.test_loss, rec.test_epoch, rec.val_split_name) == (0.9912, 0.031, 3, "val")
    assert rec.epochs_done == 4
    # Per-epoch values are float64 and exact.
    assert rec.val_accuracy == result["val_accuracy"]
    assert rec.train_accuracy == result["train_accuracy"]
    assert rec.epoch_seconds == result["epoch_seconds"]
    assert rec.train_seconds == result["train_seconds"]
    assert rec.images_per_second == result["images_per_second"]
    assert rec.train_loss == result["train_loss"] and rec.val_loss == result["val_loss"]
    assert rec.final_val_accuracy == result["val_accuracy"][-1]
    assert rec.best_val_accuracy == max(result["val_accuracy"])
    # Per-batch losses are float32: equal within float32 precision, and exactly float32-rounded.
    assert len(rec.train_loss_per_batch) == 937 and len(rec.val_loss_per_batch) == 157
    for got, want in zip(rec.train_loss_per_batch, result["train_loss_per_batch"]):
        assert got == pytest.approx(want, rel=2e-7)
    assert rec.val_loss_per_batch == pytest.approx(result["val_loss_per_batch"], rel=2e-7)
    assert rec.diagnostics == {"grad_norm": {"layer1": [0.5, 0.25, float("inf")]}, "note": "ok"}
    # Its dict rebuilds it (the JSON export's item).
    assert RunRecord.from_dict(rec.to_dict()) == rec


def test_stored_record_equals_the_result_field_by_field(db_path):
    """train() and the store hand out one type: what was stored comes back equal in every field
    the result has (the store adds identity and provenance, which a fresh result leaves None)."""
    cfg = TrainConfig(model="lenet5-bn", seed=2)
    result = RunRecord.from_dict(make_result(cfg, epochs=3, n_train=6, n_val=4, diagnostics={"g": {"x": [1.5]}},
                                             environment={"threads": 2}, host="worker-3"))
    # Per-batch losses are stored as float32; these values are exact there.
    result.train_loss_per_batch = [0.5, 0.25, 2.0, 1.125, 0.75, 3.0]
    result.val_loss_per_batch = [0.5, 0.375, 1.0, 0.0625]
    with ResultsDB(db_path) as db:
        rid = start(db, cfg, study="one-type")
        db.finish_run(rid, result)  # the record itself, not its dict
        rec = db.get_run(rid)
    assert type(rec) is type(result)
    fresh, stored = result.to_dict(), rec.to_dict()
    assert {k: v for k, v in stored.items() if fresh[k] is not None} == {
        k: v for k, v in fresh.items() if v is not None}
    assert (rec.id, rec.study, rec.variant, rec.seed, rec.config_hash) == (rid, "one-type", "lenet5-bn", 2,
                                                                         cfg.config_hash())


def test_blob_is_little_endian_float32(db_path):
    data, encoding, count = encode_losses([1.0, -2.5, 0.1])
    assert (encoding, count) == ("f32le", 3)
    assert data == b"\x00\x00\x80\x3f" + b"\x00\x00\x20\xc0" + b"\xcd\xcc\xcc\x3d"
    zdata, zenc, _ = encode_losses([0.5] * 1000, compress=True)
    assert zenc == "f32le+zlib" and len(zdata) < 4000
    assert decode_losses(zdata, zenc, 1000) == [0.5] * 1000
    with pytest.raises(StoreError, match="expected 8 bytes"):
        decode_losses(b"\x00" * 12, "f32le", 2)
    cfg = TrainConfig(seed=1)
    with ResultsDB(db_path, compress=True) as db:
        rid = start(db, cfg)
        db.finish_run(rid, make_result(cfg, n_train=500))
        encodings = {row[0] for row in db.conn.execute("SELECT encoding FROM batch_losses")}
        assert encodings == {"f32le+zlib"}
        assert len(db.get_run(rid).train_loss_per_batch) == 500


def test_list_runs_light_and_full(db_path):
    cfgs = [TrainConfig(model=m, seed=s) for m in ("lenet5", "lenet5-bn") for s in range(2)]
    with ResultsDB(db_path) as db:
        for c in cfgs:
            db.finish_run(start(db, c, study="a"), make_result(c))
        other = TrainConfig(seed=9)
        start(db, other, study="b")
        light = db.list_runs("a")
        assert [(r.variant, r.seed) for r in light] == [(c.model, c.seed) for c in cfgs]
        assert all(r.epochs_done == 3 and r.train_loss_per_batch == [] and r.diagnostics == {} for r in light)
        full = db.list_runs(full=True)
        assert len(full) == 5 and len(full[0].train_loss_per_batch) == 40
        assert db.studies() == ["a", "b"]
        assert db.list_runs("b")[0].status == "running" and db.list_runs("b")[0].epochs_done == 0
        with pytest.raises(StoreError, match="no run with id 999"):
            db.get_run(999)


def test_start_finish_fail_and_redo(db_path):
    cfg = TrainConfig(seed=0)
    with ResultsDB(db_path) as db:
        rid = start(db, cfg)
        assert db.status_by_hash("default") == {cfg.config_hash(): "running"}
        db.fail_run(rid, "worker crashed: boom")
        rec = db.get_run(rid)
        assert (rec.status, rec.message, rec.epochs_done) == ("failed", "worker crashed: boom", 0)
        assert rec.finished_at is not None

        again = start(db, cfg)  # redo: same row, reset
        assert again == rid
        rec = db.get_run(rid)
        assert (rec.status, rec.message, rec.finished_at) == ("running", "", None)
        db.finish_run(rid, make_result(cfg, epochs=5))
        assert db.get_run(rid).epochs_done == 5

        # Redoing a finished run deletes its old epochs, batches and diagnostics in one go.
        db.finish_run(rid, make_result(cfg, epochs=5, diagnostics={"x": 1}))
        start(db, cfg)
        counts = [db.conn.execute(f"SELECT COUNT(*) FROM {t} WHERE run_id = ?", (rid,)).fetchone()[0]
                  for t in ("epochs", "batch_losses", "diagnostics")]
        assert counts == [0, 0, 0]
        db.finish_run(rid, make_result(cfg, epochs=2))
        rec = db.get_run(rid)
        assert rec.epochs_done == 2 and rec.status == "done"
        assert db.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1


def test_diverged_result_and_failed_result(db_path):
    cfg = TrainConfig(seed=0, lr=10.0)
    diverged = make_result(cfg, epochs=2, status="diverged", message="loss became nan at epoch 3, batch 7",
                           diverged_epoch=3, diverged_batch=7)
    diverged["train_loss_per_batch"][-1] = float("nan")
    diverged["train_loss"][-1] = float("nan")
    with ResultsDB(db_path) as db:
        rid = start(db, cfg)
        db.finish_run(rid, diverged)
        rec = db.get_run(rid)
        assert (rec.status, rec.diverged_epoch, rec.diverged_batch) == ("diverged", 3, 7)
        assert "nan" in rec.message
        assert rec.train_loss_per_batch[-1] != rec.train_loss_per_batch[-1]  # NaN kept in the blob
        assert rec.train_loss[-1] != rec.train_loss[-1]  # NaN comes back as a float NaN, not None
        # A failed result is recorded as a failure, without numbers.
        cfg2 = TrainConfig(seed=1)
        rid2 = start(db, cfg2)
        db.finish_run(rid2, make_result(cfg2, status="failed", message="out of memory"))
        rec2 = db.get_run(rid2)
        assert (rec2.status, rec2.message, rec2.epochs_done) == ("failed", "out of memory", 0)
        with pytest.raises(StoreError, match="status 'running'"):
            db.finish_run(rid2, make_result(cfg2, status="running"))
        with pytest.raises(StoreError, match="no run with id 42"):
            db.finish_run(42, make_result(cfg2))
        with pytest.raises(StoreError, match="no run with id 42"):
            db.fail_run(42, "x")
        with pytest.raises(StoreError, match="not JSON-serialisable"):
            db.finish_run(rid2, make_result(cfg2, diagnostics={"bad": object()}))
        assert db.get_run(rid2).status == "failed"  # the refused write changed nothing


def test_pending_skips_done_and_diverged(db_path):
    cfgs = {name: TrainConfig(seed=i) for i, name in enumerate(["done", "diverged", "failed", "running", "new"])}
    hashes = {name: c.config_hash() for name, c in cfgs.items()}
    with ResultsDB(db_path) as db:
        db.finish_run(start(db, cfgs["done"]), make_result(cfgs["done"]))
        db.finish_run(start(db, cfgs["diverged"]), make_result(cfgs["diverged"], status="diverged"))
        db.fail_run(start(db, cfgs["failed"]), "boom")
        start(db, cfgs["running"])  # left running, as after a kill
        assert db.pending("default", hashes.values()) == {hashes["failed"], hashes["running"], hashes["new"]}
        # The same configs in another study are separate runs.
        assert db.pending("other", hashes.values()) == set(hashes.values())
        assert db.status_by_hash("default") == {
            hashes["done"]: "done", hashes["diverged"]: "diverged", hashes["failed"]: "failed",
            hashes["running"]: "running"}


def test_unique_study_and_hash(db_path):
    cfg = TrainConfig()
    with ResultsDB(db_path) as db:
        a = start(db, cfg, study="one")
        b = start(db, cfg, study="two")
        assert a != b
        with pytest.raises(sqlite3.IntegrityError):
            with db._transaction() as conn:
                conn.execute("INSERT INTO runs (study, variant, seed, config_hash, config, status) "
                             "VALUES ('one', 'v', 0, ?, '{}', 'running')", (cfg.config_hash(),))


def test_missing_file_with_create_false(tmp_path):
    missing = tmp_path / "nope" / "normlab.db"
    with pytest.raises(StoreError, match="does not exist"):
        ResultsDB(missing, create=False)
    with pytest.raises(StoreError, match="does not exist"):
        ResultsDB(missing, readonly=True)
    assert not missing.parent.exists()


def test_readonly_open(db_path):
    cfg = TrainConfig()
    with ResultsDB(db_path) as db:
        db.finish_run(start(db, cfg), make_result(cfg))
    with ResultsDB(db_path, readonly=True) as db:
        assert db.list_runs()[0].status == "done"
        with pytest.raises(StoreError, match="read-only"):
            db.fail_run(1, "x")


def test_resolve_db_path(tmp_path, db_path):
    ResultsDB(db_path).close()
    assert resolve_db_path(db_path.parent) == db_path
    assert resolve_db_path(db_path) == db_path
    with pytest.raises(StoreError, match="does not exist"):
        resolve_db_path(tmp_path / "missing")
    with pytest.raises(StoreError, match="no results database in"):
        resolve_db_path(tmp_path)


def test_export_csv_and_json(db_path):
    cfgs = [TrainConfig(model="lenet5", seed=0), TrainConfig(model="lenet5-bn", seed=0)]
    with ResultsDB(db_path) as db:
        for c in cfgs:
            db.finish_run(start(db, c), make_result(c, epochs=3))
        failed = TrainConfig(seed=7)
        db.fail_run(start(db, failed), "boom, with a comma")
        text = db.export("csv")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 3 + 3 + 1
        assert [r["epoch"] for r in rows[:3]] == ["1", "2", "3"]
        assert rows[0]["variant"] == "lenet5" and rows[3]["variant"] == "lenet5-bn"
        assert float(rows[2]["val_accuracy"]) == make_result(cfgs[0])["val_accuracy"][2]
        assert rows[-1]["status"] == "failed" and rows[-1]["epoch"] == "" and rows[-1]["message"] == "boom, with a comma"
        data = json.loads(db.export("json"))
        assert [d["variant"] for d in data] == ["lenet5", "lenet5-bn", "lenet5-bn"]
        assert len(data[0]["train_loss_per_batch"]) == 40 and data[0]["config"]["model"] == "lenet5"
        # Each item is a run's RunRecord.to_dict(): per-epoch lists, and it rebuilds the record.
        assert data[0]["val_accuracy"] == make_result(cfgs[0])["val_accuracy"]
        assert [RunRecord.from_dict(d) for d in data] == db.list_runs(full=True)
        with pytest.raises(ConfigError, match="unknown export format 'xml'; valid formats: csv, json"):
            db.export("xml")


def test_export_json_is_strict(db_path):
    cfg = TrainConfig()
    result = make_result(cfg, status="diverged", diagnostics={"g": float("nan")})
    result["train_loss_per_batch"][0] = float("inf")
    with ResultsDB(db_path) as db:
        db.finish_run(start(db, cfg), result)
        text = db.export("json")
    data = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert data[0]["train_loss_per_batch"][0] is None and data[0]["diagnostics"] == {"g": None}


def test_environment_is_recorded_with_the_run(db_path):
    cfg = TrainConfig(seed=1)
    env = {"kernels": {"used": False, "why": "no C compiler"}, "pooling": "avg_pool2d",
           "eval_bn_after_pool": True, "threads": 4, "torch": "2.13.0+cpu"}
    with ResultsDB(db_path) as db:
        rid = start(db, cfg)
        assert db.get_run(rid).environment == {}
        db.finish_run(rid, {**make_result(cfg), "environment": env})
    with ResultsDB(db_path, readonly=True) as db:
        rec = db.get_run(rid)
        assert rec.environment == env and rec.to_dict()["environment"] == env
        assert RunRecord.from_dict(rec.to_dict()).environment == env
        assert json.loads(db.export("json"))[0]["environment"] == env
        rows = list(csv.DictReader(io.StringIO(db.export("csv"))))
        assert [json.loads(r["environment"]) for r in rows] == [env] * 3 and rows[0]["message"] == ""
    with ResultsDB(db_path) as db:
        start(db, cfg)  # a redo forgets the old environment
        assert db.get_run(rid).environment == {}
        for bad, match in (([1], "environment must be a dict"), ({"x": object()}, "environment of run 1 is not JSON")):
            with pytest.raises(StoreError, match=match):
                db.finish_run(rid, {**make_result(cfg), "environment": bad})
        assert db.get_run(rid).status == "running"  # the refused writes changed nothing
        db.finish_run(rid, {k: v for k, v in make_result(cfg).items() if k != "environment"})  # an older worker's
        assert db.get_run(rid).environment == {} and db.get_run(rid).status == "done"


# -- damaged databases -----------------------------------------------------------------

def fill_db(path: Path) -> Path:
    """Two finished runs and a failed one, in study ``post``; the database closed (checkpointed)."""
    with ResultsDB(path) as db:
        for model in ("lenet5", "lenet5-bn"):
            c = TrainConfig(model=model, seed=1)
            db.finish_run(start(db, c, study="post"), make_result(c, diagnostics={"grad_norm": [0.5, 0.25]}))
        db.fail_run(start(db, TrainConfig(seed=5), study="post"), "boom")
    return path


@pytest.fixture()
def filled_db(db_path) -> Path:
    return fill_db(db_path)


def damage(path: Path, table: str, *, where: str = "header") -> None:
    """Write garbage into the middle of a closed database: into the b-tree page of ``table``.

    ``header`` overwrites the page header and cell pointers, so that every read of the table
    fails; ``cell`` overwrites the content of the page's first cell, which ``PRAGMA
    quick_check`` then reports in detail.
    """
    conn = sqlite3.connect(path)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        page_count = conn.execute("PRAGMA page_count").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    finally:
        conn.close()
    assert not Path(f"{path}-wal").exists()  # everything is in the main file
    assert 1 < root < page_count  # the middle of the file, not SQLite's header page
    offset = (root - 1) * page_size
    with open(path, "r+b") as fh:
        fh.seek(offset)
        header = fh.read(10)
        assert header[0] in (10, 13), "the helper expects a one-page (leaf) table"
        if where == "cell":
            offset += int.from_bytes(header[8:10], "big")  # a leaf's header is 8 bytes; then the cell pointers
        fh.seek(offset)
        fh.write(b"\xde\xad\xbe\xef" * 16)


def assert_damaged(exc: BaseException, path: Path) -> None:
    """The message names the file, says it is damaged and gives a way out, on one line."""
    msg = str(exc)
    assert isinstance(exc, StoreError), repr(exc)
    assert str(path) in msg and "damaged" in msg and "\n" not in msg, msg
    assert "backup" in msg and "run the study again" in msg and f"sqlite3 {path} .recover" in msg, msg


READS = {
    "list_runs": lambda db: db.list_runs(),
    "list_runs(full)": lambda db: db.list_runs(full=True),
    "get_run": lambda db: db.get_run(1),
    "studies": lambda db: db.studies(),
    "status_by_hash": lambda db: db.status_by_hash("post"),
    "pending": lambda db: db.pending("post", ["abc"]),
    "export csv": lambda db: db.export("csv"),
    "export json": lambda db: db.export("json"),
}
# The reads that cannot avoid each table's pages (``studies`` reads an index of runs).
READS_OF = {
    "runs": [name for name in READS if name != "studies"],
    "epochs": ["list_runs", "list_runs(full)", "get_run", "export csv", "export json"],
    "batch_losses": ["list_runs(full)", "get_run", "export json"],
    "diagnostics": ["list_runs(full)", "get_run", "export json"],
}


@pytest.mark.parametrize("readonly", [False, True], ids=["rw", "ro"])
@pytest.mark.parametrize("table", list(READS_OF))
def test_damaged_table_reads_raise_store_error(filled_db, table, readonly):
    damage(filled_db, table)
    raw = sqlite3.connect(filled_db)
    with pytest.raises(sqlite3.DatabaseError, match="malformed"):  # the damage is real
        raw.execute(f"SELECT * FROM {table}").fetchall()
    raw.close()
    with ResultsDB(filled_db, readonly=readonly) as db:
        for name in READS_OF[table]:
            with pytest.raises(StoreError) as info:
                READS[name](db)
            assert_damaged(info.value, filled_db)
        for name in set(READS) - set(READS_OF[table]):  # SQLite may not need the damaged page
            try:
                READS[name](db)
            except StoreError as exc:
                assert_damaged(exc, filled_db)


def test_damaged_table_writes_raise_store_error(filled_db):
    damage(filled_db, "runs")
    cfg = TrainConfig(seed=9)
    with ResultsDB(filled_db) as db:
        with pytest.raises(StoreError) as info:
            start(db, cfg, study="post")
        assert_damaged(info.value, filled_db)
    fill_db(filled_db.parent / "other.db")
    damage(filled_db.parent / "other.db", "epochs")
    with ResultsDB(filled_db.parent / "other.db") as db:
        with pytest.raises(StoreError) as info:
            db.finish_run(1, make_result(TrainConfig(model="lenet5", seed=1)))
        assert_damaged(info.value, filled_db.parent / "other.db")


@pytest.mark.parametrize("what", ["schema page", "meta"])
def test_damage_found_when_opening(filled_db, what):
    if what == "meta":
        damage(filled_db, "meta")
    else:
        with open(filled_db, "r+b") as fh:  # the b-tree header of page 1, after SQLite's file header
            fh.seek(100)
            fh.write(b"\xde\xad\xbe\xef" * 8)
    for readonly in (False, True):
        with pytest.raises(StoreError) as info:
            ResultsDB(filled_db, readonly=readonly)
        assert_damaged(info.value, filled_db)


def test_quick_check(filled_db):
    for readonly in (False, True):
        with ResultsDB(filled_db, readonly=readonly) as db:
            assert db.quick_check() is None
    damage(filled_db, "runs", where="cell")
    raw = sqlite3.connect(filled_db)
    problems = raw.execute("PRAGMA quick_check").fetchall()
    raw.close()
    assert problems != [("ok",)] and "page" in problems[0][0]
    with ResultsDB(filled_db, readonly=True) as db:
        with pytest.raises(StoreError) as info:
            db.quick_check()
    assert_damaged(info.value, filled_db)
    first = problems[0][0].split("\n")
    assert "quick_check" in str(info.value) and first[1] in str(info.value)  # the first problem, by SQLite


def test_quick_check_on_unreadable_structure(filled_db):
    damage(filled_db, "epochs")  # PRAGMA quick_check itself fails here: the page header is garbage
    with ResultsDB(filled_db) as db:
        with pytest.raises(StoreError) as info:
            db.quick_check()
    assert_damaged(info.value, filled_db)


# -- read-only media ---------------------------------------------------------------------

_ON_READONLY_MEDIA = 'mount --bind -o ro "$1" "$1" && shift && exec "$@"'


def on_readonly_media(folder: Path, *argv: str) -> subprocess.CompletedProcess:
    """Run ``argv`` with ``folder`` mounted read-only over itself, in a private mount namespace
    (as on a read-only share: root cannot write there either, unlike a chmod-ed folder)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        ["unshare", "--map-root-user", "--mount", "sh", "-c", _ON_READONLY_MEDIA, "sh", str(folder), *argv],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )


def needs_readonly_media(tmp_path) -> None:
    """Skip unless this machine lets an unprivileged process mount a folder read-only."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to simulate read-only media")
    probe = on_readonly_media(tmp_path, sys.executable, "-c",
                              "import os, sys; sys.exit(0 if not os.access(sys.argv[1], os.W_OK) else 1)",
                              str(tmp_path))
    if probe.returncode != 0:
        pytest.skip(f"cannot mount read-only in a user namespace here: {probe.stderr.strip()[:200]}")


READONLY_READER = textwrap.dedent("""
    import json, os, sys
    from normlab.experiments.store import ResultsDB, StoreError

    path = sys.argv[1]
    try:
        with ResultsDB(path, readonly=True) as db:
            db.quick_check()
            print(json.dumps({"runs": [[r.id, r.status, r.epochs_done] for r in db.list_runs(full=True)]}))
    except StoreError as exc:
        print(json.dumps({"error": str(exc)}))
    print(json.dumps(sorted(os.listdir(os.path.dirname(path)))))
""")


def read_on_readonly_media(path: Path) -> tuple[dict, list[str]]:
    proc = on_readonly_media(path.parent, sys.executable, "-c", READONLY_READER, str(path))
    assert proc.returncode == 0, proc.stderr
    result, files = proc.stdout.splitlines()
    return json.loads(result), json.loads(files)


def test_readonly_open_on_readonly_media(filled_db, tmp_path):
    needs_readonly_media(tmp_path)
    result, files = read_on_readonly_media(filled_db)
    assert result == {"runs": [[1, "done", 3], [2, "done", 3], [3, "failed", 0]]}
    assert files == ["normlab.db"]


def test_writing_on_readonly_media_is_a_store_error(filled_db, tmp_path):
    needs_readonly_media(tmp_path)
    code = ("import sys\nfrom normlab.experiments.store import ResultsDB, StoreError\n"
            "try:\n    ResultsDB(sys.argv[1])\nexcept StoreError as exc:\n    print(exc)\n")
    proc = on_readonly_media(filled_db.parent, sys.executable, "-c", code, str(filled_db))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert f"cannot open results database {filled_db} for writing" in proc.stdout
    assert "read-only" in proc.stdout and "readonly=True" in proc.stdout


def test_readonly_media_with_unmerged_wal_is_refused(filled_db, tmp_path):
    """A -wal file that still holds commits (the writer was killed, or is still running) cannot
    be read without a -shm file; reading the main file alone would silently miss those runs."""
    needs_readonly_media(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    cfg = TrainConfig(model="lenet5", seed=2)
    with ResultsDB(filled_db) as db:
        db.finish_run(start(db, cfg, study="post"), make_result(cfg))  # lands in the -wal file
        for name in ("normlab.db", "normlab.db-wal"):  # what a kill -9 now would leave, without -shm
            shutil.copy(filled_db.parent / name, copy / name)
    result, files = read_on_readonly_media(copy / "normlab.db")
    assert files == ["normlab.db", "normlab.db-wal"]
    msg = result["error"]
    assert str(copy / "normlab.db") in msg and "normlab.db-wal" in msg and "writable" in msg, msg
    # Where SQLite may create the -shm file, the same two files hold all four runs.
    writable = tmp_path / "writable"
    shutil.copytree(copy, writable)
    with ResultsDB(writable / "normlab.db", readonly=True) as db:
        assert [r.status for r in db.list_runs()] == ["done", "done", "failed", "done"]


def test_readonly_reader_sees_a_running_writer(db_path):
    """In a writable folder a read-only reader shares the writer's WAL (not a frozen snapshot)."""
    cfg = TrainConfig(model="lenet5", seed=1)
    with ResultsDB(db_path) as writer:
        writer.finish_run(start(writer, cfg), make_result(cfg))
        with ResultsDB(db_path, readonly=True) as reader:
            assert len(reader.list_runs()) == 1
            cfg2 = cfg.replace(seed=2)
            writer.finish_run(start(writer, cfg2), make_result(cfg2))
            assert len(reader.list_runs()) == 2


# -- crash safety ------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    from normlab.experiments.store import ResultsDB

    path, start = sys.argv[1], int(sys.argv[2])
    EPOCHS, N_TRAIN, N_VAL = 4, 3000, 500

    def result(i):
        return {
            "status": "diverged" if i % 7 == 3 else "done",
            "train_loss_per_batch": [i + k / N_TRAIN for k in range(N_TRAIN)],
            "val_loss_per_batch": [i + k / N_VAL for k in range(N_VAL)],
            "train_loss": [float(i)] * EPOCHS, "val_loss": [float(i)] * EPOCHS,
            "train_accuracy": [0.9] * EPOCHS, "val_accuracy": [0.5 + e / 10 for e in range(EPOCHS)],
            "epoch_seconds": [1.0] * EPOCHS, "train_seconds": [0.5] * EPOCHS,
            "images_per_second": [100.0] * EPOCHS, "diagnostics": {"i": i, "big": list(range(200))},
            "device": "cpu",
        }

    with ResultsDB(path) as db:
        for i in range(start, start + 100000):
            h = f"h{i:06d}"
            if not db.pending("kill", [h]):
                continue
            rid = db.start_run(study="kill", variant="v", seed=i, config={"i": i}, config_hash=h)
            if i % 5 == 4:
                db.fail_run(rid, "synthetic failure")
            else:
                db.finish_run(rid, result(i))
            print(i, flush=True)
""")


def _check_consistent(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        runs = conn.execute("SELECT id, seed, status FROM runs").fetchall()
        counts: dict[str, int] = {}
        for run_id, seed, status in runs:
            counts[status] = counts.get(status, 0) + 1
            n_epochs = conn.execute("SELECT COUNT(*) FROM epochs WHERE run_id = ?", (run_id,)).fetchone()[0]
            blobs = dict((s, (c, e, d)) for s, c, e, d in conn.execute(
                "SELECT split, count, encoding, data FROM batch_losses WHERE run_id = ?", (run_id,)))
            n_diag = conn.execute("SELECT COUNT(*) FROM diagnostics WHERE run_id = ?", (run_id,)).fetchone()[0]
            if status in ("done", "diverged"):
                assert n_epochs == 4 and n_diag == 2, (run_id, status, n_epochs, n_diag)
                assert set(blobs) == {"train", "val"}
                train = decode_losses(blobs["train"][2], blobs["train"][1], blobs["train"][0])
                assert len(train) == 3000 and train[0] == seed
                assert len(decode_losses(blobs["val"][2], blobs["val"][1], blobs["val"][0])) == 500
            else:
                assert (n_epochs, blobs, n_diag) == (0, {}, 0), (run_id, status)
        return counts
    finally:
        conn.close()


def _read_lines(proc: subprocess.Popen, n: int, deadline: float) -> int:
    """Read progress lines from the writer until ``n`` or the deadline; return how many."""
    got = 0
    while got < n and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.5)
        if ready:
            if not proc.stdout.readline():
                break
            got += 1
    return got


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_kill_minus_9_leaves_consistent_db(tmp_path):
    path = tmp_path / "normlab.db"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    committed = 0
    # Kills at different points of the write loop; each restart resumes the study.
    for delay in (0.0, 0.002, 0.005, 0.008, 0.011, 0.017):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), "0"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
        try:
            got = _read_lines(proc, 8, time.monotonic() + 60)
            assert got == 8, f"writer made no progress: {proc.stderr.read1(4000) if proc.poll() is not None else ''}"
            time.sleep(delay)  # land the kill somewhere inside a later transaction
            os.kill(proc.pid, signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
            proc.stdout.close()
            proc.stderr.close()
        counts = _check_consistent(path)
        finished = counts.get("done", 0) + counts.get("diverged", 0)
        assert finished > committed  # each round resumed and added results
        committed = finished
        assert counts.get("running", 0) <= 1  # at most the run the kill interrupted

    with ResultsDB(path) as db:  # reopens for writing after the kill
        statuses = db.status_by_hash("kill")
        todo = db.pending("kill", statuses)
        assert todo == {h for h, s in statuses.items() if s in ("running", "failed")}
        for h in todo:
            rid = db.start_run(study="kill", variant="v", seed=int(h[1:]), config={}, config_hash=h)
            db.fail_run(rid, "checked")
        assert db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_host_is_where_the_run_trained_not_the_driver(db_path):
    import socket

    cfg = TrainConfig(model="lenet5", seed=1)
    with ResultsDB(db_path) as db:
        rid = start(db, cfg)
        assert db.get_run(rid).host == socket.gethostname()  # started: the driver's machine
        db.finish_run(rid, make_result(cfg, epochs=1, host="ray-node-7"))
        assert db.get_run(rid).host == "ray-node-7"
        rid2 = start(db, cfg.replace(seed=2))
        db.finish_run(rid2, make_result(cfg.replace(seed=2), epochs=1))  # an older result without host
        assert db.get_run(rid2).host == socket.gethostname()
