"""Tab 2: paint a code grid by hand and see it decoded at once; inpaint a region with the prior."""

import tempfile

import gradio as gr
import numpy as np
import torch

from .. import explorer as ex
from .. import render
from .common import guarded, png

INTRO = """Click a cell to give it the selected code, or brush over several (the brush applies about a second
after you let go). The decoder turns any grid into an image — including grids no real image would produce.
**Select region** marks cells instead; **Resample region** lets the prior redraw them while every other cell
stays fixed (inpainting). A masked prior (MaskGIT) redraws them seeing the cells on every side; an autoregressive
one sees only the cells before each redrawn cell."""
TOOLS = ["Set code", "Select region"]


def cell_px(model) -> int:
    h, w = model.grid
    return max(20, min(64, 448 // max(h, w)))


def _region(model, region) -> torch.Tensor:
    if region is None or np.asarray(region).shape != tuple(model.grid):
        return torch.zeros(model.grid, dtype=torch.bool)
    return torch.as_tensor(region, dtype=torch.bool)


def view(name: str, hist: dict, region, tiles_look: bool = False, note: str = ""):
    """Everything the painter shows for a state: (history, region, grid picture, brush canvas, decoded image,
    JSON, info)."""
    model = ex.get_model(name)
    grid, reg = torch.tensor(hist["grid"]), _region(model, region)
    pic = png(render.grid_picture(grid, cell_px(model), tiles=ex.tiles(model) if tiles_look else None,
                                  region=reg))
    decoded = png(render.to_rgb(ex.decode_grid(model, grid), 320))
    bits = ex.grid_bits(model, grid)
    bits = "no likelihood (masked prior)" if bits is None else f"{bits:.0f} bits under the prior (unconditional)"
    info = (f"{bits} · {int(reg.sum())} cells selected · undo {len(hist['undo'])} / redo {len(hist['redo'])}"
            f"\n\nResample region: {ex.inpaint_context(model)}." + (f"\n\n{note}" if note else ""))
    return hist, reg.tolist(), pic, pic, decoded, ex.grid_json(grid, name), info


@guarded
def reset(name: str, tiles_look=False):
    model = ex.get_model(name)
    return view(name, ex.History.new(torch.full(model.grid, ex.most_used_code(model))), None, tiles_look)


def _set_cells(name, hist, region, cells: torch.Tensor, code, tool, tiles_look):
    model = ex.get_model(name)
    if tool == TOOLS[1]:
        reg = _region(model, region) | cells
        return view(name, hist, reg.tolist(), tiles_look)
    K = model.config["num_codes"]
    if code is None or not 0 <= int(code) < K:
        raise ex.UserError(f"choose a code between 0 and {K - 1} first")
    grid = torch.tensor(hist["grid"])
    grid[cells] = int(code)
    return view(name, ex.History.push(hist, grid), region, tiles_look)


@guarded
def click(name, hist, region, code, tool, tiles_look, evt: gr.SelectData):
    model = ex.get_model(name)
    px = cell_px(model)
    x, y = evt.index[0], evt.index[1]
    r, c = int(y) // px, int(x) // px
    h, w = model.grid
    if not (0 <= r < h and 0 <= c < w):
        return view(name, hist, region, tiles_look)
    cells = torch.zeros(h, w, dtype=torch.bool)
    cells[r, c] = True
    if tool == TOOLS[1]:   # clicking a selected cell again unselects it
        reg = _region(model, region)
        reg[r, c] = not reg[r, c]
        return view(name, hist, reg.tolist(), tiles_look)
    return _set_cells(name, hist, region, cells, code, tool, tiles_look)


def brushed_cells(editor_value, grid_shape, px) -> torch.Tensor:
    """Cells with at least 10% of their pixels under the brush."""
    layers = (editor_value or {}).get("layers") or []
    h, w = grid_shape
    if not layers or layers[0] is None:
        return torch.zeros(h, w, dtype=torch.bool)
    alpha = np.asarray(layers[0])[..., 3] > 0
    alpha = alpha[: h * px, : w * px]
    pad = np.zeros((h * px, w * px), bool)
    pad[: alpha.shape[0], : alpha.shape[1]] = alpha
    return torch.from_numpy(pad.reshape(h, px, w, px).mean((1, 3)) > 0.1)


@guarded
def brush(name, hist, region, code, tool, tiles_look, editor_value):
    model = ex.get_model(name)
    cells = brushed_cells(editor_value, model.grid, cell_px(model))
    if not cells.any():
        return view(name, hist, region, tiles_look)
    return _set_cells(name, hist, region, cells, code, tool, tiles_look)


@guarded
def pick_code(name, evt: gr.SelectData):
    order = torch.argsort(ex.usage(ex.get_model(name)), descending=True)
    return int(order[evt.index])


def palette(name: str, limit: int = 128):
    """The most used codes first, each shown by its decoded look."""
    try:
        model = ex.get_model(name)
    except ex.UserError:
        return []
    u = ex.usage(model)
    order = torch.argsort(u, descending=True)[:limit]
    tiles = render.tile_images(ex.tiles(model)[order], 48)
    return [(png(t), f"#{int(k)} · {int(u[k])}") for t, k in zip(tiles, order, strict=True)]


@guarded
def edit(action: str, name, hist, region, code, tiles_look, seed=None):
    """Undo, redo, clear, fill, random and clear-selection: each a new grid (or region) from the old one."""
    model = ex.get_model(name)
    if action == "undo":
        return view(name, ex.History.undo(hist), region, tiles_look)
    if action == "redo":
        return view(name, ex.History.redo(hist), region, tiles_look)
    if action == "unselect":
        return view(name, hist, None, tiles_look)
    if action == "clear":
        grid = torch.full(model.grid, ex.most_used_code(model))
    elif action == "fill":
        K = model.config["num_codes"]
        if code is None or not 0 <= int(code) < K:
            raise ex.UserError(f"choose a code between 0 and {K - 1} first")
        grid = torch.full(model.grid, int(code))
    elif action == "random":
        grid = ex.random_grid(model)
    else:
        raise ex.UserError(f"unknown action {action}")
    return view(name, ex.History.push(hist, grid), region, tiles_look)


@guarded
def resample(name, hist, region, label, temperature, tiles_look):
    model = ex.get_model(name)
    reg = _region(model, region)
    grid = ex.inpaint(model, torch.tensor(hist["grid"]), reg, ex.label_id(model, label), float(temperature))
    return view(name, ex.History.push(hist, grid), region, tiles_look,
                f"resampled {int(reg.sum())} cells")


@guarded
def from_sample(name, hist, region, label, temperature, tiles_look):
    model = ex.get_model(name)
    grid = ex.sample_grid(model, ex.label_id(model, label), temperature)
    return view(name, ex.History.push(hist, grid), region, tiles_look, "a fresh sample from the prior")


@guarded
def from_image(image_file, name, hist, region, tiles_look):
    if not image_file:
        raise ex.UserError("upload an image first")
    model = ex.get_model(name)
    grid, notes = ex.encode_image(model, image_file)
    note = "grid of the uploaded image" + (f" ({'; '.join(notes)})" if notes else "")
    return view(name, ex.History.push(hist, grid), region, tiles_look, note)


@guarded
def import_grid(grid_json: str, name: str = "", hist=None, region=None, tiles_look=False):
    """The /decode_grid endpoint: a grid as JSON in, its decoded image (and the painter's view) out."""
    name = name or ex.default_checkpoint()
    model = ex.get_model(name)
    grid = ex.parse_grid(grid_json, model)
    hist = ex.History.push(hist, grid) if hist else ex.History.new(grid)
    return view(name, hist, region, tiles_look, "grid imported")


@guarded
def export_grid(name, hist):
    f = tempfile.NamedTemporaryFile("w", suffix=".json", prefix="code-grid-", delete=False)
    f.write(ex.grid_json(torch.tensor(hist["grid"]), name))
    f.close()
    return f.name


def build(checkpoint: gr.Dropdown):
    with gr.Tab("Paint codes", id="paint"):
        gr.Markdown(INTRO)
        hist, region = gr.State(), gr.State()
        with gr.Row():
            with gr.Column(scale=3, min_width=360):
                with gr.Row():
                    tool = gr.Radio(TOOLS, value=TOOLS[0], label="clicks and brush", elem_id="paint-tool")
                    code = gr.Number(value=0, precision=0, label="selected code", elem_id="paint-code",
                                     minimum=0)
                    tiles_look = gr.Checkbox(False, label="show cells as their decoded look")
                grid_img = gr.Image(label="code grid: click a cell", interactive=False, elem_id="paint-grid",
                                    height=470, buttons=[])
                with gr.Accordion("Brush (paint over many cells)", open=False):
                    editor = gr.ImageEditor(type="numpy", fixed_canvas=True, canvas_size=(448, 448),
                                            brush=gr.Brush(colors=["#ff3030"], color_mode="fixed",
                                                           default_size=18),
                                            eraser=False, layers=False, transforms=(), sources=(),
                                            label="brush over cells", elem_id="paint-brush", height=500)
            with gr.Column(scale=2, min_width=300):
                decoded = gr.Image(label="decoded", elem_id="paint-decoded", height=300, interactive=False)
                info = gr.Markdown(elem_id="paint-info")
                with gr.Row():
                    undo, redo = gr.Button("↶ Undo", size="sm"), gr.Button("↷ Redo", size="sm")
                    clear, fill = gr.Button("Clear", size="sm"), gr.Button("Fill with code", size="sm")
                    rand = gr.Button("Random", size="sm")
                with gr.Row():
                    label = gr.Dropdown(label="class for the prior", choices=["(any)"], value="(any)",
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

        outs = [hist, region, grid_img, editor, decoded, json_box, info]
        common = [checkpoint, hist, region]
        grid_img.select(click, [*common, code, tool, tiles_look], outs, api_visibility="undocumented")
        editor.input(brush, [*common, code, tool, tiles_look, editor], outs, api_visibility="undocumented")
        pal.select(pick_code, [checkpoint], code, api_visibility="undocumented")
        for btn, action in ((undo, "undo"), (redo, "redo"), (clear, "clear"), (fill, "fill"), (rand, "random"),
                            (unselect, "unselect")):
            btn.click(lambda n, h, r, c, t, a=action: edit(a, n, h, r, c, t), [*common, code, tiles_look], outs,
                      api_visibility="undocumented")
        tiles_look.change(guarded(view), [*common, tiles_look], outs,
                          api_visibility="undocumented")
        resample_btn.click(resample, [*common, label, temperature, tiles_look], outs,
                           api_visibility="undocumented")
        sample_btn.click(from_sample, [*common, label, temperature, tiles_look], outs,
                         api_visibility="undocumented")
        upload.upload(from_image, [upload, *common, tiles_look], outs, api_visibility="undocumented")
        import_btn.click(import_grid, [json_box, checkpoint, hist, region, tiles_look], outs,
                         api_name="decode_grid")
        export_btn.click(export_grid, [checkpoint, hist], export_file, api_visibility="undocumented")
    return {"hist": hist, "region": region, "outputs": outs, "palette": pal, "label": label, "json": json_box,
            "tiles_look": tiles_look}
