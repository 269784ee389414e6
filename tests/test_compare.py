"""Several models over one folder (`vq-explorer-evaluate --models`, `vqe.compare`): PSNR and SSIM against an
independent computation on 20 known digits, usage against a bincount of every picture's codes, the CSV's
columns, an unreadable picture named and left out with a non-zero exit, and the single-checkpoint use beside it."""

import csv
import math

import numpy as np
import pytest
import torch
from conftest import make_tiny_model, states, words
from PIL import Image

import vq_explorer as vqe
from vq_explorer import service
from vq_explorer.commands import evaluate
from vq_explorer.service import compare as C

COLUMNS = ["model", "images", "psnr", "ssim", "codes_used", "perplexity", "dead_codes", "bits_per_image",
           "bytes_per_image", "ms_per_image"]


@pytest.fixture(scope="module")
def digits(tmp_path_factory, mnist_1000):
    """20 known digits as PNGs (two in a sub-folder: the folder is read whole)."""
    root = tmp_path_factory.mktemp("twenty")
    (root / "sub").mkdir()
    for i in range(20):
        Image.fromarray(mnist_1000[0][i, 0].numpy()).save(root / ("sub" if i < 2 else ".") / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two tiny digit models with different grids (7×7 and 14×14), saved as checkpoints."""
    folder = tmp_path_factory.mktemp("models")
    paths = []
    for f in (4, 2):
        model = make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28), downsample=f)
        with torch.no_grad():   # a codebook spread like the encoder's outputs, so that many codes are used
            z = model.vqvae.encoder(torch.rand(64, 1, 28, 28)).permute(0, 2, 3, 1).reshape(-1, 8)
            model.vqvae.quantizer.codebook.copy_(z[torch.randperm(len(z))[:32]])
        path = folder / f"tiny_f{f}.safetensors"
        vqe.save(model, path)
        paths.append(str(path))
    return paths


def _pictures(folder) -> torch.Tensor:
    files = sorted(p for p in folder.rglob("*.png"))
    return torch.stack([torch.from_numpy(np.asarray(Image.open(p), np.float32) / 255)[None] for p in files])


def _gaussian_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM as Wang et al. (2004) define it, written here from the paper: an 11-tap Gaussian window (σ 1.5) over
    the valid region, C1 = (0.01)², C2 = (0.03)², data range 1."""
    t = np.arange(11) - 5
    g = np.exp(-t ** 2 / (2 * 1.5 ** 2))
    g /= g.sum()

    def blur(a):
        a = np.apply_along_axis(lambda r: np.convolve(r, g, "valid"), 1, a)
        return np.apply_along_axis(lambda c: np.convolve(c, g, "valid"), 0, a)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = blur(x), blur(y)
    sxx, syy, sxy = blur(x * x) - mx ** 2, blur(y * y) - my ** 2, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx ** 2 + my ** 2 + c1) * (sxx + syy + c2))
    return float(s.mean())


def test_psnr_ssim_and_usage_over_a_folder_equal_an_independent_computation(digits, models):
    x = _pictures(digits)
    assert len(x) == 20
    rows = vqe.compare(models, digits)
    assert [r["model"] for r in rows] == models and all(r["images"] == 20 for r in rows)
    for path, row in zip(models, rows, strict=True):
        model = vqe.load(path)
        grids = model.encode(x)                     # all 20 at once: independent of the command's one by one
        recon = model.decode(grids).clamp(0, 1)
        mse = float(((recon.double() - x.double()) ** 2).mean())
        assert row["psnr"] == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)
        per_image = ((recon.double() - x.double()) ** 2).mean((1, 2, 3))
        assert row["psnr_per_image_mean"] == pytest.approx(float((10 * torch.log10(1 / per_image)).mean()),
                                                           abs=1e-4)
        ssim = np.mean([_gaussian_ssim(x[i, 0].numpy().astype(np.float64), recon[i, 0].numpy().astype(np.float64))
                        for i in range(20)])
        assert row["ssim"] == pytest.approx(ssim, abs=1e-4)
        counts = torch.bincount(grids.flatten(), minlength=model.config["num_codes"])
        assert row["codes_used"] == int((counts > 0).sum()) > 3
        assert row["dead_codes"] == int((counts == 0).sum())
        p = counts.double() / counts.sum()
        assert row["perplexity"] == pytest.approx(float(torch.exp(-(p[p > 0] * p[p > 0].log()).sum())), rel=1e-6)
        assert row["tokens_per_image"] == grids[0].numel()
        bits = float(-model.log_prob(grids).sum() / math.log(2) / 20)
        assert row["bits_per_image"] == pytest.approx(bits, rel=1e-4)
        assert row["bytes_per_image"] > bits / 8 and row["bytes_pictures"] == 20 and row["ms_per_image"] > 0


