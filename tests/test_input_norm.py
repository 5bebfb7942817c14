"""Input normalisation (issue 15B): raw pixels, min-max to [0, 1] and z-scores, fitted on the training
split by normlab.normalize's scalers; the config setting and its old spelling ``standardize``; the
``input-norm`` preset and its report section."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import env_dataset_dir
from normlab.data import DataSplits, ImageDataset, channel_stats, get_transform, load_dataset, load_splits
from normlab.data.datasets import INPUT_NORMS, fit_input_norm
from normlab.errors import ConfigError
from normlab.normalize import MinMaxScaler, StandardScaler
from normlab.train import TrainConfig
from normlab.train.config import INPUT_NORM_NAMES

DATASETS = [pytest.param(name, marks=pytest.mark.skipif(env_dataset_dir(name) is None,
                                                         reason=f"NORMLAB_DATA provides no {name} folder"))
            for name in ("mnist", "fashion-mnist")]


def _toy_splits(transform: str = "none", lo: int = 20, hi: int = 200) -> DataSplits:
    """Training pixels spanning [lo, hi]; test pixels reaching beyond them on both sides."""
    gen = torch.Generator().manual_seed(0)
    train = torch.randint(lo, hi + 1, (40, 28, 28), generator=gen, dtype=torch.uint8)
    train[0, 0, 0], train[1, 0, 0] = lo, hi
    test = torch.randint(0, 256, (10, 28, 28), generator=gen, dtype=torch.uint8)
    labels = torch.arange(40) % 10
    return DataSplits(ImageDataset(train, labels, "train", transform=transform, name="toy"), None,
                      ImageDataset(test, labels[:10], "test", transform=transform, name="toy"))


def _inputs(ds: ImageDataset) -> torch.Tensor:
    return ds.tensors()[0]


# --------------------------------------------------------------------------------------------
# The scaling: fitted on the training split, applied to every split
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transform", ["none", "pad32", "resize32"])
def test_minmax_maps_the_training_pixels_range_to_unit_as_the_scaler_does(transform):
    splits = _toy_splits(transform).scaled("minmax")
    assert splits.input_norm == "minmax"
    unit = get_transform(transform)
    scaler = MinMaxScaler(axis=(0, 2, 3)).fit(splits.train.images[:, None].double())
    assert (scaler.data_min_[0], scaler.data_max_[0]) == (20, 200)
    for ds in (splits.train, splits.test):
        # The scaler's affine map of the pixels, after the transform (linear, so the order does not matter).
        expected = (unit(ds.images).double() * 255 * scaler.scale_[0] + scaler.min_[0])
        torch.testing.assert_close(_inputs(ds).double(), expected, rtol=0, atol=2e-6)
    if transform == "none":
        x = _inputs(splits.train)
        assert float(x.min()) == 0.0 and float(x.max()) == pytest.approx(1.0, abs=1e-6)
        # Test pixels outside the training range land outside [0, 1]: the test split was not looked at.
        t = _inputs(splits.test)
        assert float(t.min()) < -0.1 and float(t.max()) > 1.2
        np.testing.assert_allclose(t.double().numpy(), scaler.transform(splits.test.images[:, None].double().numpy()),
                                   rtol=0, atol=2e-6)


def test_zscore_uses_the_standard_scaler_on_the_transformed_training_images():
    splits = _toy_splits("resize32").scaled("zscore")
    whole = StandardScaler(axis=(0, 2, 3)).fit(get_transform("resize32")(splits.train.images))
    assert splits.train.mean == pytest.approx(float(whole.mean_[0]), rel=1e-12)
    assert splits.train.std == pytest.approx(float(whole.scale_[0]), rel=1e-12)
    assert (splits.test.mean, splits.test.std) == (splits.train.mean, splits.train.std)
    x = _inputs(splits.train).double()
    assert float(x.mean()) == pytest.approx(0.0, abs=1e-6) and float(x.std(correction=0)) == pytest.approx(1, rel=1e-6)


def test_raw_gives_the_pixel_values():
    splits = _toy_splits("none").scaled("raw")
    for ds in (splits.train, splits.test):
        x = _inputs(ds)
        # 1/255 has no exact float, so a pixel comes back to within one float32 step at 255.
        torch.testing.assert_close(x[:, 0], ds.images.float(), rtol=0, atol=2e-5)
    assert (splits.train.mean, splits.train.std) == (0.0, 1 / 255)


def test_fitting_is_streamed_exactly_reproducible_and_from_the_unscaled_images():
    toy = _toy_splits("resize32")
    for name in INPUT_NORMS:
        a = fit_input_norm(toy.train, name)
        assert fit_input_norm(toy.train, name, chunk=7) == pytest.approx(a, rel=1e-13)
        assert fit_input_norm(toy.train, name) == a  # the same chunks give the same bits
        # Re-scaling splits already scaled otherwise fits on the transform's own output.
        for other in INPUT_NORMS:
            assert (toy.scaled(other).scaled(name).train.mean, toy.scaled(other).scaled(name).train.std) == a
    scaled = toy.scaled("zscore")
    assert scaled.scaled("zscore") is scaled


def test_bad_settings_and_data_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown input_norm 'unit'; valid: raw, minmax, zscore"):
        _toy_splits().scaled("unit")
    with pytest.raises(ConfigError, match="every training pixel is 7"):
        _toy_splits(lo=7, hi=7).scaled("minmax")
    with pytest.raises(ConfigError, match="zero variance"):
        _toy_splits(lo=7, hi=7).scaled("zscore")
    with pytest.raises(ConfigError, match="standardize=True is input_norm='zscore'.*input_norm='raw'"):
        load_splits("mnist", input_norm="raw", standardize=True, data_dir="/nonexistent")
    with pytest.raises(ConfigError, match="unknown input_norm"):
        load_splits("mnist", input_norm="z", data_dir="/nonexistent")  # before any file is looked for


@pytest.mark.parametrize("dataset", DATASETS)
@pytest.mark.parametrize("transform", ["resize32", "pad32", "none"])
def test_minmax_is_exactly_x_over_255_on_mnist_and_fashion(dataset, transform):
    """The training pixels span 0-255 (so do those of the first image alone, which every subset holds)."""
    data_dir = env_dataset_dir(dataset)
    unit = load_splits(dataset, transform=transform, subset=1, data_dir=data_dir, verify=False)
    assert (int(unit.train.images.min()), int(unit.train.images.max())) == (0, 255)
    splits = load_splits(dataset, transform=transform, subset=2000, data_dir=data_dir, verify=False)
    assert splits.input_norm == "minmax" and (splits.train.mean, splits.train.std) == (None, None)
    x = _inputs(splits.train)
    assert torch.equal(x, get_transform(transform)(splits.train.images))
    if transform == "resize32":
        # Resizing blends neighbours: most images lose their pure 255, so the transformed images'
        # maximum (what a scaler fitted on them would take) is not 1 on a small subset.
        assert float(x[:10].amax()) < 1.0


@pytest.mark.parametrize("transform", ["resize32", "pad32", "none"])
def test_zscore_is_the_old_standardize_bit_for_bit(data_dir, transform):
    new = load_splits("mnist", transform=transform, subset=3000, val_split=1000, input_norm="zscore",
                      data_dir=data_dir, verify=False)
    alias = load_splits("mnist", transform=transform, subset=3000, val_split=1000, standardize=True,
                        data_dir=data_dir, verify=False)
    plain = load_splits("mnist", transform=transform, subset=3000, val_split=1000, data_dir=data_dir, verify=False)
    (mean,), (std,) = channel_stats(plain.train)  # how standardize=True scaled before input_norm existed
    assert new.train.mean == pytest.approx(mean, rel=1e-14) and new.train.std == pytest.approx(std, rel=1e-14)
    for a, b, c in zip(new, alias, plain):
        old = c.tensors()[0].sub_(mean).div_(std)
        assert torch.equal(_inputs(a), old) and torch.equal(_inputs(b), old)


def test_load_dataset_scales_a_single_split_with_the_training_statistics(data_dir):
    test = load_dataset("mnist", "test", transform="none", input_norm="zscore", data_dir=data_dir, verify=False)
    train = load_dataset("mnist", "train", transform="none", input_norm="zscore", data_dir=data_dir, verify=False)
    assert (test.mean, test.std) == (train.mean, train.std) and test.mean == pytest.approx(0.1307, abs=1e-4)


# --------------------------------------------------------------------------------------------
# The config: one setting, with standardize as its old spelling
# --------------------------------------------------------------------------------------------

#: config_hash() of these configs as normlab computed it before input_norm existed (results
#: databases find their runs by it).
OLD_HASHES = [({}, "702193aa798dcb20"), ({"standardize": True}, "22b648a1ae39e9bf"),
              ({"standardize": True, "transform": "pad32", "subset": 1000}, "0d609b733939f109"),
              ({"model": "lenet5", "dataset": "fashion-mnist"}, "34d328fa5a980ac6")]


def test_the_names_are_the_data_layers():
    assert INPUT_NORM_NAMES == INPUT_NORMS == ("raw", "minmax", "zscore")


@pytest.mark.parametrize("fields, old", OLD_HASHES)
def test_existing_configs_keep_their_hashes(fields, old):
    config = TrainConfig(**fields)
    assert config.config_hash() == old
    legacy = {k: v for k, v in config.to_dict().items() if k != "input_norm"}
    assert TrainConfig.from_dict(legacy) == config  # a stored config without the field reads back the same
    if config.standardize:
        assert config.input_norm == "zscore"
        assert TrainConfig(**{**fields, "standardize": False, "input_norm": "zscore"}).config_hash() == old


def test_standardize_and_input_norm_stay_one_setting():
    assert TrainConfig().input_norm == "minmax" and TrainConfig(input_norm="zscore").standardize is True
    raw = TrainConfig(input_norm="raw")
    assert raw.config_hash() not in {old for _, old in OLD_HASHES} and raw.standardize is False
    z = TrainConfig(standardize=True)
    assert z.replace(input_norm="minmax").to_dict() == TrainConfig().to_dict()
    assert z.replace(input_norm="raw").to_dict() == raw.to_dict()
    assert z.replace(standardize=False).input_norm == "minmax" and raw.replace(standardize=False) == raw
    assert raw.replace(standardize=True) == z
    with pytest.raises(ConfigError, match="standardize=True is input_norm='zscore'.*input_norm='raw'"):
        TrainConfig(standardize=True, input_norm="raw")
    with pytest.raises(ConfigError, match="input_norm='unit' is invalid; valid: raw, minmax, zscore"):
        TrainConfig(input_norm="unit")


def test_the_flag_comes_from_the_field():
    from normlab.cli import build_parser
    from normlab.cli._common import config_from_args

    parser = build_parser()
    assert config_from_args(parser.parse_args(["train", "--input-norm", "raw"])).input_norm == "raw"
    assert config_from_args(parser.parse_args(["train", "--standardize"])).input_norm == "zscore"
    assert "--input-norm" in parser._subparsers._group_actions[0].choices["train"].format_help()


# --------------------------------------------------------------------------------------------
# Training follows the config's setting, whatever splits it is handed
# --------------------------------------------------------------------------------------------


def test_train_scales_shared_splits_as_its_config_says(small_splits, tmp_path):
    from normlab.predict import load_model
    from normlab.train import train

    config = TrainConfig(model="lenet5", input_norm="raw", subset=1024, epochs=1, device="cpu")
    shared = train(config, splits=small_splits, progress=False, checkpoint_path=tmp_path / "raw.pt")  # minmax splits
    # predict scales its images with the checkpoint's (mean, std): the same map as training's
    assert load_model(tmp_path / "raw.pt")[2] == {"mean": 0.0, "std": 1 / 255}
    own = train(config, splits=small_splits.scaled("raw"), progress=False)
    assert shared.val_accuracy == own.val_accuracy and shared.train_loss == own.train_loss
    minmax = train(config.replace(input_norm="minmax"), splits=small_splits, progress=False)
    assert minmax.train_loss != own.train_loss  # the setting reached the network


# --------------------------------------------------------------------------------------------
# The preset
# --------------------------------------------------------------------------------------------


def test_the_preset_crosses_settings_models_and_datasets():
    from normlab.experiments.presets import PRESETS, build_preset

    for quick in (False, True):
        spec = build_preset("input-norm", base=TrainConfig(), quick=quick)
        grid = spec.configs()
        cells = {(c.dataset, c.model, c.input_norm) for v, s, c in grid}
        assert cells == {(d, m, n) for d in ("mnist", "fashion-mnist") for m in ("lenet5", "lenet5-bn")
                         for n in INPUT_NORMS}
        assert all(c.standardize == (c.input_norm == "zscore") for _, _, c in grid)
        # the post's optimizer and protocol; paired seeds
        assert {(c.optimizer, c.lr, c.batch_size, c.protocol) for _, _, c in grid} == {("adam", 1e-3, 64, "standard")}
        assert len(grid) == 12 * len(spec.seeds)
    assert (spec.base.epochs, spec.base.subset, spec.seeds) == (2, 2000, [0, 1])
    full = build_preset("input-norm", base=TrainConfig())
    assert (full.base.epochs, full.base.subset, full.seeds) == (10, None, [0, 1, 2, 3, 4])
    assert "Adam at 1e-3" in PRESETS["input-norm"].description


@pytest.mark.parametrize("flag, field", [("--input-norm", "input_norm"), ("--standardize", "standardize"),
                                         ("--dataset", "dataset")])
def test_a_typed_setting_the_grid_varies_is_an_error(flag, field):
    from normlab.experiments.presets import build_preset

    base = TrainConfig(**{"input_norm": "raw", "standardize": False} if field != "dataset" else {})
    if field == "standardize":
        base = TrainConfig(standardize=True)
    with pytest.raises(ConfigError, match=f"{flag} conflicts with preset 'input-norm'"):
        build_preset("input-norm", base=base, explicit={field})


# --------------------------------------------------------------------------------------------
# The report section, on runs whose finals are set by hand
# --------------------------------------------------------------------------------------------

SEED_NOISE = (0.0, 0.0012, -0.0009, 0.0005)


def _runs(finals: dict[tuple[str, str], float], dataset: str = "mnist", start: int = 0, **config) -> list:
    from conftest import run_record

    runs, i = [], start
    for k, ((model, norm), final) in enumerate(finals.items()):
        for seed, noise in enumerate(SEED_NOISE):
            i += 1
            acc = final + noise + 0.0004 * ((k * 5 + seed * 3) % 4 - 1.5)
            cfg = TrainConfig(model=model, dataset=dataset, input_norm=norm, seed=seed, epochs=2, **config).to_dict()
            runs.append(run_record(id=i, variant=f"{model} {dataset} {norm}", seed=seed, config=cfg,
                                   config_hash=f"{i:x}", val_accuracy=[acc - 0.01, acc], val_loss=[0.3, 0.2],
                                   train_loss=[0.4, 0.3], epoch_seconds=[1.0, 1.0]))
    return runs


def _finals(runs, model, dataset, norm) -> np.ndarray:
    return np.array([r.val_accuracy[-1] for r in sorted(runs, key=lambda r: r.seed)
                     if r.variant == f"{model} {dataset} {norm}"])


def _holm(p: list[float]) -> list[float]:
    order = np.argsort(p)
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


def _section(runs):
    from normlab.report import build_report

    return build_report(runs, generated_at=0).section("input-norm")


def _plain_sensitive(bn_spread: float) -> dict[tuple[str, str], float]:
    return {("lenet5", "raw"): 0.93, ("lenet5", "minmax"): 0.975, ("lenet5", "zscore"): 0.978,
            ("lenet5-bn", "raw"): 0.982 - bn_spread, ("lenet5-bn", "minmax"): 0.982, ("lenet5-bn", "zscore"): 0.982}


def test_the_section_computes_both_readings_with_holm_over_its_family():
    from scipy import stats as sps

    runs = _runs(_plain_sensitive(0.0)) + _runs(_plain_sensitive(0.08), "fashion-mnist", start=100)
    sec = _section(runs)
    effects = [r for r in sec.readings if r.question == "input-norm"]
    claims = [r for r in sec.readings if r.question == "input-norm-bn"]
    assert [(r.numbers["dataset"], r.numbers["model"]) for r in effects] == [
        ("mnist", "lenet5"), ("mnist", "lenet5-bn"), ("fashion-mnist", "lenet5"), ("fashion-mnist", "lenet5-bn")]
    # The family: three pairs of settings per model and one spread test per dataset, 14 tests.
    pair_p, spread_p, expected = [], [], {}
    for dataset in ("mnist", "fashion-mnist"):
        for model in ("lenet5", "lenet5-bn"):
            for a, b in (("raw", "minmax"), ("raw", "zscore"), ("minmax", "zscore")):
                d = _finals(runs, model, dataset, b) - _finals(runs, model, dataset, a)
                expected[(dataset, model, a, b)] = d.mean()
                pair_p.append(sps.ttest_rel(_finals(runs, model, dataset, b), _finals(runs, model, dataset, a)).pvalue)
        per = {m: np.ptp([_finals(runs, m, dataset, n) for n in INPUT_NORMS], axis=0) for m in ("lenet5", "lenet5-bn")}
        expected[dataset] = per
        spread_p.append(sps.ttest_rel(per["lenet5"], per["lenet5-bn"]).pvalue)
    holm = _holm(pair_p + spread_p)
    pairs = [p for r in effects for p in r.numbers["pairs"]]
    assert [p.numbers["holm_p"] for p in pairs] + [c.numbers["holm_p"] for c in claims] == pytest.approx(holm)
    for p in pairs:
        x = p.numbers
        assert p.effect == pytest.approx(expected[(x["dataset"], x["model"], x["setting_a"], x["setting_b"])])
        assert x["tests"] == 14
    for r in effects:
        means = [_finals(runs, r.numbers["model"], r.numbers["dataset"], n).mean() for n in INPUT_NORMS]
        assert r.effect == pytest.approx(max(means) - min(means))
    # The plain network depends on its inputs on both datasets; batch norm only on fashion-mnist.
    assert [r.verdict for r in effects] == ["significant difference", "no significant difference",
                                            "significant difference", "significant difference"]
    mnist, fashion = claims
    assert mnist.verdict == "agree" and fashion.verdict == "disagree"
    for c in claims:
        per = expected[c.numbers["dataset"]]
        assert c.effect == pytest.approx((per["lenet5"] - per["lenet5-bn"]).mean())
        assert c.numbers["spread_plain"] == pytest.approx(per["lenet5"].mean())
        assert c.numbers["spread_bn"] == pytest.approx(per["lenet5-bn"].mean())
    text = sec.paragraphs[-1].text
    assert "On mnist, lenet5 ends at" in text and "batch norm made the input normalisation matter less" in text
    assert "the input normalisation mattered more with batch norm" in text
    assert sec.summary.startswith("Input normalisation with and without batch norm: on mnist,")
    assert sec.tables[0].column("best − worst (pp)") == [f"{r.effect * 100:.2f}" for r in effects]


def test_too_few_seeds_and_missing_networks_are_not_tested():
    runs = [r for r in _runs(_plain_sensitive(0.002)) if r.seed < 2]
    sec = _section(runs)
    assert {r.verdict for r in sec.readings} == {"not tested"}
    assert "not tested with 2 seeds" in sec.paragraphs[-1].text
    plain_only = _section([r for r in _runs(_plain_sensitive(0.002)) if r.config["model"] == "lenet5"])
    claim = [r for r in plain_only.readings if r.question == "input-norm-bn"][0]
    assert (claim.verdict, claim.numbers["why"]) == ("not tested", "models")


def test_the_section_needs_two_settings_and_reads_old_configs():
    from normlab.report.sections.input_norm import INPUT_SETTINGS, input_setting

    assert INPUT_SETTINGS == INPUT_NORM_NAMES
    assert input_setting({"standardize": True}) == "zscore" and input_setting({}) == "minmax"
    one = _runs({("lenet5", "minmax"): 0.97, ("lenet5-bn", "minmax"): 0.98})
    from normlab.report import build_report

    assert "input-norm" not in [s.anchor for s in build_report(one, generated_at=0).sections]
    # variants differing in another setting too are not read as an input-normalisation grid
    mixed = _runs({("lenet5", "raw"): 0.93}) + _runs({("lenet5", "minmax"): 0.97}, start=50, lr=0.01)
    assert "input-norm" not in [s.anchor for s in build_report(mixed, generated_at=0).sections]


def test_the_quick_preset_runs_on_both_datasets_end_to_end(data_dir, fashion_dir, tmp_path, capsys):
    """study --preset input-norm --quick (shrunk further by typed flags to fit CI): every cell trains with its own
    scaling, although a worker shares one load of a dataset between settings."""
    from normlab.cli import main
    from normlab.experiments.store import ResultsDB

    out = tmp_path / "inorm"
    # No --data-dir: it names one dataset's folder; NORMLAB_DATA provides both (the fixtures skip otherwise).
    args = ["study", "--preset", "input-norm", "--quick", "--subset", "256", "--epochs", "1", "--quiet",
            "--out", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    with ResultsDB(out / "normlab.db", readonly=True) as db:
        runs = db.list_runs("input-norm-quick", full=True)
    assert {r.status for r in runs} == {"done"} and len(runs) == 24
    cells = {(r.config["dataset"], r.config["model"], r.config["input_norm"]) for r in runs}
    assert len(cells) == 12
    loss = {(r.config["dataset"], r.config["model"], r.config["input_norm"], r.seed): r.train_loss[0] for r in runs}
    for d in ("mnist", "fashion-mnist"):
        for m in ("lenet5", "lenet5-bn"):
            assert len({loss[(d, m, n, 0)] for n in INPUT_NORMS}) == 3  # three settings, three different runs
    page = (out / "report.html").read_text()
    assert '<section id="input-norm">' in page and "Input normalisation with and without batch norm" in page
