"""``normlab runs``: look into a results database (list, show one run, export)."""

from __future__ import annotations

import json
import math
import shlex
import sys
import time

from normlab.cli._common import format_table
from normlab.errors import ConfigError
from normlab.experiments.store import DB_FILENAME, EXPORT_FORMATS, ResultsDB, resolve_db_path
from normlab.fileio import atomic_write_text

DEFAULT_DB = "runs/study"


def register(subparsers) -> None:
    """Add the ``runs`` sub-command and its actions."""
    p = subparsers.add_parser(
        "runs", help="list, show and export the runs in a results database",
        description=f"Read the results database that 'normlab study' writes ({DB_FILENAME} in its --out "
                    "folder). Nothing here creates or changes a database.")
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    db_help = (f"the results database, or the folder holding {DB_FILENAME} "
               f"(default: {DEFAULT_DB})")

    ls = actions.add_parser("list", help="one line per run", description="One line per run, oldest first.")
    ls.add_argument("db", nargs="?", default=DEFAULT_DB, metavar="DB_OR_DIR", help=db_help)
    ls.add_argument("--study", default=None, help="only this study's runs (default: all studies)")
    ls.set_defaults(func=run_list)

    show = actions.add_parser("show", help="one run in detail: config, environment, epochs",
                              description="One run in detail: config, environment and per-epoch metrics.")
    show.add_argument("db", nargs="?", default=DEFAULT_DB, metavar="DB_OR_DIR", help=db_help)
    # A string, so that the old order (ID first) gets an error that shows the new one.
    show.add_argument("id", metavar="ID", help="the run's id, as 'normlab runs list' prints it")
    show.set_defaults(func=run_show)

    export = actions.add_parser(
        "export", help="write the runs as CSV (one row per run and epoch) or JSON (everything)",
        description="CSV has one row per (run, epoch) with the run's columns; JSON has every run in full, "
                    "per-batch losses and diagnostics included.")
    export.add_argument("db", nargs="?", default=DEFAULT_DB, metavar="DB_OR_DIR", help=db_help)
    export.add_argument("--format", choices=EXPORT_FORMATS, default="csv",
                        help="output format (default: %(default)s)")
    export.add_argument("--study", default=None, help="only this study's runs (default: all studies)")
    export.add_argument("--out", default=None, help="file to write, atomically (default: standard output)")
    export.set_defaults(func=run_export)

    p.set_defaults(func=lambda args: _usage(p))


def _usage(parser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _open(db_or_dir: str) -> ResultsDB:
    # Read-only: a typo leaves no empty database behind, and read-only media work.
    return ResultsDB(resolve_db_path(db_or_dir), readonly=True)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _run_id(args) -> int:
    """The ID argument of ``runs show``, or a ConfigError that shows the right order."""
    run_id = _int(args.id)
    if run_id is not None:
        return run_id
    if _int(args.db) is not None:
        folder, run_id = args.id, args.db  # typed in the old order
        raise ConfigError(f"'runs show' takes the folder first, then the run id: normlab runs show "
                          f"{shlex.quote(folder)} {run_id} (the order changed to match 'runs list' and 'runs export')")
    raise ConfigError(f"run ID must be an integer, got {args.id!r}; "
                      f"`normlab runs list {shlex.quote(args.db)}` prints the ids")


def _pct(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{100 * value:.2f}"


def _num(value: float | None, fmt: str = ".4f") -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def run_list(args) -> int:
    """Print one line per run."""
    with _open(args.db) as db:
        runs = db.list_runs(args.study)
        path = db.path
    if not runs:
        print(f"no runs in {path}" + (f" for study {args.study!r}" if args.study else ""))
        return 0
    rows = [{
        "id": r.id, "study": r.study, "variant": r.variant, "seed": r.seed, "status": r.status,
        "epochs": r.epochs_done, "final val %": _pct(r.final_val_accuracy),
        "best val %": _pct(r.best_val_accuracy), "seconds": _num(r.wall_seconds, ".1f"),
        "finished": _when(r.finished_at),
    } for r in runs]
    print(format_table(rows, right={"id", "seed", "epochs", "final val %", "best val %", "seconds"}))
    counts = {}
    for r in runs:
        counts[r.status] = counts.get(r.status, 0) + 1
    print(f"\n{len(runs)} run(s): " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 0


def run_show(args) -> int:
    """Print one run: identity, environment, config, epochs."""
    run_id = _run_id(args)
    with _open(args.db) as db:
        r = db.get_run(run_id)
    print(f"run {r.id}: study {r.study!r}, variant {r.variant!r}, seed {r.seed}")
    print(f"status:      {r.status}" + (f" ({r.message})" if r.message else ""))
    if r.diverged_epoch is not None:
        batch = f", batch {r.diverged_batch}" if r.diverged_batch is not None else ""
        print(f"diverged at: epoch {r.diverged_epoch}{batch}")
    print(f"started:     {_when(r.started_at)}")
    print(f"finished:    {_when(r.finished_at)}" + (f" ({r.wall_seconds:.1f}s)" if r.wall_seconds is not None else ""))
    print(f"config hash: {r.config_hash}")
    print("\nenvironment:")
    for name in ("normlab_version", "git_rev", "torch_version", "device", "host"):
        print(f"  {name:<16} {getattr(r, name) or '-'}")
    for key, value in r.environment.items():  # what the CPU fast path did (normlab.fast)
        print(f"  {key:<16} {json.dumps(value)}")
    print("\nconfig:")
    for key, value in r.config.items():
        print(f"  {key:<16} {json.dumps(value)}")
    if r.epochs_done:
        print("\nepochs:")
        rows = [{
            "epoch": i, "train loss": _num(e["train_loss"]), "train acc %": _pct(e["train_accuracy"]),
            "val loss": _num(e["val_loss"]), "val acc %": _pct(e["val_accuracy"]),
            "seconds": _num(e["seconds"], ".1f"), "img/s": _num(e["images_per_second"], ".0f"),
        } for i, e in enumerate(map(r.epoch_summary, range(1, r.epochs_done + 1)), 1)]
        print(format_table(rows, right=set(rows[0])))
    if r.test_accuracy is not None:
        print(f"\ntest: accuracy {_pct(r.test_accuracy)}%, loss {_num(r.test_loss)} (evaluated once, with the "
              f"weights of epoch {r.test_epoch}, best on the {r.val_split_name!r} split)")
    print(f"\nper-batch losses: {len(r.train_loss_per_batch)} train, {len(r.val_loss_per_batch)} val")
    if r.diagnostics:
        print(f"diagnostics: {', '.join(sorted(r.diagnostics))}")
    return 0


def run_export(args) -> int:
    """Write the export to --out (atomically) or standard output."""
    with _open(args.db) as db:
        text = db.export(args.format, args.study)
    if args.out is None:
        sys.stdout.write(text)
    else:
        atomic_write_text(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
