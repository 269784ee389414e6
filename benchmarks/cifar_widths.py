"""How fast the CIFAR-10 VQ-VAE gains quality at two trunk widths: test PSNR after each epoch against minutes of
training on this machine, so the recipe's width and epochs are chosen by dB per hour, not by guess.

    python benchmarks/cifar_widths.py [--widths 128 192] [--minutes 7] [--epochs 40]

Each width trains with the `cifar10` recipe's VQ-VAE flags (its --channels replaced) on the schedule of
--epochs, and pauses after --minutes (train.py --stop-after-minutes), so the curve is the start of the run the
recipe would make. Test PSNR is train.py's per-epoch figure on the first 2,000 test images. Minutes are
epochs at each width's training pace measured here on a quiet CPU before its run (commands/pace.py), so
other work sharing the machine during a run does not bend the curve; the wall-clock minutes are listed beside
them. Writes benchmarks/results/cifar_widths.{csv,md,png}; --report-only redraws them from the runs.
"""

import argparse
import csv
import json
import math
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from vq_explorer.commands.recipes import RECIPES  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def vqvae_flags(recipe_args: str, width: int, epochs: float) -> list[str]:
    """The recipe's VQ-VAE flags with this width and schedule (the prior's flags are irrelevant here)."""
    args, out, skip = shlex.split(recipe_args), [], False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a in ("--channels", "--vqvae-epochs") or a.startswith("--prior"):
            skip = i + 1 < len(args) and not args[i + 1].startswith("--")
            continue
        out.append(a)
    return [*out, "--channels", str(width), "--vqvae-epochs", str(epochs)]


def curve(run: Path, images_per_second: float, train_images: int = 50000) -> list[tuple]:
    """(epoch, minutes at the measured pace, wall-clock minutes, test PSNR) for each evaluation in the log."""
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    first = next(r for r in rows if "ips" in r)   # logged 20 steps in: start 20 steps before it
    start = first["time"] - 20 * 128 / first["ips"]
    return [(r["epoch"], r["epoch"] * train_images / images_per_second / 60, (r["time"] - start) / 60,
             10 * math.log10(1 / r["test_mse"])) for r in rows if r.get("split") == "test"]


def pace(recipe_args: str, width: int) -> float:
    """Training images per second of this width's VQ-VAE here, at the precision train.py would choose."""
    import torch

    from vq_explorer.commands.pace import seconds_per_step
    from vq_explorer.commands.recipes import recipe_args as parse
    from vq_explorer.models.training import resolve_precision
    args = parse("cifar10", shlex.join(vqvae_flags(recipe_args, width, 1)))
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.set_num_threads(args.threads or torch.get_num_threads())
    return args.batch_size / seconds_per_step("cifar10", args, "vqvae", resolve_precision("auto", device),
                                              device, steps=10)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--widths", type=int, nargs="+", default=[128, 192])
    ap.add_argument("--minutes", type=float, default=7, help="training time per width")
    ap.add_argument("--epochs", type=float, default=40, help="the schedule's length (cosine learning rate)")
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "cifar_widths")
    ap.add_argument("--report-only", action="store_true", help="redraw the table and plot from the runs")
    args = ap.parse_args()
    dataset, recipe_args = RECIPES["cifar10"]
    table, rates = [], {}
    for width in args.widths:
        run = args.runs / f"w{width}"
        rates[width] = pace(recipe_args, width)
        print(f"width {width}: {rates[width]:.0f} training images/s here", flush=True)
        if args.report_only:
            table += [(width, *row) for row in curve(run, rates[width])]
            continue
        shutil.rmtree(run, ignore_errors=True)
        cmd = [sys.executable, "train.py", "--dataset", dataset, "--name", run.name, "--runs", str(args.runs),
               "--stage", "vqvae", *vqvae_flags(recipe_args, width, args.epochs),
               "--stop-after-minutes", str(args.minutes)]
        print(shlex.join(cmd[1:]), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
        table += [(width, *row) for row in curve(run, rates[width])]

    RESULTS.mkdir(parents=True, exist_ok=True)
    with open(RESULTS / "cifar_widths.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["width", "images_per_second", "epoch", "minutes", "wall_minutes", "test_psnr"])
        w.writerows([(a, f"{rates[a]:.0f}", f"{b:.2f}", f"{c:.2f}", f"{d:.2f}", f"{e:.3f}")
                     for a, b, c, d, e in table])
    lines = ["| trunk width | images/s | epoch | training minutes | (wall clock) | test PSNR dB (2,000 images) | "
             "dB per hour since the previous epoch |", "|---|---|---|---|---|---|---|"]
    for width in args.widths:
        prev = None
        for _, epoch, minutes, wall, psnr in (r for r in table if r[0] == width):
            rate = "" if prev is None else f"{(psnr - prev[1]) / ((minutes - prev[0]) / 60):.1f}"
            lines.append(f"| {width} | {rates[width]:.0f} | {epoch:.0f} | {minutes:.1f} | {wall:.1f} | "
                         f"{psnr:.2f} | {rate} |")
            prev = (minutes, psnr)
    (RESULTS / "cifar_widths.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for width in args.widths:
        rows = [r for r in table if r[0] == width]
        ax.plot([r[2] for r in rows], [r[4] for r in rows], "o-", label=f"{width} channels")
        for r in rows:
            ax.annotate(f"{r[1]:.0f}", (r[2], r[4]), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(xlabel="training minutes on this machine (labels: epochs)", ylabel="test PSNR (dB)",
           title=f"CIFAR-10 8×8 VQ-VAE, the first epochs of a {args.epochs:g}-epoch schedule")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(RESULTS / "cifar_widths.png", dpi=110)


if __name__ == "__main__":
    main()
