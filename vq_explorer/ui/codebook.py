"""Tab 3: how the codebook is used, where its vectors lie, what each code looks like and stands for."""

import gradio as gr

from .. import service
from ..service import per_model
from ..views import charts, pictures
from .common import api_endpoint, bind, guarded, model_state, png, status
from .words import no_decoder

INTRO = """**Usage** counts how often each code is the nearest one, over the whole test split (or the shipped
examples), or over the images you uploaded or drew and reconstructed. **Perplexity** is exp(entropy) of that
distribution: the number of equally used codes that would give the same spread — K if every code is used evenly,
1 if one code does everything. **Dead codes** are never used. The **atlas** shows each code decoded on its own
(a codebook of more than 1,024 codes in pages, ranked by usage); pick one to see the test-image patches where it
occurs most."""


# Where the Codebook tab counts usage: the model's own images, or those the visitor reconstructed.
OVER_MODEL, OVER_VISITOR = "model", "mine"   # (the values the /codebook_stats endpoint takes)
OVER_CHOICES = [("its test split (or its pictures)", OVER_MODEL), ("the images you reconstructed", OVER_VISITOR)]


def _over(counted: dict) -> str:
    if counted["of"] == "test split":
        return f"the test split ({counted['images'] or '?'} images)"
    if counted["of"] == "your images":
        n = counted["images"]
        return f"the {n} image{'s' if n != 1 else ''} you uploaded or drew and reconstructed through it"
    return f"the {counted['images']} shipped examples"


@guarded
def stats(catalog, checkpoint: str = "", log_scale: bool = True, over: str = OVER_MODEL,
          visitor_codes: dict | None = None):
    """The /codebook_stats endpoint: summary JSON, usage histogram, PCA map, headline markdown. `over`: the
    model's own usage, or (OVER_VISITOR) the tally `visitor_codes` of the images this visitor reconstructed (its
    session state)."""
    name = checkpoint or catalog.default()
    model = catalog.get(name)
    counts, images = (service.tally_counts(visitor_codes, name, model.config["num_codes"]) if over == OVER_VISITOR
                      else (None, None))
    s = service.codebook_summary(model, counts, images)
    u = service.usage(model) if counts is None else counts
    if counts is not None and not images:
        head, states = ("**None of your images yet** for this model: upload or draw one in the Reconstruct tab, "
                        "and its codes are counted here.", ["visitor-codes-empty"])
    else:
        head = (f"**perplexity {s['perplexity']:.1f}** of K = {s['num_codes']} · **{s['used_codes']} used**, "
                f"**{s['dead_codes']} dead** · counted over {_over(s['counted_over'])} ({s['cells']:,} cells)")
        states = ["visitor-codes"] if counts is not None else []
    if not service.has_decoder(model):   # said once, above the atlas and the code's look it leaves empty
        head, states = f"{head}\n\n{NO_LOOKS}", [*states, "no-decoder"]
    return (s, charts.usage_figure(u, bool(log_scale)), charts.pca_figure(service.code_map(model, u), u),
            status(head, model_state(name), *states))


def count_visitor_codes(catalog, checkpoint: str, grid_text: str, visitor_codes: dict | None):
    """The session's tally with the grid just reconstructed (Reconstruct's JSON of it) counted in."""
    grid = service.parse_grid(grid_text, catalog.get(checkpoint))
    return service.tally(visitor_codes, checkpoint, grid)


def visitor_codes_changed(catalog, checkpoint: str, log_scale: bool, over: str, visitor_codes: dict | None):
    """The tab's figures again when the visitor's tally grew while the tab counts over it; else unchanged."""
    if over != OVER_VISITOR:
        return [gr.skip()] * 4
    return stats(catalog, checkpoint, log_scale, over, visitor_codes)


def opened(catalog, checkpoint: str):
    """A newly opened model's figures, counted over its own images (the choice goes back to them)."""
    return (*stats(catalog, checkpoint), gr.update(value=OVER_MODEL))


NO_LOOKS = no_decoder("atlas and no decoded look of a code; usage, the codes' map and each code's neighbours "
                      "are the model's own")
ATLAS_PX, ATLAS_COLS = 24, 32   # each code's tile in the atlas, and tiles to a row


@per_model
def _atlas_pages(model) -> dict:
    return {}   # page → picture, filled as pages are asked for


def _atlas(model, page: int):
    pages = _atlas_pages(model)
    if page not in pages:
        pages[page] = pictures.atlas_picture(service.tiles_of(model, service.atlas_codes(model, page)), ATLAS_PX,
                                             ATLAS_COLS)
    return pages[page]


def atlas(catalog, checkpoint: str, page: int = 1):
    """The codes of one page decoded, in one picture: the i-th of `atlas_codes` at row i // 32, column i % 32
    (every code by index, or a large codebook's codes ranked by usage, ATLAS_MAX to a page)."""
    try:
        model = catalog.get(checkpoint)
        return png(_atlas(model, int(page or 1))) if service.has_decoder(model) else None
    except service.UserError:
        return None


def _page_label(model, page: int) -> str:
    K, pages = model.config["num_codes"], service.atlas_pages(model)
    if pages == 1:
        return "atlas page"
    first, last = service.atlas_span(model, page)
    return f"atlas page {page} of {pages}: codes ranked {first:,}–{last:,} of {K:,} by usage"


def atlas_view(catalog, checkpoint: str):
    """A newly opened model's atlas at its first page, and the page chooser: shown only where the codes take
    more than one page."""
    try:
        model = catalog.get(checkpoint)
    except service.UserError:
        return None, gr.update(visible=False)
    pages = service.atlas_pages(model)
    return atlas(catalog, checkpoint, 1), gr.update(value=1, visible=pages > 1, label=_page_label(model, 1))


