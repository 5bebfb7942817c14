"""Tests for normlab.models: the norm factory, the configurable LeNet-5 and the registry."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from normlab.errors import ConfigError
from normlab.models import (
    GroupNorm,
    GroupNorm1,
    LeNet5,
    LeNetConfig,
    apply_blog_init,
    apply_init,
    create_model,
    create_norm_layer,
    default_num_groups,
    format_variant,
    get_norm_layer,
    list_models,
    list_norm_layers,
    model_config,
    model_description,
    model_options,
    parse_variant,
    register_model,
    register_norm_layer,
)
from normlab.models import norm as norm_module
from normlab.models import spec as spec_module
from normlab.post import LeNet5 as PostLeNet5
from normlab.post import LeNet5_BatchNorm as PostLeNet5BatchNorm
from normlab.post import init_weights as post_init_weights


# The blog post's two networks, verbatim, from the module the report and benchmarks share too.
POST = {"lenet5": PostLeNet5, "lenet5-bn": PostLeNet5BatchNorm}

# The plain model computes exactly what the post's code does: same layers, same order.
EXACT = dict(atol=0, rtol=0)


def images(n=8, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, size, size, generator=g)


# --------------------------------------------------------------------------------------------
# Fidelity to the post
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["lenet5", "lenet5-bn"])
def test_post_state_dict_loads_strictly_and_outputs_match(name):
    torch.manual_seed(1)
    post = POST[name]()
    post.apply(post_init_weights)
    ours = create_model(name, head="softmax")
    ours.load_state_dict(post.state_dict(), strict=True)
    x = images(16)

    post.train()
    ours.train()
    torch.testing.assert_close(ours(x), post(x), **EXACT)
    # Training-mode batch norm updated the running statistics identically.
    for key, value in post.state_dict().items():
        torch.testing.assert_close(ours.state_dict()[key], value, **EXACT)

    post.eval()
    ours.eval()
    torch.testing.assert_close(ours(x), post(x), **EXACT)
    # And the other way round: our state dict loads into the post's class.
    POST[name]().load_state_dict(ours.state_dict(), strict=True)


@pytest.mark.parametrize("name", ["lenet5", "lenet5-bn"])
def test_gradients_match_post(name):
    torch.manual_seed(2)
    post = POST[name]()
    ours = create_model(name, head="softmax")
    ours.load_state_dict(post.state_dict(), strict=True)
    x, y = images(16, seed=3), torch.arange(16) % 10
    F.cross_entropy(post(x), y).backward()
    F.cross_entropy(ours(x), y).backward()
    ours_params = dict(ours.named_parameters())
    for key, param in post.named_parameters():
        torch.testing.assert_close(ours_params[key].grad, param.grad, **EXACT)


@pytest.mark.parametrize("name", ["lenet5", "lenet5-bn"])
def test_same_seed_gives_the_posts_initial_weights(name):
    torch.manual_seed(7)
    post = POST[name]()
    torch.manual_seed(7)
    ours = create_model(name)
    for key, value in post.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key

    torch.manual_seed(8)
    post.apply(post_init_weights)
    torch.manual_seed(8)
    apply_blog_init(ours)
    for key, value in post.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key


def test_blog_init_values():
    torch.manual_seed(0)
    model = apply_blog_init(create_model("lenet5-bn-all"))
    for module in (model.conv1, model.conv2, model.linear1, model.linear2, model.linear3):
        assert torch.all(module.bias == 0.01)
        fan_in = module.weight[0].numel()
        fan_out = module.weight.shape[0] * module.weight[0, 0].numel()
        bound = (6.0 / (fan_in + fan_out)) ** 0.5
        assert module.weight.abs().max() <= bound
        assert module.weight.abs().max() > 0.8 * bound  # xavier-uniform, not a small default
    for bn in model.norm_layers().values():
        assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


def test_plain_model_has_exactly_the_posts_state_dict_keys():
    assert list(create_model("lenet5").state_dict()) == list(PostLeNet5().state_dict())
    assert set(create_model("lenet5-bn").state_dict()) == set(PostLeNet5BatchNorm().state_dict())


@pytest.mark.parametrize("pool,cls", [("avg", nn.AvgPool2d), ("max", nn.MaxPool2d)])
def test_the_model_is_made_of_plain_pytorch_layers_in_the_drawn_order(pool, cls):
    model = create_model(f"lenet5-bn:pool={pool}")
    assert [(name, type(m)) for name, m in model.named_children()] == [
        ("conv1", nn.Conv2d), ("act1", nn.Tanh), ("batchnorm1", nn.BatchNorm2d), ("pool1", cls),
        ("conv2", nn.Conv2d), ("act2", nn.Tanh), ("batchnorm2", nn.BatchNorm2d), ("pool2", cls),
        ("linear1", nn.Linear), ("act3", nn.Tanh), ("linear2", nn.Linear), ("act4", nn.Tanh),
        ("linear3", nn.Linear)]
    assert model.pool1.kernel_size == model.pool1.stride == 2


# --------------------------------------------------------------------------------------------
# Sigmoid and d2l's BNLeNet (Dive into Deep Learning, "Batch Normalization")
# --------------------------------------------------------------------------------------------


def d2l_lenet(bn: bool) -> nn.Sequential:
    """d2l's BNLeNet (bn=True) and its LeNet without BN, written out with sizes instead of Lazy layers."""
    def norm(cls, width):
        return [cls(width)] if bn else []

    return nn.Sequential(
        nn.Conv2d(1, 6, 5), *norm(nn.BatchNorm2d, 6), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, 5), *norm(nn.BatchNorm2d, 16), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
        nn.Linear(256, 120), *norm(nn.BatchNorm1d, 120), nn.Sigmoid(),
        nn.Linear(120, 84), *norm(nn.BatchNorm1d, 84), nn.Sigmoid(), nn.Linear(84, 10))


