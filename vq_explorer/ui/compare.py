"""Compare: one picture through two to four models, side by side at one display size; a click outlines the same
region in all and shows each model's crop and codes there; the difference between two reconstructions."""

import json

import gradio as gr
import numpy as np

from .. import service
from ..service import compare
from ..views import compare as display
from ..views import pictures
from .common import guarded, model_state, png, status
from .words import no_decoder

INTRO = """The same picture through several models, each shown at the same size: its reconstruction, its error
(|reconstruction − input|, on **one scale for all**: black 0, yellow ≥ 0.5), PSNR and SSIM on this picture, its
grid (**tokens per image**) and K, the bits its prior needs and the compressed file's size where it has them, and
the time to encode and decode. A greyscale model sees the picture in grey. **Click** a reconstruction: the same
region is outlined in all, enlarged below with each model's codes there. Results come in as each model is done,
the smallest first."""

SLOTS = compare.MAX_MODELS


def _short(name: str) -> str:
    return str(name).removesuffix(".safetensors")


def figures_text(name: str, result, model, grey: bool, weighing: bool = False) -> dict:
    """`weighing`: the bits and the file are still to come."""
    h, w = result.grid.shape
    parts = ([f"**PSNR** {result.psnr:.2f} dB",
              f"**SSIM** {display.fmt(result.ssim, '.3f', 'n/a (under 11 px)')}"]
             if service.has_decoder(model) else [f"**{no_decoder('reconstruction to compare')}**"])
    parts.append(f"**{result.tokens} tokens** ({h}×{w}), K = {model.config['num_codes']}")
    if weighing and compare.can_bits(model, result.grid):
        parts.append("bits: scoring…")
    elif result.bits is not None:
        parts.append(f"**{result.bits:.0f} bits** under its prior")
    elif not service.has_prior(model):
        parts.append("no prior: no bits")
    elif not model.prior.exact_likelihood:
        parts.append("masked prior: no exact bits")
    else:
        parts.append("grid beyond its prior's: no bits")
    if result.bytes is not None:
        parts.append(f"**{result.bytes} bytes** as a file")
    elif weighing and compare.weighs(model, result.grid):
        parts.append("file: weighing…")
    parts.append(f"{result.ms:.0f} ms encode + decode")
    size = f"{result.x.shape[-1]}×{result.x.shape[-2]} px"
    seen = f"seen at {size}" + (", **in grey** (a greyscale model)" if grey else "")
    return status(" · ".join(parts) + f"  \n_{seen}_", "cmp-result", model_state(name),
                  *(["grey"] if grey else []))


def _empty_slots():
    return [v for _ in range(SLOTS) for v in (gr.update(visible=False), "", None, None, status(""))]


def compute(catalog, names, picture):
    """The tab's columns, streamed: each model's result as soon as it is ready (smallest networks first), then
    the compressed files' sizes. Yields (original, status, state, diff A, diff B, *per slot: column, header,
    reconstruction, error, figures)."""
    names = compare.check_models(names)
    if picture is None:
        raise service.UserError("compare_no_picture")
    models = {n: catalog.get(n) for n in names}
    picture = np.asarray(picture, dtype=np.uint8)
    original = png(display.at_display(_as_tensor(picture)))
    slots = _empty_slots()
    for i, n in enumerate(names):
        slots[i * 5:(i + 1) * 5] = [gr.update(visible=True), f"### {_short(n)}", None, None,
                                    status("computing…", "cmp-pending", model_state(n))]
    state = {"names": names, "recon": {}, "grids": {}, "cells": {}}
    choices = gr.update(choices=names, value=names[0]), gr.update(choices=names, value=names[-1])
    yield [original, status(f"0 of {len(names)} models", "cmp-running"), state, *choices, *slots]
    results = {}
    for done, n in enumerate(compare.cost_order(models, picture.shape[0]), 1):
        result, grey = compare.through_picture(models[n], picture, bits=False)
        results[n] = (result, grey)
        i = names.index(n)
        f, (H, W) = models[n].config["downsample"], result.x.shape[-2:]
        state = {**state, "grids": {**state["grids"], n: result.grid.tolist()},
                 "cells": {**state["cells"], n: (f / H, f / W)}}   # a cell's share of the picture
        pictures_of_it = [None, None]   # a tokenizer without a decoder: its column says so, no grey picture
        if service.has_decoder(models[n]):
            recon = display.at_display(result.recon)
            state["recon"] = {**state["recon"], n: recon}
            pictures_of_it = [png(recon), png(display.error_at_display(result.x, result.recon))]
        slots[i * 5 + 2:(i + 1) * 5] = [*pictures_of_it, figures_text(n, result, models[n], grey, weighing=True)]
        yield [gr.skip(), status(f"{done} of {len(names)} models", "cmp-running", f"cmp-n-{done}"), state,
               gr.skip(), gr.skip(), *slots]
    for n, (result, grey) in results.items():   # then the bits and the files: the slower figures
        compare.weigh(models[n], result)
        i = names.index(n)
        slots[i * 5 + 4] = figures_text(n, result, models[n], grey)
        if n != list(results)[-1]:
            yield [gr.skip(), gr.skip(), state, gr.skip(), gr.skip(), *slots]
    yield [gr.skip(), status(f"{len(names)} models: click a reconstruction to compare a region", "cmp-done",
                             f"cmp-n-{len(names)}"), state, gr.skip(), gr.skip(), *slots]


