"""normlab predict: MNIST-style conversion of image files, and the command."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from normlab.cli import main
from normlab import predict
from normlab.errors import CheckpointError
from normlab.predict import (ImageReadError, find_checkpoint, load_image, mnistify, predict_files,
                             read_digit)


def test_mnistify_fits_20x20_and_centres_by_mass():
    canvas = np.zeros((200, 300), dtype=np.uint8)
    canvas[20:120, 30:80] = 255  # a tall bar far from the centre
    out = mnistify(Image.fromarray(canvas))
    assert out.shape == (28, 28) and out.dtype == np.uint8
    rows, cols = np.nonzero(out > 30)
    assert rows.max() - rows.min() + 1 <= 21 and rows.max() - rows.min() + 1 >= 19  # longest side ~20
    mass = out.astype(float)
    cy = (np.arange(28)[:, None] * mass).sum() / mass.sum()
    cx = (np.arange(28)[None, :] * mass).sum() / mass.sum()
    assert abs(cy - 14) < 1.0 and abs(cx - 14) < 1.0


def test_invert_handles_dark_ink_on_light_paper():
    canvas = np.full((64, 64), 255, dtype=np.uint8)
    canvas[10:50, 28:36] = 0
    plain = mnistify(Image.fromarray(canvas), invert=True)
    assert plain.max() > 200 and plain[0, 0] == 0
    # Without --invert the page itself is the "digit": nothing is centred on a black field.
    assert mnistify(Image.fromarray(canvas)).mean() > plain.mean()


def test_unreadable_file_is_named(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    with pytest.raises(ImageReadError, match="notes.png"):
        load_image(bad)
    with pytest.raises(ImageReadError, match="missing.png"):
        load_image(tmp_path / "missing.png")


def test_directory_is_named_as_such(tmp_path):
    with pytest.raises(ImageReadError, match=f"{tmp_path}: is a directory"):
        load_image(tmp_path)


def _tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(28 * 28, 10))


def test_decompression_bomb_fails_alone(tmp_path, monkeypatch):
    # Pillow's DecompressionBombError is not an OSError: it must still become a per-file error.
    # A tiny image under a lowered limit stands in for a huge one.
    bomb = tmp_path / "bomb.png"
    Image.fromarray(np.zeros((20, 20), dtype=np.uint8)).save(bomb)  # 400 pixels
    good = tmp_path / "good.png"
    canvas = np.zeros((8, 8), dtype=np.uint8)
    canvas[2:6, 3:5] = 255
    Image.fromarray(canvas).save(good)  # 64 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow refuses above twice this
    with pytest.raises(ImageReadError, match="bomb.png: not a readable image"):
        load_image(bomb)
    predictions = predict_files(_tiny_model(), [bomb, good, tmp_path], transform="none")
    assert [p.path for p in predictions] == [str(bomb), str(good), str(tmp_path)]
    assert "bomb.png: not a readable image" in predictions[0].error
    assert "decompression bomb" in predictions[0].error.lower()
    assert predictions[1].error is None and predictions[1].label in range(10)
    assert abs(sum(predictions[1].probabilities) - 1) < 1e-5
    assert predictions[2].label is None and "is a directory" in predictions[2].error


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("train")
    code = main(["train", "--model", "lenet5-bn", "--epochs", "2", "--subset", "4096", "--device", "cpu",
                 "--quiet", "--out", str(out), "--data-dir", str(data_dir)])
    assert code == 0
    return out / "checkpoint.pt"


def test_predict_command_on_real_digits(checkpoint, data_dir, tmp_path, capsys):
    from normlab.data import load_dataset

    test = load_dataset("mnist", "test", data_dir=data_dir)
    paths, labels = [], []
    for i in range(12):
        img = test.images[i].numpy()
        big = Image.fromarray(255 - img).resize((112, 112), Image.BILINEAR)  # a scan: dark ink, larger
        path = tmp_path / f"digit{i}.{'jpg' if i % 2 else 'png'}"
        big.convert("RGB").save(path)
        paths.append(str(path))
        labels.append(int(test.labels[i]))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    code = main(["predict", "--checkpoint", str(checkpoint), "--invert", *paths[:6], str(broken), str(folder),
                 *paths[6:]])
    captured = capsys.readouterr()
    assert code == 1  # two files failed ...
    assert "broken.png" in captured.err
    assert f"normlab: error: {folder}: is a directory" in captured.err
    assert "Traceback" not in captured.err
    lines = [l for l in captured.out.splitlines() if l.startswith(str(tmp_path))]
    assert len(lines) == 12  # ... and every other file was still predicted
    predicted = [int(l.split(": ")[1].split()[0]) for l in lines]
    probs = [[float(p.split(":")[1]) for p in l.split("(")[1].rstrip(")").split()] for l in lines]
    assert all(abs(sum(p) - 1) < 1e-2 for p in probs)
    correct = sum(p == t for p, t in zip(predicted, labels))
    assert correct >= 9, (predicted, labels)


def test_predict_rejects_a_bad_checkpoint(tmp_path, capsys):
    bad = tmp_path / "c.pt"
    bad.write_bytes(b"junk")
    assert main(["predict", "--checkpoint", str(bad), "x.png"]) == 2
    assert "c.pt" in capsys.readouterr().err


# --- image formats -------------------------------------------------------------------------------

def _digit(h: int = 64, w: int = 48) -> np.ndarray:
    """A "7" with grey, antialiased-looking edges: light ink (up to 200) on black, asymmetric."""
    img = np.zeros((h, w), dtype=np.uint8)
    img[10:16, 8:40] = 200  # top bar
    img[16:56, 30:36] = 150  # stem
    img[16:56, 29] = img[16:56, 36] = 60
    return img


def test_16_bit_greyscale_is_scaled_not_clipped(tmp_path):
    light = _digit()
    wide = Image.fromarray(light.astype(np.uint16) * 257)  # the same picture in 16 bits
    assert wide.mode == "I;16"
    wide.save(tmp_path / "d16.png")
    assert Image.open(tmp_path / "d16.png").mode.startswith("I")
    Image.fromarray(light).save(tmp_path / "d8.png")
    np.testing.assert_array_equal(load_image(tmp_path / "d16.png"), load_image(tmp_path / "d8.png"))
    # A 16-bit scan of dark ink on white paper, read with --invert: white must stay white.
    Image.fromarray((255 - light).astype(np.uint16) * 257).save(tmp_path / "scan16.png")
    np.testing.assert_array_equal(load_image(tmp_path / "scan16.png", invert=True), load_image(tmp_path / "d8.png"))


def test_32_bit_integer_greyscale_holding_16_or_8_bit_levels(tmp_path):
    light = _digit().astype(np.int32)
    Image.fromarray(light * 257, "I").save(tmp_path / "i16.tif")
    Image.fromarray(light, "I").save(tmp_path / "i8.tif")
    Image.fromarray(_digit()).save(tmp_path / "d8.png")
    np.testing.assert_array_equal(load_image(tmp_path / "i16.tif"), load_image(tmp_path / "d8.png"))
    np.testing.assert_array_equal(load_image(tmp_path / "i8.tif"), load_image(tmp_path / "d8.png"))


@pytest.mark.parametrize("colour", [0, 255, 90])
def test_digit_drawn_only_in_the_alpha_channel(tmp_path, colour):
    # The colour is the same everywhere: only the alpha channel holds the drawing.
    ink = _digit()
    rgba = np.zeros(ink.shape + (4,), dtype=np.uint8)
    rgba[..., :3] = colour
    rgba[..., 3] = ink
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    expected = mnistify(Image.fromarray(ink))
    assert expected.max() > 100
    for invert in (False, True):  # a viewer shows the strokes dark or light: either way they are the ink
        digit = read_digit(tmp_path / "a.png", invert=invert)
        np.testing.assert_array_equal(digit.array, expected)
        assert digit.notes[0].startswith("alpha channel used as ink") and digit.warning is None
    assert "--invert does not apply" in read_digit(tmp_path / "a.png", invert=True).notes[0]
    # LA and palette images with transparency are read the same way.
    Image.fromarray(rgba, "RGBA").convert("LA").save(tmp_path / "la.png")
    np.testing.assert_array_equal(load_image(tmp_path / "la.png"), expected)


def test_transparent_image_with_a_coloured_drawing_is_composited_onto_the_paper_invert_names(tmp_path):
    ink = _digit() > 0
    rgba = np.zeros(ink.shape + (4,), dtype=np.uint8)  # hidden pixels are black
    shade = np.linspace(0, 60, ink.shape[1]).astype(np.uint8)[None, :].repeat(ink.shape[0], 0)
    rgba[..., 0] = rgba[..., 1] = rgba[..., 2] = np.where(ink, shade, 0)  # dark ink whose shade varies
    rgba[..., 3] = np.where(ink, 255, 0)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "pen.png")
    on_white = np.where(ink, shade, 255).astype(np.uint8)
    digit = read_digit(tmp_path / "pen.png", invert=True)
    np.testing.assert_array_equal(digit.array, mnistify(Image.fromarray(on_white), invert=True))
    assert digit.notes == ["transparent areas composited onto white"]
    assert read_digit(tmp_path / "pen.png").notes == ["transparent areas composited onto black"]
    # Declared but unused transparency changes nothing.
    opaque = rgba.copy()
    opaque[..., 3] = 255
    Image.fromarray(opaque, "RGBA").save(tmp_path / "opaque.png")
    assert read_digit(tmp_path / "opaque.png").notes == []


def test_exif_orientation_is_applied(tmp_path):
    upright = np.zeros((80, 60), dtype=np.uint8)
    upright[8:16, 6:54] = 255  # a "7": bar at the top, stem on the right
    upright[16:72, 44:52] = 255
    Image.fromarray(upright).save(tmp_path / "upright.png")
    # Orientation 6: the stored pixels are to be turned 90 degrees clockwise for display.
    stored = Image.fromarray(np.rot90(upright, 1).copy())
    exif = stored.getexif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    want = load_image(tmp_path / "upright.png").astype(float)
    got = load_image(tmp_path / "phone.jpg").astype(float)
    unturned = mnistify(Image.open(tmp_path / "phone.jpg")).astype(float)
    assert np.abs(got - want).mean() < 5 < np.abs(unturned - want).mean()


# --- blank images and broken checkpoints -----------------------------------------------------

def test_blank_and_near_constant_images_get_a_warning(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(tmp_path / "white.png")
    Image.fromarray((128 + rng.integers(-3, 4, (40, 40))).astype(np.uint8)).save(tmp_path / "grain.png")
    Image.fromarray(np.zeros((40, 40, 4), np.uint8), "RGBA").save(tmp_path / "clear.png")
    for name in ("white.png", "grain.png", "clear.png"):
        for invert in (False, True):
            warning = read_digit(tmp_path / name, invert=invert).warning
            assert warning and f"{name}: the image is nearly blank" in warning, (name, invert)
    faint = np.full((40, 40), 100, np.uint8)
    faint[8:32, 18:22] = 100 + predict.BLANK_RANGE  # a faint but visible stroke
    Image.fromarray(faint).save(tmp_path / "faint.png")
    assert read_digit(tmp_path / "faint.png").warning is None


def test_nan_probabilities_give_no_label():
    model = _tiny_model()
    with torch.no_grad():
        model[1].weight[0, 0] = float("nan")
    canvas = np.zeros((28, 28), np.uint8)
    canvas[5:20, 12:16] = 255
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "d.png")
        Image.fromarray(canvas).save(path)
        (p,) = predict_files(model, [path], transform="none")
    assert p.label is None and p.error is None
    assert "probabilities are NaN or infinite" in p.warning


def test_predict_command_warns_and_fails_on_blank_image_and_broken_checkpoint(checkpoint, tmp_path, capsys):
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(tmp_path / "white.png")
    assert main(["predict", "--checkpoint", str(checkpoint), "--invert", str(tmp_path / "white.png")]) == 1
    out, err = capsys.readouterr()
    assert f"normlab: warning: {tmp_path / 'white.png'}: the image is nearly blank" in err
    assert out.startswith(f"{tmp_path / 'white.png'}: ")  # the prediction is still shown

    payload = torch.load(checkpoint, weights_only=True)
    first = next(iter(payload["model"]))
    payload["model"][first].fill_(float("nan"))
    broken = tmp_path / "broken.pt"
    torch.save(payload, broken)
    digit = np.zeros((64, 48), np.uint8)
    digit[10:54, 20:28] = 255
    Image.fromarray(digit).save(tmp_path / "one.png")
    assert main(["predict", "--checkpoint", str(broken), str(tmp_path / "one.png")]) == 1
    out, err = capsys.readouterr()
    assert "probabilities are NaN or infinite" in err and "Traceback" not in err
    assert out.startswith(f"{tmp_path / 'one.png'}: ?  (0:nan")


# --- decompression bombs ----------------------------------------------------------------------

def _rgba_png(width: int, height: int, pixels: bytes | None = None) -> bytes:
    """An RGBA PNG's bytes; without ``pixels`` (zlib-compressed rows) it only declares its size."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
    return (b"\x89PNG\r\n\x1a\n" + header + (chunk(b"IDAT", pixels) if pixels is not None else b"")
            + chunk(b"IEND", b""))


