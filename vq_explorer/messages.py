"""Every sentence the app and the command line say about a mistake or a conversion, by the code the service
layer raises or notes.

The service layer names what happened (`UserError("grid_wrong_shape", shape="6×7", rows=7, cols=7)`); this
module words it, for the UI and the commands alike (it imports no Gradio). One place to edit a sentence, and
tests that check codes survive the edit."""

from .service import Note, UserError

NEEDING_A_PRIOR = {"sampling": "sampling", "inpainting": "resampling a region", "compressing": "compressing"}
WITHOUT_A_PRIOR = {"lab": "it was trained in the codebook lab): choose a shipped checkpoint for it",
                   "tokenizer": "it is a tokenizer opened from elsewhere): train a prior over its codes "
                                "(vq-explorer-train --vqvae-from SOURCE), or choose a shipped checkpoint"}

ERRORS = {
    # the catalog
    "unknown_checkpoint": "unknown checkpoint {name!r}: choose one of {choices}",
    "lab_model_gone": "that lab model is gone (lab models last as long as the browser session that trained them, "
                      "a few at a time): train it again in the Lab tab",
    "needs_prior": "{what} needs a prior, and this model has none ({why}",
    "unknown_class": "unknown class {label!r}: choose one of {choices}",
    "class_out_of_range": "class index {index} is out of range 0..{last}",
    # pictures
    "no_upload": "upload an image first",
    "no_such_example": "no such example",
    "nothing_drawn": "draw something first",
    "drawing_empty": "the drawing is empty: draw something first",
    # grids
    "grid_json_too_long": "grid JSON is {chars:,} characters; the limit is {limit:,}",
    "grid_not_json": "not valid JSON ({detail})",
    "grid_not_lists": "expected a {rows}×{cols} list of lists of integer codes in 0..{last} "
                      "(or {{\"grid\": ...}})",
    "grid_too_large": "grid has shape {shape}; this model takes grids up to {rows}×{cols}",
    "grid_wrong_shape": "grid has shape {shape}; this model needs {rows}×{cols}",
    "grid_not_integer": "grid holds {value!r}: every cell must be an integer code in 0..{last}",
    "grid_code_out_of_range": "code {code} is out of range: codes are 0..{last}",
    "code_out_of_range": "code {code} is out of range 0..{last}",
    # sampling
    "grid_beyond_prior": "this {shape} grid is larger than the {rows}×{cols} grids this prior knows: sample it "
                         "with a checkpoint whose prior is convolutional (a Gated PixelCNN), or a smaller grid",
    "no_region": "select a region first: brush over the cells to resample",
    "guidance_range": "guidance must be between 0 and {limit}",
    "steps_range": "steps must be 1..{cells} (the grid's cells)",
    "samples_range": "number of samples must be 1..{limit}",
    "temperature_range": "temperature must be between {low} and {high}",
    "top_k_range": "top-k must be between 1 and {codes} (or 0 for off)",
    "speed": "speed must be one of {choices}",
    "sample_first": "sample first",
    # the painter
    "painter_empty": "the painter is empty: paint or load a grid first",
    "no_region_selected": "select the cells to sample in the painter (Select region), then start again; the other "
                          "cells stay locked",
    "paint_request": "expected {{checkpoint, grid}}",
    "stroke_other_grid": "that stroke was painted on another checkpoint's grid; it was not kept",
    "selection_shape": "the selection must be a {rows}×{cols} grid of true/false",
    "choose_code": "choose a code between 0 and {last} first",
    "unknown_action": "unknown action {action}",
    # the codebook and the quantization panel
    "no_tile_clicked": "click a code's tile in the atlas",
    "atlas_page_out_of_range": "page {page} of the atlas does not exist: it has pages 1..{pages}",
    "no_code_number": "enter a code number",
    "no_cell_clicked": "click a cell of the map",
    "reconstruct_first": "reconstruct an image first",
    "reconstruction_forgotten": "reconstruct an image first (the last one is no longer held: reconstruct it "
                                "again)",
    # compressed files
    "codec_needs_constriction": "compressed files need the constriction package: pip install constriction",
    "codec_masked_prior": "a masked prior (MaskGIT) has no cell-by-cell likelihood to code with; choose a model "
                          "with an autoregressive prior (PixelCNN, Transformer, RNN)",
    "codec_grid_not_2d": "a grid is two-dimensional, not of shape {shape}",
    "codec_grid_codes": "the grid holds codes outside 0..{last}",
    "codec_grid_shape": "a {rows}×{cols} grid is more than this model codes (grids up to {max_rows}×{max_cols})",
    "codec_image_size": "an image of {height}×{width} pixels does not give a {rows}×{cols} grid at {factor}× "
                        "downsampling",
    "codec_class_unconditional": "this prior has no classes: compress without one (not class {label})",
    "codec_class": "class {label} is out of range 0..{last}",
    "file_truncated": "the file ends inside its header: it is truncated",
    "file_number_too_large": "the header holds a number too large to be a size: the file is damaged",
    "file_not_ours": "this is not a vq-explorer compressed file (its first byte is not the format's)",
    "file_version": "this file is in version {version} of the format; this vq-explorer reads version {reads}",
    "file_version_newer": "this file is in version {version} of the format; this vq-explorer reads version "
                          "{reads}: update vq-explorer to read it",
    "file_flags": "the header's flags are not the format's: the file is damaged",
    "file_unknown_model": "this file was made with a model this app does not have (weights {weights}); the models "
                          "here are {models}",
    "file_made_with": "this file was made with {maker}: choose it in the selector, then upload the file again",
    "file_model_missing": "this file was made with a model this app does not have",
    "file_other_model": "this file was made with another model (weights {weights}, this one {this})",
    "file_grid_shape": "the header names a {rows}×{cols} grid; this model codes grids up to "
                       "{max_rows}×{max_cols}: the file is damaged",
    "file_image_size": "the header names a {height}×{width} image, which a {rows}×{cols} grid at {factor}× does "
                       "not give: the file is damaged",
    "file_class_unconditional": "the header names class {label}, but this model's prior has no classes: the file "
                                "is damaged",
    "file_class": "the header names class {label}; this model's classes are 0..{last}: the file is damaged",
    "file_payload_cut": "the file's coded part is cut short (its length is not whole 32-bit words): it is "
                        "truncated",
    "file_undecodable": "the coded part cannot be decoded ({kind}): the file is damaged",
    "file_checksum": "the decoded grid does not match the file's checksum: the file is damaged, or this machine "
                     "computes the prior's probabilities differently from the one that wrote it",
    # comparing models
    "compare_models": "choose from 1 to {limit} models to compare (there are {count})",
    "compare_no_folder": "{folder} is not a folder of pictures",
    "compare_no_picture": "choose a picture first: upload one, draw one or pick a shipped example",
    "compare_no_click": "click a reconstruction first",
    # the codebook lab
    "lab_dataset": "dataset must be one of {choices}, not {value!r}",
    "lab_variant": "variant must be one of {choices}, not {value!r}",
    "lab_codes": "K (number of codes) must be one of {choices}",
    "lab_code_dim": "the code dimension must be between {low} and {high}",
    "lab_seconds": "the time limit must be between 1 and {limit} seconds",
    "lab_seed": "the seed must be a whole number from 0 to 2³¹ − 1",
    "lab_diverged": "{variant}: training diverged (the loss is no longer a number) at step {step}; try another "
                    "seed or variant",
    "lab_model_missing": "train a model first (or it has been dropped: train it again)",
    "lab_busy": "the lab is busy (one run at a time, two waiting): try again in a minute",
    # what a lower layer (reading an image or a checkpoint, a model's own check) said in its own words
    "as_said": "{detail}",
}

