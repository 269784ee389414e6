"""The service layer: every user input validated, every result shaped as the UI and API expect."""

import io
import json
import math
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import said
from PIL import Image

from vq_explorer.messages import ERRORS, error_text

NAME = "tiny.safetensors"


def _png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=kw.pop("format", "PNG"), **kw)
    return buf.getvalue()


def _bomb_png(width=30000, height=30000) -> bytes:
    """A valid tiny PNG whose header claims width×height pixels."""
    data = bytearray(_png_bytes(Image.new("L", (8, 8))))
    ihdr = data[12:29]
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


# --- checkpoints ------------------------------------------------------------------------------------------
def test_list_and_resolve_checkpoints_stay_inside_the_folder(explorer, catalog, ckpt_dir, tmp_path):
    outside = tmp_path / "outside.safetensors"
    outside.write_bytes((ckpt_dir / NAME).read_bytes())
    (ckpt_dir / "link.safetensors").symlink_to(outside)
    try:
        assert catalog.names() == [NAME]
        for bad in ["../outside.safetensors", str(outside), "link.safetensors", "/etc/passwd", "", None, 3]:
            with said("unknown_checkpoint"):
                catalog.path(bad)
        assert catalog.path(NAME) == ckpt_dir / NAME
        assert explorer.Catalog(tmp_path / "nowhere").names() == []
    finally:
        (ckpt_dir / "link.safetensors").unlink()


def test_broken_checkpoint_in_the_folder_gives_a_message(explorer, catalog, ckpt_dir):
    bad = ckpt_dir / "broken.safetensors"
    bad.write_bytes(b"\x00" * 100)
    try:
        with pytest.raises(explorer.UserError, match="broken.safetensors"):
            catalog.get("broken.safetensors")
    finally:
        bad.unlink()


def test_describe_mentions_grid_codes_and_metrics(catalog):
    from vq_explorer.ui.words import describe
    text = describe(catalog.get(NAME))
    assert "7×7 code grid" in text and "K = 32" in text and "MSE 0.5000" in text
    assert "Trained for" not in text   # the tiny model records no training


def test_describe_says_how_long_a_model_was_trained(catalog):
    import copy

    from vq_explorer.ui.words import describe
    model = copy.copy(catalog.get(NAME))
    model.config = {**model.config, "train": {"vqvae_epochs": 20.0, "prior_epochs": 8.0, "vqvae_minutes": 24.5,
                                              "encode_minutes": 0.5, "prior_minutes": 34.6, "export_minutes": 0.4,
                                              "machine": "AMD EPYC, 1 × 2 threads"}}
    text = describe(model)
    assert "Trained for 20 VQ-VAE and 8 prior epochs (60 min on AMD EPYC, 1 × 2 threads)." in text


# --- reconstruct ------------------------------------------------------------------------------------------
def test_reconstruct_file_shapes_and_figures(explorer, tmp_path, catalog):
    p = tmp_path / "digit.png"
    Image.fromarray((np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)).save(p)
    rec = explorer.reconstruct_file(catalog.get(NAME), str(p))
    assert rec.original.shape == rec.recon.shape == (1, 28, 28) and rec.grid.shape == (7, 7)
    assert rec.surprise.shape == (7, 7)
    # the code length from the prior's own logits, the softmax of each cell's code, not through log_prob
    model = catalog.get(NAME)
    with torch.no_grad():
        logits = model.prior(rec.grid[None])
    own = torch.log_softmax(logits, 1).gather(1, rec.grid[None, None]).squeeze(1)[0]
    assert torch.allclose(rec.surprise, -own / math.log(2), atol=1e-4)
    assert rec.total_bits == pytest.approx(float(rec.surprise.sum()), rel=1e-5)
    assert rec.notes == []


def test_metrics_of_a_known_pair():
    from vq_explorer.models import metrics
    x, y = torch.zeros(2, 1, 4, 4), torch.full((2, 1, 4, 4), 0.5)
    assert metrics.mse(y, x) == pytest.approx(0.25) and metrics.psnr(0.25) == pytest.approx(6.0206, abs=1e-4)
    assert metrics.perplexity(torch.tensor([5, 5, 0, 0])) == pytest.approx(2.0)       # two codes used evenly


