"""The Gradio UI: one module per tab, no model math. `build_demo()` wires them to a checkpoint selector."""

import os
import threading

import gradio as gr
from gradio import route_utils

from .. import service
from . import codebook, compare, lab, paint, quantize, reconstruct, sample, tradeoff
from .common import bind, guarded, model_state, status
from .words import ANY, describe

HEADER = """# vq-explorer
A **VQ-VAE** compresses each image into a small grid of integers — indices into a learned codebook — and decodes
any such grid back into an image. A **prior** learns which grids are likely and writes new ones: a Gated PixelCNN,
a Transformer or an RNN cell by cell, a masked Transformer (MaskGIT) in a few parallel steps. Reconstruct your own
images, paint grids by hand, look inside the codebook, watch sampling, and train a codebook live in the lab."""
MAX_FILE_SIZE = "10mb"
# Gradio keeps a copy of the UI's config (~200 KB) for every session it has seen, up to this many, dropping the
# least recently used; its default of 10,000 would let a public Space grow by ~2 GB.
MAX_SESSIONS = int(os.environ.get("VQE_MAX_SESSIONS", 500))
LAUNCH = {"max_file_size": MAX_FILE_SIZE, "state_session_capacity": MAX_SESSIONS}   # demo.launch(**LAUNCH)
# Every picture a handler returns becomes a file in Gradio's cache (and a path in a set in memory); without a
# sweep both grow with every request. Files older than VQE_CACHE_MAX_AGE seconds (default 30 minutes) go.
CACHE_MAX_AGE = int(os.environ.get("VQE_CACHE_MAX_AGE", 1800))
DELETE_CACHE = (max(10, CACHE_MAX_AGE // 3), CACHE_MAX_AGE)   # (how often to sweep, age) in seconds
_gradio_sweep = route_utils.delete_files_created_by_app


def _sweep(blocks, age):
    """Gradio's sweep (6.31) iterates the live sets of cached paths that request threads add to: when one grows
    during a sweep, "Set changed size during iteration" ends its background task for good, and the cache then
    grows for the server's lifetime (seen under load: 742 files kept where a sweep leaves ~200). Retried."""
    for _ in range(10):
        try:
            return _gradio_sweep(blocks, age)
        except RuntimeError:
            continue


route_utils.delete_files_created_by_app = _sweep   # looked up by Gradio's sweep task at each call


# The views each tab shows for the open checkpoint; the rest of `open_checkpoint`'s views (the description and the
# class lists) are cheap and always filled. Switching checkpoints fills the visible tab's views at once and each
# other tab's when it is opened, so a switch costs one tab's first screen, not every tab's.
TAB_VIEWS = {"reconstruct": ("examples", "reconstruction", "colour_button"),
             "paint": ("painter", "paint_source"),
             "codebook": ("codebook", "atlas", "code"), "sample": ("samples", "sample_controls")}
FIRST_TAB = "reconstruct"


PROGRESS = gr.Progress(track_tqdm=True)   # as a handler's default: Gradio gives each call its own tracker
# What a visitor reads while a slow model (a large tokenizer on a 2-core CPU) fills a view.
VIEW_WORDS = {"examples": "the shipped pictures", "reconstruction": "encoding and decoding the first picture",
              "colour_button": "the colour offer", "painter": "the painter's grid",
              "paint_source": "the image the painter's grid came from",
              "codebook": "counting how often each code is used", "atlas": "decoding every code for the atlas",
              "code": "the first code's look and patches", "samples": "the first samples",
              "sample_controls": "the sampling controls"}


def open_checkpoint(catalog: service.Catalog, name: str, upload=None, tabs=None, step=None) -> dict:
    """Everything that changes when another checkpoint is chosen, by the name of the view that shows it (a
    view of several components gets a tuple, in the order its tab module lists them). `upload`: the image the
    visitor uploaded, if any, which Reconstruct shows again through the newly opened model. `tabs`: the tabs
    whose views to fill (default: all); the others' views are left out. `step(i, n, view)`, if given, is told
    before each of the n views is computed (the page's progress bar)."""
    model = catalog.get(name)
    classes = gr.update(choices=[ANY, *service.class_names(model)], value=ANY)
    opening = gr.update(choices=[ANY, *service.class_names(model)], value=sample.opening_class(model))
    about = status(describe(model), model_state(name), *([] if service.has_prior(model) else ["no-prior"]))
    make = {"about": lambda: about, "paint_class": lambda: classes, "sample_class": lambda: opening,
            "examples": lambda: reconstruct.example_gallery(catalog, name),
            "reconstruction": lambda: reconstruct.first_screen(catalog, name, upload),
            "colour_button": lambda: reconstruct.colour_button(catalog, upload, name),
            "painter": lambda: paint.reset(catalog, name),
            "paint_source": lambda: paint.example_token(catalog, name),
            "codebook": lambda: codebook.opened(catalog, name),
            "atlas": lambda: codebook.atlas_view(catalog, name),
            "code": lambda: codebook.first_code(catalog, name),
            "samples": lambda: sample.first_screen(catalog, name),
            "sample_controls": lambda: sample.masked_controls(catalog, name)}
    per_tab = {v for views in TAB_VIEWS.values() for v in views}
    wanted = {v for t in (TAB_VIEWS if tabs is None else tabs) for v in TAB_VIEWS.get(t, ())}
    keys = [key for key in make if key not in per_tab or key in wanted]
    values = {}
    for i, key in enumerate(keys):
        if step is not None:
            step(i, len(keys), key)
        values[key] = make[key]()
    return values


def views_on_open(catalog: service.Catalog, views: dict) -> tuple[list, object]:
    """The components `open_checkpoint` fills and a handler returning their values in that order: each view's
    value goes to its own components, wherever the view sits in the layout. `handler(name, upload, tab)`
    fills the views of one tab (and those of every tab) and leaves the other tabs' components as they are."""
    outputs = [c for comps in views.values() for c in comps]

    def handler(name: str, upload=None, tab: str | None = None, step=None):
        values = open_checkpoint(catalog, name, upload, None if tab is None else [tab], step)
        if values.keys() - views.keys() or (tab is None and views.keys() - values.keys()):
            raise KeyError(f"open_checkpoint fills {sorted(values)}, the layout has {sorted(views)}")
        return [v for key, comps in views.items()
                for v in ((values[key] if len(comps) > 1 else (values[key],)) if key in values
                          else [gr.skip()] * len(comps))]
    return outputs, handler


def warm_up(catalog: service.Catalog, names) -> None:
    """Every tab's first screen for each of `names`, computed before a visitor asks: a large tokenizer's first
    encode and decode, its usage over its pictures and its atlas take seconds to minutes on a CPU, and a visitor
    who opens it afterwards finds them kept (per model; the codebook's views on disk too). A name that fails is
    left for the visitor, who then reads why."""
    for name in names:
        try:
            open_checkpoint(catalog, name)
        except Exception:  # noqa: BLE001  (the visitor's own request says what went wrong)
            continue


def build_demo(checkpoints_dir=None, models=(), warm: bool = False) -> gr.Blocks:
    """The app on the checkpoints in `checkpoints_dir` (default: the repository's checkpoints/, or
    $VQE_CHECKPOINTS) and on `models`: tokenizers opened with `vqe.open` or `vqe.wrap` (VQModels), listed
    by their names beside the checkpoints. `warm`: their first screens are computed in the background at once
    (`warm_up`), while the server waits for its first visitor."""
    catalog = service.Catalog(checkpoints_dir or service.DEFAULT_CHECKPOINTS)
    opened = [catalog.add(model, str(model.config.get("dataset") or "tokenizer")) for model in models]
    names = catalog.names()
    with gr.Blocks(title="vq-explorer", delete_cache=DELETE_CACHE) as demo:
        gr.Markdown(HEADER)
        with gr.Row():
            ckpt = gr.Dropdown(names, value=catalog.default(), elem_id="checkpoint", scale=1,
                               label="checkpoint (checkpoints/*.safetensors)"
                               + (", or an opened tokenizer" if models else ""),
                               interactive=True)
            about = gr.Markdown(elem_id="checkpoint-about")
        if not names:
            gr.Markdown(f"**No checkpoints found** in `{catalog.folder.resolve()}`: start the app with "
                        "`vq-explorer --checkpoints DIR` (or `VQE_CHECKPOINTS=DIR`) on a folder of checkpoints, "
                        "or train one with `vq-explorer-train` (`python train.py`). The Codebook lab works "
                        "without.")
        # The codes of the images this visitor reconstructed, per model: the Codebook tab counts usage over them.
        visitor_codes = gr.State({})
        with gr.Tabs() as tabs:
            rec = reconstruct.build(ckpt, catalog)
            pnt = paint.build(ckpt, catalog)
            cbk = codebook.build(ckpt, catalog, visitor_codes)
            smp = sample.build(ckpt, catalog, pnt)
            tradeoff.build()
            compare.build(ckpt, catalog)
            lab_tab = lab.build(ckpt, catalog)

        outputs, on_open = views_on_open(catalog, {
            "about": [about], "examples": [rec["gallery"]], "painter": pnt["outputs"],
            "paint_source": [pnt["token"]], "paint_class": [pnt["label"]], "sample_class": [smp["label"]],
            "codebook": cbk["outputs"],
            "atlas": cbk["atlas"], "code": [cbk["code"], *cbk["code_outputs"]],
            "reconstruction": rec["outputs"],
            "samples": smp["outputs"], "sample_controls": smp["controls"], "colour_button": [rec["to_colour"]]})
        # Which tab the visitor sees, and which checkpoint each tab's views show (per session).
        current, tab_checkpoints = gr.State(FIRST_TAB), gr.State({})

        def progress_steps(progress, name):
            """Views as steps of the progress bar; a slow model's picture-by-picture work (tqdm) shows too."""
            return lambda i, n, view: progress((i, n), desc=f"Opening {name}: {VIEW_WORDS.get(view, view)}",
                                               unit="views")

        def open_visible(name, upload, tab, progress=PROGRESS):
            return [*on_open(name, upload, tab, progress_steps(progress, name)), {tab: name}]

        def opened_tab(tab):
            def handler(name, upload, seen, progress=PROGRESS):
                if not name or seen.get(tab) == name:
                    return [*[gr.skip()] * len(outputs), tab, seen]
                return [*on_open(name, upload, tab, progress_steps(progress, name)), tab, {**seen, tab: name}]
            return handler

        # Reconstruct's quantization panel follows its reconstruction in a second step, so the picture comes
        # first; only when Reconstruct is the tab in view and its input changed. The painter's panel likewise
        # follows its opening grid (the first shipped example's), so it is never an empty frame.
        recon_explained, paint_explained = gr.State(), gr.State()

        def explainer(where: str, panel_outputs):
            def explain(name, token, tab, done):
                if tab != where or not token or token == done:
                    return [*[gr.skip()] * len(panel_outputs), done]
                return [*quantize.panel(catalog, name, token), token]
            return explain
        explain_both = [dict(fn=guarded(explainer("reconstruct", rec["quantization"])),
                             inputs=[ckpt, rec["token"], current, recon_explained],
                             outputs=[*rec["quantization"], recon_explained], api_visibility="private"),
                        dict(fn=guarded(explainer("paint", pnt["quantization"])),
                             inputs=[ckpt, pnt["token"], current, paint_explained],
                             outputs=[*pnt["quantization"], paint_explained], api_visibility="private")]

        # The painter's palette (the most used codes: a tokenizer counts them over its pictures, seconds for a
        # large one) fills in after the painter shows, when Paint is the tab in view and the palette is another's.
        palette_of = gr.State()

        def palette_follows(name, tab, filled):
            if tab != "paint" or not name or filled == name:
                return gr.skip(), filled
            return paint.palette(catalog, name), name
        explain_both.append(dict(fn=guarded(palette_follows), inputs=[ckpt, current, palette_of],
                                 outputs=[pnt["palette"], palette_of], api_visibility="private"))

        def then_explain(event):
            for step in explain_both:
                event.then(**step)

        if names:
            then_explain(demo.load(guarded(open_visible), [ckpt, rec["upload"], current],
                                   [*outputs, tab_checkpoints], api_visibility="private"))
        demo.load(guarded(lab.first_screen), None, lab_tab["first_screen"], api_visibility="private")
        then_explain(ckpt.change(guarded(open_visible), [ckpt, rec["upload"], current],   # a lab model's too
                                 [*outputs, tab_checkpoints], api_visibility="private"))
        for tab in tabs.children:
            then_explain(tab.select(guarded(opened_tab(tab.id)), [ckpt, rec["upload"], tab_checkpoints],
                                    [*outputs, current, tab_checkpoints], api_visibility="private"))
        for event in rec["visitors_own"]:
            event.success(guarded(bind(catalog, codebook.count_visitor_codes)),
                          [ckpt, rec["grid_json"], visitor_codes], visitor_codes, api_visibility="private")
        # A colour photo seen in grey by a digit model: one click opens the colour model on it.
        rec["to_colour"].click(lambda: gr.update(value=(catalog.colour_models() or [None])[0]), None, ckpt,
                               api_visibility="private")

        def to_paint(name, seen, filled):   # the painter was just filled for `name`; its palette may be another's
            palette = gr.skip() if filled == name else paint.palette(catalog, name)
            return gr.Tabs(selected="paint"), "paint", {**seen, "paint": name}, palette, name
        goto_paint = dict(fn=guarded(to_paint), inputs=[ckpt, tab_checkpoints, palette_of],
                          outputs=[tabs, current, tab_checkpoints, pnt["palette"], palette_of],
                          api_visibility="private")
        reopened = lab_tab["opened"].success(guarded(opened_tab("reconstruct")),
                                             [ckpt, rec["upload"], tab_checkpoints],
                                             [*outputs, current, tab_checkpoints], api_visibility="private")
        then_explain(reopened.success(lambda: gr.Tabs(selected="reconstruct"), outputs=tabs,
                                      api_visibility="private"))
        for button, grid in ((rec["send"], rec["grid_json"]), (rec["swap"], rec["swapped"])):
            # the grid, then the quantization of the image it came from, in the painter's panel too
            button.click(bind(catalog, paint.import_grid), [grid, ckpt, pnt["hist"], pnt["region"],
                                                            pnt["tiles_look"]], pnt["outputs"],
                         api_visibility="private").success(**goto_paint).success(
                lambda token: token, rec["token"], pnt["token"], api_visibility="private").then(
                bind(catalog, quantize.panel), [ckpt, pnt["token"]], pnt["quantization"], api_visibility="private")
        smp["to_painter"].click(
            sample.first_grid_json, smp["grids"], pnt["json"], api_visibility="private").success(
            bind(catalog, paint.import_grid), [pnt["json"], ckpt, pnt["hist"], pnt["region"], pnt["tiles_look"]],
            pnt["outputs"], api_visibility="private").success(**goto_paint)
    demo.queue(default_concurrency_limit=2, max_size=32)
    if warm and opened:
        threading.Thread(target=warm_up, args=(catalog, opened), name="vqe-warm-up", daemon=True).start()
    return demo
