"""A real browser (Debian Chromium driven by Playwright) on the launched app: upload, paint, sample, and a
screenshot of every tab (into $VQE_SCREENSHOTS, else a temporary folder)."""

import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
REPO_CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def require_browser():
    """Skip without Chromium or Playwright, or fail where CI requires the browser tests."""
    missing = None if Path(CHROMIUM).exists() else "Chromium is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing = missing or "playwright is not installed (pip install -r requirements-dev.txt)"
    if missing and os.environ.get("VQE_REQUIRE_BROWSER"):
        pytest.fail(f"{missing}, and VQE_REQUIRE_BROWSER is set (.ci/run sets it: CI must run the browser tests)")
    if missing:
        pytest.skip(f"{missing}; .ci/run installs it and requires these tests")


def open_page(p, url):
    """A Chromium page on the app, once the checkpoint has opened."""
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    pg.set_default_timeout(60_000)
    pg.goto(url)
    pg.wait_for_selector("#checkpoint-about p")        # the checkpoint opened
    return browser, pg


@pytest.fixture(scope="module")
def app_url(ckpt_dir):
    require_browser()
    from vq_explorer import service
    from vq_explorer.ui import LAUNCH, build_demo
    # The shipped models when there are any (the screenshots then show what a user sees), else the tiny one.
    folder = REPO_CHECKPOINTS if service.Catalog(REPO_CHECKPOINTS).names() else ckpt_dir
    demo = build_demo(folder)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **LAUNCH)
    yield url, service.Catalog(folder)
    demo.close()


@pytest.fixture(scope="module")
def catalog(app_url):
    return app_url[1]