@pytest.mark.parametrize("name,bn", [("lenet5-d2l", False), ("lenet5-d2l-bn", True)])
def test_the_d2l_models_compute_what_d2ls_sequential_network_does(name, bn):
    torch.manual_seed(1)
    ours = create_model(name, input_size=28)
    theirs = d2l_lenet(bn)
    # Both register their layers in forward order, so the state dicts line up entry by entry.
    theirs.load_state_dict(dict(zip(theirs.state_dict(), ours.state_dict().values())))
    x = images(16, 28, seed=2)
    for training in (True, False):
        ours.train(training)
        theirs.train(training)
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-6, rtol=1e-6)
    for key, value in zip(ours.state_dict(), theirs.state_dict().values()):  # running statistics too
        torch.testing.assert_close(ours.state_dict()[key], value, atol=0, rtol=0, msg=key)


def test_sigmoid_changes_the_activations_only_not_the_state_dict():
    for spec in ("lenet5", "lenet5-bn", "lenet5-bn-before-all"):
        sigmoid = create_model(f"{spec}:activation=sigmoid")
        assert [k for k in sigmoid.state_dict()] == [k for k in create_model(spec).state_dict()]
        assert all(type(act) is nn.Sigmoid for act in sigmoid.nonlinearities().values())
    assert "activation='sigmoid'" in repr(create_model("lenet5-d2l"))


def test_d2l_registry_entries():
    assert model_options("lenet5-d2l") == model_options("lenet5:activation=sigmoid")
    assert model_options("lenet5-d2l-bn") == model_options(
        "lenet5:activation=sigmoid,norm=batch,norm_position=before,norm_in=all")
    assert "d2l" in model_description("lenet5-d2l-bn") and "BNLeNet" in model_description("lenet5-d2l-bn")


def test_d2l_init_is_xavier_weights_with_pytorchs_default_biases():
    torch.manual_seed(5)
    default = create_model("lenet5-d2l-bn")
    torch.manual_seed(5)
    model = create_model("lenet5-d2l-bn")
    torch.manual_seed(6)
    assert apply_init(model, "d2l") is model
    torch.manual_seed(6)
    layers = ("conv1", "conv2", "linear1", "linear2", "linear3")
    for name in layers:  # d2l.init_cnn: xavier_uniform_ on each Conv2d and Linear weight, in module order
        nn.init.xavier_uniform_(getattr(default, name).weight)
    for key, value in default.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    torch.manual_seed(5)
    untouched = create_model("lenet5-d2l-bn")
    for name in layers:
        assert torch.equal(getattr(model, name).bias, getattr(untouched, name).bias)  # not 0.01
    torch.manual_seed(7)
    blog = apply_init(create_model("lenet5-d2l-bn"), "blog")
    assert all(torch.all(getattr(blog, name).bias == 0.01) for name in layers)
    with pytest.raises(ConfigError, match="init 'he' is not valid; choose one of: blog, d2l"):
        apply_init(model, "he")


