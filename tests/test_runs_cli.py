"""``normlab runs`` and ``normlab report`` at the command line: argument order, damaged
databases and read-only media give one-line errors or work, never a traceback."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import pytest

from normlab.cli import main
from test_store import damage, fill_db, needs_readonly_media, on_readonly_media
from test_store_schema import schema_1_db, versions


@pytest.fixture()
def filled_db(tmp_path) -> Path:
    return fill_db(tmp_path / "study" / "normlab.db")


def error_line(capsys) -> str:
    """The one line a failed command prints on stderr."""
    err = capsys.readouterr().err
    assert err.startswith("normlab: error: ") and err.count("\n") == 1, err
    return err


def test_list(filled_db, capsys):
    assert main(["runs", "list", str(filled_db.parent)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["id", "study", "variant", "seed", "status"]
    assert "lenet5-bn" in out and "93.10" in out and "failed" in out  # best val = 0.85 + 0.08 + 0.001
    assert "3 run(s): 2 done, 1 failed" in out
    assert main(["runs", "list", str(filled_db), "--study", "nothing"]) == 0
    assert "no runs" in capsys.readouterr().out


def test_show_takes_the_folder_first(filled_db, capsys):
    assert main(["runs", "show", str(filled_db.parent), "2"]) == 0
    out = capsys.readouterr().out
    assert "variant 'lenet5-bn'" in out and "status:      done" in out
    assert "torch_version" in out and '"lenet5-bn"' in out
    assert "per-batch losses: 40 train, 8 val" in out
    assert out.count("\n  ") >= 3 and "val acc %" in out
    assert main(["runs", "show", str(filled_db), "99"]) == 2
    assert "no run with id 99" in error_line(capsys)


def test_show_with_the_default_folder(filled_db, monkeypatch, capsys):
    default = filled_db.parent.parent / "runs" / "study"
    default.parent.mkdir()
    filled_db.parent.rename(default)
    monkeypatch.chdir(default.parent.parent)
    assert main(["runs", "show", "3"]) == 0
    assert "status:      failed (boom)" in capsys.readouterr().out


def test_show_in_the_old_order_says_the_new_one(filled_db, capsys):
    folder = str(filled_db.parent)
    assert main(["runs", "show", "2", folder]) == 2
    err = error_line(capsys)
    assert f"normlab runs show {folder} 2" in err and "folder first" in err
    assert main(["runs", "show", folder, "two"]) == 2
    err = error_line(capsys)
    assert "'two'" in err and "integer" in err and "normlab runs list" in err


def test_export(filled_db, tmp_path, capsys):
    assert main(["runs", "export", str(filled_db.parent)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 7
    out = tmp_path / "export" / "runs.json"
    assert main(["runs", "export", str(filled_db), "--format", "json", "--out", str(out)]) == 0
    assert len(json.loads(out.read_text())) == 3
    assert not [p for p in out.parent.iterdir() if p.name != "runs.json"]  # no temp file left
    with pytest.raises(SystemExit) as info:
        main(["runs", "export", str(filled_db), "--format", "xml"])
    assert info.value.code == 2
    assert "invalid choice: 'xml'" in capsys.readouterr().err


def test_schema_1_file_is_read_as_it_is(tmp_path, capsys):
    path = schema_1_db(tmp_path / "study" / "normlab.db")
    assert main(["runs", "list", str(path.parent)]) == 0
    assert "3 run(s)" in capsys.readouterr().out
    assert main(["runs", "export", str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["status"], r["environment"]) for r in rows] == [("done", "{}")] * 2 + [("failed", "{}"), ("running", "{}")]
    assert versions(path) == (1, "1", False)  # reading never upgrades


def test_missing_path(tmp_path, capsys):
    missing = tmp_path / "no-such-study"
    for argv in (["runs", "list", str(missing)], ["runs", "show", str(missing), "1"],
                 ["runs", "export", str(missing)]):
        assert main(argv) == 2
        assert str(missing) in error_line(capsys)
    assert not missing.exists()  # reading never creates a database
    assert main(["runs", "list", str(tmp_path)]) == 2
    assert "no results database in" in error_line(capsys)
    assert not (tmp_path / "normlab.db").exists()


def test_runs_without_action(capsys):
    assert main(["runs"]) == 2
    assert "list" in capsys.readouterr().err


COMMANDS = {
    "list": lambda d: ["runs", "list", d],
    "show": lambda d: ["runs", "show", d, "1"],
    "export csv": lambda d: ["runs", "export", d],
    "export json": lambda d: ["runs", "export", d, "--format", "json"],
    "report": lambda d: ["report", d, "--format", "md", "--out", "-"],
}


@pytest.mark.parametrize("table", ["runs", "epochs", "meta"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_damaged_database_is_one_line_error(filled_db, command, table, capsys):
    damage(filled_db, table)
    # main() lets anything but a NormlabError through: an sqlite3 exception would fail the test.
    assert main(COMMANDS[command](str(filled_db.parent))) == 2
    err = error_line(capsys)
    assert str(filled_db) in err and "damaged" in err and "backup" in err and ".recover" in err


CLI = "import sys; from normlab.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.mark.parametrize("command", ["list", "show", "export csv", "report"])
def test_commands_work_on_readonly_media(filled_db, tmp_path, command):
    needs_readonly_media(tmp_path)
    proc = on_readonly_media(filled_db.parent, sys.executable, "-c", CLI, *COMMANDS[command](str(filled_db.parent)))
    assert proc.returncode == 0, proc.stderr
    assert {"list": "3 run(s)", "show": "variant 'lenet5'", "export csv": "run_id,study",
            "report": "lenet5-bn"}[command] in proc.stdout
    assert sorted(p.name for p in filled_db.parent.iterdir()) == ["normlab.db"]
