"""The activation and smoothness sections read what their papers measured (issue 14).

Ioffe & Szegedy's figure 1 follows a nonlinearity whose input is a batch-norm output, so the drift
reading is made only where a variant feeds a nonlinearity a norm output (batch norm before the
activation), against the plain network of the same architecture. The smoothness section says
which direction its walk followed (the optimizer's update or the gradient) and under which
optimizer. Runs are synthetic: their recorded diagnostics are set by hand.
"""

from __future__ import annotations

import pytest

from conftest import run_record
from normlab.report.sections.diagnostics import normalised_inputs, optimizer_name
from normlab.train import TrainConfig

LAYERS = ("act1", "act2", "act3", "act4")


def _activations(drift: dict[str, float]) -> dict:
    """Records of four layers whose mean drift is ``drift[layer]``."""
    unit = {"p15": [-1.0, -1.0], "p50": [0.0, 0.0], "p85": [1.0, 1.0], "mean": [0.0, 0.0], "std": [1.0, 1.0]}
    return {"settings": {"every": 10, "unit": 0}, "step": [0, 10], "epoch": [1, 1],
            "layers": {layer: {"kind": "linear", "units": 8, "unit": 0} for layer in LAYERS},
            "stats": {layer: {"unit": unit, "summary": unit} for layer in LAYERS},
            "drift": {layer: {"mean_drift": drift[layer]} for layer in LAYERS}}


def _runs(drifts: dict[str, dict[str, float]], *, diagnostic=None, **config) -> list:
    """Three finished seeds per model, recording ``diagnostic(model, seed)`` (default: activations with ``drifts``)."""
    runs = []
    for k, model in enumerate(drifts):
        for seed in range(3):
            cfg = TrainConfig(model=model, seed=seed, epochs=2, **config).to_dict()
            run = run_record(id=len(runs) + 1, variant=model, seed=seed, config=cfg, config_hash=f"{k}{seed}",
                             val_accuracy=[0.97, 0.98 + 0.001 * seed], val_loss=[0.3, 0.2], train_loss=[0.4, 0.3],
                             epoch_seconds=[1.0, 1.0])
            run.diagnostics = (diagnostic(model, seed) if diagnostic else
                               {"activations": _activations({l: d * (1 + 0.05 * seed) for l, d in drifts[model].items()})})
            runs.append(run)
    return runs


def _section(runs, anchor: str):
    from normlab.report import build_report

    return build_report(runs, generated_at=0).section(anchor)


def _flat(drift: float) -> dict[str, float]:
    return dict.fromkeys(LAYERS, drift)


def test_normalised_inputs_follow_the_model_spec():
    assert normalised_inputs("lenet5") == ()
    assert normalised_inputs("lenet5-bn") == ()  # after tanh: no nonlinearity's input is normalised
    assert normalised_inputs("lenet5-bn-all") == ()
    assert normalised_inputs("lenet5-noisy-bn") == ()
    assert normalised_inputs("lenet5-bn-before") == ("act1", "act2")  # conv layers only
    assert normalised_inputs("lenet5-bn-before-all") == LAYERS
    assert normalised_inputs("lenet5-gn:norm_position=before") == ("act1", "act2")
    assert normalised_inputs("not-a-model") == ()


def test_batch_norm_after_the_activation_gets_no_verdict():
    """The post's lenet5-bn never normalises a nonlinearity's input: its act4 cannot test figure 1."""
    sec = _section(_runs({"lenet5": _flat(1.0), "lenet5-bn": _flat(0.1)}), "activations")
    (reading,) = sec.readings
    assert (reading.verdict, reading.numbers["missing"]) == ("not tested", "norm-before-the-activation")
    text = " ".join(p.text for p in sec.paragraphs)
    assert "the layer of their figure" not in text and "as in their figure" not in text
    assert "No variant here feeds a nonlinearity a norm output" in text and "cannot test that" in text


def test_drift_is_read_where_the_input_is_a_batch_norm_output():
    # lenet5-bn-before normalises act1 and act2 only: the reading is at act2, not at the last layer act4,
    # where its drift (here larger than the plain network's) says nothing about batch norm.
    drifts = {"lenet5": _flat(1.0), "lenet5-bn-before": {"act1": 0.2, "act2": 0.1, "act3": 3.0, "act4": 3.0}}
    sec = _section(_runs(drifts), "activations")
    (reading,) = sec.readings
    assert (reading.verdict, reading.subject, reading.numbers["layer"]) == ("agree", "lenet5-bn-before", "act2")
    assert reading.numbers["reference"] == "lenet5" and reading.numbers["lower"] == 3 and reading.n == 3
    assert reading.effect == pytest.approx(0.1) and reading.numbers["last_hidden"] is False
    text = sec.paragraphs[-2].text if "Cost" in sec.paragraphs[-1].text else sec.paragraphs[-1].text
    assert "At act2 (whose input is the norm layer's output in lenet5-bn-before" in text
    assert "their figure reads the last hidden layer, whose input is not normalised here" in text
    assert "lenet5-bn-before (act1 and act2)" in " ".join(p.text for p in sec.paragraphs)


