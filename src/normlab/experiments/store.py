"""The results database: every run of every study, in one SQLite file.

``normlab study`` (and later the Ray engine) trains in worker processes; the driver process
alone writes into the database, ``<out>/normlab.db`` by default. The report and
``normlab runs`` read it.

Crash safety is the design constraint. Each write is one transaction in WAL mode, and a run's
epochs, per-batch losses, diagnostics and its change of status to ``done`` (or ``diverged``) are
written together in :meth:`ResultsDB.finish_run`: a process killed at any moment, ``kill -9``
included, leaves a database that opens, passes ``PRAGMA integrity_check``, and holds each run
either fully finished or not finished at all. A run left ``running`` by a kill, or ``failed``,
is redone by the next ``normlab study`` over the same folder; ``done`` and ``diverged`` runs are
results and are skipped. A run is identified by ``(study, config_hash)``.

Schema (version :data:`SCHEMA_VERSION`, kept in ``PRAGMA user_version`` and the ``meta`` table):

- ``meta(key, value)``: ``schema_version``, ``created_by`` (the normlab version) and
  ``application`` (``normlab-results``).
- ``runs``: one row per run: config JSON and hash, variant, seed, status, times, environment,
  test metrics and divergence point.
- ``epochs``: one row per (run, epoch), epochs 1-based.
- ``batch_losses``: one row per (run, split), ``split`` being ``train`` or ``val``; ``data`` is
  the losses as little-endian float32 (``encoding`` ``f32le``), optionally zlib-compressed
  (``f32le+zlib``); ``count`` is the number of values.
- ``diagnostics``: one row per (run, name), the data as JSON text.

``synchronous=FULL``: SQLite's WAL default of ``NORMAL`` is as safe against a killed process
and stays consistent after a power cut, but may lose the last commits then. One fsync per
finished run costs milliseconds while a run costs seconds to hours of training, so normlab
pays it: a run reported ``done`` stays done. (``synchronous="NORMAL"`` is accepted for bulk
imports; ``benchmarks/bench_store.py`` measures both.)

A file damaged on disk or in a copy (garbage in its pages) is reported, by every method that
meets the damage, as a :class:`StoreError` naming the file and the ways out;
:meth:`ResultsDB.quick_check` looks for damage in the whole file, as ``normlab study`` does
before resuming. ``normlab runs`` and ``normlab report`` open the file read-only, which also
works on read-only media (see :class:`ResultsDB`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shlex
import socket
import sqlite3
import subprocess
import sys
import time
import zlib
from array import array
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

from normlab import __version__
from normlab.errors import ConfigError, NormlabError

SCHEMA_VERSION = 1
DB_FILENAME = "normlab.db"
APPLICATION = "normlab-results"
# "NLAB": marks the file as a normlab database in the SQLite header (PRAGMA application_id).
APPLICATION_ID = 0x4E4C4142
RUN_STATUSES = ("running", "done", "failed", "diverged")
FINISHED_STATUSES = ("done", "diverged")  # results, skipped on resume; a diverged run is a finding
EXPORT_FORMATS = ("csv", "json")
EPOCH_FIELDS = (
    "train_loss", "train_accuracy", "val_loss", "val_accuracy", "seconds", "train_seconds",
    "images_per_second",
)
# RunResult's per-epoch list for each epochs column.
_RESULT_EPOCH_KEYS = {
    "train_loss": "train_loss", "train_accuracy": "train_accuracy", "val_loss": "val_loss",
    "val_accuracy": "val_accuracy", "seconds": "epoch_seconds", "train_seconds": "train_seconds",
    "images_per_second": "images_per_second",
}
_SQLITE_MAGIC = b"SQLite format 3\x00"

_SCHEMA = f"""
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
_TABLES = ("meta", "runs", "epochs", "batch_losses", "diagnostics")


class StoreError(NormlabError, ValueError):
    """The results database is missing, unreadable, from another program or a newer normlab."""


