"""The results database's file format: its tables, its versions and the upgrades between them.

A new database is made as version 1 and then upgraded, in the same transaction, by the same
statements that upgrade an old file, so a new file and an upgraded one cannot differ.
"""

from __future__ import annotations

import sqlite3
from dataclasses import fields

from normlab import __version__
from normlab.errors import NormlabError
from normlab.train.record import RunRecord

SCHEMA_VERSION = 2
DB_FILENAME = "normlab.db"
APPLICATION = "normlab-results"
# "NLAB": marks the file as a normlab database in the SQLite header (PRAGMA application_id).
APPLICATION_ID = 0x4E4C4142
RUN_STATUSES = ("running", "done", "failed", "diverged")
EPOCH_FIELDS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds", "train_seconds",
                "images_per_second")
# RunRecord's per-epoch list for each epochs column.
RESULT_EPOCH_KEYS = {f: "epoch_seconds" if f == "seconds" else f for f in EPOCH_FIELDS}
# The runs table's columns: RunRecord's fields but the per-epoch lists and what the other tables hold.
RUN_COLUMNS = tuple(f.name for f in fields(RunRecord) if f.name not in {
    *RESULT_EPOCH_KEYS.values(), "train_loss_per_batch", "val_loss_per_batch", "diagnostics"})
SQLITE_MAGIC = b"SQLite format 3\x00"
TABLES = ("meta", "runs", "epochs", "batch_losses", "diagnostics")

# Version 1, as the first normlab wrote it.
_VERSION_1 = f"""
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    study TEXT NOT NULL,
    variant TEXT NOT NULL,
    seed INTEGER NOT NULL,
    config_hash TEXT NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({", ".join(repr(s) for s in RUN_STATUSES)})),
    started_at REAL,
    finished_at REAL,
    message TEXT NOT NULL DEFAULT '',
    normlab_version TEXT,
    git_rev TEXT,
    torch_version TEXT,
    device TEXT,
    host TEXT,
    test_accuracy REAL,
    test_loss REAL,
    test_epoch INTEGER,
    val_split_name TEXT,
    diverged_epoch INTEGER,
    diverged_batch INTEGER,
    UNIQUE (study, config_hash)
);
CREATE TABLE IF NOT EXISTS epochs (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL CHECK (epoch >= 1),
    train_loss REAL,
    train_accuracy REAL,
    val_loss REAL,
    val_accuracy REAL,
    seconds REAL,
    train_seconds REAL,
    images_per_second REAL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS batch_losses (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    split TEXT NOT NULL CHECK (split IN ('train', 'val')),
    count INTEGER NOT NULL CHECK (count >= 0),
    encoding TEXT NOT NULL CHECK (encoding IN ('f32le', 'f32le+zlib')),
    data BLOB NOT NULL,
    UNIQUE (run_id, split)
);
CREATE TABLE IF NOT EXISTS diagnostics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
);
"""
# UPGRADES[v]: the statements that turn a version v - 1 database into version v.
UPGRADES = {
    # What the run's environment was (RunRecord.environment: the CPU fast path's choices), as JSON.
    2: ("ALTER TABLE runs ADD COLUMN environment TEXT NOT NULL DEFAULT '{}'",),
}


class StoreError(NormlabError, ValueError):
    """The results database is missing, unreadable, from another program or a newer normlab."""


def create(conn: sqlite3.Connection) -> None:
    """Create the tables of the current version in an empty database, in the caller's transaction."""
    for statement in _VERSION_1.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                     [("schema_version", "1"), ("created_by", __version__), ("application", APPLICATION)])
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    upgrade(conn, 1)


def upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Turn a database of schema ``version`` into the current one, in the caller's transaction.

    Every statement is transactional (the pragma too: it writes a header field of page 1), so a
    process killed before the commit, ``kill -9`` included, leaves the old version whole.
    """
    for target in range(version + 1, SCHEMA_VERSION + 1):
        for statement in UPGRADES.get(target, ()):
            conn.execute(statement)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def check(conn: sqlite3.Connection, path, tables: set[str]) -> int:
    """The schema version of the normlab database at ``path``, whose tables are ``tables``.

    Raises:
        StoreError: another program's database, a newer normlab's, an unknown or inconsistent
            version, or tables missing.
    """
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    meta: dict[str, str] = {}
    if "meta" in tables:
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError:  # another program's meta table (damage is not caught)
            meta = {}
    if app_id != APPLICATION_ID or meta.get("application") != APPLICATION:
        shown = ", ".join(sorted(tables)[:8])
        raise StoreError(f"{path} is an SQLite database but not a normlab results database "
                         f"(its tables: {shown}); pass the {DB_FILENAME} that 'normlab study' wrote")
    user_version = conn.execute("PRAGMA user_version").fetchone()[0]
    created_by = meta.get("created_by", "an unknown version")
    try:
        meta_version = int(meta.get("schema_version", ""))
    except ValueError:
        meta_version = None
    if user_version > SCHEMA_VERSION or (meta_version or 0) > SCHEMA_VERSION:
        version = max(user_version, meta_version or 0)
        raise StoreError(f"{path} has results schema version {version} (created by normlab {created_by}); "
                         f"this normlab ({__version__}) reads schema version {SCHEMA_VERSION} at most. "
                         "Upgrade normlab to read it.")
    if user_version != meta_version or user_version < 1:
        raise StoreError(f"{path} has an unknown results schema (user_version {user_version}, "
                         f"meta schema_version {meta.get('schema_version')!r}, created by normlab {created_by}); "
                         f"this normlab ({__version__}) reads schema versions 1 to {SCHEMA_VERSION}")
    missing = [t for t in TABLES if t not in tables]
    if missing:
        raise StoreError(f"{path} is a damaged normlab results database: table(s) {', '.join(missing)} missing")
    return user_version
