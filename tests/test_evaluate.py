"""python -m vq_explorer.commands.evaluate on every kind of checkpoint the app opens: with a PixelCNN prior (bits,
a sample sheet, figures stored back), and from the codebook lab, without a prior (what it can compute, and a line
for what it cannot); a file that is no checkpoint gets a message."""

import json

import pytest
from conftest import make_tiny_model, save_digit_folder

import vq_explorer as vqe
from vq_explorer.commands import evaluate
from vq_explorer.storage.checkpoint import raw_metadata


@pytest.fixture(scope="module")
def digits(tmp_path_factory, mnist_1000):
    return save_digit_folder(tmp_path_factory.mktemp("digits"), *mnist_1000, 100)


def test_a_checkpoint_with_a_prior_gets_every_figure_stored(tmp_path, digits, capsys):
    path = tmp_path / "m.safetensors"
    vqe.save(make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28)), path)
    evaluate.main([str(path), "--dataset", str(digits), "--sheet", str(tmp_path / "sheet.png")])
    out = capsys.readouterr().out
    metrics = json.loads(raw_metadata(path)["metrics"])
    assert {"mse", "psnr", "perplexity", "bits_per_image", "eval_seconds"} <= metrics.keys()
    assert (tmp_path / "sheet.png").exists() and "sample sheet" in out and "not computed" not in out


def test_a_lab_checkpoint_without_a_prior_gets_what_can_be_computed(tmp_path, digits, capsys):
    model = make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28))
    model.prior = None
    model.config = {**model.config, "prior": None}
    path = tmp_path / "lab.safetensors"
    vqe.save(model, path)
    assert vqe.load(path, "cpu").prior is None
    evaluate.main([str(path), "--dataset", str(digits), "--sheet", str(tmp_path / "sheet.png")])
    out = capsys.readouterr().out
    assert "mse" in out and "perplexity" in out and "bits_per_image" not in out
    assert "not computed: no prior in this checkpoint" in out and not (tmp_path / "sheet.png").exists()
    metrics = json.loads(raw_metadata(path)["metrics"])
    assert "psnr" in metrics and "bits_per_image" not in metrics


def test_a_file_that_is_no_checkpoint_gets_a_message(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"nonsense")
    with pytest.raises(SystemExit, match="error: .*bad.safetensors"):
        evaluate.main([str(bad)])
