"""Photos at their own resolution on a colour model: the size an upload is encoded at, its grid, the painter and
grid views on a photo's large grid, and the offer to open the colour model when a digit model sees a colour
photo in grey."""

import json

import numpy as np
import pytest
import torch
from conftest import make_tiny_model, said, states, words
from PIL import Image

import vq_explorer as vqe
from vq_explorer import service
from vq_explorer.storage.images import looks_colour
from vq_explorer.ui import paint, reconstruct


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A digit model (greyscale 28×28) and a colour model (RGB 32×32, 8×8 grid), as the app would list them."""
    root = tmp_path_factory.mktemp("photo_checkpoints")
    digits = [str(i) for i in range(10)]
    vqe.save(make_tiny_model(classes=digits, image_size=(28, 28)), root / "digits.safetensors")
    vqe.save(make_tiny_model(classes=digits, image_size=(32, 32), channels=3), root / "colour.safetensors")
    return root


@pytest.fixture
def catalog(folder):
    return service.Catalog(folder)


def photo(path, width, height, colour=True):
    """A smooth picture: colour gradients, or the same values in all three channels."""
    y, x = np.mgrid[0:height, 0:width]
    r, g = (255 * x / max(1, width - 1)), (255 * y / max(1, height - 1))
    a = np.stack([r, g, 255 - r] if colour else [r, r, r], -1).astype(np.uint8)
    Image.fromarray(a).save(path)
    return path


def test_a_colour_model_encodes_a_photo_at_its_own_size_up_to_the_cap(catalog, tmp_path):
    model = catalog.get("colour.safetensors")
    assert service.input_size(model, 256, 256) == (256, 256)
    assert service.input_size(model, 1000, 500) == (128, 256)          # the long side at 256, proportions kept
    assert service.input_size(model, 40, 30) == (30, 40)               # small photos are not enlarged
    rec = service.reconstruct_file(model, photo(tmp_path / "p.png", 256, 256))
    assert tuple(rec.grid.shape) == (64, 64) and rec.original.shape == rec.recon.shape == (3, 256, 256)
    assert rec.surprise.shape == (64, 64) and rec.error.shape == (256, 256)
    rec = service.reconstruct_file(model, photo(tmp_path / "wide.png", 1000, 500))
    assert tuple(rec.grid.shape) == (32, 64) and rec.original.shape == (3, 128, 256)
    assert any("its proportions kept" in str(n) for n in rec.notes), rec.notes
    rec = service.reconstruct_file(model, photo(tmp_path / "odd.png", 37, 23))   # not a multiple of 4: padded
    assert tuple(rec.grid.shape) == (6, 10) and rec.recon.shape == (3, 23, 37)


def test_a_digit_model_still_sees_its_training_size(catalog, tmp_path):
    model = catalog.get("digits.safetensors")
    assert service.input_size(model, 1000, 500) == (28, 28)
    rec = service.reconstruct_file(model, photo(tmp_path / "p.png", 256, 256))
    assert tuple(rec.grid.shape) == (7, 7) and rec.original.shape == (1, 28, 28)


def test_a_greyscale_upload_works_on_the_colour_model(catalog, tmp_path):
    path = tmp_path / "grey.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))).save(path)   # mode L
    rec = service.reconstruct_file(catalog.get("colour.safetensors"), path)
    assert rec.original.shape == (3, 48, 64) and torch.equal(rec.original[0], rec.original[2])
    assert not rec.colour_input


def test_colour_is_judged_by_the_pixels_not_the_mode(tmp_path):
    assert looks_colour(Image.open(photo(tmp_path / "c.png", 50, 40)))
    assert not looks_colour(Image.open(photo(tmp_path / "g.png", 50, 40, colour=False)))   # RGB, but grey
    assert not looks_colour(Image.new("L", (10, 10), 128))


def test_a_colour_photo_on_the_digit_model_offers_the_colour_model(catalog, tmp_path):
    colour, grey = str(photo(tmp_path / "c.png", 300, 200)), str(photo(tmp_path / "g.png", 30, 20, False))
    offered = reconstruct.reconstruct(catalog, colour, "digits.safetensors")[5]
    summary = words(offered)
    assert "colour-offer" in states(offered) and "`colour.safetensors` was trained on colour photos" in summary
    assert "`digits.safetensors` was trained on greyscale tiny images" in summary   # its own dataset, named
    button = reconstruct.colour_button(catalog, colour, "digits.safetensors")
    assert button["visible"] and button["value"] == "Open colour, the colour model, on this photo"
    # a grey photo, or a colour one on the colour model itself: nothing to offer
    not_offered = reconstruct.reconstruct(catalog, grey, "digits.safetensors")[5]
    assert "in colour" not in words(not_offered) and "colour-offer" not in states(not_offered)
    assert not reconstruct.colour_button(catalog, grey, "digits.safetensors")["visible"]
    assert not reconstruct.colour_button(catalog, colour, "colour.safetensors")["visible"]
    assert not reconstruct.colour_button(catalog, None, "digits.safetensors")["visible"]
    assert catalog.colour_models() == ["colour.safetensors"]
    # opening a checkpoint sets the button for the upload there: hidden on the colour model
    from vq_explorer.ui import open_checkpoint
    assert not open_checkpoint(catalog, "colour.safetensors", colour)["colour_button"]["visible"]
    assert open_checkpoint(catalog, "digits.safetensors", colour)["colour_button"]["visible"]


def test_the_colour_offer_opens_the_colour_model_that_samples_best(tmp_path):
    """Two colour checkpoints of one VQ-VAE (a PixelCNN and a masked prior, as shipped): the offer names the one
    whose samples are read as their class more often, whatever the file names' order; unmeasured ones last."""
    for name, share in (("a_weak", 0.376), ("b_strong", 0.658), ("c_unmeasured", None)):
        model = make_tiny_model(channels=3)
        model.metrics = {k: v for k, v in model.metrics.items() if k != "sample_accuracy"}
        if share is not None:
            model.metrics["sample_accuracy"] = share
        vqe.save(model, tmp_path / f"{name}.safetensors")
    vqe.save(make_tiny_model(image_size=(28, 28)), tmp_path / "digits.safetensors")
    catalog = service.Catalog(tmp_path)
    assert catalog.colour_models() == ["b_strong.safetensors", "a_weak.safetensors", "c_unmeasured.safetensors"]
    colour = str(photo(tmp_path / "c.png", 300, 200))
    assert reconstruct.colour_button(catalog, colour, "digits.safetensors")["value"].startswith("Open b_strong,")


