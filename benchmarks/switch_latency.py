"""How long a visitor waits after choosing another checkpoint, in a real browser (Chromium driven by Playwright):
from the click to the open tab's new result on screen.

    python benchmarks/switch_latency.py [--repeats 3] [--threads 2]

Rows: the colour offer (a colour photo uploaded to the digit model, then "open the colour model" clicked) until
the photo's reconstruction by the colour model is shown; then the selector switching between the digit and the
colour model while Reconstruct, Codebook or Sample is the open tab, until that tab shows the new model's first
screen. Each row alternates the two models `--repeats` times (so each model is opened several times: the first
opening of a model in a server process loads it, later ones find it loaded). Writes
benchmarks/results/switch_latency.md.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
DIGITS, COLOUR = "mnist.safetensors", "cifar10.safetensors"
# What shows that a tab holds the newly opened model's first screen: a picture whose source changes.
CHANGED = {"Reconstruct": "#recon-output img", "Codebook": "#codebook-atlas img", "Sample": "#sample-decoded img"}


def src(page, selector: str) -> str:
    return page.evaluate(f"document.querySelector({selector!r})?.src || ''")


def wait_changed(page, selector: str, before: str, about_before: str):
    """Until the picture's source differs from `before` and the checkpoint's description from `about_before`."""
    page.wait_for_function(
        f"document.querySelector({selector!r})?.src && document.querySelector({selector!r}).src !== {before!r} && "
        f"document.querySelector('#checkpoint-about')?.innerText !== {about_before!r}", timeout=120_000)


def choose(page, name: str):
    page.click("#checkpoint input")
    page.get_by_role("option", name=name, exact=True).click()


def measure(page, tab: str, name: str) -> float:
    selector = CHANGED[tab]
    before, about = src(page, selector), page.inner_text("#checkpoint-about")
    t = time.perf_counter()
    choose(page, name)
    wait_changed(page, selector, before, about)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tabs", nargs="*", default=list(CHANGED), choices=list(CHANGED),
                    help="the open tabs to switch on (default: all three)")
    ap.add_argument("--no-offer", action="store_true", help="skip the colour offer's row")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from playwright.sync_api import sync_playwright

    from vq_explorer.ui import build_demo
    demo = build_demo(ROOT / "checkpoints")
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    rows = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            offer = []
            photos = ("chelsea.jpg", "coffee.jpg", "rocket.jpg")[: 0 if args.no_offer else args.repeats]
            for photo in photos:
                page = browser.new_page(viewport={"width": 1400, "height": 1300})   # a visitor, on the digits
                page.goto(url)
                page.wait_for_selector("#checkpoint-about p")
                page.wait_for_selector(CHANGED["Reconstruct"])
                page.set_input_files("#recon-upload input[type=file]", str(ROOT / "docs" / "photos" / photo))
                button = page.locator("#recon-open-colour")
                button.wait_for(state="visible", timeout=60_000)
                before, about = src(page, CHANGED["Reconstruct"]), page.inner_text("#checkpoint-about")
                t = time.perf_counter()
                button.click()
                wait_changed(page, CHANGED["Reconstruct"], before, about)
                page.wait_for_function("document.querySelector('#recon-summary')?.innerText.includes('px wide')")
                offer.append(time.perf_counter() - t)
            if offer:
                rows.append(("the colour offer → the photo rebuilt by the colour model", "Reconstruct", offer))
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url)
            page.wait_for_selector("#checkpoint-about p")
            for tab in args.tabs:
                page.get_by_role("tab", name=tab, exact=True).click()
                page.wait_for_selector(CHANGED[tab], timeout=120_000)
                times = []
                for i in range(2 * args.repeats):
                    other = DIGITS if page.input_value("#checkpoint input") == COLOUR else COLOUR
                    times.append(measure(page, tab, other))
                    del i
                rows.append((f"the selector, {DIGITS} ↔ {COLOUR}", tab, times))
            browser.close()
    finally:
        demo.close()
    lines = [f"`python benchmarks/switch_latency.py --repeats {args.repeats}` ({args.threads} threads): seconds "
             "from the click to the open tab's new picture on screen, in Chromium", "",
             "| switch | open tab | each time, s | median s |", "|---|---|---|---|"]
    for what, tab, times in rows:
        each = ", ".join(f"{t:.2f}" for t in times)
        lines.append(f"| {what} | {tab} | {each} | {statistics.median(times):.2f} |")
    text = "\n".join(lines)
    print(text)
    out = ROOT / "benchmarks" / "results" / "switch_latency.md"
    out.write_text(text + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
