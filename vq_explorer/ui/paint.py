"""Tab 2: paint a code grid by hand and see it decoded at once; inpaint a region with the prior."""

import functools
import itertools
import math
import time
from pathlib import Path

import gradio as gr
import numpy as np
import torch

from .. import service
from ..messages import note_text
from ..service import codec, per_model
from ..views import pictures
from . import quantize
from .common import api_endpoint, bind, data_url, guarded, png, status, temp_file, user_message
from .history import History
from .looks import code_looks
from .words import ANY, class_label, inpaint_context, no_decoder

INTRO = """Click a cell to give it the selected code, or drag to paint over several: the decoded image follows
the brush as you paint. The decoder turns any grid into an image — including grids no real image would produce.
**Select region** marks cells instead; **Resample region** lets the prior redraw them while every other cell
stays fixed (inpainting). A masked prior (MaskGIT) redraws them seeing the cells on every side; an autoregressive
one sees only the cells before each redrawn cell."""
TOOLS = ["Set code", "Select region"]
PAINTER_JS = (Path(__file__).with_name("painter.js")).read_text()
PAINTER_HTML = """<div class="vqe-painter">
  <canvas title="code grid: click a cell, or drag to paint"></canvas>
  <div class="vqe-out">
    <div class="vqe-caption">decoded</div><img alt="decoded grid"><div class="vqe-message"></div>
  </div>
</div>"""
PAINTER_CSS = """.vqe-painter { display: flex; gap: 16px; align-items: flex-start; }
.vqe-painter canvas { flex: 0 1 448px; min-width: 0; touch-action: none; cursor: crosshair; }
.vqe-out { flex: 0 1 256px; min-width: 0; }
.vqe-caption { font-size: 0.85em; color: #666; }
.vqe-out img { width: 100%; image-rendering: pixelated; border: 1px solid #ccc; }
.vqe-message { color: #c00; font-size: 0.9em; }"""
_versions = itertools.count()


def painter_constraints(model, hist: dict | None, region) -> tuple[torch.Tensor, torch.Tensor]:
    """The painter's grid and which cells stay fixed (those not selected), to sample the selection."""
    if not hist:
        raise service.UserError("painter_empty")
    reg = torch.as_tensor(region if region is not None else [], dtype=torch.bool)
    if reg.shape != np.asarray(hist["grid"]).shape or not reg.any():
        raise service.UserError("no_region_selected")
    return torch.tensor(hist["grid"]), ~reg


