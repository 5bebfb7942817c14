"""The package's import graph has no circles, and the cheap commands never import torch.

The graph is read from the source with ``ast``, so nothing is imported to build it. An
``import a.b.c`` or ``from a.b import c`` runs the ``__init__`` of ``a`` and ``a.b`` too, so it
counts as importing those packages as well (except the importer's own packages, which always run
before it). Imports inside functions count: a circle closed by a lazy import still ties two
layers together, and the architecture (lower layers never import higher ones) is what this test
guards. Left out: imports under ``if TYPE_CHECKING:``, which never run, and the modules a
package's PEP 562 ``__getattr__`` loads by name, which are its own submodules."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import normlab

SRC = Path(normlab.__file__).resolve().parent
ROOT = SRC.parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool):
    """Every module name an import statement in ``tree`` names (TYPE_CHECKING blocks left out)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                todo.extend(child.orelse)
                continue
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, ()
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    package = module if is_package else module.rpartition(".")[0]
                    for _ in range(child.level - 1):
                        package = package.rpartition(".")[0]
                    base = f"{package}.{base}".rstrip(".")
                yield base, tuple(a.name for a in child.names)
            todo.append(child)


def import_graph() -> dict[str, set[str]]:
    """normlab module -> the normlab modules importing it runs (packages included)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, names in _imports(tree, name, path.name == "__init__.py"):
            candidates = [target, *(f"{target}.{n}" for n in names)]
            for candidate in candidates:
                parts = candidate.split(".")
                # The module itself and every package above it run; the importer's own
                # packages are not edges: they always run before it, whatever it imports.
                for i in range(1, len(parts) + 1):
                    prefix = ".".join(parts[:i])
                    if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                        graph[name].add(prefix)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle in ``graph`` as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_walker_sees_packages_lazy_imports_and_circles():
    tree = ast.parse("from typing import TYPE_CHECKING\nimport normlab.a.b\n"
                     "def f():\n    from normlab.c import d\nif TYPE_CHECKING:\n    import normlab.e\n")
    assert sorted(_imports(tree, "normlab.x", False)) == [("normlab.a.b", ()), ("normlab.c", ("d",)),
                                                          ("typing", ("TYPE_CHECKING",))]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_train_never_imports_diagnostics():
    graph = import_graph()
    train = {m for m in graph if m == "normlab.train" or m.startswith("normlab.train.")}
    assert train, "normlab.train not found"
    offenders = {m: sorted(t for t in graph[m] if t.startswith("normlab.diagnostics")) for m in train}
    assert not {m: t for m, t in offenders.items() if t}


@pytest.mark.parametrize("leaf", ["normlab.train.config", "normlab.train.callbacks"])
def test_config_and_callbacks_are_leaves(leaf):
    assert import_graph()[leaf] <= {"normlab", "normlab.train", "normlab.errors"}


def all_cycles(graph: dict[str, set[str]], limit: int = 50) -> list[list[str]]:
    """Circles found one at a time, each broken at its last edge before looking for the next."""
    graph = {k: set(v) for k, v in graph.items()}
    cycles = []
    while len(cycles) < limit and (cycle := find_cycle(graph)):
        cycles.append(cycle)
        graph[cycle[-2]].discard(cycle[-1])
    return cycles


def test_no_import_circles():
    cycles = all_cycles(import_graph())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


_CHECK = """
import sys
from normlab.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("torch", "normlab.models.lenet", "normlab.train.loop") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
sys.exit(code)
"""


def _run_cli(*argv: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _CHECK, *argv], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env})


@pytest.mark.parametrize("argv", [["--help"], ["study", "--help"], ["train", "--help"], ["compare", "--help"],
                                  ["runs", "--help"], ["report", "--help"], ["--version"]])
def test_help_does_not_import_torch(argv):
    proc = _run_cli(*argv)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY:\n" in proc.stdout or proc.stdout.rstrip().endswith("HEAVY:"), proc.stdout[-300:]


def test_runs_list_does_not_import_torch(tmp_path):
    from normlab.experiments.store import ResultsDB

    with ResultsDB(tmp_path / "normlab.db") as db:
        db.start_run(study="s", variant="lenet5", seed=0, config={"model": "lenet5"}, config_hash="h", device="cpu")
    proc = _run_cli("runs", "list", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "lenet5" in proc.stdout
    assert proc.stdout.rstrip().endswith("HEAVY:"), proc.stdout[-300:]


def test_report_does_not_import_torch(tmp_path):
    from normlab.experiments.store import ResultsDB
    from normlab.train.config import TrainConfig
    from normlab.train.record import RunRecord

    with ResultsDB(tmp_path / "normlab.db") as db:
        for variant, base in (("lenet5", 0.95), ("lenet5-bn", 0.96)):
            for seed in range(3):
                config = TrainConfig(model=variant, seed=seed, epochs=2, device="cpu").to_dict()
                run_id = db.start_run(study="s", variant=variant, seed=seed, config=config,
                                      config_hash=f"{variant}-{seed}", device="cpu")
                accuracy = [base + 0.001 * seed, base + 0.02 + 0.001 * seed]
                db.finish_run(run_id, RunRecord(
                    config=config, train_loss_per_batch=[0.5, 0.3, 0.2, 0.1], val_loss_per_batch=[0.3, 0.2],
                    train_accuracy=accuracy, val_accuracy=accuracy, train_loss=[0.4, 0.15], val_loss=[0.3, 0.2],
                    epoch_seconds=[1.0, 1.0], train_seconds=[0.9, 0.9], images_per_second=[100.0, 100.0],
                    status="done"))
    proc = _run_cli("report", str(tmp_path), "--format", "md", "--out", str(tmp_path / "report.md"))
    assert proc.returncode == 0, proc.stderr
    assert "lenet5-bn" in (tmp_path / "report.md").read_text()
    assert proc.stdout.rstrip().endswith("HEAVY:"), proc.stdout[-300:]
