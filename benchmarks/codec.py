"""The shipped models as image codecs against WebP, JPEG and AVIF: file sizes, the rate–distortion curves, the time
to code.

    python benchmarks/codec.py [--n 1000] [--models mnist mnist_4x4 ...] [--threads 2] [--no-photos]

For each shipped model with an autoregressive prior, on the first `--n` test images of its dataset (the test
split where the dataset's files are here, else its fixture in tests/fixtures): every image compressed
(`vqe.compress`, with its class) and decompressed, the grid checked bit for bit; the mean file size, the mean
ideal −log₂ p(grid) / 8, the header; the PSNR of the decoded images; WebP, JPEG and AVIF (Pillow's encoders,
`service/formats.py`'s LOSSY) at the lowest quality whose mean PSNR over the same images reaches the model's,
whole files and without each format's fixed cost (the size of an all-black image of that size and quality); PNG
(lossless). Times per image: the codec codes one image at a time (a batch's probabilities can round differently
from one image's, and every file must decode alone), its probabilities on one thread. The colour models also
code docs/photos at their own size.

Writes benchmarks/results/codec.md (the table) and rate_distortion.csv: for each set of images, each lossy
format at each of QUALITIES and every model's point, which the Trade-off tab charts (PSNR against bytes per
image).
"""

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vq_explorer.service import formats  # noqa: E402

FIXTURES = {"mnist": "mnist_test_1000.npz", "fashion_mnist": "fashion_mnist_test_1000.npz",
            "cifar10": "cifar10_test_500.npz"}
MODELS = ["mnist", "mnist_4x4", "mnist_14x14", "mnist_transformer", "mnist_rnn", "fashion_mnist", "cifar10"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)) / 255 ** 2
    return 10 * np.log10(1 / max(mse, 1e-12))


