"""The speed/quality trade-off of the downsampling factor (and of the prior family), measured on each
checkpoint's test split.

    python benchmarks/tradeoff.py [checkpoints/*.safetensors] [--threads 2] [--repeats 5] [--limit N]

For every checkpoint: reconstruction MSE and PSNR, the prior's bits per code and per image, the time to sample
one image (prior + decode) at batch 1 and 16 with the cached sampler, the plain sampler's time at batch 16 and
the speed-up, and decode time. Prints a markdown table and writes benchmarks/results/tradeoff.{csv,html,png}
plus a sample sheet per model (benchmarks/results/<name>_samples.png).
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
from vq_explorer.checkpoint import raw_metadata  # noqa: E402
from vq_explorer.data import load_dataset  # noqa: E402
from vq_explorer.evaluate import evaluate, sample_sheet, save_sheet  # noqa: E402
from vq_explorer.render import point_label, prior_family, tradeoff_figure  # noqa: E402

OUT = ROOT / "benchmarks" / "results"
COLUMNS = ["model", "dataset", "grid", "K", "prior", "vqvae_epochs", "prior_epochs", "prior_minutes", "mse",
           "psnr", "bits_per_code", "bits_per_image", "sample_accuracy", "sample_ms_b1", "sample_ms_b16",
           "plain_ms_b16", "plain_ms_b1", "speedup_b16", "speedup_b1", "decode_ms", "params_prior"]


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

    b1 = median_time(run(1, True), args.repeats)
    b16 = median_time(run(16, True), args.repeats)
    plain16 = median_time(run(16, False), max(1, args.repeats // 2))
    plain1 = median_time(run(1, False), max(1, args.repeats // 2))
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
            "mse": figures["mse"], "psnr": figures["psnr"], "bits_per_code": figures["bits_per_code"],
            "bits_per_image": figures["bits_per_image"], "sample_ms_b1": b1 * 1e3, "sample_ms_b16": b16 / 16 * 1e3,
            "plain_ms_b16": plain16 / 16 * 1e3, "plain_ms_b1": plain1 * 1e3, "speedup_b16": plain16 / b16,
            "speedup_b1": plain1 / b1,
            "decode_ms": decode / 16 * 1e3, "params_prior": sum(p.numel() for p in model.prior.parameters())}


def markdown(rows) -> str:
    head = ("| model | dataset | grid | K | prior | epochs VQ-VAE / prior | prior min | MSE | PSNR dB | "
            "bits/code | bits/image | samples read as their class | sample ms/img b=1 | sample ms/img b=16 | "
            "plain ms/img b=16 | cached speed-up b=16 / b=1 | decode ms/img |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        budget = [r.get(k) for k in ("vqvae_epochs", "prior_epochs", "prior_minutes")]
        epochs = " / ".join("?" if v is None else f"{v:g}" for v in budget[:2])
        minutes = "?" if budget[2] is None else f"{budget[2]:.1f}"
        accuracy = "—" if r.get("sample_accuracy") is None else f"{r['sample_accuracy']:.1%}"
        cells = [r["model"], r["dataset"], r["grid"], r["K"], prior_family(r), epochs, minutes,
                 f"{r['mse']:.4f}", f"{r['psnr']:.1f}", f"{r['bits_per_code']:.2f}", f"{r['bits_per_image']:.0f}",
                 accuracy,
                 f"{r['sample_ms_b1']:.0f}", f"{r['sample_ms_b16']:.1f}", f"{r['plain_ms_b16']:.1f}",
                 f"{r['speedup_b16']:.1f}× / {r['speedup_b1']:.1f}×", f"{r['decode_ms']:.2f}"]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def chart(rows, stem: Path):
    """Quality against sampling time, one point per model: plotly HTML and a matplotlib PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tradeoff_figure(rows).write_html(stem.with_suffix(".html"), include_plotlyjs="cdn")
    mfig, ax = plt.subplots(figsize=(7, 4.5))
    for ds in sorted({r["dataset"] for r in rows}):
        rs = [r for r in rows if r["dataset"] == ds]
        ax.plot([r["sample_ms_b16"] for r in rs], [r["psnr"] for r in rs], "o", label=ds, markersize=8)
        for r in rs:
            ax.annotate(point_label(r), (r["sample_ms_b16"], r["psnr"]), textcoords="offset points", xytext=(5, 5))
    ax.set_xscale("log")
    ax.set_xlabel("sampling time per image, ms (cached, batch 16)")
    ax.set_ylabel("test PSNR, dB")
    ax.set_title("quality vs sampling time, one point per model")
    ax.legend()
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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    paths = [Path(p) for p in args.checkpoints] or sorted((ROOT / "checkpoints").glob("*.safetensors"))
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in paths:
        if json.loads(raw_metadata(p)["config"])["prior"].get("type") == "maskgit":
            print(f"skipping {p.name}: a masked prior has no likelihood and no cached sampler; "
                  "benchmarks/maskgit_steps.py measures it", file=sys.stderr)
            continue
        print(f"measuring {p.name} …", file=sys.stderr, flush=True)
        rows.append(measure(p, args))
    if args.update and (OUT / "tradeoff.csv").exists():
        with open(OUT / "tradeoff.csv") as f:
            text, ints = ("model", "dataset", "grid", "prior"), ("K", "params_prior")
            old = [{k: v if k in text else None if v in ("", None) else int(v) if k in ints else float(v)
                    for k, v in r.items()} for r in csv.DictReader(f)]
        measured = {r["model"] for r in rows}
        rows = [r for r in old if r["model"] not in measured] + rows
    print(f"{args.threads} threads, torch {torch.__version__}, median of {args.repeats} repeats\n")
    print(markdown(rows))
    with open(OUT / "tradeoff.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    chart(rows, OUT / "tradeoff")


if __name__ == "__main__":
    main()
