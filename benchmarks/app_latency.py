"""How quickly the app answers a person: in a real browser (Chromium driven by Playwright) from the input event
to the new picture on screen, and on the server for the handlers alone.

    python benchmarks/app_latency.py [--checkpoint mnist.safetensors] [--repeats 40] [--threads 2] [--no-browser]

Browser rows: the painter records, for each picture it shows, the time from the click or brush move that made
it to the picture decoded on screen (`window.vqePaintLog`). Server rows: the painter's fast path
(`paint.decode_cells`), the stroke that reaches Python afterwards (`paint.stroke`), and one streamed sampling
step (`sample.sample`, its PNGs and chart included). Writes benchmarks/results/app_latency.md.
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


def row(what: str, samples: list[float], goal: str = "") -> str:
    s = sorted(samples)
    return (f"| {what} | {len(s)} | {statistics.median(s):.1f} | {s[int(0.95 * (len(s) - 1))]:.1f} | "
            f"{goal} |")


def server_rows(catalog, name: str, repeats: int) -> list[str]:
    from vq_explorer import service
    from vq_explorer.ui import paint, sample
    model = catalog.get(name)
    h, w = model.grid
    K = model.config["num_codes"]
    hist, region = paint.reset(catalog, name)[:2]
    fast, commit = [], []
    for i in range(repeats + 3):
        grid = torch.tensor(hist["grid"])
        grid[divmod(i % (h * w), w)] = (i * 37) % K
        t = time.perf_counter()
        paint.decode_cells(catalog, {"checkpoint": name, "grid": grid.tolist()})
        t1 = time.perf_counter()
        hist = paint.stroke(catalog, name, hist, region, {"checkpoint": name, "grid": grid.tolist(),
                                                          "region": region})[0]
        t2 = time.perf_counter()
        if i >= 3:
            fast.append((t1 - t) * 1e3)
            commit.append((t2 - t1) * 1e3)
    rows = [row("paint: decode the painted grid (fast path, `decode_cells`)", fast, "≤ 20"),
            row("paint: the finished stroke into the history, JSON and bits (`stroke`)", commit)]
    masked = service.is_masked(model)
    for n in (1, 16):
        steps = []
        for rep in range(max(2, repeats // 10) + 1):
            t = time.perf_counter()
            for _ in sample.sample(catalog, name, "(any)", 1.0, 0, rep, n, "fast"):
                now = time.perf_counter()
                if rep:   # the first run warms up
                    steps.append((now - t) * 1e3)
                t = now
        what = "parallel step" if masked else "cell"
        rows.append(row(f"sample: one streamed {what}, {n} sample{'s' * (n > 1)} (PNGs and chart included)",
                        steps, "≤ 40" if n == 1 else ""))
    return rows


def browser_rows(catalog, name: str, repeats: int) -> list[str]:
    from playwright.sync_api import sync_playwright

    from vq_explorer import service
    from vq_explorer.ui import build_demo
    model = catalog.get(name)
    h, w = model.grid
    codes = torch.argsort(service.usage(model), descending=True).tolist()
    demo = build_demo(catalog.folder)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1300})
            page.goto(url)
            page.wait_for_selector("#checkpoint-about p")
            if page.input_value("#checkpoint input") != name:
                page.click("#checkpoint input")
                page.get_by_role("option", name=name).click()
            page.get_by_role("tab", name="Paint codes").click()
            page.wait_for_selector("#paint-canvas .vqe-out img[src^='data:image/png']")
            page.locator("#paint-canvas canvas").scroll_into_view_if_needed()
            box = page.query_selector("#paint-canvas canvas").bounding_box()

            def at(r, c):
                return box["x"] + box["width"] * (c + 0.5) / w, box["y"] + box["height"] * (r + 0.5) / h

            page.evaluate("window.vqePaintLog.length = 0")
            for i in range(repeats + 3):      # clicks, each a new code, spaced like a person's
                page.fill("#paint-code input", str(codes[(i * 7) % len(codes)]))
                page.mouse.click(*at(*divmod(i % (h * w), w)))
                page.wait_for_timeout(400)
            clicks = [e[0] for e in page.evaluate("window.vqePaintLog")[3:]]
            page.evaluate("window.vqePaintLog.length = 0")
            strokes = 0
            while len(page.evaluate("window.vqePaintLog")) < repeats and strokes < 20:   # brush strokes
                page.fill("#paint-code input", str(codes[strokes % len(codes)]))
                r = strokes % h
                page.mouse.move(*at(r, 0))
                page.mouse.down()
                for c in range(1, w):
                    page.mouse.move(*at(r, c), steps=4)
                    page.wait_for_timeout(30)
                page.mouse.up()
                page.wait_for_timeout(500)
                strokes += 1
            brush = [e[0] for e in page.evaluate("window.vqePaintLog")]
            browser.close()
    finally:
        demo.close()
    return [row("paint: click a cell → its decoded picture on screen (Chromium)", clicks, "≤ 100"),
            row(f"paint: brush move → the picture on screen, during the stroke ({strokes} strokes, Chromium)",
                brush, "follows the brush")]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="mnist.safetensors")
    ap.add_argument("--repeats", type=int, default=40)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from vq_explorer import service
    catalog = service.Catalog()
    model = catalog.get(args.checkpoint)
    rows = server_rows(catalog, args.checkpoint, args.repeats)
    if not args.no_browser:
        rows = browser_rows(catalog, args.checkpoint, args.repeats) + rows
    h, w = model.grid
    text = "\n".join([f"checkpoint {args.checkpoint}: {h}×{w} grid, K = {model.config['num_codes']}, "
                      f"{args.threads} threads, `python benchmarks/app_latency.py --checkpoint {args.checkpoint}`",
                      "", "| path | n | median ms | p95 ms | goal ms |", "|---|---|---|---|---|", *rows])
    print(text)
    out = ROOT / "benchmarks" / "results" / f"app_latency_{Path(args.checkpoint).stem}.md"
    out.write_text(text + "\n")
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
