"""The UI handlers as plain functions, then the named endpoints through gradio_client on a launched app."""

import json
import os
import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from conftest import said, states, words
from PIL import Image

from vq_explorer import service
from vq_explorer.messages import error_text, note_text
from vq_explorer.service.errors import Note, UserError

NAME = "tiny.safetensors"


@pytest.fixture
def png_file(tmp_path):
    p = tmp_path / "seven.png"
    Image.fromarray((np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)).save(p)
    return str(p)


# --- handlers ---------------------------------------------------------------------------------------------
def test_open_checkpoint_fills_every_view(explorer, catalog):
    from vq_explorer.ui import open_checkpoint
    out = open_checkpoint(catalog, NAME)
    assert "7×7" in words(out["about"]) and states(out["about"]) == {"model-tiny"}
    assert len(out["examples"]) == 6 and len(out["painter"][0]["grid"]) == 7
    classes = ["(any)", *map(str, range(10))]
    assert out["paint_class"]["choices"] == classes and out["paint_class"]["value"] == "(any)"
    # Sample opens on the first class by name, and its first sheet is of that class
    assert out["sample_class"]["choices"] == classes and out["sample_class"]["value"] == "0"
    assert out["code"][0] == explorer.telling_code(catalog.get(NAME))
    original, recon, _, _, _, summary, grid_json, token = out["reconstruction"]   # first screens: never empty
    assert Image.open(recon).size[0] >= 224 and "shipped example 1 (a " in words(summary)   # panels
    from vq_explorer.ui import quantize  # and its quantization's closest call next
    error_map, margin_map, _, cell_text, *_ = quantize.panel(catalog, NAME, token)
    assert Image.open(error_map).size == Image.open(margin_map).size and "cell (" in words(cell_text)
    assert json.loads(grid_json)["grid"] == catalog.get(NAME).encode(
        catalog.get(NAME).examples[:1].float() / 255)[0].tolist()
    grid_pic, decoded, _, status, grids = out["samples"]
    assert states(status) == {"opening"} and np.array(json.loads(grids)["grids"]).shape == (4, 7, 7)
    model = catalog.get(NAME)
    zeros = model.sample(4, labels=torch.zeros(4, dtype=torch.long), seed=0)
    assert json.loads(grids)["grids"] == zeros.tolist()   # the sheet is four samples of class "0"
    assert (np.array(json.loads(grids)["grids"]) >= 0).all() and Image.open(decoded).size[0] >= 224
    steps, guidance = out["sample_controls"]          # a PixelCNN: the masked prior's controls stay off
    assert steps["interactive"] is False and guidance["interactive"] is False


def test_a_switch_fills_only_the_asked_tabs_views_and_leaves_the_others_as_they_are(catalog):
    """Choosing a checkpoint fills the open tab's views (and the description and class lists every tab shares);
    another tab's components are left alone (gr.skip) until that tab is opened."""
    import gradio as gr

    from vq_explorer.ui import TAB_VIEWS, open_checkpoint, views_on_open
    shared = {"about", "paint_class", "sample_class"}
    for tab, own in TAB_VIEWS.items():
        assert open_checkpoint(catalog, NAME, tabs=[tab]).keys() == shared | set(own), tab
    assert open_checkpoint(catalog, NAME, tabs=["tradeoff"]).keys() == shared   # a tab with no model views
    every = open_checkpoint(catalog, NAME)
    views = {k: [f"{k}.{i}" for i in range(len(v) if isinstance(v, tuple) else 1)] for k, v in every.items()}
    outputs, handler = views_on_open(catalog, views)
    got = dict(zip(outputs, handler(NAME, None, "codebook"), strict=True))
    assert got["code.0"] == every["code"][0] and got["about.0"] == every["about"]
    skipped = [c for k, comps in views.items() if k not in shared | set(TAB_VIEWS["codebook"]) for c in comps]
    assert skipped and all(got[c] == gr.skip() for c in skipped)
    told = []                            # the progress bar: told of each view before it is computed, in order
    values = open_checkpoint(catalog, NAME, tabs=["codebook"], step=lambda i, n, view: told.append((i, n, view)))
    assert [view for _, _, view in told] == list(values) and [(i, n) for i, n, _ in told] == [
        (i, len(values)) for i in range(len(values))]


def test_the_quantization_panel_explains_the_reconstructed_grid_cell_by_cell(png_file, catalog):
    """After a reconstruction: both maps at the grid's shape, the closest call shown first, a click on a map
    opening that cell (its ranked codes, the chosen one first and the model's own), and the runner-up's grid
    differing from the reconstructed one in that cell alone."""
    from vq_explorer.service import quantization
    from vq_explorer.ui import quantize, reconstruct
    from vq_explorer.views import pictures
    *_, grid_json, token = reconstruct.reconstruct(catalog, png_file, NAME)
    grid = np.array(json.loads(grid_json)["grid"])
    error_map, margin_map, intro, text, chart, nearest, picture, swapped = quantize.panel(catalog, NAME, token)
    px = pictures.cell_px_for(grid.shape)
    assert Image.open(error_map).size == Image.open(margin_map).size == (7 * px, 7 * px)
    name, x = service.recall_input(token)
    q = quantization.quantization(catalog.get(name), x)
    first = quantize.closest_call(q)
    assert f"cell ({first[0]}, {first[1]})" in words(text) and f"cell-{first[0]}-{first[1]}" in states(text)
    assert float(q.margin[first]) == float(q.margin.min())
    for row, col in ((0, 0), (3, 5), (6, 6)):
        event = gr.SelectData(None, {"index": [col * px + px // 2, row * px + 1], "value": None})
        *_, text, chart, nearest, picture, swapped = quantize.select(catalog, NAME, token, event)
        assert words(text).startswith(f"**cell ({row}, {col})**: code **{grid[row, col]}**")
        assert states(text) == {f"cell-{row}-{col}", "grid-7x7"}
        assert nearest[0][1].startswith(f"#{grid[row, col]} ·") and nearest[0][1].endswith("chosen")
        assert len(nearest) == quantization.TOP and Image.open(picture).size[0] > Image.open(picture).size[1]
        runner_up = int(nearest[1][1].split(" ")[0][1:])
        other = np.array(json.loads(swapped)["grid"])
        assert other[row, col] == runner_up != grid[row, col] and (other != grid).sum() == 1
        assert list(chart.data[0].y) == pytest.approx(q.z[row, col].tolist(), abs=1e-6)
    with said("no_cell_clicked"):
        quantize.select(catalog, NAME, token, gr.SelectData(None, {"index": [7 * px + 3, 2], "value": None}))
    with said("reconstruction_forgotten"):
        quantize.select(catalog, NAME, "gone", gr.SelectData(None, {"index": [1, 1], "value": None}))


def test_each_view_goes_to_its_own_components(catalog):
    """The handler lays each named view's values onto that view's components, whatever the order of the views;
    a layout that misses a view fails loudly instead of shifting every later value."""
    from vq_explorer.ui import open_checkpoint, views_on_open
    values = open_checkpoint(catalog, NAME)
    names = list(values)[::-1]                                   # any order
    views = {k: [f"{k}.{i}" for i in range(len(values[k]) if isinstance(values[k], tuple) else 1)] for k in names}
    outputs, handler = views_on_open(catalog, views)
    got = dict(zip(outputs, handler(NAME), strict=True))
    assert got["about.0"] == values["about"] and got["code.0"] == values["code"][0]
    assert got["painter.0"] == values["painter"][0] and got["sample_controls.1"] == values["sample_controls"][1]
    _, handler = views_on_open(catalog, {k: v for k, v in views.items() if k != "atlas"})
    with pytest.raises(KeyError, match="atlas"):
        handler(NAME)


def test_reconstruct_handler_outputs(png_file, catalog):
    from vq_explorer.ui import reconstruct
    outputs = reconstruct.reconstruct(catalog, png_file, NAME)
    original, recon, error, grid_fig, surprise_fig, summary, grid_json, token = outputs
    for p in (original, recon, error):
        assert Image.open(p).size[0] >= 224   # enlarged for display
    from vq_explorer import service
    from vq_explorer.views import pictures
    model = catalog.get(NAME)
    x, _ = service.load_image(model, png_file)   # (1, C, H, W) in [0, 1]
    shown = [np.asarray(Image.open(p)) for p in (original, recon)]
    assert np.array_equal(shown[0], pictures.to_rgb(x[0]))                                  # the upload as seen
    assert np.array_equal(shown[1], pictures.to_rgb(model.decode(model.encode(x))[0]))      # its decoded codes
    assert not np.array_equal(shown[0], shown[1])
    mse = float((model.decode(model.encode(x)) - x).pow(2).mean())
    assert f"**MSE** {mse:.4f}" in words(summary) and "bits" in words(summary)
    assert states(summary) == {"recon", "model-tiny"}
    assert len(json.loads(grid_json)["grid"]) == 7
    assert grid_fig.data[0].text[0][0] == str(json.loads(grid_json)["grid"][0][0])
    assert surprise_fig.data[0].z.shape == (7, 7)


def test_reconstruct_handler_errors_are_messages(tmp_path, catalog):
    from vq_explorer.ui import reconstruct
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    with pytest.raises(gr.Error, match="not an image"):
        reconstruct.reconstruct(catalog, str(bad), NAME)
    with said("no_upload"):
        reconstruct.reconstruct(catalog, None, NAME)
    with said("unknown_checkpoint"):
        reconstruct.reconstruct(catalog, str(bad), "../secrets.safetensors")


def test_unexpected_errors_become_a_polite_message():
    from vq_explorer.ui.common import guarded

    @guarded
    def broken():
        raise ZeroDivisionError("secret internals in /srv/app/model.py")
    with pytest.raises(gr.Error, match="still running") as e:
        broken()
    assert "internals" not in e.value.message and "ZeroDivisionError" in e.value.message   # the kind, not the text


def _picture(data_url: str) -> np.ndarray:
    import base64
    import io
    assert data_url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))))