def test_usage_is_counted_over_the_whole_folder_not_per_picture(digits, models):
    """The folder's counts are the sum of every picture's, not the last picture's or a picture's distinct codes;
    and the Codebook tab's tally of a visitor's pictures counts the same codes the same way."""
    model = vqe.load(models[0])
    tally = C.Tally(model)
    mine = None
    for path in sorted(digits.rglob("*.png")):
        r = C.through(model, service.load_image(model, str(path))[0], file=False)
        tally.add(r)
        mine = service.tally(mine, "m", r.grid)
    grids = model.encode(_pictures(digits))
    assert torch.equal(tally.counts, torch.bincount(grids.flatten(), minlength=model.config["num_codes"]))
    assert torch.equal(service.tally_counts(mine, "m", model.config["num_codes"])[0], tally.counts)


def test_the_command_writes_the_csv_the_table_and_the_chart(digits, models, tmp_path, capsys):
    out = tmp_path / "results.csv"
    with pytest.raises(SystemExit) as done:
        evaluate.main(["--models", *models, "--images", str(digits), "--out", str(out), "--limit", "12"])
    assert done.value.code == 0
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[:len(COLUMNS)] == COLUMNS
    assert [r["model"] for r in rows] == models and {r["images"] for r in rows} == {"12"}
    printed = capsys.readouterr().out
    assert "| model |" in printed and "tiny_f2" in printed
    assert (tmp_path / "results.png").stat().st_size > 5000


def test_an_unreadable_picture_is_named_left_out_and_the_exit_is_non_zero(digits, models, tmp_path, capsys):
    folder = tmp_path / "with_bad"
    folder.mkdir()
    for p in sorted(digits.rglob("*.png"))[:5]:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.png").write_bytes(b"not a picture at all")
    out = tmp_path / "r.csv"
    with pytest.raises(SystemExit) as done:
        evaluate.main(["--models", models[0], "--images", str(folder), "--out", str(out)])
    assert done.value.code == 1
    assert "broken.png" in capsys.readouterr().err
    rows = list(csv.DictReader(out.open()))
    assert rows[0]["images"] == "5" and float(rows[0]["psnr"]) > 0


def test_pictures_of_any_size_and_colour_go_through_a_digit_model(models, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (90, 60, 3), dtype=np.uint8)).save(folder / "photo.jpg")
    Image.fromarray(rng.integers(0, 255, (40, 40), dtype=np.uint8)).save(folder / "grey.webp")
    (row,) = vqe.compare(models[:1], folder, size=64)
    assert row["images"] == 2 and row["tokens_per_image"] == 49 and math.isfinite(row["psnr"])


def test_bad_arguments_get_one_line(tmp_path, models, digits):
    with pytest.raises(SystemExit, match="needs --images"):
        evaluate.main(["--models", models[0]])
    with pytest.raises(SystemExit, match=r"no pictures \(\.png, \.jpg"):
        evaluate.main(["--models", models[0], "--images", str(tmp_path)])
    with pytest.raises(SystemExit, match="error: .*missing.safetensors"):
        evaluate.main(["--models", str(tmp_path / "missing.safetensors"), "--images", str(digits)])


# The Compare tab's service and handlers, and /compare through gradio_client.
@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """A folder like the shipped one: mnist (7×7), mnist_4x4, mnist_14x14, and a colour model."""
    folder = tmp_path_factory.mktemp("three")
    for name, f in (("mnist", 4), ("mnist_4x4", 8), ("mnist_14x14", 2)):
        model = make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28), downsample=f)
        vqe.save(model, folder / f"{name}.safetensors")
    vqe.save(make_tiny_model(classes=None, image_size=(32, 32), channels=3), folder / "colour.safetensors")
    return folder


def test_the_default_is_the_open_model_and_its_other_grids(three):
    cat = service.Catalog(three)
    assert C.default_models(cat, "mnist.safetensors") == ["mnist.safetensors", "mnist_4x4.safetensors",
                                                          "mnist_14x14.safetensors"]
    assert C.default_models(cat, "colour.safetensors") == ["colour.safetensors"]
    models = {n: cat.get(n) for n in ("colour.safetensors", "mnist.safetensors")}
    assert C.cost_order(models, 256) == ["mnist.safetensors", "colour.safetensors"]   # a photo at 256 px last
    assert C.cost_order(models, 16)[0] == "colour.safetensors"                       # a 16-px one first