def test_image_over_the_pixel_limit_is_refused_before_decoding(tmp_path, monkeypatch):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_rgba_png(13000, 13000))  # under Pillow's own error threshold: it would decode it
    with pytest.raises(ImageReadError) as info:
        load_image(bomb)
    assert str(info.value) == (f"{bomb}: 13000x13000 is 169,000,000 pixels, more than the "
                               f"{predict.MAX_PIXELS:,} normlab decodes (a possible decompression bomb); "
                               "scale the image down")
    Image.fromarray(_digit()).save(tmp_path / "small.png")  # 3,072 pixels
    monkeypatch.setattr(predict, "MAX_PIXELS", 3000)
    with pytest.raises(ImageReadError, match="48x64 is 3,072 pixels, more than the 3,000"):
        load_image(tmp_path / "small.png")


@pytest.mark.slow
def test_the_657_kb_rgba_bomb_stays_far_under_1_gb(checkpoint, tmp_path):
    # The file: 13000x13000 RGBA, all transparent, 657 KB; Pillow decoded it into 2 GB.
    comp = zlib.compressobj(9)
    row = bytes(1 + 4 * 13000)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_rgba_png(13000, 13000, b"".join([comp.compress(row) for _ in range(13000)] + [comp.flush()])))
    assert bomb.stat().st_size < 700_000
    # Linux counts a forked child's copy of its parent in the child's peak RSS, even across exec,
    # so the command runs under a small Python that reports its child's peak.
    measure = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", measure, sys.executable, "-m", "normlab", "predict",
                           "--checkpoint", str(checkpoint), str(bomb)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1 and "13000x13000 is 169,000,000 pixels" in proc.stderr, proc.stderr
    assert "DecompressionBombWarning" not in proc.stderr
    peak = int(proc.stdout.split()[-1]) * 1024  # Linux reports kB
    # Python and torch take about 250 MB before any image is read; the old decode took 2 GB.
    assert peak < 500e6, f"peak RSS {peak / 1e6:.0f} MB"


