"""How fast an opened tokenizer is on this CPU: encode and decode at several working sizes and precisions, and
the first screen of each tab, for diffusers VQModels at the published configurations of real tokenizers (random
weights: the architecture sets the cost, not the values).

    python benchmarks/tokenizer_speed.py [--models ldm-vq-f4 movq amused] [--sides 64 128 256] [--threads 2]

Writes benchmarks/results/tokenizer_speed.md. Precision "bf16" runs the tokenizer under CPU autocast in
bfloat16 where the CPU has it (AVX512-BF16 or AMX); the codes the app shows are computed in float32.
"""

import argparse
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
from vq_explorer import service as ex  # noqa: E402
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
        diffusers.VQModel(**CONFIGS[name]).save_pretrained(folder)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=list(CONFIGS))
    ap.add_argument("--sides", nargs="*", type=int, default=[64, 128, 256])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tokenizer_speed.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from vq_explorer.ui import open_checkpoint
    precisions = ["fp32", "bf16"] if cpu_has_bf16() else ["fp32"]
    lines = [f"`python benchmarks/tokenizer_speed.py --models {' '.join(args.models)} --sides "
             f"{' '.join(map(str, args.sides))}` ({args.threads} threads, median of {args.repeats}; random "
             "weights at each published configuration)", "",
             "| tokenizer | parameters | f | K | image | grid | precision | encode ms | decode ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    tabs = ["| tokenizer | image | " + " | ".join(["Reconstruct", "Paint codes", "Codebook", "Sample"])
            + " |", "|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
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
                catalog = ex.Catalog(Path(tmp) / "none")
                key = catalog.add(model, name)
                cells = []
                for tab in ("reconstruct", "paint", "codebook", "sample"):
                    if tab == "sample" and not ex.has_prior(model):
                        cells.append("— (no prior)")   # the tab only says that sampling needs one
                        continue
                    t = time.perf_counter()
                    open_checkpoint(catalog, key, tabs=[tab])
                    cells.append(f"{1e3 * (time.perf_counter() - t):.0f}")
                tabs.append(f"| {SOURCES[name]} | {side}×{side} | " + " | ".join(cells) + " |")
                print(tabs[-1], flush=True)
    text = "\n".join(lines + ["", "First screen of each tab on opening the tokenizer, ms (the first opening: "
                                  "the codebook's pictures are then cached for the model):", ""] + tabs)
    args.out.write_text(text + "\n")
    print(f"\n{text}\n\nwritten to {args.out}")


if __name__ == "__main__":
    main()
