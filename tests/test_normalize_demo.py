"""Tests of the post's figures: normalize_demo, plot_normalize_demo and ``normlab normalize-demo``."""

from __future__ import annotations

import argparse
import errno
import json

import numpy as np
import pytest
from PIL import Image

from normlab.cli import main
from normlab.cli import normalize_demo as cli_module
from normlab.errors import ConfigError, OutputError
from normlab.normalize import normalize_demo, plot_normalize_demo

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_stats(block, values):
    values = np.asarray(values)
    assert block["min"] == pytest.approx(values.min(), abs=1e-12)
    assert block["max"] == pytest.approx(values.max(), abs=1e-12)
    assert block["mean"] == pytest.approx(values.mean(), abs=1e-12)
    assert block["std"] == pytest.approx(values.std(), abs=1e-12)  # population std, ddof=0


def _check_result(result, seed, count):
    assert result["seed"] == seed and result["count"] == count
    original = np.asarray(result["original"]["values"])
    min_max = np.asarray(result["min_max"]["values"])
    z_score = np.asarray(result["z_score"]["values"])
    assert original.shape == min_max.shape == z_score.shape == (count,)
    assert np.all((original >= 0) & (original < 20))
    np.testing.assert_array_equal(original, np.random.default_rng(seed).uniform(0, 20, count))
    assert min_max.min() == 0.0 and min_max.max() == 1.0
    assert np.all((min_max >= 0) & (min_max <= 1))
    np.testing.assert_allclose(min_max, (original - original.min()) / (original.max() - original.min()), rtol=1e-12)
    assert abs(z_score.mean()) < 1e-12 and z_score.std() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(z_score, (original - original.mean()) / original.std(), rtol=1e-12)
    for name, values in (("original", original), ("min_max", min_max), ("z_score", z_score)):
        _check_stats(result[name], values)
    assert result["min_max"]["min"] == 0.0 and result["min_max"]["max"] == 1.0
    assert result["z_score"]["mean"] == pytest.approx(0.0, abs=1e-12)
    assert result["z_score"]["std"] == pytest.approx(1.0, abs=1e-12)


def test_normalize_demo_numbers():
    result = normalize_demo()
    _check_result(result, seed=0, count=50)
    assert json.loads(json.dumps(result)) == result  # plain JSON types only
    # the original's spread carries over: the z-scores are the min-max values, affinely remapped
    o = result["original"]
    np.testing.assert_allclose(result["z_score"]["max"], (o["max"] - o["mean"]) / o["std"], rtol=1e-12)


def test_normalize_demo_is_seeded():
    assert normalize_demo(seed=3, count=20) == normalize_demo(seed=3, count=20)
    assert normalize_demo(seed=3, count=20)["original"] != normalize_demo(seed=4, count=20)["original"]
    _check_result(normalize_demo(seed=7, count=500), seed=7, count=500)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"count": 1}, "count must be an int >= 2"),
    ({"count": 0}, "count must be an int >= 2"),
    ({"count": 2.5}, "count must be an int >= 2"),
    ({"seed": -1}, "seed must be a non-negative int"),
    ({"seed": "0"}, "seed must be a non-negative int"),
])
def test_normalize_demo_rejects_bad_arguments(kwargs, fragment):
    with pytest.raises(ConfigError, match=fragment):
        normalize_demo(**kwargs)


def _check_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert 20_000 < len(data) < 2_000_000
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        width, height = img.size
        assert width >= 1000 and 300 <= height <= width  # three panels side by side
        pixels = np.asarray(img.convert("RGB"))
    # more than a blank canvas: the three bar colours are drawn
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 50


def test_plot_normalize_demo(tmp_path):
    path = plot_normalize_demo(normalize_demo(), tmp_path / "sub" / "demo.png")
    assert path == tmp_path / "sub" / "demo.png"
    _check_png(path)
    assert [p.name for p in path.parent.iterdir()] == ["demo.png"]  # no temporary file left behind


def test_plot_rejects_a_foreign_dict(tmp_path):
    with pytest.raises(ConfigError, match="normalize_demo"):
        plot_normalize_demo({"count": 3}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def _run_isolated(argv):
    # Only this module's parser: the test does not depend on the other sub-commands.
    parser = argparse.ArgumentParser(prog="normlab")
    cli_module.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_cli_writes_png_and_json(tmp_path, capsys):
    out = tmp_path / "demo"
    assert _run_isolated(["normalize-demo", "--out", str(out), "--seed", "5", "--count", "80"]) == 0
    _check_png(out / "normalize_demo.png")
    result = json.loads((out / "normalize_demo.json").read_text())
    _check_result(result, seed=5, count=80)
    assert result == normalize_demo(seed=5, count=80)
    printed = capsys.readouterr().out
    assert "normalize_demo.png" in printed and "normalize_demo.json" in printed
    assert "z_score: min" in printed and "-0.0000" not in printed


def test_cli_defaults_and_help_texts():
    parser = argparse.ArgumentParser(prog="normlab")
    sub = parser.add_subparsers()
    cli_module.register(sub)
    args = parser.parse_args(["normalize-demo"])
    assert args.seed == 0 and args.count == 50
    assert args.out == "runs/normalize-demo"  # under runs/, like every other command
    demo_parser = sub.choices["normalize-demo"]
    for action in demo_parser._actions:
        if action.dest != "help":
            assert action.help.rstrip(")").endswith("default: %(default)s"), action.dest


def test_cli_default_output_is_under_runs(tmp_path, monkeypatch, capsys):
    # never writes into the current directory unasked
    monkeypatch.chdir(tmp_path)
    assert _run_isolated(["normalize-demo", "--count", "20"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]
    out = tmp_path / "runs" / "normalize-demo"
    assert sorted(p.name for p in out.iterdir()) == ["normalize_demo.json", "normalize_demo.png"]
    assert json.loads((out / "normalize_demo.json").read_text())["count"] == 20
    assert "runs/normalize-demo/normalize_demo.png" in capsys.readouterr().out


@pytest.mark.parametrize("target", ["atomic_write_text", "plot_normalize_demo"])
def test_cli_unwritable_output_is_an_output_error(tmp_path, monkeypatch, capsys, target):
    def full_disk(*args):
        path = args[0] if target == "atomic_write_text" else args[1]
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(cli_module, target, full_disk)
    with pytest.raises(OutputError, match="No space left on device"):
        _run_isolated(["normalize-demo", "--out", str(tmp_path / "o")])
    assert main(["normalize-demo", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("normlab: error: cannot write ") and str(tmp_path / "o") in err
    assert err.count("\n") == 1  # one line, no traceback


def test_cli_through_main(tmp_path, capsys):
    assert main(["normalize-demo", "--out", str(tmp_path), "--count", "30"]) == 0
    assert json.loads((tmp_path / "normalize_demo.json").read_text())["count"] == 30
    assert (tmp_path / "normalize_demo.png").read_bytes()[:8] == PNG_SIGNATURE

    assert main(["normalize-demo", "--out", str(tmp_path / "bad"), "--count", "1"]) == 2
    assert "normlab: error: count must be an int >= 2" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["normalize-demo", "--out", str(blocker)]) == 2
    assert "normlab: error: cannot create the output folder" in capsys.readouterr().err
    with pytest.raises(OutputError):
        _run_isolated(["normalize-demo", "--out", str(blocker / "sub")])
