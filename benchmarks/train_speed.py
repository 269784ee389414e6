"""Training throughput of every recipe's models on this machine, in fp32 and in bf16, and what each recipe's
epochs cost here.

    python benchmarks/train_speed.py [--threads 2] [--steps 10] [--device cpu]

For each recipe of vq_explorer/commands/recipes.py: its VQ-VAE (images/s) and its prior (grids/s), one training
step at a time at the recipe's batch size on random inputs of the dataset's shape, as train.py runs them
(channels-last VQ-VAE on a CPU; bf16 = the networks under autocast, the quantizer and losses in float32). bf16
is measured only where the hardware has it (AVX512-BF16 or AMX, or CUDA). Then the minutes the recipe's epochs
would take at the faster precision (evaluation, encoding and export not included). The timing is
vq_explorer/commands/pace.py, which the rebuild's --left uses too.
"""

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vq_explorer.commands.pace import seconds_per_step, stage_model  # noqa: E402
from vq_explorer.commands.recipes import DATASET_SHAPES, RECIPES, recipe_args  # noqa: E402
from vq_explorer.models import training  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("recipes", nargs="*", help=f"default: all of {', '.join(RECIPES)}")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bf16 = training.resolve_precision("auto", device) == "bf16"
    precisions = ["fp32", "bf16"] if bf16 else ["fp32"]
    print(f"{device}, {args.threads} threads, torch {torch.__version__}; bf16 "
          f"{'measured' if bf16 else 'not available here'}\n")
    print("| recipe | stage | parameters | per second, fp32 | per second, bf16 | bf16 speed-up | epochs | "
          "minutes at the faster |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.recipes or RECIPES:
        dataset, flags = RECIPES[name]
        r = recipe_args(dataset, flags)
        for stage in ("vqvae", "prior"):
            if stage == "vqvae" and r.vqvae_from:
                continue
            rates = {p: r.batch_size / seconds_per_step(dataset, r, stage, p, device, args.steps)
                     for p in precisions}
            model, _ = stage_model(dataset, r, stage, device)
            params = sum(t.numel() for t in model.parameters())
            epochs = getattr(r, f"{stage}_epochs")
            n = DATASET_SHAPES[dataset][0]
            minutes = epochs * n / max(rates.values()) / 60
            unit = "images" if stage == "vqvae" else "grids"
            b = f"{rates['bf16']:.0f}" if bf16 else "—"
            speedup = f"{rates['bf16'] / rates['fp32']:.2f}×" if bf16 else "—"
            print(f"| {name} | {stage} | {params / 1e6:.2f} M | {rates['fp32']:.0f} {unit} | {b} | {speedup} | "
                  f"{epochs:g} | {minutes:.0f} |", flush=True)


if __name__ == "__main__":
    main()
