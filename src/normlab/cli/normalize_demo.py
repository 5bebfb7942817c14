"""``normlab normalize-demo``: the post's figures of min-max and z-score normalisation."""

from __future__ import annotations

import json
from pathlib import Path

from normlab.errors import NormlabError, OutputError
from normlab.fileio import atomic_write_text
from normlab.normalize import normalize_demo, plot_normalize_demo

PNG_NAME = "normalize_demo.png"
JSON_NAME = "normalize_demo.json"
DEFAULT_OUT = "runs/normalize-demo"


def register(subparsers) -> None:
    """Add the ``normalize-demo`` sub-command."""
    p = subparsers.add_parser(
        "normalize-demo",
        help="histograms of random values before and after min-max and z-score normalisation",
        description="Draw random values in [0, 20) with a seeded numpy Generator, normalise them with "
                    "min-max and z-score, and write a PNG with the three histograms side by side "
                    f"({PNG_NAME}) and the values with their min, max, mean and std ({JSON_NAME}).",
    )
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for {PNG_NAME} and {JSON_NAME}, created if missing (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random values (default: %(default)s)")
    p.add_argument("--count", type=int, default=50, help="how many values to draw (default: %(default)s)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Compute the demo, write the JSON and the PNG into ``--out``, print their paths.

    Raises:
        ConfigError: a bad ``--seed`` or ``--count``.
        OutputError: ``--out`` cannot be created or written (a file in the way, permissions,
            a full disk).
    """
    result = normalize_demo(seed=args.seed, count=args.count)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    try:
        json_path = atomic_write_text(out / JSON_NAME, json.dumps(result, indent=1) + "\n")
        png_path = plot_normalize_demo(result, out / PNG_NAME)
    except NormlabError:
        raise
    except OSError as exc:
        raise OutputError(f"cannot write {exc.filename or out}: {exc.strerror or exc}") from None
    for name in ("original", "min_max", "z_score"):
        stats = "  ".join(f"{key} {round(result[name][key], 4) + 0.0:8.4f}" for key in ("min", "max", "mean", "std"))
        print(f"{name:>8}: {stats}")
    print(f"wrote {png_path} and {json_path}")
    return 0
