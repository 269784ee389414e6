"""The prior as an entropy coder (service/codec.py): files that decode to the very grid they were made from, within
the ideal size plus the header and the coder's last word, and a clear CodecError for every file that cannot be
decoded here — never another exception, never a wrong grid in silence."""

import random
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_tiny_model, said

import vq_explorer as vqe

pytest.importorskip("constriction")
from vq_explorer.service import codec, grid_bits  # noqa: E402

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
        assert len(data) - header <= grid_bits(model, grid, label) / 8 * 1.01 + 4, (i, len(data))


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


def forged(model, label=None, grid=None, size=None, payload=bytes(4), flags=None) -> bytes:
    """A file whose header names these fields for `model` (its own id, any checksum): what a damaged or hostile
    file can hold."""
    f = (codec.FLAG_LABEL if label is not None else 0) | (codec.FLAG_GRID if grid else 0) | \
        (codec.FLAG_SIZE if size else 0)
    extra = b"".join(codec._uleb(n) for n in ([label] if label is not None else []) + list(grid or ())
                     + list(size or ()))
    return (bytes([codec.MAGIC, codec.VERSION]) + codec.model_id(model) + bytes([f if flags is None else flags])
            + extra + bytes(4) + payload)


def refused_quickly(code, model, data, **params):
    """`decode_grid` refuses `data` with `code` within 0.1 s (the worker already started)."""
    codec.worker_threads()
    start = time.perf_counter()
    with said(code, **params):
        codec.decode_grid(model, data)
    assert time.perf_counter() - start <= 0.1, (code, time.perf_counter() - start)


def test_a_header_naming_what_the_model_does_not_code_is_refused_before_any_cell(mnist):
    transformer = shipped("mnist_transformer")
    big = forged(mnist, grid=(256, 256))                   # would hold a core for many seconds if decoded
    assert len(big) <= 19
    refused_quickly("file_grid_shape", mnist, big, rows=256, cols=256, max_rows=7, max_cols=7)
    refused_quickly("file_image_size", mnist, forged(mnist, size=(0, 5)), height=0, width=5)
    refused_quickly("file_grid_shape", transformer, forged(transformer, grid=(8, 8)), max_rows=7, max_cols=7)
    refused_quickly("file_grid_shape", mnist, forged(mnist, grid=(0, 7)))
    refused_quickly("file_class", mnist, forged(mnist, label=10), label=10, last=9)
    refused_quickly("file_class", mnist, forged(mnist, label=99))
    unconditional = make_tiny_model(classes=None, image_size=(28, 28))
    refused_quickly("file_class_unconditional", unconditional, forged(unconditional, label=0))
    colour = make_tiny_model(channels=3, image_size=(12, 12), classes=None, prior="transformer")
    refused_quickly("file_grid_shape", colour, forged(colour, grid=(9, 2)), max_rows=8, max_cols=8)
    refused_quickly("file_image_size", colour, forged(colour, grid=(8, 6), size=(28, 22)), rows=8, factor=4)


def test_the_encoder_refuses_what_the_decoder_would(mnist, digits):
    x, _ = digits
    for label in (10, 99, -1):
        with said("codec_class", label=label, last=9):
            codec.compress(mnist, x[:1], label)
    unconditional = make_tiny_model(classes=None, image_size=(28, 28))
    with said("codec_class_unconditional", label=3):
        codec.compress(unconditional, x[:1], 3)
    with said("codec_grid_shape", rows=8, cols=8, max_rows=7, max_cols=7):
        codec.encode_grid(shipped("mnist_transformer"), torch.zeros(8, 8, dtype=torch.long))
    with said("codec_image_size", height=0, width=5):
        codec.encode_grid(mnist, torch.zeros(7, 7, dtype=torch.long), None, (0, 5))
    with said("codec_grid_shape"):                        # a digit model codes its training grid at most
        codec.compress(mnist, torch.rand(1, 1, 32, 32))


HEADER_REFUSALS = {"file_not_ours", "file_version", "file_version_newer", "file_truncated",
                   "file_number_too_large", "file_flags", "file_other_model", "file_grid_shape",
                   "file_image_size", "file_class", "file_class_unconditional", "file_payload_cut"}


