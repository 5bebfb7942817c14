"""Ablation presets: named grids of variants x seeds for ``normlab study --preset NAME``.

Each preset builds a :class:`~normlab.experiments.study.StudySpec` that runs like any study:
the same results database, statistics and report, whose sections read what the grid varies
from the runs' configs (see :mod:`normlab.report.sections.ablations`).

========================= ==================================================================
preset                    grid
========================= ==================================================================
``blog``                  lenet5, lenet5-bn under the post's protocol (flaws included)
``lr-sweep``              lenet5, lenet5-bn over a log grid of learning rates (SGD with
                          momentum, as Bjorck et al. 2018)
``batch-size``            no norm, batch, group and layer norm over batch sizes 2 ... 128,
                          learning rate held fixed (SGD with momentum, as Wu & He 2018)
``batch-size-scaled``     the same with Wu & He's linear scaling rule, lr = base lr x batch / 64
``placement``             a plain control, and batch norm after / before the activation, conv
                          layers only / also the fully-connected layers
``noisy-bn``              plain, batch norm (after and before the activation) and noisy batch
                          norm (Santurkar et al. 2018)
``mode-bug``              lenet5-bn (and lenet5 as a control) under the post's protocol and
                          the standard one
``d2l``                   d2l's BNLeNet against the same sigmoid LeNet without batch norm, with
                          the chapter's settings (Fashion-MNIST, plain SGD at 0.1, batch 128)
``lecun``                 lenet5, lenet5-bn in 10 epochs against LeCun et al.'s (1998) 0.95%
                          MNIST test error: their padded input, a held-out validation split, a
                          cosine-annealed rate, the test set evaluated once
``input-norm``            lenet5, lenet5-bn on raw, min-max scaled and z-scored inputs, on MNIST
                          and Fashion-MNIST: does batch norm make input normalisation unnecessary?
========================= ==================================================================

``--quick`` trades seeds, epochs and images for time; each preset's :attr:`Preset.quick_note`
says what it gives up. A preset whose paper trained with a particular optimizer uses it by
default (:attr:`Preset.optimizers`); ``--optimizer adam`` keeps the post's Adam, with its own grid.
The presets that record activations contain a network with batch norm before the activation (a
nonlinearity whose input is a batch-norm output, as in Ioffe & Szegedy's figure 1) and the plain
network of the same architecture, so the report's activation reading has something to test. Training flags the user typed (``explicit``) are never overridden: a
preset's base setting yields to them, and a flag that contradicts what the grid varies (``--lr``
with ``lr-sweep``) is an error rather than silently ignored.

The times each preset states (:attr:`Preset.full_time`, :attr:`Preset.quick_time`) are wall
times of the whole command with one worker per core on the 2-core CPU machine the project is
developed on, measured end to end unless they say "estimated" (benchmarks/RESULTS.md, "Preset
times", has the commands and loads). A busy machine takes up to twice as long.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from normlab.diagnostics import validate_diagnostics
from normlab.errors import ConfigError
# TRAINS_ACCURACY lives in stats (no torch import), so the report can read the same value cheaply;
# it is re-exported here because the lr-sweep preset is what it judges.
from normlab.experiments.stats import TRAINS_ACCURACY
from normlab.experiments.study import StudySpec, Variant, parse_seeds
from normlab.train import TrainConfig
from normlab.train.config import INPUT_NORM_NAMES
from normlab.train.resolve import resolve

__all__ = [
    "ADAM_LRS",
    "BATCH_SIZES",
    "PRESETS",
    "Preset",
    "PresetGrid",
    "SGD_BASE_LR",
    "SGD_LRS",
    "SGD_MOMENTUM",
    "TRAINS_ACCURACY",
    "build_preset",
    "list_presets",
]

#: Learning rates of ``lr-sweep`` with Adam (the post's optimizer): 1e-4 ... 3e-2, x3 / x3.3 apart.
ADAM_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
#: Learning rates of ``lr-sweep`` with SGD, whose useful rates are about 10x Adam's.
SGD_LRS = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0)
#: Momentum of the presets' SGD: Bjorck et al. (2018) follow the ResNet paper's SGD with momentum
#: 0.9, and so do Wu & He (2018).
SGD_MOMENTUM = 0.9
#: The batch-size presets' SGD rate per REFERENCE_BATCH images, chosen for LeNet-5 so that every
#: batch size of the fixed-rate sweep trains (Wu & He's 0.1 per 32 images is a ResNet-50 rate).
SGD_BASE_LR = 0.01
#: Batch sizes of ``batch-size``, as in Wu & He (2018, figure 1): 2 ... 128 images per batch.
BATCH_SIZES = (2, 4, 8, 16, 32, 64, 128)
#: The batch size at which ``batch-size-scaled`` uses the base learning rate (the post's).
REFERENCE_BATCH = 64

QUICK_IMAGES = 10_000


@dataclass
class PresetGrid:
    """What a preset's ``build`` returns: the variants, the default seed count, base settings."""

    variants: list[Variant]
    seeds: int
    base: dict[str, Any] = field(default_factory=dict)  # config fields, unless the user typed them
    #: Variant fields computed from the user's base value (batch-size-scaled's lr), so typing
    #: that flag sets the value they are computed from rather than conflicting with them.
    derived: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Preset:
    """A named ablation grid.

    ``build(base, quick)`` returns the :class:`PresetGrid` for a base config (the user's, with
    the preset's optimizer settings applied); ``description`` is the one-line summary
    ``normlab study --list-presets`` prints, ``quick_note`` what ``--quick`` gives up,
    ``full_time`` and ``quick_time`` the wall times on the 2-core machine (:attr:`time_note`
    words them). ``optimizers`` maps
    each optimizer to the settings the preset gives it (the first is the default, the paper's);
    empty: the base config's optimizer and settings as they are.
    """

    name: str
    description: str
    build: Callable[[TrainConfig, bool], PresetGrid]
    quick_note: str = ""
    full_time: str = ""
    quick_time: str = ""
    optimizers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def time_note(self) -> str:
        """The preset's wall times on 2 cores, for ``--list-presets``."""
        return f"Wall time on 2 cores: {self.full_time} in full, {self.quick_time} with --quick."


