"""resolve(): a config's names checked against the registries, by train() and, up front, by the drivers.

TrainConfig checks types and ranges only; whether a model, dataset or diagnostic exists is asked
where it is used. A study or comparison asks before any worker starts or anything is written,
so a typo is one error, not one failed run per (variant, seed).
"""

from __future__ import annotations

import pytest

from normlab.errors import ConfigError
from normlab.experiments.engines.local import RunTask, run_local
from normlab.experiments.study import StudySpec, Variant, run_study
from normlab.train import TrainConfig


def _never(tasks, **kwargs):
    raise AssertionError("the engine was called")


def test_a_study_resolves_its_configs_before_any_run(tmp_path):
    spec = StudySpec(name="s", variants=[Variant.parse("lenet5")], seeds=[0, 1],
                     base=TrainConfig(dataset="cifar", device="cpu"))
    with pytest.raises(ConfigError, match="cifar"):
        run_study(spec, tmp_path / "out", engine=_never)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("base, message", [
    (TrainConfig(diagnostics={"hessian": {}}), "unknown diagnostic.*'hessian'"),
    (TrainConfig(diagnostics={"activations": {"evry": 3}}), "unknown setting"),
    (TrainConfig(transform="none"), "input_size"),  # lenet5's 32x32 input against 28x28 images
])
def test_a_study_checks_names_and_diagnostics_up_front(base, message):
    model = "lenet5:input_size=32" if base.transform == "none" else "lenet5"
    spec = StudySpec(name="s", variants=[Variant.parse(model)], seeds=[0], base=base)
    with pytest.raises(ConfigError, match=message):
        spec.configs()


def test_compare_refuses_an_unknown_dataset_before_writing(tmp_path, capsys):
    from normlab.cli import main

    out = tmp_path / "out"
    assert main(["compare", "--dataset", "cifar", "--epochs", "1", "--out", str(out)]) == 2
    assert "cifar" in capsys.readouterr().err
    assert not (out / "normlab.db").exists()


def test_the_worker_builds_the_configs_diagnostics(data_dir):
    config = TrainConfig(model="lenet5-bn", epochs=1, subset=256, device="cpu",
                         diagnostics={"grad_norms": {"every": 2}})
    task = RunTask(key="d", data_dir=str(data_dir), threads=1, config=config.to_dict())
    [outcome] = run_local([task], workers=1)
    assert outcome.error is None
    assert outcome.result["diagnostics"]["grad_norms"]["step"] == [0, 2]  # 256 images / 64 = 4 steps
    assert outcome.result["config"] == config.to_dict()
    task.config = {**config.to_dict(), "diagnostics": {"hessian": {}}}
    [bad] = run_local([task], workers=1)
    assert bad.result is None and "unknown diagnostic(s) 'hessian'" in bad.error