# --- --checkpoint DIR ---------------------------------------------------------------------------

def test_find_checkpoint_in_the_folders_train_and_compare_write(tmp_path):
    train_out = tmp_path / "train"
    (train_out / "checkpoint.pt").parent.mkdir()
    (train_out / "checkpoint.pt").write_bytes(b"x")
    (train_out / ".checkpoint.pt.abc.tmp").write_bytes(b"half")  # an interrupted write is no candidate
    assert find_checkpoint(train_out) == train_out / "checkpoint.pt"
    assert find_checkpoint(train_out / "checkpoint.pt") == train_out / "checkpoint.pt"

    compare_out = tmp_path / "compare"
    (compare_out / "checkpoints").mkdir(parents=True)
    for name in ("lenet5", "lenet5-bn"):
        (compare_out / "checkpoints" / f"{name}.pt").write_bytes(b"x")
    with pytest.raises(CheckpointError) as info:
        find_checkpoint(compare_out)
    assert str(info.value) == (f"{compare_out} holds 2 checkpoints: checkpoints/lenet5-bn.pt, checkpoints/lenet5.pt; "
                               "choose one with --model NAME (a model, file or folder name) or pass the file")
    assert find_checkpoint(compare_out, model="lenet5-bn") == compare_out / "checkpoints" / "lenet5-bn.pt"
    assert find_checkpoint(compare_out / "checkpoints", model="lenet5") == compare_out / "checkpoints" / "lenet5.pt"
    with pytest.raises(CheckpointError, match="--model resnet matches 0 of them"):
        find_checkpoint(compare_out, model="resnet")

    # Checkpoints grouped by run under checkpoints/: the folder name selects too.
    keyed = tmp_path / "keyed"
    for run, name in (("a1b2", "lenet5"), ("c3d4", "lenet5-bn")):
        (keyed / "checkpoints" / run).mkdir(parents=True)
        (keyed / "checkpoints" / run / f"{name}.pt").write_bytes(b"x")
    assert find_checkpoint(keyed, model="lenet5-bn") == keyed / "checkpoints" / "c3d4" / "lenet5-bn.pt"
    assert find_checkpoint(keyed, model="a1b2") == keyed / "checkpoints" / "a1b2" / "lenet5.pt"

    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=r"no checkpoint \(\*\.pt\) in .*empty"):
        find_checkpoint(tmp_path / "empty")
    with pytest.raises(CheckpointError, match="checkpoint .*nowhere does not exist"):
        find_checkpoint(tmp_path / "nowhere")