def _models(names: Sequence[str]) -> list[Variant]:
    return [Variant.parse(n) for n in names]


def _quick(quick: bool, full: dict[str, Any], fast: dict[str, Any]) -> dict[str, Any]:
    return {**full, **fast} if quick else dict(full)


def _blog(base: TrainConfig, quick: bool) -> PresetGrid:
    return PresetGrid(_models(["lenet5", "lenet5-bn"]), 2 if quick else 5,
                      _quick(quick, {"protocol": "blog", "epochs": 10}, {"epochs": 3, "subset": QUICK_IMAGES}))


def sweep_lrs(optimizer: str) -> tuple[float, ...]:
    """The learning-rate grid of ``lr-sweep`` for ``optimizer``."""
    return SGD_LRS if optimizer == "sgd" else ADAM_LRS


def _lr_sweep(base: TrainConfig, quick: bool) -> PresetGrid:
    variants = [Variant(f"{m} lr={lr:g}", {"model": m, "lr": lr})
                for m in ("lenet5", "lenet5-bn") for lr in sweep_lrs(base.optimizer)]
    return PresetGrid(variants, 2 if quick else 3,
                      _quick(quick, {"epochs": 10}, {"epochs": 2, "subset": QUICK_IMAGES}))


_NORM_MODELS = ("lenet5", "lenet5-bn", "lenet5-gn", "lenet5-ln")


def _batch_size(scaled: bool) -> Callable[[TrainConfig, bool], PresetGrid]:
    def build(base: TrainConfig, quick: bool) -> PresetGrid:
        variants = []
        for m in _NORM_MODELS:
            for bs in BATCH_SIZES:
                overrides: dict[str, Any] = {"model": m, "batch_size": bs}
                if scaled:
                    overrides["lr"] = base.lr * bs / REFERENCE_BATCH
                variants.append(Variant(f"{m} bs={bs}", overrides))
        return PresetGrid(variants, 2 if quick else 3,
                          _quick(quick, {"epochs": 5}, {"epochs": 1, "subset": 4096}),
                          derived=frozenset({"lr"}) if scaled else frozenset())

    return build


def _placement(base: TrainConfig, quick: bool) -> PresetGrid:
    # lenet5 is the plain control the activation reading needs: the same network without batch norm.
    return PresetGrid(
        _models(["lenet5", "lenet5-bn", "lenet5-bn-before", "lenet5-bn-all", "lenet5-bn-before-all"]),
        2 if quick else 5,
        _quick(quick, {"epochs": 10, "diagnostics": {"activations": {"every": 100}}},
               {"epochs": 2, "subset": QUICK_IMAGES, "diagnostics": {"activations": {"every": 20}}}))