def test_placements_are_read_at_the_last_hidden_layer_when_batch_norm_precedes_it():
    drifts = {"lenet5": _flat(1.0), "lenet5-bn": _flat(0.1), "lenet5-bn-before": _flat(0.1),
              "lenet5-bn-before-all": {"act1": 0.1, "act2": 0.1, "act3": 0.1, "act4": 1.5}}
    sec = _section(_runs(drifts), "activations")
    tested = [r for r in sec.readings if r.verdict != "not tested"]
    assert [(r.subject, r.verdict, r.numbers["layer"]) for r in tested] == [("lenet5-bn-before-all", "disagree", "act4")]
    assert tested[0].numbers["last_hidden"] is True and tested[0].numbers["fed"] == ("lenet5-bn-before-all",)
    # The others normalise no input at act4: listed, not judged.
    assert {r.subject for r in sec.readings if r.numbers.get("normalised_input") is False} == {
        "lenet5-bn", "lenet5-bn-before"}
    text = " ".join(p.text for p in sec.paragraphs)
    assert "the last hidden layer, as in their figure" in text
    assert "In lenet5-bn the norm follows the activation" in text


def test_the_plain_control_must_share_the_architecture():
    drifts = {"lenet5:activation=relu": _flat(1.0), "lenet5-bn-before": _flat(0.1)}
    (reading,) = _section(_runs(drifts), "activations").readings
    assert (reading.verdict, reading.numbers["missing"]) == ("not tested", "plain (same architecture, no norm)")
    drifts = {"lenet5:activation=relu": _flat(1.0), "lenet5": _flat(0.5), "lenet5-bn-before": _flat(0.1)}
    tested = [r for r in _section(_runs(drifts), "activations").readings if r.verdict != "not tested"]
    assert [(r.subject, r.numbers["reference"]) for r in tested] == [("lenet5-bn-before", "lenet5")]


# --------------------------------------------------------------------------------------------
# Smoothness: which walk, under which optimizer
# --------------------------------------------------------------------------------------------


def _smoothness(direction: str | None, scales: list[float], reach: float | None = None):
    def record(model: str, seed: int) -> dict:
        scale = 0.2 if model == "lenet5" else 0.05
        settings = {"every": 10, "scales": scales} | ({"direction": direction} if direction else {})
        d = {"settings": settings, "step": [0, 10], "epoch": [1, 1], "loss_min": [1.0, 0.5],
             "loss_max": [1.0 + scale, 0.5 + scale], "grad_diff_min": [scale / 10] * 2,
             "grad_diff_max": [scale] * 2, "beta": [10 * scale] * 2}
        if reach is not None:
            d |= {"update_norm": [0.2, 0.1], "distances": [[0.01, 0.2 * reach], [0.005, 0.1 * reach]]}
        return {"smoothness": d}
    return record


def _smooth_section(direction, scales, reach=None, **config):
    runs = _runs({"lenet5": {}, "lenet5-bn": {}}, diagnostic=_smoothness(direction, scales, reach), **config)
    return _section(runs, "smoothness")


def test_optimizer_name():
    assert optimizer_name({"optimizer": "adam"}) == "Adam"
    assert optimizer_name({"optimizer": "sgd", "momentum": 0.9}) == "SGD with momentum 0.9"
    assert optimizer_name({"optimizer": "sgd", "momentum": 0.0}) == "plain SGD"


def test_smoothness_says_it_walked_along_adams_update():
    sec = _smooth_section("update", [0.25, 0.5, 1.0, 2.0], reach=2.0, optimizer="adam")
    intro = sec.paragraphs[0].text
    assert "the update u = w_next − w that the optimizer (Adam) would make" in intro
    assert "from 0.25 to 2 times its length, so s = 1 is the optimizer's own next step" in intro
    assert sec.tables[0].caption.startswith("Smoothness along Adam's update, 0.25–2× its length")
    assert "L(w + s·u)" in sec.tables[0].notes[0] and "‖s·u‖₂" in sec.tables[0].notes[0]
    assert not any(p.kind == "note" and "not where the optimizer goes" in p.text for p in sec.paragraphs)
    (reading,) = sec.readings
    assert reading.verdict == "agree"  # the numbers are read as before, whatever the walk


def test_smoothness_says_it_walked_along_the_gradient_and_how_far_that_reached():
    sec = _smooth_section("gradient", [0.5, 4.0], reach=0.05, optimizer="adam")
    assert "as Santurkar et al. do with SGD (these runs: Adam)" in sec.paragraphs[0].text
    assert sec.tables[0].caption.startswith("Smoothness along the gradient, 0.5–4× the learning rate, as Santurkar "
                                            "et al. with SGD")
    note = next(p.text for p in sec.paragraphs if p.kind == "note" and "optimizer's own step" in p.text)
    assert "reached 0.05 times the optimizer's own step on average" in note
    plain = _smooth_section("gradient", [0.5, 4.0], reach=1.0, optimizer="sgd", momentum=0.0)
    assert "(these runs: plain SGD)" in plain.paragraphs[0].text
    assert not any("optimizer's own step" in p.text for p in plain.paragraphs)
    # Records from before the direction setting walked the gradient, and say so.
    legacy = _smooth_section(None, [0.5, 4.0], optimizer="adam")
    assert legacy.tables[0].caption.startswith("Smoothness along the gradient")
