"""The input-normalisation section: does batch norm make input normalisation unnecessary?

It appears when a model was trained on one dataset under two or more input normalisations
(``input_norm``: raw pixels, min-max to [0, 1], z-scores), as the ``input-norm`` preset does, and
is built from the runs' configs, so a hand-made study varying the same gets it too. For each
dataset it answers two questions, each with a reading: does the input normalisation change a
network's final accuracy (paired comparisons of every two settings, per model), and is the spread
across the settings smaller with batch norm than without (per seed, the best setting's accuracy
minus the worst's, paired between the plain and the batch-norm network). Every test the section
makes is one family, Holm-corrected together.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from normlab.report import phrasing
from normlab.report.context import ReportContext, norm_of, run_config
from normlab.report.document import Column, Paragraph, Section, Table, num
from normlab.report.format import clipped_notes, fmt_interval, fmt_p, fmt_pct, fmt_pp, fmt_value
from normlab.report.readings import Reading, family_readings
from normlab.report.sections.ablations import HOLM_NOTE, paired

__all__ = ["INPUT_SETTINGS", "input_norm_section", "input_setting"]

#: The input normalisations in display order (``TrainConfig.input_norm``'s choices; a test keeps them equal).
INPUT_SETTINGS = ("raw", "minmax", "zscore")
#: Config fields a block's variants may differ in: what the section compares, and the seed.
_VARYING = {"seed", "model", "dataset", "input_norm", "standardize"}


def input_setting(config: dict[str, Any]) -> str:
    """A run's input normalisation from its config; configs from before ``input_norm`` existed say
    z-scores as ``standardize``."""
    return str(config.get("input_norm") or ("zscore" if config.get("standardize") else "minmax"))


def _blocks(ctx: ReportContext) -> tuple[dict[str, dict[str, dict[str, str]]], list[str]]:
    """``dataset -> model -> setting -> variant`` for the models run under two or more settings, and
    the datasets left out because their variants differ in other settings too."""
    found: dict[str, dict[str, dict[str, str]]] = defaultdict(lambda: defaultdict(dict))
    rest: dict[str, set[tuple]] = defaultdict(set)
    for v in ctx.variants:
        done = ctx.done(v)
        if not done:
            continue
        cfg = run_config(done[0])
        dataset = str(cfg.get("dataset", "?"))
        found[dataset][str(cfg.get("model", v))].setdefault(input_setting(cfg), v)
        rest[dataset].add(tuple(sorted((k, fmt_value(x)) for k, x in cfg.items() if k not in _VARYING)))
    blocks = {d: {m: dict(sorted(cells.items(), key=lambda c: _order(c[0]))) for m, cells in models.items()
                  if len(cells) >= 2}
              for d, models in found.items() if len(rest[d]) == 1}
    return {d: models for d, models in blocks.items() if models}, sorted(d for d in found if len(rest[d]) > 1)


def _order(setting: str) -> int:
    return INPUT_SETTINGS.index(setting) if setting in INPUT_SETTINGS else len(INPUT_SETTINGS)


def _plain_and_bn(models: dict[str, Any]) -> tuple[str | None, str | None]:
    """The first model without normalisation and the first with batch norm (None where there is none)."""
    return (next((m for m in models if norm_of(m) == "none"), None),
            next((m for m in models if norm_of(m) == "batch"), None))


def _spreads(ctx: ReportContext, cells: dict[str, str], settings: list[str]) -> dict[int, float]:
    """Per seed that has every setting: the best setting's final accuracy minus the worst's."""
    finals = [ctx.seed_finals(cells[s]) for s in settings]
    seeds = set.intersection(*(set(f) for f in finals))
    return {seed: max(f[seed] for f in finals) - min(f[seed] for f in finals) for seed in sorted(seeds)}


def _effect_reading(dataset: str, model: str, cells: dict[str, str], pairs: list[Reading],
                    means: dict[str, float]) -> Reading:
    """Does the input normalisation change ``model``'s final accuracy on ``dataset``? A significant
    difference when any of its pairs of settings has one (Holm-corrected in the section's family)."""
    tested = [r for r in pairs if r.verdict != "not tested"]
    verdict = ("significant difference" if any(r.significant for r in pairs) else
               "no significant difference" if tested else "not tested")
    ranked = sorted((s for s in cells if math.isfinite(means[s])), key=lambda s: means[s])
    spread = means[ranked[-1]] - means[ranked[0]] if ranked else math.nan
    return Reading("input-norm", verdict, f"{model} on {dataset}", spread, n=min((r.n for r in pairs), default=0),
                   numbers={"dataset": dataset, "model": model, "means": means, "pairs": pairs,
                            "best": ranked[-1] if ranked else None, "worst": ranked[0] if ranked else None,
                            "corrected": any(r.numbers["corrected"] for r in pairs)})


def _claim_reading(dataset: str, plain: str | None, bn: str | None, r: Reading | None,
                   spreads: dict[str, dict[int, float]]) -> Reading:
    """Is the spread across settings smaller with batch norm? ``r`` compares the per-seed spreads (plain − BN)."""
    base = {"dataset": dataset, "plain": plain, "bn": bn}
    if r is None:  # no plain or no batch-norm network, or none under two common settings on a common seed
        why = "seeds" if plain and bn and spreads else "models"
        return Reading("input-norm-bn", "not tested", dataset, numbers={**base, "why": why})
    mean = {m: sum(s.values()) / len(s) if s else math.nan for m, s in spreads.items()}
    x = {**base, **r.numbers, "spread_plain": mean[plain], "spread_bn": mean[bn], "why": r.numbers["why"] or "",
         "comparison": r}
    if r.verdict == "not tested":
        verdict = "not tested"
    elif r.significant:
        verdict = "agree" if r.effect > 0 else "disagree"
    else:
        verdict = "undecided"
    return Reading("input-norm-bn", verdict, dataset, r.effect, r.interval, r.p, r.n, x)


def input_norm_section(ctx: ReportContext) -> Section | None:
    """Final accuracy by input normalisation per model and dataset, and whether batch norm narrows its spread."""
    blocks, mixed = _blocks(ctx)
    if not blocks:
        return None
    cmps, extra, roles = [], [], []  # the section's family: every pair of settings per model, then the spreads
    spreads: dict[str, dict[str, dict[int, float]]] = {}
    for dataset, models in blocks.items():
        for model, cells in models.items():
            names = list(cells)
            for i, a in enumerate(names):
                for b in names[i + 1:]:
                    cmp = paired(ctx.seed_finals(cells[a]), ctx.seed_finals(cells[b]), ctx, cells[a], cells[b])
                    if cmp is not None:
                        cmps.append(cmp)
                        extra.append({"dataset": dataset, "model": model, "setting_a": a, "setting_b": b})
                        roles.append("comparison")
        plain, bn = _plain_and_bn(models)
        if plain and bn:
            common = [s for s in models[plain] if s in models[bn]]
            if len(common) >= 2:
                spreads[dataset] = {m: _spreads(ctx, models[m], common) for m in (plain, bn)}
                cmp = paired(spreads[dataset][bn], spreads[dataset][plain], ctx, f"{bn} spread", f"{plain} spread")
                if cmp is not None:
                    cmps.append(cmp)
                    extra.append({"dataset": dataset, "settings": common})
                    roles.append("spread")
    readings = family_readings(cmps, ctx.alpha, numbers=extra)
    pair_readings = [r for r, role in zip(readings, roles) if role == "comparison"]
    spread_readings = {r.numbers["dataset"]: r for r, role in zip(readings, roles) if role == "spread"}
    effects, claims = [], []
    for dataset, models in blocks.items():
        for model, cells in models.items():
            means = {s: ctx.summaries[v].final.mean for s, v in cells.items()}
            mine = [r for r in pair_readings if (r.numbers["dataset"], r.numbers["model"]) == (dataset, model)]
            effects.append(_effect_reading(dataset, model, cells, mine, means))
        claims.append(_claim_reading(dataset, *_plain_and_bn(models), spread_readings.get(dataset),
                                     spreads.get(dataset, {})))

    conf = ctx.conf
    sec = Section("Input normalisation with and without batch norm", "input-norm", readings=[*effects, *claims])
    sec.add("The post explains min-max scaling and z-scores, then trains on ToTensor()'s pixels / 255 without "
            "measuring either. Here each network trained on the same images under each input normalisation, with "
            "the same seeds: raw, the pixel values 0–255; minmax, the training pixels' range mapped to [0, 1] (on "
            "MNIST and Fashion-MNIST exactly the post's x / 255); zscore, the transformed training images' mean "
            "subtracted and their standard deviation divided out. Every statistic comes from the training split "
            "alone. The spread of a network is, per seed, its final accuracy under the best setting minus under "
            "the worst; batch norm making the input normalisation unnecessary would show as a smaller spread.")
    if mixed:
        sec.add(f"Left out: {', '.join(mixed)}, whose variants differ in more than the model and the input "
                "normalisation.")
    columns = list(dict.fromkeys(s for models in blocks.values() for cells in models.values() for s in cells))
    rows = []
    for r in effects:
        x = r.numbers
        cells = blocks[x["dataset"]][x["model"]]
        rows.append([x["dataset"], x["model"], *(
            fmt_pct(ctx.summaries[cells[s]].final.mean) + f" ({fmt_interval(ctx.summaries[cells[s]].final.t_ci)})"
            if s in cells else "—" for s in columns), fmt_pp(r.effect, signed=False)])
    sec.add(Table([Column("Dataset"), Column("Model"), *[num(f"{s} (%)") for s in columns], num("best − worst (pp)")],
                  rows, caption="Final validation accuracy by input normalisation",
                  notes=[f"Mean over seeds with its {conf} t-interval."] + clipped_notes(rows)))
    sec.add(Table([Column("Dataset"), Column("Model"), Column("Comparison"), num("Pairs"), num("difference (pp)"),
                   num(f"{conf} CI (pp)"), num("paired t p"), num("Holm p"), Column("Verdict")],
                  [[r.numbers["dataset"], r.numbers["model"], f"{r.numbers['setting_b']} − {r.numbers['setting_a']}",
                    str(r.n), fmt_pp(r.effect), fmt_interval(r.interval, pp=True), fmt_p(r.p),
                    fmt_p(r.numbers["holm_p"]), phrasing.short_verdict(r)] for r in pair_readings],
                  caption="Final validation accuracy between input normalisations, seed by seed", notes=[HOLM_NOTE]))
    spread_rows = [[c.numbers["dataset"], c.numbers["plain"], fmt_pp(c.numbers["spread_plain"], signed=False),
                    c.numbers["bn"], fmt_pp(c.numbers["spread_bn"], signed=False), str(c.n), fmt_pp(c.effect),
                    fmt_interval(c.interval, pp=True), fmt_p(c.p), fmt_p(c.numbers["holm_p"])]
                   for c in claims if "spread_bn" in c.numbers]
    if spread_rows:
        sec.add(Table([Column("Dataset"), Column("Plain"), num("spread (pp)"), Column("Batch norm"),
                       num("spread (pp)"), num("Pairs"), num("plain − BN (pp)"), num(f"{conf} CI (pp)"),
                       num("paired t p"), num("Holm p")], spread_rows,
                      caption="Spread across input normalisations (best − worst per seed), plain against batch norm",
                      notes=["Mean per-seed spread over the settings both networks ran; plain − BN > 0: the input "
                             "normalisation mattered less with batch norm. " + HOLM_NOTE]))
    text, sec.summary = phrasing.input_norm_text(effects, claims)
    sec.add(Paragraph(text, "reading"))
    return sec
