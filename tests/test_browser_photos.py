"""A colour photo in a real browser: uploaded to the digit model it is offered the colour model, one click opens
that model on the same photo at its own size, and its 64×64 grid goes to the painter whole. Served from a folder
holding the shipped MNIST model and a colour model (the shipped one when it exists, else a tiny untrained one)."""

import shutil
from pathlib import Path

import pytest
from conftest import make_tiny_model
from test_browser import REPO_CHECKPOINTS, browser_page, open_cell, require_browser

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    """A digit model and a colour model side by side."""
    import vq_explorer as vqe
    folder = tmp_path_factory.mktemp("photo_app")
    digits = REPO_CHECKPOINTS / "mnist.safetensors"
    if digits.exists():
        shutil.copy(digits, folder / "mnist.safetensors")
    else:
        vqe.save(make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28)),
                 folder / "mnist.safetensors")
    colour = REPO_CHECKPOINTS / "cifar10.safetensors"
    if colour.exists():
        shutil.copy(colour, folder / "cifar10.safetensors")
    else:
        vqe.save(make_tiny_model(classes=[str(i) for i in range(10)], image_size=(32, 32), channels=3),
                 folder / "cifar10.safetensors")
    # the colour model whose samples are read as their class most often: the one the offer opens
    best = REPO_CHECKPOINTS / "cifar10_maskgit.safetensors"
    if best.exists():
        shutil.copy(best, folder / best.name)
    else:
        model = make_tiny_model(classes=[f"class {i}" for i in range(10)], image_size=(32, 32), channels=3,
                                prior="maskgit")
        model.metrics = {**model.metrics, "sample_accuracy": 0.99}
        vqe.save(model, folder / best.name)
    return folder


@pytest.fixture(scope="module")
def photo_app(ckpt_dir):
    """The app on that folder."""
    require_browser()
    from vq_explorer.ui import LAUNCH, build_demo
    demo = build_demo(ckpt_dir)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **LAUNCH)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def page(photo_app):
    with browser_page(photo_app) as pg:
        yield pg


def test_a_colour_photo_is_offered_the_colour_model_and_reaches_the_painter_whole(page, shots):
    page.get_by_role("tab", name="Reconstruct").click()
    page.wait_for_selector("#recon-summary.vqe-shipped-example", state="attached")
    assert page.input_value("#checkpoint input") == "mnist.safetensors"
    page.set_input_files("#recon-upload input[type=file]", str(ROOT / "docs" / "photos" / "astronaut.jpg"))
    page.wait_for_selector("#recon-summary.vqe-colour-offer", state="attached")
    button = page.locator("#recon-open-colour")
    button.wait_for(state="visible")
    assert "cifar10_maskgit" in button.inner_text()      # the colour model that samples best
    page.screenshot(path=str(shots / "reconstruct_colour_offer.png"), full_page=True)

    button.click()
    page.wait_for_selector("#recon-summary.vqe-model-cifar10-maskgit", state="attached")
    assert page.input_value("#checkpoint input") == "cifar10_maskgit.safetensors"
    assert "256 px wide, 256 high" in page.inner_text("#recon-summary")     # the photo at its own size
    assert "64×64 grid" in page.inner_text("#recon-summary")
    button.wait_for(state="hidden")                         # the colour model needs no offer
    page.wait_for_selector("#recon-surprise .js-plotly-plot")
    page.wait_for_selector("#recon-cell.vqe-grid-64x64", state="attached")   # the quantization panel on it too
    page.wait_for_function("document.querySelectorAll('#recon-nearest img').length === 8")
    page.wait_for_selector("#recon-swap img")
    page.screenshot(path=str(shots / "reconstruct_photo.png"), full_page=True)

    # the quantization maps of the photo's 64×64 grid: a click lands on its cell
    page.wait_for_selector("#recon-cell[class*=' vqe-cell-']", state="attached")
    page.locator("#recon-qerror img").scroll_into_view_if_needed()
    open_cell(page, "recon", "qerror", 40, 20, 64)
    page.wait_for_function("document.querySelectorAll('#recon-nearest img').length === 8")
    page.wait_for_selector("#recon-swap img")
    page.locator("#recon-quantization").screenshot(path=str(shots / "reconstruct_quantization_photo.png"))
    page.locator("#recon-send").scroll_into_view_if_needed()

    page.click("#recon-send")
    page.wait_for_function("(() => { const c = document.querySelector('#paint-canvas canvas'); "
                           "return c && c.width >= 64 * 8 && c.height >= 64 * 8; })()")
    canvas = page.query_selector("#paint-canvas canvas").bounding_box()
    assert 300 <= canvas["width"] <= 1000, canvas       # a 64×64 grid that fits the page
    page.locator("#paint-canvas canvas").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "paint_photo.png"), full_page=True)


def test_the_colour_models_codebook_and_sampling_work_in_the_browser(page, shots):
    """Runs after the photo test, with the colour model open: its codebook (usage, atlas of 1,024 decoded codes,
    the most used code's patches, in colour) and a class-conditional sample streamed cell by cell."""
    assert page.input_value("#checkpoint input") == "cifar10_maskgit.safetensors"
    page.get_by_role("tab", name="Codebook", exact=True).click()
    page.wait_for_selector("#codebook-usage .js-plotly-plot")
    page.wait_for_selector("#codebook-atlas img")
    page.wait_for_selector("#codebook-patches img")
    assert "perplexity" in page.inner_text("#codebook-head")
    page.screenshot(path=str(shots / "codebook_cifar10.png"), full_page=True)

    page.get_by_role("tab", name="Sample").click()
    page.wait_for_selector("#sample-status.vqe-opening", state="attached")
    # its first screen: a finished sheet of the first class, named, at the masked prior's own steps and guidance
    assert page.input_value("#sample-class input") not in ("", "(any)")
    assert page.query_selector("#sample-decoded img")
    assert float(page.input_value("#sample-guidance input[type=number]")) > 0
    page.screenshot(path=str(shots / "sample_cifar10_first_screen.png"), full_page=True)
    page.get_by_label("fast").check()
    page.click("#sample-start")
    page.wait_for_selector("#sample-status.vqe-done", timeout=60000, state="attached")
    assert page.query_selector("#sample-grid img") and page.query_selector("#sample-decoded img")
    page.screenshot(path=str(shots / "sample_cifar10.png"), full_page=True)
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]