@contextmanager
def browser_page(url):
    """A page of a headless Chromium on the app at `url`, closed when done (each test module's `page`)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser, pg = open_page(p, url)
        yield pg
        browser.close()


@pytest.fixture(scope="module")
def page(app_url):
    with browser_page(app_url[0]) as pg:
        yield pg


def _src(page, sel):
    el = page.query_selector(sel)
    return el.get_attribute("src") if el else None


def _pixels(page, sel):
    """What the page shows in an element, as an RGB array (not its URL: every response has a new one)."""
    import io
    return np.asarray(Image.open(io.BytesIO(page.locator(sel).screenshot())).convert("RGB")).astype(int)


def test_reconstruct_opens_on_an_example_then_takes_an_upload(page, shots, tmp_path, mnist_1000):
    page.get_by_role("tab", name="Reconstruct").click()
    # the first screen: a shipped example already reconstructed, not empty panels
    page.wait_for_selector("#recon-summary.vqe-shipped-example", state="attached")
    page.wait_for_selector("#recon-output img")
    page.wait_for_selector("#recon-grid .js-plotly-plot")
    page.screenshot(path=str(shots / "reconstruct_first_screen.png"), full_page=True)
    img = tmp_path / "digit.png"
    Image.fromarray(mnist_1000[0][0, 0].numpy()).save(img)
    page.set_input_files("#recon-upload input[type=file]", str(img))
    page.wait_for_selector("#recon-summary.vqe-recon:not(.vqe-shipped-example)", state="attached")
    page.wait_for_selector("#recon-output img")
    page.wait_for_selector("#recon-surprise .js-plotly-plot")
    assert "bits" in page.inner_text("#recon-summary")
    page.screenshot(path=str(shots / "reconstruct.png"), full_page=True)


def click_cell(page, selector: str, row: int, col: int, side: int):
    """Click the middle of cell (row, col) of a side × side map shown as a picture. Gradio shows a picture
    smaller than its frame at its own size, centred (object-fit: scale-down), so the cell is found in the
    picture as drawn, not in the frame."""
    page.wait_for_function(f"document.querySelector({selector!r})?.complete && "
                           f"document.querySelector({selector!r}).naturalWidth > 0")   # the picture loaded
    box = page.query_selector(selector).bounding_box()
    w, h = page.evaluate(f"[document.querySelector({selector!r}).naturalWidth, "
                         f"document.querySelector({selector!r}).naturalHeight]")
    scale = min(1.0, box["width"] / w, box["height"] / h)
    x0, y0 = box["x"] + (box["width"] - w * scale) / 2, box["y"] + (box["height"] - h * scale) / 2
    page.mouse.click(x0 + w * scale * (col + 0.5) / side, y0 + h * scale * (row + 0.5) / side)


def open_cell(page, prefix: str, which: str, row: int, col: int, side: int):
    """Click cell (row, col) of a quantization map until its panel shows that cell: a panel still being filled
    for a new image (its closest call) may land after the first click."""
    for _ in range(5):
        click_cell(page, f"#{prefix}-{which} img", row, col, side)
        try:
            page.wait_for_selector(f"#{prefix}-cell.vqe-cell-{row}-{col}", timeout=15_000, state="attached")
            return
        except Exception:   # noqa: BLE001 - Playwright's timeout: click again
            continue
    raise AssertionError(f"the panel never showed cell ({row}, {col})")


def test_a_click_on_the_quantization_maps_shows_the_cells_nearest_codes(page, shots):
    """After the upload above: the error and margin maps, a click on a cell of either opening that cell — its
    eight nearest codes decoded, the chosen one first — and the grid with the runner-up sent to the painter."""
    page.get_by_role("tab", name="Reconstruct").click()
    page.wait_for_selector("#recon-cell[class*=' vqe-cell-']", state="attached")
    page.locator("#recon-qerror img").scroll_into_view_if_needed()
    open_cell(page, "recon", "qerror", 2, 3, 7)
    open_cell(page, "recon", "margin", 5, 1, 7)
    page.wait_for_function("document.querySelectorAll('#recon-nearest img').length === 8")
    chosen = page.inner_text("#recon-cell").split("code ")[1].split(" ")[0]
    assert f"#{chosen}" in page.inner_text("#recon-nearest")
    page.wait_for_selector("#recon-swap img")
    page.wait_for_selector("#recon-z .js-plotly-plot")
    page.locator("#recon-quantization").screenshot(path=str(shots / "reconstruct_quantization.png"))
    page.click("#recon-swap-send")
    page.wait_for_selector("#paint-canvas canvas", state="visible")
    # the painter explains the image its grid came from: a click on its map opens that cell there too
    page.wait_for_selector("#paint-cell[class*=' vqe-cell-']", state="attached")
    page.locator("#paint-qerror img").scroll_into_view_if_needed()
    open_cell(page, "paint", "qerror", 4, 4, 7)
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]


def test_compress_gives_the_file_and_its_cost_and_an_uploaded_file_decodes(page, shots, tmp_path, mnist_1000,
                                                                           catalog):
    """"Compress it" shows the file's bytes beside WebP and JPEG and offers the file; a visitor uploading a
    compressed file (in a fresh tab) sees it decoded."""
    pytest.importorskip("constriction")
    page.get_by_role("tab", name="Reconstruct").click()
    page.click("#recon-compress")
    page.wait_for_selector("#recon-file-size.vqe-file", state="attached")
    assert "WebP" in page.inner_text("#recon-file-size")
    page.wait_for_selector("#recon-file a")
    page.locator("#recon-compress").screenshot(path=str(shots / "reconstruct_compress_button.png"))
    from vq_explorer.service import codec
    model = catalog.get(page.input_value("#checkpoint input"))
    path = tmp_path / "digit.vqe"
    path.write_bytes(codec.compress(model, mnist_1000[0][5:6].float() / 255, int(mnist_1000[1][5])))
    fresh = _fresh_page(page)
    fresh.set_input_files("#recon-upload input[type=file]", str(path))
    fresh.wait_for_selector("#recon-summary.vqe-decoded-file", state="attached")
    assert f"{path.stat().st_size:,}" in fresh.inner_text("#recon-summary")   # the file's size, in bytes
    fresh.close()


def _rarest_code(page, catalog) -> int:
    """A code that the painter's grid surely does not hold everywhere: the palette's last (least used) entry."""
    from vq_explorer import service
    return int(service.usage(catalog.get(page.input_value("#checkpoint input"))).argmin())


DECODED = "#paint-canvas .vqe-out img"


def _undo_count(page) -> int:
    return int(page.inner_text("#paint-info").split("undo ")[1].split(" ")[0])


def test_click_a_cell_in_paint_changes_the_decoded_image(page, shots, catalog):
    page.get_by_role("tab", name="Paint codes").click()
    page.wait_for_selector(DECODED + "[src^='data:image/png']")
    page.wait_for_selector("#paint-info p")
    # the palette fills in after the painter: every code of the checkpoint, most used first
    page.wait_for_function("document.querySelectorAll('#paint-palette img').length > 0")
    codes = catalog.get(page.input_value("#checkpoint input")).config["num_codes"]
    assert page.locator("#paint-palette img").count() == min(128, codes)
    page.locator("#paint-canvas canvas").scroll_into_view_if_needed()
    before_src, before, undo = _src(page, DECODED), _pixels(page, DECODED), _undo_count(page)
    box = page.query_selector("#paint-canvas canvas").bounding_box()
    page.fill("#paint-code input", str(_rarest_code(page, catalog)))
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.wait_for_function(f"document.querySelector({DECODED!r})?.src !== {before_src!r}")
    page.wait_for_function(f"(() => {{ const i = document.querySelector({DECODED!r}); "   # the new picture drawn
                           f"return i && i.complete && i.naturalWidth > 0; }})()")
    after = _pixels(page, DECODED)
    assert after.shape == before.shape and np.abs(after - before).max() > 30, "the decoded image did not change"
    # the click reached Python too: one more step to undo, and the grid JSON holds the code at the centre
    page.wait_for_selector(f"#paint-info.vqe-undo-{undo + 1}", state="attached")
    page.screenshot(path=str(shots / "paint.png"), full_page=True)


def test_the_decoded_image_follows_a_brush_stroke_before_it_ends(page, catalog):
    """Drag across a row: the decoded picture changes while the button is still down (streamed, not a second
    after letting go), and the whole stroke becomes one step in Python's history."""
    page.get_by_role("tab", name="Paint codes").click()
    page.wait_for_selector(DECODED + "[src^='data:image/png']")
    page.locator("#paint-canvas canvas").scroll_into_view_if_needed()
    box = page.query_selector("#paint-canvas canvas").bounding_box()
    name, undo = page.input_value("#checkpoint input"), _undo_count(page)
    h, w = catalog.get(name).grid
    code = _rarest_code(page, catalog)
    page.fill("#paint-code input", str(code))
    row_y = box["y"] + box["height"] * 0.5 / h                       # the first row
    page.evaluate("window.vqePaintLog.length = 0")
    page.mouse.move(box["x"] + 2, row_y)
    page.mouse.down()
    before = _pixels(page, DECODED)
    for c in range(w):
        page.mouse.move(box["x"] + box["width"] * (c + 0.5) / w, row_y, steps=3)
    page.wait_for_function("window.vqePaintLog.length >= 2")      # pictures shown during the stroke
    during = _pixels(page, DECODED)
    assert np.abs(during - before).max() > 30, "the decoded image did not change during the stroke"
    page.mouse.up()
    page.wait_for_selector(f"#paint-info.vqe-undo-{undo + 1}", state="attached")
    import json
    page.get_by_text("Export / import JSON").click()
    grid = json.loads(page.locator("#paint-json .cm-content").inner_text())["grid"]
    assert grid[0] == [code] * w


