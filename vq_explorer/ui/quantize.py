"""The Reconstruct tab's quantization panel: where the codebook fits the image badly, where the choice of code was
a coin toss, and for a clicked cell the encoder's vector, its nearest codes and what the runner-up would draw."""

import json

import gradio as gr

from .. import service
from ..service import quantization
from ..views import charts, pictures
from .common import bind, guarded, png, status
from .looks import code_looks
from .words import no_decoder

INTRO = """**The quantization step.** Each cell's encoder output **z** is replaced by the nearest of the K codes.
The **error** map is ‖z − e‖² for the chosen code e: the commitment loss of each cell, bright where the codebook
fits the image badly. The **margin** map is how much nearer the chosen code was than the runner-up, relatively,
(d₂ − d₁) / d₁: dark cells were close calls. A cell's **distance to the boundary**, (d₂² − d₁²) / (2‖e₂ − e₁‖),
says how far z must move to cross the half-way plane between the two codes and flip, in z's own units. **Click a
cell** on either map to see its z, its nearest codes, and what the decoder draws with the runner-up instead."""
FSQ_INTRO = """**The quantization step (FSQ).** This model has no codebook to search: each cell's encoder output
is projected to a few numbers, and each number is rounded to one of its levels. The **error** map is the squared
rounding error; the **margin** map is how far the number nearest its half-way point was from flipping to the next
level (dark: a close call). **Click a cell** on either map to see its numbers and their rounding."""
CODES_ONLY = """**The quantization step.** This model's encoder gives its codes directly: it has no continuous
latents to show, so there are no error or margin maps (each cell's z would be its own code's vector)."""
MARGIN_TOP = 0.5     # margins at or above 50% are all shown bright: a clear win


def _analysis(catalog, token):
    name, x = service.recall_input(token)
    model = catalog.get(name)
    return name, model, quantization.quantization(model, x)


def closest_call(q: quantization.Quantization) -> tuple[int, int]:
    """The cell whose choice was nearest a coin toss: where the panel opens."""
    return divmod(int(q.margin.flatten().argmin()), q.grid.shape[1])


@guarded
def panel(catalog, checkpoint: str, token):
    """After a reconstruction: both maps, and the closest call's cell shown in detail."""
    if not token:
        return (None, None, "", status(""), None, None, "", None)
    name, model, q = _analysis(catalog, token)
    if q.codes_only:
        return (None, None, CODES_ONLY, status("", "codes-only"), None, [], None, None)
    return _outputs(catalog, name, model, q, *closest_call(q))


@guarded
def select(catalog, checkpoint: str, token, evt: gr.SelectData):
    """A click on either map: that cell in detail."""
    name, model, q = _analysis(catalog, token)
    if q.codes_only:
        raise service.UserError("no_cell_clicked")
    px = pictures.cell_px_for(q.grid.shape)
    x, y = evt.index
    row, col = int(y) // px, int(x) // px
    if not (0 <= row < q.grid.shape[0] and 0 <= col < q.grid.shape[1]):
        raise service.UserError("no_cell_clicked")
    return _outputs(catalog, name, model, q, row, col)


def _outputs(catalog, name, model, q, row, col):
    """(error map, margin map, intro, cell text, z chart, nearest codes, chosen | runner-up picture, the grid
    with the runner-up as JSON)."""
    c = quantization.cell(model, q, row, col)
    here = (row, col)
    error_top = max(float(q.error.max()), 1e-12)
    maps = (png(pictures.cell_map(q.error, error_top, mark=here)),
            png(pictures.cell_map(q.margin, 0.5 if q.fsq else MARGIN_TOP, mark=here)))
    codes = c["codes"]
    decoder = service.has_decoder(model)
    if q.fsq:
        tiles = dict(zip(codes, service.tiles_of(model, codes), strict=True))   # these codes' looks alone
        text = _fsq_text(c)
        nearest = [(png(pictures.to_rgb(tiles[k], 64)), f"#{k}" + (" · chosen" if i == 0 else " · one flip away"))
                   for i, k in enumerate(codes)]
        chart = charts.vector_figure(c["z"], c["levels"], f"cell ({row}, {col}): its {len(c['z'])} numbers "
                                                         "and their levels")
    else:
        text = _vq_text(c, quantization.typical_error(model), decoder)
        looks = code_looks(model, codes, 64, lambda tiles, px: [pictures.to_rgb(t, px) for t in tiles])
        nearest = [(png(look), f"#{k} · {d:.3g}" + (" · chosen" if i == 0 else ""))
                   for i, (look, k, d) in enumerate(zip(looks, codes, c["distances"], strict=True))]
        e = model.vqvae.quantizer.codebook[c["code"]].detach().cpu().tolist()
        chart = charts.vector_figure(c["z"], e, f"cell ({row}, {col}): z and the chosen code {c['code']}")
    runner_up = codes[1] if len(codes) > 1 else None
    picture, swapped = None, None
    # the cell and the grid (which image the panel is on) for a watcher
    states = [f"cell-{row}-{col}", f"grid-{q.grid.shape[0]}x{q.grid.shape[1]}"]
    if not decoder:   # the codes' colours stand in the gallery; no picture around the cell
        text += f"\n\n{no_decoder('picture of the image around the cell with either code')}"
        states.append("no-decoder")
    if runner_up is not None:
        grids = q.grid[None].repeat(2, 1, 1)
        grids[1, row, col] = runner_up
        if decoder:
            picture = png(pictures.side_by_side(model.decode(grids), (row, col), model.config["downsample"]))
        swapped = json.dumps({"checkpoint": name, "grid": grids[1].tolist()})
    return (*maps, FSQ_INTRO if q.fsq else INTRO, status(text, *states), chart, nearest, picture, swapped)