def test_the_painters_fast_path_decodes_what_the_browser_painted(catalog):
    """decode_cells is what the browser calls during a stroke: the picture of exactly the grid sent, at the
    image's own size (the page enlarges it); anything else gets a message, never an exception."""
    from vq_explorer.ui import paint
    model = catalog.get(NAME)
    grid = torch.randint(0, 32, (7, 7))
    out = paint.decode_cells(catalog, {"checkpoint": NAME, "grid": grid.tolist()})
    expected = (model.decode(grid[None])[0, 0].clamp(0, 1) * 255).round().numpy()
    assert np.abs(_picture(out["decoded"])[..., 0].astype(float) - expected).max() <= 1
    other = paint.decode_cells(catalog, {"checkpoint": NAME, "grid": (31 - grid).tolist()})
    assert not np.array_equal(_picture(out["decoded"]), _picture(other["decoded"]))
    for bad, match in [({"checkpoint": NAME, "grid": [[99] * 7] * 7}, "out of range"),
                       ({"checkpoint": "../x.safetensors", "grid": grid.tolist()}, "unknown checkpoint"),
                       ({"checkpoint": NAME, "grid": [[1, 2]]}, "shape"), ("not a dict", "expected"),
                       (None, "expected")]:
        assert match in paint.decode_cells(catalog, bad)["error"]


def test_a_stroke_from_the_browser_becomes_one_undoable_step(catalog):
    from vq_explorer.ui import paint
    hist, region, canvas, js, info = paint.reset(catalog, NAME)
    assert canvas["grid"] == hist["grid"] and canvas["checkpoint"] == NAME and len(canvas["colours"]) == 32
    assert _picture(canvas["decoded"]).shape[:2] == (28, 28)
    painted = torch.tensor(hist["grid"])
    code = (int(painted[6, 0]) + 5) % 32
    painted[6] = code                                          # a brush stroke along the last row
    selected = [[r == 0 for c in range(7)] for r in range(7)]
    stroke = {"checkpoint": NAME, "grid": painted.tolist(), "region": selected}
    hist2, region2, js2, info2 = paint.stroke(catalog, NAME, hist, region, stroke)
    assert hist2["grid"] == painted.tolist() and json.loads(js2)["grid"][6] == [code] * 7
    assert region2 == selected and "7 cells selected" in words(info2) and "undo 1 /" in words(info2)
    assert states(info2) == {"undo-1", "context-before"} and "undo-0" in states(info)
    again = paint.stroke(catalog, NAME, hist2, region2, stroke)[0]   # a selection-only stroke adds no step
    assert len(again["undo"]) == 1
    undone = paint.edit(catalog, "undo", NAME, hist2, region2, code, False)
    assert undone[0]["grid"] == hist["grid"] and undone[2]["grid"] == hist["grid"]   # the canvas redraws too
    assert undone[2]["version"] != canvas["version"]
    for bad, code in [({**stroke, "checkpoint": "other.safetensors"}, "stroke_other_grid"),
                      ({**stroke, "grid": [[99] * 7] * 7}, "grid_code_out_of_range"),
                      ({**stroke, "region": [[2] * 7] * 7}, "selection_shape"),
                      ({**stroke, "region": None}, "selection_shape"),
                      ("junk", "stroke_other_grid")]:
        with said(code):
            paint.stroke(catalog, NAME, hist, region, bad)


def test_paint_region_and_resample(catalog):
    from vq_explorer.ui import paint
    hist, region, *_ = paint.edit(catalog, "random", NAME, paint.reset(catalog, NAME)[0], None, 0, False)
    reg = torch.zeros(7, 7, dtype=torch.bool)
    reg[:2, :3] = True
    h3, *_ = paint.resample(catalog, NAME, hist, reg.tolist(), "4", 1.0, False)
    old, new = torch.tensor(hist["grid"]), torch.tensor(h3["grid"])
    assert torch.equal(old[~reg], new[~reg]) and not torch.equal(old[reg], new[reg])
    looks = paint.view(catalog, NAME, hist, reg.tolist(), True)[2]            # cells shown as their decoded look
    sprite = _picture(looks["tiles"])
    th, tw = looks["tile_size"]
    assert sprite.shape[:2] == (th * 1, tw * 32) and looks["tile_cols"] == 32   # 32 codes, 32 to a row


def test_paint_import_export_and_bad_json(tmp_path, catalog):
    from vq_explorer.ui import paint
    grid = [[(r + c) % 32 for c in range(7)] for r in range(7)]
    hist, *_, js, _ = paint.import_grid(catalog, json.dumps(grid), NAME)
    assert hist["grid"] == grid
    path = paint.export_grid(NAME, hist)
    assert json.load(open(path))["grid"] == grid
    from vq_explorer.ui import common
    assert Path(path).parent == common._TMP   # the folder the app sweeps, not the system's temporary folder
    with said("grid_wrong_shape", shape="1×2"):
        paint.import_grid(catalog, "[[1, 2]]", NAME)
    with said("grid_not_json"):
        paint.import_grid(catalog, "{{{", NAME)


