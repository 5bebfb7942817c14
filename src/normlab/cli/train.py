"""``normlab train``: one run, with checkpoints and ``--resume``."""

from __future__ import annotations

import sys
from pathlib import Path

from normlab.cli._common import add_train_args, config_from_args, epoch_line
from normlab.errors import ConfigError
from normlab.fileio import atomic_write_text, json_dumps
from normlab.train.callbacks import Callback


class _EpochPrinter(Callback):
    def __init__(self, name: str):
        self.name = name

    def on_epoch_end(self, epoch, result):
        print(epoch_line(self.name, epoch, result.epoch_summary(epoch)), flush=True)


def register(subparsers) -> None:
    """Add the ``train`` sub-command."""
    p = subparsers.add_parser("train", help="train one model, with checkpoints and resume",
                              description="Train one model. A checkpoint is written atomically at every "
                                          "epoch end; --resume continues it with identical results on the CPU.")
    add_train_args(p)
    p.add_argument("--out", default="runs/train", help="output folder (default: %(default)s)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.pt when it exists (default: start afresh)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Train, write ``checkpoint.pt`` and ``result.json`` into ``--out``, print one line per epoch."""
    from normlab.diagnostics import build_diagnostics
    from normlab.train import train
    from normlab.train.resolve import resolve

    config = resolve(config_from_args(args))
    out = Path(args.out)
    checkpoint = out / "checkpoint.pt"
    if checkpoint.exists() and not args.resume:
        raise ConfigError(f"{checkpoint} exists: pass --resume to continue it, or choose another --out")
    callbacks = [] if args.quiet else [_EpochPrinter(config.model)]
    callbacks += build_diagnostics(config.diagnostics)
    result = train(config, data_dir=args.data_dir, checkpoint_path=checkpoint, resume=args.resume,
                   callbacks=callbacks, progress=False if args.quiet else None)
    atomic_write_text(out / "result.json", json_dumps(result.to_dict()))
    if result.status != "done":
        print(f"normlab: run {result.status}: {result.message}", file=sys.stderr)
        return 1
    if result.test_accuracy is not None:
        print(f"test accuracy (weights of epoch {result.test_epoch}, best validation): "
              f"{result.test_accuracy * 100:.2f}%")
    print(f"wrote {checkpoint} and {out / 'result.json'}")
    return 0