# --------------------------------------------------------------------------------------------
# Every option combination
# --------------------------------------------------------------------------------------------

COMBINATIONS = list(
    itertools.product(
        ["none", "batch", "group", "layer", "instance"],
        ["after", "before"],
        ["conv", "all"],
        ["tanh", "relu", "sigmoid"],
        ["avg", "max"],
        ["logits", "softmax"],
    )
)


@pytest.mark.parametrize("input_size", [32, 28])
@pytest.mark.parametrize("norm,position,norm_in,activation,pool,head", COMBINATIONS)
def test_every_combination_builds_runs_and_trains(
    norm, position, norm_in, activation, pool, head, input_size
):
    options = dict(norm=norm, norm_position=position, norm_in=norm_in, activation=activation,
                   pool=pool, head=head, input_size=input_size)
    if norm == "instance" and norm_in == "all":
        with pytest.raises(ConfigError, match="norm_in"):
            LeNet5(**options)
        return
    torch.manual_seed(0)
    model = LeNet5(**options)
    assert model.linear1.in_features == {32: 400, 28: 256}[input_size]
    x = images(4, input_size)
    out = model(x)
    assert out.shape == (4, 10)
    assert torch.isfinite(out).all()
    if head == "logits":
        F.cross_entropy(out, torch.arange(4)).backward()
    else:
        F.nll_loss(out.log(), torch.arange(4)).backward()
    for key, param in model.named_parameters():
        assert param.grad is not None, key
    expected_norms = 0 if norm == "none" else (4 if norm_in == "all" else 2)
    assert len(model.norm_layers()) == expected_norms


def test_config_flatten_size_and_other_sizes():
    assert LeNetConfig(input_size=32).flatten_size == 5 * 5 * 16
    assert LeNetConfig(input_size=28).flatten_size == 4 * 4 * 16
    # An odd feature map (30 -> 26 -> 13 -> 9 -> 4) exercises the pool's fallback path.
    model = LeNet5(input_size=30, in_channels=3, num_classes=7)
    assert model(torch.randn(2, 3, 30, 30)).shape == (2, 7)


def test_heads():
    torch.manual_seed(0)
    x = images(8)
    soft = create_model("lenet5", head="softmax").eval()
    probs = soft(x)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(8))
    assert (probs >= 0).all()

    logits_model = create_model("lenet5").eval()
    logits_model.load_state_dict(soft.state_dict())
    logits = logits_model(x)
    assert (logits < 0).any()
    assert not torch.allclose(logits.sum(dim=1), torch.ones(8), atol=1e-3)
    torch.testing.assert_close(logits.softmax(dim=1), probs)
    assert create_model("lenet5-bn").config.head == "logits"  # the registry leaves head alone


def test_input_shapes_accepted_and_rejected():
    model = create_model("lenet5").eval()
    x = images(3)
    ref = model(x)
    torch.testing.assert_close(model(x.view(3, 32, 32)), ref)
    torch.testing.assert_close(model(x.view(3, 1024)), ref)
    # The post's view(-1, 1, 32, 32) would turn 64 28x28 images into 49 wrong ones.
    with pytest.raises(ConfigError, match="input_size=32"):
        model(torch.randn(64, 1, 28, 28))
    with pytest.raises(ConfigError, match=r"\(N, 1, 32, 32\)"):
        model(torch.randn(3, 3, 32, 32))


def test_deterministic_for_a_seed():
    outs = []
    for _ in range(2):
        torch.manual_seed(5)
        model = create_model("lenet5-bn-all:activation=relu,pool=max")
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        x, y = images(16, seed=1), torch.arange(16) % 10
        for _ in range(3):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        outs.append(model(x))
    assert torch.equal(outs[0], outs[1])


# --------------------------------------------------------------------------------------------
# Norm position, placement and names
# --------------------------------------------------------------------------------------------


def _call_order(model):
    order = []
    for name, module in model.named_children():
        if name.startswith(("act", "norm", "batchnorm")):
            module.register_forward_hook(lambda m, i, o, name=name: order.append(name))
    model(images(4))
    return order