def _noisy_bn(base: TrainConfig, quick: bool) -> PresetGrid:
    full = {"activations": {"every": 100}, "smoothness": {"every": 100}}
    fast = {"activations": {"every": 20}, "smoothness": {"every": 20}}
    # lenet5-bn-before feeds its nonlinearities batch-norm outputs (the post's lenet5-bn never
    # does), so the activation reading can test Ioffe & Szegedy's figure against lenet5.
    return PresetGrid(_models(["lenet5", "lenet5-bn", "lenet5-noisy-bn", "lenet5-bn-before"]), 2 if quick else 5,
                      _quick(quick, {"epochs": 10, "diagnostics": full},
                             {"epochs": 2, "subset": QUICK_IMAGES, "diagnostics": fast}))


def _mode_bug(base: TrainConfig, quick: bool) -> PresetGrid:
    # lenet5 has no layer that behaves differently in eval mode, so its blog - standard gap is
    # what the protocol's other differences (no shuffling, softmax into the loss) cost; the
    # report subtracts it from lenet5-bn's gap to isolate the eval-mode training.
    variants = [Variant(f"{m} {p}", {"model": m, "protocol": p})
                for m in ("lenet5-bn", "lenet5") for p in ("standard", "blog")]
    return PresetGrid(variants, 2 if quick else 5,
                      _quick(quick, {"epochs": 10}, {"epochs": 3, "subset": QUICK_IMAGES}))


# d2l.FashionMNIST(batch_size=128) at 28x28, Trainer(max_epochs=10), init_cnn. The chapter's SGD is in the
# preset's optimizers instead, so that a typed --optimizer adam keeps Adam's own learning rate.
_D2L = {"dataset": "fashion-mnist", "transform": "none", "batch_size": 128, "epochs": 10, "init": "d2l"}


def _d2l(base: TrainConfig, quick: bool) -> PresetGrid:
    return PresetGrid(_models(["lenet5-d2l", "lenet5-d2l-bn"]), 2 if quick else 5,
                      _quick(quick, _D2L, {"epochs": 3, "subset": QUICK_IMAGES}))


#: LeCun et al.'s (1998) input and an honest test: the 28x28 digits padded to 32x32 (pad32), z-scored as their
#: scaling (background -0.1, foreground 1.175) roughly did, the last 10,000 training images held out for
#: validation so that the test set is evaluated once. Their rate fell in steps over training; a cosine from the
#: post's Adam rate to 0 falls smoothly and has no peak rate to tune per network, as one-cycle would.
LECUN_SETTINGS = {"protocol": "standard", "transform": "pad32", "input_norm": "zscore", "val_split": 10_000,
                  "epochs": 10, "lr_schedule": "cosine"}


def _lecun(base: TrainConfig, quick: bool) -> PresetGrid:
    return PresetGrid(_models(["lenet5", "lenet5-bn"]), 2 if quick else 5,
                      _quick(quick, LECUN_SETTINGS, {"epochs": 2, "subset": QUICK_IMAGES}))


#: Training images of input-norm's --quick: 12 variants x 2 seeds have to fit in CI time.
QUICK_INPUT_NORM_IMAGES = 2_000


def _input_norm(base: TrainConfig, quick: bool) -> PresetGrid:
    # The dataset outermost, then the setting: a worker reloads its data only when the dataset or
    # standardize changes. standardize, input_norm's old spelling of zscore, is set too, so a typed
    # --standardize conflicts with the grid instead of being silently overridden.
    variants = [Variant(f"{m} {d} {n}", {"model": m, "dataset": d, "input_norm": n, "standardize": n == "zscore"})
                for d in ("mnist", "fashion-mnist") for n in INPUT_NORM_NAMES for m in ("lenet5", "lenet5-bn")]
    return PresetGrid(variants, 2 if quick else 5,
                      _quick(quick, {"epochs": 10}, {"epochs": 2, "subset": QUICK_INPUT_NORM_IMAGES}))


_QUICK_10K = (f"--quick: 2 seeds instead of {{seeds}}, {{epochs}} epoch(s) instead of {{full_epochs}}, the first "
              f"{QUICK_IMAGES:,} training images; intervals are wide and accuracies below full-data levels.")

