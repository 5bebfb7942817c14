"""The ``normlab`` command line.

Each sub-command lives in its own module in this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the
parsed arguments and returning an exit code. Modules are discovered, so adding a command
means adding a module. Printing happens here, at the edge; the library returns values.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from normlab import __version__
from normlab.errors import NormlabError


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every sub-command module registered."""
    parser = argparse.ArgumentParser(
        prog="normlab",
        description="Understand and measure normalisation in convolutional networks.",
    )
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
        # Before the imports below (seconds, torch among them): the workers' server then
        # imports torch on the other core meanwhile. Unused, it only costs that background work.
        from normlab.experiments.engines.local import prestart_workers

        prestart_workers()
    # This process is the command's, and may train: see normlab.train.malloc. (A Python user of
    # the library calls tune_malloc() themselves; the library never does it for them.)
    from normlab.train.malloc import tune_malloc

    tune_malloc()
    parser = build_parser()
    args = parser.parse_args(argv)
    # Kept so a command can tell which flags were typed (a preset must not override those).
    args.argv = words
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except NormlabError as exc:
        print(f"normlab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("normlab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