def test_palette_and_codebook_handlers(catalog):
    from vq_explorer import service
    from vq_explorer.ui import codebook, paint
    from vq_explorer.views import pictures
    palette = paint.palette(catalog, NAME)
    uses = service.usage(catalog.get(NAME))
    codes = [int(label.split(" · ")[0][1:]) for _, label in palette]
    assert len(palette) == 32 and sorted(codes) == list(range(32))
    assert [int(uses[k]) for k in codes] == sorted(uses.tolist(), reverse=True)     # most used first
    for i in (0, 5, 31):    # clicking the palette's i-th tile selects that tile's code
        assert paint.pick_code(catalog, NAME, gr.SelectData(None, {"index": i, "value": None})) == codes[i]
    summary, hist_fig, pca_fig, head = codebook.stats(catalog, NAME, True)
    assert summary["num_codes"] == 32 and "perplexity" in words(head) and hist_fig.layout.yaxis.type == "log"
    atlas = np.array(Image.open(codebook.atlas(catalog, NAME)))     # 32 codes: one row of 32 tiles
    pitch = codebook.ATLAS_PX + 1
    assert atlas.shape == (codebook.ATLAS_PX, 32 * pitch - 1, 3)
    tiles = service.tiles(catalog.get(NAME))
    for k in (0, 5, 31):    # clicking a tile selects its code, and the tile is that code's decoded look
        look = np.array(Image.fromarray(pictures.to_rgb(tiles[k], None)).resize((codebook.ATLAS_PX,) * 2,
                                                                               Image.NEAREST))
        assert (atlas[:, k * pitch:k * pitch + codebook.ATLAS_PX] == look).all()
        event = gr.SelectData(None, {"index": [k * pitch + pitch // 2, pitch // 2], "value": None})
        assert codebook.select_tile(catalog, NAME, 1, event)[0] == k
    with said("no_tile_clicked"):        # beyond the last code
        codebook.select_tile(catalog, NAME, 1, gr.SelectData(None, {"index": [5, pitch + 3], "value": None}))
    tile, patches, text = codebook.show_code(catalog, NAME, 3)
    assert "code 3" in text
    with said("code_out_of_range", code=99):
        codebook.show_code(catalog, NAME, 99)


def test_a_forgotten_lab_model_leaves_no_cached_view_holding_it(catalog):
    """The painter's decoded looks and the codebook's tiles are cached per model; once the catalog forgets a lab
    model (its session ended) and nothing else holds it, those caches must not keep it and its weights alive."""
    import gc
    import weakref

    from conftest import make_tiny_model

    from vq_explorer import service
    from vq_explorer.ui import codebook, paint
    model = make_tiny_model(classes=None, image_size=(28, 28))
    gone = weakref.ref(model)
    name = catalog.register(model, "test")
    hist, *_ = paint.import_grid(catalog, json.dumps([[1] * 7 for _ in range(7)]), name)
    looks = paint.view(catalog, name, hist, None, True)[2]          # the painter's sprite of decoded looks
    assert looks["tiles"].startswith("data:image/png")
    assert Image.open(codebook.atlas(catalog, name)).size[0] > 32   # the codebook's tiles, in its atlas
    assert service.tiles(model) is service.tiles(model)             # cached, not recomputed
    catalog.forget([name])
    del model
    gc.collect()
    assert gone() is None


def test_sample_handler_streams_every_cell(catalog):
    from vq_explorer.ui import sample
    frames = list(sample.sample(catalog, NAME, "2", 1.0, 5, 3, 2, "fast"))
    assert len(frames) == 49
    assert states(frames[0][3]) == {"cell"} and states(frames[-1][3]) == {"cell", "done"}
    assert frames[0][4] == ""
    grids = json.loads(frames[-1][4])["grids"]
    assert np.array(grids).shape == (2, 7, 7)
    instant = list(sample.sample(catalog, NAME, "2", 1.0, 5, 3, 2, "instant"))
    assert len(instant) == 1 and json.loads(instant[0][4])["grids"] == grids   # same seed, same samples


def test_sample_from_painter_keeps_locked_cells(catalog):
    from vq_explorer.ui import paint, sample
    hist = paint.edit(catalog, "random", NAME, paint.reset(catalog, NAME)[0], None, 0, False)[0]
    region = np.zeros((7, 7), bool)
    region[5:] = True
    *_, last = sample.sample(catalog, NAME, "(any)", 1.0, 0, 1, 1, "instant", True, hist, region.tolist())
    out = np.array(json.loads(last[4])["grids"][0])
    assert (out[:5] == np.array(hist["grid"])[:5]).all()
    with said("no_region_selected"):
        list(sample.sample(catalog, NAME, "(any)", 1.0, 0, 1, 1, "fast", True, hist, None))


def test_sampling_a_photos_grid_from_the_painter_follows_that_grid_and_streams_in_seconds(tmp_path,
                                                                                        monkeypatch):
    """A colour model encodes a photo at its own size, so the painter can hold a grid far larger than the
    model's training grid (64×64 for a 256-px photo). Sampling a region of it: the status counts that grid's
    cells, the grid picture is sized for it, and "normal" speed streams it a row at a time, in seconds."""
    from conftest import make_tiny_model

    import vq_explorer as vqe
    from vq_explorer.service import Catalog
    from vq_explorer.ui import sample
    from vq_explorer.ui.history import History
    vqe.save(make_tiny_model(channels=3, image_size=(12, 12)), tmp_path / "colour.safetensors")
    catalog = Catalog(tmp_path)
    assert catalog.get("colour.safetensors").grid == (3, 3)
    side = 24
    hist = History.push(None, torch.randint(0, 32, (side, side)))
    region = np.zeros((side, side), bool)
    region[10:14, 5:20] = True
    slept = []
    monkeypatch.setattr(sample.time, "sleep", slept.append)
    frames = list(sample.sample(catalog, "colour.safetensors", "(any)", 1.0, 0, 3, 1, "normal", True, hist,
                                region.tolist()))
    assert len(frames) == side                        # one frame a row
    assert words(frames[0][3]).startswith(f"cell (0, {side - 1}) · {side}/{side * side} ·"), frames[0][3]
    assert words(frames[-1][3]).startswith(f"cell ({side - 1}, {side - 1}) · {side * side}/{side * side} ·")
    picture = np.array(Image.open(frames[-1][0]))
    assert picture.shape[0] == picture.shape[1] and picture.shape[0] % side == 0 and picture.shape[0] <= 512
    assert sum(slept) <= 0.06 * side + 1e-9           # the "normal" pace per row, not per cell
    out = np.array(json.loads(frames[-1][4])["grids"][0])
    assert out.shape == (side, side) and (out[~region] == np.array(hist["grid"])[~region]).all()


# --- the launched app through gradio_client --------------------------------------------------------------
@pytest.fixture(scope="module")
def client(ckpt_dir):
    from gradio_client import Client

    from vq_explorer.ui import LAUNCH, build_demo
    demo = build_demo(ckpt_dir)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **LAUNCH)
    # the settings app.py uses: bounded session state, an upload limit, a sweep of Gradio's file cache
    assert demo.state_holder.capacity == LAUNCH["state_session_capacity"] > 0 and demo.delete_cache[1] > 0
    yield Client(url, verbose=False)
    demo.close()


@pytest.mark.slow
def test_client_reconstruct(client, png_file):
    from gradio_client import handle_file
    out = client.predict(handle_file(png_file), api_name="/reconstruct")
    original, recon, error, grid_fig, surprise_fig, summary, grid_json = out
    assert Image.open(recon).size[0] >= 224 and "PSNR" in summary
    assert np.array(json.loads(grid_json)["grid"]).shape == (7, 7)


def test_the_quantization_panel_of_an_fsq_lab_model_shows_each_numbers_rounding(png_file, catalog):
    """A model without a prior and without a codebook to search (FSQ, trained in the lab): the panel explains
    each projected number's rounding, and its runner-up is the code one flip away."""
    from conftest import tiny_vq

    from vq_explorer.models.model import VQModel
    from vq_explorer.models.vqvae import VQVAE
    from vq_explorer.service import quantization
    from vq_explorer.storage.checkpoint import make_config
    from vq_explorer.ui import quantize, reconstruct
    torch.manual_seed(0)
    cfg = tiny_vq(downsample=4, init="none", fsq_levels=[8, 4], num_codes=32)
    name = catalog.register(VQModel(VQVAE(cfg).eval(), None, make_config(cfg, None, "mnist", (28, 28))), "fsq")
    *_, token = reconstruct.reconstruct(catalog, png_file, name)
    error_map, margin_map, intro, text, chart, nearest, picture, swapped = quantize.panel(catalog, name, token)
    assert "FSQ" in intro and "| dimension | value | level | distance from flipping |" in words(text)
    model = catalog.get(name)
    q = quantization.quantization(model, service.recall_input(token)[1])
    row, col = quantize.closest_call(q)
    assert words(text).startswith(f"**cell ({row}, {col})**: code **{int(q.grid[row, col])}**")
    assert len(chart.data[0].y) == 2 and nearest[0][1] == f"#{int(q.grid[row, col])} · chosen"
    if len(nearest) == 2:   # the flipped code differs from the chosen one in that cell alone
        other = np.array(json.loads(swapped)["grid"])
        assert (other != q.grid.numpy()).sum() == 1 and other[row, col] == int(nearest[1][1].split(" ")[0][1:])
    catalog.forget([name])


def test_the_reconstructed_image_as_a_file_downloads_and_uploads_back_to_its_grid(png_file, catalog, tmp_path):
    """"Compress it" writes the file of the prior's bits and says what it costs beside WebP, JPEG and AVIF at the
    same PSNR; uploading that file decodes it (the grid it holds), and a file of another model, or a damaged one,
    is refused with its reason."""
    pytest.importorskip("constriction")
    from vq_explorer.service import codec
    from vq_explorer.ui import compressed, reconstruct
    *_, grid_json, token = reconstruct.reconstruct(catalog, png_file, NAME)
    said_of_it, path = compressed.make_file(catalog, NAME, token)
    text = words(said_of_it)
    data = open(path, "rb").read()
    assert f"**As a file: {len(data):,} bytes**" in text and "PNG" in text
    assert all(f"{called} " in text for called in ("WebP", "JPEG", "AVIF"))
    grid = json.loads(grid_json)["grid"]
    assert codec.decode_grid(catalog.get(NAME), data)[0].tolist() == grid
    *_, summary, grid_back, _ = reconstruct.reconstruct(catalog, path, NAME)
    assert note_text(Note("decoded_file", size=len(data))) in words(summary) and "decoded-file" in states(summary)
    damaged = tmp_path / "damaged.vqe"
    damaged.write_bytes(data[:-4] + bytes(4))
    with pytest.raises(gr.Error) as e:
        reconstruct.reconstruct(catalog, str(damaged), NAME)
    assert e.value.code in ("file_checksum", "file_undecodable")
    other = tmp_path / "other.vqe"
    other.write_bytes(data[:2] + b"\x00\x00\x00" + data[5:])
    with said("file_model_missing"):
        reconstruct.reconstruct(catalog, str(other), NAME)


def test_the_painter_says_what_its_grid_costs_as_a_file_as_it_changes(catalog):
    pytest.importorskip("constriction")
    import re

    from vq_explorer.service import codec
    from vq_explorer.ui import paint
    model = catalog.get(NAME)
    for seed in range(3):
        grid = [[(r * 7 + c * seed + seed) % 32 for c in range(7)] for r in range(7)]
        info = paint.import_grid(catalog, json.dumps(grid), NAME)[4]
        said = int(re.search(r"a compressed file of about (\d+) bytes", words(info)).group(1))
        assert said == len(codec.encode_grid(model, torch.tensor(grid)))


def test_client_quantization_returns_the_grid_and_both_maps(client, png_file, catalog):
    from gradio_client import handle_file

    from vq_explorer import service
    from vq_explorer.service import quantization
    out = client.predict(handle_file(png_file), NAME, api_name="/quantization")
    model = catalog.get(NAME)
    x, _ = service.load_image(model, png_file)
    q = quantization.quantization(model, x)
    assert out["checkpoint"] == NAME and out["kind"] == "vq"
    assert out["grid"] == model.encode(x)[0].tolist() == q.grid.tolist()
    assert np.allclose(out["error"], q.error.numpy(), rtol=1e-5) and np.array(out["margin"]).shape == (7, 7)
    with pytest.raises(Exception, match="not an image"):
        bad = png_file.replace(".png", ".txt.png")
        open(bad, "w").write("hello")
        client.predict(handle_file(bad), NAME, api_name="/quantization")


@pytest.mark.slow
def test_client_reconstruct_bad_file_gets_the_message(client, tmp_path):
    from gradio_client import handle_file
    bad = tmp_path / "fake.png"
    bad.write_text("I am not a PNG")
    with pytest.raises(Exception, match="not an image"):
        client.predict(handle_file(str(bad)), api_name="/reconstruct")
    assert client.predict(api_name="/codebook_stats")[0]["num_codes"] == 32   # still serving


@pytest.mark.slow
def test_client_decode_grid_sample_and_stats(client):
    grid = [[(3 * r + c) % 32 for c in range(7)] for r in range(7)]
    out = client.predict(json.dumps(grid), api_name="/decode_grid")
    painter, grid_back, info = out          # gr.State outputs are not part of the API
    assert _picture(painter["decoded"]).shape[:2] == (28, 28) and painter["grid"] == grid
    assert json.loads(grid_back)["grid"] == grid and "bits" in info
    out_of_range = error_text(UserError("grid_code_out_of_range", code=99, last=31))    # the words the API sends
    with pytest.raises(Exception, match=re.escape(out_of_range)):
        client.predict(json.dumps([[99] * 7] * 7), api_name="/decode_grid")
    res = client.predict(NAME, "1", 1.0, 0, 5, 2, "instant", api_name="/sample")
    assert np.array(json.loads(res[4])["grids"]).shape == (2, 7, 7)
    stats = client.predict(NAME, True, api_name="/codebook_stats")
    assert stats[0]["num_codes"] == 32 and "perplexity" in stats[3]


@pytest.mark.slow
def test_client_upload_over_the_size_limit_is_refused(client, tmp_path):
    from gradio_client import handle_file
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + os.urandom(11 * 1024 * 1024))
    with pytest.raises(ValueError, match="size"):
        client.predict(handle_file(str(big)), api_name="/reconstruct")


TRADEOFF_CSV = (
    "model,dataset,grid,K,prior,vqvae_epochs,prior_epochs,prior_minutes,mse,psnr,bits_per_code,bits_per_image,"
    "sample_accuracy,sample_ms_b1,sample_ms_b16,plain_ms_b16,plain_ms_b1,speedup_b16,speedup_b1,decode_ms,"
    "params_prior,sample_steps,image_dims\n"
    "mnist,mnist,7x7,512,pixelcnn,20,8,49.0,0.00167,27.8,4.4,215.8,0.952,151,16.2,117.9,312,7.3,2.1,0.4,990528,49,784\n"
    "mnist_4x4,mnist,4x4,512,pixelcnn,20,8,20.7,0.00514,22.9,6.1,97.7,0.968,58,5.8,28.3,170,4.8,2.9,0.3,990528,16,"
    "784\n"
    "mnist_tf,mnist,7x7,512,transformer,20,8,36.0,0.00167,27.8,4.2,205.1,0.97,90,9.5,60.0,120,6.3,1.3,0.4,927744,49,"
    "784\n"
    "mnist_rnn,mnist,7x7,512,rnn,20,8,12.0,0.00167,27.8,4.9,240.0,0.90,40,3.0,30.0,80,10,2,0.4,1000000,49,784\n"
    "mnist_mg,mnist,7x7,512,maskgit,20,8,30.0,0.00167,27.8,,,0.98,50,12.0,,,,,0.4,950000,8,784\n"
    "cifar10,cifar10,8x8,1024,pixelcnn,50,15,78.0,0.0029,25.4,9.0,576.0,,300,40.0,300,900,7.5,3,1.0,2000000,64,"
    "3072\n")


def tradeoff_rows(tmp_path, text=TRADEOFF_CSV):
    from vq_explorer.views import results
    (tmp_path / "tradeoff.csv").write_text(text)
    return results.read_rows(tmp_path)


def test_tradeoff_grid_table_holds_one_row_per_vqvae_from_the_results_file(tmp_path):
    from vq_explorer.ui import tradeoff
    from vq_explorer.views import results
    assert results.read_rows(tmp_path) == [] and "No measurements" in results.grid_table([])
    rows = tradeoff_rows(tmp_path)
    lines = results.grid_table(rows).splitlines()
    assert len(lines) == 2 + 3   # the PixelCNN rows only: one per VQ-VAE (cifar10, mnist 7×7, mnist 4×4)
    assert lines[2] == ("| cifar10 | 8×8 | 1024 | 50 / 15 | 0.0029 | 25.4 dB | 576 | 0.188 | — | 300 | 40.0 | "
                        "7.5× |")   # bits per dimension: 576 bits over 32·32·3 numbers
    assert lines[3].startswith("| mnist | 7×7 | 512 | 20 / 8 | 0.0017 | 27.8 dB | 216 | 0.275 | 95.2% | 151 |")
    Image.new("RGB", (8, 8)).save(tmp_path / "mnist_samples.png")
    assert tradeoff.sheets(rows, tmp_path) == [(str(tmp_path / "mnist_samples.png"), "mnist · 7×7 Gated PixelCNN")]


def test_tradeoff_chart_has_a_labelled_marker_per_model_and_the_steps_as_a_line(tmp_path):
    from vq_explorer.ui import tradeoff
    from vq_explorer.views import charts
    rows = tradeoff_rows(tmp_path)
    steps = [{"grid": "7x7", "prior": "maskgit", "steps": s, "guidance": "0", "accuracy": a, "ms_b1": t,
              "ms_b16": t / 4} for s, a, t in (("8", "0.9", 20.0), ("1", "0.5", 3.0))]
    fig = tradeoff.chart(rows, steps)
    psnr = [d for d in fig.data if d.yaxis in (None, "y") and d.mode == "markers+text"]
    assert [(d.text[0], d.x[0], d.y[0]) for d in psnr][:2] == [("7×7 MNIST VQ-VAE (4 priors)", 151.0, 27.8),
                                                                ("4×4 MNIST VQ-VAE", 58.0, 22.9)]
    assert len(psnr) == len(rows)
    # the PSNR is the VQ-VAE's: named once, not once per prior over it
    assert sorted(d.text[0] for d in psnr if d.y[0] == 27.8)[:3] == ["", "", ""]
    classes = [d for d in fig.data if d.yaxis == "y2" and d.mode == "markers+text"]
    assert len(classes) == len(rows) - 1   # cifar10 has no classifier figure
    assert {d.text[0] for d in classes} >= {"7×7 Gated PixelCNN", "7×7 RNN (LSTM)", "4×4 Gated PixelCNN"}
    sides = {d.text[0]: d.textposition for d in classes}
    assert sides["7×7 RNN (LSTM)"] != sides["7×7 Transformer"]   # neighbours' labels point different ways
    line = [d for d in fig.data if d.mode.startswith("lines")]
    assert len(line) == 1 and line[0].x == (3.0, 20.0) and line[0].y == (50.0, 90.0)   # ordered by steps
    batch = tradeoff.chart(rows, steps, "per image in a batch of 16")
    assert batch.data[0].x == (16.2,) and [d for d in batch.data if d.mode.startswith("lines")][0].x == (0.75, 5.0)
    assert charts.overview_figure([], []).data == ()


def test_tradeoff_families_table_sets_all_priors_over_the_same_codes_side_by_side(tmp_path):
    from vq_explorer.views import results
    rows = tradeoff_rows(tmp_path)
    lines = results.families_table(rows).splitlines()
    assert len(lines) == 2 + 4   # the four families over mnist's 7×7 codes; not the 4×4 or cifar10
    assert lines[2] == ("| 7×7 | Gated PixelCNN | mnist | 0.99 M | 8 | 49 | 215.8 | 95.2% | 151 / 312 | "
                        "16.2 / 117.9 |")
    assert lines[4] == "| 7×7 | RNN (LSTM) | mnist_rnn | 1.00 M | 8 | 12 | 240.0 | 90.0% | 40 / 80 | 3.0 / 30.0 |"
    assert lines[5] == ("| 7×7 | masked Transformer (8 steps) | mnist_mg | 0.95 M | 8 | 30 | — (no likelihood) | "
                        "98.0% | 50 / — | 12.0 / — |")
    assert results.families_table([r for r in rows if r["prior"] == "pixelcnn"]) == ""


def test_tradeoff_findings_are_built_from_the_numbers_and_decide_the_rnn_verdict(tmp_path):
    from vq_explorer.ui import tradeoff
    rows = tradeoff_rows(tmp_path)
    text = tradeoff.findings(rows, [])
    assert "7×7 → 4×4 costs 4.9 dB of PSNR (27.8 → 22.9)" in text and "2.6× faster (151 → 58 ms)" in text
    assert "Transformer 205.1, Gated PixelCNN 215.8, RNN (LSTM) 240.0" in text   # ranked by bits
    assert "\"generally a weak model\" holds here" in text and "34.9 bits per image behind the Transformer" in text
    assert "CIFAR-10" in text and "0.188 bits per dimension" in text
    assert "not the digit" in text   # 95.2% and 96.8%: within 3 points
    # other numbers, other words: nothing in them is typed
    strong = TRADEOFF_CSV.replace("4.9,240.0,0.90", "4.9,200.0,0.99")
    text = tradeoff.findings(tradeoff_rows(tmp_path, strong), [])
    assert "does not hold at this size and budget" in text and "-5.1 bits per image against the RNN" not in text
    assert "RNN (LSTM) 200.0, Transformer 205.1" in text
    weak_likelihood = TRADEOFF_CSV.replace("4.9,240.0,0.90", "4.9,240.0,0.99")
    assert "holds for the likelihood" in tradeoff.findings(tradeoff_rows(tmp_path, weak_likelihood), [])
    tie = TRADEOFF_CSV.replace("4.9,240.0,0.90", "4.9,240.0,0.952")   # as often as the PixelCNN's samples
    assert "(tied with the Gated PixelCNN)" in tradeoff.findings(tradeoff_rows(tmp_path, tie), [])
    drift = TRADEOFF_CSV.replace("0.968,58", "0.700,58")
    assert "moves by 25.2 points" in tradeoff.findings(tradeoff_rows(tmp_path, drift), [])


def test_tradeoff_steps_findings_name_the_fewest_steps_that_match_the_cached_prior(tmp_path):
    from vq_explorer.views import results
    (tmp_path / "maskgit_steps.csv").write_text(
        "grid,prior,steps,guidance,accuracy,ms_b1,ms_b16,what\n"
        "7x7,pixelcnn,49,0,0.952,102.0,15.7,mnist: sample + decode\n"
        "7x7,maskgit,1,0.0,0.5,3.0,1.0,mnist_maskgit: sample + decode\n"
        "7x7,maskgit,4,0.0,0.93,12.0,3.0,mnist_maskgit: sample + decode\n"
        "7x7,maskgit,8,0.0,0.96,20.0,6.0,mnist_maskgit: sample + decode\n"
        "7x7,maskgit,2,1.0,1.0,40.0,12.0,mnist_maskgit: sample + decode\n"
        "14x14,maskgit,8,0,,40.0,20.0,\"untrained, prior only\"\n"
        "14x14,pixelcnn,196,0,0.99,150.0,25.0,mnist_14x14: sample + decode\n")   # another grid: not the rival
    rows = results.read_rows(tmp_path, "maskgit_steps.csv")
    lines = results.steps_table(rows).splitlines()
    assert lines[5] == "| 7×7 | maskgit | 8 | 0 | 96.0% | 20.0 | 6.0 | mnist_maskgit: sample + decode |"
    assert lines[7] == "| 14×14 | maskgit | 8 | 0 | — | 40.0 | 20.0 | untrained, prior only |"
    text = results.steps_findings(rows)
    assert "in 1 step takes 3 ms and 50.0%" in text
    assert "8 steps match the Gated PixelCNN within a point (96.0%) in 20 ms, 5.1× faster" in text  # 4 (93%) not
    assert "(g = 1), 2 steps reach 100.0% in 40 ms" in text
    assert results.steps_table([]) == "" and results.steps_findings([]) == ""
    from vq_explorer.views import charts
    fig = charts.steps_figure(rows)   # a masked line per guidance (7×7 rows with a quality), the AR point
    assert fig.data[0].x == (3.0, 12.0, 20.0) and fig.data[0].y == (50.0, 93.0, 96.0)
    assert fig.data[0].text == ("1 step", "4 steps", "8 steps") and fig.data[1].x == (40.0,)
    assert "guidance 1" in fig.data[1].name and fig.data[2].x == (102.0,)


# --- a masked prior in the app ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def masked_dir(tmp_path_factory):
    from conftest import make_tiny_model

    import vq_explorer as vqe
    folder = tmp_path_factory.mktemp("masked")
    vqe.save(make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28), prior="maskgit"),
             folder / "mg.safetensors")
    return folder


