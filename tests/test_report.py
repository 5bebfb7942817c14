"""Tests for the study report: the model (normlab.report.build, .context), HTML, Markdown and the CLI.

A synthetic study with hand-written curves (2 variants x 3 seeds, plus a failed and a diverged
run) is reported on; expected numbers are computed here from the same lists with numpy/scipy,
independently of the code under test. BatchNorm is made clearly better so the verdict is
decided. Verdicts are checked as readings (their verdict and numbers, ``report.readings``); the
sentences only for the words that carry them. The same study is also written through the results
database (normlab.experiments.store) and reported with ``write_report`` and ``normlab report``.
"""

from __future__ import annotations

import base64
import dataclasses
import html as htmllib
import math
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from conftest import run_record
from normlab.errors import ConfigError
from normlab.train.record import RunRecord

# --------------------------------------------------------------------------------------------
# The synthetic study
# --------------------------------------------------------------------------------------------

EVIL = "<script>alert(1)</script>"
EVIL_HOST = '<img src=x onerror="window.__pwned=true">'

# Validation accuracy per epoch, per seed. lenet5 seed 1 peaks before its last epoch (best != final).
CURVES = {
    "lenet5": {
        0: [0.9312, 0.9705, 0.9801, 0.9850],
        1: [0.9288, 0.9690, 0.9871, 0.9862],
        2: [0.9330, 0.9712, 0.9796, 0.9841],
    },
    "lenet5-bn": {
        0: [0.9603, 0.9840, 0.9889, 0.9901],
        1: [0.9581, 0.9851, 0.9902, 0.9915],
        2: [0.9615, 0.9833, 0.9895, 0.9908],
    },
}
EPOCH_SECONDS = {"lenet5": 10.0, "lenet5-bn": 12.0}
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def _config(variant: str, seed: int, **extra) -> dict:
    from normlab.train import TrainConfig

    extra.setdefault("epochs", 4)
    return TrainConfig(model=variant, seed=seed, subset=2048, device="cpu", **extra).to_dict()


def _epochs(variant: str, accs: list[float]) -> dict[str, list[float]]:
    """A run's per-epoch lists, as keyword arguments of RunRecord."""
    n = range(len(accs))
    return dict(train_loss=[0.5 / (i + 1) for i in n], train_accuracy=[min(1.0, a + 0.004) for a in accs],
                val_loss=[0.4 / (i + 1) + 0.03 for i in n], val_accuracy=list(accs),
                epoch_seconds=[EPOCH_SECONDS[variant] for _ in n], train_seconds=[EPOCH_SECONDS[variant] - 1 for _ in n],
                images_per_second=[2000.0 for _ in n])


def fake_runs(*, evil: bool = False, held_out: bool = False, names: dict | None = None) -> list[RunRecord]:
    """The synthetic study as RunRecord-like objects; ``names`` renames variants."""
    names = names or {}
    runs, rid = [], 0
    for variant, per_seed in CURVES.items():
        for seed, accs in per_seed.items():
            rid += 1
            extra = {"val_split": 5000} if held_out else {}
            runs.append(run_record(
                id=rid, study="default", variant=names.get(variant, variant), seed=seed,
                config=_config(variant, seed, **extra), config_hash=f"{rid:016x}", status="done",
                started_at=T0 + 100 * rid, finished_at=T0 + 100 * rid + 45,
                host=EVIL_HOST if evil and rid == 1 else "lab-box-7",
                val_split_name="val" if held_out else "test",
                test_accuracy=(accs[-1] - 0.001) if held_out else None, test_epoch=4 if held_out else None,
                **_epochs(variant, accs)))
    a, b = names.get("lenet5", "lenet5"), names.get("lenet5-bn", "lenet5-bn")
    runs.append(run_record(id=rid + 1, study="default", variant=a, seed=3, config=_config("lenet5", 3),
                        config_hash="f" * 16, status="failed", started_at=T0 + 900, finished_at=T0 + 905,
                        message=f"RuntimeError: worker crashed {EVIL}" if evil else "RuntimeError: worker crashed"))
    runs.append(run_record(id=rid + 2, study="default", variant=b, seed=3, config=_config("lenet5-bn", 3),
                        config_hash="e" * 16, status="diverged", started_at=T0 + 1000, finished_at=T0 + 1030,
                        message="loss became nan", diverged_epoch=2, diverged_batch=17,
                        **_epochs("lenet5-bn", [0.95])))
    return runs


def pct(x: float) -> str:
    return f"{x * 100:.2f}"


