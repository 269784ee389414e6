"""Training throughput of the MNIST recipes' models on this machine, and what a recipe's epochs cost here.

    python benchmarks/train_speed.py [--threads 2] [--steps 10]

For downsample 2, 4 and 8 (grids 14×14, 7×7, 4×4): VQ-VAE training images/s and PixelCNN prior training
grids/s at batch 128 (the train.py models, channels-last VQ-VAE as train.py runs it on a CPU), and the minutes
the MNIST recipe's epochs (train_models.py) of 60,000 images would take at those rates (evaluation and encoding
not included). Then both prior families at the shipped 7×7 sizes (PixelCNN 64 × 10 layers, Transformer
128 × 4 blocks): grids/s and the minutes of the recipes' prior epochs.
"""

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train_models import MNIST  # noqa: E402  (this folder is on sys.path when the script runs)

from vq_explorer.config import PriorConfig, TransformerConfig, VQVAEConfig  # noqa: E402
from vq_explorer.priors import build_prior  # noqa: E402
from vq_explorer.vqvae import VQVAE  # noqa: E402

# The epochs every MNIST recipe asks for, read from the recipe itself.
_recipe = shlex.split(MNIST)
VQVAE_EPOCHS, PRIOR_EPOCHS = (float(_recipe[_recipe.index(f"--{s}-epochs") + 1]) for s in ("vqvae", "prior"))


def per_second(step, batch: int, steps: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return batch * steps / (time.perf_counter() - t)


def vqvae_rate(downsample: int, batch: int, steps: int) -> float:
    model = VQVAE(VQVAEConfig(num_codes=512, downsample=downsample)).to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(model.parameters(), 2e-3)
    x = torch.rand(batch, 1, 28, 28).contiguous(memory_format=torch.channels_last)

    def step():
        opt.zero_grad(set_to_none=True)
        model(x).loss.backward()
        opt.step()
    return per_second(step, batch, steps)


PIXELCNN = PriorConfig(num_codes=512, channels=64, layers=10, num_classes=10)
TRANSFORMER = TransformerConfig(num_codes=512, dim=128, layers=4, heads=4, rows=7, cols=7, num_classes=10)


def prior_rate(side: int, batch: int, steps: int, cfg=PIXELCNN) -> float:
    model = build_prior(cfg)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    g, y = torch.randint(0, 512, (batch, side, side)), torch.randint(0, 10, (batch,))

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(g, y), g).backward()
        opt.step()
    return per_second(step, batch, steps)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{args.threads} threads, batch {args.batch}, torch {torch.__version__}\n")
    print(f"| grid | VQ-VAE images/s | prior grids/s | {VQVAE_EPOCHS:g} + {PRIOR_EPOCHS:g} epochs of 60,000, "
          "minutes |")
    print("|---|---|---|---|")
    for downsample, side in ((2, 14), (4, 7), (8, 4)):
        v, p = vqvae_rate(downsample, args.batch, args.steps), prior_rate(side, args.batch, args.steps)
        minutes = (VQVAE_EPOCHS * 60000 / v + PRIOR_EPOCHS * 60000 / p) / 60
        print(f"| {side}×{side} | {v:.0f} | {p:.0f} | {minutes:.0f} |", flush=True)
    print(f"\n| prior at 7×7 | parameters | grids/s | {PRIOR_EPOCHS:g} epochs of 60,000, minutes |")
    print("|---|---|---|---|")
    for cfg in (PIXELCNN, TRANSFORMER):
        p = prior_rate(7, args.batch, args.steps, cfg)
        params = sum(t.numel() for t in build_prior(cfg).parameters())
        print(f"| {cfg.type} | {params / 1e6:.2f} M | {p:.0f} | {PRIOR_EPOCHS * 60000 / p / 60:.0f} |", flush=True)


if __name__ == "__main__":
    main()
