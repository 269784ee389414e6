"""What no other test covered: the real dataset readers (on tiny files in their standard formats), metrics
rewritten in place without touching the weights, a saved file's permissions, the app's catalog reloading a
checkpoint changed on disk, and the code map's sign convention."""

import gzip
import time

import numpy as np
import pytest
import torch
from conftest import make_tiny_model

import vq_explorer as vqe
from vq_explorer.service.codebook import pca_2d
from vq_explorer.storage import data
from vq_explorer.storage.checkpoint import raw_metadata, update_metrics


def _idx(path, array: np.ndarray):
    """An IDX file as MNIST ships it: zero bytes, the type (0x08 = uint8), the rank, big-endian sizes, data."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_the_mnist_reader_reads_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    arrays = {}
    for split, n in (("train", 5), ("t10k", 3)):
        arrays[split] = rng.integers(0, 256, (n, 28, 28)), rng.integers(0, 10, n)
        _idx(folder / f"{split}-images-idx3-ubyte.gz", arrays[split][0])
        _idx(folder / f"{split}-labels-idx1-ubyte.gz", arrays[split][1])
    d = data.load_dataset("mnist", tmp_path)
    assert d.train_x.shape == (5, 1, 28, 28) and d.test_x.shape == (3, 1, 28, 28)
    assert d.train_x.dtype == torch.uint8
    assert np.array_equal(d.train_x[:, 0].numpy(), arrays["train"][0])
    assert np.array_equal(d.test_y.numpy(), arrays["t10k"][1]) and d.class_names == data.MNIST_CLASSES


@pytest.mark.parametrize("dataset, tv_name", [("fashion_mnist", "FashionMNIST"), ("cifar10", "CIFAR10")])
def test_a_dataset_neither_on_disk_nor_downloadable_ends_training_with_one_line_naming_the_way_out(
        tmp_path, monkeypatch, capsys, dataset, tv_name):
    import torchvision.datasets

    from vq_explorer.commands import train

    def offline(self):   # what torchvision raises when every mirror fails
        raise RuntimeError("Error downloading x.gz:\nTried http://mirror/, got:\n<urlopen error [Errno -2]>\n")
    monkeypatch.setattr(getattr(torchvision.datasets, tv_name), "download", offline)
    with pytest.raises(SystemExit) as stop:
        train.main(["--dataset", dataset, "--data-root", str(tmp_path), "--name", "x", "--runs",
                    str(tmp_path / "runs")])
    message = str(stop.value.code)
    assert message.startswith(f"error: {dataset} is not in {tmp_path / dataset}") and "\n" not in message
    assert "--data-root" in message and "$VQE_DATA_ROOT" in message and "urlopen error" in message


def test_the_cifar_reader_reads_the_batches_in_order(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar10"
    folder.mkdir()
    parts = [rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8) for _ in range(2)]
    for i, p in enumerate(parts, 1):
        np.savez(folder / f"train_{i}.npz", images=p, labels=np.full(4, i, np.uint8))
    test = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    np.savez(folder / "test.npz", images=test, labels=np.array([7, 9], np.uint8))
    d = data.load_dataset("cifar10", tmp_path)
    assert d.train_x.shape == (8, 3, 32, 32) and d.channels == 3 and d.image_size == (32, 32)
    assert torch.equal(d.train_x[4], torch.from_numpy(parts[1][0]).permute(2, 0, 1))   # HWC → CHW, batch order
    assert d.train_y.tolist() == [1] * 4 + [2] * 4 and d.test_y.tolist() == [7, 9]
    assert d.class_names[0] == "airplane"


def test_update_metrics_rewrites_the_figures_and_leaves_the_weights(tmp_path):
    from safetensors.torch import load_file
    path = tmp_path / "m.safetensors"
    vqe.save(make_tiny_model(), path)
    before = load_file(path)
    update_metrics(path, {"psnr": 99.0}, {"usage": torch.arange(32)})
    after = load_file(path)
    weights = [k for k in before if k.startswith(("vqvae.", "prior."))]
    assert weights and all(torch.equal(before[k], after[k]) for k in weights)
    assert '"psnr": 99.0' in raw_metadata(path)["metrics"] and torch.equal(after["stats.usage"], torch.arange(32))


def test_a_saved_checkpoint_is_readable_as_any_new_file_is(tmp_path):
    """The atomic write goes through a private temporary file; the checkpoint must not stay owner-only, or a
    server running as another user could not open it."""
    import os
    path = tmp_path / "m.safetensors"
    old = os.umask(0o022)
    try:
        vqe.save(make_tiny_model(), path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_the_catalog_reloads_a_checkpoint_changed_on_disk(tmp_path):
    from vq_explorer.service import Catalog
    path = tmp_path / "m.safetensors"
    vqe.save(make_tiny_model(), path)
    catalog = Catalog(tmp_path)
    first = catalog.get("m.safetensors")
    assert catalog.get("m.safetensors") is first                   # kept while the file is unchanged
    time.sleep(0.01)
    vqe.save(make_tiny_model(classes=("x", "y")), path)            # replaced by another model
    again = catalog.get("m.safetensors")
    assert again is not first and again.config["class_names"] == ["x", "y"]


def test_the_code_map_keeps_its_orientation_whatever_the_svds_signs():
    """The SVD may return a component or its negative; the map takes the one whose largest coordinate is positive,
    so a retrained or reloaded codebook's map does not flip. Checked on codebooks whose raw SVD gives the
    negative one."""
    flipped = 0
    for seed in range(20):
        torch.manual_seed(seed)
        codes = torch.randn(50, 8) * torch.tensor([5.0, 3.0, 1, 1, 1, 1, 1, 1])
        centred = codes - codes.mean(0)
        raw = torch.linalg.svd(centred, full_matrices=False)[2][:2]
        xy = pca_2d(codes)
        v = torch.linalg.lstsq(centred, xy).solution.t()            # the directions pca_2d projected on
        assert torch.allclose(v.abs(), raw.abs(), atol=1e-4)
        assert all(float(row[row.abs().argmax()]) > 0 for row in v), seed
        flipped += int(any(float(row[row.abs().argmax()]) < 0 for row in raw))
    assert flipped > 0        # (some raw SVDs did come out the other way round: the rule was exercised)


def test_a_folder_of_images_reads_its_subfolders_as_classes_and_loose_images_as_one(tmp_path):
    from PIL import Image
    root = tmp_path / "shapes"
    for name, value in (("circle", 200), ("square", 50)):
        (root / name).mkdir(parents=True)
        for i in range(10):
            Image.new("L", (8, 8), value).save(root / name / f"{i}.png")
    (root / "square" / "notes.txt").write_text("not an image")
    d = data.load_dataset(str(root), image_size=4, channels=1)
    assert d.class_names == ["circle", "square"] and d.name == "shapes"
    assert len(d.train_x) == 18 and len(d.test_x) == 2 and d.train_x.shape[1:] == (1, 4, 4)
    x, y = torch.cat([d.train_x, d.test_x]), torch.cat([d.train_y, d.test_y])
    assert torch.equal(x.flatten(1).float().mean(1), torch.where(y == 0, 200.0, 50.0))   # each image its label

    loose = tmp_path / "loose"
    loose.mkdir()
    for i in range(5):
        Image.new("RGB", (6, 9), (10 * i, 0, 0)).save(loose / f"{i}.jpg")
    d = data.load_dataset(str(loose), image_size=4, channels=3)
    assert d.class_names is None and d.train_x.shape[1:] == (3, 4, 4) and len(d.train_x) + len(d.test_x) == 5
    assert not d.train_y.any() and not d.test_y.any()

    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images found"):
        data.load_dataset(str(tmp_path / "empty"))
    (root / "triangle").mkdir()                      # a class folder without images: named in the message
    with pytest.raises(ValueError, match="no images found.*triangle"):
        data.load_dataset(str(root))
