"""A tokenizer without a decoder (transformers' ChameleonVQVAE, saved with `save_pretrained` at a tiny
configuration) opened in the app: every view that would draw a picture from codes says once that there is none,
where a flat grey picture and its PSNR stood; the views that need no decoder (the grid, usage, the quantization
margins, the codes' map, a code's neighbours) show the model's own figures. A Janus VQ-VAE at the same
size, which has a decoder, goes through the same handlers and gets its pictures."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import states, words
from PIL import Image

import vq_explorer as vqe
from vq_explorer import service
from vq_explorer.ui import codebook, open_checkpoint, paint, quantize, reconstruct
from vq_explorer.views import pictures

transformers = pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT / "docs" / "photos"
PHOTO = str(PHOTOS / "astronaut.jpg")
SAID = "No decoder"     # how the one sentence begins (ui/words.py: no_decoder)
TINY = {"embed_dim": 4, "num_embeddings": 64, "latent_channels": 4, "base_channels": 32,
        "channel_multiplier": [1, 2], "num_res_blocks": 1}


def opened(tmp_path_factory, family):
    torch.manual_seed(0)
    if family == "chameleon":
        vq = transformers.ChameleonVQVAE(transformers.ChameleonVQVAEConfig(**TINY, resolution=16))
    else:
        vq = transformers.JanusVQVAE(transformers.JanusVQVAEConfig(**TINY, num_patches=8))
    folder = tmp_path_factory.mktemp(family) / "vq"
    vq.eval().save_pretrained(folder)
    model = vqe.open(str(folder), side=16, examples=str(PHOTOS))
    catalog = service.Catalog(tmp_path_factory.mktemp("empty"))
    return catalog, catalog.add(model, family), model


@pytest.fixture(scope="module")
def chameleon(tmp_path_factory):
    return opened(tmp_path_factory, "chameleon")


@pytest.fixture(scope="module")
def janus(tmp_path_factory):
    return opened(tmp_path_factory, "janus")


def said(text) -> int:
    """How often the sentence stands in a text or a status's words."""
    return (words(text) if isinstance(text, dict) else text).count(SAID)


def test_the_service_tells_a_model_without_a_decoder(chameleon, janus):
    assert not service.has_decoder(chameleon[2]) and service.has_decoder(janus[2])


def test_reconstruct_shows_no_reconstruction_error_map_or_psnr_and_says_why_once(chameleon):
    catalog, name, model = chameleon
    original, recon, error, grid_plot, surprise, summary, grid_json, token = reconstruct.reconstruct(
        catalog, PHOTO, name)
    assert recon is None and error is None                       # no flat grey picture, no map of its error
    assert said(summary) == 1 and "dB" not in words(summary) and "**MSE**" not in words(summary)
    assert "no-decoder" in states(summary)
    assert original is not None and grid_plot is not None          # the input and its code grid are shown
    x, _ = service.load_image(model, PHOTO)
    assert service.parse_grid(grid_json, model).tolist() == model.encode(x)[0].tolist()


def test_the_quantization_panel_keeps_its_margins_and_says_once_there_is_no_picture(chameleon):
    catalog, name, _ = chameleon
    token = reconstruct.reconstruct(catalog, PHOTO, name)[-1]
    error_map, margin_map, _, text, chart, nearest, picture, swapped = quantize.panel(catalog, name, token)
    assert error_map is not None and margin_map is not None and chart is not None and swapped
    assert picture is None and said(text) == 1 and "Below: the image" not in words(text)
    assert "no-decoder" in states(text)
    looks = [np.asarray(Image.open(path)) for path, _ in nearest]
    codes = [int(caption.split("·")[0].strip("# ")) for _, caption in nearest]
    for look, k in zip(looks, codes, strict=True):                 # each code's colour, not a grey tile
        assert (look == pictures.code_colour(k)).all()


