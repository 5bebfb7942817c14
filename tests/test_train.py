"""The trainer: configs, determinism, protocols, checkpoints and resume, divergence, the post's API."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from normlab.errors import CheckpointError, ConfigError
from normlab.train import Callback, ConvolutionalNeuralNet, TrainConfig, load_checkpoint, train
from normlab.train.resolve import resolve


def cfg(**kw) -> TrainConfig:
    base = dict(model="lenet5-bn", epochs=2, batch_size=64, device="cpu", subset=1024)
    base.update(kw)
    return TrainConfig(**base)


def test_config_rejects_unknown_key_and_bad_values():
    with pytest.raises(ConfigError, match="bogus"):
        TrainConfig.from_dict({"bogus": 1})
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(epochs=0)
    with pytest.raises(ConfigError, match="protocol"):
        TrainConfig(protocol="nope")
    with pytest.raises(ConfigError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(ConfigError, match="transform='tiny' is invalid; valid: resize32, pad32, none"):
        TrainConfig(transform="tiny")
    with pytest.raises(ConfigError, match="momentum"):
        TrainConfig(momentum=1.0)
    with pytest.raises(ConfigError, match="accelerate must be True or False"):
        TrainConfig(accelerate=1)
    with pytest.raises(ConfigError, match="lr must be a number"):
        TrainConfig(lr="0.1")
    with pytest.raises(ConfigError, match="subset must be a positive integer or None"):
        TrainConfig(subset=0)


def test_config_checks_types_and_ranges_and_resolve_checks_names():
    # Names are the registries' business: a config holds them, resolve() looks them up.
    for kw, message in [({"model": "lenet6"}, "unknown model 'lenet6'"),
                        ({"model": "lenet5:norm=bogus"}, "norm"),
                        ({"dataset": "cifar"}, "cifar"),
                        ({"model": "lenet5:input_size=28"}, "input_size=28, but transform='resize32' gives 32x32"),
                        ({"model": "lenet5:head=softmax"}, "head comes from the protocol")]:
        config = TrainConfig(**kw)
        with pytest.raises(ConfigError, match=message):
            resolve(config)
        with pytest.raises(ConfigError, match=message):
            train(config, progress=False)  # before any data is loaded
    config = TrainConfig(model="lenet5:input_size=28", transform="none")
    assert resolve(config) is config
    config.epochs = 0  # a dataclass can be changed after it was checked
    with pytest.raises(ConfigError, match="epochs"):
        resolve(config)
    # Diagnostics settings are checked where they are built (normlab.diagnostics).
    assert TrainConfig(diagnostics={"bogus": 1}).diagnostics == {"bogus": 1}
    with pytest.raises(ConfigError, match="diagnostics must be a dict"):
        TrainConfig(diagnostics=[("activations", 1)])


def test_config_fields_carry_their_command_line_description():
    import dataclasses

    from normlab.data.transforms import TRANSFORMS
    from normlab.train.config import OPTIMIZERS, PROTOCOL_NAMES

    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert all(f.metadata["help"] for f in fields.values())
    assert fields["transform"].metadata["choices"] == TRANSFORMS  # the data layer's names
    assert fields["protocol"].metadata["choices"] == PROTOCOL_NAMES
    assert fields["optimizer"].metadata["choices"] == OPTIMIZERS
    assert [n for n, f in fields.items() if not f.metadata["flag"]] == ["diagnostics"]
    assert TrainConfig().accelerate is True


def test_config_hash_of_configs_from_before_accelerate_is_unchanged():
    # These hashes were computed by the code before the accelerate field existed: results
    # databases written then must still find their runs.
    assert TrainConfig().config_hash() == "702193aa798dcb20"
    assert TrainConfig(model="lenet5", lr=3e-3, seed=4, subset=100,
                       diagnostics={"activations": {"every": 5}}).config_hash() == "d4e9d6d36f4f0b34"
    assert TrainConfig(protocol="blog", head="logits", threads=2).config_hash() == "6525cb29913d37c8"
    plain = TrainConfig(accelerate=False)
    assert plain.config_hash() != TrainConfig().config_hash()  # another numerical path: another run
    assert TrainConfig.from_dict(plain.to_dict()) == plain
    # Like the device, it may change when a checkpoint is resumed.
    assert plain.identity() == TrainConfig().identity()


def test_config_roundtrip_and_hash():
    c = cfg(lr=3e-3)
    assert TrainConfig.from_dict(c.to_dict()) == c
    assert c.config_hash() == TrainConfig.from_dict(c.to_dict()).config_hash()
    assert c.config_hash() != cfg(lr=1e-3).config_hash()


def test_same_seed_same_numbers(small_splits):
    a = train(cfg(), splits=small_splits, progress=False)
    b = train(cfg(), splits=small_splits, progress=False)
    assert a.status == b.status == "done"
    assert a.train_loss_per_batch == b.train_loss_per_batch
    assert a.val_accuracy == b.val_accuracy and a.val_loss == b.val_loss
    c = train(cfg(seed=1), splits=small_splits, progress=False)
    assert c.train_loss_per_batch != a.train_loss_per_batch


def test_result_shapes_and_learning(small_splits):
    r = train(cfg(epochs=3), splits=small_splits, progress=False)
    steps = 1024 // 64
    assert len(r.train_loss_per_batch) == 3 * steps
    assert len(r.val_loss_per_batch) == 3 * (512 // 64)
    assert len(r.val_accuracy) == len(r.train_accuracy) == len(r.epoch_seconds) == 3
    assert all(v > 0 for v in r.images_per_second)
    # 3 epochs on 1,024 images: well above chance (10%).
    assert r.val_accuracy[-1] > 0.6
    assert r.train_loss[-1] < r.train_loss[0]
    assert set(r.log_dict()) == {"training_loss_per_batch", "validation_loss_per_batch",
                                 "training_accuracy_per_epoch", "validation_accuracy_per_epoch"}


class _Recorder(Callback):
    def __init__(self):
        self.modes, self.running = [], []

    def on_train_start(self, model, optimizer, loss_fn):
        self.model = model

    def on_step_end(self, step, epoch, x, y, loss):
        self.modes.append((epoch, self.model.training))

    def on_epoch_end(self, epoch, result):
        self.running.append(self.model.batchnorm1.running_mean.clone())


def test_blog_protocol_reproduces_the_mode_bug(small_splits):
    rec = _Recorder()
    train(cfg(protocol="blog", epochs=3), splits=small_splits, progress=False, callbacks=[rec])
    modes = {}
    for epoch, training in rec.modes:
        modes.setdefault(epoch, set()).add(training)
    assert modes == {1: {True}, 2: {False}, 3: {False}}
    # In eval mode BN's running statistics stop moving.
    assert torch.equal(rec.running[0], rec.running[1]) and torch.equal(rec.running[1], rec.running[2])

    rec = _Recorder()
    train(cfg(protocol="standard", epochs=2), splits=small_splits, progress=False, callbacks=[rec])
    assert {t for _, t in rec.modes} == {True}
    assert not torch.equal(rec.running[0], rec.running[1])


def test_blog_protocol_uses_softmax_head_and_no_shuffle(small_splits):
    from normlab.train import build_model

    model = build_model(cfg(protocol="blog"))
    out = model(torch.zeros(2, 1, 32, 32))
    assert torch.allclose(out.sum(1), torch.ones(2))
    logits = build_model(cfg(protocol="standard"))(torch.zeros(2, 1, 32, 32))
    assert not torch.allclose(logits.sum(1), torch.ones(2))


def test_paired_seeds_share_initial_weights():
    from normlab.train import build_model

    plain = build_model(cfg(model="lenet5")).state_dict()
    bn = build_model(cfg(model="lenet5-bn")).state_dict()
    for key, value in plain.items():
        assert torch.equal(value, bn[key]), key


class _StopMidway(Callback):
    def __init__(self, epoch, step):
        self.epoch, self.step = epoch, step

    def on_step_end(self, step, epoch, x, y, loss):
        if epoch == self.epoch and step == self.step:
            raise KeyboardInterrupt


@pytest.mark.parametrize("protocol", ["standard", "blog"])
def test_resume_after_stop_midway_is_identical(small_splits, tmp_path, protocol):
    config = cfg(protocol=protocol, epochs=3)
    full = train(config, splits=small_splits, progress=False)
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        # Stop in the middle of epoch 2: the checkpoint of epoch 1 is what survives.
        train(config, splits=small_splits, progress=False, checkpoint_path=ckpt, callbacks=[_StopMidway(2, 16 + 5)])
    assert load_checkpoint(ckpt)["epoch"] == 1
    resumed = train(config, splits=small_splits, progress=False, checkpoint_path=ckpt, resume=True)
    assert resumed.train_loss_per_batch == full.train_loss_per_batch
    assert resumed.val_accuracy == full.val_accuracy
    assert resumed.val_loss_per_batch == full.val_loss_per_batch


def test_checkpoint_from_other_config_or_truncated_is_clear_error(small_splits, tmp_path):
    ckpt = tmp_path / "ckpt.pt"
    train(cfg(epochs=1), splits=small_splits, progress=False, checkpoint_path=ckpt)
    with pytest.raises(CheckpointError, match="another model or config.*model"):
        train(cfg(model="lenet5", epochs=2), splits=small_splits, progress=False, checkpoint_path=ckpt, resume=True)
    with pytest.raises(CheckpointError, match="lr"):
        train(cfg(lr=0.01, epochs=2), splits=small_splits, progress=False, checkpoint_path=ckpt, resume=True)
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=str(ckpt.name)):
        train(cfg(epochs=2), splits=small_splits, progress=False, checkpoint_path=ckpt, resume=True)


class _Evil:
    def __reduce__(self):
        return (exec, ("import os; os.environ['NORMLAB_PWNED'] = '1'",))


def test_checkpoint_never_runs_code(tmp_path, monkeypatch):
    monkeypatch.delenv("NORMLAB_PWNED", raising=False)
    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "config": {}, "model": {}, "epoch": 0, "x": _Evil()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    import os

    assert "NORMLAB_PWNED" not in os.environ


def test_divergence_stops_with_epoch_and_batch(small_splits):
    r = train(cfg(model="lenet5:activation=relu", optimizer="sgd", lr=1e6, epochs=2), splits=small_splits, progress=False)
    assert r.status == "diverged"
    assert r.diverged_epoch == 1 and r.diverged_batch is not None
    assert f"epoch 1, batch {r.diverged_batch}" in r.message


def test_post_api_runs_unchanged(small_splits):
    from torch.utils.data import TensorDataset

    from normlab.models import create_model

    # The post's call, with a plain torch Dataset for validation.
    x, y = small_splits.test.tensors()
    validation_set = TensorDataset(x[:256], y[:256])
    torch.manual_seed(0)
    model = ConvolutionalNeuralNet(create_model("lenet5-bn", head="softmax"), device="cpu", progress=False)
    log_dict = model.train(torch.nn.CrossEntropyLoss(), epochs=2, batch_size=64,
                           training_set=small_splits.train, validation_set=validation_set)
    assert len(log_dict["training_loss_per_batch"]) == 2 * 16
    assert len(log_dict["validation_loss_per_batch"]) == 2 * 4
    assert len(log_dict["training_accuracy_per_epoch"]) == 2
    assert all(0 <= a <= 1 for a in log_dict["validation_accuracy_per_epoch"])
    probs = model.predict(x[:3])
    assert probs.shape == (3, 10) and torch.allclose(probs.sum(1), torch.ones(3))


def test_val_split_tests_once_with_best_weights(data_dir):
    from normlab.data import load_splits

    splits = load_splits("mnist", subset=1024, val_split=256, data_dir=data_dir)
    splits.test = splits.test.subset(512)
    r = train(cfg(val_split=256, epochs=2), splits=splits, progress=False)
    assert r.val_split_name == "val"
    assert r.test_accuracy is not None and 0 < r.test_accuracy <= 1
    assert r.test_epoch == 1 + max(range(2), key=lambda i: r.val_accuracy[i])


def test_validation_losses_per_training_batch_come_from_larger_forward_batches(small_splits):
    from normlab.data import BatchLoader
    from normlab.models import create_model
    from normlab.train.loop import evaluate

    torch.manual_seed(0)
    model = create_model("lenet5-bn", head="softmax")
    loss_fn = nn.CrossEntropyLoss()
    val = small_splits.test.subset(500)  # 7 batches of 64 and a last one of 52
    small = evaluate(model, BatchLoader(val, 64, cache=True), loss_fn)
    large = evaluate(model, BatchLoader(val, 256, cache=True), loss_fn, loss_batch_size=64)
    assert len(large.batch_losses) == len(small.batch_losses) == 8
    torch.testing.assert_close(torch.tensor(large.batch_losses), torch.tensor(small.batch_losses), rtol=1e-6, atol=0)
    assert large.loss == pytest.approx(small.loss, rel=1e-6)
    assert large.accuracy == small.accuracy
    # train() logs them at the training batch size, whatever it evaluates with.
    r = train(cfg(epochs=1, batch_size=32, eval_batch_size=256), splits=small_splits, progress=False)
    assert len(r.val_loss_per_batch) == 512 // 32


def test_per_sample_loss_matches_the_loss_and_refuses_what_is_not_a_mean_of_samples():
    from normlab.train.loop import evaluate, per_sample_loss

    torch.manual_seed(0)
    out, y = torch.randn(10, 4), torch.tensor([0, 1, 2, 3, -100, 1, 2, 3, 0, -100])
    for loss_fn in (nn.CrossEntropyLoss(), nn.CrossEntropyLoss(label_smoothing=0.1),
                    nn.CrossEntropyLoss(ignore_index=3), nn.NLLLoss()):
        target = y.clamp(min=0) if loss_fn.ignore_index != -100 else y
        inputs = out.log_softmax(1) if isinstance(loss_fn, nn.NLLLoss) else out
        losses, counted = per_sample_loss(loss_fn)(inputs, target)
        torch.testing.assert_close(losses.sum() / counted.sum(), loss_fn(inputs, target))
    for loss_fn in (nn.CrossEntropyLoss(weight=torch.ones(4)), nn.CrossEntropyLoss(reduction="sum"), nn.MSELoss(),
                    lambda o, t: o.sum()):
        assert per_sample_loss(loss_fn) is None
    with pytest.raises(ConfigError, match="per-sample form"):
        evaluate(nn.Linear(4, 4), [(out, y.clamp(min=0))], nn.MSELoss(), loss_batch_size=2)


def test_post_api_with_a_loss_without_per_sample_form_logs_the_same_batches(small_splits):
    from torch.utils.data import TensorDataset

    from normlab.models import create_model

    x, y = small_splits.test.tensors()
    validation_set = TensorDataset(x[:200], y[:200])
    logs = []
    for loss_function in (nn.CrossEntropyLoss(), lambda out, target: nn.functional.cross_entropy(out, target)):
        torch.manual_seed(0)
        model = ConvolutionalNeuralNet(create_model("lenet5", head="softmax"), device="cpu", progress=False)
        logs.append(model.train(loss_function, epochs=1, batch_size=64, training_set=small_splits.train.subset(256),
                                validation_set=validation_set))
    assert len(logs[0]["validation_loss_per_batch"]) == len(logs[1]["validation_loss_per_batch"]) == 4
    torch.testing.assert_close(torch.tensor(logs[0]["validation_loss_per_batch"]),
                               torch.tensor(logs[1]["validation_loss_per_batch"]), rtol=1e-6, atol=0)
