"""What a report is built from: the study's runs, grouped and checked, and the statistics every
section reads, computed once (:func:`build_context`).

Runs are :class:`~normlab.train.record.RunRecord` objects (as the results store reads them), or
anything with the same attributes: they are read by attribute only. Which variants are compared:
when the study holds exactly ``lenet5`` and ``lenet5-bn``, BatchNorm (B) against the plain network
(A); when the variants form a model x setting grid (:func:`detect_grid`), each model against the
reference model at the same setting; otherwise every variant against the first one (the baseline:
the variant of the lowest run id) trained on the same dataset. Each variant's epochs to target are
measured against the target given, else against its own dataset's
(:data:`~normlab.experiments.stats.DATASET_TARGETS`), and read only beside the variants of its
dataset. Only runs with status ``done`` enter the statistics; the others are listed, never
silently dropped.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from normlab.errors import ConfigError
from normlab.experiments import stats
from normlab.experiments.stats import PairedComparison, VariantSummary
from normlab.models.spec import model_options as parse_options
from normlab.report.figures.base import shade, val_label, variant_color
from normlab.report.format import finite, fmt_value
from normlab.report.readings import Reading, family_readings

__all__ = ["AtChance", "ReportContext", "Scale", "SetAside", "TargetGroup", "VariantGrid", "build_context",
           "detect_grid", "diagnostic", "epoch_series", "final_accuracy", "model_options", "norm_of", "run_config",
           "run_scale", "val_accuracy", "variant_dataset"]

BOOTSTRAP_RESAMPLES = stats.DEFAULT_N_RESAMPLES
BOOTSTRAP_SEED = 0
PLAIN, BN = "lenet5", "lenet5-bn"
#: A finished run "did not learn" when its final accuracy is below this multiple of chance, 1/C
#: for C classes. Naming one class for every image scores that class's share, at most 1.14/C on
#: these datasets (the digit 1 is 11.35% of MNIST's test set); 1.5/C also clears the sampling
#: noise of a small validation split (0.95 pp sd at 10% over 1,000 images), and any run that
#: learned something scores far above it. Such a run stays in the statistics: a setting under
#: which a network does not learn (plain LeNet with sigmoids at SGD lr 0.1, say) is a result.
CHANCE_MARGIN = 1.5
#: The suffix :func:`~normlab.experiments.presets.build_preset` gives a ``--quick`` study's default
#: name (``blog-quick``): how a quick run is recognised when the caller does not say.
QUICK_SUFFIX = "-quick"
#: Settings a grid study sweeps, tried in this order (batch-size-scaled sweeps both batch size and
#: learning rate together; the batch size is the one it is about).
GRID_KEYS = ("batch_size", "lr", "protocol")
GRID_LABELS = {"batch_size": "batch size", "lr": "learning rate", "protocol": "protocol"}
_GRID_SHORT = {"batch_size": "bs", "lr": "lr", "protocol": "protocol"}
#: Swept settings whose values have an order (drawn light to dark); the others are categories.
_ORDERED_KEYS = ("batch_size", "lr")


# --------------------------------------------------------------------------------------------
# Run access
# --------------------------------------------------------------------------------------------


def run_config(run: Any) -> dict:
    """The run's config dict ({} when it has none)."""
    cfg = getattr(run, "config", None)
    return cfg if isinstance(cfg, dict) else {}


def epoch_series(run: Any, key: str) -> list[float]:
    """The run's per-epoch list ``key`` (``val_loss``...) as floats, NaN where a value is not finite."""
    return [float(v) if finite(v) else math.nan for v in getattr(run, key, None) or []]


def val_accuracy(run: Any) -> list[float]:
    """Validation accuracy per epoch (fractions)."""
    return epoch_series(run, "val_accuracy")


def final_accuracy(run: Any) -> float:
    """The last epoch's validation accuracy (NaN when there is none)."""
    acc = val_accuracy(run)
    return float(acc[-1]) if acc and finite(acc[-1]) else math.nan


def diagnostic(run: Any, name: str) -> dict | None:
    """The run's recorded diagnostic ``name`` (``activations``...), or None when it recorded none."""
    diags = getattr(run, "diagnostics", None) or {}
    data = diags.get(name) if isinstance(diags, dict) else None
    return data if isinstance(data, dict) and data.get("step") else None


