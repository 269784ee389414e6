"""The speed/quality trade-off of the downsampling factor (and of the prior family), measured on each
checkpoint's test split.

    python benchmarks/tradeoff.py [checkpoints/*.safetensors] [--threads 2] [--repeats 5] [--limit N]

For every checkpoint: reconstruction MSE and PSNR, the prior's bits per code and per image, the time to sample
one image (prior + decode) at batch 1 and 16 with the cached sampler, the plain sampler's time and the
speed-up, and decode time. A masked prior has no likelihood and no cache: it is timed at its own number of
steps (benchmarks/maskgit_steps.py sweeps them). Writes benchmarks/results/tradeoff.{csv,html,png}, the tables
with their findings (tradeoff.md: the grid sizes; priors.md: the prior families over the same codes) and a
sample sheet per model (benchmarks/results/<name>_samples.png); `python tools/readme_results.py` copies the
tables and findings into the README.
"""

import argparse
import csv
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vq_explorer import load  # noqa: E402
from vq_explorer.commands.evaluate import evaluate, sample_sheet, save_sheet  # noqa: E402
from vq_explorer.storage.checkpoint import raw_metadata  # noqa: E402
from vq_explorer.storage.data import load_dataset  # noqa: E402
from vq_explorer.views import results  # noqa: E402
from vq_explorer.views.render import FAMILY_COLOURS, overview_figure  # noqa: E402

OUT = ROOT / "benchmarks" / "results"
COLUMNS = ["model", "dataset", "grid", "K", "prior", "vqvae_epochs", "prior_epochs", "prior_minutes", "mse",
           "psnr", "bits_per_code", "bits_per_image", "sample_accuracy", "sample_ms_b1", "sample_ms_b16",
           "plain_ms_b16", "plain_ms_b1", "speedup_b16", "speedup_b1", "decode_ms", "params_prior",
           "sample_steps", "image_dims"]


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def labels_for(model, n):
    return torch.arange(n) % model.prior.cfg.num_classes if model.prior.cfg.num_classes else None


