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
from vq_explorer.views.charts import overview_figure, save_png  # noqa: E402

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
    """The Trade-off tab's chart (the masked prior's steps from maskgit_steps.csv, where it has been measured)
    as plotly HTML, and the same figure as a PNG for the README."""
    fig = overview_figure(rows, results.read_rows(stem.parent, "maskgit_steps.csv"))
    fig.write_html(stem.with_suffix(".html"), include_plotlyjs="cdn")
    failed = save_png(fig, stem.with_suffix(".png"))
    if failed:
        print(f"{stem.with_suffix('.png')} not drawn ({failed}); the HTML has the chart", file=sys.stderr)


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
