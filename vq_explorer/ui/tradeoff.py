"""Tab 5: the measured trade-off between grid size, prior family, reconstruction quality and sampling speed.

A picture first — one chart, the sample sheets beside it — then the findings in words built from the same
results files (vq_explorer.views.results), the full tables folded away."""

from pathlib import Path

import gradio as gr

from ..views import charts, results

INTRO = """How does the downsampling factor trade image quality against sampling speed? A smaller code grid gives
the prior fewer cells to write (faster sampling, fewer bits per image) and the decoder less to rebuild the image
from (worse reconstructions); the prior family decides how the cells are written. One marker per model: its
reconstructions' test PSNR (top) and the share of 500 class-conditional samples (temperature 1) that a small
classifier reads as the class asked for (bottom), against the time to sample and decode an image on this
project's 2-core CPU. Every model of a grid was trained by its recipe for the same epochs
(`python -m vq_explorer.commands.rebuild`); measured by `python benchmarks/tradeoff.py` and
`python benchmarks/maskgit_steps.py`."""
BATCHES = {"one image": 1, "per image in a batch of 16": 16}
RATE_INTRO = """### In bytes: the models as image codecs
A model with an autoregressive prior is a lossy image codec: the grid is the lossy step, and the prior's
probabilities drive a range coder (`vqe.compress`, `vq-explorer-codec`). One star per model at its real file size
and the PSNR of the decoded images; WebP, JPEG and AVIF (Pillow) as curves over their quality settings, on the
same test images. Measured by `python benchmarks/codec.py`."""
SIZES = {"whole files": False, "without fixed headers": True}


def chart(rows: list[dict], steps: list[dict], batch: str = "one image"):
    return charts.overview_figure(rows, steps, BATCHES.get(batch, 1))


def findings(rows: list[dict], steps: list[dict]) -> str:
    parts = [results.grid_findings(rows), results.family_findings(rows), results.steps_findings(steps)]
    text = "\n\n".join(p for p in parts if p)
    return "### What the numbers say\n" + text if text else results.grid_table([])


def rate_chart(rows: list[dict], image_set: str, sizes: str = "whole files"):
    return charts.rate_figure(rows, image_set, SIZES.get(sizes, False))


def rate_text(rows: list[dict], image_set: str) -> str:
    return results.rate_findings(rows, image_set) or "_No measurements yet: run `python benchmarks/codec.py`._"


def sheets(rows: list[dict], folder: Path = results.RESULTS):
    """Each measured model's sample sheet (one row per class), captioned by its marker's label."""
    return [(str(folder / f"{r['model']}_samples.png"), f"{r['model']} · {results.label(r)}") for r in rows
            if (folder / f"{r['model']}_samples.png").exists()]


def build(folder: Path = results.RESULTS):
    rows, steps = results.read_rows(folder), results.read_rows(folder, "maskgit_steps.csv")
    with gr.Tab("Trade-off", id="tradeoff"):
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=3):
                batch = gr.Radio(list(BATCHES), value="one image", label="sampling time",
                                 elem_id="tradeoff-batch")
                plot = gr.Plot(chart(rows, steps) if rows else None, elem_id="tradeoff-chart", show_label=False)
            with gr.Column(scale=2):
                gr.Gallery(sheets(rows, folder), label="samples per model (one row per class)", columns=2,
                           height=560, allow_preview=True, elem_id="tradeoff-sheets")
        gr.Markdown(findings(rows, steps), elem_id="tradeoff-findings")
        with gr.Accordion("Grid sizes: the table", open=False):
            gr.Markdown(results.grid_table(rows), elem_id="tradeoff-table")
        families = results.families_table(rows)
        if families:
            with gr.Accordion("Prior families over the same codes: the table", open=False):
                gr.Markdown(families, elem_id="priors-table")
        if steps:
            with gr.Accordion("The masked prior's steps: quality and time per number of steps", open=False):
                gr.Plot(charts.steps_figure(steps), elem_id="steps-chart", show_label=False)
                gr.Markdown(results.steps_table(steps), elem_id="steps-table")
        rates = results.read_rows(folder, "rate_distortion.csv")
        sets = results.rate_sets(rates)
        if sets:
            gr.Markdown(RATE_INTRO)
            with gr.Row():
                image_set = gr.Radio([(results.SETS.get(s, s), s) for s in sets], value=sets[0],
                                     label="images", elem_id="rate-set")
                sizes = gr.Radio(list(SIZES), value="whole files", label="sizes", elem_id="rate-sizes")
            rate_plot = gr.Plot(rate_chart(rates, sets[0]), elem_id="rate-chart", show_label=False)
            rate_words = gr.Markdown(rate_text(rates, sets[0]), elem_id="rate-findings")
            image_set.change(lambda s, z: (rate_chart(rates, s, z), rate_text(rates, s)), [image_set, sizes],
                             [rate_plot, rate_words], api_name=False, show_progress="hidden")
            sizes.change(lambda s, z: rate_chart(rates, s, z), [image_set, sizes], rate_plot, api_name=False,
                         show_progress="hidden")
    batch.change(lambda b: chart(rows, steps, b), batch, plot, api_name=False, show_progress="hidden")
