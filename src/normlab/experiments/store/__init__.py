"""The results database: every run of every study, in one SQLite file.

Workers train; the driver process alone writes into the database (``<out>/normlab.db`` by
default); the report and ``normlab runs`` read it.

Crash safety is the design constraint. Each write is one transaction in WAL mode, and a run's
epochs, per-batch losses, diagnostics and its change of status to ``done`` (or ``diverged``) are
written together in :meth:`ResultsDB.finish_run`: a process killed at any moment, ``kill -9``
included, leaves a database that opens, passes ``PRAGMA integrity_check``, and holds each run
either fully finished or not finished at all. A run left ``running`` by a kill, or ``failed``,
is redone by the next ``normlab study`` over the same folder; ``done`` and ``diverged`` runs are
results and are skipped. A run is identified by ``(study, config_hash)``. Runs are written and
read as :class:`~normlab.train.record.RunRecord`, the type :func:`~normlab.train.train` returns.

The tables and their versions are in :mod:`~normlab.experiments.store.schema`. A file of an
older schema version is upgraded, in one transaction, when it is opened for writing; opened
read-only it is read as it is. A file of a newer version is refused.

``synchronous=FULL``: SQLite's WAL default of ``NORMAL`` may lose the last commits to a power
cut; one fsync per finished run is cheap next to the training it records, so a run reported
``done`` stays done.

A file damaged on disk is reported, by every method that meets the damage, as a
:class:`StoreError` naming the file and the ways out.
"""

from normlab.experiments.store.db import EXPORT_FORMATS, ResultsDB, resolve_db_path
from normlab.experiments.store.losses import decode_losses, encode_losses
from normlab.experiments.store.schema import DB_FILENAME, RUN_STATUSES, SCHEMA_VERSION, StoreError
from normlab.train.record import FINISHED_STATUSES

__all__ = ["DB_FILENAME", "EXPORT_FORMATS", "FINISHED_STATUSES", "RUN_STATUSES", "SCHEMA_VERSION", "ResultsDB",
           "StoreError", "decode_losses", "encode_losses", "resolve_db_path"]
