"""Tab 6: the codebook lab — train a small VQ-VAE live, one or two quantizer variants side by side, and watch
its codebook thrive or collapse."""

import json

import gradio as gr
import torch

from .. import service
from ..service import lab
from ..views import charts, pictures
from .common import api_endpoint, bind, guarded, png, status, temp_file

INTRO = """Why do most codes of a VQ-VAE go unused? Train one here for up to a minute — a small VQ-VAE (7×7 grid)
on 5,000 digits or clothes — and watch. The curves show the reconstruction error and how many codes are in
effective use (perplexity); the bars every code's use on the test images (zeros are **dead codes**); the map the
code vectors among the encoder outputs they are chasing. Variants: **plain** (codebook + commitment losses, a
random codebook, as many copies do it), **ema** (codebook by moving averages), **+kmeans** (codebook started on
the data), **+restart** (dead codes re-seeded: the shipped models' recipe), **rotation** (plain, with the rotation
trick's gradient), **fsq** (finite scalar quantization: no codebook to learn). Pick two to race them on the same
batches. When training ends, open the model in the other tabs (this session only: it has no prior, so the tabs
that need one say so) or download it."""
NONE = "(none)"


@guarded
def run(catalog, dataset: str = "mnist", variant: str = "ema+kmeans+restart", num_codes: float = 256,
        seconds: float = 20, seed: float = 0, variant_b: str = NONE, code_dim: float = 16, session_models=None):
    """The /lab endpoint (streamed): curves, usage, code map, reconstructions, status, then at the end the JSON
    summary (steps, mse, perplexity, used_codes, dead_codes, measured on the subset's 1,000 test images; with a
    second variant under "compare"), the models' names for this session, and a checkpoint to download."""
    variants = [v for v in (variant, variant_b) if v not in (NONE, None, "")]
    for v in variants:
        lab.check(dataset, v, num_codes, code_dim, seconds, seed)
    with lab.seat():
        yield from _train(catalog, dataset, variants, int(num_codes), int(code_dim), float(seconds), int(seed),
                          list(session_models or []))


def _train(catalog, dataset, variants, num_codes, code_dim, seconds, seed, session_models):
    runs = [lab.start(dataset, v, num_codes, code_dim, seed) for v in variants]
    for i, _ in enumerate(lab.train(runs, seconds)):
        frames = [lab.frame(r) for r in runs]
        views = _views(runs, frames, every_chart=i % 3 == 0)
        yield (*views, _status(runs, frames, done=False), "", session_models, None)
    frames = [lab.frame(r, lab.SUBSET[1]) for r in runs]
    summaries = [lab.summary(r, f) for r, f in zip(runs, frames, strict=True)]
    result = {"dataset": dataset, **summaries[0], **({"compare": summaries[1]} if len(runs) > 1 else {})}
    models = [lab.as_model(r, f) for r, f in zip(runs, frames, strict=True)]
    names = [catalog.register(m, f"{r.variant} {r.step} steps") for m, r in zip(models, runs, strict=True)]
    yield (*_views(runs, frames), _status(runs, frames, done=True), json.dumps(result), session_models + names,
           _checkpoint_file(models[0], runs[0]))


def _views(runs, frames, every_chart: bool = True):
    """Curves and reconstructions every frame; the usage bars and the map (the heaviest for a browser to redraw,
    hundreds of bars and points) every third frame, so a small machine's browser keeps up."""
    pairs = list(zip(runs, frames, strict=True))
    sheet = torch.cat([frames[0].originals, *(f.recons for f in frames)])
    return (charts.lab_curves([(r.variant, r.history) for r in runs]),
            charts.lab_usage([(r.variant, f.usage) for r, f in pairs]) if every_chart else gr.skip(),
            charts.lab_map([(r.variant, f) for r, f in pairs]) if every_chart else gr.skip(),
            png(pictures.image_sheet(sheet, nrow=lab.SHOWN, size=640)))


def first_screen(path=lab.RECORDED):
    """Until the visitor trains: a recorded race, drawn as a finished one is (curves, usage, map, pictures,
    status, summary); empty panels where the package has none."""
    if not path.exists():
        return (None, None, None, None, status(""), "")
    runs, frames, result, seconds = lab.load_race(path)
    rows = _rows(runs, frames, done=True).rsplit("\n\n", 1)[0]
    names = " against ".join(f"**{r.variant}**" for r in runs)
    return (*_views(runs, frames), status(f"{rows}\n\n_A recorded race ({names}, {result['dataset']}, "
                                          f"{seconds:g} seconds, seed 0, written by `tools/record_lab_race.py`): "
                                          "press **Train** to run your own._"),
            json.dumps(result))