def test_norm_position_after_and_before():
    assert _call_order(create_model("lenet5-bn")) == [
        "act1", "batchnorm1", "act2", "batchnorm2", "act3", "act4"]
    assert _call_order(create_model("lenet5-bn-before")) == [
        "batchnorm1", "act1", "batchnorm2", "act2", "act3", "act4"]
    assert _call_order(create_model("lenet5-gn:norm_position=before,norm_in=all")) == [
        "norm1", "act1", "norm2", "act2", "norm3", "act3", "norm4", "act4"]


@pytest.mark.parametrize("position", ["after", "before"])
def test_norm_position_matches_a_manual_forward(position):
    torch.manual_seed(0)
    model = create_model("lenet5-bn-all", norm_position=position).train()
    x = images(8)

    def manual(order):
        # A fresh copy: its batch norms have not yet seen x, like the model's.
        ref = LeNet5(model.config)
        ref.load_state_dict(model.state_dict())

        def block(h, norm):
            return norm(torch.tanh(h)) if order == "after" else torch.tanh(norm(h))

        h = F.avg_pool2d(block(ref.conv1(x), ref.batchnorm1), 2)
        h = F.avg_pool2d(block(ref.conv2(h), ref.batchnorm2), 2).flatten(1)
        h = block(ref.linear1(h), ref.batchnorm3)
        h = block(ref.linear2(h), ref.batchnorm4)
        return ref.linear3(h)

    expected, other = manual(position), manual("before" if position == "after" else "after")
    out = model(x)
    torch.testing.assert_close(out, expected, **EXACT)
    assert (out - other).abs().max() > 1e-2


def test_nonlinearity_inputs_are_observable_with_hooks():
    model = create_model("lenet5-bn-before").eval()
    acts = model.nonlinearities()
    assert list(acts) == ["act1", "act2", "act3", "act4"]
    assert all(isinstance(a, nn.Tanh) for a in acts.values())
    relu_acts = create_model("lenet5:activation=relu").nonlinearities().values()
    assert all(isinstance(a, nn.ReLU) for a in relu_acts)
    seen = {}
    for name, module in acts.items():
        module.register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, i[0]))
    x = images(4)
    model(x)
    # With BN before the activation, act1's input is batchnorm1's output.
    torch.testing.assert_close(seen["act1"], model.batchnorm1(model.conv1(x)))
    assert seen["act3"].shape == (4, 120) and seen["act4"].shape == (4, 84)
    assert not any(k.startswith("act") for k in model.state_dict())


def test_norm_in_all_adds_fc_norms():
    conv_only = create_model("lenet5-bn")
    assert set(conv_only.norm_layers()) == {"batchnorm1", "batchnorm2"}
    everywhere = create_model("lenet5-bn-all")
    layers = everywhere.norm_layers()
    assert list(layers) == ["batchnorm1", "batchnorm2", "batchnorm3", "batchnorm4"]
    assert isinstance(layers["batchnorm3"], nn.BatchNorm1d) and layers["batchnorm3"].num_features == 120
    assert isinstance(layers["batchnorm4"], nn.BatchNorm1d) and layers["batchnorm4"].num_features == 84
    ln = create_model("lenet5-ln:norm_in=all").norm_layers()
    assert isinstance(ln["norm1"], GroupNorm1) and ln["norm1"].num_channels == 6
    assert isinstance(ln["norm3"], nn.LayerNorm) and ln["norm3"].normalized_shape == (120,)
    gn = create_model("lenet5-gn:norm_in=all").norm_layers()
    assert [m.num_groups for m in gn.values()] == [2, 8, 8, 4]


@pytest.mark.parametrize("spec,names", [
    ("lenet5", []),
    ("lenet5-bn", ["batchnorm1", "batchnorm2"]),
    ("lenet5-gn", ["norm1", "norm2"]),
    ("lenet5-ln", ["norm1", "norm2"]),
    ("lenet5-in", ["norm1", "norm2"]),
])
def test_norm_attribute_names(spec, names):
    model = create_model(spec)
    assert list(model.norm_layers()) == names
    children = {n for n, _ in model.named_children()}
    assert not any(n.startswith(("norm", "batchnorm")) for n in children - set(names))