def t_interval(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    half = sps.t.ppf(0.975, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size)
    return v.mean() - half, v.mean() + half


@pytest.fixture(scope="module")
def report():
    from normlab.report import build_report

    return build_report(fake_runs(evil=True), target=0.98, generated_at=T0 + 5000)


@pytest.fixture(scope="module")
def page(report) -> str:
    from normlab.report import render_html

    return render_html(report)


@pytest.fixture(scope="module")
def markdown(report) -> str:
    from normlab.report import render_markdown

    return render_markdown(report)


def _text(page: str) -> str:
    """The page's visible text with tags stripped and entities decoded (for number checks)."""
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", page))


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


def test_model_sections_and_statistics(report):
    anchors = [s.anchor for s in report.sections]
    assert anchors == ["overview", "curves", "distribution", "statistics", "comparisons", "post", "problems",
                       "config", "environment", "methods"]
    assert list(report.summaries) == ["lenet5", "lenet5-bn"]
    for variant, per_seed in CURVES.items():
        s = report.summaries[variant]
        finals = [c[-1] for c in per_seed.values()]
        assert s.n_runs == 3
        assert s.final.mean == pytest.approx(np.mean(finals))
        assert s.final.std == pytest.approx(np.std(finals, ddof=1))
        assert (s.final.t_ci.low, s.final.t_ci.high) == pytest.approx(t_interval(finals))
        assert s.best.mean == pytest.approx(np.mean([max(c) for c in per_seed.values()]))
    assert report.summaries["lenet5"].excluded == ((3, "failed"),)
    assert report.summaries["lenet5-bn"].excluded == ((3, "diverged"),)
    # B = lenet5-bn against A = lenet5, final then best.
    assert [(c.a_name, c.b_name, c.metric) for c in report.comparisons] == [
        ("lenet5", "lenet5-bn", "final"), ("lenet5", "lenet5-bn", "best")]
    diffs = [CURVES["lenet5-bn"][s][-1] - CURVES["lenet5"][s][-1] for s in (0, 1, 2)]
    assert report.comparisons[0].mean_difference == pytest.approx(np.mean(diffs))
    assert report.comparisons[0].t_pvalue == pytest.approx(sps.ttest_rel(
        [CURVES["lenet5-bn"][s][-1] for s in (0, 1, 2)], [CURVES["lenet5"][s][-1] for s in (0, 1, 2)]).pvalue)
    assert report.comparisons[0].t_pvalue < 0.05
    # The verdict, as data: one reading per comparison, the headline its sentence.
    final = report.readings[0]
    assert (final.verdict, final.subject, final.n) == ("significant difference", "lenet5-bn − lenet5", 3)
    assert final.effect == pytest.approx(np.mean(diffs)) and final.interval == pytest.approx(t_interval(diffs))
    assert final.p == pytest.approx(report.comparisons[0].t_pvalue) and final.numbers["metric"] == "final"
    assert [r.numbers["metric"] for r in report.readings] == ["final", "best"]
    assert report.headline == [report.verdicts[0]]
    assert report.headline[0].startswith(f"lenet5-bn raised final validation accuracy by {np.mean(diffs) * 100:.2f} pp")
    # Figures: overlay, one curve figure per variant, distribution, paired differences; all PNG.
    assert len(report.figures) == 5
    assert all(f.png.startswith(b"\x89PNG\r\n\x1a\n") and f.width > 300 and f.caption for f in report.figures)


def test_baseline_is_first_variant_in_general():
    from normlab.report import build_report

    runs = fake_runs(names={"lenet5": "lenet5:norm=group", "lenet5-bn": "lenet5:norm=layer"})
    # A third variant that equals the baseline on every seed.
    extra = [run_record(id=100 + s, study="default", variant="lenet5:norm=instance", seed=s, config=_config("lenet5", s),
                     config_hash=f"{100 + s:016x}", status="done", **_epochs("lenet5", c))
             for s, c in CURVES["lenet5"].items()]
    report = build_report(runs + extra, target=0.98)
    assert [(c.a_name, c.b_name) for c in report.comparisons if c.metric == "final"] == [
        ("lenet5:norm=group", "lenet5:norm=layer"), ("lenet5:norm=group", "lenet5:norm=instance")]
    # The third variant equals the baseline on every seed: nothing to test.
    same = report.readings[2]
    assert (same.subject, same.verdict, same.effect, same.numbers["n_nonzero"]) == (
        "lenet5:norm=instance − lenet5:norm=group", "not tested", 0.0, 0)
    assert report.headline[1] == report.verdicts[2]
    # No post section: neither lenet5 nor lenet5-bn is in the study.
    assert "post" not in [s.anchor for s in report.sections]


def test_lenet_pair_is_bn_against_plain_whatever_the_order():
    from normlab.report import build_report

    runs = fake_runs()
    for r in runs:  # lenet5-bn ran first
        r.id = -r.id if r.variant == "lenet5-bn" else r.id
    report = build_report(runs, target=0.98)
    assert (report.comparisons[0].a_name, report.comparisons[0].b_name) == ("lenet5", "lenet5-bn")


def test_one_variant_headline_summarises_it():
    from normlab.report import build_report

    report = build_report([r for r in fake_runs() if r.variant == "lenet5"], target=0.98)
    finals = [c[-1] for c in CURVES["lenet5"].values()]
    assert report.comparisons == [] and report.readings == []
    assert report.headline[0].startswith(f"lenet5: final validation (mnist test set) accuracy {pct(np.mean(finals))}%")
    assert "comparisons" not in [s.anchor for s in report.sections]


def test_bad_input_is_a_config_error():
    from normlab.report import build_report

    with pytest.raises(ConfigError, match="no runs"):
        build_report([], target=0.98)
    with pytest.raises(ConfigError, match="fraction"):
        build_report(fake_runs(), target=98)
    runs = fake_runs()
    runs[0].study = "other"
    with pytest.raises(ConfigError, match="several studies"):
        build_report(runs)


def test_sections_are_one_explicit_list_a_caller_can_extend():
    import normlab.report as report_pkg
    from normlab.report import SECTIONS, Section, build_report, render_html, render_markdown

    assert not hasattr(report_pkg, "register_section")
    before = tuple(SECTIONS)

    def lr_section(ctx):
        lrs = {r.config["lr"] for r in ctx.all_runs}
        if len(lrs) < 2:
            return None  # only when its data exists
        return Section("Accuracy vs learning rate", "lr", paragraphs=["reading"])

    def seeds_section(ctx):
        return Section("Seeds", "seeds", paragraphs=[f"{len(ctx.variants)} variants, seeds "
                                                     f"{sorted({r.seed for r in ctx.all_runs})}"])

    appendix = [s.__name__ for s in SECTIONS].index("problems_section")
    sections = [*SECTIONS[:appendix], lr_section, seeds_section, *SECTIONS[appendix:]]
    report = build_report(fake_runs(), target=0.98, sections=sections)
    anchors = [s.anchor for s in report.sections]
    assert "lr" not in anchors
    assert anchors.index("seeds") == anchors.index("post") + 1
    assert anchors.index("seeds") < anchors.index("problems")
    assert report.section("seeds").paragraphs[0].text == "2 variants, seeds [0, 1, 2, 3]"
    assert '<section id="seeds">' in render_html(report)
    assert "Seeds" in render_markdown(report)
    assert [s.anchor for s in build_report(fake_runs(), target=0.98, sections=[seeds_section, *SECTIONS]).sections][0] \
        == "seeds"
    assert tuple(SECTIONS) == before  # building never changes the list
    with pytest.raises(ConfigError, match="two sections use the anchor 'seeds'"):
        build_report(fake_runs(), target=0.98, sections=[seeds_section, seeds_section])


def test_section_rejects_bad_anchor_and_blocks():
    from normlab.report import Section

    with pytest.raises(ConfigError, match="anchor"):
        Section("x", 'a" onclick="x')
    with pytest.raises(ConfigError, match="Paragraph, Table or ReportFigure"):
        Section("x", "x", blocks=[42])


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def test_html_embeds_figures_as_png_data_uris(page, report):
    imgs = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) == len(report.figures) == 5
    for data in imgs:
        assert base64.b64decode(data).startswith(b"\x89PNG\r\n\x1a\n")
    # Captions say what is drawn.
    assert page.count("<figcaption>") == 5
    assert "thin lines: individual seeds" in page and "95% t band" in page
    assert "strip" in report.section("distribution").figures[0].alt.lower()


def test_html_stats_table_numbers(page):
    text = _text(page)
    for variant, per_seed in CURVES.items():
        finals = [c[-1] for c in per_seed.values()]
        bests = [max(c) for c in per_seed.values()]
        lo, hi = t_interval(finals)
        assert f"{pct(np.mean(finals))} ± {pct(np.std(finals, ddof=1))}" in text
        assert f"{pct(lo)} – {pct(hi)}" in text
        assert f"{pct(np.mean(bests))} ± {pct(np.std(bests, ddof=1))}" in text
    # n with exclusions, and the headline interval named.
    assert "3 (+1 excluded)" in text
    assert "The headline interval is the 95% Student-t interval" in text
    assert "bootstrap interval" in text and "shown beside it" in text
    # Epochs and time to target: lenet5 reaches 98% at epochs 3, 3, 4 (10 s each); BN at 2, 2, 2 (12 s each).
    assert re.search(r"lenet5\s+3 of 3\s+3\.0\s+3\.33\s+3–4\s+30\.0\s+33\.3", text)
    # BN's diverged seed 3 counts as a run that did not reach the target (it is out of the accuracy means):
    # censored, it leaves the median at 2 epochs (3 of 4 reached) but there is no mean.
    assert re.search(r"lenet5-bn\s+3 of 4 \(1 diverged\)\s+2\.0\s+n/a\s+2–> 4\s+24\.0\s+n/a", text)
    assert "seed 3 (diverged) excluded from these accuracy statistics" in text
    # Numbers are right-aligned.
    assert '<td class="r">' in page


def test_html_verdict_and_comparison(page, report):
    diffs = [CURVES["lenet5-bn"][s][-1] - CURVES["lenet5"][s][-1] for s in (0, 1, 2)]
    verdict = report.verdicts[0]
    assert htmllib.escape(verdict) in page
    assert f"{np.mean(diffs) * 100:+.2f}" in _text(page)
    # The headline box at the top holds the verdict.
    head = page.split("<main>")[0]
    assert 'class="headline"' in head and htmllib.escape(verdict) in head
    assert "B = lenet5-bn (with BatchNorm) against A = lenet5" in _text(page)