def _vq_text(c: dict, typical: float | None, decoded: bool = True) -> str:
    d1, d2 = c["distances"][0], c["distances"][1]
    gap = (d2 - d1) / max(d1, 1e-12)
    won = ("a tie (equally near; the lower index wins)" if d2 == d1 else
           "exact: z sits on it (distance 0), nearer than" if d1 == 0 else
           f"won by {gap:.1%} (relative margin) over" if gap >= 0.01 else
           f"won by only {gap * 100:.2g}% (relative margin) over")
    versus = f" (a typical cell of the shipped test images: {typical:.3g})" if typical is not None else ""
    distance = "at" if d1 == 0 else f"at distance {d1:.3g}"
    return (f"**cell ({c['row']}, {c['col']})**: code **{c['code']}** {distance} {won} code **{c['codes'][1]}** "
            f"at {d2:.3g}. Distance to the boundary with code {c['codes'][1]} (how far z must move to flip): "
            f"**{c['boundary']:.3g}**. Quantization error ‖z − e‖² = {c['error']:.3g}{versus}."
            + (f" Below: the image around the cell decoded with code {c['code']} (left) and with code "
               f"{c['codes'][1]} (right)." if decoded else ""))


def _fsq_text(c: dict) -> str:
    rows = "\n".join(f"| {i} | {v:+.3f} | {int(lv):+d} | {f:.3f} |"
                     for i, (v, lv, f) in enumerate(zip(c["z"], c["levels"], c["to_flip"], strict=True)))
    row, col = c["row"], c["col"]
    flip = (f" Rounding dimension {c['flip_dim']} the other way gives code **{c['codes'][1]}** (right, below)."
            if len(c["codes"]) > 1 else " The dimension nearest its boundary is at the end of its range.")
    return (f"**cell ({row}, {col})**: code **{c['code']}**, squared rounding error {c['error']:.3g}.{flip}"
            f"\n\n| dimension | value | level | distance from flipping |\n"
            f"|---|---|---|---|\n{rows}")


@guarded
def api(catalog, image_file, checkpoint: str = ""):
    """The /quantization endpoint: an image file in; the chosen grid, the error map and the margin map out, as
    JSON (each h × w; a margin of null: z sat exactly on its code; the boundary distance for a VQ model; kind
    "codes" and no maps for a model whose encoder gives codes)."""
    if not image_file:
        raise service.UserError("no_upload")
    name = checkpoint or catalog.default()
    model = catalog.get(name)
    x, _ = service.load_image(model, image_file)
    q = quantization.quantization(model, x)
    if q.codes_only:
        return {"checkpoint": name, "kind": "codes", "grid": q.grid.tolist(), "error": None, "margin": None}
    margin = [[None if v == float("inf") else v for v in row] for row in q.margin.tolist()]
    return {"checkpoint": name, "kind": "fsq" if q.fsq else "vq", "grid": q.grid.tolist(),
            "error": q.error.tolist(), "margin": margin,
            "boundary": None if q.boundary is None else q.boundary.tolist()}


def build_panel(prefix: str, send_label: str, title: str = "The quantization step: which code each cell got, "
                "and how close the call was"):
    """The panel's components in the order `panel` and `select` fill them (element ids `<prefix>-…`), the
    runner-up's grid, and the button that sends it to the painter."""
    with gr.Accordion(title, open=True, elem_id=f"{prefix}-quantization"):
        intro = gr.Markdown(elem_id=f"{prefix}-quant-intro")
        with gr.Row():
            error_map = gr.Image(label="error ‖z − e‖² per cell (bright: the codebook fits badly); click a cell",
                                 interactive=False, height=280, elem_id=f"{prefix}-qerror")
            margin_map = gr.Image(label="margin to the runner-up (dark: a coin toss); click a cell",
                                  interactive=False, height=280, elem_id=f"{prefix}-margin")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                text = gr.Markdown(elem_id=f"{prefix}-cell")
                chart = gr.Plot(label="z at the cell", elem_id=f"{prefix}-z")
            with gr.Column(scale=1, min_width=300):
                nearest = gr.Gallery(label="its nearest codes, decoded (#code · distance)", columns=4, height=300,
                                     allow_preview=False, elem_id=f"{prefix}-nearest")
                picture = gr.Image(label="around the cell (outlined), decoded with the chosen code | with the "
                                         "runner-up",
                                   interactive=False, height=220, elem_id=f"{prefix}-swap")
                swapped = gr.Code(visible=False, language="json", elem_id=f"{prefix}-swapped")
                send = gr.Button(send_label, size="sm", elem_id=f"{prefix}-swap-send")
    return [error_map, margin_map, intro, text, chart, nearest, picture, swapped], swapped, send


def wire(catalog, checkpoint, token, components):
    """Clicks on either map of a panel open that cell."""
    for cell_map in components[:2]:
        cell_map.select(bind(catalog, select), [checkpoint, token], components, api_visibility="undocumented")