def test_a_colour_photo_and_no_colour_model_offers_nothing(tmp_path):
    vqe.save(make_tiny_model(image_size=(28, 28)), tmp_path / "digits.safetensors")
    only_digits = service.Catalog(tmp_path)
    path = str(photo(tmp_path / "c.png", 30, 20))
    assert "in colour" not in words(reconstruct.reconstruct(only_digits, path, "digits.safetensors")[5])
    assert not reconstruct.colour_button(only_digits, path, "digits.safetensors")["visible"]


def test_opening_another_checkpoint_shows_the_upload_again_through_it(catalog, tmp_path):
    """What the colour button leads to: the newly opened model's first screen is the visitor's photo."""
    path = str(photo(tmp_path / "c.png", 120, 80))
    out = reconstruct.first_screen(catalog, "colour.safetensors", path)
    assert "120 px wide, 80 high" in words(out[5]) and "20×30 grid" in words(out[5])
    example = reconstruct.first_screen(catalog, "colour.safetensors")    # no upload: the first example
    assert "shipped example 1" in words(example[5])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    assert "shipped example 1" in words(reconstruct.first_screen(catalog, "colour.safetensors", str(broken))[5])


def test_grids_of_a_photo_are_accepted_up_to_the_largest_photo(catalog):
    colour, digits = catalog.get("colour.safetensors"), catalog.get("digits.safetensors")
    assert service.parse_grid([[1] * 64] * 64, colour).shape == (64, 64)
    assert service.parse_grid([[1] * 3] * 5, colour).shape == (5, 3)
    with said("grid_too_large", rows=64, cols=64):
        service.parse_grid([[1] * 65] * 64, colour)
    with said("grid_wrong_shape", rows=7, cols=7):
        service.parse_grid([[1] * 8] * 8, digits)
    with said("grid_wrong_shape", shape="2×7/8"):
        service.parse_grid([[1] * 8, [1] * 7], colour)


def test_the_painter_works_on_a_photos_grid(catalog, tmp_path):
    name = "colour.safetensors"
    rec = service.reconstruct_file(catalog.get(name), photo(tmp_path / "p.png", 256, 192))
    grid_json = service.grid_json(rec.grid, name)
    hist, region, canvas, js, info = paint.import_grid(catalog, grid_json, name, None, None, False)
    assert np.asarray(hist["grid"]).shape == (48, 64) and np.asarray(region).shape == (48, 64)
    assert canvas["px"] * 64 <= 640 and not canvas["numbers"]          # the whole grid fits on the page
    grid = rec.grid.clone()
    grid[:10, :10] = 3
    region = np.zeros((48, 64), bool)
    region[20:30, 20:30] = True
    hist2, reg2, _, _ = paint.stroke(catalog, name, hist, None, {"checkpoint": name, "grid": grid.tolist(),
                                                                 "region": region.tolist()})
    assert hist2["grid"] == grid.tolist() and np.asarray(reg2).sum() == 100
    resampled = paint.resample(catalog, name, hist2, reg2, "(any)", 1.0, False)[0]["grid"]
    changed = np.asarray(resampled) != np.asarray(hist2["grid"])
    assert not changed[~region].any() and changed[region].any()        # only the selection was redrawn
    cleared = paint.edit(catalog, "clear", name, hist2, reg2, None, False)[0]["grid"]
    assert np.asarray(cleared).shape == (48, 64)
    fast = paint.decode_cells(catalog, {"checkpoint": name, "grid": grid.tolist()})
    assert fast["decoded"].startswith("data:image/png")