_QUICK_BATCH = ("--quick: 2 seeds instead of 3, 1 epoch instead of 5, the first 4,096 training images (batch 128 "
                "then takes 32 steps, batch 2 takes 2,048): accuracies are far below full-data levels, and only the "
                "change with batch size, compared between norms, is meaningful.")

# The papers' optimizer first (the default), then the post's Adam, which keeps the base settings.
_SGD_SWEEP = {"sgd": {"momentum": SGD_MOMENTUM}, "adam": {}}
_SGD_BATCH = {"sgd": {"momentum": SGD_MOMENTUM, "lr": SGD_BASE_LR}, "adam": {}}
_SGD_TEXT = f"SGD with momentum {SGD_MOMENTUM:g}"

PRESETS: dict[str, Preset] = {
    "blog": Preset(
        "blog", "the post's two models (lenet5, lenet5-bn) under its own protocol, flaws included; 5 seeds x 10 "
                "epochs.",
        _blog, _QUICK_10K.format(seeds=5, epochs=3, full_epochs=10),
        full_time="about 6 min (estimated: the same grid under the standard protocol took 5 min 31 s)", quick_time="17 s"),
    "lr-sweep": Preset(
        "lr-sweep", f"lenet5 and lenet5-bn over learning rates 1e-3 ... 1 with {_SGD_TEXT}, the optimizer of Bjorck "
                    "et al. (2018), who follow the ResNet paper's SGD with momentum (their weight decay is left out: "
                    "the claim is about the rate); --optimizer adam: the post's Adam over 1e-4 ... 3e-2. Accuracy "
                    "against rate and the highest rate that still trains; 3 seeds x 10 epochs.",
        _lr_sweep, _QUICK_10K.format(seeds=3, epochs=2, full_epochs=10),
        full_time="13 min 34 s", quick_time="32 s", optimizers=_SGD_SWEEP),
    "batch-size": Preset(
        "batch-size", f"no norm, batch, group and layer norm over batch sizes 2 ... 128 at a fixed learning rate, "
                      f"{_SGD_TEXT} as Wu & He (2018), at {SGD_BASE_LR:g} (--optimizer adam: the post's Adam); 3 seeds "
                      "x 5 epochs.",
        _batch_size(False), _QUICK_BATCH, full_time="29 min 56 s", quick_time="29 s", optimizers=_SGD_BATCH),
    "batch-size-scaled": Preset(
        "batch-size-scaled", f"batch-size with Wu & He's (2018) linear scaling rule (after Goyal et al. 2017), lr = "
                             f"base lr x batch size / {REFERENCE_BATCH}, {_SGD_TEXT} and base lr {SGD_BASE_LR:g} "
                             "(--optimizer adam: the post's Adam at 0.001).",
        _batch_size(True), _QUICK_BATCH, full_time="31 min 10 s", quick_time="29 s", optimizers=_SGD_BATCH),
    "placement": Preset(
        "placement", "batch norm after vs before the activation, conv layers only vs also the fully-connected "
                     "layers (lenet5-bn, -bn-before, -bn-all, -bn-before-all), and lenet5 as the plain control of "
                     "the activation reading; records activations; 5 seeds x 10 epochs.",
        _placement, _QUICK_10K.format(seeds=5, epochs=2, full_epochs=10),
        full_time="13 min 46 s", quick_time="17 s"),
    "noisy-bn": Preset(
        "noisy-bn", "plain, batch norm and noisy batch norm (Santurkar et al. 2018, Algorithm 1), and batch norm "
                    "before the activation for the activation reading; records activations and smoothness (along "
                    "the optimizer's update); 5 seeds x 10 epochs.",
        _noisy_bn, _QUICK_10K.format(seeds=5, epochs=2, full_epochs=10),
        full_time="25 min 42 s (with other jobs on the machine)", quick_time="20 s"),
    "mode-bug": Preset(
        "mode-bug", "lenet5-bn (and lenet5 as a control) under the post's protocol vs the standard one: what "
                    "training in eval mode did to the post's result; 5 seeds x 10 epochs.",
        _mode_bug, _QUICK_10K.format(seeds=5, epochs=3, full_epochs=10),
        full_time="about 15 min (estimated)", quick_time="45 s"),
    "d2l": Preset(
        "d2l", "Dive into Deep Learning's batch-norm chapter: BNLeNet (lenet5-d2l-bn: batch norm before the sigmoid "
               "after each of the four conv and linear layers) against the same network without batch norm "
               "(lenet5-d2l). From the chapter: sigmoid, average pooling, 28x28 inputs scaled to [0, 1] without "
               "resizing (24 -> 12 -> 8 -> 4), Fashion-MNIST, batch 128, shuffled training data, plain SGD at lr 0.1 "
               "(no momentum, no weight decay), cross-entropy on logits, 10 epochs, the test split as validation, "
               "Xavier-uniform weights with PyTorch's default biases (d2l's init_cnn, --init d2l). normlab's choices: "
               "5 paired seeds (each seed gives both networks the same conv and linear weights), the data order "
               "shuffled by a generator seeded from the run's seed, an evaluation batch of 256 (results do not "
               "depend on it), accuracy counted over all test images (d2l plots the mean of per-batch "
               "accuracies). --dataset mnist runs the same on MNIST; 5 seeds x 10 epochs.",
        _d2l, _QUICK_10K.format(seeds=5, epochs=3, full_epochs=10)
        + " In so few steps the network without batch norm may stay at chance: d2l's plain LeNet learns slowly.",
        full_time="2 min 3 s", quick_time="8 s", optimizers={"sgd": {"momentum": 0.0, "lr": 0.1}, "adam": {}}),
    "lecun": Preset(
        "lecun", "how close LeNet-5 without and with batch norm (lenet5, lenet5-bn) comes in 10 epochs to LeCun et "
                 "al.'s (1998) 0.95% MNIST test error (99.05% accuracy), under the honest protocol: the last 10,000 "
                 "training images held out for validation, the test set evaluated once per run with the weights of "
                 "the best validation epoch; the report says by how much each falls short of it or beats it. From "
                 "LeCun et al.: the 28x28 digits padded to 32x32 (pad32), inputs scaled to mean 0 and variance 1 "
                 "(theirs: background -0.1, foreground 1.175; here --input-norm zscore, with the training split's "
                 "mean and std), a rate that falls over training. normlab's choices: the post's Adam at 1e-3 "
                 "annealed to 0 by a cosine over the run's steps (--lr-schedule cosine: a smooth form of their "
                 "stepwise decrease, with no peak rate to tune per network as one-cycle would need), batch 64, "
                 "cross-entropy on logits, 5 paired seeds. What differs from LeCun et al. 1998: their output layer "
                 "was 10 Euclidean RBF units with fixed weights (here a linear layer and cross-entropy), C3 was "
                 "connected to a subset of S2's maps (here all), their subsampling had trainable coefficients and "
                 "biases and their activation was a scaled tanh (here 2x2 average pooling after tanh), and they "
                 "trained 20 passes over all 60,000 training images with stochastic diagonal Levenberg-Marquardt, "
                 "per image, with no validation split (here 10 epochs on 50,000 images); their test error had "
                 "settled at 0.95% after about 10 passes. 5 seeds x 10 epochs.",
        _lecun, _QUICK_10K.format(seeds=5, epochs=2, full_epochs=10)
        + " The validation and test sets stay whole, so the test error is measured as in a full run.",
        full_time="3 min 34 s", quick_time="10 s"),
    "input-norm": Preset(
        "input-norm", "does batch norm make input normalisation unnecessary? The post's lenet5 and lenet5-bn on raw "
                      "pixels (0-255), min-max scaled pixels ([0, 1], the post's ToTensor) and z-scores (the "
                      "training split's mean and std), each fitted on the training split, on MNIST and "
                      "Fashion-MNIST, with the post's Adam at 1e-3, batch 64 and 10 epochs; 12 variants x 5 paired "
                      "seeds = 60 runs of 10 epochs on full data (the blog preset makes 10).",
        _input_norm, f"--quick: 2 seeds instead of 5, 2 epochs instead of 10, the first {QUICK_INPUT_NORM_IMAGES:,} "
                     "training images: nothing is tested (a paired test needs 3 seeds) and accuracies are far below "
                     "full-data levels, so only the directions are indicative.",
        full_time="27 min 28 s", quick_time="18 s"),
}