def test_sample_handler_streams_a_masked_priors_steps(masked_dir):
    from vq_explorer import service
    from vq_explorer.ui import sample
    catalog = service.Catalog(masked_dir)
    frames = list(sample.sample(catalog, "mg.safetensors", "2", 1.0, 0, 3, 2, "fast", steps=4))
    # ⌊49·cos(π/2·s/4)⌋ cells left masked after step s: 45, 34, 18, 0
    assert [words(f[3]).split(" · ")[:2] for f in frames] == [["step 1", "4 cells committed"],
                                                       ["step 2", "11 cells committed"],
                                                       ["step 3", "16 cells committed"],
                                                       ["step 4", "18 cells committed"]]
    assert states(frames[-1][3]) == {"step-4", "done"} and "done" not in states(frames[0][3])
    assert frames[0][4] == ""
    assert frames[0][2].data[0].type == "heatmap"                      # the confidence map, not a bar chart
    assert np.array(json.loads(frames[-1][4])["grids"]).shape == (2, 7, 7)
    steps, guidance = sample.masked_controls(catalog, "mg.safetensors")
    assert steps["interactive"] is True and steps["maximum"] == 49 and guidance["interactive"] is True
    guided = list(sample.sample(catalog, "mg.safetensors", "2", 1.0, 0, 3, 2, "instant", steps=4, guidance=2.0))
    assert json.loads(guided[-1][4])["grids"] != json.loads(frames[-1][4])["grids"]   # same seed, guided
    with said("guidance_range"):
        list(sample.sample(catalog, "mg.safetensors", "2", 1.0, 0, 3, 2, "instant", steps=4, guidance=-1))