def _status(runs, frames, done: bool) -> dict:
    return status(_rows(runs, frames, done), "done" if done else "training")


def _rows(runs, frames, done: bool) -> str:
    rows = [f"**{r.variant}** · step {r.step} · test MSE {f.mse:.4f} · perplexity {f.perplexity:.1f} · "
            f"{int((f.usage > 0).sum())} codes used, {int((f.usage == 0).sum())} dead"
            for r, f in zip(runs, frames, strict=True)]
    rows.append("done: measured on all 1,000 test images — open the model in the other tabs below"
                if done else "training… (pictures: the first 128 test images; top row originals, then each "
                                  "variant's reconstructions)")
    return "\n\n".join(rows)


def _checkpoint_file(model, run) -> str:
    """The download: a checkpoint in the app's own temporary folder, which is swept like its pictures."""
    path = temp_file(".safetensors", f"lab-{run.variant.replace('+', '-')}-")
    lab.save_model(model, path)
    return path


@guarded
def open_in_tabs(catalog, name: str, session_models):
    """Put this session's lab model in the checkpoint selector and select it (the tabs then open it)."""
    if not name or name not in (session_models or []):
        raise service.UserError("lab_model_missing")
    catalog.get(name)   # still held?
    return gr.update(choices=[*catalog.names(), *session_models], value=name)


def build(checkpoint: gr.Dropdown, catalog: service.Catalog):
    with gr.Tab("Codebook lab", id="lab"):
        gr.Markdown(INTRO)
        # this session's lab models, dropped with it
        session_models = gr.State([], delete_callback=catalog.forget)
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                dataset = gr.Radio(list(lab.DATASETS), value="mnist", label="data (5,000 training images)",
                                   elem_id="lab-dataset")
                variant = gr.Dropdown(lab.VARIANTS, value="plain", label="variant A", elem_id="lab-variant")
                variant_b = gr.Dropdown([NONE, *lab.VARIANTS], value="ema+kmeans+restart",
                                        label="variant B (to compare)", elem_id="lab-variant-b")
                num_codes = gr.Dropdown(list(lab.NUM_CODES), value=256, label="K (codes)", elem_id="lab-k")
                code_dim = gr.Slider(2, 64, value=16, step=1, label="code dimension")
                seconds = gr.Slider(5, lab.MAX_SECONDS, value=20, step=1, label="time limit (seconds)",
                                    elem_id="lab-seconds")
                seed = gr.Number(value=0, precision=0, label="seed")
                with gr.Row():
                    start = gr.Button("Train", variant="primary", elem_id="lab-start")
                    stop = gr.Button("Stop", variant="stop", elem_id="lab-stop")
                status_box = gr.Markdown(elem_id="lab-status")
                summary = gr.Code(label="summary (JSON)", language="json", max_lines=8, elem_id="lab-summary")
                with gr.Row():
                    pick = gr.Dropdown([], label="this session's lab models", elem_id="lab-models", scale=2)
                    open_btn = gr.Button("Open in the other tabs", elem_id="lab-open", scale=1)
                download = gr.File(label="download variant A's checkpoint", interactive=False)
            with gr.Column(scale=3, min_width=500):
                curves = gr.Plot(label="curves", elem_id="lab-curves")
                recons = gr.Image(label="8 test images: originals, then each variant's reconstructions",
                                  interactive=False, elem_id="lab-recons", height=200)
                usage = gr.Plot(label="usage", elem_id="lab-usage")
                code_map = gr.Plot(label="code map", elem_id="lab-map")
        inputs = [dataset, variant, num_codes, seconds, seed, variant_b, code_dim, session_models]
        outputs = [curves, usage, code_map, recons, status_box, summary, session_models, download]
        # not queued: run() admits one run and two waiting
        ev = start.click(bind(catalog, run), inputs, outputs, api_name=False, concurrency_limit=None)
        api_endpoint(bind(catalog, run), inputs, outputs, "lab", concurrency_limit=None)
        ev.then(lambda m: gr.update(choices=m, value=m[-1] if m else None), session_models, pick,
                api_visibility="private")
        stop.click(None, None, None, cancels=[ev])
        opened = open_btn.click(bind(catalog, open_in_tabs), [pick, session_models], checkpoint,
                                api_visibility="private")
    return {"opened": opened, "first_screen": [curves, usage, code_map, recons, status_box, summary]}