def test_the_painter_shows_no_decoded_picture_and_says_why_once(chameleon):
    catalog, name, model = chameleon
    hist, region, canvas, grid_json, info = paint.reset(catalog, name, True)
    assert canvas["decoded"] is None and canvas["tiles"] is None    # nor codes' looks, asked for or not
    assert said(canvas["message"]) == 1 and said(info) == 0
    assert canvas["grid"] == hist["grid"] and len(canvas["colours"]) == model.config["num_codes"]
    answer = paint.decode_cells(catalog, {"checkpoint": name, "grid": hist["grid"]})
    assert "decoded" not in answer and answer["error"] == canvas["message"]   # the same sentence while painting
    painted = paint.edit(catalog, "fill", name, hist, region, 3, False)
    assert painted[2]["grid"] == [[3] * len(row) for row in hist["grid"]] and painted[2]["decoded"] is None
    palette = paint.palette(catalog, name)
    order = torch.argsort(service.usage(model), descending=True)[:len(palette)].tolist()
    for (path, caption), k in zip(palette, order, strict=True):    # the canvas's colours, not grey tiles
        assert caption.startswith(f"#{k} ·") and (np.asarray(Image.open(path)) == pictures.code_colour(k)).all()


def test_the_codebook_tab_says_once_there_is_no_atlas_and_keeps_usage_map_and_neighbours(chameleon):
    catalog, name, model = chameleon
    summary, usage_plot, pca_plot, head = codebook.stats(catalog, name)
    assert said(head) == 1 and "no-decoder" in states(head)
    assert usage_plot is not None and pca_plot is not None and summary["used_codes"] >= 1
    assert codebook.atlas(catalog, name) is None and codebook.atlas_view(catalog, name)[0] is None
    code = service.most_used_code(model)
    tile, _, text = codebook.show_code(catalog, name, code)
    near, _ = service.nearest_codes(model, code, 5)
    assert tile is None and said(text) == 0
    assert f"Nearest in the codebook: {int(near[0])} (" in text
    assert codebook.first_code(catalog, name)[0] == code           # the most used: no code has a look to rank


def test_opening_it_fills_every_view_and_each_decoder_view_says_so_once(chameleon):
    catalog, name, _ = chameleon
    views = open_checkpoint(catalog, name)
    assert said(views["reconstruction"][5]) == 1 and views["reconstruction"][1] is None
    assert said(views["painter"][2]["message"]) == 1 and said(views["codebook"][3]) == 1
    assert views["atlas"][0] is None and views["code"][1] is None
    assert said(views["about"]) == 0 and "no decoder" in words(views["about"])   # the description's own way


def test_a_tokenizer_with_a_decoder_gets_its_pictures_through_the_same_handlers(janus):
    catalog, name, _ = janus
    out = reconstruct.reconstruct(catalog, PHOTO, name)
    assert out[1] is not None and out[2] is not None and "**PSNR**" in words(out[5]) and said(out[5]) == 0
    assert said(quantize.panel(catalog, name, out[-1])[3]) == 0
    canvas = paint.reset(catalog, name)[2]
    assert canvas["decoded"] and not canvas["message"]
    assert codebook.atlas(catalog, name) is not None and said(codebook.stats(catalog, name)[3]) == 0
    assert codebook.show_code(catalog, name, 0)[0] is not None


def test_the_compare_tab_gives_it_a_column_without_a_picture_and_says_why_once(chameleon, janus):
    """Beside a tokenizer with a decoder, the one without shows its grid's figures and the sentence, no
    reconstruction, error map or PSNR; a click outlines the region only where there is a picture."""
    from vq_explorer.ui import compare

    catalog, name, _ = chameleon
    catalog.add(janus[2], "janus")
    picture = np.asarray(Image.open(PHOTO).convert("RGB").resize((64, 64)))
    *_, last = compare.compute(catalog, [name, "janus"], picture)
    slots = last[5:]
    (_, _, recon_c, error_c, text_c), (_, _, recon_j, error_j, text_j) = slots[0:5], slots[5:10]
    assert recon_c is None and error_c is None and said(text_c) == 1 and "PSNR" not in words(text_c)
    assert recon_j is not None and error_j is not None and said(text_j) == 0 and "PSNR" in words(text_j)
    state = last[2]
    assert name not in state["recon"] and name in state["grids"]