def list_presets() -> list[str]:
    """The preset names."""
    return list(PRESETS)


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _select(variants: list[Variant], wanted: Sequence[str], preset: str) -> list[Variant]:
    """The variants whose label, or model, is in ``wanted`` (in the preset's order)."""
    wanted = [w.strip() for w in wanted if w.strip()]
    models = {v.overrides.get("model") for v in variants}
    unknown = [w for w in wanted if w not in {v.label for v in variants} and w not in models]
    if unknown:
        raise ConfigError(
            f"--variants {', '.join(unknown)}: not in preset {preset!r}; give labels "
            f"({', '.join(v.label for v in variants)}) or models ({', '.join(sorted(m for m in models if m))})")
    return [v for v in variants if v.label in wanted or v.overrides.get("model") in wanted]


def build_preset(
    preset_name: str,
    /,
    *,
    base: TrainConfig,
    quick: bool = False,
    seeds: str | None = None,
    variants: Sequence[str] | None = None,
    name: str | None = None,
    explicit: set[str] | frozenset[str] = frozenset(),
) -> StudySpec:
    """The :class:`StudySpec` of the preset ``preset_name`` over the base config ``base``.

    ``quick`` picks the preset's quick version. A preset with :attr:`Preset.optimizers` trains
    with its first optimizer and that optimizer's settings unless ``optimizer`` (or a setting) was
    typed; its grid follows the optimizer it ends up with (lr-sweep's rates). ``seeds`` (``--seeds`` text) replaces the
    preset's seed count; ``variants`` keeps only the variants with those labels or models.
    ``explicit`` names the training flags the user typed (``batch_size``, ``lr``,
    ``record_activations``...): the preset's base settings yield to them, and a typed flag that a
    variant sets raises :class:`~normlab.errors.ConfigError`. The study is called ``name``, else
    the preset's name (with ``-quick`` for ``quick``, so quick and full runs never mix in one
    report). An unknown preset raises ConfigError listing the valid ones.
    """
    if preset_name not in PRESETS:
        raise ConfigError(f"unknown preset {preset_name!r}; valid presets: {', '.join(PRESETS)}")
    preset = PRESETS[preset_name]
    explicit = set(explicit)
    if preset.optimizers:
        optimizer = base.optimizer if "optimizer" in explicit else next(iter(preset.optimizers))
        settings = {"optimizer": optimizer, **preset.optimizers.get(optimizer, {})}
        base = base.replace(**{k: v for k, v in settings.items() if k not in explicit})
    grid = preset.build(base, quick)

    fields: dict[str, Any] = {}
    for key, value in grid.base.items():
        if key == "diagnostics":
            merged = dict(base.diagnostics)
            for measurement, settings in value.items():
                if f"record_{measurement}" not in explicit:
                    # The preset's schedule, with what the user typed for it (--smoothness-direction).
                    merged[measurement] = {**settings, **merged.get(measurement, {})}
            fields["diagnostics"] = merged
        elif key not in explicit:
            fields[key] = value
    study_base = base.replace(**fields)
    unscheduled = sorted(m for m, s in study_base.diagnostics.items() if "every" not in s)
    if unscheduled:  # e.g. --smoothness-direction for a preset that does not record smoothness
        raise ConfigError(f"preset {preset_name!r} does not record {', '.join(unscheduled)}; add "
                          f"--record-{unscheduled[0].replace('_', '-')} to record it")

    chosen = _select(grid.variants, variants, preset_name) if variants else grid.variants
    for variant in chosen:
        clash = sorted((set(variant.overrides) - {"model"} - grid.derived) & explicit)
        if clash:
            values = sorted({str(v.overrides[clash[0]]) for v in grid.variants if clash[0] in v.overrides})
            raise ConfigError(
                f"{_flag(clash[0])} conflicts with preset {preset_name!r}, whose variants set {clash[0]} "
                f"({', '.join(values)}); leave {_flag(clash[0])} out, or pick variants with --variants")
    for variant in chosen:
        resolve(study_base.replace(**variant.overrides))  # a bad combination fails here, not in a worker
    validate_diagnostics(study_base.diagnostics)

    seed_list = parse_seeds(seeds) if seeds is not None else list(range(grid.seeds))
    default_name = f"{preset_name}-quick" if quick else preset_name
    return StudySpec(name=name or default_name, variants=list(chosen), seeds=seed_list, base=study_base,
                     preset=preset_name, quick=quick)