def test_codebook_tab_shows_usage_and_atlas(page, shots):
    page.get_by_role("tab", name="Codebook", exact=True).click()
    page.wait_for_selector("#codebook-usage .js-plotly-plot")
    page.wait_for_selector("#codebook-atlas img")
    assert "perplexity" in page.inner_text("#codebook-head")
    page.screenshot(path=str(shots / "codebook.png"), full_page=True)


def test_sampling_opens_on_a_finished_sheet_then_fills_the_grid(page, shots):
    page.get_by_role("tab", name="Sample").click()
    page.wait_for_selector("#sample-status.vqe-opening", state="attached")
    assert page.query_selector("#sample-grid img") and page.query_selector("#sample-decoded img")
    page.get_by_label("fast").check()
    page.click("#sample-start")
    page.wait_for_selector("#sample-status.vqe-cell", state="attached")
    page.wait_for_selector("#sample-status.vqe-done", state="attached")
    assert not page.query_selector("#sample-status.vqe-opening")     # each update replaces the last one's state
    assert page.query_selector("#sample-grid img") and page.query_selector("#sample-decoded img")
    page.wait_for_selector("#sample-probs .js-plotly-plot")
    page.screenshot(path=str(shots / "sample.png"), full_page=True)
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]


def _open_shipped(page, part: str, recipe: str, described_as: str):
    """Choose the shipped checkpoint whose name contains `part` in the selector and wait until the description
    names `described_as`; skip when it is not built."""
    from vq_explorer import service
    names = sorted((n for n in service.Catalog(REPO_CHECKPOINTS).names() if part in n), key=lambda n: n != part)
    if not names:
        pytest.skip(f"no {part} checkpoint in checkpoints/ (python -m vq_explorer.commands.rebuild {recipe})")
    page.click("#checkpoint input")
    page.get_by_role("option", name=names[0], exact=True).click()
    stem = names[0].removesuffix(".safetensors").replace("_", "-")
    page.wait_for_selector(f"#checkpoint-about.vqe-model-{stem}", state="attached")
    assert described_as in page.inner_text("#checkpoint-about")


