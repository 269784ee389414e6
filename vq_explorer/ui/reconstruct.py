"""Tab 1: an image in, its reconstruction, error, code grid and the prior's surprise out."""

import gradio as gr

from .. import explorer as ex
from .. import render
from .common import bind, guarded, png

INTRO = """The **encoder** turns the image into a small grid; each cell is replaced by the nearest of the
codebook's K vectors — its **code**, an integer. The **decoder** sees only those integers. The **surprise** map
is the prior's view: −log₂ p(code | every cell before it in reading order), in bits; the total is how many bits
an ideal compressor would need for this image's grid. A masked prior (MaskGIT) has no such likelihood: its map is
each cell's surprise given all the other cells."""


def show(rec: ex.Reconstruction, name: str):
    """Reconstruction → the tab's outputs (original, reconstruction, error, grid plot, surprise plot, summary,
    grid JSON)."""
    notes = f"\n\n_Input: {'; '.join(rec.notes)}._" if rec.notes else ""
    h, w = rec.grid.shape
    if not rec.surprise_given:     # a lab model: no prior, no surprise
        bits, title = "no prior, so no surprise map (a VQ-VAE trained in the codebook lab)", "no prior"
    elif rec.exact:
        bits = (f"**{rec.total_bits:.0f} bits** for the {h}×{w} grid ({rec.total_bits / (h * w):.2f} bits per "
                "code)")
        title = f"surprise: {rec.total_bits:.0f} bits in all"
    else:
        bits = (f"surprise of each cell given all the others: {rec.total_bits / (h * w):.2f} bits on average "
                "(a masked prior has no exact likelihood, so this is no code length)")
        title = "surprise of each cell given all the others (bits)"
    summary = f"**MSE** {rec.mse:.4f} · **PSNR** {rec.psnr:.1f} dB · {bits}{notes}"
    return (png(render.to_rgb(rec.original)), png(render.to_rgb(rec.recon)), png(render.error_map(rec.error)),
            render.grid_figure(rec.grid, title="code grid (index on each cell)"),
            render.grid_figure(rec.grid, rec.surprise, title=title, colorscale="Inferno"),
            summary, ex.grid_json(rec.grid, name))


@guarded
def reconstruct(catalog, image_file, checkpoint: str = ""):
    """The /reconstruct endpoint: an image file in; images, plots, figures and the grid as JSON out."""
    if not image_file:
        raise ex.UserError("upload an image first")
    name = checkpoint or catalog.default()
    model = catalog.get(name)
    return show(ex.reconstruct_file(model, image_file), name)


@guarded
def reconstruct_drawing(catalog, drawing, checkpoint: str):
    model = catalog.get(checkpoint)
    layers = (drawing or {}).get("layers") or []
    rgba = layers[0] if layers else (drawing or {}).get("composite")
    x, notes = ex.drawing_to_input(model, rgba)
    return show(ex.reconstruct(model, x, notes), checkpoint)


@guarded
def reconstruct_example(catalog, checkpoint: str, evt: gr.SelectData):
    model = catalog.get(checkpoint)
    return show(ex.reconstruct_example(model, evt.index), checkpoint)


def first_screen(catalog, checkpoint: str):
    """What the tab opens with: the first shipped example already reconstructed, not empty panels (nothing for a
    checkpoint without examples)."""
    model = catalog.get(checkpoint)
    if model.examples is None:
        return (None,) * 6 + ("",)
    return show(ex.reconstruct_example(model, 0), checkpoint)


def example_gallery(catalog, checkpoint: str):
    try:
        model = catalog.get(checkpoint)
    except ex.UserError:
        return []
    if model.examples is None:
        return []
    names = ex.class_names(model) or model.config.get("class_names") or []
    return [(png(render.to_rgb(img.float() / 255, 112)), names[int(y)] if names else None)
            for img, y in zip(model.examples, model.example_labels, strict=True)]


def build(checkpoint: gr.Dropdown, catalog: ex.Catalog):
    with gr.Tab("Reconstruct", id="reconstruct"):
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column(scale=2, min_width=300):
                upload = gr.File(label="Upload an image (PNG, JPEG, GIF, WebP, BMP)", file_types=["image"],
                                 type="filepath", elem_id="recon-upload", height=120)
                sketch = gr.Sketchpad(label="…or draw one (white on black, like MNIST)", type="numpy",
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
                send = gr.Button("Send this grid to the painter ✎", elem_id="recon-send")
        outputs = [original, recon, error, grid_plot, surprise, summary, grid_json]
        upload.upload(bind(catalog, reconstruct), [upload, checkpoint], outputs, api_name="reconstruct")
        draw_btn.click(bind(catalog, reconstruct_drawing), [sketch, checkpoint], outputs,
                       api_visibility="undocumented")
        gallery.select(bind(catalog, reconstruct_example), [checkpoint], outputs, api_visibility="undocumented")
    return {"gallery": gallery, "grid_json": grid_json, "send": send, "outputs": outputs}
