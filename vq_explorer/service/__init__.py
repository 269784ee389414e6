"""The service layer of the app and the API: plain functions on tensors and JSON, no Gradio, one module per
concern. Every function that takes user input validates it and raises `UserError`; the UI turns it into a
message and keeps serving. Everything outside the layer imports from here (`from vq_explorer import service`):
the functions below, and five concerns used whole by their module's name (`service.codec.compress`,
`service.compare`, `service.formats`, `service.lab`, `service.quantization`)."""

from . import codec, compare, formats, lab, quantization
from .catalog import (
           DEFAULT_CHECKPOINTS,
           Catalog,
           has_decoder,
           has_prior,
           is_masked,
           made_where,
           needs_prior,
           prior_limit,
)
from .classes import class_names, label_id
from .codebook import (
           ATLAS_MAX,
           atlas_codes,
           atlas_pages,
           atlas_span,
           code_map,
           code_patches,
           codebook_summary,
           most_used_code,
           nearest_codes,
           tally,
           tally_counts,
           telling_code,
           tiles,
           tiles_of,
           usage,
)
from .errors import Note, UserError
from .grids import MAX_GRID_JSON, decode_grid, decode_partial, grid_bits, grid_json, parse_grid, random_grid
from .inputs import MAX_SIDE, drawing_to_input, input_size, is_colour_file, keeps_resolution, load_image, max_grid
from .memo import per_model
from .recent import KEEP, recall_input, remember_input
from .reconstruct import (
           Reconstruction,
           encode,
           encode_image,
           example_grid,
           reconstruct,
           reconstruct_example,
           reconstruct_file,
           surprise,
)
from .sampling import MAX_GUIDANCE, MAX_SAMPLES, check_sampling, inpaint, sample_grid, sample_steps
from .strokes import decode_picture

__all__ = ["codec", "compare", "formats", "lab", "quantization", "Note", "per_model",
           "DEFAULT_CHECKPOINTS", "Catalog", "has_decoder", "has_prior", "is_masked", "made_where", "needs_prior",
           "prior_limit", "KEEP", "recall_input", "remember_input",
           "class_names",
           "label_id",
           "ATLAS_MAX", "atlas_codes", "atlas_pages", "atlas_span", "code_map", "code_patches", "codebook_summary",
           "most_used_code", "nearest_codes", "tally", "tally_counts", "telling_code", "tiles", "tiles_of",
           "usage",
           "UserError", "MAX_GRID_JSON", "decode_grid", "decode_partial", "grid_bits", "grid_json", "parse_grid",
           "random_grid", "MAX_SIDE", "drawing_to_input", "input_size", "is_colour_file", "keeps_resolution",
           "load_image", "max_grid", "Reconstruction", "encode", "encode_image", "example_grid", "reconstruct",
           "reconstruct_example", "reconstruct_file", "surprise", "MAX_GUIDANCE", "MAX_SAMPLES", "check_sampling",
           "inpaint", "sample_grid", "sample_steps", "decode_picture"]