@pytest.mark.slow
def test_client_endpoints_with_a_masked_prior(masked_dir, png_file):
    from gradio_client import Client, handle_file

    from vq_explorer.ui import LAUNCH, build_demo
    demo = build_demo(masked_dir)
    try:
        _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **LAUNCH)
        client = Client(url, verbose=False)
        job = client.submit("mg.safetensors", "3", 1.0, 0, 5, 1, "instant", False, 2, 1.5,  # (states: not API)
                            api_name="/sample")
        grids = json.loads(job.result()[4])["grids"]
        assert np.array(grids).shape == (1, 7, 7) and "step 2" in job.result()[3]
        rec = client.predict(handle_file(png_file), "mg.safetensors", api_name="/reconstruct")
        assert "given all the others" in rec[5]
        out = client.predict(json.dumps({"grid": grids[0]}), "mg.safetensors", api_name="/decode_grid")
        assert "no likelihood (masked prior)" in out[-1]
    finally:
        demo.close()


def test_the_app_sets_its_threads_once_at_start_up_not_on_each_model_load(explorer, catalog):
    """Loading a model leaves the thread count as it is; app.py sets it, once."""
    import subprocess
    import sys
    from pathlib import Path
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        from vq_explorer.service import catalog as catalogs
        catalogs._load_cached.cache_clear()
        catalog.get(NAME)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", "import torch; torch.set_num_threads(8); import app; "
                          "print(torch.get_num_threads())"], cwd=root, capture_output=True, text=True,
                         env={**os.environ, "VQE_CHECKPOINTS": str(root / "checkpoints")})
    assert out.stdout.strip().splitlines()[-1] == "2", out.stderr[-2000:]


