"""Reading images a user supplies, defensively: any file, any mode, any size, one clear message when it fails."""

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_BYTES = 10 * 1024 * 1024    # the app refuses larger uploads before they reach this code, too
MAX_PIXELS = 40_000_000         # decompression bombs: a few KB of PNG can claim 30000×30000 pixels
# What a folder's pictures are recognised by, wherever a folder is read (training, Compare, a tokenizer's
# pictures, the codec command): the formats Pillow reads that people keep photos and drawings in.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".avif", ".gif", ".bmp", ".tif", ".tiff")


class ImageInputError(ValueError):
    """A user's image that cannot be used; the message is meant for the user."""


def open_image(source) -> tuple[Image.Image, list[str]]:
    """A path, bytes or numpy array → a fully decoded PIL image and notes on what was done to it."""
    notes = []
    if isinstance(source, np.ndarray):
        return Image.fromarray(_to_uint8(source)), notes
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise ImageInputError("no image was received")
        size = path.stat().st_size
        if size == 0:
            raise ImageInputError(f"{path.name} is empty (0 bytes)")
        if size > MAX_BYTES:
            raise ImageInputError(f"{path.name} is {size / 1e6:.1f} MB; the limit is {MAX_BYTES / 1e6:.0f} MB")
        data, name = path.read_bytes(), path.name
    else:
        data, name = bytes(source), "the upload"
    img = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageInputError(f"{name} is {w}×{h} pixels; the limit is {MAX_PIXELS / 1e6:.0f} megapixels")
            if getattr(img, "n_frames", 1) > 1:
                notes.append(f"{name} has {img.n_frames} frames; the first one is used")
            img.load()
            orientation = img.getexif().get(0x0112, 1)     # EXIF Orientation: how a camera held the picture
            if orientation != 1:
                img = ImageOps.exif_transpose(img)
                notes.append("turned upright as its EXIF orientation says")
    except ImageInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError(f"{name} claims too many pixels to decode safely") from None
    except UnidentifiedImageError:
        raise ImageInputError(f"{name} is not an image this app can read: it looks like {looks_like(data)}. "
                              f"{ACCEPTED}") from None
    except (OSError, SyntaxError, ValueError):   # PIL knew the format, then the data ran out or made no sense
        kind = f"a {img.format} image" if img is not None and img.format else "an image"
        raise ImageInputError(f"{name} is {kind} that is truncated or damaged, so it cannot be decoded. "
                              f"{ACCEPTED}") from None
    return img, notes


ACCEPTED = "Upload a PNG, JPEG, WebP, GIF, BMP or TIFF picture."
SIGNATURES = [(b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
              (b"\x1f\x8b", "a gzip archive"), (b"RIFF", "a RIFF file (audio or video)"),
              (b"\x7fELF", "a program"), (b"MZ", "a Windows program")]


def looks_like(data: bytes) -> str:
    """What a file that is no image seems to be, from its first bytes, in words for the person who sent it:
    naming it (an SVG drawing, a PDF, a HEIC photo) tells them what to convert, where PIL's own error would
    only show its internals."""
    head = data[:2048]
    for magic, what in SIGNATURES:
        if head.startswith(magic):
            return what
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"hevc", b"mif1", b"msf1"):
            return "a HEIC/HEIF photo (an iPhone's format; export it as JPEG)"
        return "a video or an image in an ISO media container"
    text = head.decode("utf-8", "replace").lower()   # the 2 KB may end inside a character
    if b"\0" in head or text.count("\ufffd") > len(text) // 20:
        return "data of a kind it cannot identify"
    if "<svg" in text:
        return "an SVG drawing (vector graphics; export it as PNG)"
    if "<html" in text or "<!doctype html" in text:
        return "a web page (HTML)"
    return "text"