def _fresh_page(page):
    """A visitor's new tab on the same app, its checkpoint opened."""
    fresh = page.context.browser.new_page(viewport={"width": 1400, "height": 1000})
    fresh.set_default_timeout(60_000)
    fresh.goto(page.url)
    fresh.wait_for_selector("#checkpoint-about p")
    return fresh


def _has(page, selector: str, text: str):
    """Wait until an element holds `text` (data: a checkpoint's name in a grid's JSON)."""
    page.wait_for_function(f"document.querySelector({selector!r})?.innerText.includes({text!r})")


def test_a_switch_fills_the_open_tab_and_each_other_tab_when_it_is_opened(page, shots):
    """Choosing another checkpoint fills the visible tab at once and each other tab when the visitor opens it:
    every tab then shows the newly chosen model, and switching back while another tab is open shows that tab's
    view of the model chosen last. In a fresh tab, so the shared page's model stays as it was."""
    page = _fresh_page(page)
    _open_shipped(page, "cifar10", "cifar10", "cifar10")
    page.wait_for_selector("#recon-summary.vqe-model-cifar10", state="attached")   # Reconstruct, the open tab
    page.get_by_role("tab", name="Codebook", exact=True).click()
    page.wait_for_selector("#codebook-head.vqe-model-cifar10", state="attached")
    page.wait_for_function("document.querySelector('#codebook-atlas img')?.naturalWidth === 32 * 25 - 1 && "
                           "document.querySelector('#codebook-atlas img')?.naturalHeight === 32 * 25 - 1")
    page.screenshot(path=str(shots / "codebook_atlas_cifar10.png"), full_page=True)
    page.get_by_role("tab", name="Sample").click()
    _has(page, "#sample-json", "cifar10.safetensors")
    page.get_by_role("tab", name="Paint codes").click()
    page.get_by_text("Export / import JSON").click()
    _has(page, "#paint-json", "cifar10.safetensors")
    _open_shipped(page, "mnist.safetensors", "mnist", "7×7")           # back, with Paint open
    _has(page, "#paint-json", '"checkpoint": "mnist.safetensors"')
    page.get_by_role("tab", name="Codebook", exact=True).click()
    page.wait_for_selector("#codebook-head.vqe-model-mnist", state="attached")
    page.get_by_role("tab", name="Sample").click()
    _has(page, "#sample-json", '"checkpoint": "mnist.safetensors"')
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]
    page.close()


def test_sampling_with_the_transformer_checkpoint(page, shots):
    """Open the Transformer-prior checkpoint in the selector and stream a sample from it (runs last: it leaves
    that checkpoint open)."""
    _open_shipped(page, "transformer", "mnist_transformer", "Transformer")
    page.get_by_role("tab", name="Sample").click()
    page.get_by_label("fast").check()
    before = page.inner_text("#sample-status")   # the last run's final status (it names its random seed)
    page.click("#sample-start")
    page.wait_for_function("([b]) => { const s = document.querySelector('#sample-status'); "
                           "return s && s.innerText !== b && s.classList.contains('vqe-done'); }", arg=[before])
    assert page.query_selector("#sample-decoded img")
    page.screenshot(path=str(shots / "sample_transformer.png"), full_page=True)
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]


def test_sampling_with_the_masked_prior_fills_in_parallel_steps(page, shots):
    """Open the masked-prior checkpoint and watch a sample fill in its parallel steps: the status counts steps,
    the committed cells and their confidence map show; the painter says who redraws a region."""
    _open_shipped(page, "mnist_maskgit", "mnist_maskgit", "MaskGIT")
    page.get_by_role("tab", name="Sample").click()
    page.get_by_label("slow").check()
    page.click("#sample-start")
    page.wait_for_selector("#sample-status.vqe-step-4", state="attached")
    page.wait_for_selector("#sample-probs .js-plotly-plot")
    page.screenshot(path=str(shots / "sample_maskgit_step.png"), full_page=True)
    page.wait_for_selector("#sample-status.vqe-done", state="attached")
    assert page.query_selector("#sample-status.vqe-step-8")      # the checkpoint's default: 8 steps
    page.get_by_role("tab", name="Paint codes").click()
    page.wait_for_selector("#paint-info.vqe-context-every-side", state="attached")
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]


