"""Diagnostics: activation statistics, smoothness along the gradient, gradient norms, their cost and storage.

The measurements are checked against direct computations (numpy percentiles, hand-made walks
along the gradient and along the optimizer's real step, per-tensor gradient norms of the first
batch), and recording is checked not to change training: the same numbers with and without it,
nothing left attached to the model, and the smoothness probe restoring everything it touches,
the optimizer's state included, bit for bit.
"""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from normlab.diagnostics import (
    DEFAULT_SCALES,
    ActivationRecorder,
    Schedule,
    build_diagnostics,
    build_measurements,
    gradient_norms,
    optimizer_update,
    percentiles,
    preserved_state,
    probe_smoothness,
    unit_statistics,
)
from normlab.errors import ConfigError
from normlab.models import apply_blog_init, create_model
from normlab.train import Callback, TrainConfig, train

EVERY = 4  # 1,024 images / 64 = 16 steps: records at steps 0, 4, 8, 12


def cfg(**kw) -> TrainConfig:
    base = dict(model="lenet5-bn", epochs=1, batch_size=64, device="cpu", subset=1024)
    base.update(kw)
    return TrainConfig(**base)


ALL = {"activations": {"every": EVERY}, "smoothness": {"every": EVERY}, "grad_norms": {"every": EVERY}}


class _Keep(Callback):
    def on_train_start(self, model, optimizer, loss_fn):
        self.model = model


def _record(config: TrainConfig, *, callbacks=(), **kwargs):
    """train() with the config's measurements, built as the engines' worker builds them."""
    return train(config, callbacks=[*callbacks, *build_diagnostics(config.diagnostics)], **kwargs)


def _hooks(model: nn.Module) -> int:
    return sum(len(m._forward_pre_hooks) + len(m._forward_hooks) + len(m._backward_hooks) for m in model.modules())


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def test_percentiles_match_numpy():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(5, 1001))
    np.testing.assert_allclose(percentiles(values), np.percentile(values, [15, 50, 85], axis=1))
    small = np.array([[3.0, 1.0, 2.0, 10.0]])
    # Linear interpolation: position q/100 * (n - 1) between order statistics 1, 2, 3, 10.
    np.testing.assert_allclose(percentiles(small)[:, 0], [1 + 0.45 * 1, 2.5, 3 + 0.55 * 7])
    with pytest.raises(ConfigError):
        percentiles(np.empty((2, 0)))


def test_unit_statistics_per_channel_and_per_unit():
    torch.manual_seed(0)
    conv = torch.randn(8, 3, 5, 5) * torch.tensor([1.0, 2.0, 0.5]).view(1, 3, 1, 1) + torch.tensor([0.0, 1.0, -3.0]).view(1, 3, 1, 1)
    stats = unit_statistics(conv)
    for c in range(3):
        values = conv[:, c].flatten().double().numpy()  # batch and positions pooled
        assert stats["p15"][c] == pytest.approx(np.percentile(values, 15))
        assert stats["p50"][c] == pytest.approx(np.median(values))
        assert stats["p85"][c] == pytest.approx(np.percentile(values, 85))
        assert stats["mean"][c] == pytest.approx(values.mean())
        assert stats["std"][c] == pytest.approx(values.std())
    linear = torch.randn(40, 7)
    stats = unit_statistics(linear)
    assert stats["p50"].shape == (7,)
    np.testing.assert_allclose(stats["mean"], linear.double().mean(0).numpy())
    with pytest.raises(ConfigError):
        unit_statistics(torch.randn(5))


