"""The shipped models as image codecs against WebP and JPEG at the same PSNR: file sizes, and the time to code.

    python benchmarks/codec.py [--n 1000] [--models mnist mnist_4x4 ...] [--threads 2]

For each shipped model with an autoregressive prior, on the first `--n` test images of its dataset's fixture
(tests/fixtures; CIFAR-10 has 500): every image compressed (`vqe.compress`, with its class) and decompressed, the
grid checked bit for bit; the mean file size, the mean ideal −log₂ p(grid) / 8, the header; the PSNR of the
decoded images; WebP and JPEG (Pillow) at the lowest quality whose mean PSNR over the same images reaches the
model's, whole files and without each format's fixed cost (the size of an all-black image of that size and
quality); PNG (lossless). Times per image at batch 1 (one thread for the probabilities, as the codec runs).
Writes benchmarks/results/codec.md.
"""

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FIXTURES = {"mnist": "mnist_test_1000.npz", "fashion_mnist": "fashion_mnist_test_1000.npz",
            "cifar10": "cifar10_test_500.npz"}
MODELS = ["mnist", "mnist_4x4", "mnist_14x14", "mnist_transformer", "mnist_rnn", "fashion_mnist", "cifar10"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)) / 255 ** 2
    return 10 * np.log10(1 / max(mse, 1e-12))


def picture(img: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 → what Pillow takes: H×W or H×W×3."""
    return img[0] if img.shape[0] == 1 else np.ascontiguousarray(img.transpose(1, 2, 0))


def lossless(p: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(p).save(buf, format="PNG")
    return buf.getvalue()


def classic(images: np.ndarray, fmt: str, target_psnr: float) -> tuple:
    """(quality, mean bytes, mean bytes less the fixed cost) at the lowest quality whose mean PSNR reaches
    `target_psnr`; the fixed cost is the size of an all-black image of that size and quality. (None, …) if none
    does."""
    from vq_explorer.service.codec import classic_at
    pictures = [picture(x) for x in images]
    got = classic_at(pictures, fmt, target_psnr)
    if got is None:
        return None, float("nan"), float("nan")
    buf = io.BytesIO()
    Image.fromarray(np.zeros_like(pictures[0])).save(buf, format=fmt, quality=got[0])
    return got[0], got[1], got[1] - len(buf.getvalue())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "codec.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import vq_explorer as vqe
    from vq_explorer.service import codec
    rows = []
    for name in args.models:
        path = ROOT / "checkpoints" / f"{name}.safetensors"
        if not path.exists():
            continue
        model = vqe.load(path, device="cpu")
        fixture = np.load(ROOT / "tests" / "fixtures" / FIXTURES[model.config["dataset"]])
        images, labels = fixture["images"][: args.n], fixture["labels"][: args.n]
        if images.shape[-1] == 3:          # CIFAR-10's fixture is stored channels-last
            images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        sizes, ideal, heads, enc, dec, scores = [], [], [], [], [], []
        for x, y in zip(images, labels, strict=True):
            xt = torch.from_numpy(x)[None].float() / 255
            t = time.perf_counter()
            data = codec.compress(model, xt, int(y))
            t1 = time.perf_counter()
            image, _, info = codec.decompress(data, model)
            t2 = time.perf_counter()
            grid = model.encode(xt)[0]
            if not torch.equal(info["grid"], grid):
                raise SystemExit(f"{name}: a decoded grid differs from the encoded one")
            sizes.append(len(data))
            ideal.append(codec.ideal_bits(model, grid, int(y)) / 8)
            heads.append(codec.read_header(data)["payload"])
            enc.append((t1 - t) * 1e3)
            dec.append((t2 - t1) * 1e3)
            scores.append(psnr((image.numpy() * 255).round(), x))
        target = float(np.mean(scores))
        webp, jpeg = classic(images, "WEBP", target), classic(images, "JPEG", target)
        png = float(np.mean([len(lossless(picture(x))) for x in images]))
        rows.append((name, len(images), target, np.mean(sizes), np.mean(ideal), np.mean(heads), webp, jpeg, png,
                     statistics.median(enc), statistics.median(dec)))
        print(rows[-1], flush=True)
    command = f"python benchmarks/codec.py --n {args.n} --models {' '.join(args.models)}"
    lines = [f"`{command}` ({args.threads} threads; the codec's probabilities on "
             "one): every grid decoded bit for bit; sizes in bytes per image, means", "",
             "| model | images | PSNR dB | our file | ideal −log₂ p / 8 | header | WebP at that PSNR (quality; "
             "less its fixed cost) | JPEG at that PSNR (quality; less its fixed cost) | PNG | encode ms | "
             "decode ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, n, p, size, ideal, head, webp, jpeg, png, e, d in rows:
        lines.append(f"| {name} | {n} | {p:.2f} | {size:.1f} | {ideal:.1f} | {head:.1f} | {webp[1]:.0f} "
                     f"(q {webp[0]}; {webp[2]:.0f}) | {jpeg[1]:.0f} (q {jpeg[0]}; {jpeg[2]:.0f}) | {png:.0f} | "
                     f"{e:.0f} | {d:.0f} |")
    text = "\n".join(lines)
    print(text)
    args.out.write_text(text + "\n")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