def test_html_post_values_beside_ours(page, report):
    from normlab.post import POST_REPORTED

    text = _text(page)
    for variant in ("lenet5", "lenet5-bn"):
        post = POST_REPORTED[variant]
        assert post["epoch1"] in text and post["final"] in text
        assert pct(post["epoch1_value"]) in text
        ep1 = np.mean([c[0] for c in CURVES[variant].values()])
        last = np.mean([c[-1] for c in CURVES[variant].values()])
        assert re.search(rf"{re.escape(variant)}\s+epoch 1\s+{re.escape(post['epoch1'])}\s+"
                         rf"{pct(post['epoch1_value'])}\s+{pct(ep1)}", text)
        assert re.search(rf"last epoch \(4\)\s+{re.escape(post['final'])}\s+"
                         rf"{pct(post['final_value'])}\s+{pct(last)}", text)
    # 2,048 images for 4 epochs under the standard protocol: shown beside the post's values, not compared with them
    # (tests/test_report_trust.py compares runs at the post's scale).
    post = {(r.subject, r.numbers["epoch"]): r for r in report.section("post").readings}
    assert {r.verdict for r in post.values()} == {"not comparable"} and all(r.n == 3 for r in post.values())
    assert ("training images", "2,048", "all") in post[("lenet5-bn", "epoch 1")].numbers["differences"]
    assert ("epochs", "4", "10") in post[("lenet5-bn", "last epoch (4)")].numbers["differences"]
    assert ("epochs", "4", "10") not in post[("lenet5-bn", "epoch 1")].numbers["differences"]
    assert post[("lenet5-bn", "epoch 1")].effect == pytest.approx(0.96 - 0.95, abs=1e-4)
    assert re.search(r"lenet5-bn\s+epoch 1\s+just above 95%\s+95\.00\s+96\.00\s+[\d.]+ – [\d.]+\s+3\s+\+1\.00\s+"
                     r"not comparable", text)
    assert "ours above" not in text and "Not comparable at this scale for lenet5 at epoch 1" in text


def test_html_protocol_naming(page):
    text = _text(page)
    assert "the test set (the post's protocol" in text
    assert "Protocol standard:" in text
    # No held-out split here, so no separate test-accuracy table.
    assert 'id="test"' not in page


def test_html_test_accuracy_table_with_held_out_split():
    from normlab.report import build_report, render_html

    report = build_report(fake_runs(held_out=True), target=0.98)
    text = _text(render_html(report))
    assert "held-out validation split (the last 5000 training images)" in text
    assert report.section("overview").tables[0].column("Validation on") == ["held-out split (5,000 images)"] * 2
    sec = report.section("test")
    finals = [c[-1] - 0.001 for c in CURVES["lenet5-bn"].values()]
    assert f"{pct(np.mean(finals))} ± {pct(np.std(finals, ddof=1))}" in sec.tables[0].column("mean ± sd (%)")
    assert "Test accuracy (evaluated once per run)" in text


def test_html_configs_and_environment(page, report):
    text = _text(page)
    shared = dict(zip(*[report.section("config").tables[0].column(c) for c in ("Field", "Value")]))
    assert shared["protocol"] == "standard" and shared["epochs"] == "4" and shared["subset"] == "2048"
    assert "seed" not in shared and "model" not in shared
    diff = report.section("config").tables[1]
    assert diff.rows == [["model", "lenet5", "lenet5-bn"]]
    env = dict(zip(*[report.section("environment").tables[0].column(c) for c in ("Item", "Value")]))
    assert env["normlab version"] == "0.1.0" and env["git revision"] == "1a2b3c4"
    assert env["torch version"] == "2.13.0+cpu" and env["device"] == "cpu"
    assert env["host"] == f"{EVIL_HOST} (1 run), lab-box-7 (7 runs)"
    assert env["first run started"] == "2023-11-14 22:15 UTC"
    assert "2.13.0+cpu" in text


def test_environment_section_shows_what_each_run_recorded_of_its_environment():
    from normlab.report import build_report

    def environment(r):
        kernels = "C kernels loaded" if r.seed != 2 else "not used with 4 torch threads (at most 2)"
        return {"accelerated": True, "kernels": kernels, "conv": ["conv1", "conv2"] if r.seed != 2 else [],
                "threads": 1 if r.seed != 2 else 4, "torch": "2.13.0"}

    runs = [dataclasses.replace(r, environment=environment(r)) if r.status == "done" else r for r in fake_runs()]
    env = build_report(runs, target=0.98, generated_at=T0).section("environment").tables[0]
    rows = dict(zip(env.column("Item"), env.column("Value")))
    assert rows["accelerated"] == "true" and rows["torch"] == "2.13.0"
    assert rows["kernels"] == "C kernels loaded (4 runs), not used with 4 torch threads (at most 2) (2 runs)"
    assert rows["conv"] == '["conv1", "conv2"] (4 runs), [] (2 runs)' and rows["threads"] == "1 (4 runs), 4 (2 runs)"
    items = env.column("Item")
    assert items.index("host") < items.index("accelerated") < items.index("first run started")
    # Runs that recorded none (older databases) add no rows.
    plain = build_report(fake_runs(), target=0.98, generated_at=T0).section("environment").tables[0]
    assert "kernels" not in plain.column("Item")


def test_html_lists_failed_and_diverged_runs(report):
    table = report.section("problems").tables[0]
    assert table.column("Status") == ["failed", "diverged"]
    assert table.column("Where")[1] == "epoch 2, batch 17"
    assert table.column("Message") == [f"RuntimeError: worker crashed {EVIL}", "loss became nan"]


def test_overview_names_the_problems_section_only_when_there_is_one():
    from normlab.report import build_report

    clean = build_report([r for r in fake_runs() if r.status == "done"], target=0.98, generated_at=T0)
    assert "problems" not in [s.anchor for s in clean.sections]
    text = " ".join(p.text for p in clean.section("overview").paragraphs)
    assert "Failed and diverged runs" not in text and "all 6 finished" in text
    full = build_report(fake_runs(), target=0.98, generated_at=T0)
    text = " ".join(p.text for p in full.section("overview").paragraphs)
    assert "listed under \"Failed and diverged runs\"" in text


def test_problems_table_says_diverged_runs_still_count_in_the_target_table(report):
    intro = report.section("problems").paragraphs[0].text
    assert "epochs-to-target" in intro and "every statistic" not in intro


def _with_curve(runs, variant: str, seed: int, accs: list[float]) -> list[RunRecord]:
    return [dataclasses.replace(r, **_epochs(r.variant, accs)) if (r.variant, r.seed) == (variant, seed) else r
            for r in runs]