def test_activation_recorder_reads_the_training_forward_and_removes_its_hooks():
    torch.manual_seed(0)
    model = apply_blog_init(create_model("lenet5-bn"))
    x = torch.randn(16, 1, 32, 32)
    seen = {}

    def keep(name):
        def hook(module, inp):
            seen.setdefault(name, inp[0].detach().clone())  # returns None: the input is left as it is
        return hook

    handles = [m.register_forward_pre_hook(keep(name)) for name, m in model.nonlinearities().items()]
    rec = ActivationRecorder(Schedule(1), unit=2)
    rec.attach(model, None, None)
    rec.before_step(0, 1, x, None)
    assert _hooks(model) == 4 + 4
    model(x)
    assert _hooks(model) == 4  # each recorder hook removed itself after firing
    rec.after_step(0, 1, x, None, None)
    for h in handles:
        h.remove()
    assert _hooks(model) == 0
    model(x)  # no scheduled step: nothing is recorded
    data = rec.to_dict()
    assert data["step"] == [0] and data["epoch"] == [1]
    assert data["layers"]["act1"] == {"kind": "conv", "units": 6, "unit": 2}
    assert data["layers"]["act4"]["kind"] == "linear" and data["layers"]["act4"]["units"] == 84
    for name, inp in seen.items():
        units = inp.transpose(0, 1).reshape(inp.shape[1], -1).double().numpy()
        direct = units[2]
        recorded = data["stats"][name]["unit"]
        assert recorded["p15"][0] == pytest.approx(np.percentile(direct, 15))
        assert recorded["p50"][0] == pytest.approx(np.percentile(direct, 50))
        assert recorded["p85"][0] == pytest.approx(np.percentile(direct, 85))
        assert recorded["mean"][0] == pytest.approx(direct.mean())
        assert recorded["std"][0] == pytest.approx(direct.std())
        assert data["stats"][name]["summary"]["p50"][0] == pytest.approx(np.percentile(units, 50, axis=1).mean())
        assert data["drift"][name]["count"] == 1
        assert data["drift"][name]["mean_drift"] == 0.0  # one record: the median has not moved
    json.dumps(data)


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


def test_settings_validation():
    assert [m.name for m in build_measurements(ALL)] == ["activations", "smoothness", "grad_norms"]
    assert build_measurements({}) == [] and build_measurements(None) == []
    assert [m.schedule.every for m in build_measurements({"activations": 7})] == [7]
    assert build_measurements({"activations": {"every": 0}}) == []  # 0: off
    with pytest.raises(ConfigError, match="unknown diagnostic.*'hessian'.*activations, smoothness, grad_norms"):
        build_measurements({"hessian": {}})
    with pytest.raises(ConfigError, match="unknown setting.*'?evry'?.*every"):
        build_measurements({"activations": {"evry": 3}})
    with pytest.raises(ConfigError, match="every"):
        build_measurements({"grad_norms": {"every": -1}})
    with pytest.raises(ConfigError, match="scales"):
        build_measurements({"smoothness": {"scales": [1.0, -2.0]}})
    with pytest.raises(ConfigError, match="direction.*'sideways'.*'update'.*'gradient'"):
        build_measurements({"smoothness": {"direction": "sideways"}})
    with pytest.raises(ConfigError, match="unit"):
        build_measurements({"activations": {"unit": -1}})
    assert Schedule(5).due(0) and Schedule(5).due(10) and not Schedule(5).due(7) and not Schedule(0).due(0)
    gradient, update = DEFAULT_SCALES["gradient"], DEFAULT_SCALES["update"]
    assert len(gradient) == 8 and gradient[0] == pytest.approx(0.5) and gradient[-1] == pytest.approx(4.0)
    # The update walk spans the optimizer's own step: a quarter of it to twice it, 1 exactly among them.
    assert update[0] == 0.25 and update[-1] == 2.0 and 1.0 in update
    for scales in (gradient, update):
        ratios = np.diff(np.log(scales))
        np.testing.assert_allclose(ratios, ratios[0])  # log-spaced
    (smooth,) = build_measurements({"smoothness": {"every": 5}})
    assert smooth.settings()["direction"] == "update" and smooth.settings()["scales"] == list(update)
    (smooth,) = build_measurements({"smoothness": {"direction": "gradient"}})
    assert smooth.settings()["scales"] == list(gradient)


def test_the_command_line_names_are_the_measurements():
    from normlab.diagnostics import DEFAULT_EVERY, DESCRIPTIONS, DIAGNOSTICS

    assert list(DESCRIPTIONS) == list(DEFAULT_EVERY) == list(DIAGNOSTICS)
    assert all(cls.name == name for name, cls in DIAGNOSTICS.items())


def test_train_refuses_diagnostics_that_no_callback_records(small_splits):
    # train() does not build measurements (normlab.train never imports normlab.diagnostics), so a
    # config asking for some must come with their callback, else its result would lack them.
    with pytest.raises(ConfigError, match="build_diagnostics"):
        train(cfg(diagnostics=ALL), splits=small_splits, progress=False)
    with pytest.raises(ConfigError, match="build_diagnostics"):
        train(cfg(diagnostics=ALL), splits=small_splits, progress=False,
              callbacks=build_diagnostics({"activations": {"every": EVERY}}))
    # Settings that switch everything off are recorded as nothing, as before.
    off = _record(cfg(diagnostics={"activations": 0}), splits=small_splits, progress=False)
    assert off.status == "done" and off.diagnostics == {}
    assert build_diagnostics({}) == [] and build_diagnostics(None) == []


