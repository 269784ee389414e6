"""Tab 1: an image in, its reconstruction, error, code grid and the prior's surprise out."""

import gradio as gr

from .. import service
from ..messages import note_text
from ..service import Note
from ..views import charts, pictures
from ..views.results import DATASETS
from . import compressed, quantize
from .common import api_endpoint, bind, guarded, model_state, png, status
from .words import no_decoder

INTRO = """The **encoder** turns the image into a small grid; each cell is replaced by the nearest of the
codebook's K vectors — its **code**, an integer. The **decoder** sees only those integers. The **surprise** map
is the prior's view: −log₂ p(code | every cell before it in reading order), in bits; the total is how many bits
an ideal compressor would need for this image's grid. A masked prior (MaskGIT) has no such likelihood: its map is
each cell's surprise given all the other cells."""


def colour_model_for(catalog, colour_input: bool, name: str) -> str | None:
    """The colour checkpoint to offer when a greyscale model has just seen a colour photo in grey."""
    if not colour_input or catalog.get(name).config["channels"] != 1:
        return None
    return (catalog.colour_models() or [None])[0]


@guarded
def colour_button(catalog, upload, name: str):
    """The "open the colour model" button: shown, naming it, after a colour upload to a greyscale model."""
    other = colour_model_for(catalog, bool(upload) and service.is_colour_file(upload), name) if name else None
    if other is None:
        return gr.update(visible=False)
    return gr.update(visible=True, value=f"Open {other.removesuffix('.safetensors')}, the colour model, on this "
                                         "photo")


def show(rec: service.Reconstruction, name: str, catalog=None):
    """Reconstruction → the tab's outputs (original, reconstruction, error, grid plot, surprise plot, summary,
    grid JSON, and the token by which the quantization panel finds the input again)."""
    other = colour_model_for(catalog, rec.colour_input, name) if catalog is not None else None
    dataset = catalog.get(name).config.get("dataset", "") if other is not None else ""
    trained_on = DATASETS.get(dataset, dataset)
    offer_text = "" if other is None else (
        f"\n\n**This photo is in colour**, and `{name}` was trained on greyscale {trained_on} images, so it saw "
        "it in grey. "
        f"`{other}` was trained on colour photos: the button below opens it on this upload.")
    notes = f"\n\n_Input: {'; '.join(map(note_text, rec.notes))}._" if rec.notes else ""
    h, w = rec.grid.shape
    if rec.prior_limit:       # a photo's grid larger than the prior's learned positions reach
        r, c = rec.prior_limit
        bits = (f"no surprise map: this {h}×{w} grid is larger than the {r}×{c} grids the prior knows (a "
                "smaller image, or a checkpoint with a convolutional prior, has one)")
        title, why = "no surprise map", f"the prior knows grids up to {r}×{c}, not {h}×{w}"
    elif not rec.has_prior:     # a lab model: no prior, no surprise
        bits, title = "no prior, so no surprise map (a lab model or a tokenizer opened alone)", "no prior"
        why = "a surprise map needs a prior"
    elif rec.exact:
        bits = (f"**{rec.total_bits:.0f} bits** for the {h}×{w} grid ({rec.total_bits / (h * w):.2f} bits per "
                "code)")
        title = f"surprise: {rec.total_bits:.0f} bits in all"
    else:
        bits = (f"surprise of each cell given all the others: {rec.total_bits / (h * w):.2f} bits on average "
                "(a masked prior has no exact likelihood, so this is no code length)")
        title = "surprise of each cell given all the others (bits)"
    h_img, w_img = rec.original.shape[-2:]
    states = [model_state(name), *(n.code.removesuffix("_of") for n in rec.notes if isinstance(n, Note)),
              *(["no-prior"] if not rec.has_prior and not rec.prior_limit else []),
              *(["beyond-prior"] if rec.prior_limit else []), *(["colour-offer"] if other is not None else []),
              *(["no-decoder"] if not rec.has_decoder else [])]
    quality = (f"**MSE** {rec.mse:.4f} · **PSNR** {rec.psnr:.1f} dB" if rec.has_decoder else
               f"**{no_decoder('reconstruction, error map, MSE or PSNR')}**")
    summary = status(f"{quality} · {bits} · image {w_img} px wide, {h_img} high{notes}{offer_text}", "recon",
                     *states)
    decoded = rec.has_decoder
    return (png(pictures.to_rgb(rec.original)), png(pictures.to_rgb(rec.recon)) if decoded else None,
            png(pictures.error_map(rec.error)) if decoded else None,
            charts.grid_figure(rec.grid, title="code grid (index on each cell)" if h * w <= 400 else
                               f"code grid, {h}×{w} (index on hover)"),
            charts.grid_figure(rec.grid, rec.surprise, title=title, colorscale="Inferno")
            if rec.has_prior else charts.note_figure(title, why),
            summary, service.grid_json(rec.grid, name), service.remember_input(name, rec.original[None]))


@guarded
def reconstruct(catalog, image_file, checkpoint: str = ""):
    """The /reconstruct endpoint: an image file in; images, plots, figures and the grid as JSON out."""
    if not image_file:
        raise service.UserError("no_upload")
    name = checkpoint or catalog.default()
    model = catalog.get(name)
    if compressed.is_compressed(image_file):
        return show(compressed.decode_upload(catalog, name, image_file), name, catalog)
    return show(service.reconstruct_file(model, image_file), name, catalog)


@guarded
def reconstruct_drawing(catalog, drawing, checkpoint: str):
    model = catalog.get(checkpoint)
    layers = (drawing or {}).get("layers") or []
    rgba = layers[0] if layers else (drawing or {}).get("composite")
    x, notes = service.drawing_to_input(model, rgba)
    return show(service.reconstruct(model, x, notes), checkpoint)