@pytest.mark.parametrize("family", ["pixelcnn", "transformer", "rnn"])
@pytest.mark.parametrize("channels", [1, 3])
def test_fuzzed_headers_are_refused_within_a_tenth_of_a_second_or_cost_a_valid_decode(family, channels,
                                                                                     monkeypatch):
    """Random headers (flags, class, grid, size, payload length) for every autoregressive family, on a digit
    model (its training grid) and a colour one (a photo's grid up to its largest): a header naming anything the
    model does not code is a CodecError within 0.1 s, before any cell; one it does code is decoded (or its
    checksum fails) having computed no more cells than the model's largest grid holds."""
    model = make_tiny_model(classes=("a", "b", "c"), channels=channels, image_size=(28, 28), prior=family)
    model.config["max_side"] = 32          # a colour model's photos up to 32 px: an 8×8 grid at most
    top = codec.largest_grid(model)
    cells = []
    probabilities = codec._probabilities
    monkeypatch.setattr(codec, "_probabilities", lambda logits: cells.append(1) or probabilities(logits))
    codec.worker_threads()
    rng = random.Random(hash((family, channels)) % 1000)
    refused = decoded = 0
    for trial in range(150):
        pick = lambda *choices: rng.choice(choices)
        label = pick(None, 0, 2, 3, rng.randrange(1 << 20))
        grid = pick(None, None, top, (8, 8), (rng.randrange(10), rng.randrange(10)), (rng.randrange(1 << 14), 7))
        size = pick(None, None, (28, 28), (30, 22), (rng.randrange(40), rng.randrange(40)), (0, 5))
        payload = bytes(rng.randrange(256) for _ in range(rng.choice([0, 3, 4, 8, 16, 40])))
        data = forged(model, label, grid, size, payload, flags=pick(None, None, None, rng.randrange(256)))
        cells.clear()
        start = time.perf_counter()
        try:
            g, got_label, _ = codec.decode_grid(model, data)
            assert g.dim() == 2 and got_label in (None, 0, 1, 2)
            code = None
        except codec.CodecError as e:
            code = e.code
        took = time.perf_counter() - start
        if code in HEADER_REFUSALS:
            refused += 1
            assert took <= 0.1 and not cells, (trial, code, data.hex(), took)
        else:
            decoded += 1
            assert code in (None, "file_checksum", "file_undecodable"), code
            assert len(cells) <= top[0] * top[1], (trial, data.hex(), len(cells))
    assert refused > 50 and decoded > 5, (refused, decoded)


def test_a_foreign_file_names_its_maker_from_the_checkpoints_without_loading_them(ckpt_dir, monkeypatch):
    from vq_explorer.service import catalog as catalog_module
    from vq_explorer.service.catalog import Catalog
    tiny = vqe.load(ckpt_dir / "tiny.safetensors", device="cpu")
    assert codec.file_model_id(ckpt_dir / "tiny.safetensors") == codec.model_id(tiny)     # recorded at save
    mnist_path = ROOT / "checkpoints" / "mnist.safetensors"
    if mnist_path.exists():                 # a file without the recorded id: its tensors hashed as they are
        assert codec.file_model_id(mnist_path) == codec.model_id(vqe.load(mnist_path, device="cpu"))
    data = codec.encode_grid(tiny, torch.zeros(7, 7, dtype=torch.long), 3)
    catalog = Catalog(ckpt_dir)

    def no_loading(*a, **k):
        raise AssertionError("naming a file's maker must not load a model")
    monkeypatch.setattr(catalog_module, "_load_cached", no_loading)
    assert codec.maker(catalog, codec.read_header(data)["model"]) == "tiny.safetensors"
    assert codec.maker(catalog, b"\x00\x00\x00") is None


def test_the_codec_keeps_one_thread_of_its_own_whatever_other_requests_set():
    """The probabilities are computed on the codec's own worker, with one thread that no caller's setting
    changes: compressions running at once, beside threads that change the global thread setting, write the very
    bytes one compression alone writes (the Transformer's logits differ in their last bits between settings)."""
    model = shipped("mnist_transformer")
    x = torch.from_numpy(np.load(ROOT / "tests" / "fixtures" / "mnist_test_1000.npz")["images"][:8]).float() / 255
    alone = [codec.compress(model, x[i:i + 1], i % 10) for i in range(len(x))]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert codec.worker_threads() == 1
        from concurrent.futures import ThreadPoolExecutor

        def busy(i):
            torch.set_num_threads(1 + i % 2)      # each request thread with its own setting
            return codec.compress(model, x[i:i + 1], i % 10)
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(busy, range(len(x))))
        assert together == alone and codec.worker_threads() == 1
    finally:
        torch.set_num_threads(before)
    # in a new process whose threads default to 2: the worker's 1, and the default left as it was for the threads
    # that start later (a request's)
    import subprocess
    import sys
    script = ("import threading, torch; torch.set_num_threads(2); from vq_explorer.service import codec; "
              "n = codec.worker_threads(); later = []; t = threading.Thread(target=lambda: "
              "later.append(torch.get_num_threads())); t.start(); t.join(); "
              "print(n, torch.get_num_threads(), *later)")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["1", "2", "2"], out.stderr


def test_the_command_goes_on_after_a_damaged_file_and_names_it(tmp_path, ckpt_dir, capsys):
    from vq_explorer.commands import codec as command
    tiny = vqe.load(ckpt_dir / "tiny.safetensors", device="cpu")
    folder = tmp_path / "in"
    folder.mkdir()
    grids = [torch.randint(0, 32, (7, 7)) for _ in range(2)]
    for i, g in enumerate(grids):
        (folder / f"ok{i}.vqe").write_bytes(codec.encode_grid(tiny, g, i))
    (folder / "bad.vqe").write_bytes(forged(tiny, size=(0, 5)))
    with pytest.raises(SystemExit) as e:
        command.main(["decompress", str(folder), "-o", str(tmp_path / "out"), "--checkpoints", str(ckpt_dir)])
    assert e.value.code == f"1 of 3 files failed: {folder / 'bad.vqe'}"    # exit status 1, the file named
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ok0.png", "ok1.png"]
    assert "bad.vqe: the header names a 0×5 image" in capsys.readouterr().err