def picture(img: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8 → what Pillow takes: H×W or H×W×3."""
    return img[0] if img.shape[0] == 1 else np.ascontiguousarray(img.transpose(1, 2, 0))


def classic(images: np.ndarray, fmt: str, target_psnr: float) -> tuple:
    """(quality, mean bytes, mean bytes less the fixed cost) at the lowest quality whose mean PSNR reaches
    `target_psnr`; the fixed cost is the size of an all-black image of that size and quality. (None, …) if none
    does. Priors over one VQ-VAE share its PSNR: the search runs once for them."""
    key = (id(images), fmt, target_psnr)
    if key not in MATCHED:   # the images are kept with their point, so their id names them alone
        MATCHED[key] = images, formats.classic_at([picture(x) for x in images], fmt, target_psnr)
    got = MATCHED[key][1]
    if got is None:
        return None, float("nan"), float("nan")
    return got["quality"], got["bytes"], got["bytes"] - got["fixed"]


QUALITIES = (1, 2, 4, 7, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95)
MATCHED = {}   # (id of the images, format, target PSNR) → (the images, classic_at's point)
CSV_COLUMNS = ["set", "codec", "kind", "quality", "images", "psnr", "bytes", "fixed", "ideal", "encode_ms",
               "decode_ms", "grid", "prior"]


def test_images(dataset: str, n: int, data_root) -> tuple[np.ndarray, np.ndarray]:
    """The first `n` test images (N, C, H, W) uint8 and labels: the dataset's test split where its files are
    here, else the fixture in tests/fixtures (CIFAR-10's holds 500)."""
    from vq_explorer.storage.data import load_dataset
    try:
        data = load_dataset(dataset, data_root)
        return data.test_x[:n].numpy(), data.test_y[:n].numpy()
    except ValueError:
        fixture = np.load(ROOT / "tests" / "fixtures" / FIXTURES[dataset])
        images, labels = fixture["images"][:n], fixture["labels"][:n]
        if images.shape[-1] == 3:          # CIFAR-10's fixture is stored channels-last
            images = np.ascontiguousarray(images.transpose(0, 3, 1, 2))
        return images, labels


def photos() -> list[np.ndarray]:
    """docs/photos at their own size, (3, H, W) uint8."""
    return [np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1).copy()
            for p in sorted((ROOT / "docs" / "photos").glob("*.jpg"))]


def model_point(name: str, model, images, labels) -> dict:
    """Every image compressed (with its class, where it has one) and decompressed, the grid checked bit for bit:
    mean file size, header, ideal size, PSNR of the decoded images, median times."""
    from vq_explorer.service import codec, grid_bits
    sizes, ideal, heads, enc, dec, scores = [], [], [], [], [], []
    for x, y in zip(images, labels, strict=True):
        xt = torch.from_numpy(x)[None].float() / 255
        y = None if y is None else int(y)
        t = time.perf_counter()
        data = codec.compress(model, xt, y)
        t1 = time.perf_counter()
        image, _, info = codec.decompress(data, model)
        t2 = time.perf_counter()
        grid = model.encode(xt)[0]
        if not torch.equal(info["grid"], grid):
            raise SystemExit(f"{name}: a decoded grid differs from the encoded one")
        sizes.append(len(data))
        ideal.append(grid_bits(model, grid, y) / 8)
        heads.append(codec.read_header(data)["payload"])
        enc.append((t1 - t) * 1e3)
        dec.append((t2 - t1) * 1e3)
        scores.append(psnr((image.numpy() * 255).round(), x))
    return {"codec": name, "kind": "model", "images": len(images), "psnr": float(np.mean(scores)),
            "bytes": float(np.mean(sizes)), "fixed": float(np.mean(heads)), "ideal": float(np.mean(ideal)),
            "encode_ms": statistics.median(enc), "decode_ms": statistics.median(dec),
            "grid": "x".join(map(str, info["grid"].shape)), "prior": model.prior.cfg.type}


def classic_curves(images) -> list[dict]:
    """Each lossy format at each of QUALITIES, and PNG, over the same images."""
    pictures = [picture(x) for x in images]
    rows = []
    for called, fmt in formats.LOSSY.items():
        for q in QUALITIES:
            rows.append({"codec": called, "kind": "classic", "images": len(images),
                         **formats.classic_point(pictures, fmt, q)})
    rows.append({"codec": "PNG", "kind": "lossless", "images": len(images), "psnr": float("inf"),
                 "bytes": float(np.mean([formats.png_bytes(p) for p in pictures]))})
    return rows


@torch.no_grad()
def masked_bits(model, grids: torch.Tensor, labels, steps: int) -> float:
    """Mean bits per grid a masked prior would code a grid in, `steps` steps of the sampler's cosine schedule: at
    each step the prior sees the cells coded so far, the step's cells are the masked ones it is most sure of
    (highest top probability; the decoder can choose them too, from the same context) and each is coded with its
    probabilities given that context, −log₂ p. The cells of one step are coded independently of each other."""
    from vq_explorer.models.priors.maskgit import schedule
    prior = model.prior
    n, h, w = grids.shape
    T = h * w
    known = torch.zeros(n, T, dtype=torch.bool)
    y = None if labels is None else torch.as_tensor(labels).long()
    bits = torch.zeros(n, dtype=torch.float64)
    rows = torch.arange(n)[:, None]
    for count in schedule(T, steps):
        inputs = torch.where(known, grids.view(n, T), prior.mask_token).view(n, h, w)
        logp = torch.log_softmax(prior(inputs, y).float(), dim=1).view(n, -1, T)   # (n, K, T)
        sure = logp.max(1).values.masked_fill(known, float("-inf"))
        chosen = sure.topk(count, dim=1).indices                                    # (n, count)
        picked = logp.gather(1, grids.view(n, 1, T).long()).squeeze(1)              # (n, T)
        bits -= picked[rows, chosen].double().sum(1) / np.log(2)
        known[rows, chosen] = True
    return float(bits.mean())


def masked_table(name: str, images, labels, step_counts=(1, 2, 4, 8, 16, 49)) -> list[str]:
    """The masked prior as a coder, ideally: bits per image at each number of steps."""
    import vq_explorer as vqe
    model = vqe.load(ROOT / "checkpoints" / f"{name}.safetensors", device="cpu")
    x = torch.from_numpy(images).float() / 255
    grids = torch.cat([model.encode(x[i:i + 250]) for i in range(0, len(x), 250)])
    y = torch.from_numpy(np.asarray(labels)).long() if model.prior.cfg.num_classes else None
    cells = grids.shape[1] * grids.shape[2]
    return [f"| {name} | {s} | {masked_bits(model, grids, y, s) / 8:.1f} |" for s in step_counts if s <= cells]


def write_charts(folder: Path):
    """The Trade-off tab's rate–distortion chart of each image set, as PNGs for the docs."""
    from vq_explorer.views import charts, results
    rows = results.read_rows(folder, "rate_distortion.csv")
    for image_set in results.rate_sets(rows):
        why = charts.save_png(charts.rate_figure(rows, image_set), folder / f"rate_distortion_{image_set}.png")
        if why:
            print(f"rate_distortion_{image_set}.png not written: {why}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--no-photos", action="store_true", help="skip docs/photos at their own size")
    ap.add_argument("--masked", nargs="*", default=["mnist_maskgit"],
                    help="masked priors to measure as ideal coders, step by step (no file is written for them)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import vq_explorer as vqe
    models = {n: vqe.load(ROOT / "checkpoints" / f"{n}.safetensors", device="cpu") for n in args.models
              if (ROOT / "checkpoints" / f"{n}.safetensors").exists()}
    sets = {}
    for name, model in models.items():
        sets.setdefault(model.config["dataset"], []).append(name)
    points, table = [], []
    for dataset, names in sets.items():
        images, labels = test_images(dataset, args.n, args.data_root)
        for row in classic_curves(images):
            points.append({"set": dataset, **row})
        for name in names:
            row = model_point(name, models[name], images, labels)
            points.append({"set": dataset, **row})
            matched = [classic(images, fmt, row["psnr"]) for fmt in formats.LOSSY.values()]
            png = float(np.mean([formats.png_bytes(picture(x)) for x in images]))
            table.append((name, len(images), row, *matched, png))
            print(f"{name}: {row['bytes']:.1f} bytes at {row['psnr']:.2f} dB", flush=True)
    colour = [n for n, m in models.items() if m.config["channels"] == 3]
    if colour and not args.no_photos:
        shots = photos()
        for row in classic_curves(shots):
            points.append({"set": "photos", **row})
        for name in colour:
            row = model_point(name, models[name], shots, [None] * len(shots))
            points.append({"set": "photos", **row, "grid": "own size"})
            matched = [classic(shots, fmt, row["psnr"]) for fmt in formats.LOSSY.values()]
            png = float(np.mean([formats.png_bytes(picture(p)) for p in shots]))
            table.append((f"{name} on docs/photos", len(shots), row, *matched, png))
            print(f"{name} on photos: {row['bytes']:.1f} bytes at {row['psnr']:.2f} dB", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "rate_distortion.csv", "w", newline="") as f:
        w = csv.DictWriter(f, CSV_COLUMNS)
        w.writeheader()
        for p in points:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in p.items()})
    write_charts(args.out)
    command = f"python benchmarks/codec.py --n {args.n} --threads {args.threads} --models {' '.join(args.models)}"
    lines = [f"`{command}` (the codec's probabilities on one thread): every grid decoded bit "
             "for bit; sizes in bytes per image, means; " + ", ".join(formats.LOSSY) + " (Pillow's encoders) at "
             "the lowest quality that reaches the model's PSNR, and in brackets without their fixed cost (an "
             "all-black image's size)", "",
             "| model | images | PSNR dB | our file | ideal −log₂ p / 8 | header | "
             + "".join(f"{called} at that PSNR (quality; less its fixed cost) | " for called in formats.LOSSY)
             + "PNG | encode ms | decode ms |",
             "|---|---|---|---|---|---|" + "---|" * len(formats.LOSSY) + "---|---|---|"]
    for name, n, r, *matched, png in table:
        matched = " | ".join("does not reach it" if q is None else f"{b:,.0f} (q {q}; {less:,.0f})"
                             for q, b, less in matched)
        lines.append(f"| {name} | {n} | {r['psnr']:.2f} | {r['bytes']:,.1f} | {r['ideal']:,.1f} | "
                     f"{r['fixed']:.1f} | {matched} | {png:,.0f} | "
                     f"{r['encode_ms']:,.0f} | {r['decode_ms']:,.0f} |")
    masked = [row for name in args.masked if (ROOT / "checkpoints" / f"{name}.safetensors").exists()
              for row in masked_table(name, *test_images(vqe.load(ROOT / "checkpoints" / f"{name}.safetensors",
                                                                  device="cpu").config["dataset"],
                                                         args.n, args.data_root))]
    if masked:
        lines += ["", "A masked prior as a coder (ideal −log₂ p / 8 in bytes per image, no header): each step "
                  "codes "
                  "the cells the prior is surest of, given the cells before, with the sampler's cosine schedule",
                  "", "| model | steps | ideal bytes per image |", "|---|---|---|", *masked]
    text = "\n".join(lines)
    print(text)
    (args.out / "codec.md").write_text(text + "\n")
    print(f"\nwritten to {args.out / 'codec.md'} and {args.out / 'rate_distortion.csv'}")


if __name__ == "__main__":
    main()
