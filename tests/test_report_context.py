"""What a report is built from: which variants it pairs, and which runs it counts as one configuration."""

from __future__ import annotations

from conftest import run_record

from normlab.report.context import build_context


def _runs(variant, config, base, seeds=(0, 1, 2)):
    return [run_record(variant=variant, seed=s, config={**config, "seed": s}, val_accuracy=[base + 0.001 * s],
                       epoch_seconds=[1.0], train_accuracy=[0.9], val_loss=[0.3], train_loss=[0.3])
            for s in seeds]


def test_a_study_across_datasets_pairs_variants_within_each_dataset():
    runs = []
    for dataset, base in (("mnist", 0.98), ("fashion-mnist", 0.88)):
        for model, bump in (("lenet5", 0.0), ("lenet5-bn", 0.005)):
            runs += _runs(f"{model} {dataset}", {"model": model, "dataset": dataset}, base + bump)
    ctx = build_context(runs)
    pairs = {(c.a_name, c.b_name) for c in ctx.comparisons}
    assert pairs == {("lenet5 mnist", "lenet5-bn mnist"), ("lenet5 fashion-mnist", "lenet5-bn fashion-mnist")}


def test_a_run_stored_before_a_field_existed_is_the_same_configuration():
    old = {"model": "lenet5", "dataset": "mnist"}  # stored before accelerate, init, input_norm... existed
    new = {**old, "accelerate": True, "init": "blog", "input_norm": "minmax"}  # the same, at their defaults
    runs = _runs("lenet5", old, 0.98, seeds=(0, 1)) + _runs("lenet5", new, 0.98, seeds=(2,))
    runs += _runs("lenet5-bn", new, 0.985)
    ctx = build_context(runs)
    assert not ctx.set_aside
    assert len(ctx.runs["lenet5"]) == 3
