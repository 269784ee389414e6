"""How a code is shown in a gallery: its decoded look, or, for a tokenizer without a decoder, its colour on the
painter's canvas (a flat grey tile for every code would read as a look)."""

import numpy as np

from .. import service
from ..views import pictures


def code_looks(model, codes, px: int, draw=pictures.tile_images) -> list[np.ndarray]:
    """`draw(tiles, px)`: how the caller shows decoded looks."""
    codes = [int(k) for k in codes]
    if service.has_decoder(model):
        return draw(service.tiles_of(model, codes), px)
    return [np.full((px, px, 3), pictures.code_colour(k), dtype=np.uint8) for k in codes]
