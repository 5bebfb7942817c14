"""The report package's layers: who imports whom, file sizes, one list of sections, and no torch.

Read from the source with ``ast`` (imports inside functions included), so nothing is imported to
check it: the document model imports nothing else of the report, the renderers only the document
model, and each layer only the layers below it; nothing imports another module's private names.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path


import normlab.experiments.stats
import normlab.report

REPORT = Path(normlab.report.__file__).resolve().parent
STATS = Path(normlab.experiments.stats.__file__).resolve().parent

#: The modules of the report each module may import (prefixes; "sections" covers sections.core...).
ALLOWED = {
    "document": set(),
    "html": {"document"},
    "markdown": {"document"},
    "format": set(),
    "readings": set(),
    "figures": {"document", "figures"},
    "context": {"format", "readings", "figures.base"},
    "phrasing": {"format", "readings", "phrasing"},
    "sections": {"context", "readings", "format", "document", "figures", "phrasing", "sections"},
    "build": {"context", "document", "format", "phrasing", "sections", "html", "markdown"},
    "exports": {"figures"},
}
#: What the report may use from the rest of normlab: torch-free modules only.
OUTSIDE = {"normlab", "normlab.errors", "normlab.fileio", "normlab.experiments.stats", "normlab.experiments.store",
           "normlab.models.spec", "normlab.data.registry", "normlab.post",
           # compare's exports read the runs compare recorded (torch-free modules too)
           "normlab.experiments.compare", "normlab.train.record",
           # a stored config is read back as a TrainConfig (torch-free) to fill in later fields
           "normlab.train.config"}


def _name(path: Path) -> str:
    parts = list(path.relative_to(REPORT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """``(module, names)`` of every import in the file (relative imports resolved)."""
    parts = list(path.relative_to(REPORT.parents[1]).with_suffix("").parts)
    package = ".".join(parts[:-1])  # the package a relative import starts from (the module's own for __init__)
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = f"{package.rsplit('.', node.level - 1)[0]}.{base}".rstrip(".")
            out.append((base, tuple(a.name for a in node.names)))
    return out


def _report_files() -> dict[str, Path]:
    return {_name(p): p for p in REPORT.rglob("*.py")}


def test_each_layer_imports_only_the_layers_below_it():
    for name, path in _report_files().items():
        if name == "":
            continue  # the package's __init__ re-exports the public API
        allowed = next(v for k, v in ALLOWED.items() if name == k or name.startswith(k + "."))
        for module, names in _imports(path):
            if not module.startswith("normlab.report"):
                continue
            targets = [module.removeprefix("normlab.report").lstrip(".")]
            if targets == [""]:
                targets = list(names)  # "from normlab.report import phrasing"
            for target in targets:
                assert any(target == a or target.startswith(a + ".") for a in allowed), (name, target)


def test_no_module_imports_private_names():
    for path in [*REPORT.rglob("*.py"), *STATS.rglob("*.py")]:
        for module, names in _imports(path):
            if module.startswith("normlab"):
                private = [n for n in names if n.startswith("_") and not n.endswith("__")]  # __version__ is public
                assert not private, (path.name, module, names)


def test_report_and_stats_files_stay_under_800_lines():
    for path in [*REPORT.rglob("*.py"), *STATS.rglob("*.py")]:
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 800, path


def test_outside_the_report_only_torch_free_layers_are_imported():
    for name, path in _report_files().items():
        for module, _ in _imports(path):
            if module.startswith("normlab") and not module.startswith("normlab.report"):
                assert any(module == m or module.startswith(m + ".") for m in OUTSIDE), (name, module)


def test_sections_are_one_explicit_ordered_list():
    from normlab.report import SECTIONS, sections

    assert isinstance(SECTIONS, tuple) and len(set(SECTIONS)) == len(SECTIONS)
    defined = set()
    for path in (REPORT / "sections").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined |= {f"{path.stem}.{n.name}" for n in tree.body if isinstance(n, ast.FunctionDef)
                    and n.name.endswith("_section")}
        # Nothing is registered at import: no module-level call other than assignments of constants.
        assert not [n for n in tree.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)], path
    assert {f"{f.__module__.rpartition('.')[2]}.{f.__name__}" for f in SECTIONS} == defined
    anchors = [f.__name__ for f in SECTIONS]
    assert anchors[:5] == ["overview_section", "curves_section", "distribution_section", "statistics_section",
                           "comparisons_section"]
    assert anchors[-4:] == ["problems_section", "config_section", "environment_section", "methods_section"]
    assert not hasattr(sections, "register_section")


_BUILD = """
from normlab.report import build_report, render
from normlab.train.record import RunRecord
runs = []
for i, (variant, base) in enumerate([(v, b) for v, b in (("lenet5", 0.95), ("lenet5-bn", 0.96)) for _ in range(3)]):
    seed = i % 3
    runs.append(RunRecord(id=i, study="s", variant=variant, seed=seed, status="done", config_hash="h",
                          config={"model": variant, "dataset": "mnist", "protocol": "standard", "seed": seed},
                          val_accuracy=[base + 0.01 * e + 0.001 * seed for e in range(2)], val_loss=[0.3] * 2,
                          train_loss=[0.4] * 2, epoch_seconds=[1.0] * 2))
report = build_report(runs)
assert "post" in [s.anchor for s in report.sections]
render(report, "html"), render(report, "md")
"""


def test_building_and_rendering_a_report_imports_no_torch():
    def imports_torch(code: str) -> bool:
        out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print('TORCH:' + str('torch' in sys.modules))"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return "TORCH:True" in out.stdout

    assert not imports_torch(_BUILD)


def test_verdicts_are_worded_only_in_the_phrasing():
    """Sections compute readings; the words of a verdict (agrees, significantly...) are phrasing's alone."""
    words = ("agrees", "disagrees", "does not agree", "significantly", "still significant", "no longer significant",
             "No significant difference", "not significant", "did not measurably change")
    for name, path in _report_files().items():
        if name == "readings" or name.split(".")[0] == "phrasing":
            continue
        strings = [n.value for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
                   if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        assert not [w for w in words for s in strings if w in s], name