def test_predict_command_takes_the_folder(checkpoint, tmp_path, capsys):
    import shutil

    digit = np.zeros((64, 48), np.uint8)
    digit[10:54, 20:28] = 255
    image = tmp_path / "one.png"
    Image.fromarray(digit).save(image)
    assert main(["predict", "--checkpoint", str(checkpoint.parent), str(image)]) == 0  # train's OUT
    assert capsys.readouterr().out.startswith(f"{image}: ")

    compare_out = tmp_path / "compare"
    (compare_out / "checkpoints").mkdir(parents=True)
    for name in ("lenet5", "lenet5-bn"):
        shutil.copy(checkpoint, compare_out / "checkpoints" / f"{name}.pt")
    assert main(["predict", "--checkpoint", str(compare_out), str(image)]) == 2
    assert ("holds 2 checkpoints: checkpoints/lenet5-bn.pt (lenet5-bn, seed 0), checkpoints/lenet5.pt (lenet5-bn, "
            "seed 0); choose one with --model") in capsys.readouterr().err
    assert main(["predict", "--checkpoint", str(compare_out), "--model", "lenet5-bn", str(image)]) == 0
    assert capsys.readouterr().out.startswith(f"{image}: ")
    # Checkpoints named by run identity, not by model: --model matches the model they were trained as.
    keyed = tmp_path / "keyed" / "checkpoints"
    keyed.mkdir(parents=True)
    shutil.copy(checkpoint, keyed / "compare-3f2a9c.pt")
    (keyed / "notes.pt").write_text("not a checkpoint")
    assert main(["predict", "--checkpoint", str(keyed.parent), "--model", "lenet5-bn", str(image)]) == 0
    assert capsys.readouterr().out.startswith(f"{image}: ")