def test_surprise_is_high_where_the_prior_did_not_expect_the_code():
    """On a real digit's grid, replacing one cell by the code the (shipped) prior finds least likely there
    raises that cell's surprise well above what it was, and the grid's total bits with it."""
    import vq_explorer as vqe
    from vq_explorer import service
    model = vqe.load(Path(__file__).resolve().parents[1] / "checkpoints" / "mnist.safetensors", "cpu")
    grid = model.encode(model.examples[:1].float() / 255)[0]
    before = service.surprise(model, grid)
    with torch.no_grad():
        worst = int(model.prior(grid[None])[0, :, 3, 3].argmin())
    odd = grid.clone()
    odd[3, 3] = worst
    after = service.surprise(model, odd)
    assert after[3, 3] > before[3, 3] + 10 and after[3, 3] > 12       # bits: p < 1/4096
    assert service.grid_bits(model, odd) > service.grid_bits(model, grid) + 10
    assert torch.equal(after.view(-1)[:24], before.view(-1)[:24])      # cells before (3, 3) are not affected


@pytest.mark.parametrize("make,note", [
    (lambda: Image.new("RGBA", (28, 28), (255, 0, 0, 128)), "transparency"),
    (lambda: Image.new("RGB", (64, 48), (10, 200, 30)), "centre-cropped from 64×48 to 48×48"),
    (lambda: Image.new("RGB", (56, 56), (10, 200, 30)), "resized from 56×56 to 28×28"),
    (lambda: Image.new("RGB", (28, 28), (10, 200, 30)), "RGB converted to greyscale"),
    (lambda: Image.new("CMYK", (28, 28)), "CMYK converted"),
    (lambda: Image.new("I;16", (28, 28), 40000), "16-bit"),
    (lambda: Image.new("P", (28, 28)), None),
    (lambda: Image.new("L", (1, 1), 255), "resized from 1×1"),
])
def test_odd_images_are_converted_with_a_note(explorer, tmp_path, make, note, catalog):
    img = make()
    p = tmp_path / ("x.tiff" if img.mode == "CMYK" else "x.png")
    img.save(p)
    rec = explorer.reconstruct_file(catalog.get(NAME), str(p))
    assert rec.original.shape == (1, 28, 28) and 0 <= rec.original.min() and rec.original.max() <= 1
    if note:
        assert any(note in str(n) for n in rec.notes), rec.notes


def test_animated_gif_uses_the_first_frame(explorer, tmp_path, catalog):
    p = tmp_path / "anim.gif"
    frames = [Image.new("L", (28, 28), v) for v in (0, 255, 128)]
    frames[0].save(p, save_all=True, append_images=frames[1:])
    rec = explorer.reconstruct_file(catalog.get(NAME), str(p))
    assert any("3 frames" in str(n) for n in rec.notes) and rec.original.max() == 0