def test_instance_norm_model_uses_instance_norm2d():
    model = create_model("lenet5-in")
    assert isinstance(model.norm1, nn.InstanceNorm2d) and model.norm1.affine
    assert model.norm1.num_features == 6 and model.norm2.num_features == 16


# --------------------------------------------------------------------------------------------
# Invalid options
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("option,value,valid", [
    ("norm", "bogus", "none, batch, group, layer, instance"),
    ("norm_position", "middle", "after, before"),
    ("norm_in", "fc", "conv, all"),
    ("activation", "gelu", "tanh, relu"),
    ("pool", "min", "avg, max"),
    ("head", "probs", "logits, softmax"),
    ("input_size", 8, ">= 16"),
    ("in_channels", 0, ">= 1"),
    ("num_classes", True, ">= 1"),
])
def test_invalid_option_values(option, value, valid):
    with pytest.raises(ConfigError) as info:
        LeNet5(**{option: value})
    assert option in str(info.value) and valid in str(info.value)
    with pytest.raises(ConfigError) as info:
        create_model("lenet5", **{option: value})
    assert valid in str(info.value)


def test_unknown_option_is_config_error_not_type_error():
    with pytest.raises(ConfigError, match="valid options: norm, norm_position"):
        create_model("lenet5", normalisation="batch")
    with pytest.raises(ConfigError, match="bogus"):
        LeNet5(bogus=1)


def test_option_strings_are_case_insensitive():
    assert LeNet5(norm="Batch", activation=" ReLU ").config.norm == "batch"


# --------------------------------------------------------------------------------------------
# Norm factory
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name,kind,cls", [
    ("batch", "2d", nn.BatchNorm2d),
    ("batch", "1d", nn.BatchNorm1d),
    ("group", "2d", nn.GroupNorm),
    ("group", "1d", nn.GroupNorm),
    ("layer", "2d", nn.GroupNorm),
    ("layer", "1d", nn.LayerNorm),
    ("instance", "2d", nn.InstanceNorm2d),
])
@pytest.mark.parametrize("channels", [6, 16, 120, 84])
def test_factory_layers_take_channels_first(name, kind, cls, channels):
    for layer in (create_norm_layer(name, channels, kind=kind), get_norm_layer(name)(channels, kind=kind)):
        assert isinstance(layer, cls)
        assert sum(p.numel() for p in layer.parameters()) == 2 * channels  # per-channel affine
        x = torch.randn(4, channels, 5, 5) if kind == "2d" else torch.randn(4, channels)
        assert layer(x).shape == x.shape
    if kind == "2d":
        assert get_norm_layer(name)(channels).weight.shape == (channels,)  # kind defaults to 2d


def test_factory_passes_kwargs():
    bn = create_norm_layer("batch", 6, momentum=0.5, eps=1e-3)
    assert bn.momentum == 0.5 and bn.eps == 1e-3
    assert create_norm_layer("group", 16, num_groups=4).num_groups == 4
    assert not create_norm_layer("instance", 6, affine=False).affine


def test_group_norm_default_groups():
    assert [default_num_groups(c) for c in (6, 16, 120, 84)] == [2, 8, 8, 4]
    assert [default_num_groups(c) for c in (1, 2, 3, 5, 12)] == [1, 1, 1, 1, 4]
    for c in (6, 16, 120, 84, 7):
        layer = GroupNorm(c)
        assert c % layer.num_groups == 0 and layer.num_channels == c
    with pytest.raises(ConfigError, match="num_groups=4"):
        GroupNorm(6, num_groups=4)


def test_layer_norm_for_conv_normalises_each_sample_over_chw():
    x = torch.randn(3, 6, 5, 5) * 4 + 2
    out = create_norm_layer("layer", 6)(x)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)
    torch.testing.assert_close(out, (x - mean) / torch.sqrt(var + 1e-5), atol=1e-5, rtol=1e-5)


def test_none_and_instance_fc():
    assert get_norm_layer("none") is None
    assert get_norm_layer(None) is None
    assert isinstance(create_norm_layer("none", 6), nn.Identity)
    with pytest.raises(ConfigError, match="fully-connected"):
        create_norm_layer("instance", 120, kind="1d")