@dataclass
class RunRecord:
    """One run as stored: identity, status, environment, metrics.

    Times are unix seconds. ``epochs`` holds one dict per finished epoch (``epoch`` is 1-based),
    with float metrics, NaN where a value was not finite or not recorded. The per-batch losses
    come back as float32 values (as stored); they and ``diagnostics`` are empty unless the
    record was read in full (:meth:`ResultsDB.get_run`, ``list_runs(full=True)``).
    """

    id: int
    study: str
    variant: str
    seed: int
    config: dict
    config_hash: str
    status: str
    started_at: float | None
    finished_at: float | None
    message: str
    normlab_version: str | None
    git_rev: str | None
    torch_version: str | None
    device: str | None
    host: str | None
    test_accuracy: float | None
    test_loss: float | None
    test_epoch: int | None
    val_split_name: str | None
    diverged_epoch: int | None
    diverged_batch: int | None
    epochs: list[dict] = field(default_factory=list)
    train_loss_per_batch: list[float] = field(default_factory=list)
    val_loss_per_batch: list[float] = field(default_factory=list)
    diagnostics: dict = field(default_factory=dict)

    def _column(self, name: str) -> list[float]:
        return [e[name] for e in self.epochs]

    @property
    def val_accuracy(self) -> list[float]:
        """Validation accuracy (fraction) per epoch."""
        return self._column("val_accuracy")

    @property
    def train_accuracy(self) -> list[float]:
        """Training accuracy (fraction) per epoch."""
        return self._column("train_accuracy")

    @property
    def val_loss(self) -> list[float]:
        """Mean validation loss per epoch."""
        return self._column("val_loss")

    @property
    def train_loss(self) -> list[float]:
        """Mean training loss per epoch."""
        return self._column("train_loss")

    @property
    def epoch_seconds(self) -> list[float]:
        """Wall seconds per epoch (training and evaluation)."""
        return self._column("seconds")

    @property
    def final_val_accuracy(self) -> float | None:
        """Validation accuracy after the last recorded epoch; None without epochs."""
        return self.epochs[-1]["val_accuracy"] if self.epochs else None

    @property
    def best_val_accuracy(self) -> float | None:
        """Best validation accuracy over the epochs (NaN ignored); None without a finite one."""
        finite = [a for a in self.val_accuracy if a is not None and math.isfinite(a)]
        return max(finite) if finite else None

    @property
    def wall_seconds(self) -> float | None:
        """Seconds from start to finish; None while unfinished."""
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at

    @property
    def finished(self) -> bool:
        """True for a result: status ``done`` or ``diverged``."""
        return self.status in FINISHED_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (the JSON export's item)."""
        return {
            name: getattr(self, name) for name in self.__dataclass_fields__  # keeps declaration order
        }

    def to_result_dict(self) -> dict[str, Any]:
        """The run in ``RunResult.to_dict()`` form, for code written against ``RunResult``.

        ``RunResult.from_dict(record.to_result_dict())`` rebuilds the result (read the record
        in full first to get the per-batch losses and diagnostics).
        """
        return {
            "config": self.config,
            "train_loss_per_batch": list(self.train_loss_per_batch),
            "val_loss_per_batch": list(self.val_loss_per_batch),
            **{key: self._column(col) for col, key in _RESULT_EPOCH_KEYS.items()},
            "val_split_name": self.val_split_name or "test",
            "test_accuracy": self.test_accuracy,
            "test_loss": self.test_loss,
            "test_epoch": self.test_epoch,
            "status": self.status,
            "message": self.message,
            "diverged_epoch": self.diverged_epoch,
            "diverged_batch": self.diverged_batch,
            "diagnostics": dict(self.diagnostics),
            "device": self.device or "cpu",
        }


def resolve_db_path(db_or_dir: str | os.PathLike) -> Path:
    """Return the database file named by ``db_or_dir``: the file itself, or ``<dir>/normlab.db``.

    Never creates anything: a missing file is a :class:`StoreError` naming the path.
    """
    path = Path(db_or_dir)
    if path.is_dir():
        db = path / DB_FILENAME
        if not db.is_file():
            raise StoreError(
                f"no results database in {path}: {db} does not exist "
                f"(pass the --out folder of a 'normlab study' or a {DB_FILENAME} file)"
            )
        return db
    if not path.exists():
        raise StoreError(
            f"{path} does not exist; pass a results database ({DB_FILENAME}) "
            "or the folder holding one (the --out folder of 'normlab study')"
        )
    if not path.is_file():
        raise StoreError(f"{path} is not a file or a folder holding {DB_FILENAME}")
    return path


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The git commit of normlab's source tree, or None (not a git checkout, or no git).

    Cached: the checkout does not move under a running driver, and one subprocess per run
    would be wasted time.
    """
    source = Path(__file__).resolve().parents[1]
    # An installed wheel may sit inside some unrelated repository (a project's .venv); its HEAD
    # says nothing about normlab's code.
    if {"site-packages", "dist-packages"} & set(source.parts):
        return None
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    rev = proc.stdout.strip()
    return rev if proc.returncode == 0 and rev else None


@lru_cache(maxsize=1)
def torch_version() -> str | None:
    """Torch's version, without importing torch when the driver has not (imports cost seconds)."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return getattr(torch, "__version__", None)
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


def encode_losses(values: Iterable[float], *, compress: bool = False) -> tuple[bytes, str, int]:
    """Pack losses as little-endian float32; return ``(data, encoding, count)``.

    Values beyond float32's range become +-inf, as a float32 tensor would hold them.
    """
    arr = array("f", values)
    if sys.byteorder == "big":
        arr.byteswap()
    data = arr.tobytes()
    if compress:
        return zlib.compress(data, 6), "f32le+zlib", len(arr)
    return data, "f32le", len(arr)


def decode_losses(data: bytes, encoding: str, count: int) -> list[float]:
    """Unpack what :func:`encode_losses` packed; a mismatch is a :class:`StoreError`."""
    if encoding == "f32le+zlib":
        try:
            data = zlib.decompress(data)
        except zlib.error as exc:
            raise StoreError(f"corrupt compressed batch losses: {exc}") from None
    elif encoding != "f32le":
        raise StoreError(f"unknown batch-loss encoding {encoding!r}; known: f32le, f32le+zlib")
    if len(data) != 4 * count:
        raise StoreError(f"batch-loss blob holds {len(data)} bytes, expected {4 * count} bytes for {count} values")
    arr = array("f")
    arr.frombytes(data)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr.tolist()


def _json_dumps(value: Any, what: str) -> str:
    try:
        # allow_nan: a diverged run's diagnostics hold inf/NaN, and Python reads them back.
        return json.dumps(value, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} is not JSON-serialisable: {exc}") from None


def _opt_float(value: Any, what: str) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise StoreError(f"{what} must be a number or None, got {value!r}") from None


def _opt_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise StoreError(f"{what} must be an integer or None, got {value!r}")
    return value


def _nan_if_none(value: float | None) -> float:
    # SQLite stores NaN as NULL; metrics come back as floats so that arithmetic on them works.
    return math.nan if value is None else value


def _finite_or_none(value: Any) -> Any:
    """Replace non-finite floats by None, recursively: strict JSON for other tools."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


_RUN_COLUMNS = (
    "id", "study", "variant", "seed", "config", "config_hash", "status", "started_at", "finished_at",
    "message", "normlab_version", "git_rev", "torch_version", "device", "host", "test_accuracy",
    "test_loss", "test_epoch", "val_split_name", "diverged_epoch", "diverged_batch",
)


class ResultsDB:
    """The results database of one or more studies (see the module docstring for the schema).

    Open it as a context manager; writes are single transactions and may be interrupted at
    any point. Only one process should write (the driver); any number may read.

    Args:
        path: the database file; created with its folder when missing and ``create`` is true.
        create: False makes a missing file a :class:`StoreError` instead of a new database.
        readonly: open for reading only; nothing is created, writes raise :class:`StoreError`.
            Works on read-only media too, where SQLite cannot create the ``-shm`` file that
            reading a WAL database needs: the file is then read as immutable, which is right
            because nobody can write there, unless a ``-wal`` file beside it still holds
            commits; that is a :class:`StoreError` rather than results with runs missing.
        compress: zlib-compress the per-batch losses (smaller file, slower writes).
        synchronous: ``"FULL"`` (default, a finished run survives a power cut) or ``"NORMAL"``.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        create: bool = True,
        readonly: bool = False,
        compress: bool = False,
        synchronous: str = "FULL",
    ):
        self.path = Path(path)
        self.readonly = readonly
        self.compress = compress
        if synchronous.upper() not in ("FULL", "NORMAL"):
            raise ConfigError(f"synchronous={synchronous!r} is invalid; valid: FULL, NORMAL")
        self._conn: sqlite3.Connection | None = None
        exists = self.path.exists()
        if exists and not self.path.is_file():
            raise StoreError(f"{self.path} is not a file (a results database is one {DB_FILENAME} file)")
        if not exists and (readonly or not create):
            raise StoreError(f"results database {self.path} does not exist")
        if exists:
            self._check_header()
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            if readonly:
                conn = self._connect_readonly()
            else:
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot open results database {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None
        self._conn = conn
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            if not readonly:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self.path}: cannot switch to WAL mode (journal_mode is {mode})")
                conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            self._check_or_create_schema(allow_create=create and not readonly)
        except sqlite3.OperationalError as exc:
            self.close()
            if readonly:
                raise StoreError(f"cannot read results database {self.path}: {exc}") from None
            raise StoreError(f"cannot open results database {self.path} for writing: {exc} (is its folder "
                             "read-only? Reading works there: ResultsDB(path, readonly=True))") from None
        except sqlite3.DatabaseError as exc:
            self.close()
            raise self._damaged(exc) from None
        except BaseException:
            self.close()
            raise

    # -- opening -------------------------------------------------------------------------

    def _connect_readonly(self) -> sqlite3.Connection:
        uri = self.path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA schema_version").fetchone()  # the first read opens the -shm file
            return conn
        except sqlite3.Error as exc:
            conn.close()
            if not isinstance(exc, sqlite3.OperationalError) or not (
                    "unable to open" in str(exc) or "readonly" in str(exc)):
                raise
        # Read-only media: no -shm can be created. immutable=1 reads the main file alone,
        # which misses any commits still in a -wal file, so those are refused, not hidden.
        wal = Path(f"{self.path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreError(
                f"cannot read results database {self.path} here: {wal.name} beside it may hold runs not yet "
                f"merged into {self.path.name}, and SQLite reads those only where it can create "
                f"{self.path.name}-shm. Copy both files to a writable folder and read them there"
            )
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)

    def _check_header(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise StoreError(f"cannot read results database {self.path}: {exc}") from None
        # An empty file is an empty SQLite database; anything else must carry SQLite's magic.
        if head and head != _SQLITE_MAGIC:
            raise StoreError(
                f"{self.path} is not a normlab results database (not an SQLite file); "
                f"pass the {DB_FILENAME} that 'normlab study' wrote"
            )

    def _check_or_create_schema(self, *, allow_create: bool) -> None:
        conn = self._conn
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            if not allow_create:
                raise StoreError(f"{self.path} is an empty database, not a normlab results database")
            with self._transaction():
                # Checked again under the write lock: another process may have created it.
                if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'").fetchone():
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.executemany(
                        "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                        [("schema_version", str(SCHEMA_VERSION)), ("created_by", __version__),
                         ("application", APPLICATION)],
                    )
                    # Both pragmas are transactional: the schema and its version land together.
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            return
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        meta: dict[str, str] = {}
        if "meta" in tables:
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            except sqlite3.OperationalError:  # another program's meta table (damage is not caught)
                meta = {}
        if app_id != APPLICATION_ID or meta.get("application") != APPLICATION:
            shown = ", ".join(sorted(tables)[:8])
            raise StoreError(
                f"{self.path} is an SQLite database but not a normlab results database "
                f"(its tables: {shown}); pass the {DB_FILENAME} that 'normlab study' wrote"
            )
        user_version = conn.execute("PRAGMA user_version").fetchone()[0]
        created_by = meta.get("created_by", "an unknown version")
        try:
            meta_version = int(meta.get("schema_version", ""))
        except ValueError:
            meta_version = None
        if user_version > SCHEMA_VERSION or (meta_version or 0) > SCHEMA_VERSION:
            version = max(user_version, meta_version or 0)
            raise StoreError(
                f"{self.path} has results schema version {version} (created by normlab {created_by}); "
                f"this normlab ({__version__}) reads schema version {SCHEMA_VERSION} at most. "
                "Upgrade normlab to read it."
            )
        if user_version != SCHEMA_VERSION or meta_version != SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has an unknown results schema (user_version {user_version}, "
                f"meta schema_version {meta.get('schema_version')!r}, created by normlab {created_by}); "
                f"this normlab ({__version__}) reads schema version {SCHEMA_VERSION}"
            )
        missing = [t for t in _TABLES if t not in tables]
        if missing:
            raise StoreError(
                f"{self.path} is a damaged normlab results database: table(s) {', '.join(missing)} missing"
            )

    # -- plumbing ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection (idempotent). SQLite checkpoints the WAL into the main file."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def __enter__(self) -> "ResultsDB":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResultsDB({str(self.path)!r})"

    @property
    def conn(self) -> sqlite3.Connection:
        """The underlying connection (for ad-hoc SQL); StoreError once closed."""
        if self._conn is None:
            raise StoreError(f"results database {self.path} is closed")
        return self._conn

    def _damaged(self, detail: object) -> StoreError:
        return StoreError(
            f"results database {self.path} is damaged ({detail}): restore it from a backup, or move it "
            f"away and run the study again; `sqlite3 {shlex.quote(str(self.path))} .recover` may salvage "
            "its rows"
        )

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, with SQLite's errors while reading turned into :class:`StoreError`."""
        try:
            yield self.conn
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot read results database {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:
                raise  # the subclasses are constraint and usage errors: normlab's, not the file's
            raise self._damaged(exc) from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE takes the write lock up front, so a busy
        database waits (up to the 30 s timeout) at the start instead of failing at COMMIT."""
        if self.readonly:
            raise StoreError(f"results database {self.path} was opened read-only")
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot write to results database {self.path}: {exc}") from None
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError):
                raise StoreError(f"cannot write to results database {self.path}: {exc}") from exc
            if type(exc) is sqlite3.DatabaseError:  # as in _reading
                raise self._damaged(exc) from exc
            raise

    def _run_exists(self, conn: sqlite3.Connection, run_id: int) -> None:
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise StoreError(f"no run with id {run_id} in {self.path}")

    # -- writing -------------------------------------------------------------------------

    def start_run(
        self, *, study: str, variant: str, seed: int, config: dict, config_hash: str,
        device: str | None = None,
    ) -> int:
        """Record that a run starts; return its id.

        A new ``(study, config_hash)`` inserts a row. An existing one (left ``running`` by a
        kill, ``failed``, or even finished: callers skip those with :meth:`pending`) is reset to
        ``running`` and its epochs, batch losses and diagnostics are deleted, in one transaction;
        it keeps its id.
        """
        if not isinstance(config, dict):
            raise StoreError(f"config must be a dict (TrainConfig.to_dict()), got {type(config).__name__}")
        for name, value in (("study", study), ("variant", variant), ("config_hash", config_hash)):
            if not isinstance(value, str) or not value:
                raise StoreError(f"{name} must be a non-empty string, got {value!r}")
        seed = _opt_int(seed, "seed")
        if seed is None:
            raise StoreError("seed must be an integer, got None")
        config_json = _json_dumps(config, "config")
        fields = {
            "variant": variant, "seed": seed, "config": config_json, "status": "running",
            "started_at": time.time(), "finished_at": None, "message": "",
            "normlab_version": __version__, "git_rev": git_revision(), "torch_version": torch_version(),
            "device": device, "host": socket.gethostname(), "test_accuracy": None, "test_loss": None,
            "test_epoch": None, "val_split_name": None, "diverged_epoch": None, "diverged_batch": None,
        }
        with self._transaction() as conn:
            row = conn.execute(
                "SELECT id FROM runs WHERE study = ? AND config_hash = ?", (study, config_hash)
            ).fetchone()
            if row is None:
                names = ["study", "config_hash", *fields]
                cur = conn.execute(
                    f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                    (study, config_hash, *fields.values()),
                )
                return int(cur.lastrowid)
            run_id = int(row[0])
            self._delete_children(conn, run_id)
            conn.execute(
                f"UPDATE runs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                (*fields.values(), run_id),
            )
            return run_id

    @staticmethod
    def _delete_children(conn: sqlite3.Connection, run_id: int) -> None:
        for table in ("epochs", "batch_losses", "diagnostics"):
            conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))

    def finish_run(self, run_id: int, result: dict) -> None:
        """Record a finished run's numbers and its status, all in ONE transaction.

        ``result`` is ``RunResult.to_dict()``; its ``status`` must be ``done`` or ``diverged``
        (a ``failed`` result is recorded as :meth:`fail_run` would). Writes the epochs, both
        per-batch loss blobs, the diagnostics, the test metrics, ``finished_at``, the device and host;
        any previous numbers of the run are replaced.
        """
        if not isinstance(result, dict):
            raise StoreError(f"result must be a dict (RunResult.to_dict()), got {type(result).__name__}")
        status = result.get("status")
        if status == "failed":
            self.fail_run(run_id, str(result.get("message") or "failed"))
            return
        if status not in FINISHED_STATUSES:
            raise StoreError(
                f"run {run_id}: cannot finish a result with status {status!r}; "
                f"valid: {', '.join(FINISHED_STATUSES)} (use fail_run for failures)"
            )
        # Everything is converted before the transaction: a bad value fails without touching
        # the database, and the write lock is held only for the inserts.
        epoch_rows = self._epoch_rows(run_id, result)
        blobs = []
        for split in ("train", "val"):
            key = f"{split}_loss_per_batch"
            try:
                data, encoding, count = encode_losses(result.get(key) or (), compress=self.compress)
            except (TypeError, ValueError, OverflowError) as exc:
                raise StoreError(f"run {run_id}: {key} must be a list of numbers: {exc}") from None
            blobs.append((run_id, split, count, encoding, data))
        diagnostics = result.get("diagnostics") or {}
        if not isinstance(diagnostics, dict):
            raise StoreError(f"run {run_id}: diagnostics must be a dict of name -> data, got {type(diagnostics).__name__}")
        diag_rows = [(run_id, str(name), _json_dumps(value, f"diagnostic {name!r} of run {run_id}"))
                     for name, value in diagnostics.items()]
        run_fields = {
            "status": status,
            "finished_at": time.time(),
            "message": str(result.get("message") or ""),
            "test_accuracy": _opt_float(result.get("test_accuracy"), "test_accuracy"),
            "test_loss": _opt_float(result.get("test_loss"), "test_loss"),
            "test_epoch": _opt_int(result.get("test_epoch"), "test_epoch"),
            "val_split_name": result.get("val_split_name"),
            "diverged_epoch": _opt_int(result.get("diverged_epoch"), "diverged_epoch"),
            "diverged_batch": _opt_int(result.get("diverged_batch"), "diverged_batch"),
        }
        for key in ("device", "host"):  # where it really ran (start_run wrote the driver's host)
            if result.get(key) is not None:
                run_fields[key] = str(result[key])
        with self._transaction() as conn:
            self._run_exists(conn, run_id)
            self._delete_children(conn, run_id)
            conn.executemany(
                f"INSERT INTO epochs (run_id, epoch, {', '.join(EPOCH_FIELDS)}) "
                f"VALUES ({', '.join('?' * (2 + len(EPOCH_FIELDS)))})",
                epoch_rows,
            )
            conn.executemany(
                "INSERT INTO batch_losses (run_id, split, count, encoding, data) VALUES (?, ?, ?, ?, ?)", blobs
            )
            conn.executemany("INSERT INTO diagnostics (run_id, name, data) VALUES (?, ?, ?)", diag_rows)
            conn.execute(
                f"UPDATE runs SET {', '.join(f'{k} = ?' for k in run_fields)} WHERE id = ?",
                (*run_fields.values(), run_id),
            )

    @staticmethod
    def _epoch_rows(run_id: int, result: dict) -> list[tuple]:
        lists = {}
        for column, key in _RESULT_EPOCH_KEYS.items():
            values = result.get(key) or []
            if not isinstance(values, (list, tuple)):
                raise StoreError(f"run {run_id}: {key} must be a list with one number per epoch, got {values!r}")
            lists[column] = [_opt_float(v, f"run {run_id}: {key}") for v in values]
        # A diverged run stops mid-epoch, so lists may be uneven: the longest sets the count.
        n = max((len(v) for v in lists.values()), default=0)
        return [
            (run_id, i + 1, *(lists[c][i] if i < len(lists[c]) else None for c in EPOCH_FIELDS))
            for i in range(n)
        ]

    def fail_run(self, run_id: int, message: str) -> None:
        """Mark a run ``failed`` with ``message``; it keeps no numbers and is redone on resume."""
        with self._transaction() as conn:
            self._run_exists(conn, run_id)
            self._delete_children(conn, run_id)
            conn.execute(
                "UPDATE runs SET status = 'failed', message = ?, finished_at = ? WHERE id = ?",
                (str(message), time.time(), run_id),
            )

    # -- reading -------------------------------------------------------------------------

    def quick_check(self) -> None:
        """Run ``PRAGMA quick_check``; a :class:`StoreError` naming the file and the first
        problems found unless SQLite answers ``ok``.

        It reads every page, so it finds damage anywhere in the file (it skips
        ``integrity_check``'s comparison of indexes with their tables). ``normlab study`` runs
        it before resuming, so that runs are not skipped on the word of a damaged file.
        """
        with self._reading() as conn:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)")]
        if rows != ["ok"]:
            lines = [line for row in rows for line in row.splitlines() if not line.startswith("***")]
            raise self._damaged(f"PRAGMA quick_check: {'; '.join(lines[:5])}")

    def status_by_hash(self, study: str) -> dict[str, str]:
        """``config_hash -> status`` for every run of ``study``."""
        with self._reading() as conn:
            return dict(conn.execute("SELECT config_hash, status FROM runs WHERE study = ?", (study,)).fetchall())

    def pending(self, study: str, hashes: Iterable[str]) -> set[str]:
        """Which of ``hashes`` still need running: unknown, ``running`` (interrupted) or ``failed``."""
        statuses = self.status_by_hash(study)
        return {h for h in hashes if statuses.get(h) not in FINISHED_STATUSES}

    def studies(self) -> list[str]:
        """The study names in the database, sorted."""
        with self._reading() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT study FROM runs ORDER BY study")]

    def list_runs(self, study: str | None = None, *, full: bool = False) -> list[RunRecord]:
        """Every run (of ``study`` if given), by id, with its epochs.

        ``full=False`` leaves out the per-batch losses and diagnostics, which are most of the
        bytes; the report's tables do not need them.
        """
        where, params = ("WHERE study = ?", (study,)) if study is not None else ("", ())
        return self._read(where, params, full=full)

    def get_run(self, run_id: int) -> RunRecord:
        """One run, in full; :class:`StoreError` if there is none with that id."""
        records = self._read("WHERE id = ?", (run_id,), full=True)
        if not records:
            raise StoreError(f"no run with id {run_id} in {self.path}")
        return records[0]

    def _read(self, where: str, params: tuple, *, full: bool) -> list[RunRecord]:
        with self._reading() as conn:
            # One read transaction: a concurrent writer cannot make runs and epochs disagree.
            own = not conn.in_transaction
            if own:
                conn.execute("BEGIN")
            try:
                return self._read_records(conn, where, params, full=full)
            finally:
                if own and conn.in_transaction:
                    conn.execute("ROLLBACK")  # it only read: nothing to keep

    def _read_records(self, conn: sqlite3.Connection, where: str, params: tuple, *, full: bool) -> list[RunRecord]:
        rows = conn.execute(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs {where} ORDER BY id", params)
        records: dict[int, RunRecord] = {}
        for row in rows.fetchall():
            data = dict(zip(_RUN_COLUMNS, row))
            try:
                data["config"] = json.loads(data["config"])
            except (TypeError, ValueError):
                raise self._damaged(f"run {data['id']} has an unreadable config") from None
            data["message"] = data["message"] or ""
            records[data["id"]] = RunRecord(**data)
        if not records:
            return []
        sub = f"SELECT id FROM runs {where}"
        for row in conn.execute(
            f"SELECT run_id, epoch, {', '.join(EPOCH_FIELDS)} FROM epochs "
            f"WHERE run_id IN ({sub}) ORDER BY run_id, epoch", params,
        ):
            epoch = {"epoch": row[1]}
            epoch.update(zip(EPOCH_FIELDS, (_nan_if_none(v) for v in row[2:])))
            records[row[0]].epochs.append(epoch)
        if full:
            for run_id, split, count, encoding, data in conn.execute(
                f"SELECT run_id, split, count, encoding, data FROM batch_losses WHERE run_id IN ({sub})",
                params,
            ):
                try:
                    values = decode_losses(data, encoding, count)
                except StoreError as exc:
                    raise StoreError(f"{self.path}: run {run_id}, {split} losses: {exc}") from None
                setattr(records[run_id], f"{split}_loss_per_batch", values)
            for run_id, name, data in conn.execute(
                f"SELECT run_id, name, data FROM diagnostics WHERE run_id IN ({sub}) ORDER BY run_id, name",
                params,
            ):
                try:
                    records[run_id].diagnostics[name] = json.loads(data)
                except (TypeError, ValueError):
                    raise self._damaged(f"run {run_id} has an unreadable diagnostic {name!r}") from None
        return list(records.values())

    # -- export --------------------------------------------------------------------------

    def export(self, fmt: str, study: str | None = None) -> str:
        """The runs (of ``study`` if given) as text.

        ``csv``: one row per (run, epoch) with the run's columns repeated (a run without epochs,
        failed or interrupted, gets one row with empty epoch columns); times are unix seconds.
        ``json``: a list of full run dicts (:meth:`RunRecord.to_dict`), per-batch losses and
        diagnostics included; non-finite numbers become null so any JSON reader accepts it.
        """
        if fmt not in EXPORT_FORMATS:
            raise ConfigError(f"unknown export format {fmt!r}; valid formats: {', '.join(EXPORT_FORMATS)}")
        if fmt == "json":
            runs = [_finite_or_none(r.to_dict()) for r in self.list_runs(study, full=True)]
            return json.dumps(runs, indent=1, allow_nan=False) + "\n"
        run_cols = [
            "run_id", "study", "variant", "seed", "status", "config_hash", "test_accuracy", "test_loss",
            "test_epoch", "val_split_name", "diverged_epoch", "diverged_batch", "started_at",
            "finished_at", "device", "host", "normlab_version", "git_rev", "torch_version", "message",
        ]
        header = run_cols[:6] + ["epoch", *EPOCH_FIELDS] + run_cols[6:]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for r in self.list_runs(study):
            run_values = {c: getattr(r, "id" if c == "run_id" else c) for c in run_cols}
            epochs = r.epochs or [None]
            for e in epochs:
                row = {**run_values, "epoch": "" if e is None else e["epoch"]}
                for name in EPOCH_FIELDS:
                    value = None if e is None else e[name]
                    row[name] = "" if value is None or math.isnan(value) else value
                writer.writerow(["" if row[c] is None else row[c] for c in header])
        return out.getvalue()
