"""The prior as an entropy coder (service/codec.py): files that decode to the very grid they were made from, within
the ideal size plus the header and the coder's last word, and a clear CodecError for every file that cannot be
decoded here — never another exception, never a wrong grid in silence."""

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_tiny_model, said

import vq_explorer as vqe

pytest.importorskip("constriction")
from vq_explorer.service import codec  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
AUTOREGRESSIVE = ["mnist", "mnist_4x4", "mnist_14x14", "mnist_transformer", "mnist_rnn", "fashion_mnist"]


def shipped(name):
    path = ROOT / "checkpoints" / f"{name}.safetensors"
    if not path.exists():
        pytest.skip(f"needs checkpoints/{name}.safetensors")
    return vqe.load(path, device="cpu")


@pytest.fixture(scope="module")
def mnist():
    return shipped("mnist")


@pytest.fixture(scope="module")
def digits(mnist_1000):
    return mnist_1000[0][:40].float() / 255, mnist_1000[1][:40]


@pytest.mark.slow
@pytest.mark.parametrize("name", AUTOREGRESSIVE)
def test_every_autoregressive_shipped_model_codes_test_images_bit_exactly_near_the_ideal_size(name, mnist_1000):
    model = shipped(name)
    fixture = "fashion_mnist_test_1000.npz" if name == "fashion_mnist" else "mnist_test_1000.npz"
    d = np.load(ROOT / "tests" / "fixtures" / fixture)
    n = 8 if name == "mnist_14x14" else 24
    x, y = torch.from_numpy(d["images"][:n]).float() / 255, d["labels"][:n]
    for i in range(n):
        label = int(y[i]) if i % 2 else None          # with the class and without
        data = codec.compress(model, x[i:i + 1], label)
        image, found, info = codec.decompress(data, [model])
        grid = model.encode(x[i:i + 1])[0]
        assert found is model and torch.equal(info["grid"], grid) and info["label"] == label
        assert torch.equal(image, model.decode(grid[None])[0])
        header = codec.read_header(data)["payload"]
        assert header <= 12                                        # at the model's training size
        assert len(data) - header <= codec.ideal_bits(model, grid, label) / 8 * 1.01 + 4, (i, len(data))


def test_a_photos_grid_and_its_own_size_travel_in_the_header():
    model = make_tiny_model(channels=3, image_size=(12, 12), classes=None)
    x = torch.rand(1, 3, 30, 22)                        # an 8×6 grid, decoded and cropped back to 30×22
    data = codec.compress(model, x)
    head = codec.read_header(data)
    assert head["grid"] == (8, 6) and head["size"] == (30, 22) and head["label"] is None
    image, _, info = codec.decompress(data, model)
    assert image.shape == (3, 30, 22) and torch.equal(info["grid"], model.encode(x)[0])


def test_files_decode_whatever_the_thread_setting():
    """The Transformer's logits differ in their last bits between one and two threads; the codec computes its
    probabilities on one thread, so a file written under one setting decodes under the other."""
    model = shipped("mnist_transformer")
    x = torch.from_numpy(np.load(ROOT / "tests" / "fixtures" / "mnist_test_1000.npz")["images"][:6]).float() / 255
    before = torch.get_num_threads()
    try:
        for i in range(len(x)):
            torch.set_num_threads(1)
            data = codec.compress(model, x[i:i + 1], 3)
            torch.set_num_threads(2)
            assert torch.equal(codec.decompress(data, model)[2]["grid"], model.encode(x[i:i + 1])[0])
    finally:
        torch.set_num_threads(before)


def test_another_model_or_other_arithmetic_stops_with_a_clear_message(mnist, digits):
    x, y = digits
    data = codec.compress(mnist, x[:1], int(y[0]))
    with said("file_unknown_model"):
        codec.decompress(data, [make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28))])
    perturbed = vqe.load(ROOT / "checkpoints" / "mnist.safetensors", device="cpu")
    with torch.no_grad():
        next(perturbed.prior.parameters()).add_(0.05)
    with said("file_other_model"):
        codec.decode_grid(perturbed, data)
    # the same name but other arithmetic (as another machine could compute): the checksum stops it
    codec.model_id.cache[perturbed] = codec.model_id(mnist)
    with said("file_checksum"):
        codec.decompress(data, [perturbed])