@pytest.mark.parametrize("content,match", [
    (b"", "empty"), (b"hello, I am a text file", "not an image"), (None, "truncated"), ("bomb", "pixels"),
])
def test_bad_uploads_raise_a_clear_user_error(explorer, tmp_path, content, match, catalog):
    if content is None:
        content = _png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)))
        content = content[: len(content) // 2]
    elif content == "bomb":
        content = _bomb_png()
    p = tmp_path / "upload.png"
    p.write_bytes(content)
    with pytest.raises(explorer.UserError, match=match):
        explorer.reconstruct_file(catalog.get(NAME), str(p))


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect/></svg>'


@pytest.mark.parametrize("content,kind", [
    (SVG, "SVG"), (b"%PDF-1.7\n%\xe2\xe3\n1 0 obj", "PDF"), (b"PK\x03\x04\x14\x00" + bytes(40), "ZIP"),
    (b"\0\0\0\x18ftypheic" + bytes(20), "HEIC"), (b"<!DOCTYPE html><html><body>hi</body></html>", "HTML"),
    (b"hello, I am a text file", "text"), (bytes(range(256)) * 4, "cannot identify"), (None, "PNG"),
], ids=["svg", "pdf", "zip", "heic", "html", "text", "binary", "truncated-png"])
def test_a_file_that_is_no_image_is_named_without_pythons_insides(explorer, tmp_path, content, kind, catalog):
    """An SVG (or a PDF, a HEIC photo ...) named .png: the message says what the file seems to be and what is
    accepted, never PIL's exception or an object's repr ("<_io.BytesIO object at 0x7f…>")."""
    if content is None:   # a PNG cut in half: the format is known, the data runs out
        content = _png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)))
        content = content[: len(content) // 2]
    p = tmp_path / "upload.png"
    p.write_bytes(content)
    with pytest.raises(explorer.UserError) as e:
        explorer.reconstruct_file(catalog.get(NAME), str(p))
    message = str(e.value)
    assert kind in message and "JPEG" in message, message
    assert not re.search(r"0x[0-9a-f]{4}|<_|object at|Error|Exception|Traceback", message), message


def test_truncated_jpeg_is_refused(explorer, tmp_path, catalog):
    data = _png_bytes(Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), np.uint8)),
                      format="JPEG")
    p = tmp_path / "cut.jpg"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(explorer.UserError, match="truncated|damaged|not an image"):
        explorer.reconstruct_file(catalog.get(NAME), str(p))


def test_drawing_is_framed_like_mnist(explorer, catalog):
    model = catalog.get(NAME)
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[20:60, 200:210, 3] = 255        # a small stroke in a corner
    x, notes = explorer.drawing_to_input(model, rgba)
    assert x.shape == (1, 1, 28, 28) and notes[0].code == "drawing_framed_mass"
    ys, xs = np.nonzero(x[0, 0].numpy() > 0.1)
    assert 8 <= ys.mean() <= 20 and 8 <= xs.mean() <= 20       # moved to the centre
    assert ys.max() - ys.min() >= 15                            # scaled up to digit height
    with said("drawing_empty"):
        explorer.drawing_to_input(model, np.zeros((280, 280, 4), np.uint8))
    with said("nothing_drawn"):
        explorer.drawing_to_input(model, None)


# --- grids ------------------------------------------------------------------------------------------------
def test_parse_grid_accepts_valid_json_forms(explorer, catalog):
    model = catalog.get(NAME)
    grid = [[(r * 7 + c) % 32 for c in range(7)] for r in range(7)]
    for value in (json.dumps(grid), json.dumps({"grid": grid}), grid, [[float(v) for v in row] for row in grid]):
        assert explorer.parse_grid(value, model).tolist() == grid


@pytest.mark.parametrize("value,code,params", [
    ("not json", "grid_not_json", {}), ("[1, 2, 3]", "grid_not_lists", {}),
    ('{"nogrid": 1}', "grid_not_lists", {}),
    (json.dumps([[0] * 7] * 6), "grid_wrong_shape", {"shape": "6×7"}),
    (json.dumps([[0] * 6] * 7), "grid_wrong_shape", {"shape": "7×6"}),
    (json.dumps([[32] * 7] * 7), "grid_code_out_of_range", {"code": 32}),
    (json.dumps([[-1] * 7] * 7), "grid_code_out_of_range", {"code": -1}),
    (json.dumps([[1.5] * 7] * 7), "grid_not_integer", {}),
    ("[" + ",".join(["[NaN,0,0,0,0,0,0]"] * 7) + "]", "grid_not_integer", {}),
    (json.dumps([["a"] * 7] * 7), "grid_not_integer", {}), (json.dumps([[True] * 7] * 7), "grid_not_integer", {}),
    ("[" * 300000, "grid_json_too_long", {}), (json.dumps([[1e300] * 7] * 7), "grid_code_out_of_range", {}),
])
def test_parse_grid_rejects_bad_input_with_a_message(explorer, value, code, params, catalog):
    with said(code, **params) as e:
        explorer.parse_grid(value, catalog.get(NAME))
    assert error_text(e.value) and code in ERRORS     # and the app has words for it


