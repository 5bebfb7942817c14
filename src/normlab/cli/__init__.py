"""The ``normlab`` command line.

Each sub-command lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed arguments and returning an exit code. Modules are discovered, so adding a command
means adding a module. Printing happens here, at the edge; the library returns values.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import pkgutil
import sys

from normlab import __version__
from normlab.errors import NormlabError


class NormlabArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that takes flags only as typed, and names the closest valid one.

    Abbreviations are off (``--epoch 3`` must not become ``--epochs 3``). A description may be a
    function returning the text, for a command whose description needs a costly import: every
    ``normlab`` call builds all parsers. Sub-command parsers are of this class too, and each
    rejects its own unknown arguments, so the error shows the usage of the command typed.
    """

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def format_help(self) -> str:
        """The help text; a ``description`` given as a function is called now (see :mod:`normlab.cli.predict`)."""
        if callable(self.description):
            self.description = self.description()
        return super().format_help()

    def parse_known_args(self, args=None, namespace=None):
        """Parse like ``parse_args``: an unknown argument is an error here, with a suggestion."""
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}{self._suggestion(extras)}")
        return namespace, extras

    def _suggestion(self, extras: list[str]) -> str:
        valid = [o for o in self._option_string_actions if o.startswith("--")]
        for word in extras:
            if word.startswith("-"):
                close = difflib.get_close_matches(word.split("=", 1)[0], valid, n=1, cutoff=0.6)
                if close:
                    return f" (did you mean {close[0]}?)"
        return ""


def typed_options(parser: argparse.ArgumentParser, argv: list[str]) -> set[str]:
    """The ``dest`` names of the options in ``argv`` that the user typed, at any sub-command level.

    Decided by argparse itself, not by reading ``argv`` as text: ``parser`` is parsed again
    with every default suppressed, so only typed options land in the namespace (an option typed
    with its default value counts as typed).
    """
    saved = []
    for p in _all_parsers(parser):
        saved.append((p, p._defaults, [(a, a.default) for a in p._actions]))
        p._defaults = {}
        for action in p._actions:
            action.default = argparse.SUPPRESS
    try:
        namespace = parser.parse_args(argv)
    finally:
        for p, defaults, actions in saved:
            p._defaults = defaults
            for action, default in actions:
                action.default = default
    commands = {a.dest for p in _all_parsers(parser) for a in p._actions
                if isinstance(a, argparse._SubParsersAction)}
    return set(vars(namespace)) - commands


def _all_parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                yield from _all_parsers(sub)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every sub-command module registered."""
    parser = NormlabArgumentParser(prog="normlab",
                                   description="Understand and measure normalisation in convolutional networks.")
    parser.add_argument("--version", action="version", version=f"normlab {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


#: Commands that train in a pool of worker processes (on the CPU, by default).
_POOL_COMMANDS = ("compare", "study")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    if words and words[0] in _POOL_COMMANDS and not {"-h", "--help"} & set(words):
        # First thing: the workers' server then imports torch on another core while this
        # process parses and imports the command's own modules. Unused, it only costs that work.
        from normlab.experiments.engines.local import prestart_workers

        prestart_workers()
    # This process is the command's, and may train: see tune_malloc. (A Python user of
    # the library calls tune_malloc() themselves; the library never does it for them.)
    from normlab.train import tune_malloc

    tune_malloc()
    parser = build_parser()
    args = parser.parse_args(words)
    # So a command can tell which options were typed (a preset must not override those).
    args.typed = typed_options(parser, words)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except NormlabError as exc:
        print(f"normlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Pool commands keep every finished epoch and their database: say how to go on.
        resume = "; finished epochs are kept: run the same command again to resume" \
            if args.command in _POOL_COMMANDS else ""
        print(f"normlab: interrupted{resume}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
