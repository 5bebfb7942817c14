"""The command line takes flags exactly as typed: no abbreviations, no silently ignored flags,
errors that show the sub-command's usage and the closest valid flag."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from normlab.cli import _all_parsers, build_parser, main, typed_options


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