def test_history_undo_redo():
    from vq_explorer.ui.history import History
    s = History.new([[0]])
    s = History.push(s, [[1]])
    s = History.push(s, [[2]])
    assert History.push(s, [[2]]) is s           # no-op edits do not fill the history
    assert History.push(None, [[4]]) == History.new([[4]])   # a painter without a history yet starts one
    s = History.undo(History.undo(s))
    assert s["grid"] == [[0]] and History.undo(s) == s
    s = History.redo(s)
    assert s["grid"] == [[1]]
    s = History.push(s, [[5]])
    assert s["redo"] == [] and s["undo"] == [[[0]], [[1]]]
    for k in range(6, 12):                       # the undo list keeps the last `limit` grids, oldest dropped
        s = History.push(s, [[k]], limit=4)
    assert s["undo"] == [[[7]], [[8]], [[9]], [[10]]] and s["grid"] == [[11]]


def test_inpaint_keeps_unselected_cells(explorer, catalog):
    model = catalog.get(NAME)
    grid = torch.randint(0, 32, (7, 7))
    region = torch.zeros(7, 7, dtype=torch.bool)
    region[2:4, 3:6] = True
    out = explorer.inpaint(model, grid, region, label=3, seed=0)
    assert torch.equal(out[~region], grid[~region])
    with said("no_region"):
        explorer.inpaint(model, grid, torch.zeros(7, 7, dtype=torch.bool))


def test_sample_steps_report_entropy_and_validate(explorer, catalog):
    model = catalog.get(NAME)
    steps = list(explorer.sample_steps(model, 2, label=1, temperature=0.8, top_k=5, seed=1))
    assert len(steps) == 49 and all(0 <= e <= np.log2(5) + 1e-6 for _, e in steps)
    for bad in (dict(n=0), dict(n=17), dict(temperature=0), dict(temperature=9), dict(top_k=33)):
        with pytest.raises(explorer.UserError):
            list(explorer.sample_steps(model, **{"n": 1, **bad}))
    for bad_label in ("cat", 10, -1):
        with pytest.raises(explorer.UserError):
            explorer.label_id(model, bad_label)
    from vq_explorer.ui.words import ANY, class_label
    assert explorer.label_id(model, "3") == 3 and explorer.label_id(model, None) is None
    assert class_label(model, ANY) is None and class_label(model, "7") == 7


def test_codebook_views(explorer, catalog):
    """The summary against usage counted here by brute force: each encoder output's nearest code by explicit
    distances to all 32 codes, over the 6 shipped examples."""
    model = catalog.get(NAME)
    s = explorer.codebook_summary(model)
    with torch.no_grad():
        z = model.vqvae.encode_continuous(model.examples.float() / 255).permute(0, 2, 3, 1).reshape(-1, 8)
        codes = torch.cdist(z, model.vqvae.quantizer.codebook).argmin(1)
    counts = torch.bincount(codes, minlength=32)
    p = counts[counts > 0].double() / counts.sum()
    assert s["num_codes"] == 32 and s["cells"] == 6 * 49
    assert s["used_codes"] == int((counts > 0).sum()) and s["dead_codes"] == int((counts == 0).sum())
    assert s["perplexity"] == pytest.approx(float(torch.exp(-(p * p.log()).sum())), rel=1e-6)
    assert s["most_used"][0] == {"code": int(counts.argmax()), "count": int(counts.max())}
    assert explorer.most_used_code(model) == int(counts.argmax())   # the painter's background, the tabs' default
    assert explorer.tiles(model).shape == (32, 1, 4, 4)
    assert explorer.code_map(model).shape == (32, 2)
    with said("code_out_of_range", code=32, last=31):
        explorer.code_patches(model, 32)


