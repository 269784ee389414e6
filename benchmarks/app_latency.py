"""Server-side latency of the app's interactive paths, measured on the handlers themselves (no browser):
painting one cell (set code → decode → render → PNG) and one streamed sampling step.

    python benchmarks/app_latency.py [--checkpoint mnist.safetensors] [--repeats 50] [--threads 2]
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import gradio as gr
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def ms(samples):
    s = sorted(samples)
    return f"{statistics.median(s) * 1e3:.1f}", f"{s[int(0.95 * (len(s) - 1))] * 1e3:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="mnist.safetensors")
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from vq_explorer import explorer as ex
    from vq_explorer.ui import paint, sample

    name = args.checkpoint
    model = ex.get_model(name)
    h, w = model.grid
    px = paint.cell_px(model)
    state = paint.reset(name)
    hist, region = state[0], state[1]
    paint_times = []
    for i in range(args.repeats + 3):
        r, c = divmod(i % (h * w), w)
        evt = gr.SelectData(None, {"index": [c * px + 2, r * px + 2], "value": None, "selected": True})
        t = time.perf_counter()
        hist = paint.click(name, hist, region, (i * 37) % model.config["num_codes"], paint.TOOLS[0], False, evt)[0]
        if i >= 3:
            paint_times.append(time.perf_counter() - t)

    step_times, n_runs = {1: [], 16: []}, max(1, args.repeats // 25)
    for n in step_times:
        for rep in range(n_runs + 1):
            t = time.perf_counter()
            for _ in sample.sample(name, "(any)", 1.0, 0, rep, n, "fast"):
                now = time.perf_counter()
                if rep:   # the first run warms up
                    step_times[n].append(now - t)
                t = now
    print(f"checkpoint {name}: grid {h}×{w}, K={model.config['num_codes']}, {args.threads} threads\n")
    print("| path | median ms | p95 ms |")
    print("|---|---|---|")
    print("| paint one cell → decoded image (click handler, PNGs included) | {} | {} |".format(*ms(paint_times)))
    for n, t in step_times.items():
        print(f"| one streamed sampling step, {n} sample(s) (handler, PNGs + chart included) | "
              "{} | {} |".format(*ms(t)))


if __name__ == "__main__":
    main()
