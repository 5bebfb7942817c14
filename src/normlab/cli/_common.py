"""Arguments shared by the commands that train (train, compare, study).

The training flags are generated from :class:`~normlab.train.config.TrainConfig`'s fields: the
field's name in kebab case, its type, its choices and its help text all come from there, so a
field added to the config has a flag, and a help text or default is written once.
"""

from __future__ import annotations

import argparse
import dataclasses

from normlab.diagnostics import DEFAULT_EVERY, DESCRIPTIONS
from normlab.errors import ConfigError
from normlab.experiments.stats.records import DATASET_TARGETS
from normlab.train.config import TrainConfig, field_types


#: The end of --target's help text: the default is the dataset's own target.
TARGET_DEFAULTS = "(default: the dataset's: " + ", ".join(f"{v:g} for {k}" for k, v in DATASET_TARGETS.items()) + ")"


def positive_int(text: str) -> int:
    """argparse type for counts such as --workers: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


class Switch(argparse.Action):
    """An on/off flag: ``--name`` sets True, ``--no-name`` False."""

    def __init__(self, option_strings, dest, **kwargs):
        names = [*option_strings, *(f"--no-{o[2:]}" for o in option_strings if o.startswith("--"))]
        super().__init__(names, dest, nargs=0, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, not option_string.startswith("--no-"))

    def format_usage(self) -> str:
        return " | ".join(self.option_strings)


def train_fields(omit: tuple[str, ...] = ()) -> list[dataclasses.Field]:
    """The :class:`TrainConfig` fields that have a flag, less ``omit``."""
    return [f for f in dataclasses.fields(TrainConfig) if f.metadata["flag"] and f.name not in omit]


def add_train_args(parser: argparse.ArgumentParser, *, omit: tuple[str, ...] = ()) -> None:
    """Add a flag for every user-settable :class:`TrainConfig` field, and ``--data-dir``, ``--quiet``
    and the ``--record-*`` diagnostics; every help text ends with its default.

    ``omit`` names fields a command sets another way (study's ``--seeds`` and ``--variants``
    set ``seed`` and ``model``): a flag a command would ignore is better absent, so typing it is
    an error there.
    """
    g = parser.add_argument_group("training")
    for f in train_fields(omit):
        kind = field_types()[f.name][0]
        default = f.metadata["default_help"] or (("on" if f.default else "off") if kind is bool else f.default)
        flag, help_text = f"--{f.name.replace('_', '-')}", f"{f.metadata['help']} (default: {default})"
        kwargs = {"action": Switch} if kind is bool else {"type": kind, "choices": f.metadata["choices"]}
        g.add_argument(flag, default=f.default, help=help_text.replace("%", "%%"), **kwargs)
    g.add_argument("--data-dir", default=None,
                   help="folder with the dataset files (default: $NORMLAB_DATA/NAME/ or, for mnist, $NORMLAB_DATA "
                        "itself; then the cache; then download)")
    g.add_argument("--quiet", action="store_true", help="no progress bars or per-epoch lines (default: off)")
    d = parser.add_argument_group("diagnostics (opt-in measurements, stored in the results; see normlab.diagnostics)")
    for name, what in DESCRIPTIONS.items():
        d.add_argument(f"--record-{name.replace('_', '-')}", type=_every, nargs="?", const=DEFAULT_EVERY[name],
                       default=None, metavar="EVERY",
                       help=f"record {what} every EVERY steps and at step 0 (EVERY defaults to "
                            f"{DEFAULT_EVERY[name]}; 0 switches it off, e.g. a preset's) (default: off)")
    d.add_argument("--smoothness-direction", choices=("update", "gradient"), default=None,
                   help="walk along the optimizer's own update (0.25-2x its length) or along the gradient "
                        "(0.5-4x the learning rate, as Santurkar et al. with SGD); with --record-smoothness or "
                        "a preset that records it (default: update)")


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
    for name in DESCRIPTIONS:
        every = getattr(args, f"record_{name}", None)
        if every:
            out[name] = {"every": every}
    direction = getattr(args, "smoothness_direction", None)
    if direction:
        if "smoothness" not in out and not getattr(args, "preset", None):
            raise ConfigError("--smoothness-direction goes with --record-smoothness (or a preset that records it)")
        out.setdefault("smoothness", {})["direction"] = direction  # a preset fills in the schedule
    return out


def config_from_args(args: argparse.Namespace, **overrides) -> TrainConfig:
    """Build a :class:`TrainConfig` (types and ranges checked) from parsed arguments.

    Fields whose flag the command left out keep their defaults unless ``overrides`` set them.
    """
    fields = {f.name: getattr(args, f.name) for f in train_fields() if hasattr(args, f.name)}
    return TrainConfig(**{**fields, "diagnostics": diagnostics_from_args(args), **overrides})


def epoch_line(name: str, epoch: int, summary: dict[str, float]) -> str:
    """One summary line after an epoch, like the post's (``summary`` from ``RunRecord.epoch_summary``)."""
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


def run_line(outcome) -> str:
    """One line for a finished run of a study: its final and best accuracy, or why it failed or diverged."""
    extra = outcome.task.extra
    name = f"{extra.get('variant')} seed={extra.get('seed')}"
    if outcome.result is None:
        return f"{name}: failed: {outcome.error}"
    r = outcome.result
    if r.get("status") == "diverged":
        return f"{name}: diverged: {r.get('message')}"
    acc = r["val_accuracy"]
    test = f", test {r['test_accuracy'] * 100:.2f}%" if r.get("test_accuracy") is not None else ""
    return (f"{name}: final val {acc[-1] * 100:.2f}% (best {max(acc) * 100:.2f}%){test}, "
            f"{sum(r['epoch_seconds']):.1f}s")