def test_runs_that_finished_at_chance_are_flagged_and_kept_in_the_statistics():
    from normlab.report import build_report, render_html, render_markdown

    # Plain LeNet's seed 2 never learned (10% on MNIST's 10 classes); seed 1 reached 14.9%, still chance.
    runs = _with_curve(fake_runs(), "lenet5", 2, [0.098, 0.1135, 0.1010, 0.0990])
    runs = _with_curve(runs, "lenet5", 1, [0.097, 0.1010, 0.1200, 0.1490])
    report = build_report(runs, target=0.98, generated_at=T0)
    s = report.summaries["lenet5"]
    assert s.n_runs == 3 and s.final.mean == pytest.approx(np.mean([0.9850, 0.1490, 0.0990]))  # kept
    table = next(t for t in report.section("problems").tables if "did not learn" in t.caption)
    assert table.column("Variant") == ["lenet5", "lenet5"] and table.column("Seed") == ["1", "2"]
    assert table.column("Final (%)") == ["14.90", "9.90"] and table.column("Best (%)") == ["14.90", "11.35"]
    assert table.column("Chance (%)") == ["10.00", "10.00"]
    assert any("did not learn" in w and "lenet5 (seeds 1, 2)" in w for w in report.warnings)
    overview = " ".join(p.text for p in report.section("overview").paragraphs)
    assert "2 finished runs ended within chance" in overview
    for page in (render_html(report), render_markdown(report)):
        assert "did not learn" in page
    # 15% is 1.5 x chance: no longer "within chance".
    ok = build_report(_with_curve(fake_runs(), "lenet5", 2, [0.1, 0.12, 0.14, 0.15]), target=0.98, generated_at=T0)
    assert not any("did not learn" in t.caption for t in ok.section("problems").tables)
    assert not ok.warnings


def test_html_escapes_everything_embedded(page):
    assert "<script" not in page.lower()
    assert "onerror=" not in page.replace("onerror=&quot;", "")
    assert htmllib.escape(EVIL) in page  # the message is shown, as text
    assert htmllib.escape(EVIL_HOST) in page


def test_html_escapes_variant_names():
    from normlab.report import build_report, render_html, render_markdown

    report = build_report(fake_runs(names={"lenet5-bn": EVIL}), target=0.98)
    page = render_html(report)
    assert "<script" not in page.lower()
    assert htmllib.escape(EVIL) in page
    assert not re.search(r"(?<!\\)<script", render_markdown(report))


