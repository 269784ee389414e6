"""The Compare tab in a real browser: three models side by side on a shipped example, then a click on one
reconstruction outlines the same region in every one (found in the pictures the page shows, not in its words)."""

import io
import shutil

import numpy as np
import pytest
from conftest import make_tiny_model
from PIL import Image
from test_browser import REPO_CHECKPOINTS, browser_page, require_browser

pytestmark = [pytest.mark.browser, pytest.mark.slow]
NAMES = ["mnist", "mnist_4x4", "mnist_14x14"]


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory):
    """MNIST at three grids: the shipped files where they exist, else tiny untrained ones at factors 4, 8, 2."""
    import vq_explorer as vqe
    folder = tmp_path_factory.mktemp("compare_app")
    for name, f in zip(NAMES, (4, 8, 2), strict=True):
        shipped = REPO_CHECKPOINTS / f"{name}.safetensors"
        if shipped.exists():
            shutil.copy(shipped, folder / shipped.name)
        else:
            vqe.save(make_tiny_model(classes=[str(i) for i in range(10)], image_size=(28, 28), downsample=f),
                     folder / f"{name}.safetensors")
    return folder


@pytest.fixture(scope="module")
def page(ckpt_dir):
    require_browser()
    from vq_explorer.ui import LAUNCH, build_demo
    demo = build_demo(ckpt_dir)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True, **LAUNCH)
    with browser_page(url) as pg:
        yield pg
    demo.close()


def _outline(page, sel):
    """The cyan outline's box in the picture an element shows, as shares of the picture's size."""
    a = np.asarray(Image.open(io.BytesIO(page.locator(sel).screenshot())).convert("RGB")).astype(int)
    cyan = (a[..., 0] < 60) & (a[..., 1] > 200) & (a[..., 2] > 200)
    ys, xs = np.nonzero(cyan)
    if not len(ys):
        return None
    h, w = cyan.shape
    return np.array([xs.min() / w, ys.min() / h, xs.max() / w, ys.max() / h])


def test_three_models_side_by_side_and_a_click_outlines_the_same_region_in_each(page, shots):
    page.click("button[role=tab][data-tab-id='compare']")   # the tab's id (gr.Tab(id=...))
    page.wait_for_selector("#cmp-status.vqe-cmp-done.vqe-cmp-n-3", state="attached")
    for i, name in enumerate(NAMES):
        page.wait_for_selector(f"#cmp-figures-{i}.vqe-cmp-result.vqe-model-{name.replace('_', '-')}",
                               state="attached")
        page.wait_for_selector(f"#cmp-recon-{i} img")
        page.wait_for_selector(f"#cmp-error-{i} img")
        assert _outline(page, f"#cmp-recon-{i} img") is None
    box = page.locator("#cmp-recon-1 img").bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    page.wait_for_selector("#cmp-codes.vqe-cmp-region.vqe-cmp-outlined-2", state="attached")
    page.wait_for_selector("#cmp-crops img")
    page.wait_for_timeout(500)
    boxes = [_outline(page, f"#cmp-recon-{i} img") for i in range(3)]
    assert all(b is not None for b in boxes), boxes
    for b in boxes[1:]:
        assert np.abs(b - boxes[0]).max() < 0.03, boxes    # the same region, whatever each model's grid
    centre = (boxes[0][:2] + boxes[0][2:]) / 2
    assert np.abs(centre - [0.3, 0.6]).max() < 0.06, centre   # where the click was
    page.wait_for_selector("#cmp-figures-2.vqe-cmp-result", state="attached")
    page.wait_for_timeout(300)
    scrolled = page.evaluate("window.scrollY")       # bounding boxes are the viewport's, the clip the page's
    top = page.locator("#cmp-models").bounding_box()["y"] + scrolled - 10
    bottom = max(page.locator(sel).bounding_box()["y"] + page.locator(sel).bounding_box()["height"]
                 for sel in ("#cmp-crops", "#cmp-codes")) + scrolled + 10
    page.screenshot(path=str(shots / "compare.png"), full_page=True,
                    clip={"x": 0, "y": top, "width": 1400, "height": bottom - top})