def _as_tensor(picture: np.ndarray):
    import torch
    a = torch.from_numpy(np.asarray(picture, np.float32) / 255)
    return a[None] if a.dim() == 2 else a.permute(2, 0, 1)


def region(state, slot: int, evt: gr.SelectData):
    """A click on slot `slot`'s reconstruction: every reconstruction with the region outlined, the crops side by
    side, and each model's codes there."""
    names = (state or {}).get("names") or []
    if slot >= len(names) or names[slot] not in state["recon"]:
        raise service.UserError("compare_no_click")
    x, y = evt.index
    box = display.region_box((x / display.DISPLAY, y / display.DISPLAY))
    pictured = [n for n in names if n in state["recon"]]   # the models that drew one (not a codes-only one)
    outlined = [png(display.outlined(state["recon"][n], box)) if n in state["recon"] else gr.skip()
                for n in names]
    outlined += [gr.skip()] * (SLOTS - len(names))
    crops, codes = [], []
    for n in pictured:
        grid = np.asarray(state["grids"][n])
        cell = tuple(state["cells"][n])
        r0, r1, c0, c1 = display.cells_in(box, grid.shape, cell)
        crops.append(display.crop(state["recon"][n], box, grid.shape, cell=cell))
        rows = "\n".join(" ".join(f"{k:>4d}" for k in row) for row in grid[r0:r1, c0:c1])
        codes.append(f"**{_short(n)}**: cells {r0}–{r1 - 1} × {c0}–{c1 - 1} of {grid.shape[0]}×{grid.shape[1]}"
                     f"\n```\n{rows}\n```")
    x0, y0, x1, y1 = box
    where = (f"Region {x0:.0%}–{x1:.0%} across, {y0:.0%}–{y1:.0%} down, enlarged left to right: "
             + ", ".join(_short(n) for n in pictured))
    return [*outlined, png(display.crops_side_by_side(crops)),
            status(where + "\n\n" + "\n\n".join(codes), "cmp-region",
                   *(f"cmp-outlined-{i}" for i in range(len(pictured))))]


def difference(state, a: str, b: str):
    recon = (state or {}).get("recon") or {}
    if a not in recon or b not in recon:
        return None, status("")
    picture, mean = display.difference(recon[a], recon[b])
    return png(picture), status(f"mean |{_short(a)} − {_short(b)}| = {mean:.4f} (0..1), on the error maps' "
                                "scale", "cmp-diff")


def example_gallery(catalog, name: str):
    try:
        model = catalog.get(name)
    except service.UserError:
        return []
    if model.examples is None:
        return []
    return [png(pictures.to_rgb(img.float() / 255, 96)) for img in model.examples[:24]]


def api(catalog, image_file, models: str):
    """/compare: a picture file and model names (a JSON list, or names separated by commas) → each model's
    figures on it, and the reconstructions at the display size, in the order named."""
    if not image_file:
        raise service.UserError("no_upload")
    text = (models or "").strip()
    names = json.loads(text) if text.startswith("[") else [s.strip() for s in text.split(",") if s.strip()]
    names = compare.check_models([n if n in catalog.names() or n.endswith(".safetensors") else f"{n}.safetensors"
                            for n in names])
    picture = compare.picture_of_file(image_file)
    rows, reconstructions = [], []
    for n in names:
        model = catalog.get(n)
        result, grey = compare.through_picture(model, picture, file=True)
        rows.append({"model": n, **compare.figures(result, model, grey)})
        reconstructions.append((png(display.at_display(result.recon)), n))
    return rows, reconstructions


def bind_compute(catalog):
    def handler(names, picture):
        yield from compute(catalog, names, picture)
    return handler


def bind_opened(catalog):
    def handler(name, names, picture, seen):
        """The tab opened: the open model and its usual rivals on its first example, unless already shown (so
        the tab computes only when a visitor opens it, and once)."""
        if seen and seen.get("names"):
            yield [gr.skip()] * (3 + 5 + 5 * SLOTS)
            return
        names = names or compare.default_models(catalog, name)
        model = catalog.get(names[0])
        if picture is None and model.examples is not None:
            picture = compare.picture_of_example(model, 0)
        head = [gr.update(value=names), picture, example_gallery(catalog, names[0])]
        if picture is None or len(names) < 1:
            yield [*head, *[gr.skip()] * (5 + 5 * SLOTS)]
            return
        for values in compute(catalog, names, picture):
            yield [*head, *values]
            head = [gr.skip()] * 3
    return handler


def bind_example(catalog):
    def handler(names, evt: gr.SelectData):
        return compare.picture_of_example(catalog.get(compare.check_models(names)[0]), evt.index)
    return handler