class _Tags(HTMLParser):
    """Collects the real tags and attributes of a page (escaped text is not a tag)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag


def test_html_makes_no_network_requests(page):
    parser = _Tags()
    parser.feed(page)
    tags = parser.tags
    assert {t for t, _ in tags} >= {"html", "style", "img", "table", "a"}
    assert not {t for t, _ in tags} & {"script", "link", "iframe", "object", "embed", "base", "video", "audio"}
    refs = [(t, k, v) for t, attrs in tags for k, v in attrs.items()
            if k in ("src", "href", "srcset", "action", "poster", "data", "background")]
    assert refs
    for tag, attr, value in refs:
        assert not re.match(r"(?i)\s*(https?:)?//", value), (tag, attr, value)
        assert value.startswith("#") if attr == "href" else value.startswith("data:image/png;base64,"), value
    for _, attrs in tags:
        assert not any(k.startswith("on") for k in attrs)  # no event handlers
        assert "url(" not in attrs.get("style", "")
    # The raw file as a whole: no URL a browser would fetch, no @import.
    assert not re.search(r"""(?i)(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert not re.search(r"(?i)url\(|@import", page)


def test_html_has_toc_style_and_print_rules(page, report):
    for s in report.sections:
        assert f'<a href="#{s.anchor}">' in page and f'<section id="{s.anchor}">' in page
    assert "<style>" in page and "@media print" in page and 'name="viewport"' in page


# --------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------


def test_markdown_has_the_same_content(markdown, report):
    assert markdown.startswith("# Study report: default\n")
    assert f"> **Verdict:** {report.verdicts[0]}" in markdown.replace("\\", "")
    for s in report.sections:
        assert re.search(rf"^## \d+\. {re.escape(s.title)}$", markdown, flags=re.M)
    finals = [c[-1] for c in CURVES["lenet5-bn"].values()]
    assert re.search(rf"^\| lenet5-bn \| 3 \(\+1 excluded\) \| {pct(np.mean(finals))} ± "
                     rf"{pct(np.std(finals, ddof=1))} \|", markdown, flags=re.M)
    assert "|---|---:|" in markdown  # numbers right-aligned
    assert "*Figure 1 (in the HTML report):*" in markdown
    assert "about 93%" in markdown
    assert "\\<script>alert(1)\\</script>" in markdown  # a literal "<script>" in Markdown, not a tag
    assert not re.search(r"(?<!\\)<(script|img)", markdown)
    assert "p < 0.05" in markdown  # comparison signs stay readable in a terminal
    assert "| Variant | Runs (n) | Final mean ± sd | Final 95% t-interval | Final 95% bootstrap | Best mean ± sd |" \
        in markdown


# --------------------------------------------------------------------------------------------
# Through the results database: write_report and `normlab report`
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db_path(tmp_path_factory) -> Path:
    """The synthetic study written through the results database's API."""
    store = pytest.importorskip("normlab.experiments.store",
                                reason="normlab.experiments.store (the results database) is not available")
    path = tmp_path_factory.mktemp("db") / "normlab.db"
    with store.ResultsDB(path) as db:
        for run in fake_runs(evil=True):
            rid = db.start_run(study="default", variant=run.variant, seed=run.seed, config=run.config,
                               config_hash=run.config_hash, device="cpu")
            if run.status == "failed":
                db.fail_run(rid, run.message)
                continue
            # The record as train() would return it: the store's host stays (start_run's).
            db.finish_run(rid, dataclasses.replace(run, train_loss_per_batch=[0.5, 0.4],
                                                   val_loss_per_batch=[0.45, 0.35], host=None))
    return path


def test_write_report_from_database(db_path, tmp_path):
    from normlab.experiments.store import ResultsDB
    from normlab.report import write_report

    out = write_report(db_path.parent, tmp_path / "out" / "report.html", target=0.98)
    assert out == tmp_path / "out" / "report.html"
    page = out.read_text(encoding="utf-8")
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == 5
    assert "lenet5-bn raised final validation accuracy" in page
    text = _text(page)
    finals = [c[-1] for c in CURVES["lenet5"].values()]
    assert f"{pct(np.mean(finals))} ± {pct(np.std(finals, ddof=1))}" in text
    assert "<script" not in page.lower() and htmllib.escape(EVIL) in page
    # Whatever the database recorded about the environment is shown.
    with ResultsDB(db_path, create=False) as db:
        runs = db.list_runs("default", full=True)
    for attr in ("normlab_version", "git_rev", "torch_version", "device", "host"):
        for value in {getattr(r, attr) for r in runs} - {None, ""}:
            assert htmllib.escape(str(value)) in page, attr
    assert not list((tmp_path / "out").glob(".*.tmp"))  # written atomically, nothing left behind

    md = write_report(db_path, tmp_path / "report.md", fmt="md")
    assert "> **Verdict:** lenet5-bn raised final validation accuracy" in md.read_text()


def test_report_opens_the_database_read_only(db_path, tmp_path):
    import shutil
    import sqlite3

    from normlab.report import load_report

    # A read-write open switches a database to WAL mode, which writes to the file.
    copy = tmp_path / "normlab.db"
    shutil.copy(db_path, copy)
    conn = sqlite3.connect(copy)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    before = copy.read_bytes()
    assert load_report(copy, target=0.98).study == "default"
    assert copy.read_bytes() == before
    conn = sqlite3.connect(copy)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_write_report_unknown_study_names_the_studies(db_path, tmp_path):
    from normlab.report import write_report

    with pytest.raises(ConfigError, match=r"no study 'nope'.*default"):
        write_report(db_path, tmp_path / "r.html", study="nope")
    with pytest.raises(ConfigError, match="format"):
        write_report(db_path, tmp_path / "r.pdf", fmt="pdf")


def test_cli_report_html_and_markdown(db_path, tmp_path, capsys):
    from normlab.cli import main

    out = tmp_path / "r.html"
    assert main(["report", str(db_path), "--out", str(out), "--target", "0.98"]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert str(out) in capsys.readouterr().out
    assert main(["report", str(db_path.parent), "--format", "md", "--out", "-", "--study", "default"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Study report: default")
    assert "lenet5-bn raised final validation accuracy" in printed


def test_cli_report_missing_database_exits_2_naming_it(tmp_path, capsys):
    from normlab.cli import main

    missing = tmp_path / "nowhere" / "normlab.db"
    assert main(["report", str(missing), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("normlab: error:") and str(missing) in err
    assert not (tmp_path / "r.html").exists()


def test_cli_report_stdout_needs_markdown(tmp_path, capsys):
    from normlab.cli import main

    assert main(["report", str(tmp_path), "--out", "-"]) == 2
    assert "--format md" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Many variants: grids of model x learning rate / batch size
# --------------------------------------------------------------------------------------------

GRID_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
GRID_BATCHES = (2, 4, 8, 16, 32, 64, 128)
#: Largest figure the page shows at full size: 10 x 13 inches at 96 CSS px per inch.
MAX_CSS = (960, 1248)


def _grid_final(model: str, value: float, key: str) -> float:
    """Mean final accuracy of a cell: BN helps by 1 pp everywhere and the plain net stalls at the top lr."""
    if key == "lr":
        if model == "lenet5" and value == GRID_LRS[-1]:
            return 0.10
        return 0.95 + (0.01 if model == "lenet5-bn" else 0.0) - 0.002 * GRID_LRS.index(value)
    norms = ("lenet5", "lenet5-bn", "lenet5-gn", "lenet5-ln")
    if key == "batch_size":
        return 0.93 + 0.005 * norms.index(model) - 0.001 * GRID_BATCHES.index(value)
    return 0.95 + 0.01 * norms.index(model)


def _curve_run(rid: int, variant: str, seed: int, config: dict, final: float, epochs: int) -> RunRecord:
    accs = [final - 0.02 * (epochs - 1 - e) for e in range(epochs)]
    return run_record(id=rid, study="grid", variant=variant, seed=seed, config=config, config_hash=f"{rid:016x}",
                   status="done", started_at=T0 + rid, finished_at=T0 + rid + 10, val_accuracy=accs,
                   train_loss=[0.5 / (e + 1) for e in range(epochs)], val_loss=[0.4 / (e + 1) for e in range(epochs)],
                   epoch_seconds=[1.0] * epochs)


def _noise(*key: int) -> float:
    """Seed noise of +-0.2 pp that differs between variants, so paired differences have a spread."""
    return float(np.random.default_rng(list(key)).uniform(-0.002, 0.002))


def grid_runs(models, key: str, values, *, seeds: int = 3, epochs: int = 3) -> list[RunRecord]:
    """A study with one variant per (model, value of ``key``), labelled as the presets label them."""
    runs, rid = [], 0
    for i, m in enumerate(models):
        for j, x in enumerate(values):
            for seed in range(seeds):
                rid += 1
                label = f"{m} {x}" if isinstance(x, str) else f"{m} {'lr' if key == 'lr' else 'bs'}={x:g}"
                runs.append(_curve_run(rid, label, seed, _config(m, seed, **{key: x}, epochs=epochs),
                                       _grid_final(m, x, key) + _noise(i, j, seed), epochs))
    return runs


def _no_layout_warnings(build):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = build()
    layout = [str(w.message) for w in caught if "layout" in str(w.message).lower()]
    assert not layout, layout
    return result


def _assert_figures_bounded(report):
    from normlab.report.document import png_size
    from normlab.report.figures.base import FIGURE_DPI

    for f in report.figures:
        assert f.width <= MAX_CSS[0] and f.height <= MAX_CSS[1], (f.alt, f.width, f.height)
        w, h = png_size(f.png)
        assert w <= MAX_CSS[0] * FIGURE_DPI / 96 + 1 and h <= MAX_CSS[1] * FIGURE_DPI / 96 + 1


@pytest.fixture(scope="module")
def lr_grid_report():
    from normlab.report import build_report

    return _no_layout_warnings(lambda: build_report(grid_runs(("lenet5", "lenet5-bn"), "lr", GRID_LRS), target=0.98,
                                                    generated_at=T0))


def test_lr_grid_pairs_bn_with_plain_at_the_same_rate(lr_grid_report):
    report = lr_grid_report
    final = [c for c in report.comparisons if c.metric == "final"]
    assert [(c.a_name, c.b_name) for c in final] == [(f"lenet5 lr={lr:g}", f"lenet5-bn lr={lr:g}") for lr in GRID_LRS]
    # The differences are BN's effect at that rate: +1 pp, and the plain net's stall at the top rate.
    for c, lr in zip(final, GRID_LRS):
        expected = _grid_final("lenet5-bn", lr, "lr") - _grid_final("lenet5", lr, "lr")
        assert c.mean_difference == pytest.approx(expected, abs=0.003)
    overview = " ".join(p.text for p in report.section("overview").paragraphs)
    assert "2 models × 6 learning rates" in overview and "at the same learning rate" in overview
    methods = " ".join(p.text for p in report.section("methods").paragraphs)
    assert "at the same learning rate or batch size" in methods and "never across values" in methods
    assert report.meta["Variants"].startswith("12: 2 models (lenet5, lenet5-bn) × 6 learning rates")
    # Colours: the hue says the model (blue plain, red BN), the shade the rate; all distinct.
    colors = report.variant_colors
    assert len(set(colors.values())) == 12
    for v, c in colors.items():
        r, b = int(c[1:3], 16), int(c[5:7], 16)
        assert (r > b) if v.startswith("lenet5-bn") else (b > r), (v, c)


def test_lr_grid_headline_is_bounded_and_led_by_the_sweep(lr_grid_report):
    from normlab.report import render_html, render_markdown
    from normlab.report.phrasing import MAX_HEADLINE_VERDICTS

    report = lr_grid_report
    anchors = [s.anchor for s in report.sections]
    lr_number = anchors.index("learning-rate") + 1
    cmp_number = anchors.index("comparisons") + 1
    assert len(report.headline) <= MAX_HEADLINE_VERDICTS
    # The sweep's reading leads: BN trains up to 0.03, three times the plain network's 0.01.
    sweep = report.section("learning-rate")
    (reading,) = sweep.readings
    assert (reading.question, reading.verdict, reading.subject) == ("learning-rate", "agree", "lenet5-bn")
    assert (reading.numbers["highest"], reading.numbers["reference_highest"]) == (0.03, 0.01)
    assert reading.effect == pytest.approx(3.0)
    assert report.headline[0] == f"{sweep.summary.rstrip('.')} (section {lr_number}, Accuracy against learning rate)."
    assert "0.01 for lenet5 and 0.03 for lenet5-bn" in report.headline[0]
    # Then the largest significant effect: BN at the rate where the plain network stalled.
    final = [r for r in report.readings if r.numbers["metric"] == "final"]
    largest = max(final, key=lambda r: abs(r.effect))
    assert largest.subject == "lenet5-bn lr=0.03 − lenet5 lr=0.03" and largest.verdict == "significant difference"
    # Six comparisons: the headline's "significant" is Holm-corrected and says so.
    assert all(r.numbers["tests"] == 6 and r.numbers["corrected"] for r in final) and largest.significant
    assert largest.numbers["holm_p"] < 0.001
    assert report.headline[1] == report.verdicts[report.readings.index(largest)]
    assert "Holm-adjusted over 6 comparisons p < 0.001" in report.headline[1]
    assert f"among {len(final)} paired comparisons (after Holm's correction)" in report.headline_more
    assert report.headline_more.endswith(f"section {cmp_number}, Paired comparisons.")
    assert report.headline_anchor == "comparisons"
    page = render_html(report)
    head = page.split("<main>")[0]
    assert '<p class="more"><a href="#comparisons">' in head
    assert htmllib.escape(report.headline_more) in head
    assert f"> {report.headline_more}" in render_markdown(report).replace("\\", "")


def test_lr_grid_core_sections_scale(lr_grid_report):
    report = lr_grid_report
    _assert_figures_bounded(report)
    curves = report.section("curves")
    # One accuracy figure of panels (one per rate) and one loss grid, not 1 + 12 figures.
    assert len(curves.figures) == 2
    assert "one panel per learning rate" in curves.figures[0].caption
    reading = curves.paragraphs[-1].text
    assert "lenet5-bn ends ahead of lenet5 at 6 of 6 learning rates" in reading
    dist = report.section("distribution").figures[0]
    assert dist.height > dist.width * 0.5 and "one row per variant" in dist.caption
    comparisons = report.section("comparisons")
    assert comparisons.readings == report.readings
    final_table = comparisons.tables[0]
    assert [c.label for c in final_table.columns][:2] == ["learning rate", "Comparison (B − A)"]
    assert final_table.column("Comparison (B − A)") == ["lenet5-bn − lenet5"] * 6
    assert final_table.column("learning rate") == [f"{lr:g}" for lr in GRID_LRS]
    top = [r for r in report.readings if r.numbers["metric"] == "final"][-1]
    assert top.effect > 0 and top.significant and final_table.column("Verdict")[-1] == "raised"
    assert len(comparisons.figures) == 1
    # The config table lists variants as rows, not 12 columns.
    differing = report.section("config").tables[1]
    assert [c.label for c in differing.columns] == ["Variant", "lr", "model"]
    assert len(differing.rows) == 12


@pytest.fixture(scope="module")
def bs_grid_report():
    from normlab.report import build_report

    runs = grid_runs(("lenet5", "lenet5-bn", "lenet5-gn", "lenet5-ln"), "batch_size", GRID_BATCHES, seeds=2)
    return _no_layout_warnings(lambda: build_report(runs, target=0.98, generated_at=T0))


def test_batch_size_grid_of_28_variants(bs_grid_report):
    from normlab.report import render_html
    from normlab.report.phrasing import MAX_HEADLINE_VERDICTS

    report = bs_grid_report
    assert len(report.summaries) == 28
    final = [c for c in report.comparisons if c.metric == "final"]
    assert len(final) == 21
    for c in final:
        a_model, a_bs = c.a_name.split(" bs=")
        b_model, b_bs = c.b_name.split(" bs=")
        assert a_model == "lenet5" and b_model != "lenet5" and a_bs == b_bs
    assert len(report.headline) <= MAX_HEADLINE_VERDICTS
    assert "All 21 comparisons" in report.headline_more
    # 2 seeds per cell: too few to test, so no comparison is a finding either way (a 1-df t-test once
    # called several of them significant before Holm's correction).
    table = report.section("comparisons").tables[0]
    assert set(table.column("paired t p")) == set(table.column("Holm p")) == {"n/a"}
    final = [r for r in report.readings if r.numbers["metric"] == "final"]
    assert all(r.verdict == "not tested" and r.numbers["why"] == "pairs" for r in final)
    assert report.headline[-1].startswith("None of the 21 paired comparisons of final validation (mnist test set) accuracy "
                                          "was tested: too few seeds (a paired test needs at least 3)")
    assert "significant" not in report.headline[-1]
    assert set(table.column("Verdict")) == {"not tested (too few seeds)"}
    _assert_figures_bounded(report)
    assert len(report.section("curves").figures) == 2
    assert len(report.section("distribution").figures) == 1
    # Readings name the extremes, not all 28 variants.
    for anchor in ("curves", "distribution", "statistics"):
        reading = [p for p in report.section(anchor).paragraphs if p.kind == "reading"][-1].text
        assert reading.count("bs=") < 12, (anchor, reading)
    assert len(report.highlights) == 1 and report.highlights[0].count("bs=") == 2
    groups = report.section("comparisons").tables[0].column("batch size")
    assert groups == [str(bs) for bs in GRID_BATCHES for _ in range(3)]
    # No test ran, so nothing could come out significant by chance.
    assert not any("by chance" in p.text for p in report.section("comparisons").paragraphs)
    summary = next(p.text for p in report.section("comparisons").paragraphs if p.kind == "reading")
    assert "0 of the 21 comparisons of final accuracy are significant, and 0 of 21 of best accuracy; 21 of them " \
        "were not tested" in summary
    assert len(render_html(report)) < 3_000_000


def test_grid_detection_rules():
    from normlab.report.context import detect_grid

    def grid_of(runs):
        by = {}
        for r in runs:
            by.setdefault(r.variant, []).append(r)
        return detect_grid(list(by), by)

    lr = grid_of(grid_runs(("lenet5", "lenet5-bn"), "lr", GRID_LRS[:3], seeds=1))
    assert lr is not None and lr.key == "lr" and lr.reference == "lenet5" and lr.values == GRID_LRS[:3]
    # Batch-size-scaled: the learning rate follows the batch size, so the grid is over batch sizes.
    scaled = grid_runs(("lenet5", "lenet5-bn"), "batch_size", (16, 64), seeds=1)
    for r in scaled:
        r.config["lr"] = 0.001 * r.config["batch_size"] / 64
    assert grid_of(scaled).key == "batch_size"
    # The reference is the model without normalisation wherever it comes in the study.
    flipped = grid_of(grid_runs(("lenet5-bn", "lenet5"), "lr", GRID_LRS[:2], seeds=1))
    assert flipped.reference == "lenet5" and flipped.pairs()[0] == ("lenet5 lr=0.0001", "lenet5-bn lr=0.0001")
    # Not grids: one model only; a third setting varying independently; models only.
    assert grid_of(grid_runs(("lenet5",), "lr", GRID_LRS[:3], seeds=1)) is None
    mixed = grid_runs(("lenet5", "lenet5-bn"), "lr", GRID_LRS[:2], seeds=1)
    for i, r in enumerate(mixed):
        r.config["weight_decay"] = 1e-4 if i in (0, 3) else 0.0  # not a function of the lr
    assert grid_of(mixed) is None
    assert grid_of(fake_runs()) is None


def test_model_by_protocol_grid_compares_models_under_the_same_protocol():
    from normlab.report import build_report

    # The mode-bug preset's grid, lenet5-bn first as there: not every variant against "lenet5-bn standard".
    report = build_report(grid_runs(("lenet5-bn", "lenet5"), "protocol", ("standard", "blog")), target=0.98)
    assert [(c.a_name, c.b_name) for c in report.comparisons if c.metric == "final"] == [
        ("lenet5 blog", "lenet5-bn blog"), ("lenet5 standard", "lenet5-bn standard")]
    assert "under the same protocol" in " ".join(p.text for p in report.section("overview").paragraphs)
    bug = report.section("mode-bug")
    assert bug.readings[-1].question == "eval-mode" and bug.readings[-1].numbers["bn"] == "lenet5-bn"
    assert report.headline[0].startswith("The post's eval-mode bug:") and bug.summary.rstrip(".") in report.headline[0]
    assert report.headline[1:] == [v for c, v in zip(report.comparisons, report.verdicts) if c.metric == "final"]


def test_non_grid_many_variants_keep_the_baseline_and_a_bounded_headline():
    from normlab.report import build_report
    from normlab.report.phrasing import MAX_HEADLINE_VERDICTS

    norms = ("none", "batch", "group", "layer", "instance", "group", "layer")
    runs, rid = [], 0
    for k, norm in enumerate(norms):
        spec = f"lenet5:norm={norm}" + (",norm_position=before" if k >= 5 else "")
        for seed in range(3):
            rid += 1
            # Odd k: +k pp over the baseline, clearly significant; even k: noise only.
            final = 0.93 + (0.01 * k if k % 2 else 0.0) + _noise(k, seed)
            runs.append(_curve_run(rid, spec, seed, _config(spec, seed), final, 3))
    report = _no_layout_warnings(lambda: build_report(runs, target=0.98, generated_at=T0))
    final = [c for c in report.comparisons if c.metric == "final"]
    assert all(c.a_name == "lenet5:norm=none" for c in final) and len(final) == 6
    assert len(report.headline) <= MAX_HEADLINE_VERDICTS
    # The largest significant effects lead: +5 pp (k = 5) then +3 pp (k = 3), then +1 pp (k = 1).
    significant = sorted((r for r in report.readings if r.numbers["metric"] == "final" and r.significant),
                         key=lambda r: -r.effect)
    assert [r.subject.split(" − ")[0] for r in significant] == [
        "lenet5:norm=group,norm_position=before", "lenet5:norm=layer", "lenet5:norm=batch"]
    assert [round(r.effect, 2) for r in significant] == [0.05, 0.03, 0.01]
    assert report.headline == [
        report.verdicts[report.readings.index(r)] for r in significant]
    assert "These are the 3 significant differences among 6" in report.headline_more \
        or "These are the 3 largest" in report.headline_more
    _assert_figures_bounded(report)
    curves = report.section("curves")
    assert len(curves.figures) == 2 and "over the other variants' means in grey" in curves.figures[0].caption


def test_single_epoch_runs_have_no_curves_to_draw():
    from normlab.report import build_report

    report = build_report(grid_runs(("lenet5", "lenet5-bn"), "lr", GRID_LRS, seeds=2, epochs=1), target=0.98)
    curves = report.section("curves")
    assert curves.figures == [] and "single epoch" in curves.paragraphs[-1].text
    # With one epoch the best accuracy is the final one: its table would repeat the final one.
    comparisons = report.section("comparisons")
    assert len(comparisons.tables) == 1 and "final (last epoch)" in comparisons.tables[0].caption
    assert any("repeat the table above" in p.text for p in comparisons.paragraphs)


def test_cli_lists_presets_aligned_with_quick_notes(capsys):
    from normlab.cli import main
    from normlab.experiments.presets import PRESETS

    assert main(["study", "--list-presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    width = max(len(n) for n in PRESETS) + 2
    starts = {name: next(i for i, line in enumerate(lines) if line.startswith(name + " ")) for name in PRESETS}
    for name, i in starts.items():
        # The description starts in the same column for every preset, batch-size-scaled included.
        assert lines[i][width - 1] == " " and lines[i][width] != " ", lines[i]
        block = []
        for line in lines[i + 1:]:
            if not line.strip():
                break
            assert line.startswith(" " * width), line
            block.append(line.strip())
        assert " ".join(block).count("--quick:") >= 1, name
    scaled = lines[starts["batch-size-scaled"]:]
    assert "the first 4,096 training images" in " ".join(line.strip() for line in scaled[:8])


# --------------------------------------------------------------------------------------------
# Review fixes: one config per variant, clipped intervals, Holm, one build for `compare --seeds`
# --------------------------------------------------------------------------------------------


def test_a_variant_never_mixes_configurations():
    """A study name re-run with other epochs and stopped part-way: the larger config is used, the rest set aside."""
    from normlab.report import build_report, render_html, render_markdown

    runs = fake_runs()
    rid = 200
    for seed in (0, 1):  # two 8-epoch reruns of lenet5-bn, newer than everything else
        rid += 1
        accs = CURVES["lenet5-bn"][seed] + [0.995, 0.996, 0.997, 0.998]
        runs.append(run_record(id=rid, study="default", variant="lenet5-bn", seed=seed,
                            config=_config("lenet5-bn", seed, epochs=8), config_hash=f"{rid:016x}", status="done",
                            **_epochs("lenet5-bn", accs)))
    report = build_report(runs, target=0.98, generated_at=T0)
    s = report.summaries["lenet5-bn"]
    # The 4-epoch configuration (seeds 0-3: 3 done + 1 diverged) has more seeds than the 8-epoch one (2).
    assert s.seeds == (0, 1, 2) and s.final.mean == pytest.approx(np.mean([c[-1] for c in CURVES["lenet5-bn"].values()]))
    assert len(report.warnings) == 1
    warning = report.warnings[0]
    assert warning.startswith("lenet5-bn has runs under more than one configuration: the report uses its 4 seeds "
                              "with epochs = 4 and leaves out 2 runs with epochs = 8 (seeds 0, 1)")
    assert htmllib.escape(warning) in render_html(report).split("<main>")[0]
    assert "> **Warning:** lenet5-bn has runs under more than one configuration" in render_markdown(report)
    table = report.section("problems").tables[-1]
    assert table.caption.startswith("Runs of another configuration")
    assert table.column("Seed") == ["0", "1"] and table.column("Settings that differ") == ["epochs: 8 (used: 4)"] * 2
    # The 8-epoch runs are in no statistic: every run the report uses has 4 epochs (or 1: the diverged one).
    overview = report.section("overview").tables[0]
    assert overview.column("Epochs")[overview.column("Variant").index("lenet5-bn")] == "4"

    # Equal seed counts: the most recent configuration wins.
    runs.append(run_record(id=rid + 1, study="default", variant="lenet5-bn", seed=2,
                        config=_config("lenet5-bn", 2, epochs=8), config_hash="a" * 16, status="done",
                        **_epochs("lenet5-bn", CURVES["lenet5-bn"][2] + [0.995] * 4)))
    runs.append(run_record(id=rid + 2, study="default", variant="lenet5-bn", seed=3,
                        config=_config("lenet5-bn", 3, epochs=8), config_hash="b" * 16, status="done",
                        **_epochs("lenet5-bn", CURVES["lenet5-bn"][2] + [0.995] * 4)))
    tied = build_report(runs, target=0.98, generated_at=T0)
    assert tied.summaries["lenet5-bn"].final.mean == pytest.approx(np.mean([0.998, 0.998, 0.995, 0.995]))
    assert "uses its 4 seeds with epochs = 8 and leaves out 4 runs with epochs = 4" in tied.warnings[0]


def test_accuracy_intervals_are_shown_cut_at_100_percent():
    from normlab.report import build_report
    from normlab.report.format import CLIPPED_MARK, fmt_interval

    # Two seeds far apart: the t-interval of the mean (12.7 * sd / sqrt 2) reaches far past 100%.
    finals = {"lenet5": (0.90, 0.999), "lenet5-bn": (0.975, 0.976)}
    runs = []
    for i, (variant, values) in enumerate((v, f) for v, fs in finals.items() for f in [fs]):
        for seed, final in enumerate(values):
            rid = 10 * i + seed + 1
            runs.append(run_record(id=rid, study="s", variant=variant, seed=seed, config=_config(variant, seed, epochs=2),
                                config_hash=f"{rid:016x}", status="done",
                                **_epochs(variant, [final - 0.01, final])))
    report = build_report(runs, target=0.98, generated_at=T0)
    ci = report.summaries["lenet5"].final.t_ci
    lo, hi = t_interval(finals["lenet5"])
    assert (ci.low, ci.high) == pytest.approx((lo, hi)) and hi > 1.0 and lo > 0  # raw values kept
    table = report.section("statistics").tables[0]
    assert table.column("95% t-interval")[0] == f"{pct(lo)} – 100.00{CLIPPED_MARK}"
    assert table.column("95% t-interval")[1] == fmt_interval(report.summaries["lenet5-bn"].final.t_ci)
    assert CLIPPED_MARK not in table.column("95% t-interval")[1]
    assert any(n.startswith(f"{CLIPPED_MARK} The interval reached past 100%") for n in table.notes)
    assert f"lenet5 {pct(np.mean(finals['lenet5']))}% ({pct(lo)}–100.00%, t-interval cut at 100%)" in \
        report.highlights[0]
    assert "136" not in report.highlights[0]
    # The post's table and raw formatting.
    assert fmt_interval((lo, hi), clip=False) == f"{pct(lo)} – {pct(hi)}"
    assert fmt_interval((-0.2, 0.5)) == f"0.00 – 50.00{CLIPPED_MARK}"
    assert fmt_interval((-0.002, 0.001), pp=True) == "-0.20 to +0.10"  # differences are not cut


def test_comparisons_table_shows_holm_adjusted_p_beside_the_raw_one(report):
    table = report.section("comparisons").tables[0]
    labels = [c.label for c in table.columns]
    assert labels.index("Holm p") == labels.index("paired t p") + 1
    # One comparison per metric: Holm's correction of a single test is the test itself.
    assert table.column("Holm p") == table.column("paired t p")
    assert report.adjusted_pvalues == pytest.approx([c.t_pvalue for c in report.comparisons])
    methods = " ".join(p.text for p in report.section("methods").paragraphs)
    assert "Holm's step-down correction" in methods
    assert "Whenever two or more comparisons of a metric were tested, every verdict on them uses its Holm-adjusted p" \
        in methods


def test_holm_decides_the_headline_with_more_than_three_comparisons():
    from normlab.experiments import stats
    from normlab.report import build_report

    # Four variants against the baseline; B1 is barely significant alone, far from it after Holm.
    offsets = {"lenet5:norm=batch": [0.0061, 0.0035, 0.0047], "lenet5:norm=group": [0.0, 0.001, -0.001],
               "lenet5:norm=layer": [0.001, -0.0005, 0.0], "lenet5:norm=instance": [-0.001, 0.0, 0.0015]}
    runs, rid = [], 0
    for spec, offs in [("lenet5:norm=none", [0.0, 0.0, 0.0]), *offsets.items()]:
        for seed, off in enumerate(offs):
            rid += 1
            runs.append(_curve_run(rid, spec, seed, _config(spec, seed), 0.95 + 0.001 * seed + off, 3))
    report = build_report(runs, target=0.98, generated_at=T0)
    final = [c for c in report.comparisons if c.metric == "final"]
    batch = next(c for c in final if c.b_name == "lenet5:norm=batch")
    adjusted = stats.holm([c.t_pvalue for c in final])
    assert batch.t_pvalue < 0.05 and adjusted[final.index(batch)] >= 0.05
    reading = report.readings[report.comparisons.index(batch)]
    assert reading.verdict == "no significant difference" and reading.numbers["uncorrected_significant"]
    assert reading.numbers["holm_p"] == pytest.approx(adjusted[final.index(batch)]) and reading.numbers["tests"] == 4
    assert report.headline[0].startswith("None of the 4 tested paired comparisons of final validation (mnist test set) "
                                          "accuracy shows a significant difference after Holm's correction")
    verdicts = [p.text for p in report.section("comparisons").paragraphs if p.kind == "verdict"]
    text = next(v for v in verdicts if "between lenet5:norm=batch and" in v)
    assert text.startswith("No significant difference after Holm's correction in final validation")
    assert f"Holm-adjusted over 4 comparisons p = {adjusted[final.index(batch)]:.2g}" in text


def test_compare_with_seeds_builds_the_report_once_and_prints_its_headline(tmp_path, monkeypatch, capsys):
    """`normlab compare --seeds N`: one report build, whose headline is what the terminal shows."""
    from types import SimpleNamespace

    import normlab.experiments.study as study_mod
    import normlab.report
    import normlab.report.build as rs
    from normlab.cli import main
    from normlab.experiments.store import ResultsDB

    def fake_run_study(spec, out, **kwargs):
        path = Path(out) / "normlab.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        with ResultsDB(path) as db:
            for run in fake_runs():
                if run.status != "done":
                    continue
                rid = db.start_run(study=spec.name, variant=run.variant, seed=run.seed, config=run.config,
                                   config_hash=run.config_hash, device="cpu")
                db.finish_run(rid, dataclasses.replace(run, train_loss_per_batch=[0.5], val_loss_per_batch=[0.4],
                                                       host=None))
        return SimpleNamespace(db_path=path, seconds=1.5, progress=SimpleNamespace(failed=0))

    built = []
    real_build = rs.build_report

    def counting_build(*args, **kwargs):
        report = real_build(*args, **kwargs)
        built.append(report)
        return report

    monkeypatch.setattr(study_mod, "run_study", fake_run_study)
    monkeypatch.setattr(rs, "build_report", counting_build)
    monkeypatch.setattr(normlab.report, "build_report", counting_build)
    out = tmp_path / "cmp"
    assert main(["compare", "--seeds", "3", "--out", str(out), "--quiet", "--device", "cpu"]) == 0
    assert len(built) == 1
    printed = capsys.readouterr().out
    assert built[0].headline and all(line in printed for line in built[0].headline)
    assert built[0].readings[0].verdict == "significant difference" and built[0].readings[0].effect > 0
    assert built[0].headline[0] == built[0].verdicts[0]
    assert (out / "report.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_one_grid_rule_for_comparisons_and_sweep_sections():
    from normlab.report.context import detect_grid

    def by_variant(runs):
        by = {}
        for r in runs:
            by.setdefault(r.variant, []).append(r)
        return list(by), by

    # Batch-size-scaled: a batch-size grid, and never a learning-rate one.
    scaled = grid_runs(("lenet5", "lenet5-bn"), "batch_size", (16, 64), seeds=1)
    for r in scaled:
        r.config["lr"] = 0.001 * r.config["batch_size"] / 64
    assert detect_grid(*by_variant(scaled)).key == "batch_size"
    assert detect_grid(*by_variant(scaled), key="lr") is None
    assert detect_grid(*by_variant(scaled), key="lr", min_models=1) is None
    # A rate that changes with the batch size but not in proportion: no grid at all.
    for r in scaled:
        r.config["lr"] = {16: 0.003, 64: 0.001}[r.config["batch_size"]]
    assert detect_grid(*by_variant(scaled)) is None
    # One model at several rates is a sweep for the sections, not a grid for the comparisons.
    one = grid_runs(("lenet5",), "lr", GRID_LRS[:3], seeds=1)
    assert detect_grid(*by_variant(one)) is None
    sweep = detect_grid(*by_variant(one), key="lr", min_models=1)
    assert sweep is not None and sweep.models == ("lenet5",) and sweep.values == GRID_LRS[:3]
    with pytest.raises(ConfigError, match="grid key"):
        detect_grid(*by_variant(one), key="epochs")
