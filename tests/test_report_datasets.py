"""A study that mixes datasets (the input-norm preset trains on MNIST and Fashion-MNIST): each variant
is measured against its own dataset's target, variants are ranked only within a dataset, and the
report says which baseline each dataset's comparisons use."""

from __future__ import annotations

import pytest

from conftest import run_record
from normlab.errors import ConfigError
from normlab.experiments import stats
from normlab.report import build_report
from normlab.report.context import build_context
from normlab.train import TrainConfig

#: Per-epoch validation accuracy of each (model, dataset): MNIST passes 98% and Fashion-MNIST 85%,
#: batch norm one epoch sooner on each, and no Fashion-MNIST run gets near 98%.
CURVES = {
    ("lenet5", "mnist"): [0.970, 0.975, 0.982, 0.986],
    ("lenet5-bn", "mnist"): [0.975, 0.981, 0.985, 0.988],
    ("lenet5", "fashion-mnist"): [0.820, 0.840, 0.855, 0.870],
    ("lenet5-bn", "fashion-mnist"): [0.835, 0.852, 0.866, 0.878],
}


def _run(variant: str, model: str, dataset: str, seed: int, accs: list[float], status: str = "done", id: int = 0):
    cfg = TrainConfig(model=model, dataset=dataset, seed=seed, epochs=4).to_dict()
    return run_record(id=id, variant=variant, seed=seed, config=cfg, status=status, config_hash=f"{id:x}",
                      val_accuracy=accs, val_loss=[0.4] * len(accs), train_loss=[0.5] * len(accs),
                      epoch_seconds=[2.0] * len(accs), val_split_name="test")


def _runs(datasets=("mnist", "fashion-mnist"), models=("lenet5", "lenet5-bn"), seeds=(0, 1, 2), diverged=()):
    """Synthetic runs, variant ``"<model> <dataset>"``, in study order (MNIST first); ``diverged``
    names (variant, seed) pairs recorded as diverged in their second epoch."""
    runs = []
    for dataset in datasets:
        for model in models:
            for seed in seeds:
                variant = f"{model} {dataset}"
                accs = [a + 0.0005 * seed for a in CURVES[(model, dataset)]]
                if (variant, seed) in diverged:
                    runs.append(_run(variant, model, dataset, seed, accs[:1] + [float("nan")], "diverged",
                                     len(runs) + 1))
                else:
                    runs.append(_run(variant, model, dataset, seed, accs, id=len(runs) + 1))
    return runs


def _texts(report, anchor: str) -> list[str]:
    return [p.text for p in report.section(anchor).paragraphs]


# --------------------------------------------------------------------------------------------
# Each variant against its own dataset's target
# --------------------------------------------------------------------------------------------


def test_each_variant_is_measured_against_its_datasets_target():
    ctx = build_context(_runs())
    assert ctx.targets == {"lenet5 mnist": 0.98, "lenet5-bn mnist": 0.98,
                           "lenet5 fashion-mnist": 0.85, "lenet5-bn fashion-mnist": 0.85}
    assert ctx.mixed_targets
    fashion = ctx.summaries["lenet5 fashion-mnist"].target
    assert fashion.target == 0.85 and fashion.n_reached == 3 and fashion.median_epochs == 3
    assert ctx.summaries["lenet5-bn fashion-mnist"].target.median_epochs == 2
    assert ctx.summaries["lenet5 mnist"].target.target == 0.98
    assert [(g.dataset, g.target, g.variants) for g in ctx.target_groups] == [
        ("mnist", 0.98, ("lenet5 mnist", "lenet5-bn mnist")),
        ("fashion-mnist", 0.85, ("lenet5 fashion-mnist", "lenet5-bn fashion-mnist"))]


def test_a_given_target_applies_to_every_variant():
    ctx = build_context(_runs(), target=0.9)
    assert set(ctx.targets.values()) == {0.9} and ctx.target == 0.9 and not ctx.mixed_targets
    assert build_report(_runs(), target=0.9, generated_at=0).meta["Target"] == "90%"
    # Still ranked within each dataset: an epoch on MNIST and one on Fashion-MNIST are not one race.
    assert len(ctx.target_groups) == 2


def test_a_single_dataset_keeps_its_one_target():
    ctx = build_context(_runs(datasets=("fashion-mnist",)))
    assert ctx.target == 0.85 and set(ctx.targets.values()) == {0.85} and not ctx.mixed_targets
    report = build_report(_runs(datasets=("fashion-mnist",)), generated_at=0)
    assert report.meta["Target"] == "85%"
    assert report.section("statistics").tables[1].columns[1].label == "Reached 85%"


