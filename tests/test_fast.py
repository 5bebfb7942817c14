"""normlab.fast: the CPU speed-ups, applied to a plain model, give its results and say what ran."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import assert_same_forward_and_grads
from normlab.errors import ConfigError
from normlab.fast import AvgPool2x2, FastConv2d, MaxPool2x2, accelerate, create_optimizer
from normlab.fast import kernels
from normlab.fast.eval_bn import LeNet5EvalBNAfterPool
from normlab.models import LeNet5, create_model

# The fast pooling sums the four values in another order than aten, and the C kernels sum in
# another order than oneDNN, so an accelerated model's outputs may differ from the plain one's by ulps.
ULP = dict(atol=1e-6, rtol=0)

needs_kernels = pytest.mark.skipif(kernels.load() is None, reason=f"C kernels not built here: {kernels.status()}")


def images(n=8, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, size, size, generator=g)


@pytest.fixture
def threads():
    """Set torch's thread count for one test (the kernels depend on it), restored after."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _with_statistics(model: nn.Module) -> nn.Module:
    """Give the batch norms non-trivial running statistics and affine parameters, so that reordering shows."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return model


# --------------------------------------------------------------------------------------------
# accelerate(): what it swaps in, and its record
# --------------------------------------------------------------------------------------------


def test_accelerate_swaps_in_place_and_keeps_parameters_hooks_and_keys():
    model = create_model("lenet5-bn", head="softmax")
    params, keys = list(model.parameters()), list(model.state_dict())
    seen = []
    model.act1.register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0].shape))
    record = accelerate(model)

    assert json.loads(json.dumps(record)) == record
    assert all(type(v) in (bool, str, int, list) for v in record.values())  # plain types: checkpoints load them
    assert record["accelerated"] is True and record["kernels"] == kernels.status()
    assert record["pool"] == ["pool1", "pool2"] and record["eval_bn_after_pool"] == ["batchnorm1", "batchnorm2"]
    assert record["threads"] == torch.get_num_threads() and record["torch"] == torch.__version__
    assert record["conv"] == (["conv1", "conv2"] if kernels.load() is not None else [])
    assert type(model) is LeNet5EvalBNAfterPool and isinstance(model, LeNet5)
    assert type(model.pool1) is AvgPool2x2 and isinstance(model.pool1, nn.AvgPool2d)
    assert all(a is b for a, b in zip(model.parameters(), params, strict=True))
    assert list(model.state_dict()) == keys
    model.eval()(images(2))
    assert seen == [(2, 6, 28, 28)]  # the hook on the nonlinearity still sees its whole input
    assert accelerate(model) == record  # idempotent
    assert copy.deepcopy(model).__class__ is LeNet5EvalBNAfterPool


def test_accelerate_disabled_changes_nothing_and_records_that():
    model = create_model("lenet5-bn")
    types = [type(m) for m in model.modules()]
    assert accelerate(model, enabled=False) == {"accelerated": False, "threads": torch.get_num_threads(),
                                                "torch": torch.__version__}
    assert [type(m) for m in model.modules()] == types


@pytest.mark.parametrize("spec, pools, eval_bn", [
    ("lenet5", ["pool1", "pool2"], []),
    ("lenet5-bn-all", ["pool1", "pool2"], ["batchnorm1", "batchnorm2"]),
    ("lenet5-bn:pool=max", ["pool1", "pool2"], []),  # max pooling does not commute with an affine map
    ("lenet5-bn-before", ["pool1", "pool2"], []),  # the activation sits between the norm and the pool
    ("lenet5-gn", ["pool1", "pool2"], []),  # group norm has no running statistics
    ("lenet5-noisy-bn", ["pool1", "pool2"], []),  # only exactly nn.BatchNorm2d
])
def test_the_record_names_what_applies(spec, pools, eval_bn):
    model = create_model(spec)
    record = accelerate(model)
    assert (record["pool"], record["eval_bn_after_pool"]) == (pools, eval_bn)
    assert type(model) is (LeNet5EvalBNAfterPool if eval_bn else LeNet5)
    pool_type = MaxPool2x2 if "max" in spec else AvgPool2x2
    assert type(model.pool1) is pool_type and type(model.pool2) is pool_type


def test_any_model_gets_the_layers_that_fit():
    model = nn.Sequential(nn.Conv2d(1, 6, 5), nn.AvgPool2d(2), nn.Conv2d(6, 16, 3), nn.MaxPool2d(3),
                          nn.AvgPool2d(2, stride=1), nn.MaxPool2d(2, ceil_mode=True))
    record = accelerate(model)
    assert record["pool"] == ["1"] and record["eval_bn_after_pool"] == []
    assert [type(m) for m in model] == [FastConv2d if kernels.load() is not None else nn.Conv2d, AvgPool2x2,
                                        nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, nn.MaxPool2d]


@needs_kernels
def test_the_record_says_when_and_why_the_kernels_do_not_run(threads):
    threads(3)
    record = accelerate(create_model("lenet5"))
    assert record["conv"] == [] and record["kernels"].endswith("; not used with 3 torch threads (at most 2)")
    threads(1)
    record = accelerate(create_model("lenet5").double())
    assert record["conv"] == [] and record["kernels"].endswith("; not used: the model is not on the CPU in float32")
    assert accelerate(create_model("lenet5"))["conv"] == ["conv1", "conv2"]


# --------------------------------------------------------------------------------------------
# The same numbers: accelerated against plain, and against the literal layer order
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["lenet5", "lenet5-bn", "lenet5-bn-all:activation=relu", "lenet5-bn:pool=max",
                                  "lenet5-bn-before", "lenet5-gn"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_an_accelerated_model_computes_what_the_plain_one_does(spec, mode, threads):
    threads(1)
    torch.manual_seed(3)
    plain = _with_statistics(create_model(spec, head="softmax"))
    fast = copy.deepcopy(plain)
    accelerate(fast)
    plain.train(mode == "train")
    fast.train(mode == "train")
    assert_same_forward_and_grads(fast, plain, images(16, seed=5), torch.arange(16) % 10,
                                  out_tol=dict(atol=1e-5, rtol=1e-5), grad_tol=dict(atol=1e-5, rtol=1e-4))
    for key, value in plain.state_dict().items():  # running statistics too
        torch.testing.assert_close(fast.state_dict()[key], value, atol=1e-5, rtol=1e-5, msg=key)


def _literal_twin(model):
    """A copy of the accelerated ``model`` forced down the literal layer order (a pool hook disables the reordering)."""
    twin = copy.deepcopy(model)
    twin.pool1.register_forward_hook(lambda *a: None)
    twin.pool2.register_forward_hook(lambda *a: None)
    return twin


@pytest.mark.parametrize("spec", ["lenet5", "lenet5-bn", "lenet5:activation=relu",
                                  "lenet5-bn:activation=relu", "lenet5:norm=group", "lenet5-bn:norm_position=before"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_eval_bn_after_the_pool_gives_the_literal_orders_results(spec, mode):
    torch.manual_seed(4)
    model = _with_statistics(create_model(spec, head="softmax"))
    accelerate(model)
    twin = _literal_twin(model)
    model.train(mode == "train")
    twin.train(mode == "train")
    x = images(16, seed=5)
    assert_same_forward_and_grads(model, twin, x, torch.arange(16) % 10, out_tol=ULP,
                                  grad_tol=dict(atol=1e-6, rtol=1e-5))
    for key, value in twin.state_dict().items():  # running statistics too
        torch.testing.assert_close(model.state_dict()[key], value, **ULP)
    with torch.no_grad():
        torch.testing.assert_close(model(x), twin(x), **ULP)


def _record_shapes(norm):
    """Record the shape of each input ``norm`` normalises, without a hook (a hook would keep the literal order)."""
    seen, forward = [], norm.forward
    norm.forward = lambda t: (seen.append(tuple(t.shape)), forward(t))[1]
    return seen


def test_eval_batch_norm_runs_after_the_pool_only_where_that_is_exact():
    model = create_model("lenet5-bn", head="softmax")
    seen = _record_shapes(model.batchnorm1)
    model.eval()
    model(images(4))
    assert seen[-1] == (4, 6, 28, 28)  # plain: the literal order
    accelerate(model)
    model.train()
    model(images(4))  # training-mode BN needs the full-size statistics
    assert seen[-1] == (4, 6, 28, 28)
    model.eval()
    model(images(4)).sum().backward()  # the post's mode bug: training in eval mode
    assert seen[-1] == (4, 6, 14, 14)
    model.batchnorm1.track_running_stats = False  # batch statistics even in eval: not affine
    model(images(4))
    assert seen[-1] == (4, 6, 28, 28)
    model.batchnorm1.track_running_stats = True
    handle = model.batchnorm1.register_forward_pre_hook(lambda *a: None)  # a hook sees the literal input
    model(images(4))
    assert seen[-1] == (4, 6, 28, 28)
    handle.remove()
    handle = nn.modules.module.register_module_forward_hook(lambda *a: None)  # so does a global one
    model(images(4))
    assert seen[-1] == (4, 6, 28, 28)
    handle.remove()
    model(images(4))
    assert seen[-1] == (4, 6, 14, 14)
    before = create_model("lenet5-bn:norm_position=before")
    accelerate(before)
    seen_before = _record_shapes(before.batchnorm1)
    before.eval()(images(4))
    assert seen_before == [(4, 6, 28, 28)]  # norm before the activation: nothing commutes


# --------------------------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [
    (64, 6, 28, 28), (5, 16, 10, 10), (1, 3, 2, 2),  # even: fast path
    (4, 6, 27, 27), (2, 3, 9, 10), (2, 3, 10, 9), (2, 1, 3, 3),  # odd: library fallback
    (6, 8, 8),  # unbatched (C, H, W)
])
def test_avg_pool_matches_nn_avgpool2d(shape):
    torch.manual_seed(0)
    x = torch.randn(shape)
    grad = torch.randn(nn.AvgPool2d(2)(x).shape)
    got_x = x.clone().requires_grad_(True)
    ref_x = x.clone().requires_grad_(True)
    got, ref = AvgPool2x2()(got_x), nn.AvgPool2d(2)(ref_x)
    torch.testing.assert_close(got, ref, **ULP)
    got.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(got_x.grad, ref_x.grad, **ULP)


def test_avg_pool_non_contiguous_and_double():
    x = torch.randn(4, 6, 12, 12).to(memory_format=torch.channels_last)
    torch.testing.assert_close(AvgPool2x2()(x), F.avg_pool2d(x, 2), **ULP)
    xt = torch.randn(4, 6, 12, 12).transpose(2, 3)
    torch.testing.assert_close(AvgPool2x2()(xt), F.avg_pool2d(xt, 2), **ULP)
    xd = torch.randn(2, 3, 6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(AvgPool2x2(), (xd,))
    assert AvgPool2x2()(xd).dtype == torch.float64


@pytest.mark.parametrize("shape", [(8, 6, 28, 28), (3, 16, 10, 10), (2, 3, 9, 9), (6, 8, 8)])
def test_max_pool_matches_nn_maxpool2d(shape):
    torch.manual_seed(0)
    # ReLU outputs have many tied zeros: the backward must route each gradient like aten.
    x = torch.relu(torch.randn(shape)).round()
    ref_mod = nn.MaxPool2d(2)
    with torch.no_grad():
        assert torch.equal(MaxPool2x2()(x), ref_mod(x))
    got_x = x.clone().requires_grad_(True)
    ref_x = x.clone().requires_grad_(True)
    got, ref = MaxPool2x2()(got_x), ref_mod(ref_x)
    assert torch.equal(got, ref)
    grad = torch.randn(ref.shape)
    got.backward(grad)
    ref.backward(grad)
    assert torch.equal(got_x.grad, ref_x.grad)


def test_max_pool_propagates_nan_like_aten():
    x = torch.randn(1, 1, 4, 4)
    x[0, 0, 1, 1] = float("nan")
    with torch.no_grad():
        torch.testing.assert_close(MaxPool2x2()(x), nn.MaxPool2d(2)(x), equal_nan=True)


# --------------------------------------------------------------------------------------------
# The optimizer
# --------------------------------------------------------------------------------------------


def test_adam_uses_the_fused_kernel_on_cpu_and_matches_the_for_loop():
    torch.manual_seed(0)
    a, b = nn.Linear(8, 4), nn.Linear(8, 4)
    b.load_state_dict(a.state_dict())
    fused = create_optimizer("adam", a.parameters(), lr=1e-2)
    plain = create_optimizer("adam", b.parameters(), lr=1e-2, fused_adam=False)
    assert fused.param_groups[0]["fused"] is True and plain.param_groups[0]["fused"] is None
    for _ in range(5):
        x = torch.randn(16, 8)
        for model, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)
    sgd = create_optimizer("sgd", nn.Linear(2, 2).parameters(), lr=0.1, momentum=0.9)
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.9
    with pytest.raises(ConfigError, match="unknown optimizer 'rmsprop'; valid optimizers: adam, sgd"):
        create_optimizer("rmsprop", nn.Linear(2, 2).parameters(), lr=0.1)


# --------------------------------------------------------------------------------------------
# Training: accelerate on (the default) and off
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["standard", "blog"])
def test_training_accelerated_and_plain_agree_and_record_what_ran(small_splits, protocol, threads):
    from normlab.train import TrainConfig, train

    threads(1)
    splits = copy.copy(small_splits)
    splits.train = small_splits.train.subset(512)
    config = TrainConfig(model="lenet5-bn", epochs=1, device="cpu", protocol=protocol)
    fast = train(config, splits=splits, progress=False)
    plain = train(config.replace(accelerate=False), splits=splits, progress=False)
    # Float rounding differs (other summation orders, fused Adam), and eight steps amplify it only a little.
    torch.testing.assert_close(torch.tensor(fast.train_loss_per_batch), torch.tensor(plain.train_loss_per_batch),
                               atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(torch.tensor(fast.val_loss_per_batch), torch.tensor(plain.val_loss_per_batch),
                               atol=1e-4, rtol=1e-4)
    assert abs(fast.val_accuracy[0] - plain.val_accuracy[0]) <= 2 / 512
    assert fast.environment == {**accelerate(create_model("lenet5-bn")), "fused_adam": True}
    assert plain.environment == {"accelerated": False, "threads": 1, "torch": torch.__version__, "fused_adam": False}
    assert fast.to_dict()["environment"] == fast.environment
    assert type(fast).from_dict(json.loads(json.dumps(fast.to_dict()))).environment == fast.environment


def test_a_resumed_run_records_and_uses_its_own_optimizer_setting(small_splits, tmp_path, threads):
    from normlab.train import TrainConfig, train

    threads(1)
    splits = copy.copy(small_splits)
    splits.train = small_splits.train.subset(256)
    config = TrainConfig(model="lenet5", epochs=1, device="cpu")
    path = tmp_path / "run.pt"
    assert train(config, splits=splits, checkpoint_path=path, progress=False).environment["fused_adam"] is True
    # The checkpoint's optimizer was fused; the resumed run asks for plain PyTorch, and gets it.
    resumed = train(config.replace(epochs=2, accelerate=False), splits=splits, checkpoint_path=path, resume=True,
                    progress=False)
    assert len(resumed.val_accuracy) == 2
    assert resumed.environment == {"accelerated": False, "threads": 1, "torch": torch.__version__,
                                   "fused_adam": False}