def test_the_tab_streams_each_model_then_the_files_and_a_click_maps_to_each_grid(three, mnist_1000):
    from vq_explorer.ui import compare as U
    cat = service.Catalog(three)
    names = ["mnist_14x14.safetensors", "mnist.safetensors", "colour.safetensors"]
    picture = np.stack([mnist_1000[0][3, 0].numpy()] * 3, -1)
    picture[..., 0] = 255 - picture[..., 0]            # a colour picture: the digit models see it in grey
    steps = list(U.compute(cat, names, picture))
    assert len(steps) == 1 + 2 * len(names)            # the empty columns, one per model, then the bits and files
    filled = [[i for i in range(3) if isinstance(s[5 + 5 * i + 2], str)] for s in steps[1:4]]
    assert [len(f) for f in filled] == [1, 2, 3]       # one more column each time
    state, figures = steps[-1][2], [steps[-1][5 + 5 * i + 4] for i in range(3)]
    assert "grey" in states(figures[0]) and "grey" in states(figures[1]) and "grey" not in states(figures[2])
    assert "in grey" in words(figures[0]) and "in grey" not in words(figures[2])
    assert states(figures[2]) == {"cmp-result", "model-colour"}
    assert "bytes" in words(figures[1]) and "bits" in words(figures[1]) and "weighing" not in words(figures[1])
    weighing = words(steps[3][5 + 5 + 4])
    assert "scoring" in weighing and "weighing" in weighing   # every column first
    assert states(steps[-1][1]) == {"cmp-done", "cmp-n-3"} and states(steps[1][1]) == {"cmp-running", "cmp-n-1"}

    class Click:
        index = [255, 0]                               # the top right corner of the display picture
    outlined = U.region(state, 2, Click())
    codes = words(outlined[-1])
    assert states(outlined[-1]) == {"cmp-region", "cmp-outlined-0", "cmp-outlined-1", "cmp-outlined-2"}
    grid7, grid14 = np.asarray(state["grids"][names[1]]), np.asarray(state["grids"][names[0]])
    assert "cells 0–1 × 5–6 of 7×7" in codes and "cells 0–3 × 10–13 of 14×14" in codes
    assert " ".join(f"{k:>4d}" for k in grid7[0, 5:7]) in codes
    assert " ".join(f"{k:>4d}" for k in grid14[0, 10:14]) in codes


def test_client_compare_returns_each_models_figures_and_picture(three, tmp_path, mnist_1000):
    from gradio_client import Client, handle_file

    from vq_explorer.ui import build_demo
    img = tmp_path / "digit.png"
    Image.fromarray(mnist_1000[0][0, 0].numpy()).save(img)
    demo = build_demo(three)
    demo.queue()
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        client = Client(url, verbose=False)
        rows, shown = client.predict(handle_file(str(img)), '["mnist.safetensors", "mnist_4x4"]',
                                     api_name="/compare")
        assert [r["model"] for r in rows] == ["mnist.safetensors", "mnist_4x4.safetensors"]
        model = vqe.load(three / "mnist.safetensors")
        x = torch.from_numpy(np.asarray(Image.open(img), np.float32) / 255)[None, None]
        mse = float((model.decode(model.encode(x)).clamp(0, 1) - x).pow(2).mean())
        assert rows[0]["psnr"] == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)
        assert rows[0]["tokens"] == 49 and rows[1]["tokens"] == 16 and rows[0]["bytes"] > 0
        assert len(shown) == 2
        with pytest.raises(Exception, match="choose from 1 to 4 models"):
            client.predict(handle_file(str(img)), ",".join(["mnist"] * 5), api_name="/compare")
    finally:
        demo.close()


def test_a_padded_grid_maps_a_region_to_the_cells_that_show_it():
    """A 28-pixel digit's 4×4 grid at factor 8 covers 32 pixels: the picture's right quarter is columns 2–3."""
    from vq_explorer.views import compare as V
    assert V.cells_in((0.75, 0.0, 1.0, 0.25), (4, 4), (8 / 28, 8 / 28)) == (0, 1, 2, 4)
    assert V.cells_in((0.75, 0.0, 1.0, 0.25), (7, 7)) == (0, 2, 5, 7)
