"""A visitor's picture (a file, bytes, an array, a drawing) as the input a model takes, and at what size."""

import numpy as np
import torch
from PIL import Image

from ..storage.images import FRAMING, ImageInputError, frame_like_dataset, looks_colour, open_image, to_model_input
from .errors import Note, UserError

MAX_SIDE = 256            # a photo keeps its size up to this many pixels on its long side (a 64×64 grid at 4×)


def load_image(model, source) -> tuple[torch.Tensor, list[str]]:
    """A path / bytes / array → model input (1, C, H, W), with notes on conversions."""
    return load_upload(model, source)[0]


def load_upload(model, source) -> tuple[tuple[torch.Tensor, list[str]], bool]:
    """((input, notes), whether the picture had colour): Reconstruct offers the colour model on a colour photo."""
    try:
        img, notes = open_image(source)
        size = input_size(model, *img.size)
        if keeps_resolution(model) and size == (img.size[1], img.size[0]):
            notes.append(Note("own_size", width=img.size[0], height=img.size[1]))
        crop = not keeps_resolution(model)
        return to_model_input(img, model.config["channels"], size, notes, crop), looks_colour(img)
    except ImageInputError as e:
        raise UserError("as_said", detail=str(e)) from None


def is_colour_file(source) -> bool:
    """Whether an uploaded picture has colour in it (False for what cannot be read: that is said elsewhere)."""
    try:
        return looks_colour(open_image(source)[0])
    except ImageInputError:
        return False


def keeps_resolution(model) -> bool:
    """A colour model encodes a photo at its own size: the VQ-VAE is fully convolutional, so a 256×256 photo
    becomes a 64×64 grid. A digit model is shown what it learned from, an image of its training size."""
    return model.config["channels"] == 3


def largest_side(model) -> int:
    """Pixels on a photo's long side: MAX_SIDE, or less where a model says so (a large tokenizer, for speed)."""
    return int(model.config.get("max_side") or MAX_SIDE)


def max_grid(model) -> tuple[int, int]:
    """The largest grid the app accepts for this model: a photo's at MAX_SIDE, or the training grid."""
    if not keeps_resolution(model):
        return model.grid
    side = -(-largest_side(model) // model.config["downsample"])
    return side, side


def input_size(model, width: int, height: int) -> tuple[int, int]:
    """(H, W) an upload of width × height is encoded at: its own size, shrunk to at most MAX_SIDE on the long
    side (proportions kept), for a model that keeps resolution; the training size otherwise."""
    if not keeps_resolution(model):
        return model.image_size
    scale = min(1.0, largest_side(model) / max(width, height))
    return max(1, round(height * scale)), max(1, round(width * scale))


def drawing_to_input(model, rgba: np.ndarray) -> tuple[torch.Tensor, list[str]]:
    """A sketchpad drawing (H, W, 4) → model input. Strokes are the opaque pixels; for greyscale models they
    become white on black, framed as the model's training images were (digits small and centred by mass,
    clothes filling the square)."""
    if rgba is None or np.asarray(rgba).ndim != 3:
        raise UserError("nothing_drawn")
    a = np.asarray(rgba)
    alpha = a[..., 3].astype(np.float32) / 255 if a.shape[-1] == 4 else 1 - a[..., :3].mean(-1) / 255
    if alpha.max() < 0.05:
        raise UserError("drawing_empty")
    c, size = model.config["channels"], tuple(model.config["image_size"])
    if c == 1:
        dataset = model.config.get("dataset", "mnist")
        framed = frame_like_dataset(alpha, size[0], dataset) if size[0] == size[1] else alpha
        img = Image.fromarray((framed * 255).round().astype(np.uint8))
        box, centring = FRAMING.get(dataset, FRAMING["mnist"])
        framed = "drawing_framed_mass" if centring == "mass" else "drawing_framed"
        return to_model_input(img, 1, size, [Note(framed, px=round(size[0] * box / 28), side=size[0])])
    rgb = a[..., :3].astype(np.float32) * alpha[..., None] + 255 * (1 - alpha[..., None])
    return to_model_input(Image.fromarray(rgb.astype(np.uint8)), 3, size)
