"""Tab 4: sampling from the prior, streamed cell by cell (autoregressive) or step by step (masked)."""

import json
import math
import random
import time

import gradio as gr
import torch

from .. import service
from ..views import charts, pictures
from .common import api_endpoint, bind, guarded, png, status
from .paint import cell_px, painter_constraints
from .words import ANY, class_label

INTRO = """An autoregressive prior (a Gated PixelCNN, a Transformer or an RNN: the checkpoint says which) writes a
grid one cell at a time in reading order; each code is drawn from its predicted distribution given every cell
before it.
**Temperature** sharpens (< 1) or flattens (> 1) that distribution; **top-k** keeps only the k likeliest codes. The
bar chart shows the distribution at the cell just filled (the chosen code in red); the **entropy** is how uncertain
the prior has been on average, in bits.

A **masked prior** (MaskGIT) instead fills the grid in a few parallel **steps**: each step predicts every empty
cell at once and keeps the codes it is most confident of (outlined in yellow; the map below shows how confident it
was of each), few at first, many at the end. Fewer steps are faster; too few lose coherence. **Guidance**
(classifier-free) pushes each step away from what the model would draw without the class: samples show their
class more surely and vary less, at twice the cost per step."""
SPEEDS = {"slow": 0.25, "normal": 0.06, "fast": 0.0, "instant": None}           # seconds per cell
MASKED_SPEEDS = {"slow": 1.0, "normal": 0.4, "fast": 0.0, "instant": None}      # seconds per parallel step
CELL_BY_CELL = 196   # cells (a 14×14 grid) up to which a sample is shown cell by cell; a photo's larger grid
                     # (64×64 from the painter) is shown a row at a time, so it streams in seconds, not minutes


@guarded
def sample(catalog, checkpoint: str = "", label: str = ANY, temperature: float = 1.0, top_k: float = 0,
           seed: float = -1, n: float = 4, speed: str = "fast", from_painter: bool = False, hist=None,
           region=None, steps: float = 8, guidance: float = 0.0):
    """The /sample endpoint (streamed): grid picture, decoded samples, probabilities (or a masked prior's
    confidence map), status, grids as JSON. `steps`, `guidance`: a masked prior's parallel steps and
    classifier-free guidance (ignored otherwise)."""
    name = checkpoint or catalog.default()
    model = catalog.get(name)
    if speed not in SPEEDS:
        raise service.UserError("speed", choices=list(SPEEDS))
    y = class_label(model, label)
    seed = random.randrange(2**31) if seed is None or seed < 0 else int(seed)
    grid, mask = painter_constraints(model, hist, region) if from_painter else (None, None)
    h, w = model.grid if grid is None else tuple(grid.shape[-2:])    # every view follows the grid sampled
    px = max(6, cell_px((h, w)) * 2 // 3)
    masked = service.is_masked(model)
    delay = (MASKED_SPEEDS if masked else SPEEDS)[speed]
    every = 1 if masked or h * w <= CELL_BY_CELL else w    # cells (or steps) per frame shown
    confidence, shown_at = torch.zeros(int(n), h, w), None
    frames = service.sample_steps(model, n, y, temperature, int(top_k) or None, seed, grid, mask,
                             steps=int(steps) if masked else None, guidance=guidance)
    step = next(frames, None)
    while step is not None:
        step, entropy = step
        following = next(frames, None)
        last = following is None
        g = step.grid
        done = ["done"] if last else []
        if masked:
            confidence = torch.where(step.cells, step.confidence, confidence)
        if (delay is not None and step.step % every == 0) or last:
            locked = mask  # hatched: the painter's cells that stay fixed
            pic = pictures.grid_picture(g[0], px, highlight=None if last or masked else (step.row, step.col),
                                      region=locked, numbers=px >= 24,
                                      outlined=step.cells[0] if masked and not last else None)
            decoded = service.decode_partial(model, g)
            if masked:
                committed = torch.where(g[0] >= 0, confidence[0], torch.full_like(confidence[0], float("nan")))
                chart = charts.grid_figure(g[0], committed, unit="probability",
                                           title=f"confidence of each committed code, sample 1 "
                                                 f"(step {step.step})", colorscale="Viridis")
                said = status(f"step {step.step} · {int(step.cells[0].sum())} cells committed · "
                              f"{int((g[0] >= 0).sum())}/{h * w} filled · mean entropy {entropy:.2f} bits · "
                              f"seed {seed}" + (" · done" if last else ""), f"step-{step.step}", *done)
            else:
                chart = charts.probs_figure(step.probs[0], 10, int(g[0, step.row, step.col]))
                said = status(f"cell ({step.row}, {step.col}) · {step.row * w + step.col + 1}/{h * w} · mean "
                              f"entropy {entropy:.2f} bits · seed {seed}" + (" · done" if last else ""),
                              "cell", *done)
            if delay and shown_at is not None:   # frames `delay` apart, counting the time this one took to make
                time.sleep(max(0.0, shown_at + delay - time.monotonic()))
            yield (png(pic), png(pictures.image_sheet(decoded, nrow=min(int(n), 4), size=384)), chart, said,
                   json.dumps({"checkpoint": name, "seed": seed, "grids": g.tolist()}) if last else "")
            shown_at = time.monotonic()
        step = following


def build(checkpoint: gr.Dropdown, catalog: service.Catalog, painter: dict):
    with gr.Tab("Sample", id="sample"):
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                label = gr.Dropdown(label="class", choices=[ANY], value=ANY, elem_id="sample-class",
                                    allow_custom_value=True)
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="temperature")
                top_k = gr.Slider(0, 64, value=0, step=1, label="top-k (0 = off)")
                seed = gr.Number(value=-1, precision=0, label="seed (−1 = random)")
                n = gr.Slider(1, service.MAX_SAMPLES, value=4, step=1, label="samples")
                steps = gr.Slider(1, 49, value=8, step=1, label="parallel steps (masked prior only)",
                                  elem_id="sample-steps", interactive=False)
                guidance = gr.Slider(0, 3, value=0, step=0.25, elem_id="sample-guidance", interactive=False,
                                     label="classifier-free guidance (masked prior only)")
                speed = gr.Radio(list(SPEEDS), value="normal", label="speed")
                from_painter = gr.Checkbox(False, label="start from the painter's grid (its unselected cells "
                                                        "stay locked)")
                with gr.Row():
                    start = gr.Button("Sample", variant="primary", elem_id="sample-start")
                    stop = gr.Button("Stop", variant="stop", elem_id="sample-stop")
            with gr.Column(scale=2, min_width=300):
                with gr.Row():
                    grid_img = gr.Image(label="grid of sample 1 (current cell in red)", interactive=False,
                                        elem_id="sample-grid", height=380)
                    decoded = gr.Image(label="decoded so far", interactive=False, elem_id="sample-decoded",
                                       height=380)
                status_box = gr.Markdown(elem_id="sample-status")
                probs = gr.Plot(label="distribution at the current cell (masked prior: confidence map)",
                                elem_id="sample-probs")
                grids = gr.Code(label="sampled grids (JSON)", language="json", max_lines=4, elem_id="sample-json")
                to_painter = gr.Button("Open sample 1 in the painter", size="sm")
        outputs = [grid_img, decoded, probs, status_box, grids]
        inputs = [checkpoint, label, temperature, top_k, seed, n, speed, from_painter, painter["hist"],
                  painter["region"], steps, guidance]
        ev = start.click(bind(catalog, sample), inputs, outputs, api_name=False, concurrency_limit=2)
        api_endpoint(bind(catalog, sample), inputs, outputs, "sample", concurrency_limit=2)
        stop.click(None, None, None, cancels=[ev])
    return {"label": label, "grids": grids, "to_painter": to_painter, "controls": [steps, guidance],
            "outputs": outputs}


