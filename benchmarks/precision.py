"""What bf16 costs in quality: one short training of the same recipe and seed in fp32 and in bf16, compared on
the full test split.

    python benchmarks/precision.py [--recipe mnist] [--vqvae-epochs 1] [--prior-epochs 1]

Both runs take the recipe's flags with these (shorter) epochs and the same --seed, one after the other. The
exported checkpoints' figures (test MSE, PSNR, perplexity, bits per image, all 10,000 test images) and the
training minutes each recorded are printed and written to benchmarks/results/precision.md. Needs a CPU with
AVX512-BF16 or AMX, or CUDA.
"""

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vq_explorer.commands.recipes import RECIPES  # noqa: E402
from vq_explorer.storage.checkpoint import raw_metadata  # noqa: E402


def without_epochs(args: str) -> list[str]:
    out, skip = [], False
    for a in shlex.split(args):
        if skip:
            skip = False
        elif a in ("--vqvae-epochs", "--prior-epochs"):
            skip = True
        else:
            out.append(a)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="mnist")
    ap.add_argument("--vqvae-epochs", type=float, default=1)
    ap.add_argument("--prior-epochs", type=float, default=1)
    ap.add_argument("--runs", type=Path, default=ROOT / "runs" / "precision")
    args = ap.parse_args()
    dataset, flags = RECIPES[args.recipe]
    rows = {}
    for precision in ("fp32", "bf16"):
        name = f"{args.recipe}_{precision}"
        out = args.runs / f"{name}.safetensors"
        cmd = [sys.executable, "train.py", "--dataset", dataset, "--name", name, "--runs", str(args.runs),
               "--out", str(out), *without_epochs(flags), "--vqvae-epochs", str(args.vqvae_epochs),
               "--prior-epochs", str(args.prior_epochs), "--precision", precision, "--seed", "0"]
        print(shlex.join(cmd[1:]), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
        meta = raw_metadata(out)
        rows[precision] = (json.loads(meta["metrics"]), json.loads(meta["config"])["train"])
    lines = [f"`python benchmarks/precision.py --recipe {args.recipe} --vqvae-epochs {args.vqvae_epochs:g} "
             f"--prior-epochs {args.prior_epochs:g}` (seed 0, full test split)", "",
             "| precision | test MSE | PSNR dB | perplexity | bits/image | VQ-VAE minutes | prior minutes |",
             "|---|---|---|---|---|---|---|"]
    for precision, (m, t) in rows.items():
        lines.append(f"| {precision} | {m['mse']:.5f} | {m['psnr']:.2f} | {m['perplexity']:.0f} | "
                     f"{m.get('bits_per_image', float('nan')):.1f} | {t['vqvae_minutes']:.1f} | "
                     f"{t['prior_minutes']:.1f} |")
    (f32, _), (b16, _) = rows["fp32"], rows["bf16"]
    lines += ["", f"bf16 against fp32: MSE {100 * (b16['mse'] / f32['mse'] - 1):+.1f}%, bits per image "
                  f"{100 * (b16['bits_per_image'] / f32['bits_per_image'] - 1):+.1f}%."]
    (ROOT / "benchmarks" / "results" / "precision.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
