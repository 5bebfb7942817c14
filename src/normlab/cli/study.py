"""``normlab study``: variants x seeds, recorded in SQLite, with statistics and a report."""

from __future__ import annotations

import sys
from pathlib import Path

from tqdm.auto import tqdm

from normlab.cli._common import TARGET_DEFAULTS, add_train_args, config_from_args, positive_int, run_line
from normlab.errors import ConfigError
from normlab.experiments.engines.local import default_workers
from normlab.experiments.study import StudySpec, Variant, parse_seeds, run_study


def register(subparsers) -> None:
    """Add the ``study`` sub-command."""
    p = subparsers.add_parser(
        "study", help="run variants x seeds into a results database, then report",
        description="Run a grid of variants x paired seeds in worker processes. Results go to "
                    "OUT/normlab.db; running the same command again skips finished runs and redoes "
                    "interrupted or failed ones.")
    p.add_argument("--variants", nargs="+", default=None,
                   help="registry names or override strings such as lenet5:norm=group "
                        "(default: lenet5 lenet5-bn, or the preset's)")
    p.add_argument("--seeds", default="5", help="a count (5 = seeds 0-4), a list (0,3,7) or a range (default: %(default)s)")
    p.add_argument("--preset", default=None, help="a named ablation grid; see normlab study --list-presets (default: none)")
    p.add_argument("--list-presets", action="store_true", help="list the presets and exit")
    p.add_argument("--quick", action="store_true",
                   help="with --preset: fewer seeds, fewer epochs and a subset; the preset says what it trades away")
    p.add_argument("--name", default=None, help="study name inside the database (default: the preset's name or 'default')")
    p.add_argument("--out", default="runs/study", help="output folder for normlab.db, checkpoints and the report (default: %(default)s)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="local engine: worker processes, one torch thread each on the CPU (default: one per "
                        "core on the CPU, 1 with a GPU); ray engine: runs in flight (default: as many as the "
                        "cluster's free CPUs or GPUs fit)")
    p.add_argument("--engine", choices=("local", "ray"), default="local", help="where runs execute (default: %(default)s)")
    p.add_argument("--address", default=None, help="Ray cluster address, or 'auto' (default: $RAY_ADDRESS, else a local Ray)")
    p.add_argument("--gpus-per-run", type=float, default=0, help="GPUs each Ray task asks for (default: %(default)s)")
    p.add_argument("--target", type=float, default=None,
                   help=f"accuracy target (a fraction) for epochs-to-target in the report {TARGET_DEFAULTS}")
    p.add_argument("--no-report", action="store_true", help="skip writing OUT/report.html (default: write it)")
    p.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also write TensorBoard event files, one run folder per (variant, seed) (needs normlab[tensorboard])")
    add_train_args(p, omit=("model", "seed"))
    p.set_defaults(func=run)


def build_spec(args) -> StudySpec:
    """Turn the parsed arguments (and preset, if any) into a :class:`StudySpec`."""
    base = config_from_args(args)
    if args.preset:
        from normlab.experiments.presets import build_preset

        explicit = getattr(args, "typed", set())
        return build_preset(args.preset, base=base, quick=args.quick,
                            seeds=args.seeds if "seeds" in explicit else None,
                            variants=args.variants, name=args.name, explicit=explicit)
    if args.quick:
        raise ConfigError("--quick goes with --preset")
    variants = [Variant.parse(v) for v in (args.variants or ["lenet5", "lenet5-bn"])]
    return StudySpec(name=args.name or "default", variants=variants, seeds=parse_seeds(args.seeds), base=base)


def _print_presets() -> None:
    """Each preset's name, description, what ``--quick`` trades away and its times, in aligned, wrapped columns."""
    import shutil
    import textwrap

    from normlab.experiments.presets import PRESETS

    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 110))
    name_width = max(len(name) for name in PRESETS) + 2
    indent = " " * name_width
    print("Presets (normlab study --preset NAME [--quick]):\n")
    for name, preset in PRESETS.items():
        lines = textwrap.wrap(preset.description, width - name_width, break_on_hyphens=False) or [""]
        print(f"{name:<{name_width}}{lines[0]}")
        for line in lines[1:]:
            print(indent + line)
        for note in (preset.quick_note, preset.time_note):
            for line in textwrap.wrap(note, width - name_width, break_on_hyphens=False):
                print(indent + line)
        print()


def run(args) -> int:
    """Run the study with a live view; print the summary; write the report."""
    if args.list_presets:
        _print_presets()
        return 0
    if args.no_report and "target" in getattr(args, "typed", ()):
        raise ConfigError("--target sets the report's accuracy target; it has no effect with --no-report")
    spec = build_spec(args)
    engine, workers = _engine(args, spec)
    total = len(spec.configs())
    print(f"study {spec.name!r}: {len(spec.variants)} variant(s) x {len(spec.seeds)} seed(s) = {total} runs, "
          f"{spec.base.epochs} epoch(s) each, {spec.base.protocol} protocol -> {args.out}", flush=True)
    bar = tqdm(total=total, desc="runs", unit="run", disable=True if args.quiet else None, dynamic_ncols=True)

    def on_event(kind, payload, progress):
        if kind == "skip":
            bar.update(1)
        elif kind == "done":
            bar.update(1)
            if not args.quiet:
                bar.write(run_line(payload))
        bar.set_postfix(done=progress.done + progress.skipped, running=progress.running,
                        failed=progress.failed, diverged=progress.diverged)

    if args.tensorboard:
        from normlab.train.tensorboard import check_tensorboard

        check_tensorboard()
    outcome = run_study(spec, args.out, engine=engine, workers=workers, data_dir=args.data_dir, on_event=on_event,
                        tensorboard_dir=args.tensorboard)
    bar.close()
    p = outcome.progress
    print(f"{p.done} run(s) done, {p.skipped} skipped (already finished), {p.diverged} diverged, "
          f"{p.failed} failed in {outcome.seconds:.1f}s; database: {outcome.db_path}")
    if p.done + p.diverged + p.skipped == 0:
        # Every run failed (or none was pending): a report would hold nothing but its header.
        print("no run of this study has finished; no report written", file=sys.stderr)
        return 1
    if not args.no_report:
        from normlab.report import write_report

        path = write_report(outcome.db_path, Path(args.out) / "report.html", study=spec.name, target=args.target)
        print(f"report: {path}")
    return 1 if p.failed else 0


def _engine(args, spec: StudySpec):
    if args.engine == "ray":
        from normlab.experiments.engines.ray_engine import make_ray_engine

        return make_ray_engine(address=args.address, gpus_per_run=args.gpus_per_run), args.workers or 0
    if args.address or args.gpus_per_run:
        raise ConfigError("--address and --gpus-per-run go with --engine ray")
    return None, args.workers or default_workers(spec.base.device)
