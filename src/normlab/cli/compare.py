"""``normlab compare``: the main job. Plain LeNet-5 against LeNet-5 with BatchNorm, as in the post."""

from __future__ import annotations

import sys
from pathlib import Path

from normlab.cli._common import add_train_args, config_from_args, epoch_line, format_table, positive_int, run_line
from normlab.errors import ConfigError
from normlab.experiments.compare import DEFAULT_MODELS, compare_folder, compare_spec, run_compare
from normlab.experiments.engines.local import default_workers


def register(subparsers) -> None:
    """Add the ``compare`` sub-command."""
    p = subparsers.add_parser(
        "compare", help="train lenet5 and lenet5-bn with the post's settings and compare them",
        description="Train the post's two networks (Adam 1e-3, batch 64, 10 epochs, MNIST resized to 32x32) "
                    "and write the post's figures, metrics.json and CSV files. The runs are recorded in "
                    "OUT/normlab.db: the same command again resumes an interrupted comparison and skips "
                    "finished runs.")
    add_train_args(p, omit=("model",))
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                   help="models to compare (default: %(default)s)")
    p.add_argument("--out", default="runs/compare", help="output folder (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true",
                   help="delete the results already in --out (another configuration's, or this one's) and train "
                        "again; files that compare did not write are never deleted (default: off: the same "
                        "command resumes, another configuration's results are an error)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="parallel worker processes, one torch thread each; 1 trains the models in turn "
                        "with all threads (default: one per core on the CPU, 1 on a GPU)")
    p.add_argument("--seeds", type=int, default=None,
                   help="N > 1 makes it a small study over seeds 0..N-1: results in OUT/normlab.db and "
                        "OUT/report.html with statistics and a verdict (default: one run per model)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run the comparison, write the outputs, print the table."""
    base = config_from_args(args)
    workers = args.workers or default_workers(base.device)
    if args.seeds is not None and args.seeds < 1:
        raise ConfigError(f"--seeds must be a positive count, got {args.seeds}")
    if args.seeds and args.seeds > 1:
        if "seed" in getattr(args, "typed", ()):
            raise ConfigError("--seed has no effect with --seeds N, which runs seeds 0..N-1; drop one of the two")
        return _run_study(args, base, workers)
    return _run_compare(args, base, workers)


def _run_compare(args, base, workers: int) -> int:
    def on_done(outcome):
        if outcome.error and not args.quiet:
            print(f"{outcome.task.extra['variant']}: failed: {outcome.error}", file=sys.stderr)
        # The first model to finish frees a core while the other still trains: import the
        # plotting code now rather than after the last run.
        import normlab.report.figures  # noqa: F401

    def on_epoch(model, epoch, summary):
        if not args.quiet:
            print(epoch_line(model, epoch, summary), flush=True)

    if not args.quiet:
        print(f"training {', '.join(args.models)} ({base.protocol} protocol, {base.epochs} epochs, "
              f"{workers} worker(s))...", flush=True)
    from normlab.report.exports import comparison_table, write_compare_outputs

    result = run_compare(base, args.models, out_dir=args.out, workers=workers, data_dir=args.data_dir,
                         overwrite=args.overwrite, on_done=on_done, on_epoch=on_epoch, export=write_compare_outputs)
    print()
    print(format_table(comparison_table(result)))
    earlier = (f" ({len(result.skipped)} run(s) finished earlier, not trained again; --overwrite trains them anew)"
               if result.skipped else "")
    print(f"\n{result.seconds:.1f}s{earlier}; wrote {len(result.written)} files to {args.out}")
    return 1 if result.errors or any(r.status != "done" for r in result.results.values()) else 0


def _run_study(args, base, workers: int) -> int:
    """``--seeds N``: the comparison as a paired-seed study with statistics and the report."""
    from normlab.experiments.study import run_study
    from normlab.report import load_report, save_report

    spec = compare_spec(base, args.models, seeds=args.seeds)
    if not args.quiet:
        print(f"study: {', '.join(args.models)} x {args.seeds} seeds ({base.protocol} protocol, "
              f"{base.epochs} epochs, {workers} worker(s))...", flush=True)

    def on_event(kind, payload, progress):
        if kind == "done" and not args.quiet:
            print(run_line(payload), flush=True)

    with compare_folder(args.out, spec, overwrite=args.overwrite, data_dir=args.data_dir):
        outcome = run_study(spec, args.out, workers=workers, data_dir=args.data_dir, on_event=on_event)
        # Built once: the page and the lines printed here are the same report.
        report = load_report(outcome.db_path, study=spec.name)
        path = save_report(report, Path(args.out) / "report.html")
    print()
    for line in report.headline:
        print(line)
    if report.headline_more:
        print(report.headline_more)
    for line in report.warnings:
        print(f"warning: {line}", file=sys.stderr)
    print(f"\n{outcome.seconds:.1f}s; database {outcome.db_path}; report {path}")
    return 1 if outcome.progress.failed else 0
