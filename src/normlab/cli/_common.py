"""Arguments shared by the commands that train (train, compare, study)."""

from __future__ import annotations

import argparse

from normlab.diagnostics import DEFAULT_EVERY
from normlab.train import TrainConfig

_DEFAULTS = TrainConfig()


def positive_int(text: str) -> int:
    """argparse type for counts such as --workers: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_train_args(parser: argparse.ArgumentParser, *, model: bool = True, seed: bool = True) -> None:
    """Add the trainer's options; every help text ends with its default.

    ``model=False`` and ``seed=False`` leave out ``--model`` and ``--seed`` for commands that
    choose those another way (``--variants``, ``--seeds``): a flag a command would ignore is
    better absent, so typing it is an error there.
    """
    d = _DEFAULTS
    g = parser.add_argument_group("training")
    if model:
        g.add_argument("--model", default=d.model,
                       help=f"registry name, optionally with overrides such as lenet5:norm=group (default: {d.model})")
    g.add_argument("--protocol", choices=("standard", "blog"), default=d.protocol,
                   help="blog reproduces the post exactly, flaws included (default: %(default)s)")
    g.add_argument("--epochs", type=int, default=d.epochs, help="epochs (default: %(default)s)")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help="batch size (default: %(default)s)")
    g.add_argument("--lr", type=float, default=d.lr, help="learning rate (default: %(default)s)")
    g.add_argument("--optimizer", choices=("adam", "sgd"), default=d.optimizer, help="optimizer (default: %(default)s)")
    if seed:
        g.add_argument("--seed", type=int, default=d.seed,
                       help="seed for weights and data order (default: %(default)s)")
    g.add_argument("--transform", choices=("resize32", "pad32", "none"), default=d.transform,
                   help="input transform: the post resizes to 32x32 (default: %(default)s)")
    g.add_argument("--standardize", action="store_true",
                   help="z-score inputs with the training split's mean and std (default: off)")
    g.add_argument("--val-split", type=int, default=d.val_split,
                   help="hold out the last N training images for validation; test is then evaluated once "
                        "at the end (default: %(default)s, the post's protocol: test serves as validation)")
    g.add_argument("--subset", type=int, default=None,
                   help="train on the first N training images (default: all)")
    g.add_argument("--dataset", default=d.dataset, help="dataset name (default: %(default)s)")
    g.add_argument("--data-dir", default=None,
                   help="folder with the dataset files (default: $NORMLAB_DATA/NAME/ or, for mnist, $NORMLAB_DATA "
                        "itself; then the cache; then download)")
    g.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps (default: %(default)s)")
    g.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    g.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines (default: off)")
    d = parser.add_argument_group("diagnostics (opt-in measurements, stored in the results; see normlab.diagnostics)")
    for flag, what in _DIAGNOSTIC_FLAGS.items():
        d.add_argument(f"--record-{flag}", type=_every, nargs="?", const=DEFAULT_EVERY[flag.replace("-", "_")],
                       default=None, metavar="EVERY",
                       help=f"record {what} every EVERY steps and at step 0 (EVERY defaults to "
                            f"{DEFAULT_EVERY[flag.replace('-', '_')]}; 0 switches it off, e.g. a preset's) (default: off)")


_DIAGNOSTIC_FLAGS = {
    "activations": "the 15/50/85th percentiles, mean and std of the input to each nonlinearity",
    "smoothness": "the loss range, gradient predictiveness and beta-smoothness along the gradient "
                  "(9 forward/backward passes per record)",
    "grad-norms": "per-parameter gradient norms",
}


def _every(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number of steps >= 0 (0: off), got {text!r}")
    return value


def diagnostics_from_args(args: argparse.Namespace) -> dict:
    """``TrainConfig.diagnostics`` from the ``--record-*`` flags (a flag given as 0 is left out)."""
    out = {}
    for flag in _DIAGNOSTIC_FLAGS:
        name = flag.replace("-", "_")
        every = getattr(args, f"record_{name}", None)
        if every:
            out[name] = {"every": every}
    return out


def config_from_args(args: argparse.Namespace, **overrides) -> TrainConfig:
    """Build a validated :class:`TrainConfig` from parsed arguments."""
    fields = dict(
        model=getattr(args, "model", _DEFAULTS.model), dataset=args.dataset, protocol=args.protocol,
        optimizer=args.optimizer, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
        seed=getattr(args, "seed", _DEFAULTS.seed),
        transform=args.transform, standardize=args.standardize, val_split=args.val_split, subset=args.subset,
        device=args.device, threads=args.threads, diagnostics=diagnostics_from_args(args),
    )
    fields.update(overrides)
    return TrainConfig(**fields)


def epoch_line(name: str, epoch: int, summary: dict[str, float]) -> str:
    """One summary line after an epoch, like the post's (``summary`` from ``epoch_summary``)."""
    return (f"{name} epoch {epoch}: training_loss: {summary['train_loss']:.4f}  "
            f"training_accuracy: {summary['train_accuracy']:.3f}  validation_loss: {summary['val_loss']:.4f}  "
            f"validation_accuracy: {summary['val_accuracy']:.3f}  ({summary['seconds']:.1f}s, "
            f"{summary['images_per_second']:.0f} img/s)")


def format_table(rows: list[dict[str, str]], right: set[str] = frozenset()) -> str:
    """Align rows of equal keys as a plain-text table; columns named in ``right`` align right."""
    if not rows:
        return "(no rows)"
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in headers}

    def cell(h, v):
        return str(v).rjust(widths[h]) if h in right else str(v).ljust(widths[h])

    lines = ["  ".join(cell(h, h) for h in headers).rstrip(),
             "  ".join("-" * widths[h] for h in headers)]
    lines += ["  ".join(cell(h, r[h]) for h in headers).rstrip() for r in rows]
    return "\n".join(lines)
