"""A colour checkpoint on photos at their own size: PSNR, grid and the app's request time for each photo in
docs/photos/ (256 px on the long side), and on CIFAR-10 test images upscaled ×8 against the same images at 32×32.

    python benchmarks/photos.py [--checkpoint cifar10.safetensors] [--upscaled 200] [--repeats 5]

Request time is the Reconstruct tab's handler, as the app runs it (encode, decode, the prior's surprise map,
the PNGs and the two charts), median of --repeats after one warm-up, 2 threads. Writes
benchmarks/results/photos_<checkpoint>.md and docs/photos_<checkpoint>.png (original, reconstruction, error).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vq_explorer import service  # noqa: E402
from vq_explorer.models import metrics as M  # noqa: E402
from vq_explorer.storage.data import load_dataset, to_float  # noqa: E402
from vq_explorer.ui import reconstruct as tab  # noqa: E402
from vq_explorer.views import pictures  # noqa: E402

PHOTOS = ROOT / "docs" / "photos"


def timed(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def upscaled_psnr(model, n: int, factor: int = 8) -> tuple[float, float]:
    """Mean PSNR of the first n CIFAR-10 test images at 32×32, and the same images upscaled (bicubic) ×factor
    and encoded at that size (both on the 0..1 scale, averaged per image)."""
    x = to_float(load_dataset("cifar10").test_x[:n])
    big = F.interpolate(x, scale_factor=factor, mode="bicubic", align_corners=False).clamp(0, 1)
    native, upscaled = [], []
    for i in range(n):
        for batch, out in ((x[i:i + 1], native), (big[i:i + 1], upscaled)):
            recon = model.decode(model.encode(batch), tuple(batch.shape[-2:]))
            out.append(M.psnr(M.mse(recon, batch)))
    return statistics.mean(native), statistics.mean(upscaled)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="cifar10.safetensors")
    ap.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints")
    ap.add_argument("--upscaled", type=int, default=200, help="CIFAR-10 test images to upscale (0: none)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(2)
    catalog = service.Catalog(args.checkpoints)
    model = catalog.get(args.checkpoint)
    name = args.checkpoint.removesuffix(".safetensors")
    lines = [f"`python benchmarks/photos.py --checkpoint {args.checkpoint}` (2 threads, median of {args.repeats})",
             "", "| photo | size | grid | PSNR dB | request ms (Reconstruct tab) |", "|---|---|---|---|---|"]
    rows = []
    for path in sorted(PHOTOS.glob("*.jpg")):
        rec = service.reconstruct_file(model, path)
        ms = timed(lambda p=path: tab.reconstruct(catalog, str(p), args.checkpoint), args.repeats)
        h, w = rec.original.shape[-2:]
        lines.append(f"| {path.stem} | {w}×{h} | {rec.grid.shape[0]}×{rec.grid.shape[1]} | {rec.psnr:.2f} | "
                     f"{ms:.0f} |")
        rows.append(rec)
        print(lines[-1], flush=True)
    if args.upscaled:
        native, upscaled = upscaled_psnr(model, args.upscaled)
        lines += ["", f"CIFAR-10 test images 0–{args.upscaled - 1}: mean PSNR {native:.2f} dB at 32×32 "
                      "(8×8 grids), "
                      f"{upscaled:.2f} dB upscaled ×8 (bicubic) to 256×256 (64×64 grids)."]
        print(lines[-1])
    out = ROOT / "benchmarks" / "results" / f"photos_{name}.md"
    out.write_text("\n".join(lines) + "\n")
    # One row per photo: original, reconstruction, error, side by side at 256 px.
    tiles = []
    for rec in rows:
        strip = [pictures.to_rgb(rec.original, None), pictures.to_rgb(rec.recon, None),
                 pictures.error_map(rec.error, 0)]
        h = max(t.shape[0] for t in strip)
        pad = [np.pad(t, ((0, h - t.shape[0]), (0, 4), (0, 0)), constant_values=255) for t in strip]
        tiles.append(np.pad(np.concatenate(pad, 1), ((0, 4), (0, 0), (0, 0)), constant_values=255))
    width = max(t.shape[1] for t in tiles)
    sheet = np.concatenate([np.pad(t, ((0, 0), (0, width - t.shape[1]), (0, 0)), constant_values=255)
                            for t in tiles])
    Image.fromarray(sheet).save(ROOT / "docs" / f"photos_{name}.png")
    print(f"→ {out}, docs/photos_{name}.png")


if __name__ == "__main__":
    main()
