"""The six quantizer variants of the codebook lab, each trained the same way on MNIST 7×7 (the shipped model's
VQ-VAE: K = 512 codes of dimension 32, 64 channels, 2 residual blocks; batch 128, learning rate 2e-3 on a cosine,
the same seed and batches), then measured on the full test split.

    python benchmarks/quantizer_variants.py [--epochs 2] [--variants plain ema ...] [--threads 2]

Columns: test MSE, codebook perplexity and codes used / dead over the 10,000 test images, and how fast usage
grows: distinct codes in the batch at steps 1, 50 and 200, and the batch perplexity at step 200. Writes
benchmarks/results/quantizer_variants.{csv,md,png} (the PNG: batch perplexity over the first 500 steps).
"""

import argparse
import csv
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vq_explorer.models import metrics, training  # noqa: E402
from vq_explorer.models.config import QUANTIZERS, VQVAEConfig, quantizer_variant  # noqa: E402
from vq_explorer.models.vqvae import VQVAE  # noqa: E402
from vq_explorer.storage.data import load_dataset, to_float  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "quantizer_variants"
EARLY = (1, 50, 200)


def run(variant: str, data, epochs: float, seed: int) -> dict:
    torch.manual_seed(seed)
    cfg = quantizer_variant(VQVAEConfig(in_channels=1, num_codes=512, code_dim=32, channels=64, res_blocks=2,
                                        downsample=4), variant)
    model = VQVAE(cfg).to(memory_format=torch.channels_last).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    n, batch = len(data.train_x), 128
    total = int(epochs * (n // batch))
    g = torch.Generator().manual_seed(seed)
    batches = (to_float(data.train_x[torch.randint(0, n, (batch,), generator=g)]) for _ in range(total))
    used, curve, t0 = {}, [], time.time()
    state = {"step": 0}

    def step_fn(x, step):
        loss, stats = training.vqvae_step(model, model.quantizer, x.contiguous(memory_format=torch.channels_last))
        stats["used"] = int((model.quantizer.usage > 0).sum())
        return loss, stats

    for s in training.steps(opt, step_fn, batches, 2e-3, lambda: state["step"] / total):
        state["step"] = s["step"]
        if s["step"] in EARLY:
            used[s["step"]] = s["used"]
        if s["step"] <= 500:
            curve.append(s["perplexity"])
        if s["step"] == 200:
            early_perplexity = s["perplexity"]
    minutes = (time.time() - t0) / 60
    model.eval()
    with torch.no_grad():
        test = to_float(data.test_x)
        idx = torch.cat([model.encode(test[i:i + 1000]) for i in range(0, len(test), 1000)])
        recon = torch.cat([model.decode(idx[i:i + 1000]) for i in range(0, len(idx), 1000)])
    counts = metrics.code_counts(idx, cfg.num_codes)
    return {"variant": variant, "epochs": epochs, "steps": total, "minutes": round(minutes, 1),
            "mse": round(metrics.mse(recon, test), 5), "psnr": round(metrics.psnr(metrics.mse(recon, test)), 2),
            "perplexity": round(metrics.perplexity(counts), 1), "used": int((counts > 0).sum()),
            "dead": int((counts == 0).sum()), **{f"used_step{k}": used.get(k) for k in EARLY},
            "perplexity_step200": round(early_perplexity, 1), "curve": curve}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=float, default=2)
    ap.add_argument("--variants", nargs="*", default=list(QUANTIZERS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset("mnist")
    rows = []
    for v in args.variants:
        rows.append(run(v, data, args.epochs, args.seed))
        r = rows[-1]
        print(f"{v}: MSE {r['mse']}, perplexity {r['perplexity']}, used {r['used']}, dead {r['dead']}, "
              f"used at steps {[r[f'used_step{k}'] for k in EARLY]} ({r['minutes']} min)", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    cols = [k for k in rows[0] if k != "curve"]
    with open(OUT.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    lines = [f"`python benchmarks/quantizer_variants.py --epochs {args.epochs:g}` (MNIST 7×7, K = 512, d = 32; "
             "test split, 10,000 images)", "",
             "| variant | test MSE | PSNR dB | perplexity | codes used / dead | codes in use at step 1 / 50 / 200 "
             "| batch perplexity at step 200 | minutes |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['mse']:.5f} | {r['psnr']:.1f} | {r['perplexity']:.0f} | "
                     f"{r['used']} / {r['dead']} | {r['used_step1']} / {r['used_step50']} / {r['used_step200']} | "
                     f"{r['perplexity_step200']:.0f} | {r['minutes']} |")
    OUT.with_suffix(".md").write_text("\n".join(lines) + "\n")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for r in rows:
        ax.plot(range(1, len(r["curve"]) + 1), r["curve"], label=r["variant"])
    ax.set(xlabel="training step", ylabel="batch perplexity (codes in effective use)", yscale="log",
           title="MNIST 7×7, K = 512: how fast each quantizer puts its codes to use")
    ax.legend()
    fig.tight_layout()
    fig.savefig(OUT.with_suffix(".png"), dpi=110)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
