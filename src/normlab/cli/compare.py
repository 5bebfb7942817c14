"""``normlab compare``: the main job. Plain LeNet-5 against LeNet-5 with BatchNorm, as in the post."""

from __future__ import annotations

import sys
from pathlib import Path

from normlab.cli._common import add_train_args, config_from_args, epoch_line
from normlab.experiments.compare import DEFAULT_MODELS, comparison_table, format_table, run_compare, write_outputs
from normlab.experiments.engines.local import default_workers


def register(subparsers) -> None:
    """Add the ``compare`` sub-command."""
    p = subparsers.add_parser(
        "compare", help="train lenet5 and lenet5-bn with the post's settings and compare them",
        description="Train the post's two networks (Adam 1e-3, batch 64, 10 epochs, MNIST resized to 32x32) "
                    "and write the post's figures, metrics.json and CSV files.")
    add_train_args(p, model=False)
    p.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS),
                   help="models to compare (default: %(default)s)")
    p.add_argument("--out", default="runs/compare", help="output folder (default: %(default)s)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel worker processes, one torch thread each; 1 trains the models in turn "
                        "with all threads (default: one per core on the CPU, 1 on a GPU)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Run the comparison, write the outputs, print the table."""
    base = config_from_args(args)
    workers = args.workers or default_workers(base.device)

    def on_done(outcome):
        if args.quiet:
            return
        if outcome.error:
            print(f"{outcome.task.key}: failed: {outcome.error}", file=sys.stderr)
            return
        from normlab.train import RunResult

        run_ = RunResult.from_dict(outcome.result)
        for epoch in range(1, run_.epochs_done + 1):
            print(epoch_line(outcome.task.key, epoch, run_))

    if not args.quiet:
        print(f"training {', '.join(args.models)} ({base.protocol} protocol, {base.epochs} epochs, "
              f"{workers} worker(s))...", flush=True)
    result = run_compare(base, args.models, workers=workers, data_dir=args.data_dir,
                         checkpoint_dir=Path(args.out) / "checkpoints", on_done=on_done)
    written = write_outputs(args.out, result)
    print()
    print(format_table(comparison_table(result)))
    print(f"\n{result.seconds:.1f}s; wrote {len(written)} files to {args.out}")
    return 1 if result.errors or any(r.status != "done" for r in result.results.values()) else 0
