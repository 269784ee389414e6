"""How fast an opened tokenizer is on this CPU: encode and decode at several working sizes and precisions, and
the first screen of each tab, for diffusers VQModels at the published configurations of real tokenizers (random
weights: the architecture sets the cost, not the values).

    python benchmarks/tokenizer_speed.py [--models ldm-vq-f4 movq amused] [--sides 64 128 256] [--threads 2]

Writes benchmarks/results/tokenizer_speed.md. Precision "bf16" runs the tokenizer under CPU autocast in
bfloat16 where the CPU has it (AVX512-BF16 or AMX); the codes the app shows are computed in float32.

The tabs' table times each tab's first screen in turn on one fresh model (so Paint finds Reconstruct's encode
and decode of the first shipped picture), the painter's palette that fills in after it, a brush stroke through
the painter's own path (`paint.decode_cells`, a 2×2-cell stroke in the middle of the picture the painter opened
on: a preview where the decoder is global, then the exact picture asked for when the stroke ends, with the
preview's mean and max |difference|), and the Codebook tab on a
second start (the tokenizer opened anew, its views read from the disk cache). `--codec` adds the codec on a photo:
docs/photos/chelsea.jpg (256×170, a 43×64 grid) through checkpoints/cifar10.safetensors on one thread.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from photos import timed  # noqa: E402  (median ms after a warm-up call)
from test_families import EMU3, JANUS_PRO, vq_of  # noqa: E402  (transformers' VQ-VAEs at published configurations)
from test_tokenizers import AMUSED, LDM_VQ_F4, MOVQ  # noqa: E402  (the published configurations, with their sources)

import vq_explorer as vqe  # noqa: E402
from vq_explorer import service  # noqa: E402
from vq_explorer.models.training import cpu_has_bf16  # noqa: E402

CONFIGS = {"ldm-vq-f4": LDM_VQ_F4, "movq": MOVQ, "amused": AMUSED, "janus-vq16": JANUS_PRO, "emu3": EMU3}
SOURCES = {"ldm-vq-f4": "CompVis/ldm-celebahq-256 (vqvae)",
           "movq": "kandinsky-community/kandinsky-2-2-decoder (movq)", "amused": "amused/amused-256 (vqvae)",
           "janus-vq16": "Janus-Pro's VQ-16 (JanusVQVAE)", "emu3": "Emu3's VQ-VAE (Emu3VQVAE)"}


def save(name: str, folder: Path):
    """The tokenizer `name` at its published configuration, random weights, saved as its library saves it."""
    if name in ("janus-vq16", "emu3"):
        vq_of(name.split("-")[0], CONFIGS[name], 256).save_pretrained(folder)
    else:
        import diffusers
        vq = diffusers.VQModel(**CONFIGS[name])
        # diffusers draws a codebook uniformly within ±1/K: every code then decodes to nearly the same picture and
        # a stroke changes almost nothing. Codes drawn from N(0, 1) make a stroke change the picture, so that the
        # preview's difference from the exact picture measures something (the timings are the architecture's).
        vq.quantize.embedding.weight.data.normal_()
        vq.save_pretrained(folder)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(CONFIGS))
    ap.add_argument("--sides", nargs="*", type=int, default=[64, 128, 256])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tokenizer_speed.md")
    ap.add_argument("--codec", action="store_true", help="add the codec-on-a-photo row")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from vq_explorer.ui import open_checkpoint, paint
    precisions = ["fp32", "bf16"] if cpu_has_bf16() else ["fp32"]
    lines = [f"`python benchmarks/tokenizer_speed.py --models {' '.join(args.models)} --sides "
             f"{' '.join(map(str, args.sides))}" + (f" --repeats {args.repeats}" if args.repeats != 3 else "")
             + (" --codec" if args.codec else "") + f"` ({args.threads} threads, median of {args.repeats}; random "
             "weights at each published configuration)", "",
             "| tokenizer | parameters | f | K | image | grid | precision | encode ms | decode ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    tabs = ["| tokenizer | image | " + " | ".join(["Reconstruct", "Paint codes", "its palette (after)", "Codebook",
                                                   "Sample", "stroke (preview)", "stroke (exact)",
                                                   "preview mean / max |diff|", "Codebook, second start"])
            + " |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["VQE_VIEW_CACHE"] = str(Path(tmp) / "views")
        for name in args.models:
            torch.manual_seed(0)
            save(name, Path(tmp) / name)
            for side in args.sides:
                model = vqe.open(str(Path(tmp) / name), side=side, examples=ROOT / "docs" / "photos")
                x = torch.rand(1, 3, side, side)
                grid = model.encode(x)
                params = model.config["tokenizer"]["parameters"] / 1e6
                for precision in precisions:
                    with torch.autocast("cpu", torch.bfloat16, enabled=precision == "bf16"):
                        enc = timed(lambda m=model, x=x: m.encode(x), args.repeats)
                        dec = timed(lambda m=model, g=grid: m.decode(g), args.repeats)
                    row = (f"| {SOURCES[name]} | {params:.1f} M | {model.config['downsample']} | "
                           f"{model.config['num_codes']} | {side}×{side} | {grid.shape[-2]}×{grid.shape[-1]} | "
                           f"{precision} | {enc:.0f} | {dec:.0f} |")
                    print(row, flush=True)
                    lines.append(row)
                catalog = service.Catalog(Path(tmp) / "none")
                key = catalog.add(model, name)
                cells = []
                for tab in ("reconstruct", "paint", "codebook", "sample"):
                    if tab == "sample" and not service.has_prior(model):
                        cells.append("— (no prior)")   # the tab only says that sampling needs one
                        continue
                    t = time.perf_counter()
                    open_checkpoint(catalog, key, tabs=[tab])
                    cells.append(f"{1e3 * (time.perf_counter() - t):.0f}")
                    if tab == "paint":      # the palette fills in after the painter, once the page shows it
                        t = time.perf_counter()
                        paint.palette(catalog, key)
                        cells.append(f"{1e3 * (time.perf_counter() - t):.0f}")
                cells += stroke(catalog, key)
                again = vqe.open(str(Path(tmp) / name), side=side, examples=ROOT / "docs" / "photos")
                key2 = catalog.add(again, name)
                t = time.perf_counter()
                open_checkpoint(catalog, key2, tabs=["codebook"])
                cells.append(f"{1e3 * (time.perf_counter() - t):.0f}")
                tabs.append(f"| {SOURCES[name]} | {side}×{side} | " + " | ".join(cells) + " |")
                print(tabs[-1], flush=True)
    text = "\n".join(lines + ["", "First screen of each tab on opening the tokenizer, in the table's order, ms "
                                  "(the first opening: the codebook's pictures are then cached for the model; "
                                  "the painter's palette fills in after its first screen), a 2×2-cell brush "
                                  "stroke through the painter's path, and the Codebook tab on a second start:",
                                  ""] + tabs + (codec_rows() if args.codec else []))
    args.out.write_text(text + "\n")
    print(f"\n{text}\n\nwritten to {args.out}")


def stroke(catalog, key) -> list[str]:
    """A 2×2-cell stroke in the middle of the painter's grid, through `paint.decode_cells` as the browser calls
    it: the preview (or the exact picture, where the decoder has no global layer), then the exact picture."""
    from vq_explorer.ui import paint
    state = paint.reset(catalog, key)[0]
    grid = torch.tensor(state["grid"])
    h, w = grid.shape
    model = catalog.get(key)
    grid[h // 2: h // 2 + 2, w // 2: w // 2 + 2] = (grid[h // 2, w // 2] + 1) % model.config["num_codes"]
    t = time.perf_counter()
    preview = paint.decode_cells(catalog, {"checkpoint": key, "grid": grid.tolist()})
    t_preview = time.perf_counter() - t
    shown, _ = service.decode_picture(model, grid)                 # the picture that answer showed, kept
    t = time.perf_counter()
    paint.decode_cells(catalog, {"checkpoint": key, "grid": grid.tolist(), "exact": True})
    t_exact = time.perf_counter() - t
    diff = (shown - service.decode_picture(model, grid, exact=True)[0]).abs()
    label = "" if not preview.get("exact", True) else " (exact)"
    return [f"{1e3 * t_preview:.0f}{label}", f"{1e3 * t_exact:.0f}", f"{diff.mean():.4f} / {diff.max():.3f}"]


def codec_rows() -> list[str]:
    """The codec on a photo, one thread: encode and decode of chelsea.jpg's 43×64 grid."""
    from vq_explorer.service import codec
    from vq_explorer.service.inputs import load_image
    model = vqe.load(ROOT / "checkpoints" / "cifar10.safetensors", device="cpu")
    x, _ = load_image(model, ROOT / "docs" / "photos" / "chelsea.jpg")
    grid = model.encode(x)[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    times = {"encode": [], "decode": []}
    for _ in range(3):
        t = time.perf_counter()
        data = codec.encode_grid(model, grid, None, tuple(x.shape[-2:]))
        times["encode"].append(time.perf_counter() - t)
        t = time.perf_counter()
        codec.decode_grid(model, data)
        times["decode"].append(time.perf_counter() - t)
    torch.set_num_threads(threads)
    med = {k: sorted(v)[1] for k, v in times.items()}
    return ["", "The codec on a photo (docs/photos/chelsea.jpg, 256×170, a 43×64 grid, cifar10's PixelCNN), one "
            "thread, median of 3:", "", "| photo | grid | bytes | encode ms | decode ms |",
            "|---|---|---|---|---|",
            f"| chelsea | {grid.shape[0]}×{grid.shape[1]} | {len(data)} | {1e3 * med['encode']:.0f} | "
            f"{1e3 * med['decode']:.0f} |"]


if __name__ == "__main__":
    main()