def test_the_painter_opens_on_a_shipped_examples_grid(catalog, monkeypatch):
    """Not one code everywhere (a black picture): the first test image's grid, so a first click changes a digit."""
    from vq_explorer.ui import paint
    model = catalog.get(NAME)
    seen = []
    example_grid = torch.arange(49).view(1, 7, 7) % 32     # what the encoder makes of example 1, here

    def codes(z):                                          # the quantizer's rule on the encoder's latents
        seen.append(z)
        return example_grid
    monkeypatch.setattr(model.vqvae, "codes", codes)
    hist, region, canvas, js, info = paint.reset(catalog, NAME)
    assert hist["grid"] == example_grid[0].tolist() and "shipped example 1" in words(info)
    with torch.no_grad():
        latents = model.vqvae.encode_continuous(model.encoder_input(model.examples[:1].float() / 255))
    assert torch.allclose(seen[0], latents)                # the latents of example 1, not of another picture
    from vq_explorer.service import codebook as C
    from vq_explorer.service.memo import per_model
    # a usage counted without examples must not stay cached for the shared model: a cache of this test's own
    monkeypatch.setattr(C, "_examples_usage", per_model(C._examples_usage.__wrapped__))
    monkeypatch.setattr(model, "examples", None)           # a checkpoint without examples: one code everywhere
    assert len({c for row in paint.reset(catalog, NAME)[0]["grid"] for c in row}) == 1