def test_factory_rejects_bad_input():
    with pytest.raises(ConfigError) as info:
        get_norm_layer("bogus")
    assert not isinstance(info.value, KeyError)
    for name in ("none", "batch", "group", "layer", "instance"):
        assert name in str(info.value)
    with pytest.raises(ConfigError, match="2d, 1d"):
        create_norm_layer("batch", 6, kind="3d")
    with pytest.raises(ConfigError, match="num_channels"):
        create_norm_layer("batch", 0)
    with pytest.raises(ConfigError, match="name or a callable"):
        get_norm_layer(3)


def test_register_norm_layer(monkeypatch):
    monkeypatch.setattr(norm_module, "_NORM_LAYERS", dict(norm_module._NORM_LAYERS))
    monkeypatch.setattr(spec_module, "_NORMS", dict(spec_module._NORMS))

    def scaled_batch(num_channels, *, kind="2d", **kwargs):
        return create_norm_layer("batch", num_channels, kind=kind, momentum=0.01, **kwargs)

    register_norm_layer("Slow-Batch", scaled_batch)
    assert "slow-batch" in list_norm_layers()
    with pytest.raises(ConfigError, match="already registered"):
        register_norm_layer("slow-batch", scaled_batch)
    with pytest.raises(ConfigError, match="already registered"):
        register_norm_layer("noisy-batch", scaled_batch)  # a built-in like the others
    model = LeNet5(norm="slow-batch", norm_in="all")
    assert list(model.norm_layers()) == ["norm1", "norm2", "norm3", "norm4"]
    assert model.norm1.momentum == 0.01
    assert create_model("lenet5:norm=slow-batch").norm2.num_features == 16
    assert model_options("lenet5:norm=slow-batch,norm_in=all")["norm"] == "slow-batch"
    # A norm without a fully-connected form fails at config time, naming both options.
    register_norm_layer("conv-only", lambda c, *, kind="2d", **kw: norm_module._instance_norm(c, kind=kind))
    with pytest.raises(ConfigError, match="norm='conv-only' cannot be combined with norm_in='all'"):
        LeNetConfig(norm="conv-only", norm_in="all")


# --------------------------------------------------------------------------------------------
# Registry and specs
# --------------------------------------------------------------------------------------------


def test_builtin_models():
    assert list_models()[:7] == [
        "lenet5", "lenet5-bn", "lenet5-bn-before", "lenet5-bn-all", "lenet5-gn", "lenet5-ln", "lenet5-in"]
    assert model_options("lenet5")["norm"] == "none"
    assert model_options("lenet5-bn") == model_options("lenet5:norm=batch")
    assert model_options("lenet5-bn-before")["norm_position"] == "before"
    assert model_options("lenet5-bn-all")["norm_in"] == "all"
    assert [model_options(n)["norm"] for n in ("lenet5-gn", "lenet5-ln", "lenet5-in")] == [
        "group", "layer", "instance"]
    assert "LeNet5_BatchNorm" in model_description("lenet5-bn")
    for name in list_models():
        assert model_options(name)["head"] == "logits"
        assert isinstance(create_model(name), LeNet5)


@pytest.mark.parametrize("spec,expected", [
    ("lenet5", ("lenet5", {})),
    ("lenet5:", ("lenet5", {})),
    ("lenet5:norm=group", ("lenet5", {"norm": "group"})),
    ("lenet5-bn:norm_position=before,norm_in=all",
     ("lenet5-bn", {"norm_position": "before", "norm_in": "all"})),
    (" LeNet5-BN : norm = Group , input_size = 28 ,", ("lenet5-bn", {"norm": "group", "input_size": 28})),
    ("lenet5:activation=relu,pool=max", ("lenet5", {"activation": "relu", "pool": "max"})),
    ("anything:num_classes=3", ("anything", {"num_classes": 3})),
])
def test_parse_variant(spec, expected):
    assert parse_variant(spec) == expected


@pytest.mark.parametrize("spec,message", [
    ("lenet5:norm", "not of the form key=value; valid keys: norm, norm_position"),
    ("lenet5:=batch", "not of the form key=value"),
    ("lenet5:bogus=1", "unknown option 'bogus'; valid keys: norm, norm_position, norm_in"),
    ("lenet5:norm=", "has no value"),
    ("lenet5:norm=batch,norm=group", "given twice"),
    ("lenet5:input_size=big", "expects an integer"),
    ("lenet5:norm=bogus", "choose one of: none, batch, group, layer, instance"),
    ("lenet5:pool=min", "choose one of: avg, max"),
    (":norm=batch", "no model name"),
    ("", "no model name"),
])
def test_parse_variant_errors(spec, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_variant(spec)
    with pytest.raises(ConfigError):
        create_model(spec)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ConfigError) as info:
        create_model("lenet6:norm=batch")
    message = str(info.value)
    assert "lenet6" in message and "did you mean 'lenet5'" in message
    for name in list_models():
        assert name in message
    with pytest.raises(ConfigError):
        model_options("resnet")
    with pytest.raises(ConfigError, match="must be a string"):
        parse_variant(None)