def test_fashion_mnist_images_are_fitted_to_fill_the_frame_and_named():
    """Fashion-MNIST's articles fill their 28x28 frame; fitting them into MNIST's 20x20 box would
    show the model a shrunken image."""
    from normlab.predict import fit_digit, fit_object

    rng = np.random.default_rng(0)
    article = np.zeros((28, 28), dtype=np.uint8)
    article[2:26, 6:22] = rng.integers(120, 255, size=(24, 16), dtype=np.uint8)  # a tall item, as a dress
    framed = fit_object(np.kron(article, np.ones((5, 5), dtype=np.uint8)))  # a 140x140 photo of it
    rows = np.flatnonzero((framed > 30).any(axis=1))
    assert rows[-1] - rows[0] + 1 >= 27  # the longer side fills the frame again
    digit_rows = np.flatnonzero((fit_digit(article) > 30).any(axis=1))
    assert digit_rows[-1] - digit_rows[0] + 1 <= 21  # MNIST's way would shrink it to 20 pixels


def test_predict_names_fashion_mnist_classes(tmp_path):
    import torch.nn as nn

    path = tmp_path / "item.png"
    Image.fromarray(np.full((28, 28), 200, dtype=np.uint8) * (np.indices((28, 28))[0] % 3 == 0)).save(path)
    model = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.arange(10.0))  # always class 9
    [p] = predict_files(model, [path], transform="none", dataset="fashion-mnist")
    assert (p.label, p.name) == (9, "Ankle boot")
    [p] = predict_files(model, [path], transform="none", dataset="mnist")
    assert (p.label, p.name) == (9, "9")