def test_the_atlas_puts_each_codes_tile_in_its_place_enlarged_pixel_for_pixel():
    from vq_explorer.views import pictures
    tiles = torch.rand(40, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    grey = torch.rand(5, 1, 3, 3, generator=torch.Generator().manual_seed(1))
    big = pictures.tile_images(tiles, 24)
    assert big.shape == (40, 24, 24, 3)
    for k in (0, 17, 39):
        assert np.array_equal(big[k], pictures.to_rgb(tiles[k], None).repeat(6, 0).repeat(6, 1))
    grey_tile = pictures.to_rgb(grey[4], None)
    assert np.array_equal(pictures.tile_images(grey, 9)[4], grey_tile.repeat(3, 0).repeat(3, 1))
    atlas = pictures.atlas_picture(tiles, px=24, cols=32, gap=1)
    assert atlas.shape == (2 * 25 - 1, 32 * 25 - 1, 3)
    assert np.array_equal(atlas[25:49, 7 * 25:7 * 25 + 24], big[39])       # code 39: row 1, column 7
    assert (atlas[24] == 255).all() and (atlas[25:, 8 * 25:] == 255).all()   # the gaps, and no tile past 39


def test_the_error_map_runs_from_black_at_no_error_to_yellow_at_half_the_range():
    from vq_explorer.views import pictures
    err = torch.tensor([[0.0, 0.25], [0.5, 0.9]])
    a = pictures.error_map(err, size=2)
    assert a.shape == (2, 2, 3) and a.dtype == np.uint8
    assert a[0, 0].tolist() == [0, 0, 4] and a[1, 0].tolist() == a[1, 1].tolist() == [252, 255, 164]  # clipped
    assert 0 < a[0, 1].sum() < a[1, 0].sum() and a[0, 1, 0] > a[0, 1, 2]   # the middle: a warm red
    assert pictures.error_map(err, size=256).shape == (256, 256, 3)        # enlarged by whole cells


def test_the_distribution_chart_shows_the_chosen_code_and_scales_to_a_spread_out_distribution():
    from vq_explorer.views import charts
    probs = torch.full((1024,), 0.5 / 1014)
    probs[:10] = 0.05 - 0.001 * torch.arange(10)           # ten likeliest codes near 5%, the rest far below
    fig = charts.probs_figure(probs, 10, chosen=700)
    bars = fig.data[0]
    assert list(bars.x) == [*map(str, range(10)), "700"] and bars.marker.color[-1] != bars.marker.color[0]
    assert fig.layout.yaxis.range[1] == pytest.approx(0.0575)   # the tallest bar, not 1.0
    peaked = charts.probs_figure(torch.tensor([0.97, 0.02, 0.01]), 10, chosen=0)
    assert list(peaked.data[0].x) == ["0", "1", "2"] and peaked.layout.yaxis.range[1] == 1.0


RATE_CSV = (
    "set,codec,kind,quality,images,psnr,bytes,fixed,ideal,encode_ms,decode_ms,grid,prior\n"
    "mnist,WebP,classic,1,10,26,120,60,,,,,\n"
    "mnist,WebP,classic,10,10,30,160,60,,,,,\n"
    "mnist,WebP,classic,50,10,38,250,60,,,,,\n"
    "mnist,JPEG,classic,10,10,20,380,340,,,,,\n"
    "mnist,JPEG,classic,50,10,30,500,340,,,,,\n"
    "mnist,AVIF,classic,1,10,27,300,280,,,,,\n"
    "mnist,AVIF,classic,30,10,35,420,280,,,,,\n"
    "mnist,PNG,lossless,,10,inf,270,,,,,,\n"
    "mnist,mnist_4x4,model,,10,24,25,11,12,17,16,4x4,pixelcnn\n"
    "mnist,mnist,model,,10,28,40,11,27,36,36,7x7,pixelcnn\n"
    "mnist,mnist_tf,model,,10,28,39,11,26,37,36,7x7,transformer\n"
    "mnist,mnist_14x14,model,,10,34,58,11,45,190,190,14x14,pixelcnn\n"
    "photos,WebP,classic,10,4,27,2000,150,,,,,\n"
    "photos,WebP,classic,20,4,31,3000,150,,,,,\n"
    "photos,AVIF,classic,20,4,27,1500,300,,,,,\n"
    "photos,AVIF,classic,30,4,31,2200,300,,,,,\n"
    "photos,cifar10,model,,4,29,1976,15,1960,2400,2500,own size,pixelcnn\n")


def rate_rows(tmp_path):
    from vq_explorer.views import results
    (tmp_path / "rate_distortion.csv").write_text(RATE_CSV)
    return results.read_rows(tmp_path, "rate_distortion.csv")


def test_rate_chart_draws_each_classic_codec_as_a_curve_and_each_model_at_its_file_size(tmp_path):
    from vq_explorer.ui import tradeoff
    from vq_explorer.views import results
    rows = rate_rows(tmp_path)
    assert results.rate_sets(rows) == ["mnist", "photos"]
    fig = tradeoff.rate_chart(rows, "mnist")
    curves = {d.name.split(" ")[0]: d for d in fig.data if d.mode == "lines+markers"}
    assert curves["WebP"].x == (120, 160, 250) and curves["WebP"].y == (26, 30, 38)   # ordered by quality
    assert curves["JPEG"].x == (380, 500) and curves["AVIF"].x == (300, 420)
    assert "<br>" not in fig.layout.title.text            # no format beats a model on these digits
    stars = {d.name.split(" ")[0]: (d.x[0], d.y[0]) for d in fig.data if d.mode == "markers+text"}
    assert stars == {"mnist_4x4": (25, 24), "mnist_tf": (39, 28), "mnist": (40, 28), "mnist_14x14": (58, 34)}
    # two priors over one VQ-VAE: one label for the pair, not two on top of each other
    assert sorted(d.text[0] for d in fig.data if d.mode == "markers+text") == ["", "7×7: 2 priors", "mnist_14x14",
                                                                                 "mnist_4x4"]
    less = tradeoff.rate_chart(rows, "mnist", "without fixed headers")   # every point less its fixed cost
    assert [d for d in less.data if d.name.startswith("WebP")][0].x == (60, 100, 190)
    assert {d.name.split(" ")[0]: d.x[0] for d in less.data if d.mode == "markers+text"}["mnist"] == 29
    photos = tradeoff.rate_chart(rows, "photos")
    assert [d.text[0] for d in photos.data if d.mode == "markers+text"] == ["cifar10"]
    # AVIF at 29 dB: 1500·(2200/1500)^0.5 = 1,816.6 bytes, below our 1,976: the chart says so in its title
    assert "at 29.0 dB AVIF needs 1,817 bytes, fewer than cifar10's 1,976" in photos.layout.title.text


def test_rate_findings_read_the_classic_codecs_off_their_curves_at_each_models_psnr(tmp_path):
    from vq_explorer.ui import tradeoff
    from vq_explorer.views import results
    rows = rate_rows(tmp_path)
    webp = results.curve(rows, "mnist", "WebP")
    assert results.bytes_at(webp, 30) == 160 and results.bytes_at(webp, 34) == pytest.approx(200.0)   # √(160·250)
    assert results.bytes_at(webp, 25) is None and results.bytes_at(webp, 40) is None
    assert results.bytes_at(webp, 28, less_fixed=True) == pytest.approx((60 * 100) ** 0.5)
    text = tradeoff.rate_text(rows, "mnist")
    line = next(s for s in text.splitlines() if s.startswith("- **mnist**"))
    # 28 dB: WebP √(120·160) = 138.6 bytes, 3.5× our 40; without fixed costs √(60·100) = 77.5 against 29
    assert "139 bytes" in line and "3.5×" in line and "77" in line and "29.0" in line and "2.7×" in line
    # JPEG at 28 dB: 380·(500/380)^0.8 = 473.3 bytes
    assert "473 bytes" in line
    # 24 dB is below WebP's lowest quality: its lowest quality is what it costs
    low = next(s for s in text.splitlines() if s.startswith("- **mnist_4x4**"))
    assert "26.0" in low and "120" in low and "4.8×" in low
    # the downsampling factor in bytes: 4×4 → 7×7 → 14×14, each grid's cheapest prior
    assert "+15.0" not in text and "14.0 bytes for +4.0 dB" in text and "19.0 bytes for +6.0 dB" in text
    assert "+61 bytes" in text   # WebP from 28 to 34 dB: 200.0 − 138.6
    assert tradeoff.rate_text([], "mnist").startswith("_No measurements")
    assert "own size" not in tradeoff.rate_text(rows, "photos") and "1,976.0" in tradeoff.rate_text(rows, "photos")
    assert "AVIF needs 1,817 bytes (0.9× ours" in tradeoff.rate_text(rows, "photos")


def test_sample_points_to_the_checkpoint_whose_samples_show_their_class_best(tmp_path):
    """Two checkpoints of one dataset with recorded shares: the weaker one's Sample tab names the stronger;
    the stronger, and a checkpoint of another dataset, name nothing."""
    from conftest import make_tiny_model

    import vq_explorer as vqe
    from vq_explorer import service
    from vq_explorer.ui import sample
    for name, share, dataset in (("weak", 0.31, "tiny"), ("strong", 0.66, "tiny"), ("other", 0.99, "elsewhere")):
        model = make_tiny_model()
        model.metrics = {**model.metrics, "sample_accuracy": share}
        model.config = {**model.config, "dataset": dataset}
        vqe.save(model, tmp_path / f"{name}.safetensors")
    catalog = service.Catalog(tmp_path)
    assert catalog.best_sampler("weak.safetensors") == ("strong.safetensors", 0.66, 0.31)
    assert catalog.best_sampler("strong.safetensors") is None and catalog.best_sampler("other.safetensors") is None
    status = words(sample.first_screen(catalog, "weak.safetensors")[3])
    assert "**strong**" in status and "66%" in status and "31%" in status
    assert "\n\n" not in words(sample.first_screen(catalog, "strong.safetensors")[3])   # no note below the sheet


def test_an_uploaded_file_shows_its_own_grid_and_a_damaged_header_its_reason(catalog, tmp_path):
    """The view of a decoded file shows the grid the file holds (not the decoded image encoded again); a header
    naming what the model does not code is refused by its code, before decoding."""
    pytest.importorskip("constriction")
    from vq_explorer.service import codec
    from vq_explorer.ui import reconstruct
    model = catalog.get(NAME)
    grid = torch.randint(0, model.config["num_codes"], model.grid, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(model.encode(model.decode(grid[None])), grid[None])   # re-encoding would change it
    path = tmp_path / "random.vqe"
    path.write_bytes(codec.encode_grid(model, grid))
    *_, grid_json, _ = reconstruct.reconstruct(catalog, str(path), NAME)
    assert json.loads(grid_json)["grid"] == grid.tolist()
    head = codec.read_header(path.read_bytes())["payload"] - 4
    bad = tmp_path / "bad.vqe"
    data = path.read_bytes()
    bad.write_bytes(data[:5] + bytes([codec.FLAG_SIZE]) + codec._uleb(0) + codec._uleb(5) + data[head:])
    with said("file_image_size", height=0, width=5):
        reconstruct.reconstruct(catalog, str(bad), NAME)


def test_import_star_keeps_the_builtin_open_and_vqe_open_stays():
    import builtins

    import vq_explorer as vqe
    namespace = {}
    exec("from vq_explorer import *", namespace)
    assert "open" not in namespace and "load" in namespace and "wrap" in namespace
    assert vqe.open.__name__ == "open_tokenizer" and builtins.open is open


def test_the_painters_quantization_panel_opens_filled_on_its_first_grid(catalog):
    """The painter opens on the first shipped example's grid; its panel explains that very image (never an empty
    frame): the token `open_checkpoint` gives it fills the maps, on the painter's grid."""
    from vq_explorer.ui import open_checkpoint, quantize
    values = open_checkpoint(catalog, NAME, tabs=["paint"])
    token = values["paint_source"]
    assert token
    error_map, margin_map, intro, text, *_ = quantize.panel(catalog, NAME, token)
    assert error_map is not None and margin_map is not None and "cell (" in words(text)
    q = quantize._analysis(catalog, token)[2]
    assert q.grid.tolist() == values["painter"][0]["grid"]


def test_no_status_carries_markup_for_watchers_the_state_is_on_its_component(catalog, png_file):
    """What a visitor reads holds no hidden spans or classes: through a visit of every tab's handlers, no text they
    return has markup, and each status reports its state as classes on its component (`ui.common.status`)."""
    from vq_explorer.ui import codebook, lab, open_checkpoint, paint, quantize, reconstruct, sample

    def texts(out):
        if isinstance(out, str):
            yield out
        elif isinstance(out, dict):
            for v in out.values():
                yield from texts(v)
        elif isinstance(out, (list, tuple)):
            for v in out:
                yield from texts(v)

    rec = reconstruct.reconstruct(catalog, png_file, NAME)
    hist = paint.reset(catalog, NAME)[0]
    outputs = [open_checkpoint(catalog, NAME), rec, quantize.panel(catalog, NAME, rec[-1]),
               *sample.sample(catalog, NAME, "2", 1.0, 0, 1, 1, "fast"),
               paint.edit(catalog, "random", NAME, hist, None, 0, False), codebook.stats(catalog, NAME),
               lab.first_screen()]
    seen = list(texts(outputs))
    assert len(seen) > 50 and not [t for t in seen if "<span" in t or "class=" in t]
    statuses = [rec[5], outputs[2][3], outputs[3][3], outputs[-3][4], outputs[-2][3], outputs[0]["about"]]
    assert all(states(s) and words(s) for s in statuses)
    ui = Path(__file__).resolve().parents[1] / "vq_explorer" / "ui"
    source = "\n".join(p.read_text() for p in ui.glob("*.py"))
    assert "mark(" not in source and "<span" not in source
