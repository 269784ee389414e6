"""A compressed file beside the classic formats (service/formats.py): WebP, JPEG and AVIF each at the lowest
quality whose PSNR reaches the file's on the very same picture, checked against Pillow directly; and AVIF kept in
the app's comparison, the benchmark's table and its rate–distortion rows."""

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vq_explorer as vqe

pytest.importorskip("constriction")
from vq_explorer.service import formats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def through_pillow(picture: np.ndarray, fmt: str, quality: int) -> tuple[int, float]:
    """(bytes, PSNR) of one picture through Pillow's encoder and decoder, written out here, not formats.py's."""
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format=fmt, quality=quality)
    back = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert(Image.fromarray(picture).mode))
    mse = np.mean((back.astype(np.float64) - picture.astype(np.float64)) ** 2) / 255 ** 2
    return len(buf.getvalue()), 10 * np.log10(1 / max(mse, 1e-12))


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_each_lossy_format_is_matched_to_the_files_psnr_at_its_lowest_quality_reaching_it(name, mnist_1000,
                                                                                         cifar_500):
    path = ROOT / "checkpoints" / f"{name}.safetensors"
    if not path.exists():
        pytest.skip(f"needs checkpoints/{name}.safetensors")
    model = vqe.load(path, device="cpu")
    images = (mnist_1000 if name == "mnist" else cifar_500)[0]
    x = images[3:4].float() / 255
    c = formats.costs(model, x)
    assert list(c["lossy"]) == ["WebP", "JPEG", "AVIF"]
    picture = images[3].permute(1, 2, 0).squeeze(-1).numpy()
    assert c["png"] == len(formats.encoded(picture, "PNG"))
    for called, fmt in formats.LOSSY.items():
        got = c["lossy"][called]
        assert got is not None, called
        size, psnr = through_pillow(picture, fmt, got["quality"])
        assert got["bytes"] == size and got["psnr"] == pytest.approx(psnr) and psnr >= c["psnr"], called
        if got["quality"] > 1:      # one step lower misses the file's PSNR: the lowest quality that reaches it
            assert through_pillow(picture, fmt, got["quality"] - 1)[1] < c["psnr"], called
        assert got["fixed"] == through_pillow(np.zeros_like(picture), fmt, got["quality"])[0], called


def test_a_format_that_never_reaches_the_psnr_is_none():
    flat = np.full((16, 16), 128, dtype=np.uint8)
    assert formats.classic_at([flat], "JPEG", 400.0) is None


def test_the_benchmarks_table_and_curves_hold_avif_matched_like_webp_and_jpeg():
    """benchmarks/results/codec.md (included in docs/codec.md) has an AVIF column filled for every model, and
    rate_distortion.csv an AVIF curve on every image set it measured."""
    lines = (RESULTS / "codec.md").read_text().splitlines()
    head = next(line for line in lines if line.startswith("| model |"))
    columns = [c.strip() for c in head.strip("|").split("|")]
    matched = [c for c in columns if "at that PSNR" in c]
    assert [c.split(" ")[0] for c in matched] == list(formats.LOSSY)
    rows = lines[lines.index(head) + 2:]
    rows = rows[:rows.index("")]                       # the masked prior's table follows a blank line
    assert len(rows) >= 8
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for called in matched:
            assert "(q " in cells[columns.index(called)], (row, called)
    with open(RESULTS / "rate_distortion.csv") as f:
        points = list(csv.DictReader(f))
    for image_set in dict.fromkeys(p["set"] for p in points):
        curves = {p["codec"] for p in points if p["set"] == image_set and p["kind"] == "classic"}
        assert curves == set(formats.LOSSY), image_set
