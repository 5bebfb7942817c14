"""``normlab predict``: classify digit images with a trained checkpoint."""

from __future__ import annotations

import sys

from normlab.predict import load_model, predict_files


def register(subparsers) -> None:
    """Add the ``predict`` sub-command."""
    p = subparsers.add_parser(
        "predict", help="predict the digit in image files with a checkpoint",
        description="Each image (PNG or JPEG, any size) is converted the MNIST way: grayscale, fitted into "
                    "20x20, centred by mass in 28x28, then the model's input transform.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--checkpoint", required=True, help="checkpoint written by normlab train or compare")
    p.add_argument("--invert", action="store_true", help="dark digits on light paper (default: light on dark, as MNIST)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Print each file's predicted digit and its probabilities; exit 1 if any file failed."""
    model, config, stats = load_model(args.checkpoint)
    predictions = predict_files(model, args.images, transform=config.transform, head=config.resolved_head,
                                mean=stats.get("mean"), std=stats.get("std"), invert=args.invert)
    failed = 0
    for p in predictions:
        if p.error:
            failed += 1
            print(f"normlab: error: {p.error}", file=sys.stderr)
            continue
        probs = " ".join(f"{d}:{v:.3f}" for d, v in enumerate(p.probabilities))
        print(f"{p.path}: {p.label}  ({probs})")
    return 1 if failed else 0
