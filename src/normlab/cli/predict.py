"""``normlab predict``: classify image files (digits, or articles for Fashion-MNIST) with a trained checkpoint."""

from __future__ import annotations

import sys


def _description() -> str:
    # Called only when this command's help is shown: normlab.predict imports torch.
    from normlab.predict import BLANK_RANGE, MAX_PIXELS

    return (f"Each image (PNG or JPEG, any size up to {MAX_PIXELS:,} pixels) is converted the way the model's "
            "dataset was made: EXIF orientation applied, grayscale (16-bit scaled to 8), then for MNIST fitted into "
            "20x20 and centred by mass in 28x28, for Fashion-MNIST trimmed and scaled to fill 28x28, then "
            "the model's input transform; Fashion-MNIST's class names are printed beside the class number. A transparent image whose colour is constant is read from its alpha "
            "channel (the ink); other transparent images are composited onto the paper --invert names. Exit "
            "status: 0, or 1 when a file failed or got a warning (nearly blank: grey levels spanning fewer than "
            f"{BLANK_RANGE} of 255; NaN probabilities), or 2 for a bad checkpoint.")


def register(subparsers) -> None:
    """Add the ``predict`` sub-command."""
    p = subparsers.add_parser("predict", help="classify image files (digits, or Fashion-MNIST's articles) with a checkpoint",
                              description=_description)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint file, or the folder normlab train or compare wrote (OUT/checkpoint.pt, "
                        "OUT/checkpoints/NAME.pt) (required)")
    p.add_argument("--model", default=None, metavar="NAME",
                   help="which checkpoint, when the folder holds several (e.g. compare's lenet5 and lenet5-bn): "
                        "the model it was trained as, or its file or folder name (default: the only one)")
    p.add_argument("--invert", action="store_true", help="dark ink on light paper (default: light on dark, as MNIST and Fashion-MNIST)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Print each file's predicted class and its probabilities; exit 1 if any file failed or got a warning."""
    from normlab.predict import find_checkpoint, load_model, predict_files

    model, config, stats = load_model(find_checkpoint(args.checkpoint, model=args.model))
    predictions = predict_files(model, args.images, transform=config.transform, head=config.resolved_head,
                                mean=stats.get("mean"), std=stats.get("std"), invert=args.invert,
                                dataset=config.dataset)
    status = 0
    for p in predictions:
        if p.error:
            status = 1
            print(f"normlab: error: {p.error}", file=sys.stderr)
            continue
        if p.warning:
            status = 1
            print(f"normlab: warning: {p.warning}", file=sys.stderr)
        probs = " ".join(f"{d}:{v:.3f}" for d, v in enumerate(p.probabilities))
        notes = f"  [{'; '.join(p.notes)}]" if p.notes else ""
        label = "?" if p.label is None else str(p.label)
        if p.name and p.name != label:  # Fashion-MNIST's classes have names; MNIST's are the digits
            label += f" ({p.name})"
        print(f"{p.path}: {label}  ({probs}){notes}")
    return status
