"""Tab 3: how the codebook is used, where its vectors lie, what each code looks like and stands for."""

import gradio as gr

from .. import service as ex
from ..service.memo import per_model
from ..views import charts, pictures
from .common import bind, guarded, mark, model_mark, png

INTRO = """**Usage** counts how often each code is the nearest one, over the whole test split (or the shipped
examples). **Perplexity** is exp(entropy) of that distribution: the number of equally used codes that would
give the same spread — K if every code is used evenly, 1 if one code does everything. **Dead codes** are never
used. The **atlas** shows each code decoded on its own; pick one to see the test-image patches where it occurs
most."""


def _over(counted: dict) -> str:
    if counted["of"] == "test split":
        return f"the test split ({counted['images'] or '?'} images)"
    return f"the {counted['images']} shipped examples"


@guarded
def stats(catalog, checkpoint: str = "", log_scale: bool = True):
    """The /codebook_stats endpoint: summary JSON, usage histogram, PCA map, headline markdown."""
    name = checkpoint or catalog.default()
    model = catalog.get(name)
    s = ex.codebook_summary(model)
    u = ex.usage(model)
    head = (f"**perplexity {s['perplexity']:.1f}** of K = {s['num_codes']} · **{s['used_codes']} used**, "
            f"**{s['dead_codes']} dead** · counted over {_over(s['counted_over'])} ({s['cells']:,} cells)"
            + mark(model_mark(name)))
    return s, charts.usage_figure(u, bool(log_scale)), charts.pca_figure(ex.code_map(model), u), head


ATLAS_PX, ATLAS_COLS = 24, 32   # each code's tile in the atlas, and tiles to a row


@per_model
def _atlas(model):
    return pictures.atlas_picture(ex.tiles_of(model, ex.atlas_codes(model)), ATLAS_PX, ATLAS_COLS)


def atlas(catalog, checkpoint: str):
    """The codes decoded, in one picture: the i-th of `atlas_codes` at row i // 32, column i % 32 (every code
    by index, or a large codebook's most used)."""
    try:
        model = catalog.get(checkpoint)
    except ex.UserError:
        return None
    return png(_atlas(model))


def atlas_code(catalog, checkpoint: str, x: int, y: int) -> int:
    """The code whose tile holds pixel (x, y) of the atlas picture."""
    pitch = ATLAS_PX + 1
    i = int(y) // pitch * ATLAS_COLS + int(x) // pitch
    codes = ex.atlas_codes(catalog.get(checkpoint))
    if not 0 <= int(x) < ATLAS_COLS * pitch or not 0 <= i < len(codes):
        raise ex.UserError("no_tile_clicked")
    return int(codes[i])


@guarded
def show_code(catalog, checkpoint: str, code):
    model = catalog.get(checkpoint)
    if code is None:
        raise ex.UserError("no_code_number")
    code = int(code)
    patches = ex.code_patches(model, code)
    u = ex.usage(model)
    tile = png(pictures.to_rgb(ex.tiles_of(model, [code])[0], 128))
    f = model.config["downsample"]
    near, dist = ex.nearest_codes(model, code, 5)
    nearest = ", ".join(f"{int(k)} ({float(d):.3g})" for k, d in zip(near, dist, strict=True))
    text = (f"**code {code}**: used {int(u[code]):,} times ({float(u[code]) / max(1, int(u.sum())):.2%} of cells)."
            f" Nearest in the codebook: {nearest}."
            + (f" Patches are the code's {f}×{f} cell with a {f // 2}-pixel margin." if len(patches) else
               " No patches: this code never occurs in the test split."))
    return tile, [png(pictures.to_rgb(p.float() / 255, 96)) for p in patches], text


@guarded
def select_tile(catalog, checkpoint: str, evt: gr.SelectData):
    code = atlas_code(catalog, checkpoint, *evt.index)   # evt.index: [x, y] in the picture's own pixels
    return (code, *show_code(catalog, checkpoint, code))


def build(checkpoint: gr.Dropdown, catalog: ex.Catalog):
    with gr.Tab("Codebook", id="codebook"):
        gr.Markdown(INTRO)
        head = gr.Markdown(elem_id="codebook-head")
        with gr.Row():
            log_scale = gr.Checkbox(True, label="log scale")
            refresh = gr.Button("Refresh", size="sm")
        with gr.Row():
            hist = gr.Plot(label="usage", elem_id="codebook-usage")
            pca = gr.Plot(label="code vectors", elem_id="codebook-pca")
        with gr.Row():
            with gr.Column(scale=3):
                tiles = gr.Image(label=f"atlas: every code decoded (of a large codebook, its {ex.ATLAS_MAX} most "
                                       f"used), {ATLAS_COLS} to a row; click one",
                                 interactive=False, height=360, elem_id="codebook-atlas")
            with gr.Column(scale=2):
                code = gr.Number(value=0, precision=0, label="code", minimum=0, elem_id="codebook-code")
                tile = gr.Image(label="decoded look", height=140, interactive=False)
                text = gr.Markdown()
                patches = gr.Gallery(label="where it occurs most", columns=6, height=180, allow_preview=False,
                                     elem_id="codebook-patches")
        summary = gr.JSON(label="summary", open=False)
        outs = [summary, hist, pca, head]
        refresh.click(bind(catalog, stats), [checkpoint, log_scale], outs, api_name="codebook_stats")
        log_scale.change(bind(catalog, stats), [checkpoint, log_scale], outs, api_visibility="undocumented")
        code.submit(bind(catalog, show_code), [checkpoint, code], [tile, patches, text],
                    api_visibility="undocumented")
        tiles.select(bind(catalog, select_tile), [checkpoint], [code, tile, patches, text],
                     api_visibility="undocumented")
    return {"outputs": outs, "log_scale": log_scale, "atlas": tiles, "code_outputs": [tile, patches, text],
            "code": code}


def first_code(catalog, checkpoint: str):
    """The code shown when a checkpoint is opened: the most used one that is not a flat background."""
    k = ex.telling_code(catalog.get(checkpoint))
    return (k, *show_code(catalog, checkpoint, k))