@guarded
def reconstruct_example(catalog, checkpoint: str, evt: gr.SelectData):
    model = catalog.get(checkpoint)
    return show(service.reconstruct_example(model, evt.index), checkpoint)


def first_screen(catalog, checkpoint: str, upload=None):
    """What the tab shows when a checkpoint opens: the visitor's upload, if one is there (so "open the colour
    model" shows the same photo again), else the first shipped example already reconstructed, not empty panels
    (nothing for a checkpoint without examples)."""
    model = catalog.get(checkpoint)
    shown = None
    if upload:
        try:
            shown = show(service.reconstruct_file(model, upload), checkpoint, catalog)
        except service.UserError:
            pass   # (it was refused when it was uploaded, and said why then)
    if shown is None and model.examples is None:
        return (None,) * 5 + (status(""), "", None)
    return shown or show(service.reconstruct_example(model, 0), checkpoint)   # (its quantization panel comes next)


def example_gallery(catalog, checkpoint: str):
    try:
        model = catalog.get(checkpoint)
    except service.UserError:
        return []
    if model.examples is None:
        return []
    names = service.class_names(model) or model.config.get("class_names") or []
    labels = model.example_labels if model.example_labels is not None else [None] * len(model.examples)
    return [(png(pictures.to_rgb(img.float() / 255, 112)), names[int(y)] if names and y is not None else None)
            for img, y in zip(model.examples, labels, strict=True)]


def build(checkpoint: gr.Dropdown, catalog: service.Catalog):
    with gr.Tab("Reconstruct", id="reconstruct"):
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                upload = gr.File(label="Upload an image (PNG, JPEG, GIF, WebP, BMP) or a compressed .vqe file",
                                 file_types=["image", ".vqe"],
                                 type="filepath", elem_id="recon-upload", height=120)
                sketch = gr.Sketchpad(label="…or draw one (white on black, framed like the training images)",
                                      type="numpy",
                                      canvas_size=(280, 280), elem_id="recon-sketch", layers=False,
                                      brush=gr.Brush(colors=["#ffffff"], default_size=22, color_mode="fixed"),
                                      height=330)
                draw_btn = gr.Button("Reconstruct the drawing", elem_id="recon-draw-btn")
                gallery = gr.Gallery(label="…or pick a shipped test image", columns=8, height=220,
                                     allow_preview=False, elem_id="recon-examples")
            with gr.Column(scale=3, min_width=400):
                with gr.Row():
                    original = gr.Image(label="original", elem_id="recon-original", height=220)
                    recon = gr.Image(label="reconstruction", elem_id="recon-output", height=220)
                    error = gr.Image(label="|error| (black 0, yellow ≥ 0.5)", elem_id="recon-error", height=220)
                summary = gr.Markdown(elem_id="recon-summary")
                with gr.Row():
                    grid_plot = gr.Plot(label="code grid", elem_id="recon-grid")
                    surprise = gr.Plot(label="surprise", elem_id="recon-surprise")
                grid_json = gr.Code(label="code grid (JSON)", language="json", elem_id="recon-json",
                                    max_lines=6)
                with gr.Row():
                    send = gr.Button("Send this grid to the painter ✎", elem_id="recon-send")
                    to_colour = gr.Button("Open the colour model", visible=False, variant="primary",
                                          elem_id="recon-open-colour")
        with gr.Row():
            make = gr.Button("Compress it: this image as a file of the prior's bits", size="sm",
                             elem_id="recon-compress")
            cost = gr.Markdown(elem_id="recon-file-size")
            download = gr.File(label="the compressed file (.vqe)", interactive=False, elem_id="recon-file",
                               height=80)
        token = gr.State()   # which input the quantization panel below explains
        quant, swapped, swap_btn = quantize.build_panel("recon",
                                                        "Send the grid with the runner-up to the painter ✎")
        outputs = [original, recon, error, grid_plot, surprise, summary, grid_json, token]
        explain = dict(fn=bind(catalog, quantize.panel), inputs=[checkpoint, token], outputs=quant,
                       api_visibility="private")
        hide = dict(fn=lambda: gr.update(visible=False), outputs=to_colour, api_visibility="private")
        uploaded = upload.upload(bind(catalog, reconstruct), [upload, checkpoint], outputs,
                                 api_name=False)
        api_endpoint(bind(catalog, reconstruct), [upload, checkpoint], outputs, "reconstruct")
        uploaded.then(bind(catalog, colour_button), [upload, checkpoint], to_colour,
                      api_visibility="private").then(**explain)
        drawn = draw_btn.click(bind(catalog, reconstruct_drawing), [sketch, checkpoint], outputs,
                               api_visibility="undocumented")
        drawn.then(**hide).then(**explain)
        gallery.select(bind(catalog, reconstruct_example), [checkpoint], outputs,
                       api_visibility="undocumented").then(**hide).then(**explain)
        quantize.wire(catalog, checkpoint, token, quant)
        make.click(bind(catalog, compressed.make_file), [checkpoint, token], [cost, download],
                   api_visibility="undocumented")
        api_button = gr.Button(visible=False)   # /quantization: for gradio_client, no button on the page
        api_json = gr.JSON(visible=False)
        api_button.click(bind(catalog, quantize.api), [upload, checkpoint], api_json, api_name="quantization")
    return {"gallery": gallery, "grid_json": grid_json, "send": send, "outputs": outputs, "upload": upload,
            "to_colour": to_colour, "quantization": quant, "swapped": swapped, "swap": swap_btn, "token": token,
            "visitors_own": (uploaded, drawn)}   # the events that reconstruct an image of the visitor's