def test_the_fashion_model_reconstructs_an_uploaded_item_and_samples_its_classes(page, shots, tmp_path):
    """The second greyscale domain: open the Fashion-MNIST checkpoint, upload a clothing item, see it rebuilt
    with its error and surprise maps, and sample a class chosen by its name. In a visitor's fresh tab: the shared
    page's upload already holds a digit, and the editor then offers no empty file input."""
    page = _fresh_page(page)
    _open_shipped(page, "fashion", "fashion_mnist", "fashion_mnist")
    page.get_by_role("tab", name="Reconstruct").click()
    item = np.load(Path(__file__).parent / "fixtures" / "fashion_mnist_test_1000.npz")["images"][0, 0]
    img = tmp_path / "ankle_boot.png"
    Image.fromarray(item).resize((56, 56), Image.NEAREST).save(img)   # its size names it in the summary
    page.set_input_files("#recon-upload input[type=file]", str(img))
    page.wait_for_function("document.querySelector('#recon-summary')?.innerText.includes('resized from 56×56')")
    assert "PSNR" in page.inner_text("#recon-summary")
    page.wait_for_selector("#recon-surprise .js-plotly-plot")
    page.screenshot(path=str(shots / "reconstruct_fashion.png"), full_page=True)

    page.get_by_role("tab", name="Sample").click()
    page.click("#sample-class input")
    page.get_by_role("option", name="Ankle boot").click()
    page.get_by_label("fast").check()
    before = page.inner_text("#sample-status")
    page.click("#sample-start")
    page.wait_for_function("([b]) => { const s = document.querySelector('#sample-status'); "
                           "return s && s.innerText !== b && s.classList.contains('vqe-done'); }", arg=[before])
    assert page.input_value("#sample-class input") == "Ankle boot"
    page.screenshot(path=str(shots / "sample_fashion.png"), full_page=True)
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]
    page.close()


def test_the_codebook_lab_trains_two_variants_and_opens_the_model(page, shots):
    """Race two quantizers for a few seconds: the status counts steps while the curves grow, the summary
    arrives at the end, and the model opens in the other tabs (with no prior, which the selector says)."""
    page.get_by_role("tab", name="Codebook lab").click()
    page.wait_for_selector("#lab-start")
    page.locator("#lab-seconds input[type=number]").fill("15")
    page.locator("#lab-seconds input[type=number]").press("Enter")
    page.click("#lab-start")
    page.wait_for_selector("#lab-status.vqe-training", state="attached")
    page.wait_for_selector("#lab-curves .js-plotly-plot")
    first = page.inner_text("#lab-status")
    page.wait_for_function("([b]) => { const t = document.querySelector('#lab-status')?.innerText || ''; "
                           "return t !== b; }", arg=[first])           # the curves move: a later frame came
    page.wait_for_selector("#lab-status.vqe-done", timeout=90_000, state="attached")
    import json
    result = json.loads(page.locator("#lab-summary .cm-content").inner_text())
    assert result["variant"] == "plain" and result["compare"]["variant"] == "ema+kmeans+restart"
    assert result["steps"] > 0 and page.query_selector("#lab-map .js-plotly-plot")
    page.screenshot(path=str(shots / "lab.png"), full_page=True)
    page.click("#lab-open")
    page.wait_for_selector("#checkpoint-about.vqe-no-prior", state="attached")
    # Reconstruct now shows the lab model's work (the earlier upload, or its first example) without a prior
    page.wait_for_selector("#recon-summary.vqe-no-prior", state="attached")
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]