def measure(path: Path, args) -> dict:
    model = load(path, device="cpu")
    c = model.config
    data = load_dataset(c["dataset"], args.data_root, image_size=c["image_size"][0], channels=c["channels"])
    x, y = data.test_x[: args.limit], data.test_y[: args.limit]
    figures = evaluate(model, x, y)

    def run(n, cached):
        return lambda: model.decode(model.sample(n, labels=labels_for(model, n), seed=0, cached=cached))

    exact = model.prior.exact_likelihood   # an autoregressive prior: a cache, and a plain sampler to compare
    b1 = median_time(run(1, True), args.repeats)
    b16 = median_time(run(16, True), args.repeats)
    plain16 = median_time(run(16, False), max(1, args.repeats // 2)) if exact else None
    plain1 = median_time(run(1, False), max(1, args.repeats // 2)) if exact else None
    grid16 = model.sample(16, labels=labels_for(model, 16), seed=0)
    decode = median_time(lambda: model.decode(grid16), args.repeats)
    images, _ = sample_sheet(model, per_class=8, temperature=1.0, seed=0)
    save_sheet(images, OUT / f"{path.stem}_samples.png", per_row=8)
    h, w = model.grid
    train = c.get("train", {})
    return {"model": path.stem, "dataset": c["dataset"], "grid": f"{h}x{w}", "K": c["num_codes"],
            "prior": model.prior.cfg.type,
            "vqvae_epochs": train.get("vqvae_epochs"), "prior_epochs": train.get("prior_epochs"),
            "prior_minutes": train.get("prior_minutes"), "sample_accuracy": model.metrics.get("sample_accuracy"),
            "mse": figures["mse"], "psnr": figures["psnr"], "bits_per_code": figures.get("bits_per_code"),
            "bits_per_image": figures.get("bits_per_image"), "sample_ms_b1": b1 * 1e3,
            "sample_ms_b16": b16 / 16 * 1e3,
            "plain_ms_b16": plain16 / 16 * 1e3 if exact else None, "plain_ms_b1": plain1 * 1e3 if exact else None,
            "speedup_b16": plain16 / b16 if exact else None, "speedup_b1": plain1 / b1 if exact else None,
            "decode_ms": decode / 16 * 1e3, "params_prior": sum(p.numel() for p in model.prior.parameters()),
            "sample_steps": h * w if exact else model.prior.cfg.steps, "image_dims": x[0].numel()}


def parse(row: dict) -> dict:
    """A tradeoff.csv row as measure() returns it: numbers as numbers, empty cells as None."""
    text, ints = ("model", "dataset", "grid", "prior"), ("K", "params_prior", "sample_steps", "image_dims")
    return {k: v if k in text else None if v in ("", None) else int(float(v)) if k in ints else float(v)
            for k, v in row.items()}


def write_tables(rows, out: Path) -> str:
    """tradeoff.md (the grid sizes) and priors.md (the families over the same codes), each a table and the
    findings built from it; returns both for printing."""
    grids = results.grid_table(rows) + "\n\n" + results.grid_findings(rows) + "\n"
    priors = results.families_table(rows) + "\n\n" + results.family_findings(rows) + "\n"
    (out / "tradeoff.md").write_text(grids)
    (out / "priors.md").write_text(priors)
    return grids + "\n" + priors


def chart(rows, stem: Path):
    """The Trade-off tab's chart as plotly HTML (the masked prior's steps from maskgit_steps.csv, where it has
    been measured), and a static PNG of the same two panels for the README (matplotlib: no browser needed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = results.read_rows(stem.parent, "maskgit_steps.csv")
    overview_figure(rows, steps).write_html(stem.with_suffix(".html"), include_plotlyjs="cdn")
    mfig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    seen = {}
    for r in rows:
        shared = seen[round(r["psnr"], 2)] = seen.get(round(r["psnr"], 2), -1) + 1   # models on one VQ-VAE
        colour = FAMILY_COLOURS.get(results.family(r), "#555")
        shape = {"mnist": "o", "fashion_mnist": "D", "cifar10": "s"}.get(r["dataset"], "o")
        x = r["sample_ms_b1"]
        top.plot([x], [r["psnr"]], shape, color=colour, markersize=9)
        top.annotate(results.label(r), (x, r["psnr"]), textcoords="offset points", fontsize=8,
                     xytext=(6, 4 - 14 * (shared % 2)) if shared < 2 else (6, 18))
        if r.get("sample_accuracy") is not None:
            bottom.plot([x], [100 * r["sample_accuracy"]], shape, color=colour, markersize=9)
            bottom.annotate(results.label(r), (x, 100 * r["sample_accuracy"]), textcoords="offset points",
                            xytext=(6, -10), fontsize=8)
    masked = sorted((s for s in steps if s["prior"] == "maskgit" and s["grid"] == "7x7" and s["accuracy"]
                     and not float(s["guidance"] or 0)), key=lambda s: int(s["steps"]))
    if masked:
        bottom.plot([float(s["ms_b1"]) for s in masked], [100 * float(s["accuracy"]) for s in masked], "-",
                    color=FAMILY_COLOURS["maskgit"], label="7×7 masked Transformer by steps", marker=".")
        for s in masked:
            bottom.annotate(s["steps"], (float(s["ms_b1"]), 100 * float(s["accuracy"])), fontsize=7,
                            textcoords="offset points", xytext=(0, 5), color=FAMILY_COLOURS["maskgit"])
        bottom.legend(fontsize=8, loc="lower right")
    bottom.set_xscale("log")
    bottom.set_xlabel("ms to sample and decode one image (cached; log)")
    top.set_ylabel("test PSNR, dB")
    bottom.set_ylabel("% of samples read as their class")
    top.set_title("quality against sampling time, one marker per model")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    mfig.tight_layout()
    mfig.savefig(stem.with_suffix(".png"), dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="*")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--limit", type=int, default=None, help="test images per model (default: the whole split)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--update", action="store_true",
                    help="keep the other models' rows of an existing tradeoff.csv, replace the measured ones")
    ap.add_argument("--tables", action="store_true",
                    help="measure nothing: rewrite the tables, findings and chart from the existing tradeoff.csv")
    args = ap.parse_args()
    if args.tables:
        rows = [parse(r) for r in results.read_rows(OUT)]
        print(write_tables(rows, OUT))
        chart(rows, OUT / "tradeoff")
        return
    torch.set_num_threads(args.threads)
    paths = [Path(p) for p in args.checkpoints] or sorted((ROOT / "checkpoints").glob("*.safetensors"))
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in paths:
        if not json.loads(raw_metadata(p)["config"]).get("prior"):
            print(f"skipping {p.name}: no prior (a codebook-lab model)", file=sys.stderr)
            continue
        print(f"measuring {p.name} …", file=sys.stderr, flush=True)
        rows.append(measure(p, args))
    if args.update and (OUT / "tradeoff.csv").exists():
        old = [parse(r) for r in results.read_rows(OUT)]
        measured = {r["model"] for r in rows}
        rows = [r for r in old if r["model"] not in measured] + rows
    print(f"{args.threads} threads, torch {torch.__version__}, median of {args.repeats} repeats\n")
    print(write_tables(rows, OUT))
    with open(OUT / "tradeoff.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    chart(rows, OUT / "tradeoff")


if __name__ == "__main__":
    main()
