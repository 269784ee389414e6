"""Train a small diffusers `VQModel` on CIFAR-10 and save it in diffusers' format: a tokenizer made elsewhere, for
showing the path end to end where no pretrained tokenizer can be downloaded (open it with `vq-explorer --open`,
train a prior over its codes with `--vqvae-from`).

    python tools/train_diffusers_vq.py --out runs/cifar10_vqmodel --minutes 15

diffusers' own model class and its own losses (reconstruction MSE plus the quantizer's codebook and commitment
terms, which `VQModel.forward` returns); a plain Adam loop, nothing of vq-explorer's training. Dead codes are
common in such a short run: the point is the path, not the model.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vq_explorer.storage.data import load_dataset, to_float  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("runs/cifar10_vqmodel"))
    ap.add_argument("--minutes", type=float, default=15)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    from diffusers import VQModel
    data = load_dataset("cifar10", args.data_root)
    vq = VQModel(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 3,
                 up_block_types=("UpDecoderBlock2D",) * 3, block_out_channels=(32, 64, 128), layers_per_block=1,
                 latent_channels=16, num_vq_embeddings=512, vq_embed_dim=16, norm_num_groups=16,
                 mid_block_add_attention=False, sample_size=32)
    print(f"{sum(p.numel() for p in vq.parameters()) / 1e6:.2f} M parameters, f = 4, K = 512, d = 16")
    opt = torch.optim.Adam(vq.parameters(), lr=args.lr)
    test = to_float(data.test_x[:500])
    start, step, n = time.time(), 0, len(data.train_x)
    deadline = start + 60 * args.minutes
    while time.time() < deadline:
        idx = torch.randint(0, n, (args.batch_size,))
        x = to_float(data.train_x[idx]) * 2 - 1
        out = vq(x)
        loss = F.mse_loss(out.sample, x) + out.commit_loss.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % 200 == 0:
            with torch.no_grad():
                vq.eval()
                recon = (vq(test * 2 - 1).sample.clamp(-1, 1) + 1) / 2
                vq.train()
            mse = float(F.mse_loss(recon, test))
            minutes = (time.time() - start) / 60
            print(f"step {step} · {step * args.batch_size / n:.2f} epochs · {minutes:.1f} min · "
                  f"test MSE {mse:.4f} ({-10 * torch.log10(torch.tensor(mse)).item():.1f} dB)", flush=True)
    vq.eval().save_pretrained(args.out)      # config.json + diffusion_pytorch_model.safetensors
    print(f"saved to {args.out} after {step} steps ({step * args.batch_size / n:.2f} epochs)")


if __name__ == "__main__":
    main()
