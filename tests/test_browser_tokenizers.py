"""A tokenizer made elsewhere in a real browser: a diffusers VQModel (random weights, saved in diffusers' format
and opened as `vq-explorer --open` opens it) is listed beside the checkpoints, and every tab opens on it:
Reconstruct with its error map, Paint codes, Codebook (its usage over the visitor's own upload, its atlas in
pages), and Sample saying it needs a prior."""

from pathlib import Path

import pytest
from conftest import make_tiny_model
from test_browser import browser_page, require_browser

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def tokenizer_app(tmp_path_factory):
    """The app in this process, its atlas pages made 16 codes long so that the tiny tokenizer's 64 take four."""
    require_browser()
    from vq_explorer.service import codebook
    atlas_max, codebook.ATLAS_MAX = codebook.ATLAS_MAX, 16
    diffusers = pytest.importorskip("diffusers")
    import torch
    from test_tokenizers import TINY

    import vq_explorer as vqe
    from vq_explorer.commands.serve import open_tokenizers
    from vq_explorer.ui import LAUNCH, build_demo
    root = tmp_path_factory.mktemp("tokenizer_app")
    vqe.save(make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28)), root / "mnist.safetensors")
    torch.manual_seed(0)
    diffusers.VQModel(**TINY).save_pretrained(root / "mine" / "vqvae")
    models = open_tokenizers([str(root / "mine" / "vqvae")], 64, ROOT / "docs" / "photos")
    demo = build_demo(root, models)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **LAUNCH)
    yield url, models[0]
    demo.close()
    codebook.ATLAS_MAX = atlas_max


@pytest.fixture(scope="module")
def page(tokenizer_app):
    with browser_page(tokenizer_app[0]) as pg:
        yield pg


def test_every_tab_opens_on_an_opened_tokenizer(page, shots, tokenizer_app):
    page.click("#checkpoint input")
    page.get_by_role("option", name="mine/vqvae", exact=True).click()
    page.wait_for_selector("#checkpoint-about.vqe-model-mine-vqvae.vqe-no-prior", state="attached")
    assert "diffusers VQModel" in page.inner_text("#checkpoint-about")
    page.get_by_role("tab", name="Reconstruct").click()
    page.wait_for_selector("#recon-summary.vqe-model-mine-vqvae.vqe-tokenizer-example", state="attached")
    page.wait_for_selector("#recon-output img")
    page.wait_for_selector("#recon-grid .js-plotly-plot")
    page.screenshot(path=str(shots / "tokenizer_reconstruct.png"), full_page=True)
    page.set_input_files("#recon-upload input[type=file]", str(ROOT / "docs" / "photos" / "coffee.jpg"))
    page.wait_for_selector("#recon-summary.vqe-model-mine-vqvae:not(.vqe-tokenizer-example)", state="attached")
    assert "64 px wide" in page.inner_text("#recon-summary")          # shown at the size it was opened with
    page.get_by_role("tab", name="Paint codes").click()
    page.wait_for_selector("#paint-canvas canvas", state="visible")
    page.wait_for_selector("#paint-info.vqe-context-none", state="attached")
    page.screenshot(path=str(shots / "tokenizer_paint.png"), full_page=True)
    page.get_by_role("tab", name="Codebook", exact=True).click()
    page.wait_for_selector("#codebook-head.vqe-model-mine-vqvae", state="attached")
    page.wait_for_selector("#codebook-atlas img")
    page.screenshot(path=str(shots / "tokenizer_codebook.png"), full_page=True)
    from vq_explorer import service
    cells = service.reconstruct_file(tokenizer_app[1], str(ROOT / "docs" / "photos" / "coffee.jpg")).grid.numel()
    page.check("#codebook-over input[value='mine']")      # usage over the photo uploaded above, its cells alone
    page.wait_for_selector("#codebook-head.vqe-model-mine-vqvae.vqe-visitor-codes", state="attached")
    assert f"({cells:,} cells)" in page.inner_text("#codebook-head")
    page.screenshot(path=str(shots / "tokenizer_codebook_mine.png"), full_page=True)
    page.get_by_role("tab", name="Sample").click()
    page.wait_for_selector("#sample-status.vqe-no-prior", state="attached")
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]


