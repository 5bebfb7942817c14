"""A study's own description (its preset, whether it was a --quick grid) is kept in the database,
so a report built later, from the database alone, marks a quick study's verdicts indicative only."""

from __future__ import annotations

import pytest

from normlab.experiments.store import ResultsDB, StoreError
from normlab.report import load_report
from normlab.train.record import RunRecord


def _add_runs(db: ResultsDB, study: str, dataset: str = "mnist") -> None:
    for variant, base in (("lenet5", 0.95), ("lenet5-bn", 0.96)):
        for seed in range(3):
            config = {"model": variant, "dataset": dataset, "protocol": "standard", "seed": seed, "epochs": 2,
                      "subset": 1000}
            run_id = db.start_run(study=study, variant=variant, seed=seed, config=config,
                                  config_hash=f"{variant}-{seed}")
            db.finish_run(run_id, RunRecord(config=config, status="done", val_accuracy=[base, base + 0.001 * seed],
                                            train_accuracy=[0.9, 0.95], val_loss=[0.3, 0.2], train_loss=[0.4, 0.3],
                                            epoch_seconds=[1.0, 1.0]))


def test_study_info_round_trips_and_is_empty_for_older_databases(tmp_path):
    with ResultsDB(tmp_path / "normlab.db") as db:
        assert db.study_info("s") == {}
        db.set_study_info("s", {"preset": "blog", "quick": True})
        db.set_study_info("s", {"preset": "blog", "quick": False})  # replaced, not added
        assert db.study_info("s") == {"preset": "blog", "quick": False}
    with ResultsDB(tmp_path / "normlab.db", readonly=True) as db:
        assert db.study_info("s") == {"preset": "blog", "quick": False}
        with pytest.raises(StoreError):
            db.set_study_info("s", {})


def test_a_quick_study_with_its_own_name_is_reported_as_quick(tmp_path):
    with ResultsDB(tmp_path / "normlab.db") as db:
        _add_runs(db, "my-look")  # not "<preset>-quick": the name alone would not tell
        _add_runs(db, "my-full")
        db.set_study_info("my-look", {"preset": "blog", "quick": True})
        db.set_study_info("my-full", {"preset": "blog", "quick": False})
    quick = load_report(tmp_path, study="my-look")
    full = load_report(tmp_path, study="my-full")
    assert any("indicative only" in w.lower() for w in quick.warnings)
    assert not any("indicative only" in w.lower() for w in full.warnings)


def test_the_default_target_is_the_datasets(tmp_path):
    from normlab.experiments.stats import DATASET_TARGETS, DEFAULT_TARGET, default_target

    assert default_target(["mnist", "mnist"]) == DATASET_TARGETS["mnist"] == DEFAULT_TARGET
    assert default_target(["fashion-mnist"]) == DATASET_TARGETS["fashion-mnist"] < DEFAULT_TARGET
    assert default_target(["mnist", "fashion-mnist"]) == DEFAULT_TARGET  # mixed: no one dataset's
    with ResultsDB(tmp_path / "normlab.db") as db:
        _add_runs(db, "m")
    assert load_report(tmp_path).target == DATASET_TARGETS["mnist"]
    assert load_report(tmp_path, target=0.9).target == 0.9


def test_a_fashion_mnist_study_reads_epochs_to_target_at_its_own_target(tmp_path):
    from normlab.experiments.stats import DATASET_TARGETS

    with ResultsDB(tmp_path / "normlab.db") as db:
        _add_runs(db, "f", dataset="fashion-mnist")
    assert load_report(tmp_path).target == DATASET_TARGETS["fashion-mnist"]