# --------------------------------------------------------------------------------------------
# Smoothness: a measurement that restores everything
# --------------------------------------------------------------------------------------------


def _trained(model_name: str, steps: int = 3):
    """A model and Adam optimizer after a few steps, with gradients left in .grad."""
    torch.manual_seed(0)
    model = apply_blog_init(create_model(model_name))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    x, y = torch.randn(32, 1, 32, 32), torch.randint(0, 10, (32,))
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    return model, opt, loss_fn, x, y


def _snapshot(model, opt) -> dict:
    return {
        "params": [p.detach().clone() for p in model.parameters()],
        "param_ids": [id(p) for p in model.parameters()],
        "buffers": {k: v.clone() for k, v in model.named_buffers()},
        "grads": [None if p.grad is None else p.grad.clone() for p in model.parameters()],
        "grad_ids": [id(p.grad) for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "opt": copy.deepcopy(opt.state_dict()),
        "rng": torch.get_rng_state(),
    }


def _assert_same(before: dict, after: dict, *, ids: bool = True) -> None:
    """The same values (and, with ``ids``, the same parameter and gradient objects)."""
    assert all(torch.equal(a, b) for a, b in zip(before["params"], after["params"]))
    assert not ids or before["param_ids"] == after["param_ids"]
    assert before["buffers"].keys() == after["buffers"].keys()
    assert all(torch.equal(before["buffers"][k], after["buffers"][k]) for k in before["buffers"])
    assert all(a is b is None or torch.equal(a, b) for a, b in zip(before["grads"], after["grads"]))
    assert not ids or before["grad_ids"] == after["grad_ids"]
    assert before["modes"] == after["modes"]
    assert torch.equal(before["rng"], after["rng"])
    sa, sb = before["opt"]["state"], after["opt"]["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        for name, value in sa[k].items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(sb[k][name]))
    assert before["opt"]["param_groups"] == after["opt"]["param_groups"]


@pytest.mark.parametrize("model_name", ["lenet5-bn", "lenet5-noisy-bn", "lenet5-bn-before-all"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_smoothness_probe_restores_everything(model_name, mode):
    model, opt, loss_fn, x, y = _trained(model_name)
    model.train(mode == "train")
    model.act2.train(mode != "train")  # a mixed-mode module tree must come back as it was too
    before = _snapshot(model, opt)
    result = probe_smoothness(model, loss_fn, x, y, DEFAULT_SCALES["update"], optimizer=opt)
    _assert_same(before, _snapshot(model, opt))
    # The RNG really is restored: the next draw is the one that would have come without the probe.
    torch.set_rng_state(before["rng"])
    expected = torch.rand(3)
    torch.set_rng_state(before["rng"])
    probe_smoothness(model, loss_fn, x, y, [1e-3], direction="gradient")
    assert torch.equal(torch.rand(3), expected)
    assert len(result["losses"]) == len(result["grad_diffs"]) == len(result["distances"]) == 7
    assert result["loss_min"] <= result["loss_max"] and result["beta"] > 0


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("steps", [0, 3])
def test_probe_leaves_training_bit_identical_optimizer_state_included(fused, steps):
    """Two copies train on; the probed one must take exactly the steps of the other (Adam before its first
    step has no state: the probe's step must not leave one behind)."""
    model, _, loss_fn, x, y = _trained("lenet5-bn", steps=0)
    twin = copy.deepcopy(model)
    opts = [torch.optim.Adam(m.parameters(), lr=1e-3, fused=fused or None) for m in (model, twin)]
    for _ in range(steps):
        for m, o in zip((model, twin), opts):
            o.zero_grad()
            loss_fn(m(x), y).backward()
            o.step()
    assert len(opts[0].state) == (len(list(model.parameters())) if steps else 0)
    probe_smoothness(model, loss_fn, x, y, DEFAULT_SCALES["update"], optimizer=opts[0])
    assert len(opts[0].state) == (len(list(model.parameters())) if steps else 0)
    _assert_same(_snapshot(twin, opts[1]), _snapshot(model, opts[0]), ids=False)
    for _ in range(2):
        for m, o in zip((model, twin), opts):
            o.zero_grad()
            loss_fn(m(x), y).backward()
            o.step()
    _assert_same(_snapshot(twin, opts[1]), _snapshot(model, opts[0]), ids=False)


def test_smoothness_probe_restores_a_layer_generator():
    model, opt, loss_fn, x, y = _trained("lenet5-noisy-bn")
    gen = torch.Generator().manual_seed(9)
    model.norm1.generator = gen
    state = gen.get_state()
    probe_smoothness(model, loss_fn, x, y, [1e-3, 2e-3], direction="gradient")
    probe_smoothness(model, loss_fn, x, y, [0.5, 1.0], optimizer=opt)
    assert torch.equal(gen.get_state(), state)
    with preserved_state(model):
        torch.rand(5, generator=gen)
        with torch.no_grad():
            model.conv1.weight.add_(1.0)
    assert torch.equal(gen.get_state(), state)


def _direct_walk(model, loss_fn, x, y, direction, scales, rng) -> dict:
    """The walk ``w + s·direction`` by hand on a copy, each evaluation from the same generator state
    (``direction``: tensors, or a function of the gradient at ``w``)."""
    ref = copy.deepcopy(model)
    start_buffers = {k: v.clone() for k, v in ref.named_buffers()}
    params = list(ref.parameters())

    def evaluate():
        torch.set_rng_state(rng)
        ref.load_state_dict({**ref.state_dict(), **start_buffers})
        loss = loss_fn(ref(x), y)
        return loss.item(), torch.autograd.grad(loss, params)

    loss0, g0 = evaluate()
    direction = direction(g0) if callable(direction) else direction
    w0 = [p.detach().clone() for p in params]
    d_norm = math.sqrt(sum(float((d.double() ** 2).sum()) for d in direction))
    out = {"loss": loss0, "grad_norm": math.sqrt(sum(float((g.double() ** 2).sum()) for g in g0)),
           "losses": [], "grad_diffs": [], "ratios": []}
    for s in scales:
        with torch.no_grad():
            for p, w, d in zip(params, w0, direction):
                p.copy_(w + s * d)
        loss, grads = evaluate()
        diff = math.sqrt(sum(float(((a - b).double() ** 2).sum()) for a, b in zip(grads, g0)))
        out["losses"].append(loss)
        out["grad_diffs"].append(diff)
        out["ratios"].append(diff / (s * d_norm))
    return out


def _assert_walk(result: dict, direct: dict) -> None:
    assert result["loss"] == pytest.approx(direct["loss"], rel=1e-6)
    assert result["grad_norm"] == pytest.approx(direct["grad_norm"], rel=1e-6)
    assert result["losses"] == pytest.approx(direct["losses"], rel=1e-5)
    assert result["grad_diffs"] == pytest.approx(direct["grad_diffs"], rel=1e-4)
    assert result["beta"] == pytest.approx(max(direct["ratios"]), rel=1e-4)
    assert result["loss_min"] == min(result["losses"]) and result["grad_diff_max"] == max(result["grad_diffs"])


@pytest.mark.parametrize("model_name", ["lenet5", "lenet5-noisy-bn"])
def test_smoothness_probe_values_equal_a_direct_walk(model_name):
    model, _, loss_fn, x, y = _trained(model_name)
    etas = [1e-3, 4e-3]
    rng = torch.get_rng_state()
    result = probe_smoothness(model, loss_fn, x, y, etas, direction="gradient")
    direct = _direct_walk(model, loss_fn, x, y, lambda g0: [-g for g in g0], etas, rng)
    _assert_walk(result, direct)
    assert result["direction"] == "gradient" and math.isnan(result["update_norm"])
    assert result["distances"] == pytest.approx([eta * direct["grad_norm"] for eta in etas], rel=1e-6)
    with pytest.raises(ConfigError):
        probe_smoothness(model, loss_fn, x, y, [0.0], direction="gradient")
    with pytest.raises(ConfigError, match="pass the optimizer"):
        probe_smoothness(model, loss_fn, x, y, [1.0])


@pytest.mark.parametrize("model_name", ["lenet5-bn", "lenet5-noisy-bn"])
def test_update_walk_follows_adams_real_step_and_spans_it(model_name):
    """The walk's direction is the step Adam then really takes on the batch; scale 1 lands on its result."""
    model, opt, loss_fn, x, y = _trained(model_name)
    rng = torch.get_rng_state()
    scales = DEFAULT_SCALES["update"]
    result = probe_smoothness(model, loss_fn, x, y, scales, optimizer=opt)
    stepped, stepped_opt = copy.deepcopy((model, opt))  # one copy: the optimizer holds the copied parameters
    torch.set_rng_state(rng)
    stepped_opt.zero_grad()
    loss_fn(stepped(x), y).backward()
    stepped_opt.step()
    update = [b.detach() - a.detach() for a, b in zip(model.parameters(), stepped.parameters())]
    update_norm = math.sqrt(sum(float((u.double() ** 2).sum()) for u in update))
    assert result["direction"] == "update" and result["update_norm"] == pytest.approx(update_norm, rel=1e-6)
    _assert_walk(result, _direct_walk(model, loss_fn, x, y, update, scales, rng))
    assert max(result["distances"]) >= update_norm  # the walk reaches past the optimizer's step
    assert max(result["distances"]) == pytest.approx(2 * update_norm, rel=1e-6)
    assert min(result["distances"]) == pytest.approx(update_norm / 4, rel=1e-6)
    # What the old walk along the raw gradient reached, 4 learning rates times it: a small fraction of
    # Adam's step, so it never probed where the optimizer goes.
    torch.set_rng_state(rng)
    gradient = probe_smoothness(model, loss_fn, x, y, [s * 1e-3 for s in DEFAULT_SCALES["gradient"]],
                                optimizer=opt, direction="gradient")
    assert max(gradient["distances"]) < update_norm / 3
    assert gradient["update_norm"] == pytest.approx(update_norm, rel=1e-6)


def test_with_plain_sgd_the_update_walk_is_the_gradient_walk():
    model, _, loss_fn, x, y = _trained("lenet5-bn")
    lr = 0.05
    plain = torch.optim.SGD(model.parameters(), lr=lr)
    update = probe_smoothness(model, loss_fn, x, y, [0.5, 1.0, 2.0], optimizer=plain)
    gradient = probe_smoothness(model, loss_fn, x, y, [0.5 * lr, lr, 2 * lr], optimizer=plain, direction="gradient")
    for key in ("losses", "grad_diffs", "distances"):
        assert update[key] == pytest.approx(gradient[key], rel=1e-4)
    assert update["beta"] == pytest.approx(gradient["beta"], rel=1e-4)
    assert update["update_norm"] == pytest.approx(lr * update["grad_norm"], rel=1e-5)
    # With momentum the step is no longer along the gradient, and the update walk says so.
    heavy = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    for _ in range(3):
        heavy.zero_grad()
        loss_fn(model(x), y).backward()
        heavy.step()
    update = probe_smoothness(model, loss_fn, x, y, [1.0], optimizer=heavy)
    assert update["update_norm"] > 1.5 * lr * update["grad_norm"]


def test_optimizer_update_restores_parameters_grads_and_state():
    model, opt, loss_fn, x, y = _trained("lenet5-bn")
    before = _snapshot(model, opt)
    grads = [torch.ones_like(p) for p in model.parameters()]
    update = optimizer_update(opt, list(model.parameters()), grads)
    _assert_same(before, _snapshot(model, opt))
    assert all(u.shape == p.shape for u, p in zip(update, model.parameters()))
    assert all(torch.count_nonzero(u) > 0 for u in update)


def test_gradient_norms_equal_direct_computation():
    model, *_ = _trained("lenet5-bn", steps=1)
    norms = gradient_norms(model)
    assert set(norms) == {n for n, _ in model.named_parameters()}
    for name, p in model.named_parameters():
        assert norms[name] == pytest.approx(float(torch.linalg.vector_norm(p.grad.double())), rel=1e-12)


# --------------------------------------------------------------------------------------------
# In training
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_name,protocol", [("lenet5-bn", "standard"), ("lenet5-noisy-bn", "standard"),
                                                 ("lenet5-noisy-bn", "blog")])
def test_recording_does_not_change_training(small_splits, model_name, protocol):
    epochs = 2 if protocol == "blog" else 1  # blog: epoch 2 trains in eval mode (the post's bug)
    plain = train(cfg(model=model_name, protocol=protocol, epochs=epochs), splits=small_splits, progress=False)
    keep = _Keep()
    recorded = _record(cfg(model=model_name, protocol=protocol, epochs=epochs, diagnostics=ALL), splits=small_splits,
                       progress=False, callbacks=[keep])
    assert plain.status == recorded.status == "done"
    assert recorded.train_loss_per_batch == plain.train_loss_per_batch
    assert recorded.val_loss_per_batch == plain.val_loss_per_batch
    assert recorded.val_accuracy == plain.val_accuracy and recorded.train_accuracy == plain.train_accuracy
    assert plain.diagnostics == {}
    assert set(recorded.diagnostics) == {"activations", "smoothness", "grad_norms", "cost"}
    assert _hooks(keep.model) == 0
    steps = list(range(0, 16 * epochs, EVERY))
    for name in ("activations", "smoothness", "grad_norms"):
        assert recorded.diagnostics[name]["step"] == steps
        assert recorded.diagnostics[name]["epoch"] == [1 + s // 16 for s in steps]
    json.dumps(recorded.diagnostics)


def test_step0_records_equal_a_direct_computation(small_splits):
    """Step 0 sees the initial weights and the first batch: recompute from both and compare."""

    class First(Callback):
        def on_train_start(self, model, optimizer, loss_fn):
            self.model, self.live = copy.deepcopy(model), model

        def on_step_start(self, step, epoch, x, y):
            if step == 0:
                self.x, self.y = x.clone(), y.clone()

        def on_step_end(self, step, epoch, x, y, loss):
            if step == 0:
                self.after = [p.detach().clone() for p in self.live.parameters()]

    config = cfg(model="lenet5-bn", diagnostics=ALL)
    first = First()
    result = _record(config, splits=small_splits, progress=False, callbacks=[first])
    model, x, y = first.model, first.x, first.y
    inputs = {}

    def keep(name):
        def hook(module, inp):
            inputs.setdefault(name, inp[0].detach().clone())  # returns None: the input is left as it is
        return hook

    for name, module in model.nonlinearities().items():
        module.register_forward_pre_hook(keep(name))
    model.train()
    loss = nn.CrossEntropyLoss()(model(x), y)
    loss.backward()
    assert loss.item() == result.train_loss_per_batch[0]

    act = result.diagnostics["activations"]
    for name, inp in inputs.items():
        unit0 = inp[:, 0].flatten().double().numpy()
        assert act["stats"][name]["unit"]["p50"][0] == pytest.approx(np.median(unit0), rel=1e-9)
        assert act["stats"][name]["unit"]["std"][0] == pytest.approx(unit0.std(), rel=1e-9)
    grads = result.diagnostics["grad_norms"]
    for name, p in model.named_parameters():
        assert grads["grad"][name][0] == pytest.approx(float(torch.linalg.vector_norm(p.grad.double())), rel=1e-6)
    total = math.sqrt(sum(float(torch.linalg.vector_norm(p.grad.double())) ** 2 for p in model.parameters()))
    assert grads["total"][0] == pytest.approx(total, rel=1e-6)
    smooth = result.diagnostics["smoothness"]
    assert smooth["loss"][0] == pytest.approx(loss.item(), rel=1e-6)
    assert smooth["grad_norm"][0] == pytest.approx(total, rel=1e-6)
    assert smooth["lr"][0] == config.lr
    assert smooth["settings"]["scales"] == pytest.approx(list(DEFAULT_SCALES["update"]))
    # The update the probe walked is the one step 0 then made: the weights moved by exactly its norm.
    moved = math.sqrt(sum(float(((b - a.detach()).double() ** 2).sum())
                          for a, b in zip(model.parameters(), first.after)))
    assert smooth["direction"] == ["update"] * 4 and smooth["update_norm"][0] == pytest.approx(moved, rel=1e-6)
    assert max(smooth["distances"][0]) >= smooth["update_norm"][0]


def test_cost_is_recorded(small_splits):
    result = _record(cfg(diagnostics=ALL), splits=small_splits, progress=False)
    cost = result.diagnostics["cost"]
    assert cost["steps"] == 16 and cost["mean_step_seconds"] > 0
    for name in ("activations", "smoothness", "grad_norms"):
        c = cost["measurements"][name]
        assert c["count"] == 4
        assert c["mean_seconds"] > 0 and c["total_seconds"] == pytest.approx(4 * c["mean_seconds"])
        assert c["fraction_of_step"] == pytest.approx(c["mean_seconds"] / cost["mean_step_seconds"])
        assert 0 < c["share_of_training"] < 1
    # Eight forward and backward passes per smoothness record against one per step.
    assert cost["measurements"]["smoothness"]["fraction_of_step"] > 2


def test_resumed_run_keeps_earlier_records(small_splits, tmp_path):
    config = cfg(epochs=2, diagnostics=ALL)
    whole = _record(config, splits=small_splits, progress=False)
    ckpt = tmp_path / "run.pt"
    first = _record(config.replace(epochs=1), splits=small_splits, progress=False, checkpoint_path=ckpt)
    assert first.diagnostics["activations"]["step"] == [0, 4, 8, 12]
    resumed = _record(config, splits=small_splits, progress=False, checkpoint_path=ckpt, resume=True)
    assert resumed.train_loss_per_batch == whole.train_loss_per_batch
    for name in ("activations", "smoothness", "grad_norms"):
        assert resumed.diagnostics[name]["step"] == whole.diagnostics[name]["step"] == [0, 4, 8, 12, 16, 20, 24, 28]
    assert resumed.diagnostics["smoothness"]["losses"] == whole.diagnostics["smoothness"]["losses"]
    assert resumed.diagnostics["activations"]["stats"] == whole.diagnostics["activations"]["stats"]
    d_whole, d_resumed = whole.diagnostics["activations"]["drift"], resumed.diagnostics["activations"]["drift"]
    for layer in d_whole:
        assert d_resumed[layer]["count"] == d_whole[layer]["count"] == 8
        np.testing.assert_allclose(d_resumed[layer]["drift"], d_whole[layer]["drift"], rtol=1e-9)


def test_results_database_stores_the_diagnostics(small_splits, tmp_path):
    from normlab.experiments.store import ResultsDB

    result = _record(cfg(diagnostics={"grad_norms": {"every": 8}}), splits=small_splits, progress=False)
    with ResultsDB(tmp_path / "normlab.db") as db:
        run_id = db.start_run(study="s", variant="lenet5-bn", seed=0, config=result.config, config_hash="h",
                              device="cpu")
        db.finish_run(run_id, result.to_dict())
        stored = db.get_run(run_id)
    assert stored.diagnostics["grad_norms"] == json.loads(json.dumps(result.diagnostics["grad_norms"]))
    assert stored.diagnostics["grad_norms"]["step"] == [0, 8]


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def test_cli_flags_build_the_diagnostics_settings():
    from normlab.cli import build_parser
    from normlab.cli._common import config_from_args

    parser = build_parser()
    args = parser.parse_args(["train", "--record-activations", "--record-smoothness", "25", "--record-grad-norms", "0"])
    assert config_from_args(args).diagnostics == {"activations": {"every": 100}, "smoothness": {"every": 25}}
    assert config_from_args(parser.parse_args(["train"])).diagnostics == {}
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--record-activations", "-3"])


def test_study_with_diagnostics_end_to_end(data_dir, tmp_path, monkeypatch):
    """A tiny study through the CLI: diagnostics reach the database and the report's new sections."""
    from normlab.cli import main
    from normlab.experiments.store import ResultsDB

    out = tmp_path / "study"
    argv = ["study", "--variants", "lenet5", "lenet5-bn", "lenet5-noisy-bn", "--subset", "512", "--epochs", "1",
            "--seeds", "1", "--record-activations", "2", "--record-smoothness", "4", "--record-grad-norms", "2",
            "--out", str(out), "--workers", "1", "--device", "cpu", "--data-dir", str(data_dir), "--quiet"]
    assert main(argv) == 0
    with ResultsDB(out / "normlab.db") as db:
        runs = db.list_runs(full=True)
    assert len(runs) == 3 and all(r.status == "done" for r in runs)
    assert all(r.diagnostics["activations"]["step"] == [0, 2, 4, 6] for r in runs)
    page = (out / "report.html").read_text()
    for anchor, title in [("activations", "Activation statistics over training"),
                          ("smoothness", "Loss-landscape smoothness"), ("grad-norms", "Gradient norms"),
                          ("noisy-bn", "Noisy batch norm")]:
        assert f'id="{anchor}"' in page and title in page
    assert "Ioffe &amp; Szegedy" in page and "Santurkar" in page
