"""normlab predict: MNIST-style conversion of image files, and the command."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from normlab.cli import main
from normlab.predict import ImageReadError, load_image, mnistify, predict_files


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