def test_code_stats_patches_come_from_where_the_code_occurs(mnist_1000):
    import sys
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from conftest import make_tiny_model

    from vq_explorer.models.usage import code_stats
    model = make_tiny_model(classes=None, image_size=(28, 28))
    x = mnist_1000[0][:200]
    s = code_stats(model, x, per_code=3)
    grids = model.encode(x.float() / 255)
    assert torch.equal(s["usage"], torch.bincount(grids.flatten(), minlength=32))
    assert s["patches"].shape == (32, 3, 1, 8, 8)
    k = int(s["usage"].argmax())
    assert s["patch_count"][k] == 3 and (s["patch_count"][s["usage"] == 0] == 0).all()
    # each patch's centre 4×4 is a cell of some image where the code was chosen
    where = torch.nonzero(grids == k)
    centres = torch.stack([x[i, 0, r * 4:r * 4 + 4, c * 4:c * 4 + 4] for i, r, c in where.tolist()])
    for patch in s["patches"][k]:
        assert (centres == patch[0, 2:6, 2:6]).flatten(1).all(1).any()


# --- Transformer and RNN checkpoints ----------------------------------------------------------------------
@pytest.mark.parametrize("family, words", [("transformer", "prior: a Transformer (2 blocks × 16, 2 heads)"),
                                           ("rnn", "prior: an RNN (LSTM, ")])
def test_every_prior_view_works_with_the_other_autoregressive_priors(tmp_path, family, words):
    """The service layer only talks to `model.prior` through the shared interface: the surprise map, grid
    bits, inpainting and streamed sampling work on a Transformer or an RNN prior as on a PixelCNN."""
    from conftest import make_tiny_model

    import vq_explorer as vqe
    from vq_explorer import service
    from vq_explorer.ui.words import describe, inpaint_context
    vqe.save(make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28), prior=family),
             tmp_path / "ar.safetensors")
    model = service.Catalog(tmp_path).get("ar.safetensors")
    assert words in describe(model) and "only the cells before each redrawn cell" in inpaint_context(model)
    rec = service.reconstruct_example(model, 0)
    assert rec.surprise.shape == model.grid and (rec.surprise > 0).all()
    assert rec.total_bits == pytest.approx(service.grid_bits(model, rec.grid), rel=1e-4)
    region = torch.zeros(model.grid, dtype=torch.bool)
    region[3:, :] = True
    out = service.inpaint(model, rec.grid, region, label=4, seed=0)
    assert torch.equal(out[~region], rec.grid[~region]) and not torch.equal(out[region], rec.grid[region])
    steps = list(service.sample_steps(model, n=2, label=3, seed=1))
    assert len(steps) == 49 and (steps[-1][0].grid >= 0).all() and steps[-1][1] > 0


# --- a masked-prior checkpoint ----------------------------------------------------------------------------
def test_every_prior_view_works_with_a_masked_prior(tmp_path):
    """A masked prior has no likelihood: the surprise is each cell given all the others, the grid has no bits;
    inpainting keeps the other cells, and sampling streams its parallel steps, as many as asked."""
    from conftest import make_tiny_model

    import vq_explorer as vqe
    from vq_explorer import service
    from vq_explorer.models.priors.maskgit import schedule
    vqe.save(make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28), prior="maskgit"),
             tmp_path / "mg.safetensors")
    model = service.Catalog(tmp_path).get("mg.safetensors")
    from vq_explorer.ui.words import describe, inpaint_context
    assert "masked Transformer (MaskGIT: 2 blocks × 16" in describe(model) and service.is_masked(model)
    assert "every side" in inpaint_context(model)
    rec = service.reconstruct_example(model, 0)
    assert not rec.exact and rec.has_prior
    assert rec.surprise.shape == model.grid and (rec.surprise > 0).all()
    assert service.grid_bits(model, rec.grid) is None
    region = torch.zeros(model.grid, dtype=torch.bool)
    region[:3, :] = True
    out = service.inpaint(model, rec.grid, region, label=4, seed=0)
    assert torch.equal(out[~region], rec.grid[~region]) and not torch.equal(out[region], rec.grid[region])
    for steps, expected in ((None, schedule(49, 8)), (3, schedule(49, 3)), (49, [1] * 49)):
        frames = list(service.sample_steps(model, n=2, label=3, seed=1, steps=steps))
        assert [int(s.cells[0].sum()) for s, _ in frames] == expected
        assert (frames[-1][0].grid >= 0).all() and frames[-1][1] > 0
    with said("steps_range", cells=49):
        list(service.sample_steps(model, n=1, steps=50))