def _to_uint8(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype == np.uint8:
        return a
    if np.issubdtype(a.dtype, np.floating):
        a = np.nan_to_num(a)
        return (np.clip(a, 0, 1) * 255).round().astype(np.uint8) if a.max() <= 1 else np.clip(a, 0, 255).astype(
            np.uint8)
    if a.dtype == np.uint16 or a.max() > 255:
        return (a.astype(np.float64) / max(1, a.max()) * 255).round().astype(np.uint8)
    return a.astype(np.uint8)


def looks_colour(img: Image.Image, tolerance: float = 4.0) -> bool:
    """Whether a picture has colour in it, not only a mode that could hold some: a greyscale scan saved as RGB
    is not a colour photo. Judged on a thumbnail by the mean spread between the channels (0..255)."""
    if img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"):
        return False
    small = img.copy()
    small.thumbnail((64, 64))
    a = np.asarray(small.convert("RGB"), dtype=np.float32)
    return float((a.max(-1) - a.min(-1)).mean()) > tolerance


def to_model_input(img: Image.Image, channels: int, size: tuple[int, int], notes=None, crop: bool = True):
    """PIL image → float tensor (1, C, H, W) in [0, 1] of `size` with `channels`. `crop`: centre-crop to the
    size's proportions first (a model trained on one size); without it `size` is taken to keep the picture's
    proportions already (a photo shrunk to fit)."""
    notes = list(notes or [])
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        img = Image.fromarray(_to_uint8(np.asarray(img)))
        notes.append("16-bit or float image scaled to 8 bits")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (0, 0, 0, 255) if channels == 1 else (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
        notes.append("transparency flattened")
    mode = "L" if channels == 1 else "RGB"
    if img.mode != mode:
        if img.mode not in ("P", "RGBA", "1"):
            notes.append(f"{img.mode} converted to {'greyscale' if channels == 1 else 'RGB'}")
        img = img.convert(mode)
    if img.size != (size[1], size[0]) and not crop:
        notes.append(f"resized from {img.size[0]}×{img.size[1]} to {size[1]}×{size[0]}, its proportions kept")
        img = img.resize((size[1], size[0]), Image.LANCZOS)
    if img.size != (size[1], size[0]):
        w, h = img.size
        # Centre-crop to the model's aspect ratio, then resize: a 4000×3000 photo keeps its proportions
        # (its middle), it is not squeezed.
        cw, ch = min(w, round(h * size[1] / size[0])), min(h, round(w * size[0] / size[1]))
        if (cw, ch) != (w, h) and min(cw, ch) > 0:
            notes.append(f"centre-cropped from {w}×{h} to {cw}×{ch} (the model's aspect ratio), resized to "
                         f"{size[1]}×{size[0]}")
        else:
            notes.append(f"resized from {w}×{h} to {size[1]}×{size[0]}")
        img = ImageOps.fit(img, (size[1], size[0]), Image.LANCZOS) if min(img.size) > 1 else \
            img.resize((size[1], size[0]), Image.NEAREST)
    a = np.asarray(img, dtype=np.float32) / 255
    a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
    return torch.from_numpy(a.copy())[None], notes


# How each greyscale dataset framed its images, so that a drawing can be framed the same way: the long side of the
# bounding box (in pixels of 28) and how the box was centred. MNIST scaled each digit into a 20-pixel box and
# centred it by the mass of its ink; Fashion-MNIST scaled each item's long side to the full 28 pixels and centred
# its box on the canvas.
FRAMING = {"mnist": (20, "mass"), "fashion_mnist": (28, "box")}


def frame_like_dataset(mask: np.ndarray, size: int = 28, dataset: str = "mnist") -> np.ndarray:
    """A drawn stroke mask (H, W) in [0, 1] → the training images' framing, in a `size` square. Without this, a
    digit drawn small in a corner looks nothing like the data. Unknown datasets are framed like MNIST."""
    box, centring = FRAMING.get(dataset, FRAMING["mnist"])
    ys, xs = np.nonzero(mask > 0.05)
    if len(ys) == 0:
        return np.zeros((size, size), np.float32)
    crop = mask[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    inner = round(size * box / 28)
    h, w = crop.shape
    scale = inner / max(h, w)
    small = Image.fromarray((crop * 255).astype(np.uint8)).resize((max(1, min(size, round(w * scale))),
                                                                  max(1, min(size, round(h * scale)))),
                                                                 Image.LANCZOS)
    out = np.zeros((size, size), np.float32)
    a = np.asarray(small, np.float32) / 255
    if centring == "mass" and a.any():   # each pixel weighted by its ink, as MNIST's digits were centred
        cy, cx = (np.indices(a.shape) * a).sum((1, 2)) / a.sum()
    else:
        cy, cx = a.shape[0] / 2, a.shape[1] / 2
    top = int(np.clip(round(size / 2 - cy), 0, size - a.shape[0]))
    left = int(np.clip(round(size / 2 - cx), 0, size - a.shape[1]))
    out[top:top + a.shape[0], left:left + a.shape[1]] = a
    return out