def opening_class(model) -> str:
    """The class the tab opens on: the first class by name where the prior is class-conditional (a sheet of
    four airplanes says more than four draws of anything), else any."""
    names = service.class_names(model)
    return names[0] if names and service.has_prior(model) and model.prior.cfg.num_classes else ANY


def first_screen(catalog, name: str):
    """What the tab opens with: a finished sheet of four samples (seed 0) of the opening class, not empty
    panels; for a model without a prior, a note that sampling needs one."""
    model = catalog.get(name)
    if not service.has_prior(model):
        what = ("a tokenizer opened from elsewhere; train a prior over its codes with `vq-explorer-train "
                "--vqvae-from`" if service.made_where(model) == "tokenizer"
                else "a VQ-VAE trained in the codebook lab")
        return None, None, None, status(f"**This model has no prior** ({what}): sampling needs one. Choose a "
                                        "shipped checkpoint to sample.", "no-prior"), ""
    label = opening_class(model)
    masked = service.is_masked(model)   # a masked prior opens at its own steps and guidance, as the sliders do
    *_, (grid, decoded, chart, _, grids) = sample(catalog, name, label, 1.0, 0, 0, 4, "instant",
                                                  steps=model.prior.cfg.steps if masked else 8,
                                                  guidance=model.prior.cfg.guidance if masked else 0)
    how = "step by step" if masked else "cell by cell"
    of = "" if label == ANY else f" of **{label}**"
    return (grid, decoded, chart, status(f"four finished samples{of} (seed 0) · press **Sample** to watch new "
                                         f"ones written {how}" + better_sampler_note(catalog, name), "opening"),
            grids)


def better_sampler_note(catalog, name: str) -> str:
    """Where another checkpoint of the same images samples its classes more recognisably, say which."""
    better = catalog.best_sampler(name)
    if better is None:
        return ""
    other, share, own = better
    than = "" if own is None else f", against {own:.0%} for this one"
    return (f"\n\nFor samples that show their class, choose **{other.removesuffix('.safetensors')}**: "
            f"{share:.0%} of its samples are read as the class asked for{than}.")


def masked_controls(catalog, name: str):
    """The steps and guidance sliders for a checkpoint: live for a masked prior (steps 1..h·w, its default;
    guidance only with classes), else greyed out."""
    model = catalog.get(name)
    if service.is_masked(model):
        return (gr.update(maximum=math.prod(model.grid), value=model.prior.cfg.steps, interactive=True,
                          label="parallel steps (masked prior)"),
                gr.update(value=model.prior.cfg.guidance if service.class_names(model) else 0,
                          interactive=bool(service.class_names(model)),
                          label="classifier-free guidance (with a class; 0 = off)"))
    return (gr.update(interactive=False, label="parallel steps (masked prior only: this one takes one per cell)"),
            gr.update(value=0, interactive=False, label="classifier-free guidance (masked prior only)"))


def first_grid_json(grids_json: str) -> str:
    if not grids_json:
        raise service.UserError("sample_first")
    d = json.loads(grids_json)
    return json.dumps({"checkpoint": d["checkpoint"], "grid": d["grids"][0]})
