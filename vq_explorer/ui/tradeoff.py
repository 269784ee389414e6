"""Tab 5: the measured trade-off between grid size, reconstruction quality and sampling speed."""

import csv
from pathlib import Path

import gradio as gr

from .. import render

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
INTRO = """A larger downsampling factor gives a smaller code grid: fewer cells for the prior to write (faster
sampling, fewer bits per image) but less room to describe the image (worse reconstructions). Every row was
trained by the same recipe for the same epochs (`benchmarks/train_models.py`), so the rows compare grid sizes,
not training budgets. Measured by `python benchmarks/tradeoff.py` on each model's full test split; sampling
times are per image on this project's 2-core CPU with the cached sampler; "read as their class" is the share
of 500 class-conditional samples (temperature 1) that a small classifier assigns to the class asked for.

On MNIST at 20 VQ-VAE and 8 prior epochs, 4×4 instead of 7×7 cells costs about 5 dB of PSNR and halves the
bits per image; it samples about 3× faster, and its samples are read as their class about as often: what the
small grid gives up is reconstruction detail, not the class."""


PRIORS_INTRO = """### Two prior families over the same codes
The same VQ-VAE (identical codes), two priors of about the same size trained for the same 8 epochs: the Gated
PixelCNN and a GPT-style Transformer. The Transformer gives the test digits 11 fewer bits (a better likelihood)
and trains faster per grid, but 92.6% of its samples are read as their class against 95.2%: its samples vary
more in style and a few more are ambiguous. Its KV-cached sampler is exact and 4.5× faster than re-running it per
cell for 16 samples, as fast as the PixelCNN's per image in a batch, but slower for a single image on this CPU,
where each cell's many tiny operations cost more than their arithmetic."""


STEPS_INTRO = """### Parallel decoding: fewer steps than cells
A masked prior (MaskGIT) over the same codes fills the whole 7×7 grid in a few parallel steps instead of 49
sequential ones. Each step is a full pass over the grid, where the cached autoregressive samplers make one pass in
all, cell by cell: so the masked prior wins where the sequential steps are the cost — one image at a time (the
app's case), large grids, a GPU — and can lose on throughput for a batch on two CPU cores. Measured by
`python benchmarks/maskgit_steps.py` (500 class-conditional samples per row, temperature 1; 14×14 rows: untrained
priors of the same sizes, speed only, as no 14×14 model is trained).

For one image, 8 steps take 54 ms against 131 for the cached PixelCNN, and 97.8% of the samples are read as their
class against 95.2%; 1 step (all cells at once) loses coherence (72%), 4 steps are as good as 49. For a batch of
16 the two are even. Classifier-free guidance (g = 1) reaches 100% in 2 steps, at twice the cost per step."""


def read_rows(folder: Path = RESULTS, name: str = "tradeoff.csv") -> list[dict]:
    path = folder / name
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def _share(value) -> str:
    return "—" if value in (None, "") else f"{float(value):.1%}"


def _markdown(header: list[str], lines) -> str:
    """A markdown table: the header, its rule, one row per list of cells."""
    rows = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return "\n".join(rows + ["| " + " | ".join(map(str, cells)) + " |" for cells in lines])


def table(rows: list[dict]) -> str:
    if not rows:
        return "_No measurements yet: run `python benchmarks/tradeoff.py`._"
    header = ["model", "grid", "K", "epochs VQ-VAE / prior", "MSE", "PSNR", "bits/image",
              "samples read as their class", "sample ms/image (b=16)", "cached speed-up"]
    return _markdown(header, ([r["model"], r["grid"], r["K"],
                               f"{r.get('vqvae_epochs') or '?'} / {r.get('prior_epochs') or '?'}",
                               f"{float(r['mse']):.4f}", f"{float(r['psnr']):.1f} dB",
                               f"{float(r['bits_per_image']):.0f}", _share(r.get("sample_accuracy")),
                               f"{float(r['sample_ms_b16']):.1f}", f"{float(r['speedup_b16']):.1f}×"]
                              for r in rows))


def priors_table(rows: list[dict]) -> str:
    """The two prior families side by side where both model the same VQ-VAE's codes (same grid, same MSE)."""
    family = render.prior_family
    same = [(p, t) for t in rows if family(t) == "transformer" for p in rows if family(p) == "pixelcnn"
            and (p["dataset"], p["grid"], p["mse"]) == (t["dataset"], t["grid"], t["mse"])]
    if not same:
        return ""
    header = ["prior", "parameters", "epochs", "training min", "test bits/image", "samples read as their class",
              "ms/image b=1, cached / plain", "ms/image b=16, cached / plain"]

    def cells(r):
        plain_b1 = float(r["plain_ms_b1"]) if r.get("plain_ms_b1") else float("nan")
        return [f"{family(r)} ({r['model']})", f"{int(r['params_prior']) / 1e6:.2f} M",
                r.get("prior_epochs") or "?", f"{float(r['prior_minutes']):.0f}",
                f"{float(r['bits_per_image']):.1f}", _share(r.get("sample_accuracy")),
                f"{float(r['sample_ms_b1']):.0f} / {plain_b1:.0f}",
                f"{float(r['sample_ms_b16']):.1f} / {float(r['plain_ms_b16']):.1f}"]
    return _markdown(header, (cells(r) for pair in same for r in pair))


def steps_table(rows: list[dict]) -> str:
    """benchmarks/maskgit_steps.py's rows: quality and time per number of steps, the AR priors beside."""
    if not rows:
        return ""
    header = ["grid", "prior", "steps", "guidance", "samples read as their class", "ms/image b=1", "ms/image b=16",
              "measured"]
    return _markdown(header, ([r["grid"], r["prior"], r["steps"], f"{float(r.get('guidance') or 0):g}",
                               _share(r.get("accuracy")), f"{float(r['ms_b1']):.1f}", f"{float(r['ms_b16']):.1f}",
                               r["what"]] for r in rows))


def sheets(rows: list[dict], folder: Path = RESULTS):
    return [(str(folder / f"{r['model']}_samples.png"), f"{r['model']} · {r['grid']}") for r in rows
            if (folder / f"{r['model']}_samples.png").exists()]


def build():
    rows, steps = read_rows(), read_rows(name="maskgit_steps.csv")
    with gr.Tab("Trade-off", id="tradeoff"):
        gr.Markdown(INTRO)
        gr.Markdown(table([r for r in rows if render.prior_family(r) == "pixelcnn"]), elem_id="tradeoff-table")
        if rows:
            gr.Plot(render.tradeoff_figure(rows), elem_id="tradeoff-chart")
        priors = priors_table(rows)
        if priors:
            gr.Markdown(PRIORS_INTRO)
            gr.Markdown(priors, elem_id="priors-table")
        if steps:
            gr.Markdown(STEPS_INTRO)
            gr.Plot(render.steps_figure(steps), elem_id="steps-chart")
            gr.Markdown(steps_table(steps), elem_id="steps-table")
        if rows:
            gr.Gallery(sheets(rows), label="samples per model (one row per class)", columns=3, height=420,
                       allow_preview=True, elem_id="tradeoff-sheets")
