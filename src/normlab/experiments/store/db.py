"""The results database's connection: opening (and upgrading) a file, writing runs, reading them."""

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
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

from normlab import __version__
from normlab.errors import ConfigError
from normlab.experiments.store import schema
from normlab.fileio import json_dumps
from normlab.experiments.store.losses import decode_losses, encode_losses
from normlab.experiments.store.schema import DB_FILENAME, EPOCH_FIELDS, RESULT_EPOCH_KEYS, RUN_COLUMNS, StoreError
from normlab.train.record import FINISHED_STATUSES, RunRecord

EXPORT_FORMATS = ("csv", "json")
# The CSV's run columns: the first six come before the epoch columns, the others after them.
_CSV_RUN_COLUMNS = (
    "run_id", "study", "variant", "seed", "status", "config_hash", "test_accuracy", "test_loss",
    "test_epoch", "val_split_name", "diverged_epoch", "diverged_batch", "started_at",
    "finished_at", "device", "host", "normlab_version", "git_rev", "torch_version", "environment", "message",
)


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


def resolve_db_path(db_or_dir: str | os.PathLike) -> Path:
    """Return the database file named by ``db_or_dir``: the file itself, or ``<dir>/normlab.db``.

    Never creates anything: a missing file is a :class:`StoreError` naming the path.
    """
    path = Path(db_or_dir)
    if path.is_dir():
        db = path / DB_FILENAME
        if not db.is_file():
            raise StoreError(f"no results database in {path}: {db} does not exist "
                             f"(pass the --out folder of a 'normlab study' or a {DB_FILENAME} file)")
        return db
    if not path.exists():
        raise StoreError(f"{path} does not exist; pass a results database ({DB_FILENAME}) "
                         "or the folder holding one (the --out folder of 'normlab study')")
    if not path.is_file():
        raise StoreError(f"{path} is not a file or a folder holding {DB_FILENAME}")
    return path


@lru_cache(maxsize=1)
def git_revision() -> str | None:
    """The git commit of normlab's source tree, or None (not a git checkout, or no git); cached,
    as the checkout does not move under a running driver."""
    source = Path(__file__).resolve().parents[2]
    # An installed wheel may sit inside some unrelated repository (a project's .venv); its HEAD
    # says nothing about normlab's code.
    if {"site-packages", "dist-packages"} & set(source.parts):
        return None
    try:
        proc = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True, text=True, timeout=5,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    rev = proc.stdout.strip()
    return rev if proc.returncode == 0 and rev else None


@lru_cache(maxsize=1)
def torch_version() -> str | None:
    """Torch's version, without importing torch when the driver has not."""
    torch = sys.modules.get("torch")
    if torch is not None:
        return getattr(torch, "__version__", None)
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