def test_truncated_foreign_future_and_damaged_files_each_get_their_message(mnist, digits):
    x, y = digits
    data = codec.compress(mnist, x[1:2], int(y[1]))
    for cut in range(len(data)):                      # every truncation
        with pytest.raises(codec.CodecError):
            codec.decompress(data[:cut], [mnist])
    with said("file_not_ours"):
        codec.decompress((ROOT / "docs" / "photos" / "coffee.jpg").read_bytes()[:200], [mnist])
    with said("file_version_newer", version=9):
        codec.decompress(bytes([codec.MAGIC, 9]) + data[2:], [mnist])
    head = codec.read_header(data)["payload"]
    for i in range(head, len(data)):                   # a flipped byte in the coded part
        damaged = bytearray(data)
        damaged[i] ^= 0x5A
        with pytest.raises(codec.CodecError) as e:
            codec.decompress(bytes(damaged), [mnist])
        assert e.value.code in ("file_checksum", "file_undecodable"), e.value


def test_fuzzed_files_decode_to_the_original_or_fail_with_a_codec_error(mnist, digits):
    x, y = digits
    rng = random.Random(0)
    originals = [(codec.compress(mnist, x[i:i + 1], int(y[i]) if i % 2 else None), mnist.encode(x[i:i + 1])[0])
                 for i in range(4)]
    for trial in range(300):
        data, grid = originals[trial % len(originals)]
        fuzzed = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            kind = rng.random()
            pos = rng.randrange(len(fuzzed))
            if kind < 0.6:
                fuzzed[pos] = rng.randrange(256)
            elif kind < 0.8:
                del fuzzed[pos]
            else:
                fuzzed.insert(pos, rng.randrange(256))
        try:
            _, _, info = codec.decompress(bytes(fuzzed), [mnist])
        except codec.CodecError:
            continue
        assert torch.equal(info["grid"], grid), trial   # decoded: then it is the original grid, never another


def test_models_that_cannot_code_say_why(mnist, digits):
    x, _ = digits
    masked = shipped("mnist_maskgit")
    with said("codec_masked_prior"):
        codec.compress(masked, x[:1])
    lab = make_tiny_model(image_size=(28, 28))
    lab.prior = None
    with said("needs_prior", what="compressing"):
        codec.compress(lab, x[:1])
    with said("codec_grid_codes"):
        codec.encode_grid(mnist, torch.full((7, 7), 9999))


@pytest.mark.slow
def test_the_command_compresses_a_folder_and_decompresses_it_to_the_decoded_pictures(tmp_path, mnist, digits):
    import subprocess
    import sys

    from PIL import Image
    x, _ = digits
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        Image.fromarray((x[i, 0] * 255).round().byte().numpy()).save(src / f"d{i}.png")
    (src / "notes.png").write_text("not a picture")
    run = lambda *a: subprocess.run([sys.executable, "-m", "vq_explorer.commands.codec", *a, "--checkpoints",
                                     str(ROOT / "checkpoints")], cwd=ROOT, capture_output=True, text=True,
                                    timeout=300)
    out = run("compress", str(src), "-o", str(tmp_path / "vqe"), "--checkpoint", "mnist", "--label", "3")
    assert out.returncode == 1 and "1 of 4 files failed" in out.stderr and "notes.png" in out.stderr
    assert len(list((tmp_path / "vqe").glob("*.vqe"))) == 3 and out.stdout.count(" bytes (ideal ") == 3
    back = run("decompress", str(tmp_path / "vqe"), "-o", str(tmp_path / "back"))
    assert back.returncode == 0, back.stderr
    for i in range(3):
        decoded = mnist.decode(mnist.encode(x[i:i + 1]))[0, 0]
        assert np.array_equal(np.array(Image.open(tmp_path / "back" / f"d{i}.png")),
                              (decoded * 255).round().byte().numpy())
