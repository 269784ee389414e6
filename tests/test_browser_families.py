"""An implicit codebook in a real browser: a small encoder and decoder around vector-quantize-pytorch's FSQ with
levels 8,8,8,5,5,5 (64,000 codes), wrapped with `vqe.wrap(codebook=the FSQ module)`, opens in every tab:
Reconstruct with its quantization panel (each dimension's distance to its rounding boundary), Paint codes,
Codebook (its atlas of the codes seen, a code's neighbours one level step away) and Sample saying it needs a
prior."""

from pathlib import Path

import pytest
from test_browser import browser_page, open_cell, require_browser

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def fsq_app():
    require_browser()
    from test_families import fsq_or_lfq_model

    import vq_explorer as vqe
    from vq_explorer.ui import LAUNCH, build_demo
    wrapped, _, quantizer = fsq_or_lfq_model("fsq")
    tokenizer = wrapped.vqvae
    model = vqe.wrap(tokenizer._encode, tokenizer._decode, codebook=quantizer, downsample=4, name="fsq64000",
                     side=64, examples=ROOT / "docs" / "photos", modules=list(tokenizer.held))
    demo = build_demo("nowhere", [model])
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **LAUNCH)
    yield url, model
    demo.close()


def test_every_tab_opens_on_an_fsq_model_of_64000_codes(fsq_app, shots):
    url, model = fsq_app
    with browser_page(url) as page:
        page.wait_for_selector("#checkpoint-about.vqe-model-fsq64000.vqe-no-prior", state="attached")
        assert "64,000" in page.inner_text("#checkpoint-about") or "64000" in page.inner_text("#checkpoint-about")
        page.get_by_role("tab", name="Reconstruct").click()
        page.wait_for_selector("#recon-summary.vqe-model-fsq64000", state="attached")
        page.wait_for_selector("#recon-output img")
        page.wait_for_selector("#recon-cell[class*=' vqe-cell-']", state="attached")
        page.locator("#recon-margin img").scroll_into_view_if_needed()
        open_cell(page, "recon", "margin", 5, 6, 16)           # each dimension's distance from flipping
        page.wait_for_function("document.querySelectorAll('#recon-nearest img').length >= 1")
        page.screenshot(path=str(shots / "fsq_reconstruct.png"), full_page=True)
        page.get_by_role("tab", name="Paint codes").click()
        page.wait_for_selector("#paint-canvas canvas", state="visible")
        page.get_by_role("tab", name="Codebook", exact=True).click()
        page.wait_for_selector("#codebook-head.vqe-model-fsq64000", state="attached")
        page.wait_for_selector("#codebook-atlas img")
        page.screenshot(path=str(shots / "fsq_codebook.png"), full_page=True)
        page.get_by_role("tab", name="Sample").click()
        page.wait_for_selector("#sample-status.vqe-no-prior", state="attached")
        errors = page.query_selector_all("[data-testid='toast-body']")
        assert not errors, [e.inner_text() for e in errors]


@pytest.fixture(scope="module")
def chameleon_app(tmp_path_factory):
    require_browser()
    import torch
    import transformers
    from test_families import TINY_CHAMELEON

    import vq_explorer as vqe
    from vq_explorer.ui import LAUNCH, build_demo
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("chameleon") / "vq"
    transformers.ChameleonVQVAE(transformers.ChameleonVQVAEConfig(**TINY_CHAMELEON)).eval().save_pretrained(folder)
    model = vqe.open(str(folder), side=32, examples=ROOT / "docs" / "photos")
    demo = build_demo("nowhere", [model])
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **LAUNCH)
    yield url
    demo.close()


def test_a_tokenizer_without_a_decoder_says_so_where_each_picture_would_be(chameleon_app, shots):
    """Chameleon's VQ-VAE: Reconstruct, the painter and the Codebook tab each state once that there is no
    decoder; the painter hides its picture rather than show a grey square, and keeps painting codes."""
    with browser_page(chameleon_app) as page:
        page.get_by_role("tab", name="Reconstruct").click()
        page.wait_for_selector("#recon-summary.vqe-no-decoder", state="attached")
        assert page.query_selector("#recon-output img") is None and page.query_selector("#recon-error img") is None
        page.screenshot(path=str(shots / "chameleon_reconstruct.png"), full_page=True)
        page.get_by_role("tab", name="Paint codes").click()
        page.wait_for_selector("#paint-canvas canvas", state="visible")
        page.wait_for_function("document.querySelector('#paint-canvas .vqe-message').textContent.length > 0")
        assert page.locator("#paint-canvas .vqe-out img").is_hidden()
        page.screenshot(path=str(shots / "chameleon_paint.png"), full_page=True)
        page.get_by_role("tab", name="Codebook", exact=True).click()
        page.wait_for_selector("#codebook-head.vqe-no-decoder", state="attached")
        page.screenshot(path=str(shots / "chameleon_codebook.png"), full_page=True)
        errors = page.query_selector_all("[data-testid='toast-body']")
        assert not errors, [e.inner_text() for e in errors]