NOTES = {
    "own_size": "encoded at its own size, {width}×{height}",
    "tokenizer_example": "picture {number} of those the tokenizer was opened with",
    "shipped_example": "shipped example {number}, {dataset} test split",
    "shipped_example_of": "shipped example {number} (a {name}), {dataset} test split",
    "drawing_framed_mass": "drawing framed like the training images: scaled to {px} px of {side}, centred by the "
                           "mass of its ink",
    "drawing_framed": "drawing framed like the training images: scaled to {px} px of {side}, centred",
    "decoded_file": "decoded from a {size:,}-byte compressed file; what you see as the original is that decoding",
    "decoded_file_of": "decoded from a {size:,}-byte compressed file, coded as a {name}; what you see as the "
                       "original is that decoding",
}


def _clip(value, n: int = 80):
    """A visitor's value quoted back, never more than a line of it."""
    return str(value)[:n] if isinstance(value, str) else value


def error_text(e: UserError) -> str:
    """The sentence for a service error (its code and figures)."""
    params = {k: _clip(v) for k, v in e.params.items()}
    if e.code == "needs_prior":
        params["what"] = NEEDING_A_PRIOR.get(params.get("what"), params.get("what"))
        params["why"] = WITHOUT_A_PRIOR[params.get("made", "lab")]
    template = ERRORS.get(e.code)
    return template.format(**params) if template else str(e)


def note_text(note) -> str:
    """The sentence for a note on how an input was read (the storage layer's notes are sentences already)."""
    if isinstance(note, Note):
        return NOTES[note.code].format(**note.params)
    return str(note)