def test_the_lab_stops_at_once_and_can_train_again(page):
    """Stop a 60-second run after its first pictures: the status stops moving, and a new run starts straight
    away (the stopped one gave the lab back)."""
    page.get_by_role("tab", name="Codebook lab").click()
    page.locator("#lab-seconds input[type=number]").fill("60")
    page.locator("#lab-seconds input[type=number]").press("Enter")
    page.click("#lab-start")
    page.wait_for_selector("#lab-status.vqe-training", state="attached")
    page.click("#lab-stop")
    # Stop closes the run's generator on the server, which gives the lab back: wait for that state, then the
    # status can no longer move (nothing is left to send it)
    from vq_explorer.service import lab
    deadline = time.time() + 10
    while lab.RUNNING.locked() and time.time() < deadline:
        page.wait_for_timeout(50)
    assert not lab.RUNNING.locked(), "the run went on after Stop"
    stopped = page.inner_text("#lab-status")
    assert not page.query_selector("#lab-status.vqe-done"), "the run went on after Stop"
    page.locator("#lab-seconds input[type=number]").fill("5")
    page.locator("#lab-seconds input[type=number]").press("Enter")
    page.click("#lab-start")
    page.wait_for_function("([b]) => { const s = document.querySelector('#lab-status'); "
                           "return s && s.innerText !== b && s.classList.contains('vqe-training'); }",
                           arg=[stopped], timeout=10_000)
    page.wait_for_selector("#lab-status.vqe-done", timeout=30_000, state="attached")
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]


def test_the_rate_chart_shows_each_image_set_and_the_sizes_without_headers(page, shots):
    """benchmarks/results/rate_distortion.csv: a star per model at its file size beside the WebP and JPEG curves;
    the image set and the sizes are chosen by radio, and the findings follow the set."""
    page.get_by_role("tab", name="Trade-off").click()
    page.wait_for_selector("#rate-chart .js-plotly-plot")
    assert {"mnist", "mnist_4x4", "mnist_14x14"} <= set(page.inner_text("#rate-chart").split())
    assert "mnist_14x14" in page.inner_text("#rate-findings")
    page.locator("#rate-set input[value='cifar10']").check()
    page.wait_for_function("!document.querySelector('#rate-chart')?.innerText.includes('mnist_4x4')")
    assert "cifar10" in page.inner_text("#rate-chart").split()
    page.wait_for_function("!document.querySelector('#rate-findings')?.innerText.includes('mnist_14x14')")
    before = page.inner_text("#rate-chart")
    page.locator("#rate-sizes input[value='without fixed headers']").check()
    page.wait_for_function("([b]) => { const t = document.querySelector('#rate-chart')?.innerText; "
                           "return t && t !== b && !t.includes('queue'); }", arg=[before])
    page.locator("#rate-chart").screenshot(path=str(shots / "tradeoff_rate.png"))
    errors = page.query_selector_all("[data-testid='toast-body']")
    assert not errors, [e.inner_text() for e in errors]


def test_tradeoff_tab_opens_on_the_chart_and_sheets_with_the_tables_folded(page, shots):
    page.get_by_role("tab", name="Trade-off").click()
    page.wait_for_selector("#tradeoff-chart .js-plotly-plot")
    labels = page.inner_text("#tradeoff-chart")   # one labelled marker per model of tradeoff.csv
    assert "7×7 Gated PixelCNN" in labels and "4×4 Gated PixelCNN" in labels and "7×7 Transformer" in labels
    assert page.locator("#tradeoff-sheets img").count() >= 2
    assert "What the numbers say" in page.inner_text("#tradeoff-findings")
    assert not page.locator("#tradeoff-table").is_visible()   # the tables wait in closed sections
    assert "batch of 16" not in page.inner_text("#tradeoff-chart")
    page.locator("#tradeoff-batch").get_by_text("per image in a batch of 16").click()
    # wait for the redrawn chart itself: Gradio's "queue: 1/1" badge changes the text before the new figure lands
    page.wait_for_function("document.querySelector('#tradeoff-chart')?.innerText.includes('batch of 16')")
    page.screenshot(path=str(shots / "tradeoff.png"), full_page=True)
    page.get_by_text("Grid sizes: the table").click()
    page.wait_for_selector("#tradeoff-table", state="visible")
    assert "mnist_4x4" in page.inner_text("#tradeoff-table")
    page.get_by_text("Prior families over the same codes: the table").click()
    priors = page.inner_text("#priors-table")   # tradeoff.csv holds several priors over mnist's codes
    assert "Gated PixelCNN" in priors and "mnist_transformer" in priors
    page.get_by_text("The masked prior's steps").click()
    page.wait_for_selector("#steps-chart .js-plotly-plot")     # maskgit_steps.csv: the masked prior's steps
    assert "maskgit" in page.inner_text("#steps-table")
    page.screenshot(path=str(shots / "tradeoff_tables.png"), full_page=True)