def test_the_header_table_and_reading_give_each_datasets_target():
    report = build_report(_runs(), generated_at=0)
    assert report.meta["Target"] == "85% (fashion-mnist), 98% (mnist)"
    assert report.targets["lenet5 fashion-mnist"] == 0.85
    table = report.section("statistics").tables[1]
    labels = [c.label for c in table.columns]
    assert labels[:3] == ["Variant", "Target", "Reached"]
    assert {row[0]: (row[1], row[2]) for row in table.rows} == {
        "lenet5 mnist": ("98%", "3 of 3"), "lenet5-bn mnist": ("98%", "3 of 3"),
        "lenet5 fashion-mnist": ("85%", "3 of 3"), "lenet5-bn fashion-mnist": ("85%", "3 of 3")}
    reading = _texts(report, "statistics")[-1]
    assert "On mnist (target 98%)" in reading and "On fashion-mnist (target 85%)" in reading
    assert "never ranked against each other" in reading
    methods = " ".join(_texts(report, "methods"))
    assert "85% on fashion-mnist" in methods and "98% on mnist" in methods


def test_variants_are_ranked_only_against_their_own_target():
    ctx = build_context(_runs())
    summaries = {v: ctx.summaries[v].target for v in ctx.variants}
    with pytest.raises(ConfigError, match="one target at a time"):
        stats.rank_by_target(summaries)
    ranked = [stats.rank_by_target({v: summaries[v] for v in g.variants}) for g in ctx.target_groups]
    assert ranked == [["lenet5-bn mnist", "lenet5 mnist"], ["lenet5-bn fashion-mnist", "lenet5 fashion-mnist"]]


def test_figures_draw_each_variants_target_and_no_single_line_across_datasets(monkeypatch):
    import normlab.report.sections.core as core

    seen: dict[str, float | None] = {}
    curves, finals = core.variant_curves_figure, core.final_accuracy_figure
    monkeypatch.setattr(core, "variant_curves_figure",
                        lambda name, *a, **kw: seen.__setitem__(name, kw["target"]) or curves(name, *a, **kw))
    monkeypatch.setattr(core, "final_accuracy_figure",
                        lambda *a, **kw: seen.__setitem__("final", kw["target"]) or finals(*a, **kw))
    report = build_report(_runs(), generated_at=0)
    assert seen == {"lenet5 mnist": 0.98, "lenet5-bn mnist": 0.98, "lenet5 fashion-mnist": 0.85,
                    "lenet5-bn fashion-mnist": 0.85, "final": None}
    assert "dotted line: the target" not in report.section("distribution").figures[0].caption


def test_a_diverged_run_is_said_to_miss_its_own_datasets_target():
    report = build_report(_runs(diverged={("lenet5 fashion-mnist", 1)}), generated_at=0)
    notes = report.section("statistics").tables[0].notes
    assert any("did not reach 85%" in n for n in notes), notes
    assert report.summaries["lenet5 fashion-mnist"].target.n_diverged == 1


# --------------------------------------------------------------------------------------------
# Which baseline each dataset's comparisons use
# --------------------------------------------------------------------------------------------


def test_each_dataset_is_said_to_have_its_own_baseline():
    report = build_report(_runs(), generated_at=0)
    ctx = build_context(_runs())
    assert ctx.baselines() == {"mnist": "lenet5 mnist", "fashion-mnist": "lenet5 fashion-mnist"}
    overview = " ".join(_texts(report, "overview"))
    assert "the first variant, the baseline" not in overview
    assert "'lenet5 mnist' on mnist, 'lenet5 fashion-mnist' on fashion-mnist" in overview
    comparisons = _texts(report, "comparisons")[0]
    assert "the first variant of the study" not in comparisons
    assert "lenet5 mnist on mnist, lenet5 fashion-mnist on fashion-mnist" in comparisons


def test_a_variant_alone_on_its_dataset_is_said_to_be_compared_with_none():
    runs = _runs() + [_run("lenet5 kmnist", "lenet5", "kmnist", seed, [0.85, 0.9, 0.92, 0.93], id=100 + seed)
                      for seed in (0, 1, 2)]
    ctx = build_context(runs)
    assert ctx.baselines() == {"mnist": "lenet5 mnist", "fashion-mnist": "lenet5 fashion-mnist"}
    assert ctx.targets["lenet5 kmnist"] == 0.90
    overview = " ".join(_texts(build_report(runs, generated_at=0), "overview"))
    assert "'lenet5 kmnist' is the only variant on kmnist" in overview


def test_one_dataset_keeps_the_one_baseline_sentence():
    report = build_report(_runs(datasets=("mnist",)), generated_at=0)
    assert ("Each variant (B) is compared with the first variant, the baseline 'lenet5 mnist' (A), seed by seed."
            in _texts(report, "overview"))


def test_variants_each_alone_on_their_dataset_are_said_to_be_compared_with_none():
    report = build_report(_runs(models=("lenet5",)), generated_at=0)
    assert not report.comparisons and "comparisons" not in [s.anchor for s in report.sections]
    assert ("No variant is compared with another: each is the only one on its dataset ('lenet5 mnist' on mnist, "
            "'lenet5 fashion-mnist' on fashion-mnist)") in " ".join(_texts(report, "overview"))