def model_options(spec: str) -> dict[str, Any]:
    """The options of a model spec (``norm``, ``norm_position``...); {} for a spec normlab does not know."""
    try:
        return parse_options(spec)
    except (ConfigError, TypeError, ValueError, KeyError):
        return {}


def norm_of(spec: str) -> str | None:
    """The ``norm`` option of a model spec (``"none"``, ``"batch"``...), or None when unknown."""
    return model_options(spec).get("norm")


@dataclass(frozen=True)
class AtChance:
    """A finished run whose final accuracy is within chance (see :data:`CHANCE_MARGIN`)."""

    run: Any
    final: float
    best: float
    chance: float  # 1 / number of classes


def _num_classes(run: Any) -> int | None:
    """The class count of the run's dataset; None when the config does not name a known one."""
    from normlab.data.registry import get_dataset_spec

    dataset = run_config(run).get("dataset")
    try:
        return get_dataset_spec(dataset).num_classes if dataset is not None else None
    except ConfigError:
        return None


def _at_chance(runs: Iterable[Any]) -> list[AtChance]:
    out = []
    for r in runs:
        acc = [a for a in val_accuracy(r) if math.isfinite(a)]
        classes = _num_classes(r)
        if r.status == "done" and acc and classes and acc[-1] < CHANCE_MARGIN / classes:
            out.append(AtChance(r, acc[-1], max(acc), 1 / classes))
    return out


# --------------------------------------------------------------------------------------------
# Variant grids: model x learning rate, model x batch size, model x protocol
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariantGrid:
    """The variants of a grid study: every model trained at every value of one swept setting.

    A study is a grid when its variants' configs differ only in ``model`` and in ``key``
    (``"lr"``, ``"batch_size"`` or ``"protocol"``; only a learning rate scaled linearly with the
    batch size, as batch-size-scaled sets it, may differ too: see :func:`detect_grid`), with at
    least two models and two values and one variant per (model, value). The report then compares
    each model with :attr:`reference` at the *same* value, and draws the variants grouped by value.

    Attributes:
        key: The swept config field.
        models: Model specs, in study order.
        values: The swept values, ascending.
        cells: The variant trained with each ``(model, value)``.
        reference: The model every other model is compared with: the first one without
            normalisation (``norm`` none), else the first model.
    """

    key: str
    models: tuple[str, ...]
    values: tuple[Any, ...]
    cells: dict[tuple[str, Any], str]
    reference: str

    @property
    def label(self) -> str:
        """The swept setting in words: ``"learning rate"``, ``"batch size"`` or ``"protocol"``."""
        return GRID_LABELS.get(self.key, self.key)

    @property
    def ordered(self) -> bool:
        """Whether the swept values have an order (a learning rate, a batch size), not just names."""
        return self.key in _ORDERED_KEYS

    def same(self, what: str = "the same") -> str:
        """``"at the same learning rate"``, ``"under the same protocol"`` (``what`` may be ``"that"``)."""
        return f"{'at' if self.ordered else 'under'} {what} {self.label}"

    def value_text(self, value: Any) -> str:
        """A swept value as a short label: ``"lr = 0.001"``, ``"bs = 16"``."""
        short = _GRID_SHORT.get(self.key, self.key)
        return f"{short} = {value:g}" if isinstance(value, float) else f"{short} = {value}"

    def variant(self, model: str, value: Any) -> str | None:
        """The variant trained with ``model`` at ``value``, if there is one."""
        return self.cells.get((model, value))

    def position(self, variant: str) -> tuple[str, Any]:
        """The ``(model, value)`` of a variant."""
        for cell, v in self.cells.items():
            if v == variant:
                return cell
        raise KeyError(variant)

    def by_value(self) -> list[tuple[Any, list[str]]]:
        """The variants grouped by swept value (ascending), models in study order within each."""
        return [(x, [self.cells[(m, x)] for m in self.models if (m, x) in self.cells]) for x in self.values]

    def pairs(self) -> list[tuple[str, str]]:
        """``(A, B)`` pairs: the reference model against each other model at the same value."""
        out = []
        for x in self.values:
            a = self.variant(self.reference, x)
            if a is not None:
                out.extend((a, b) for m in self.models if m != self.reference and (b := self.variant(m, x)) is not None)
        return out

    def colors(self) -> dict[str, str]:
        """Colours of the variants: the hue says the model, the shade the swept value (light = small)."""
        n = len(self.values)
        # Categories (protocols) get a milder light-to-dark step than an ordered sweep's full range.
        span = 1.0 if self.ordered else 0.6
        return {v: shade(variant_color(self.models.index(m)),
                         span * (-1.0 + 2.0 * self.values.index(x) / (n - 1)) if n > 1 else 0.0)
                for (m, x), v in self.cells.items()}


