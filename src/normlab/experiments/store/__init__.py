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
results and are skipped. A run is identified by ``(study, config_hash)``. Runs are written and
read as :class:`~normlab.train.record.RunRecord`, the type :func:`~normlab.train.train` returns.

Schema (version :data:`SCHEMA_VERSION`, kept in ``PRAGMA user_version`` and the ``meta`` table;
:mod:`~normlab.experiments.store.schema` has the tables):

- ``meta(key, value)``: ``schema_version``, ``created_by`` (the normlab version) and
  ``application`` (``normlab-results``).
- ``runs``: one row per run: config JSON and hash, variant, seed, status, times, where it ran
  (versions, device, host), its ``environment`` as JSON (what the CPU fast path did; since
  version 2), test metrics and divergence point.
- ``epochs``: one row per (run, epoch), epochs 1-based.
- ``batch_losses``: one row per (run, split), ``split`` being ``train`` or ``val``; ``data`` is
  the losses as little-endian float32 (``encoding`` ``f32le``), optionally zlib-compressed
  (``f32le+zlib``); ``count`` is the number of values.
- ``diagnostics``: one row per (run, name), the data as JSON text.

A file of an older schema version is upgraded when it is opened for writing, in one
transaction, so that a kill leaves it either upgraded or as it was; opened read-only it is read
as it is (the runs' ``environment`` then empty). A file of a newer version is refused.

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

from normlab.experiments.store.db import EXPORT_FORMATS, ResultsDB, resolve_db_path
from normlab.experiments.store.losses import decode_losses, encode_losses
from normlab.experiments.store.schema import DB_FILENAME, RUN_STATUSES, SCHEMA_VERSION, StoreError
from normlab.train.record import FINISHED_STATUSES

__all__ = ["DB_FILENAME", "EXPORT_FORMATS", "FINISHED_STATUSES", "RUN_STATUSES", "SCHEMA_VERSION", "ResultsDB",
           "StoreError", "decode_losses", "encode_losses", "resolve_db_path"]