def test_a_photo_beyond_a_masked_priors_grid_is_reconstructed_without_a_surprise_map(tmp_path):
    """A masked prior's learned positions stop at its training grid: a photo's larger grid is still encoded and
    decoded at its own size, and the summary says why there is no surprise map, instead of a server error."""
    import vq_explorer as vqe
    from vq_explorer.ui import reconstruct
    folder = tmp_path / "mg"
    folder.mkdir()
    vqe.save(make_tiny_model(classes=None, channels=3, image_size=(12, 12), prior="maskgit"),
             folder / "mg.safetensors")
    catalog = service.Catalog(folder)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8)).save(photo)
    model = catalog.get("mg.safetensors")
    rec = service.reconstruct_file(model, str(photo))
    assert rec.grid.shape == (10, 10) and rec.prior_limit == (model.prior.cfg.rows, model.prior.cfg.cols) == (8, 8)
    assert not rec.has_prior
    summary = reconstruct.reconstruct(catalog, str(photo), "mg.safetensors")[5]
    assert "beyond-prior" in states(summary) and "no-prior" not in states(summary)
    small = tmp_path / "small.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (12, 12, 3), np.uint8)).save(small)
    assert service.reconstruct_file(catalog.get("mg.safetensors"), str(small)).has_prior   # within it: the map
    # and sampling or resampling a region of that grid is refused with a message naming the prior's limit
    from vq_explorer.ui import sample
    from vq_explorer.ui.history import History
    region = torch.zeros(10, 10, dtype=torch.bool)
    region[:2] = True
    with said("grid_beyond_prior", shape="10×10", rows=8, cols=8):
        list(sample.sample(catalog, "mg.safetensors", "(any)", 1.0, 0, 1, 1, "instant", True,
                           History.new(rec.grid), region.tolist()))
    with said("grid_beyond_prior"):
        service.inpaint(model, rec.grid, region)


@pytest.mark.parametrize("prior", ["maskgit", "transformer"])
def test_a_photos_grid_beyond_the_prior_still_reaches_the_painter(tmp_path, prior):
    """A Transformer's learned positions stop at its training grid, but the VQ-VAE decodes a photo's larger grid:
    the painter imports it (from the reconstruction, or an upload), decodes and paints it, and says that bits and
    resampling need a grid the prior knows, instead of refusing the grid."""
    import vq_explorer as vqe
    from vq_explorer.ui import paint
    model = make_tiny_model(classes=None, channels=3, image_size=(12, 12), prior=prior)
    vqe.save(model, tmp_path / "t.safetensors")
    catalog = service.Catalog(tmp_path)
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 40, 3), np.uint8)).save(path)
    out = reconstruct.reconstruct(catalog, str(path), "t.safetensors")
    grid_json, surprise = out[6], out[4]
    # no surprise map: the panel says why, rather than drawing a heatmap of zeros
    assert not surprise.data and "8×8" in surprise.layout.annotations[0].text
    assert out[3].data[0].type == "heatmap"                  # the code grid itself is drawn
    hist, _, canvas, _, info = paint.import_grid(catalog, grid_json, "t.safetensors")
    assert np.array(hist["grid"]).shape == (10, 10) and canvas["decoded"].startswith("data:image/png")
    assert "context-beyond-prior" in states(info)
    assert "10×10" in words(info) and "8×8" in words(info) and "bits under" not in words(info)
    assert service.grid_bits(catalog.get("t.safetensors"), torch.tensor(hist["grid"])) is None
    uploaded = paint.from_image(catalog, str(path), "t.safetensors", None, None, False)
    assert np.array(uploaded[0]["grid"]).shape == (10, 10) and "context-beyond-prior" in states(uploaded[4])
    # a grid the prior knows keeps its bits (an autoregressive prior) and its resampling
    small = paint.import_grid(catalog, json.dumps({"grid": [r[:8] for r in hist["grid"][:8]]}), "t.safetensors")
    assert "context-beyond-prior" not in states(small[4])
    assert ("bits under" in words(small[4])) == (prior == "transformer")
