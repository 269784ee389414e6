"""A brush stroke decodes only the window it changes (models/receptive.py, service/strokes.py): exact where the
decoder has no layer that sees the whole picture, a preview then the exact picture where it has one."""

import pytest
import torch
from conftest import SMALL_DIFFUSERS, make_tiny_model

import vq_explorer as vqe
from vq_explorer import service
from vq_explorer.models.receptive import crop_grid, frozen_norms, measure_reach, norm_statistics, paste, window
from vq_explorer.service import strokes
from vq_explorer.ui import paint

diffusers = pytest.importorskip("diffusers")



def decoder_seen(model):
    """The grid sizes the tokenizer decodes, from now on."""
    sizes, inner = [], model.vqvae.decode
    model.vqvae.decode = lambda idx, size=None: (sizes.append(tuple(idx.shape[-2:])), inner(idx, size))[1]
    return sizes


def ours(side=96):
    """This project's VQ-VAE (a tiny one, f = 4) on a photo-sized grid: 24×24 cells."""
    model = make_tiny_model(channels=3, image_size=(side, side), classes=None)
    return model, torch.randint(0, 32, (side // 4, side // 4), generator=torch.Generator().manual_seed(0))


def opened(tmp_path, config, side=64):
    torch.manual_seed(0)
    diffusers.VQModel(**config).save_pretrained(tmp_path / "m")
    model = vqe.open(str(tmp_path / "m"), side=side)
    f = model.config["downsample"]
    grid = torch.randint(0, config["num_vq_embeddings"], (side // f, side // f),
                         generator=torch.Generator().manual_seed(0))
    return model, grid


def stroke(grid, code, rows, cols):
    out = grid.clone()
    out[rows, cols] = code
    return out


def test_our_vqvae_has_no_global_layer_and_a_reach_of_a_few_cells():
    model, _ = ours()
    r = measure_reach(model.vqvae)
    # conv 3×3 (1 cell), one residual block's 3×3 (1), two transposed 4×4 convs of stride 2, each spreading a
    # change by one pixel of its output (½ cell, then ¼): 2.75 → 3
    assert r.exact and r.cells == 3


def test_a_stroke_on_our_vqvae_decodes_a_window_that_equals_the_full_decode():
    model, grid = ours()
    first, exact = strokes.decode_picture(model, grid)
    assert exact and torch.allclose(first, model.decode(grid[None])[0], atol=1e-6)
    seen = decoder_seen(model)
    for rows, cols in ((slice(10, 12), slice(7, 9)), (slice(0, 1), slice(0, 3)), (slice(23, 24), slice(20, 24))):
        grid = stroke(grid, 5, rows, cols)        # in the middle, at a corner, along an edge
        painted, exact = strokes.decode_picture(model, grid)
        assert exact and torch.allclose(painted, model.decode(grid[None])[0], atol=1e-5)
    # each stroke's window, then the reference's full decode
    assert seen[1] == (24, 24) and all(s[0] * s[1] < 24 * 24 * 0.6 for s in (seen[0], seen[2], seen[4]))


def test_a_window_one_cell_short_of_the_reach_is_not_exact():
    """The reach is no larger than it needs to be: with one cell less the pasted picture differs."""
    model, grid = ours()
    r = measure_reach(model.vqvae)
    new = stroke(grid, 5, slice(10, 12), slice(10, 12))
    full = model.decode(new[None])[0]
    for margin, same in ((r.cells, True), (r.cells - 1, False)):
        win = window(new != grid, margin)
        part = model.decode(crop_grid(new, win)[None], tuple(4 * s for s in crop_grid(new, win).shape))[0]
        assert torch.allclose(paste(model.decode(grid[None])[0], part, win, 4), full, atol=1e-5) == same


def test_a_diffusers_decoder_without_attention_is_exact_through_its_convolutions(tmp_path):
    """Its group normalisations see the whole picture (so a stroke shows a preview). With every group held to the
    new picture's statistics, the old picture with the window pasted in equals the full decode: the measured
    reach of its convolutions (resnets, upsamplers, the output conv) is right, and one cell less is not."""
    model, grid = opened(tmp_path, {**SMALL_DIFFUSERS, "mid_block_add_attention": False}, side=96)
    r = measure_reach(model.vqvae)
    # conv_in (1 cell), the mid block's two resnets (4), the first up block's two (4), its upsampler's conv at
    # twice the resolution (½), the second up block's resnets there (2), the output conv (½)
    assert not r.exact and r.cells == 12
    new = stroke(grid, 9, slice(20, 22), slice(30, 33))
    with norm_statistics(model.vqvae) as stats:
        full = model.decode(new[None])[0]
    with frozen_norms(model.vqvae, stats):
        before = model.decode(grid[None])[0]
    for margin, same in ((r.cells, True), (r.cells - 1, False)):
        win = window(new != grid, margin)
        crop = crop_grid(new, win)
        with frozen_norms(model.vqvae, stats):
            part = model.decode(crop[None], tuple(2 * s for s in crop.shape))[0]
        pasted = paste(before, part, win, 2)
        assert torch.allclose(pasted, full, atol=1e-4) == same, margin


@pytest.mark.parametrize("attention", [True, False])
def test_a_global_decoder_shows_a_preview_then_the_exact_picture(tmp_path, attention):
    model, grid = opened(tmp_path, {**SMALL_DIFFUSERS, "mid_block_add_attention": attention}, side=96)
    strokes.decode_picture(model, grid, exact=True)
    seen = decoder_seen(model)
    new = stroke(grid, 9, slice(20, 22), slice(30, 33))
    preview, exact = strokes.decode_picture(model, new)
    full = model.decode(new[None])[0]
    # a window of the grid: the changed 2×3 cells, one more around them kept, and 16 pixels (8 cells at f = 2) of
    # context around those
    assert not exact and seen[0] == (2 + 2 * (1 + 8), 3 + 2 * (1 + 8))
    diff = (preview - full).abs()
    assert 0 < diff.max() and diff.mean() < 0.05                      # near (random weights), not equal
    final, exact = strokes.decode_picture(model, new, exact=True)
    assert exact and torch.equal(final, full)
    again, exact = strokes.decode_picture(model, new)                 # the exact picture is kept, not the preview
    assert exact and torch.equal(again, full)


def test_a_wrapped_model_decodes_every_stroke_whole():
    codebook = torch.randn(16, 3)
    model = vqe.wrap(lambda x: torch.nn.functional.avg_pool2d(x, 4), lambda idx: codebook[idx].permute(0, 3, 1, 2)
                     .repeat_interleave(4, 2).repeat_interleave(4, 3), codebook, downsample=4, side=32)
    assert strokes.reach(model) is None
    grid = torch.randint(0, 16, (8, 8))
    strokes.decode_picture(model, grid)
    out, exact = strokes.decode_picture(model, stroke(grid, 3, 2, 2))
    assert exact and torch.equal(out, model.decode(stroke(grid, 3, 2, 2)[None])[0])


def test_the_painters_own_path_previews_during_a_stroke_and_is_exact_when_asked(tmp_path):
    model, grid = opened(tmp_path, SMALL_DIFFUSERS, side=96)
    catalog = service.Catalog(tmp_path / "none")
    name = catalog.add(model, "small")
    paint.view(catalog, name, paint.History.new(grid), None)       # the painter opens on the grid, decoded whole
    new = stroke(grid, 9, slice(10, 12), slice(20, 22))
    during = paint.decode_cells(catalog, {"checkpoint": name, "grid": new.tolist()})
    after = paint.decode_cells(catalog, {"checkpoint": name, "grid": new.tolist(), "exact": True})
    assert during["exact"] is False and after["exact"] is True and during["decoded"] != after["decoded"]