def test_a_photo_keeps_its_exif_orientation_and_its_proportions(explorer, tmp_path, catalog):
    """A camera JPEG stored sideways with EXIF orientation 6 (turn 90° clockwise to view) is turned upright,
    and a wide photo is centre-cropped, not squeezed: a white bar across the top of the upright picture stays
    at the top, and a vertical stripe in the middle of a 2:1 picture stays a thin vertical stripe."""
    stored = np.zeros((80, 40), np.uint8)     # stored sideways: the top of the scene is the stored left edge
    stored[:, :8] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    p = tmp_path / "sideways.jpg"
    Image.fromarray(stored).save(p, exif=exif, quality=95)
    x, notes = explorer.load_image(catalog.get(NAME), str(p))
    assert any("EXIF orientation" in str(n) for n in notes)
    img = x[0, 0].numpy()
    assert img[:3].mean() > 0.8 and img[-10:].mean() < 0.1     # the bar is at the top: upright

    wide = np.zeros((100, 200), np.uint8)
    wide[:, 95:105] = 255                    # a stripe 10 px wide in the middle of a 2:1 picture
    q = tmp_path / "wide.png"
    Image.fromarray(wide).save(q)
    x, notes = explorer.load_image(catalog.get(NAME), str(q))
    assert any("centre-cropped from 200×100 to 100×100" in str(n) for n in notes)
    cols = x[0, 0].numpy().mean(0)
    # the stripe keeps its share of the width: 10 of 100 px → 2.8 of 28 (squeezed it would be 1.4)
    assert cols[:8].max() < 0.05 and cols[-8:].max() < 0.05 and 2.3 < cols.sum() < 3.3, cols.sum()


def test_a_random_grid_draws_each_code_as_often_as_the_test_images_use_it(explorer, catalog):
    """The "random grid" shows what the codebook holds without the prior: codes in proportion to their use,
    a code never used (almost) never."""
    import copy
    model = copy.copy(catalog.get(NAME))   # the catalog's model is shared: give this one its own stats
    K = model.config["num_codes"]
    usage = torch.zeros(K, dtype=torch.long)
    usage[3], usage[5] = 900, 100
    model.stats = {**model.stats, "usage": usage}
    g = explorer.random_grid(model, seed=0, shape=(50, 50))
    assert g.shape == (50, 50) and torch.equal(g, explorer.random_grid(model, seed=0, shape=(50, 50)))
    share = torch.bincount(g.flatten(), minlength=K).float() / g.numel()
    assert abs(share[3] - 0.9) < 0.03 and abs(share[5] - 0.1) < 0.03 and share.sum() - share[3] - share[5] < 0.01


def test_the_codebook_opens_on_the_most_used_code_with_contrast_not_the_flat_background(explorer, catalog):
    import copy
    model = copy.copy(catalog.get(NAME))
    spread = explorer.tiles(model).float().flatten(2).std(2).mean(1)   # contrast across each tile's pixels
    flat, sharp = int(spread.argmin()), int(spread.argmax())
    usage = torch.arange(len(spread))
    usage[flat], usage[sharp] = 10_000, 5_000             # the flattest tile is the most used of all
    model.stats = {**model.stats, "usage": usage}
    assert explorer.most_used_code(model) == flat         # the painter's background
    assert explorer.telling_code(model) == sharp          # what the Codebook tab shows first


