"""The classifiers that judge samples: their files (safetensors, float16 weights, the format checked), the colour
network's mirror-averaged reading, the training's augmentation, and a short training run end to end."""

import pytest
import torch

from vq_explorer.commands import classifier as command
from vq_explorer.models.classifier import Classifier, ColourClassifier, build_classifier
from vq_explorer.storage.checkpoint import atomic_save_file, load_classifier, raw_metadata, save_classifier
from vq_explorer.storage.data import Data


def test_a_colour_classifier_file_keeps_its_readings_in_float16(tmp_path):
    torch.manual_seed(0)
    model = ColourClassifier(widths=(8, 16, 16)).eval()
    path = tmp_path / "c.safetensors"
    save_classifier(model, path, {"dataset": "cifar10", "test_accuracy": 0.5})
    meta = raw_metadata(path)
    assert meta["dataset"] == "cifar10" and meta["test_accuracy"] == "0.5"
    back = load_classifier(path)
    assert isinstance(back, ColourClassifier) and not back.training
    x = torch.rand(6, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(back(x), model(x), atol=1e-2)
    from safetensors import safe_open
    with safe_open(str(path), "pt") as f:
        assert f.get_tensor("head.weight").dtype == torch.float16


def test_files_from_before_the_colour_network_load_as_the_small_one(tmp_path):
    """The greyscale fixtures were written in float32 with no "arch" in their config: they still load."""
    assert isinstance(build_classifier({"in_channels": 1, "num_classes": 10, "width": 4}), Classifier)
    model = Classifier(width=4)
    path = tmp_path / "old.safetensors"
    atomic_save_file(model.state_dict(), path, {"format": "vq-explorer-classifier/1",
                                               "config": '{"in_channels": 1, "num_classes": 10, "width": 4}'})
    assert isinstance(load_classifier(path), Classifier)
    atomic_save_file(model.state_dict(), path, {"format": "something-else"})
    with pytest.raises(ValueError, match="not a vq-explorer classifier"):
        load_classifier(path)


def test_the_colour_reading_averages_an_image_and_its_mirror():
    torch.manual_seed(0)
    model = ColourClassifier(widths=(8, 16, 16)).eval()
    x = torch.rand(5, 3, 32, 32)
    with torch.no_grad():
        want = (model(x) + model(x.flip(-1))).argmax(1)
        assert torch.equal(model.predict(x), want)
        assert torch.equal(model.predict(x.flip(-1)), want)   # a mirrored image reads the same


def test_training_images_are_shifted_copies_or_their_mirrors():
    torch.manual_seed(1)
    x = torch.rand(64, 3, 32, 32)
    out = command.shifted_and_mirrored(x)
    assert out.shape == x.shape
    inner = out[:, :, 2:-2, 2:-2]   # away from the reflected border every image is a shifted copy
    found = set()
    for i in range(64):
        for flip in (False, True):
            src = x[i].flip(-1) if flip else x[i]
            hits = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                    if torch.equal(inner[i], src[:, 2 + dy:30 + dy, 2 + dx:30 + dx])]
            if hits:
                found.add(flip)
                break
        else:
            raise AssertionError(f"image {i} is neither a shifted copy nor a mirrored one")
    assert found == {False, True}   # both kinds happen


def test_a_short_colour_training_learns_and_writes_its_record(tmp_path, cifar_500, monkeypatch, capsys):
    images, y = cifar_500
    data = Data("cifar10", images[:400], y[:400], images[400:], y[400:], [str(i) for i in range(10)])
    monkeypatch.setattr(command, "load_dataset", lambda name, root: data)
    monkeypatch.setattr(command, "ColourClassifier", lambda c, n: ColourClassifier(c, n, (16, 32, 32)))
    out = tmp_path / "c.safetensors"
    command.main(["--dataset", "cifar10", "--epochs", "2", "--out", str(out)])
    meta = raw_metadata(out)
    assert meta["epochs"] == "2" and "threads" in meta["machine"] and float(meta["train_minutes"]) >= 0
    accuracy = float(meta["test_accuracy"])
    assert accuracy == pytest.approx(command.accuracy(load_classifier(out), data.test_x, data.test_y))
    assert "test accuracy" in capsys.readouterr().out
