"""A tokenizer made elsewhere in a real browser: a diffusers VQModel (random weights, saved in diffusers' format
and opened as `vq-explorer --open` opens it) is listed beside the checkpoints, and every tab opens on it:
Reconstruct with its error map, Paint codes, Codebook, and Sample saying it needs a prior."""

from pathlib import Path

import pytest
from conftest import make_tiny_model
from test_browser import browser_page, require_browser

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def tokenizer_app(tmp_path_factory):
    require_browser()
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


@pytest.fixture(scope="module")
def page(tokenizer_app):
    with browser_page(tokenizer_app[0]) as pg:
        yield pg


def test_every_tab_opens_on_an_opened_tokenizer(page, shots):
    page.click("#checkpoint input")
    page.get_by_role("option", name="mine/vqvae", exact=True).click()
    page.wait_for_selector("#checkpoint-about .vqe-model-mine-vqvae.vqe-no-prior", state="attached")
    assert "diffusers VQModel" in page.inner_text("#checkpoint-about")
    page.get_by_role("tab", name="Reconstruct").click()
    page.wait_for_selector("#recon-summary .vqe-model-mine-vqvae.vqe-tokenizer-example", state="attached")
    page.wait_for_selector("#recon-output img")
    page.wait_for_selector("#recon-grid .js-plotly-plot")
    page.screenshot(path=str(shots / "tokenizer_reconstruct.png"), full_page=True)
    page.set_input_files("#recon-upload input[type=file]", str(ROOT / "docs" / "photos" / "coffee.jpg"))
    page.wait_for_selector("#recon-summary .vqe-model-mine-vqvae:not(.vqe-tokenizer-example)", state="attached")
    assert "64 px wide" in page.inner_text("#recon-summary")          # shown at the size it was opened with
    page.get_by_role("tab", name="Paint codes").click()
    page.wait_for_selector("#paint-canvas canvas", state="visible")
    page.wait_for_selector("#paint-info .vqe-context-none", state="attached")
    page.screenshot(path=str(shots / "tokenizer_paint.png"), full_page=True)
    page.get_by_role("tab", name="Codebook", exact=True).click()
    page.wait_for_selector("#codebook-head .vqe-model-mine-vqvae", state="attached")
    page.wait_for_selector("#codebook-atlas img")
    page.screenshot(path=str(shots / "tokenizer_codebook.png"), full_page=True)
    page.get_by_role("tab", name="Sample").click()
    page.wait_for_selector("#sample-status .vqe-no-prior", state="attached")
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]
