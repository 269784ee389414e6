"""Files written by the codec before its coding loop was made faster (tests/fixtures/codec/, format 2): today's
codec must write them byte for byte from the same images, and read them back to the same grids. A faster loop
that rounded one probability differently would change the bytes, and old files would stop decoding. Files of the
first format (tests/fixtures/codec/v1/, whose checksum covered the grid alone) still decode to the same grids."""

from pathlib import Path

import numpy as np
import pytest
import torch

import vq_explorer as vqe

pytest.importorskip("constriction")
from vq_explorer.service import codec  # noqa: E402
from vq_explorer.service.inputs import load_image  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "codec"


def shipped(name):
    path = ROOT / "checkpoints" / f"{name}.safetensors"
    if not path.exists():
        pytest.skip(f"needs checkpoints/{name}.safetensors")
    return vqe.load(path, device="cpu")


@pytest.mark.parametrize("name", ["mnist", "mnist_transformer", "mnist_rnn", "mnist_14x14"])
def test_digit_files_are_written_byte_for_byte_as_before(name):
    model = shipped(name)
    d = np.load(ROOT / "tests" / "fixtures" / "mnist_test_1000.npz")
    x = torch.from_numpy(d["images"][:2]).float() / 255
    for i, label in ((0, None), (1, int(d["labels"][1]))):
        before = (FIXTURES / (f"{name}_{i}" + ("_label" if label is not None else "") + ".vqe")).read_bytes()
        assert codec.compress(model, x[i:i + 1], label) == before
        grid, got_label, _ = codec.decode_grid(model, before)
        assert torch.equal(grid, model.encode(x[i:i + 1])[0]) and got_label == label


def test_a_photo_file_is_written_byte_for_byte_as_before():
    """A 256×170 photo, a 43×64 grid of the colour model's PixelCNN: 2,752 cells, each probability as before."""
    model = shipped("cifar10")
    x, _ = load_image(model, ROOT / "docs" / "photos" / "chelsea.jpg")
    before = (FIXTURES / "cifar10_chelsea.vqe").read_bytes()
    assert codec.compress(model, x) == before
    grid, label, size = codec.decode_grid(model, before)
    assert torch.equal(grid, model.encode(x)[0]) and label is None and size == (170, 256)


@pytest.mark.parametrize("name", ["mnist", "mnist_transformer", "mnist_rnn", "mnist_14x14"])
def test_files_of_the_first_format_still_decode_to_the_same_grids(name):
    model = shipped(name)
    for i in (0, 1):
        suffix = "_label" if i else ""
        old = (FIXTURES / "v1" / f"{name}_{i}{suffix}.vqe").read_bytes()
        assert old[1] == 1 and (FIXTURES / f"{name}_{i}{suffix}.vqe").read_bytes()[1] == 2   # the format byte
        grid, label, _ = codec.decode_grid(model, old)
        now, now_label, _ = codec.decode_grid(model, (FIXTURES / f"{name}_{i}{suffix}.vqe").read_bytes())
        assert torch.equal(grid, now) and label == now_label