def cell_px(shape) -> int:
    """Cells of at most 64 px for a digit's grid, down to 8 px so a photo's 64×64 grid fits the page."""
    return max(8, min(64, 448 // max(shape)))


def _region(shape, region) -> torch.Tensor:
    """The selection as a grid of the painter's shape (none where it does not match: another grid)."""
    shape = tuple(shape)
    if region is None or np.asarray(region).shape != shape:
        return torch.zeros(shape, dtype=torch.bool)
    return torch.as_tensor(region, dtype=torch.bool)


@functools.lru_cache(maxsize=8)
def _colours(num_codes: int) -> list[str]:
    return ["#{:02x}{:02x}{:02x}".format(*pictures.code_colour(k)) for k in range(num_codes)]


@per_model
def _sprite(model) -> tuple[str, list[int], int]:
    """Every code's decoded look in one picture, 32 to a row: the browser cuts the cells' tiles from it."""
    tiles = service.tiles(model)
    return data_url(pictures.tile_sheet(tiles, 32)), list(tiles.shape[-2:]), 32


def canvas_value(name: str, model, grid: torch.Tensor, region: torch.Tensor, tiles_look: bool) -> dict:
    """What the browser's painter draws (painter.js): the grid, the selection, the colours (and decoded looks)
    of the codes, and the decoded image. `version` makes every value new, so the browser redraws even when the
    grid is one it showed before (undo)."""
    px = cell_px(grid.shape)
    decoder = service.has_decoder(model)
    sprite, tile_size, tile_cols = _sprite(model) if tiles_look and decoder else (None, None, None)
    return {"checkpoint": name, "grid": grid.tolist(), "region": region.tolist(), "px": px, "numbers": px >= 24,
            "colours": _colours(model.config["num_codes"]), "tiles": sprite, "tile_size": tile_size,
            "tile_cols": tile_cols, "decoded": _decoded_url(model, grid) if decoder else None,
            "message": "" if decoder else NO_PICTURE, "version": next(_versions)}


NO_PICTURE = no_decoder("decoded picture and no look of a code (the palette shows each code's colour)")


def _decoded_url(model, grid: torch.Tensor, exact: bool = True) -> str:
    """The decoded grid at the image's own size (the page enlarges it), inline."""
    return _decoded(model, grid, exact)[0]


def _decoded(model, grid: torch.Tensor, exact: bool) -> tuple[str, bool]:
    """(the picture as a data URL, whether it is exact): during a stroke only the window the change reaches is
    decoded again (service.strokes), a preview where the decoder sees the whole picture."""
    image, is_exact = service.decode_picture(model, grid, exact)
    return data_url(pictures.to_rgb(image, None)), is_exact


NO_PRIOR = {"lab": "a lab model", "tokenizer": "a tokenizer opened from elsewhere"}


def _info(model, hist: dict, reg: torch.Tensor, note: str = "") -> dict:
    grid = torch.tensor(hist["grid"])
    limit = service.prior_limit(model, grid.shape) if service.has_prior(model) else None
    bits = service.grid_bits(model, grid)
    bits = (f"{bits:.0f} bits under the prior (unconditional): a compressed file of about "
            f"{file_bytes(model, grid, bits)} bytes" if bits is not None else
            f"no prior ({NO_PRIOR[service.made_where(model)]})" if not service.has_prior(model) else
            f"no bits: this {grid.shape[0]}×{grid.shape[1]} grid is larger than the {limit[0]}×{limit[1]} grids "
            "the prior knows" if limit else "no likelihood (masked prior)")
    resample = (f"the prior redraws regions of grids up to {limit[0]}×{limit[1]}; this one decodes and paints, "
                "and its regions cannot be redrawn" if limit else inpaint_context(model))
    context = ("none" if not service.has_prior(model) else "beyond-prior" if limit else
               "every-side" if service.is_masked(model) else "before")
    return status(f"{bits} · {int(reg.sum())} cells selected · undo {len(hist['undo'])} / redo "
                  f"{len(hist['redo'])}\n\nResample region: {resample}." + (f"\n\n{note}" if note else ""),
                  f"undo-{len(hist['undo'])}", f"context-{context}")


def file_bytes(model, grid: torch.Tensor, bits: float) -> int:
    """The size of the grid's compressed file, from its bits without coding it: the header, and the range
    coder's 32-bit words (its last one partly filled)."""
    return len(codec.header(model, grid)) + 4 * math.ceil(bits / 32)


def view(catalog, name: str, hist: dict, region, tiles_look: bool = False, note: str = ""):
    """Everything the painter shows for a state: (history, region, painter canvas, JSON, info)."""
    model = catalog.get(name)
    grid = torch.tensor(hist["grid"])
    reg = _region(grid.shape, region)
    return (hist, reg.tolist(), canvas_value(name, model, grid, reg, tiles_look), service.grid_json(grid, name),
            _info(model, hist, reg, note))


@guarded
def reset(catalog, name: str, tiles_look=False):
    """The painter as a checkpoint opens it: the grid of its first shipped test image, decoded, so a first click
    visibly changes a real picture (one code everywhere, for a checkpoint without examples)."""
    model = catalog.get(name)
    grid, note = service.example_grid(model), "the grid of shipped example 1"
    if grid is None:
        grid, note = torch.full(model.grid, service.most_used_code(model)), ""
    return view(catalog, name, History.new(grid), None, tiles_look, note)


@guarded
def example_token(catalog, name: str):
    """The token of the image the painter's opening grid came from (the first shipped example), by which its
    quantization panel is filled; None for a model without examples."""
    model = catalog.get(name)
    if model.examples is None or not len(model.examples):
        return None
    return service.remember_input(name, model.examples[:1].float() / 255)


def decode_cells(catalog, request: dict) -> dict:
    """The painter's fast path, called by the browser while a stroke goes on (a gr.HTML server function: no
    queue, no files, only the picture): {checkpoint, grid, exact (optional)} in, {decoded: PNG data URL, exact,
    ms} or {error} out. Without `exact` a decoder that sees the whole picture may answer with a preview (the
    window the stroke changed, `exact` false); the browser asks again with `exact` when the stroke ends."""
    t = time.perf_counter()
    try:
        if not isinstance(request, dict):
            raise service.UserError("paint_request")
        model = catalog.get(request.get("checkpoint"))
        grid = service.parse_grid(request.get("grid"), model)
        if not service.has_decoder(model):
            return {"error": NO_PICTURE}
        decoded, exact = _decoded(model, grid, bool(request.get("exact", False)))
    except Exception as e:  # noqa: BLE001 - the browser shows the message; the server keeps serving
        return {"error": user_message(e)}
    return {"decoded": decoded, "exact": exact, "ms": (time.perf_counter() - t) * 1e3}


@guarded
def stroke(catalog, name, hist, region, value):
    """A finished click or stroke from the browser's painter (already drawn and decoded there): checked, then
    kept in the history. Returns (history, region, JSON, info)."""
    model = catalog.get(name)
    if not isinstance(value, dict) or value.get("checkpoint") != name:
        raise service.UserError("stroke_other_grid")
    grid = service.parse_grid(value, model)
    reg = np.asarray(value.get("region"), dtype=object)
    if reg.shape != tuple(grid.shape) or not all(v in (0, 1) for v in reg.flat):   # True/False are 1/0 too
        raise service.UserError("selection_shape", rows=grid.shape[0], cols=grid.shape[1])
    reg = torch.as_tensor(reg.astype(bool))
    hist = History.push(hist, grid)          # a selection-only stroke leaves the history as it is
    return hist, reg.tolist(), service.grid_json(grid, name), _info(model, hist, reg)


@guarded
def pick_code(catalog, name, evt: gr.SelectData):
    order = torch.argsort(service.usage(catalog.get(name)), descending=True)
    return int(order[evt.index])


def palette(catalog, name: str, limit: int = 128):
    """The most used codes first, each shown by its decoded look (its colour, without a decoder)."""
    try:
        model = catalog.get(name)
    except service.UserError:
        return []
    u = service.usage(model)
    order = torch.argsort(u, descending=True)[:limit]
    tiles = code_looks(model, order, 48)
    return [(png(t), f"#{int(k)} · {int(u[k])}") for t, k in zip(tiles, order, strict=True)]


@guarded
def edit(catalog, action: str, name, hist, region, code, tiles_look, seed=None):
    """Undo, redo, clear, fill, random and clear-selection: each a new grid (or region) from the old one."""
    model = catalog.get(name)
    if action == "undo":
        return view(catalog, name, History.undo(hist), region, tiles_look)
    if action == "redo":
        return view(catalog, name, History.redo(hist), region, tiles_look)
    if action == "unselect":
        return view(catalog, name, hist, None, tiles_look)
    shape = np.asarray(hist["grid"]).shape if hist else model.grid   # the painter's grid, maybe a photo's
    if action == "clear":
        grid = torch.full(shape, service.most_used_code(model))
    elif action == "fill":
        K = model.config["num_codes"]
        if code is None or not 0 <= int(code) < K:
            raise service.UserError("choose_code", last=K - 1)
        grid = torch.full(shape, int(code))
    elif action == "random":
        grid = service.random_grid(model, shape=shape)
    else:
        raise service.UserError("unknown_action", action=str(action)[:40])
    return view(catalog, name, History.push(hist, grid), region, tiles_look)


@guarded
def resample(catalog, name, hist, region, label, temperature, tiles_look):
    model = catalog.get(name)
    grid = torch.tensor(hist["grid"])
    reg = _region(grid.shape, region)
    grid = service.inpaint(model, grid, reg, class_label(model, label), float(temperature))
    return view(catalog, name, History.push(hist, grid), region, tiles_look,
                f"resampled {int(reg.sum())} cells")


@guarded
def from_sample(catalog, name, hist, region, label, temperature, tiles_look):
    model = catalog.get(name)
    grid = service.sample_grid(model, class_label(model, label), temperature)
    return view(catalog, name, History.push(hist, grid), region, tiles_look, "a fresh sample from the prior")


@guarded
def from_image(catalog, image_file, name, hist, region, tiles_look):
    if not image_file:
        raise service.UserError("no_upload")
    model = catalog.get(name)
    x, notes = service.load_image(model, image_file)
    grid = service.encode(model, x)
    note = "grid of the uploaded image" + (f" ({'; '.join(map(note_text, notes))})" if notes else "")
    return (*view(catalog, name, History.push(hist, grid), region, tiles_look, note),
            service.remember_input(name, x))


@guarded
def import_grid(catalog, grid_json: str, name: str = "", hist=None, region=None, tiles_look=False):
    """The /decode_grid endpoint: a grid as JSON in, its decoded image (and the painter's view) out."""
    name = name or catalog.default()
    model = catalog.get(name)
    grid = service.parse_grid(grid_json, model)
    return view(catalog, name, History.push(hist, grid), region, tiles_look, "grid imported")


@guarded
def export_grid(name, hist):
    """The download: the grid as JSON in the app's temporary folder, which is swept like its pictures."""
    path = temp_file(".json", "code-grid-")
    Path(path).write_text(service.grid_json(torch.tensor(hist["grid"]), name))
    return path


def build(checkpoint: gr.Dropdown, catalog: service.Catalog):
    with gr.Tab("Paint codes", id="paint"):
        gr.Markdown(INTRO)
        hist, region = gr.State(), gr.State()
        with gr.Row():
            with gr.Column(scale=3, min_width=360):
                with gr.Row():
                    # painter.js reads the tool and the code from these two when a stroke starts
                    gr.Radio(TOOLS, value=TOOLS[0], label="clicks and brush", elem_id="paint-tool")
                    code = gr.Number(value=0, precision=0, label="selected code", elem_id="paint-code",
                                     minimum=0)
                    tiles_look = gr.Checkbox(False, label="show cells as their decoded look")
                canvas = gr.HTML(None, html_template=PAINTER_HTML, css_template=PAINTER_CSS, js_on_load=PAINTER_JS,
                                 server_functions=[bind(catalog, decode_cells)], elem_id="paint-canvas",
                                 padding=False)
            with gr.Column(scale=2, min_width=300):
                info = gr.Markdown(elem_id="paint-info")
                with gr.Row():
                    undo, redo = gr.Button("↶ Undo", size="sm"), gr.Button("↷ Redo", size="sm")
                    clear, fill = gr.Button("Clear", size="sm"), gr.Button("Fill with code", size="sm")
                    rand = gr.Button("Random", size="sm")
                with gr.Row():
                    label = gr.Dropdown(label="class for the prior", choices=[ANY], value=ANY,
                                        allow_custom_value=True)
                    temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="temperature")
                with gr.Row():
                    resample_btn = gr.Button("Resample region", variant="primary", elem_id="paint-resample")
                    unselect = gr.Button("Clear selection", size="sm")
                    sample_btn = gr.Button("Load a sample", size="sm")
                upload = gr.UploadButton("Load from an image…", file_types=["image"], type="filepath", size="sm")
                pal = gr.Gallery(label="palette: most used codes first (click to select)", columns=8, height=260,
                                 allow_preview=False, elem_id="paint-palette")
                with gr.Accordion("Export / import JSON", open=False):
                    json_box = gr.Code(language="json", label="grid JSON (edit and import)", max_lines=8,
                                       elem_id="paint-json", interactive=True)
                    with gr.Row():
                        import_btn = gr.Button("Import JSON", elem_id="paint-import")
                        export_btn = gr.Button("Export JSON file")
                    export_file = gr.File(label="download", interactive=False)

        outs = [hist, region, canvas, json_box, info]
        token = gr.State()   # the input of the image the grid came from, for its quantization panel
        common = [checkpoint, hist, region]
        canvas.stroke(bind(catalog, stroke), [*common, canvas], [hist, region, json_box, info],
                      trigger_mode="always_last", api_visibility="undocumented")
        pal.select(bind(catalog, pick_code), [checkpoint], code, api_visibility="undocumented")
        for btn, action in ((undo, "undo"), (redo, "redo"), (clear, "clear"), (fill, "fill"), (rand, "random"),
                            (unselect, "unselect")):
            btn.click(lambda n, h, r, c, t, a=action: edit(catalog, a, n, h, r, c, t), [*common, code, tiles_look],
                      outs, api_visibility="undocumented")
        tiles_look.change(bind(catalog, guarded(view)), [*common, tiles_look], outs,
                          api_visibility="undocumented")
        resample_btn.click(bind(catalog, resample), [*common, label, temperature, tiles_look], outs,
                           api_visibility="undocumented")
        sample_btn.click(bind(catalog, from_sample), [*common, label, temperature, tiles_look], outs,
                         api_visibility="undocumented")
        upload_event = upload.upload(bind(catalog, from_image), [upload, *common, tiles_look], [*outs, token],
                                     api_visibility="undocumented")
        import_btn.click(bind(catalog, import_grid), [json_box, checkpoint, hist, region, tiles_look], outs,
                         api_name=False)
        api_endpoint(bind(catalog, import_grid), [json_box, checkpoint, hist, region, tiles_look], outs,
                     "decode_grid")
        # The quantization of the image the grid came from (an upload here, or a grid sent from Reconstruct).
        quant, swapped, swap_btn = quantize.build_panel(
            "paint", "Put the grid with the runner-up into the painter ✎",
            "The image this grid came from: which code each cell got, and how close the call was")
        quantize.wire(catalog, checkpoint, token, quant)
        upload_event.then(bind(catalog, quantize.panel), [checkpoint, token], quant, api_visibility="private")
        swap_btn.click(bind(catalog, import_grid), [swapped, checkpoint, hist, region, tiles_look], outs,
                       api_visibility="private")
        export_btn.click(export_grid, [checkpoint, hist], export_file, api_visibility="undocumented")
    return {"hist": hist, "region": region, "outputs": outs, "palette": pal, "label": label, "json": json_box,
            "tiles_look": tiles_look, "token": token, "quantization": quant}