@guarded
def atlas_page(catalog, checkpoint: str, page):
    """Another page of the atlas, and the chooser's label naming which codes it holds."""
    model = catalog.get(checkpoint)
    page = 1 if page is None else int(page)
    service.atlas_codes(model, page)   # (refuses a page that does not exist)
    return atlas(catalog, checkpoint, page), gr.update(label=_page_label(model, page))


def atlas_code(catalog, checkpoint: str, x: int, y: int, page: int = 1) -> int:
    """The code whose tile holds pixel (x, y) of the atlas picture of page `page`."""
    pitch = ATLAS_PX + 1
    i = int(y) // pitch * ATLAS_COLS + int(x) // pitch
    codes = service.atlas_codes(catalog.get(checkpoint), 1 if page is None else int(page))
    if not 0 <= int(x) < ATLAS_COLS * pitch or not 0 <= i < len(codes):
        raise service.UserError("no_tile_clicked")
    return int(codes[i])


@guarded
def show_code(catalog, checkpoint: str, code):
    model = catalog.get(checkpoint)
    if code is None:
        raise service.UserError("no_code_number")
    code = int(code)
    patches = service.code_patches(model, code)
    u = service.usage(model)
    tile = png(pictures.to_rgb(service.tiles_of(model, [code])[0], 128)) if service.has_decoder(model) else None
    f = model.config["downsample"]
    near, dist = service.nearest_codes(model, code, 5)
    nearest = ", ".join(f"{int(k)} ({float(d):.3g})" for k, d in zip(near, dist, strict=True))
    text = (f"**code {code}**: used {int(u[code]):,} times ({float(u[code]) / max(1, int(u.sum())):.2%} of cells)."
            f" Nearest in the codebook: {nearest}."
            + (f" Patches are the code's {f}×{f} cell with a {f // 2}-pixel margin." if len(patches) else
               " No patches: this code never occurs in the test split."))
    return tile, [png(pictures.to_rgb(p.float() / 255, 96)) for p in patches], text


@guarded
def select_tile(catalog, checkpoint: str, page, evt: gr.SelectData):
    code = atlas_code(catalog, checkpoint, *evt.index, page)   # evt.index: [x, y] in the picture's own pixels
    return (code, *show_code(catalog, checkpoint, code))


def build(checkpoint: gr.Dropdown, catalog: service.Catalog, visitor_codes: gr.State):
    """The tab; `visitor_codes` is the session's tally of the codes of the visitor's reconstructed images
    (Reconstruct adds to it)."""
    with gr.Tab("Codebook", id="codebook"):
        gr.Markdown(INTRO)
        head = gr.Markdown(elem_id="codebook-head")
        with gr.Row():
            over = gr.Radio(OVER_CHOICES, value=OVER_MODEL, label="count usage over", elem_id="codebook-over",
                            scale=3)
            log_scale = gr.Checkbox(True, label="log scale", scale=1)
            refresh = gr.Button("Refresh", size="sm", scale=1)
        with gr.Row():
            hist = gr.Plot(label="usage", elem_id="codebook-usage")
            pca = gr.Plot(label="code vectors", elem_id="codebook-pca")
        with gr.Row():
            with gr.Column(scale=3):
                # (a Number, not a Slider: a slider's maximum is checked against its first one, not its update)
                page = gr.Number(1, precision=0, minimum=1, label="atlas page", visible=False,
                                 elem_id="codebook-page")
                tiles = gr.Image(label=f"atlas: every code decoded ({service.ATLAS_MAX} to a page, a large "
                                       f"codebook's ranked by usage), {ATLAS_COLS} to a row; click one",
                                 interactive=False, height=360, elem_id="codebook-atlas")
            with gr.Column(scale=2):
                code = gr.Number(value=0, precision=0, label="code", minimum=0, elem_id="codebook-code")
                tile = gr.Image(label="decoded look", height=140, interactive=False)
                text = gr.Markdown()
                patches = gr.Gallery(label="where it occurs most", columns=6, height=180, allow_preview=False,
                                     elem_id="codebook-patches")
        summary = gr.JSON(label="summary", open=False)
        outs = [summary, hist, pca, head]
        inputs = [checkpoint, log_scale, over, visitor_codes]
        refresh.click(bind(catalog, stats), inputs, outs, api_name=False)
        api_endpoint(bind(catalog, stats), inputs, outs, "codebook_stats")
        log_scale.change(bind(catalog, stats), inputs, outs, api_visibility="undocumented")
        over.input(bind(catalog, stats), inputs, outs, api_visibility="undocumented")
        visitor_codes.change(guarded(bind(catalog, visitor_codes_changed)), inputs, outs, api_visibility="private")
        page.change(bind(catalog, atlas_page), [checkpoint, page], [tiles, page], api_visibility="undocumented")
        code.submit(bind(catalog, show_code), [checkpoint, code], [tile, patches, text],
                    api_visibility="undocumented")
        tiles.select(bind(catalog, select_tile), [checkpoint, page], [code, tile, patches, text],
                     api_visibility="undocumented")
    return {"outputs": [*outs, over], "log_scale": log_scale, "atlas": [tiles, page],
            "code_outputs": [tile, patches, text], "code": code}


def first_code(catalog, checkpoint: str):
    """The code shown when a checkpoint is opened: the most used one that is not a flat background."""
    k = service.telling_code(catalog.get(checkpoint))
    return (k, *show_code(catalog, checkpoint, k))