def _hashable(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else fmt_value(value)


def _linear_scaling(settings: Iterable[dict[str, Any]]) -> bool:
    """Whether every config's learning rate is the same multiple of its batch size (the linear scaling rule)."""
    ratios = []
    for c in settings:
        lr, bs = c.get("lr"), c.get("batch_size")
        if not (finite(lr) and finite(bs)) or bs <= 0:
            return False
        ratios.append(float(lr) / float(bs))
    return bool(ratios) and all(math.isclose(r, ratios[0], rel_tol=1e-9) for r in ratios)


#: Settings allowed to change together with a swept one, and the rule they must then follow. Only
#: batch-size-scaled's learning rate is: lr = base lr x batch size / 64, the same lr per image.
_FOLLOWERS: dict[str, dict[str, Callable[[Iterable[dict[str, Any]]], bool]]] = {
    "batch_size": {"lr": _linear_scaling},
}


def detect_grid(variants: Sequence[str], runs: dict[str, list[Any]], *, key: str | None = None,
                min_models: int = 2) -> VariantGrid | None:
    """The :class:`VariantGrid` the variants form, or None when they are not a model x setting grid.

    ``runs`` maps each variant to its runs; their ``config`` dicts decide. Every run of a variant
    must agree on its settings (the seed aside). The variants are a grid over ``key`` when, apart
    from the seed, the model and ``key`` itself, every config field has the same value in every
    variant. The one exception is a learning rate that follows the batch size by the linear
    scaling rule (the same ``lr / batch_size`` everywhere, as the batch-size-scaled preset sets
    it), which a batch-size grid allows; a learning-rate grid allows none, so a batch-size-scaled
    study is never read as a learning-rate sweep. ``key=None`` tries :data:`GRID_KEYS` in order.

    ``min_models`` is the number of models needed (default 2: the report's comparisons pair
    models at the same value, so they need a reference and at least one other model sharing a
    value). The sweep sections ask for 1: one model trained at two or more values is a sweep.
    This is the one grid rule of the report: the comparisons and the learning-rate and batch-size
    sections all use it.
    """
    if key is not None and key not in GRID_KEYS:
        raise ConfigError(f"grid key must be one of {', '.join(GRID_KEYS)}; got {key!r}")
    settings: dict[str, dict[str, Any]] = {}
    for v in variants:
        configs = [c for c in (getattr(r, "config", None) for r in runs.get(v, [])) if isinstance(c, dict)]
        if not configs:
            return None
        first = {k: _hashable(val) for k, val in configs[0].items() if k != "seed"}
        if any({k: _hashable(val) for k, val in c.items() if k != "seed"} != first for c in configs[1:]):
            return None
        settings[v] = first
    if not settings or any("model" not in c for c in settings.values()):
        return None
    keys = set().union(*(set(c) for c in settings.values()))
    differing = {k for k in keys if len({c.get(k, "(absent)") for c in settings.values()}) > 1}
    if "model" not in differing and min_models >= 2:
        return None
    for k in (GRID_KEYS if key is None else (key,)):
        if k not in differing:
            continue
        followers = _FOLLOWERS.get(k, {})
        if any(o not in followers or not followers[o](settings.values()) for o in differing - {"model", k}):
            continue
        cells: dict[tuple[str, Any], str] = {}
        for v in variants:
            cell = (str(settings[v]["model"]), settings[v][k])
            if cell in cells:
                break
            cells[cell] = v
        else:
            models = tuple(dict.fromkeys(m for m, _ in cells))
            values = tuple(sorted({x for _, x in cells}))
            if len(models) < max(1, min_models) or len(values) < 2:
                continue
            reference = next((m for m in models if norm_of(m) == "none"), models[0])
            grid = VariantGrid(k, models, values, cells, reference)
            if min_models < 2 or grid.pairs():
                return grid
    return None


# --------------------------------------------------------------------------------------------
# One configuration and one run per (variant, seed)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetAside:
    """Runs of a variant under another configuration than the one the report uses for it.

    A study name re-run with other settings (another ``--epochs``, say) and stopped part-way
    leaves runs of two configurations under one variant label; mixing them would average
    10-epoch and 20-epoch seeds into one mean. The report keeps the configuration with the most
    runs (counted once per seed; ties go to the most recent) and sets the others aside.

    Attributes:
        variant: The variant label.
        runs: The runs left out, by seed.
        n_used: Seeds of the configuration the report uses.
        differences: ``(field, value used, value set aside)`` for every config field that differs.
    """

    variant: str
    runs: tuple[Any, ...]
    n_used: int
    differences: tuple[tuple[str, str, str], ...]


def variant_dataset(runs: Iterable[Any]) -> str | None:
    """The dataset a variant's runs trained on (``"mnist"`` where a config names none), or None
    when they name several."""
    names = {str(run_config(r).get("dataset", "mnist")) for r in runs}
    return names.pop() if len(names) == 1 else None


@dataclass(frozen=True)
class TargetGroup:
    """Variants whose epochs to target are read together: those trained on one dataset, all
    measured against one target (an epoch on MNIST and one on Fashion-MNIST are not one race).

    Attributes:
        dataset: The dataset, or None for variants whose runs mix datasets.
        target: The target accuracy (fraction) of every variant in the group.
        variants: The variants, in report order.
    """

    dataset: str | None
    target: float
    variants: tuple[str, ...]


def _target_groups(variants: Sequence[str], datasets: dict[str, str | None],
                   targets: dict[str, float]) -> list[TargetGroup]:
    """One :class:`TargetGroup` per dataset, in order of first appearance."""
    members: dict[str | None, list[str]] = {}
    for v in variants:
        members.setdefault(datasets[v], []).append(v)
    # A dataset's variants share its target (or the user's), so the first variant's stands for all.
    return [TargetGroup(d, targets[vs[0]], tuple(vs)) for d, vs in members.items()]


def _pairs_within_datasets(variants: Sequence[str], by_variant: dict[str, list[Any]]) -> list[tuple[str, str]]:
    """``(A, B)`` pairs of a study that is not a grid: each dataset's first variant against its others
    (an accuracy on MNIST and one on Fashion-MNIST are not two arms of one comparison). The datasets
    are :func:`variant_dataset`'s, as the targets' groups are."""
    groups: dict[str | None, list[str]] = {}
    for v in variants:
        groups.setdefault(variant_dataset(by_variant[v]), []).append(v)
    return [(group[0], v) for group in groups.values() for v in group[1:]]


def full_config(run: Any) -> dict:
    """The run's config read back as a :class:`~normlab.train.config.TrainConfig`: fields it was
    stored without (it predates them) at their defaults, which is what the run trained with, and
    old aliases under their new names. A config this normlab cannot read is returned as stored."""
    from normlab.train.config import TrainConfig

    cfg = run_config(run)
    try:
        return TrainConfig.from_dict(cfg).to_dict()
    except (ValueError, TypeError):
        return cfg


def _config_key(run: Any) -> tuple | None:
    """A run's full config without its seed, hashable (a study resumed across a new config field is
    not split in two); None when the run has no config."""
    if not isinstance(getattr(run, "config", None), dict):
        return None
    return tuple(sorted((k, fmt_value(v)) for k, v in full_config(run).items() if k != "seed"))


def _config_differences(used: tuple | None, other: tuple | None) -> tuple[tuple[str, str, str], ...]:
    a, b = dict(used or ()), dict(other or ())
    return tuple((k, a.get(k, "(absent)"), b.get(k, "(absent)")) for k in sorted(a.keys() | b.keys())
                 if a.get(k, "(absent)") != b.get(k, "(absent)"))


def _run_id(run: Any) -> int:
    return getattr(run, "id", 0) or 0


def _dedupe(runs: Sequence[Any]) -> tuple[dict[tuple[str, int], Any], list[Any], list[SetAside]]:
    """One configuration per variant, and one run per (variant, seed) of it.

    The runs of a variant are grouped by their config without the seed. The configuration with
    the most seeds (ties: the one with the latest run) is used and the others are returned as
    :class:`SetAside` entries, so no variant's numbers mix configurations. Within it each seed
    keeps its latest done run, else its latest run; the other runs of that seed are superseded.
    """
    by_variant: dict[str, dict[tuple | None, list[Any]]] = {}
    for r in runs:
        by_variant.setdefault(r.variant, {}).setdefault(_config_key(r), []).append(r)

    def rank(item: tuple[tuple | None, list[Any]]) -> tuple[int, int]:
        return len({int(r.seed) for r in item[1]}), max(_run_id(r) for r in item[1])

    chosen, superseded, set_aside = {}, [], []
    for variant, configs in by_variant.items():
        used_key, used_runs = max(configs.items(), key=rank)
        n_used = len({int(r.seed) for r in used_runs})
        for key, group in sorted(configs.items(), key=rank, reverse=True):
            if key != used_key:
                left = tuple(sorted(group, key=lambda r: (int(r.seed), _run_id(r))))
                set_aside.append(SetAside(variant, left, n_used, _config_differences(used_key, key)))
        groups: dict[int, list[Any]] = {}
        for r in used_runs:
            groups.setdefault(int(r.seed), []).append(r)
        for seed, group in groups.items():
            group.sort(key=lambda r: (r.status == "done", _run_id(r)))
            chosen[(variant, seed)] = group[-1]
            superseded.extend(group[:-1])
    return chosen, superseded, set_aside


def _variant_order(runs: Sequence[Any]) -> list[str]:
    order = list(dict.fromkeys(r.variant for r in sorted(runs, key=_run_id)))
    return [PLAIN, BN] if set(order) == {PLAIN, BN} else order


def _val_label(runs: Iterable[Any]) -> str:
    done = [r for r in runs if r.status == "done"]
    names = {getattr(r, "val_split_name", None) for r in done} - {None}
    return val_label(names == {"test"}, {run_config(r).get("dataset") for r in done})


# --------------------------------------------------------------------------------------------
# The scale of the runs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    """The scale the finished runs were made at, from their configs: what the page header shows,
    and what decides whether a number can be set beside the post's.

    Attributes:
        datasets: The datasets trained on.
        train_images: The training images of each configuration, ascending: the ``subset``, else
            the training set less the held-out ``val_split`` (None where the dataset is unknown).
        full_images: The size of the training set, when there is one known dataset.
        epochs: The epochs each configuration trained, ascending.
        protocols: The protocols, sorted.
        seeds: The most finished seeds any variant has.
        quick: Whether a preset ran with ``--quick`` (fewer seeds, epochs and images).
    """

    datasets: tuple[str, ...]
    train_images: tuple[int | None, ...]
    full_images: int | None
    epochs: tuple[int, ...]
    protocols: tuple[str, ...]
    seeds: int
    quick: bool = False

    @property
    def full(self) -> bool:
        """Whether every run trained on the whole training set."""
        return self.full_images is not None and self.train_images == (self.full_images,)


def _train_size(dataset: Any) -> int | None:
    from normlab.data.registry import get_dataset_spec

    try:
        return get_dataset_spec(dataset).train_size if isinstance(dataset, str) else None
    except ConfigError:
        return None


def run_scale(runs: Iterable[Any], *, quick: bool = False) -> Scale:
    """The :class:`Scale` of the finished runs (all runs when none finished)."""
    runs = list(runs)
    used = [r for r in runs if r.status == "done"] or runs
    configs = [run_config(r) for r in used]
    datasets = tuple(sorted({str(c.get("dataset", "?")) for c in configs}))
    images = set()
    for c in configs:
        size = _train_size(c.get("dataset"))
        subset, held = c.get("subset"), c.get("val_split") or 0
        images.add(int(subset) if isinstance(subset, int) else size - int(held) if size is not None else None)
    seeds: dict[str, set[int]] = {}
    for r in used:
        seeds.setdefault(r.variant, set()).add(int(r.seed))
    return Scale(datasets, tuple(sorted(images, key=lambda n: (n is None, n or 0))),
                 _train_size(datasets[0]) if len(datasets) == 1 else None,
                 tuple(sorted({int(c["epochs"]) for c in configs if isinstance(c.get("epochs"), int)})),
                 tuple(sorted({str(c.get("protocol", "?")) for c in configs})),
                 max((len(s) for s in seeds.values()), default=0), quick)


# --------------------------------------------------------------------------------------------
# The context
# --------------------------------------------------------------------------------------------


@dataclass
class ReportContext:
    """What the sections share, computed once by :func:`build_context`.

    Attributes:
        study: Study name.
        target: The target accuracy (fraction) for epochs- and time-to-target when every variant has
            the same one (:attr:`targets`); when they differ (:attr:`mixed_targets`), the default
            target, which no variant is then measured against: read :attr:`targets` instead.
        confidence: Confidence level of every interval (0.95).
        alpha: Significance level of the verdicts (0.05).
        variants: Variant names in report order (the baseline first).
        colors: Figure colour of each variant.
        runs: One run per (variant, seed) (the latest done run where there are several), by variant.
        superseded: Older runs of a (variant, seed) that a later run replaced.
        summaries: :func:`~normlab.experiments.stats.summarize_variant` of each variant.
        pairs: ``(A, B)`` variant pairs compared, B against A.
        comparisons: Paired comparisons, ``final`` then ``best`` metric for each pair.
        readings: The verdict of each comparison (:func:`~normlab.report.readings.family_readings`),
            same order; "significant" there is Holm-corrected when :meth:`corrected`.
        adjusted_pvalues: Holm-adjusted paired t-test p of each comparison, same order; the family
            is every comparison of the same metric (:func:`~normlab.experiments.stats.holm`).
        scale: What the runs were made at (:class:`Scale`): dataset, images, epochs, quick mode.
        val_label: How validation is named in figures and captions, with the dataset (``figures.base.val_label``).
        generated_at: Unix time the report was built.
        db_path: The database the runs came from, when known.
        grid: The :class:`VariantGrid` when the variants form a model x learning rate or model x
            batch size grid (the pairs are then matched at the same value), else None.
        set_aside: Runs of a variant under another configuration than the one used (see :class:`SetAside`).
        at_chance: The finished runs that did not learn (see :class:`AtChance`), by variant then seed.
        targets: Each variant's target accuracy: the one given, else its dataset's
            (:data:`~normlab.experiments.stats.DATASET_TARGETS`).
        datasets: The dataset of each variant's runs (None where they mix datasets).
        target_groups: The variants by dataset, each group with its target (:class:`TargetGroup`):
            epochs to target are compared only within a group.
    """

    study: str
    target: float
    confidence: float
    alpha: float
    variants: list[str]
    colors: dict[str, str]
    runs: dict[str, list[Any]]
    superseded: list[Any]
    summaries: dict[str, VariantSummary]
    pairs: list[tuple[str, str]]
    comparisons: list[PairedComparison]
    readings: list[Reading]
    adjusted_pvalues: list[float]
    val_label: str
    generated_at: float
    db_path: Path | None = None
    grid: VariantGrid | None = None
    set_aside: list[SetAside] = field(default_factory=list)
    at_chance: list[AtChance] = field(default_factory=list)
    scale: Scale = field(default_factory=lambda: Scale((), (), None, (), (), 0))
    targets: dict[str, float] = field(default_factory=dict)
    datasets: dict[str, str | None] = field(default_factory=dict)
    target_groups: list[TargetGroup] = field(default_factory=list)

    @property
    def mixed_targets(self) -> bool:
        """Whether the variants are measured against different targets (datasets with their own)."""
        return len(set(self.targets.values())) > 1

    def baselines(self) -> dict[str | None, str]:
        """The baseline (A) of each dataset's comparisons in a study that is not a grid, read from
        :attr:`pairs` (not assumed), keyed by the baseline's dataset in order of first appearance."""
        out: dict[str | None, str] = {}
        for a, _ in self.pairs:
            out.setdefault(self.datasets.get(a), a)
        return out

    @property
    def conf(self) -> str:
        """The confidence level as text: ``"95%"``."""
        return f"{self.confidence * 100:g}%"

    @property
    def all_runs(self) -> list[Any]:
        """Every run in the report, by variant order then seed."""
        return [r for v in self.variants for r in sorted(self.runs[v], key=lambda r: r.seed)]

    def done(self, variant: str) -> list[Any]:
        """The variant's runs with status ``done``, by seed."""
        return sorted((r for r in self.runs.get(variant, []) if r.status == "done"), key=lambda r: r.seed)

    def seed_finals(self, variant: str) -> dict[int, float]:
        """The final accuracy of each finished run of the variant, by seed."""
        return {int(r.seed): final_accuracy(r) for r in self.done(variant) if finite(final_accuracy(r))}

    def model(self, variant: str) -> str:
        """The model spec a variant trained (its name when its runs record none)."""
        runs = self.runs.get(variant) or []
        return str(run_config(runs[0]).get("model", variant)) if runs else variant

    def n_tests(self, metric: str = "final") -> int:
        """How many comparisons of ``metric`` were tested (the size of their Holm family)."""
        return sum(1 for c in self.comparisons if c.metric == metric and c.tested)

    def corrected(self, metric: str = "final") -> bool:
        """Whether "significant" means Holm-corrected for ``metric``: two or more of its comparisons were tested."""
        return self.n_tests(metric) >= 2

    def reading(self, cmp: PairedComparison) -> Reading:
        """The reading of one of the report's comparisons."""
        for c, r in zip(self.comparisons, self.readings):
            if c is cmp:
                return r
        raise KeyError(f"{cmp.b_name} − {cmp.a_name} ({cmp.metric}) is not one of the report's comparisons")


def build_context(runs: Sequence[Any], *, target: float | None = None, study: str | None = None,
                  confidence: float = stats.DEFAULT_CONFIDENCE, alpha: float = 0.05,
                  db_path: str | Path | None = None, generated_at: float | None = None,
                  quick: bool | None = None) -> ReportContext:
    """Group and check one study's runs and compute its statistics (see :class:`ReportContext`).

    ``quick`` says whether a preset ran with ``--quick``; None recognises it by the name such a
    study gets by default (ending in :data:`QUICK_SUFFIX`). Raises :class:`~normlab.errors.ConfigError`
    for no runs, runs of several studies, or a bad target, confidence or alpha.
    """
    runs = list(runs)
    if not runs:
        raise ConfigError("no runs to report on; run `normlab study` first")
    names = sorted({str(getattr(r, "study", study) or "") for r in runs})
    if len(names) > 1:
        raise ConfigError(f"the runs belong to several studies ({', '.join(names)}); report one study at a time")
    study = study or names[0] or "default"
    if target is not None:
        target = stats.check_target(target)
    chosen, superseded, set_aside = _dedupe(runs)
    variants = _variant_order(list(chosen.values()))
    by_variant = {v: sorted((r for (vv, _), r in chosen.items() if vv == v), key=lambda r: r.seed) for v in variants}
    grid = detect_grid(variants, by_variant)
    colors = grid.colors() if grid else {v: variant_color(i) for i, v in enumerate(variants)}
    datasets = {v: variant_dataset(by_variant[v]) for v in variants}
    # Without a given target each variant gets its own dataset's (stats.DATASET_TARGETS): one target
    # for a study mixing MNIST and Fashion-MNIST would leave one of them never reaching it.
    targets = {v: target if target is not None else stats.default_target({datasets[v]} - {None}) for v in variants}
    if target is None:
        common = set(targets.values())
        target = common.pop() if len(common) == 1 else stats.DEFAULT_TARGET
    summaries = {v: stats.summarize_variant(v, by_variant[v], target=targets[v], confidence=confidence,
                                            n_resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED) for v in variants}
    pairs = grid.pairs() if grid else _pairs_within_datasets(variants, by_variant)
    comparisons = [stats.paired_comparison(by_variant[a], by_variant[b], metric, confidence=confidence,
                                           a_name=a, b_name=b)
                   for a, b in pairs for metric in stats.METRICS]
    # Each metric's comparisons are one family: Holm's correction runs across them.
    readings: list[Reading] = [None] * len(comparisons)  # type: ignore[list-item]
    for metric in stats.METRICS:
        family = [i for i, c in enumerate(comparisons) if c.metric == metric]
        for i, r in zip(family, family_readings([comparisons[i] for i in family], alpha)):
            readings[i] = r
    adjusted = [r.numbers["holm_p"] for r in readings]
    ctx = ReportContext(
        study=study, target=target, confidence=confidence, alpha=alpha, variants=variants, colors=colors,
        runs=by_variant, superseded=superseded, summaries=summaries, pairs=pairs, comparisons=comparisons,
        readings=readings, adjusted_pvalues=adjusted, val_label=_val_label(chosen.values()),
        generated_at=time.time() if generated_at is None else float(generated_at),
        db_path=Path(db_path) if db_path is not None else None, grid=grid, set_aside=set_aside, targets=targets,
        datasets=datasets, target_groups=_target_groups(variants, datasets, targets))
    ctx.at_chance = _at_chance(ctx.all_runs)
    ctx.scale = run_scale(ctx.all_runs, quick=study.endswith(QUICK_SUFFIX) if quick is None else bool(quick))
    return ctx