def test_a_click_on_a_later_page_of_the_atlas_names_a_code_of_that_page(page, tokenizer_app, shots):
    """Runs after the test above, on the same tokenizer: its 64 codes in four pages of 16, ranked by usage."""
    from vq_explorer import service
    codes = service.atlas_codes(tokenizer_app[1], 3)
    page.click("#checkpoint input")
    page.get_by_role("option", name="mine/vqvae", exact=True).click()
    page.get_by_role("tab", name="Codebook", exact=True).click()
    page.wait_for_selector("#codebook-head.vqe-model-mine-vqvae", state="attached")
    page.wait_for_selector("#codebook-page input[type=number]", state="visible")
    before = page.get_attribute("#codebook-atlas img", "src")
    number = page.locator("#codebook-page input[type=number]")
    number.fill("3")
    number.press("Enter")
    page.wait_for_function(f"(img => img && img.src !== {before!r} && img.naturalWidth > 0)"
                           "(document.querySelector('#codebook-atlas img'))")
    atlas = page.locator("#codebook-atlas img")
    # where the picture's pixel (x, y) is drawn in the element (object-fit: contain centres it in its box)
    box = atlas.evaluate("img => { const r = img.getBoundingClientRect(); const s = Math.min(r.width / "
                         "img.naturalWidth, r.height / img.naturalHeight); return [s, (r.width - s * "
                         "img.naturalWidth) / 2, (r.height - s * img.naturalHeight) / 2]; }")
    scale, left, top = box
    atlas.click(position={"x": left + (25 * 5 + 12) * scale, "y": top + 12 * scale})   # the sixth tile
    page.wait_for_function(f"document.querySelector('#codebook-code input')?.value === '{int(codes[5])}'")
    page.screenshot(path=str(shots / "tokenizer_codebook_page3.png"), full_page=True)


def test_a_stroke_on_a_global_decoder_shows_a_preview_then_the_exact_picture(page, tokenizer_app, shots):
    """A diffusers decoder normalises over the whole picture: while the button is down the painter shows the
    window the stroke changed (the component says `vqe-preview`), and when the stroke ends the full decode
    replaces it (`vqe-exact`)."""
    decoded = "#paint-canvas .vqe-out img"
    page.click("#checkpoint input")
    page.get_by_role("option", name="mine/vqvae", exact=True).click()
    page.get_by_role("tab", name="Paint codes").click()
    page.wait_for_selector(decoded + "[src^='data:image/png']")
    page.wait_for_selector("#paint-canvas .vqe-painter.vqe-exact", state="attached")
    page.locator("#paint-canvas canvas").scroll_into_view_if_needed()
    box = page.query_selector("#paint-canvas canvas").bounding_box()
    h, w = tokenizer_app[1].grid
    page.fill("#paint-code input", "63")
    page.evaluate("window.vqePaintLog.length = 0")
    y = box["y"] + box["height"] * (h // 2 + 0.5) / h
    page.mouse.move(box["x"] + box["width"] * (w // 2 + 0.5) / w, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (w // 2 + 2.5) / w, y, steps=4)
    page.wait_for_function("window.vqePaintLog.length >= 1")
    page.wait_for_selector("#paint-canvas .vqe-painter.vqe-preview", state="attached")
    preview = page.get_attribute(decoded, "src")
    page.screenshot(path=str(shots / "tokenizer_paint_preview.png"), full_page=True)
    page.mouse.up()
    page.wait_for_selector("#paint-canvas .vqe-painter.vqe-exact", state="attached")
    assert page.get_attribute(decoded, "src") != preview          # the full decode, not the preview, is shown
    page.screenshot(path=str(shots / "tokenizer_paint_exact.png"), full_page=True)