def clicked(slot: int):
    def handler(state, evt: gr.SelectData):
        return region(state, slot, evt)
    return handler


def drawing(value):
    layers = (value or {}).get("layers") or []
    return compare.picture_of_drawing(layers[0] if layers else (value or {}).get("composite"))


def build(checkpoint: gr.Dropdown, catalog: service.Catalog):
    with gr.Tab("Compare", id="compare") as tab:
        gr.Markdown(INTRO)
        picture = gr.State()          # the picture every model is given: uint8 (S, S) or (S, S, 3)
        results = gr.State({})        # what a click needs: each model's display picture and grid
        with gr.Row():
            with gr.Column(scale=1, min_width=260):
                chosen = gr.Dropdown(catalog.names(), multiselect=True, max_choices=SLOTS, elem_id="cmp-models",
                                     label=f"models (2 to {SLOTS})", interactive=True)
                upload = gr.File(label="Upload a picture (PNG, JPEG, WebP…)", file_types=["image"],
                                 type="filepath", elem_id="cmp-upload", height=130)
                gallery = gr.Gallery(label="…or pick a shipped example", columns=6, height=160,
                                     allow_preview=False, elem_id="cmp-examples")
                with gr.Accordion("…or draw one", open=False):
                    sketch = gr.Sketchpad(type="numpy", canvas_size=(280, 280), elem_id="cmp-sketch",
                                          layers=False, height=320,
                                          brush=gr.Brush(colors=["#ffffff"], default_size=22, color_mode="fixed"))
                    draw_btn = gr.Button("Compare on the drawing", elem_id="cmp-draw-btn")
            with gr.Column(scale=1, min_width=260):
                original = gr.Image(label="the picture", elem_id="cmp-original", height=256, interactive=False)
                status = gr.Markdown(elem_id="cmp-status")
        slots = []
        with gr.Row(equal_height=True):
            for i in range(SLOTS):
                with gr.Column(visible=False, min_width=220, elem_id=f"cmp-col-{i}") as col:
                    head = gr.Markdown(elem_id=f"cmp-head-{i}")
                    recon = gr.Image(label="reconstruction (click a region)", elem_id=f"cmp-recon-{i}",
                                     height=256, interactive=False)
                    err = gr.Image(label="|error| (black 0, yellow ≥ 0.5)", elem_id=f"cmp-error-{i}", height=256,
                                   interactive=False)
                    text = gr.Markdown(elem_id=f"cmp-figures-{i}")
                slots.append((col, head, recon, err, text))
        with gr.Row():
            with gr.Column(scale=3):
                crops = gr.Image(label="the clicked region, each model left to right (its cells drawn faintly)",
                                 elem_id="cmp-crops", height=200, interactive=False)
            codes = gr.Markdown(elem_id="cmp-codes")
        with gr.Row():
            diff_a = gr.Dropdown([], label="difference between", elem_id="cmp-diff-a", interactive=True)
            diff_b = gr.Dropdown([], label="and", elem_id="cmp-diff-b", interactive=True)
            diff = gr.Image(label="|A − B| (the error maps' scale)", elem_id="cmp-diff", height=256,
                            interactive=False)
            diff_text = gr.Markdown(elem_id="cmp-diff-text")

        outputs = [original, status, results, diff_a, diff_b, *[c for s in slots for c in s]]
        run = dict(fn=guarded(bind_compute(catalog)), inputs=[chosen, picture], outputs=outputs,
                   api_visibility="private", trigger_mode="always_last")
        then_diff = dict(fn=guarded(difference), inputs=[results, diff_a, diff_b], outputs=[diff, diff_text],
                         api_visibility="private")
        tab.select(guarded(bind_opened(catalog)), [checkpoint, chosen, picture, results],
                   [chosen, picture, gallery, *outputs], api_visibility="private").then(**then_diff)
        # (the tab's own inputs: only a visitor on this tab changes them, so only the open tab computes)
        chosen.input(**run).then(**then_diff)
        upload.upload(guarded(compare.picture_of_file), upload, picture, api_visibility="private").success(
            **run).then(**then_diff)
        draw_btn.click(guarded(drawing), sketch, picture, api_visibility="private").success(**run).then(
            **then_diff)
        gallery.select(guarded(bind_example(catalog)), chosen, picture, api_visibility="private").success(
            **run).then(**then_diff)
        for i, (_, _, recon, _, _) in enumerate(slots):
            recon.select(guarded(clicked(i)), results, [s[2] for s in slots] + [crops, codes],
                         api_visibility="private")
        diff_a.input(**then_diff)
        diff_b.input(**then_diff)
        # /compare: for gradio_client, no button on the page
        api_file = gr.File(visible=False, type="filepath")
        api_models = gr.Textbox(visible=False)
        api_json, api_gallery = gr.JSON(visible=False), gr.Gallery(visible=False)
        gr.Button(visible=False).click(guarded(lambda f, m: api(catalog, f, m)), [api_file, api_models],
                                       [api_json, api_gallery], api_name="compare")
    return {"tab": tab, "models": chosen}
