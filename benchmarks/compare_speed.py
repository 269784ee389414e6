"""How fast models compare: the Compare tab's handler on a 256-pixel photo (time to the first model's column, to
every model's, and to the compressed files' sizes), and `vq-explorer-evaluate --models`'s images per second per
model over a folder of digits.

    python benchmarks/compare_speed.py [--models cifar10 mnist mnist_14x14] [--photo docs/photos/chelsea.jpg]
                                       [--digits 200] [--repeats 5]

The tab's handler runs as the app runs it (pictures written as PNGs, the figures worded), --threads, median of
--repeats after one warm-up. The command's pass is timed whole (encode, decode, bits under the prior, SSIM, the
compressed files of the first 20 pictures; and again with --weigh 0, no files), one model at a time. Writes
benchmarks/results/compare_speed.md (or --out).
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vq_explorer import service  # noqa: E402
from vq_explorer.service import compare  # noqa: E402
from vq_explorer.ui import compare as tab  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "compare_speed.md"


def tab_times(catalog, names, picture) -> tuple[float, float, float]:
    """Seconds from the request to the first model's column, to the last model's, and to the bits and files."""
    t0 = time.perf_counter()
    marks = []
    for _ in tab.compute(catalog, names, picture):
        marks.append(time.perf_counter() - t0)
    return marks[1], marks[len(names)], marks[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["cifar10", "mnist", "mnist_14x14"])
    ap.add_argument("--checkpoints", type=Path, default=ROOT / "checkpoints")
    ap.add_argument("--photo", type=Path, default=ROOT / "docs" / "photos" / "chelsea.jpg")
    ap.add_argument("--digits", type=int, default=200, help="MNIST test digits in the command's folder")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    catalog = service.Catalog(args.checkpoints)
    names = [f"{n}.safetensors" for n in args.models]
    picture = np.asarray(Image.fromarray(compare.picture_of_file(args.photo)).resize((256, 256), Image.LANCZOS))
    tab_times(catalog, names, picture)                          # warm-up: loads the models
    runs = [tab_times(catalog, names, picture) for _ in range(args.repeats)]
    first, every, files = (statistics.median(r[i] for r in runs) for i in range(3))

    digits = np.load(ROOT / "tests" / "fixtures" / "mnist_test_1000.npz")["images"][: args.digits]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for i, d in enumerate(digits):
            Image.fromarray(d[0]).save(Path(folder) / f"{i:04d}.png")
        files_ = compare.image_files(folder)
        for n in names:
            t = time.perf_counter()
            (row,) = compare.evaluate_folder({n: catalog.get(n)}, files_)
            whole = time.perf_counter() - t
            t = time.perf_counter()
            compare.evaluate_folder({n: catalog.get(n)}, files_, weigh=0)
            rows.append((n, row, whole, time.perf_counter() - t))

    side = picture.shape[0]
    lines = [f"`python benchmarks/compare_speed.py --models {' '.join(args.models)} --threads {args.threads} "
             "--photo "
             f"{args.photo.relative_to(ROOT) if args.photo.is_relative_to(ROOT) else args.photo.name}` "
             "(a 2-core CPU shared with other work: upper bounds)", "",
             f"The Compare tab on a {side}×{side} photo, {len(names)} models ({', '.join(args.models)}), median "
             f"of {args.repeats}:", "",
             "| first model's column | every model's column | with bits and files' sizes |", "|---|---|---|",
             f"| {first:.2f} s | {every:.2f} s | {files:.2f} s |", "",
             f"`vq-explorer-evaluate --models …` over {len(digits)} MNIST test digits (28×28 PNGs), each model's "
             "whole pass:", "",
             "| model | grid | PSNR dB | SSIM | codes used | encode + decode ms/image | images/s | images/s, "
             "--weigh 0 |", "|---|---|---|---|---|---|---|---|"]
    for n, row, seconds, unweighed in rows:
        g = int(round(row["tokens_per_image"] ** 0.5))
        lines.append(f"| {n.removesuffix('.safetensors')} | {g}×{g} | {row['psnr']:.2f} | {row['ssim']:.4f} | "
                     f"{row['codes_used']} | {row['ms_per_image']:.1f} | {row['images'] / seconds:.0f} | "
                     f"{row['images'] / unweighed:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.write_text(text)


if __name__ == "__main__":
    main()
