"""The command line takes flags exactly as typed: no abbreviations, no silently ignored flags,
errors that show the sub-command's usage and the closest valid flag."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from normlab.cli import _all_parsers, build_parser, main, typed_options
from normlab.errors import ConfigError


def test_no_parser_accepts_abbreviations():
    parsers = list(_all_parsers(build_parser()))
    assert len(parsers) > 10  # the top level, every command and the data/runs actions
    assert all(not p.allow_abbrev for p in parsers)


def test_abbreviated_flag_is_an_error_with_the_command_usage_and_a_suggestion(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["study", "--preset", "blog", "--epoch", "3", "--out", "/nonexistent/x"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: normlab study" in err
    assert "unrecognized arguments: --epoch 3" in err
    assert "did you mean --epochs?" in err


@pytest.mark.parametrize("argv, command, suggestion", [
    (["compare", "--epoch=2"], "compare", "--epochs"),
    (["train", "--batchsize", "8"], "train", "--batch-size"),
    (["data", "verify", "--datset", "mnist"], "data verify", "--dataset"),
])
def test_unknown_flag_names_the_sub_command_and_the_closest_flag(argv, command, suggestion, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"usage: normlab {command}" in err
    assert f"did you mean {suggestion}?" in err


def test_study_has_no_seed_flag(capsys):
    # A study's seeds are --seeds; --seed used to be accepted and ignored.
    with pytest.raises(SystemExit):
        main(["study", "--seed", "2", "--out", "/nonexistent/x"])
    assert "did you mean --seeds?" in capsys.readouterr().err


def test_typed_options_come_from_the_parse_not_from_the_text():
    parser = build_parser()
    typed = typed_options(parser, ["study", "--preset", "blog", "--epochs", "10", "--data-dir=--lr", "--quiet"])
    # --epochs typed with its default value still counts; "--lr" inside a value is not a flag.
    assert typed == {"preset", "epochs", "data_dir", "quiet"}
    # The parser's defaults are restored afterwards.
    args = parser.parse_args(["study"])
    assert args.epochs == 10 and args.lr == pytest.approx(1e-3) and args.func is not None


def test_a_typed_flag_wins_over_the_preset():
    from normlab.cli.study import build_spec

    parser = build_parser()
    argv = ["study", "--preset", "blog", "--epochs", "3"]
    args = parser.parse_args(argv)
    args.typed = typed_options(parser, argv)
    assert build_spec(args).base.epochs == 3
    argv = ["study", "--preset", "blog"]
    args = parser.parse_args(argv)
    args.typed = typed_options(parser, argv)
    assert build_spec(args).base.epochs == 10


def test_target_without_a_report_is_an_error(capsys):
    assert main(["study", "--no-report", "--target", "0.9", "--out", "/nonexistent/x"]) == 2
    assert "--no-report" in capsys.readouterr().err


def test_no_report_for_a_study_in_which_nothing_ran(tmp_path, monkeypatch, capsys):
    import normlab.cli.study as cli_study
    from normlab.experiments.study import StudyOutcome, StudyProgress

    def all_failed(spec, out, **kwargs):
        n = len(spec.configs())
        return StudyOutcome(db_path=Path(out) / "normlab.db", progress=StudyProgress(total=n, failed=n),
                            seconds=0.0, outcomes=[])

    monkeypatch.setattr(cli_study, "run_study", all_failed)
    assert main(["study", "--seeds", "2", "--quiet", "--out", str(tmp_path / "s")]) == 1
    assert not (tmp_path / "s" / "report.html").exists()
    assert "no report written" in capsys.readouterr().err


def test_an_interrupted_study_says_how_to_resume(tmp_path, monkeypatch, capsys):
    import normlab.cli.study as cli_study

    def interrupted(spec, out, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_study, "run_study", interrupted)
    assert main(["study", "--seeds", "2", "--quiet", "--out", str(tmp_path / "s")]) == 130
    assert "run the same command again to resume" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Training flags generated from TrainConfig
# --------------------------------------------------------------------------------------------


def _options(command: str) -> dict[str, argparse.Action]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {o: a for a in sub.choices[command]._actions for o in a.option_strings}


def test_every_user_settable_config_field_has_a_flag_with_the_configs_help():
    import dataclasses

    from normlab.diagnostics import DESCRIPTIONS
    from normlab.train import TrainConfig

    options = _options("train")
    for f in dataclasses.fields(TrainConfig):
        if f.name == "diagnostics":
            assert all(f"--record-{n.replace('_', '-')}" in options for n in DESCRIPTIONS)
            continue
        action = options[f"--{f.name.replace('_', '-')}"]
        assert action.dest == f.name
        assert action.help.startswith(f.metadata["help"]) and "(default: " in action.help, f.name
        assert action.choices == f.metadata["choices"]
    for flag in ("--momentum", "--weight-decay", "--eval-batch-size", "--head", "--accelerate", "--no-accelerate"):
        assert flag in options


def test_parsed_defaults_are_the_configs_defaults():
    from normlab.cli._common import config_from_args
    from normlab.train import TrainConfig

    parser = build_parser()
    for argv in (["train"], ["compare"], ["study"]):
        assert config_from_args(parser.parse_args(argv)) == TrainConfig()


def test_flags_reach_the_config():
    from normlab.cli._common import config_from_args

    parser = build_parser()
    config = config_from_args(parser.parse_args([
        "train", "--optimizer", "sgd", "--momentum", "0.5", "--weight-decay", "1e-4", "--eval-batch-size", "128",
        "--head", "logits", "--protocol", "blog", "--no-accelerate", "--standardize", "--subset", "100",
        "--threads", "2", "--model", "lenet5:norm=group"]))
    assert (config.optimizer, config.momentum, config.weight_decay, config.eval_batch_size) == ("sgd", 0.5, 1e-4, 128)
    assert (config.head, config.protocol, config.accelerate, config.standardize) == ("logits", "blog", False, True)
    assert (config.subset, config.threads, config.model) == (100, 2, "lenet5:norm=group")
    assert config_from_args(parser.parse_args(["train", "--accelerate"])).accelerate is True
    assert config_from_args(parser.parse_args(["train", "--no-standardize"])).standardize is False


def test_a_bad_value_is_one_error_line(capsys):
    assert main(["train", "--momentum", "1.5", "--out", "/nonexistent/x"]) == 2
    assert capsys.readouterr().err == "normlab: error: momentum must be in [0, 1), got 1.5\n"
    with pytest.raises(SystemExit):
        main(["train", "--head", "probabilities"])
    assert "invalid choice: 'probabilities'" in capsys.readouterr().err


def test_commands_leave_out_the_flags_of_fields_they_set_another_way():
    study, compare, train = _options("study"), _options("compare"), _options("train")
    assert "--seed" not in study and "--model" not in study and {"--seeds", "--variants"} <= study.keys()
    assert "--model" not in compare and {"--seed", "--models"} <= compare.keys()
    assert {"--seed", "--model"} <= train.keys()


def test_study_target_default_is_the_datasets_from_the_statistics():
    from normlab.experiments import stats

    # No literal: without --target the report takes the dataset's target from the statistics,
    # and the help lists those same values.
    for command in ("study", "report"):
        option = _options(command)["--target"]
        assert option.default is None
        for dataset, target in stats.DATASET_TARGETS.items():
            assert f"{target:g} for {dataset}" in option.help


def test_predict_help_describes_the_image_limits(capsys):
    from normlab.predict import MAX_PIXELS

    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert f"any size up to {MAX_PIXELS:,} pixels" in " ".join(capsys.readouterr().out.split())


def test_smoothness_direction_goes_with_recording_smoothness(capsys):
    from normlab.cli.study import build_spec

    parser = build_parser()

    def spec(argv):
        args = parser.parse_args(argv)
        args.typed = typed_options(parser, argv)
        return build_spec(args)

    assert main(["train", "--smoothness-direction", "gradient", "--out", "/nonexistent/x"]) == 2
    assert "--record-smoothness" in capsys.readouterr().err
    base = spec(["study", "--record-smoothness", "5", "--smoothness-direction", "gradient"]).base
    assert base.diagnostics["smoothness"] == {"every": 5, "direction": "gradient"}
    # A preset that records smoothness keeps its schedule and takes the typed direction.
    preset = spec(["study", "--preset", "noisy-bn", "--smoothness-direction", "gradient"]).base
    assert preset.diagnostics["smoothness"]["direction"] == "gradient" and "every" in preset.diagnostics["smoothness"]
    with pytest.raises(ConfigError, match="does not record smoothness"):
        spec(["study", "--preset", "blog", "--smoothness-direction", "gradient"])