def test_the_service_layer_does_what_the_tabs_need(explorer, tmp_path, catalog):
    """What the tabs used to do with the model themselves: decode a grid still being sampled, take the painter's
    selection as the cells to sample, draw one grid, encode an uploaded image."""
    model = catalog.get(NAME)
    background = explorer.most_used_code(model)
    partial = torch.full((1, 7, 7), -1)
    partial[0, 0, 0] = (background + 1) % 32
    full = torch.full((1, 7, 7), background)
    full[0, 0, 0] = partial[0, 0, 0]
    assert torch.equal(explorer.decode_partial(model, partial), model.decode(full))
    from vq_explorer.ui.history import History
    from vq_explorer.ui.paint import painter_constraints
    hist = History.new(torch.arange(49).view(7, 7) % 32)
    region = torch.zeros(7, 7, dtype=torch.bool)
    region[2] = True
    grid, fixed = painter_constraints(model, hist, region.tolist())
    assert torch.equal(grid, torch.tensor(hist["grid"])) and torch.equal(fixed, ~region)
    for bad_hist, bad_region, code in ((None, region, "painter_empty"), (hist, None, "no_region_selected"),
                                       (hist, torch.zeros(7, 7, dtype=torch.bool), "no_region_selected")):
        with said(code):
            painter_constraints(model, bad_hist, bad_region)
    drawn = explorer.sample_grid(model, 3, seed=5)
    assert drawn.shape == model.grid and torch.equal(drawn, explorer.sample_grid(model, 3, seed=5))
    assert not torch.equal(drawn, explorer.sample_grid(model, 4, seed=5))   # the class reaches the prior
    # the temperature too: the same seed's uniform numbers pick other codes from a sharper distribution
    assert not torch.equal(drawn, explorer.sample_grid(model, 3, temperature=0.05, seed=5))
    p = tmp_path / "digit.png"
    Image.fromarray((model.examples[0, 0]).numpy()).save(p)
    grid, notes = explorer.encode_image(model, str(p))
    assert torch.equal(grid, model.encode(model.examples[:1].float() / 255)[0]) and notes == []


def test_a_drawing_for_a_fashion_model_fills_the_square_as_fashion_mnist_items_do(explorer, catalog):
    """Fashion-MNIST scaled each item's long side to all 28 pixels and centred its box; framing a drawn shirt
    into MNIST's 20-pixel box would hand the model a shrunken item it never saw."""
    import copy
    model = copy.copy(catalog.get(NAME))
    model.config = {**model.config, "dataset": "fashion_mnist"}
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[40:120, 30:270, 3] = 255             # a wide, heavy top ...
    rgba[120:200, 30:40, 3] = 255             # ... with a thin strap hanging from its left end
    x, notes = explorer.drawing_to_input(model, rgba)
    ys, xs = np.nonzero(x[0, 0].numpy() > 0.1)
    assert xs.min() == 0 and xs.max() == 27                       # the long side spans the square
    assert abs((ys.min() + ys.max()) / 2 - 13.5) <= 1             # the box, not the ink, is centred
    assert notes[0].code == "drawing_framed" and notes[0].params == {"px": 28, "side": 28}
    x, notes = explorer.drawing_to_input(catalog.get(NAME), rgba)   # the MNIST model keeps its own framing
    ys, xs = np.nonzero(x[0, 0].numpy() > 0.1)
    assert xs.max() - xs.min() <= 21
    assert notes[0].code == "drawing_framed_mass" and notes[0].params == {"px": 20, "side": 28}


def test_a_drawing_is_centred_by_its_mass_not_by_where_any_ink_is():
    """A heavy stroke with a faint tail: MNIST centres digits by the mass of their ink, so the heavy part must sit
    in the middle; centring the bare pixels would pull it towards the tail."""
    from vq_explorer.storage.images import frame_like_dataset
    mask = np.zeros((100, 100), np.float32)
    mask[:, :50] = 1.0                # heavy ink on the left half
    mask[:, 50:] = 0.08               # a faint wash on the right half: half the pixels, 7% of the ink
    out = frame_like_dataset(mask)
    ys, xs = np.indices(out.shape)
    cy, cx = (ys * out).sum() / out.sum(), (xs * out).sum() / out.sum()
    assert abs(cy - 13.5) < 1.5 and abs(cx - 13.5) < 1.0, (cy, cx)   # (the plain centroid: x = 9.2)