class ResultsDB:
    """The results database of one or more studies (see :mod:`normlab.experiments.store`).

    Open it as a context manager; writes are single transactions and may be interrupted at
    any point. Only one process should write (the driver); any number may read.

    Args:
        path: the database file; created with its folder when missing and ``create`` is true.
        create: False makes a missing file a :class:`StoreError` instead of a new database.
        readonly: open for reading only; nothing is created or upgraded, writes raise
            :class:`StoreError`. On read-only media, where SQLite cannot create the ``-shm``
            file, the file is read as immutable, unless a ``-wal`` file beside it still holds
            commits: that is a :class:`StoreError` rather than results with runs missing.
        compress: zlib-compress the per-batch losses (smaller file, slower writes).
        synchronous: ``"FULL"`` (default, a finished run survives a power cut) or ``"NORMAL"``.

    ``schema_version`` is the version of the file as it is read.
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = True, readonly: bool = False,
                 compress: bool = False, synchronous: str = "FULL"):
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
        with self._errors(f"cannot open results database {self.path}"):
            if readonly:
                self._conn = self._connect_readonly()
            else:
                self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        hint = "" if readonly else (" (is its folder read-only? Reading works there: "
                                    "ResultsDB(path, readonly=True))")
        try:
            with self._errors(f"cannot read results database {self.path}" if readonly
                              else f"cannot open results database {self.path} for writing", hint):
                conn = self._conn
                conn.execute("PRAGMA foreign_keys = ON")
                if not readonly:
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                    if str(mode).lower() != "wal":
                        raise StoreError(f"{self.path}: cannot switch to WAL mode (journal_mode is {mode})")
                    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
                self.schema_version = self._open_schema(create=create and not readonly)
                # Columns a file of an older schema lacks read as NULL (so environment as {}).
                present = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
                self._run_select = ", ".join(c if c in present else f"NULL AS {c}" for c in RUN_COLUMNS)
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
            raise StoreError(f"cannot read results database {self.path} here: {wal.name} beside it may hold runs not "
                             f"yet merged into {self.path.name}, and SQLite reads those only where it can create "
                             f"{self.path.name}-shm. Copy both files to a writable folder and read them there")
        return sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None)

    def _check_header(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(len(schema.SQLITE_MAGIC))
        except OSError as exc:
            raise StoreError(f"cannot read results database {self.path}: {exc}") from None
        # An empty file is an empty SQLite database; anything else must carry SQLite's magic.
        if head and head != schema.SQLITE_MAGIC:
            raise StoreError(f"{self.path} is not a normlab results database (not an SQLite file); "
                             f"pass the {DB_FILENAME} that 'normlab study' wrote")

    def _tables(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _open_schema(self, *, create: bool) -> int:
        """Check the file's schema, creating it in an empty file or upgrading an older one
        when writing; return the version the file now has."""
        if not self._tables():
            if not create:
                raise StoreError(f"{self.path} is an empty database, not a normlab results database")
            with self._transaction() as conn:
                if not self._tables():  # again under the write lock: another process may have made them
                    schema.create(conn)
        version = schema.check(self.conn, self.path, self._tables())
        if version < schema.SCHEMA_VERSION and not self.readonly:
            with self._transaction() as conn:
                version = schema.check(conn, self.path, self._tables())  # again, under the write lock
                if version < schema.SCHEMA_VERSION:
                    schema.upgrade(conn, version)
            version = schema.SCHEMA_VERSION
        return version

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
        return StoreError(f"results database {self.path} is damaged ({detail}): restore it from a backup, or move "
                          f"it away and run the study again; `sqlite3 {shlex.quote(str(self.path))} .recover` may "
                          "salvage its rows")

    @contextmanager
    def _errors(self, what: str, hint: str = "") -> Iterator[None]:
        """SQLite's errors as :class:`StoreError`: ``WHAT: the error HINT``, or the file is damaged.

        The subclasses of ``DatabaseError`` other than ``OperationalError`` (constraint and usage
        errors) are normlab's, not the file's: they pass unchanged.
        """
        try:
            yield
        except sqlite3.OperationalError as exc:
            raise StoreError(f"{what}: {exc}{hint}") from None
        except sqlite3.DatabaseError as exc:
            if type(exc) is not sqlite3.DatabaseError:
                raise
            raise self._damaged(exc) from None

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, with SQLite's errors while reading turned into :class:`StoreError`."""
        with self._errors(f"cannot read results database {self.path}"):
            yield self.conn

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: BEGIN IMMEDIATE takes the write lock up front, so a busy
        database waits (up to the 30 s timeout) at the start instead of failing at COMMIT."""
        if self.readonly:
            raise StoreError(f"results database {self.path} was opened read-only")
        conn = self.conn
        with self._errors(f"cannot write to results database {self.path}"):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _run_exists(self, conn: sqlite3.Connection, run_id: int) -> None:
        if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is None:
            raise StoreError(f"no run with id {run_id} in {self.path}")

    @staticmethod
    def _update(conn: sqlite3.Connection, run_id: int, fields: dict[str, Any]) -> None:
        conn.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                     (*fields.values(), run_id))

    # -- writing -------------------------------------------------------------------------

    def start_run(self, *, study: str, variant: str, seed: int, config: dict, config_hash: str,
                  device: str | None = None) -> int:
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
            "environment": "{}",
        }
        with self._transaction() as conn:
            row = conn.execute("SELECT id FROM runs WHERE study = ? AND config_hash = ?",
                               (study, config_hash)).fetchone()
            if row is None:
                names = ["study", "config_hash", *fields]
                cur = conn.execute(f"INSERT INTO runs ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                                   (study, config_hash, *fields.values()))
                return int(cur.lastrowid)
            run_id = int(row[0])
            self._delete_children(conn, run_id)
            self._update(conn, run_id, fields)
            return run_id

    @staticmethod
    def _delete_children(conn: sqlite3.Connection, run_id: int) -> None:
        for table in ("epochs", "batch_losses", "diagnostics"):
            conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))

    def finish_run(self, run_id: int, result: RunRecord | dict) -> None:
        """Record a finished run's numbers and its status, all in ONE transaction.

        ``result`` is what :func:`~normlab.train.train` returned, or its ``to_dict()`` (as
        workers send it); its ``status`` must be ``done`` or ``diverged`` (a ``failed`` result
        is recorded as :meth:`fail_run` would). Writes the epochs, both per-batch loss blobs,
        the diagnostics, the test metrics, ``finished_at``, the device, host and environment (a
        dict; none is recorded as empty); any previous numbers of the run are replaced. Its
        identity fields are the store's and are not read.
        """
        if isinstance(result, RunRecord):
            result = result.to_dict()
        if not isinstance(result, dict):
            raise StoreError(f"result must be a RunRecord or its to_dict(), got {type(result).__name__}")
        status = result.get("status")
        if status == "failed":
            self.fail_run(run_id, str(result.get("message") or "failed"))
            return
        if status not in FINISHED_STATUSES:
            raise StoreError(f"run {run_id}: cannot finish a result with status {status!r}; "
                             f"valid: {', '.join(FINISHED_STATUSES)} (use fail_run for failures)")
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
        diagnostics, environment = (result.get(key) or {} for key in ("diagnostics", "environment"))
        for key, value, valid in (("diagnostics", diagnostics, "a dict of name -> data"),
                                  ("environment", environment, "a dict (RunRecord.environment)")):
            if not isinstance(value, dict):
                raise StoreError(f"run {run_id}: {key} must be {valid}, got {type(value).__name__}")
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
            "environment": _json_dumps(environment, f"environment of run {run_id}"),
        }
        for key in ("device", "host"):  # where it really ran (start_run wrote the driver's host)
            if result.get(key) is not None:
                run_fields[key] = str(result[key])
        with self._transaction() as conn:
            self._run_exists(conn, run_id)
            self._delete_children(conn, run_id)
            conn.executemany(f"INSERT INTO epochs (run_id, epoch, {', '.join(EPOCH_FIELDS)}) "
                             f"VALUES ({', '.join('?' * (2 + len(EPOCH_FIELDS)))})", epoch_rows)
            conn.executemany("INSERT INTO batch_losses (run_id, split, count, encoding, data) VALUES (?, ?, ?, ?, ?)",
                             blobs)
            conn.executemany("INSERT INTO diagnostics (run_id, name, data) VALUES (?, ?, ?)", diag_rows)
            self._update(conn, run_id, run_fields)

    @staticmethod
    def _epoch_rows(run_id: int, result: dict) -> list[tuple]:
        lists = {}
        for column, key in RESULT_EPOCH_KEYS.items():
            values = result.get(key) or []
            if not isinstance(values, (list, tuple)):
                raise StoreError(f"run {run_id}: {key} must be a list with one number per epoch, got {values!r}")
            lists[column] = [_opt_float(v, f"run {run_id}: {key}") for v in values]
        # A diverged run stops mid-epoch, so lists may be uneven: the longest sets the count.
        n = max((len(v) for v in lists.values()), default=0)
        return [(run_id, i + 1, *(lists[c][i] if i < len(lists[c]) else None for c in EPOCH_FIELDS))
                for i in range(n)]

    def fail_run(self, run_id: int, message: str) -> None:
        """Mark a run ``failed`` with ``message``; it keeps no numbers and is redone on resume."""
        with self._transaction() as conn:
            self._run_exists(conn, run_id)
            self._delete_children(conn, run_id)
            self._update(conn, run_id, {"status": "failed", "message": str(message), "finished_at": time.time()})

    # -- reading -------------------------------------------------------------------------

    def quick_check(self) -> None:
        """Run ``PRAGMA quick_check`` (every page is read); a :class:`StoreError` naming the file and
        the first problems found unless SQLite answers ``ok``. ``normlab study`` runs it before
        resuming, so that runs are not skipped on the word of a damaged file.
        """
        with self._reading() as conn:
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)")]
        if rows != ["ok"]:
            lines = [line for row in rows for line in row.splitlines() if not line.startswith("***")]
            raise self._damaged(f"PRAGMA quick_check: {'; '.join(lines[:5])}")

    def set_study_info(self, study: str, info: dict[str, Any]) -> None:
        """Keep what describes ``study`` as a whole (its preset, whether it was a ``--quick`` grid)
        in the ``meta`` table, as JSON under ``study:<name>``; replaces what was there."""
        text = json.dumps(info, sort_keys=True)
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (f"study:{study}", text))

    def study_info(self, study: str) -> dict[str, Any]:
        """What :meth:`set_study_info` kept for ``study``; empty when nothing was (older databases)."""
        with self._reading() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (f"study:{study}",)).fetchone()
        try:
            info = json.loads(row[0]) if row else {}
        except ValueError:
            raise self._damaged(f"meta entry study:{study} is not JSON") from None
        return info if isinstance(info, dict) else {}

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
        rows = conn.execute(f"SELECT {self._run_select} FROM runs {where} ORDER BY id", params)
        records: dict[int, RunRecord] = {}
        for row in rows.fetchall():
            data = dict(zip(RUN_COLUMNS, row))
            if data["environment"] is None:  # a file of schema 1, read as it is
                data["environment"] = "{}"
            for key in ("config", "environment"):
                try:
                    data[key] = json.loads(data[key])
                except (TypeError, ValueError):
                    raise self._damaged(f"run {data['id']} has an unreadable {key}") from None
            data["message"] = data["message"] or ""
            records[data["id"]] = RunRecord(**data)
        if not records:
            return []
        sub = f"SELECT id FROM runs {where}"
        lists = [RESULT_EPOCH_KEYS[c] for c in EPOCH_FIELDS]
        for row in conn.execute(f"SELECT run_id, {', '.join(EPOCH_FIELDS)} FROM epochs WHERE run_id IN ({sub}) "
                                "ORDER BY run_id, epoch", params):
            # SQLite stores NaN as NULL; metrics come back as floats so that arithmetic on them works.
            for key, v in zip(lists, row[1:]):
                getattr(records[row[0]], key).append(math.nan if v is None else v)
        if full:
            for run_id, split, count, encoding, data in conn.execute(
                    f"SELECT run_id, split, count, encoding, data FROM batch_losses WHERE run_id IN ({sub})", params):
                try:
                    values = decode_losses(data, encoding, count)
                except StoreError as exc:
                    raise StoreError(f"{self.path}: run {run_id}, {split} losses: {exc}") from None
                setattr(records[run_id], f"{split}_loss_per_batch", values)
            for run_id, name, data in conn.execute(
                    f"SELECT run_id, name, data FROM diagnostics WHERE run_id IN ({sub}) ORDER BY run_id, name",
                    params):
                try:
                    records[run_id].diagnostics[name] = json.loads(data)
                except (TypeError, ValueError):
                    raise self._damaged(f"run {run_id} has an unreadable diagnostic {name!r}") from None
        return list(records.values())

    # -- export --------------------------------------------------------------------------

    def export(self, fmt: str, study: str | None = None) -> str:
        """The runs (of ``study`` if given) as text.

        ``csv``: one row per (run, epoch) with the run's columns repeated (a run without epochs,
        failed or interrupted, gets one row with empty epoch columns); times are unix seconds, the
        environment is JSON text. ``json``: a list of full run dicts (:meth:`RunRecord.to_dict`),
        per-batch losses and diagnostics included; non-finite numbers become null so any JSON reader
        accepts it.
        """
        if fmt not in EXPORT_FORMATS:
            raise ConfigError(f"unknown export format {fmt!r}; valid formats: {', '.join(EXPORT_FORMATS)}")
        if fmt == "json":
            return json_dumps([r.to_dict() for r in self.list_runs(study, full=True)]) + "\n"
        header = [*_CSV_RUN_COLUMNS[:6], "epoch", *EPOCH_FIELDS, *_CSV_RUN_COLUMNS[6:]]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        for r in self.list_runs(study):
            run_values = {c: getattr(r, "id" if c == "run_id" else c) for c in _CSV_RUN_COLUMNS}
            run_values["environment"] = json.dumps(r.environment, sort_keys=True)
            for i in range(r.epochs_done) or [None]:
                row = {**run_values, "epoch": "" if i is None else i + 1}
                for name in EPOCH_FIELDS:
                    value = None if i is None else getattr(r, RESULT_EPOCH_KEYS[name])[i]
                    row[name] = "" if value is None or math.isnan(value) else value
                writer.writerow(["" if row[c] is None else row[c] for c in header])
        return out.getvalue()