def test_spec_and_keyword_precedence():
    # entry < spec < keywords
    assert model_options("lenet5-bn:norm=group")["norm"] == "group"
    assert model_options("lenet5-bn:norm=group", norm="layer")["norm"] == "layer"
    model = create_model("lenet5-bn:norm_position=before,norm_in=all", head="softmax")
    assert (model.config.norm, model.config.norm_position, model.config.norm_in, model.config.head) == (
        "batch", "before", "all", "softmax")
    with pytest.raises(ConfigError, match="cannot be combined"):
        create_model("lenet5-in:norm_in=all")


def test_model_options_round_trip():
    options = model_options("lenet5-gn:activation=relu,input_size=28")
    assert list(options) == LeNetConfig.option_names()
    assert LeNetConfig(**options) == model_config("lenet5-gn:activation=relu,input_size=28")
    spec = format_variant("lenet5", {"norm": "layer", "input_size": 28})
    assert spec == "lenet5:norm=layer,input_size=28"
    assert parse_variant(spec) == ("lenet5", {"norm": "layer", "input_size": 28})
    assert format_variant("lenet5") == "lenet5"


def test_register_model(monkeypatch):
    monkeypatch.setattr(spec_module, "_MODELS", dict(spec_module._MODELS))
    monkeypatch.setattr(spec_module, "_DESCRIPTIONS", dict(spec_module._DESCRIPTIONS))
    register_model("lenet5-gn-relu", norm="group", activation="relu", description="GN + ReLU")
    assert "lenet5-gn-relu" in list_models()
    model = create_model("lenet5-gn-relu:pool=max")
    assert (model.config.norm, model.config.activation, model.config.pool) == ("group", "relu", "max")
    with pytest.raises(ConfigError, match="already registered"):
        register_model("lenet5-gn-relu", norm="batch")
    register_model("lenet5-gn-relu", norm="batch", overwrite=True)
    assert model_options("lenet5-gn-relu")["norm"] == "batch"
    with pytest.raises(ConfigError, match="may not contain"):
        register_model("lenet5:x", norm="batch")
    with pytest.raises(ConfigError, match="choose one of"):
        register_model("broken", norm="bogus")
    with pytest.raises(ConfigError, match="unknown LeNet option"):
        register_model("broken", depth=3)
    assert "broken" not in list_models()


# --------------------------------------------------------------------------------------------
# Naming and checking models without torch
# --------------------------------------------------------------------------------------------


_NO_TORCH = """
import sys
import normlab.models as m
print(m.model_options("lenet5-bn:norm_in=all")["norm"], m.parse_variant("lenet5:pool=max")[1], len(m.list_models()),
      m.list_norm_layers()[-1], m.LeNetConfig.option_types()["input_size"].__name__)
try:
    m.model_options("lenet5-in:norm_in=all")
except Exception as exc:
    print(type(exc).__name__)
print("torch" in sys.modules, "normlab.models.lenet" in sys.modules)
"""


def test_specs_names_and_options_need_no_torch():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", _NO_TORCH], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["batch {'pool': 'max'} 11 noisy-batch int", "ConfigError", "False False"]


def test_the_spec_knows_every_norm_the_factory_builds():
    assert list(norm_module._NORM_LAYERS) == list_norm_layers()
    for name in list_norm_layers():
        try:
            create_norm_layer(name, 4, kind="1d")
            builds_fc = True
        except ConfigError:
            builds_fc = False
        assert builds_fc == (not spec_module._NORMS[name]), name
        if name != "none":
            assert LeNetConfig(norm=name).norm == name
    with pytest.raises(ConfigError, match="norm='instance' cannot be combined with norm_in='all': norm 'instance' is "
                                          "undefined for fully-connected features"):
        LeNetConfig(norm="instance", norm_in="all")
