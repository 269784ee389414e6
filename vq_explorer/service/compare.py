"""Several models on the same pictures: one picture through each (the Compare tab, /compare), or a folder of
pictures through each (`vq-explorer-evaluate --models`, `vqe.compare`), measured the same way.

Every model sees a picture as the app shows it one (`inputs.load_image`: a digit model its training size in
grey, a colour model the picture at its own size up to its cap) and is scored against that input. Usage is
counted over every picture of a folder (`metrics.code_counts`, the same count the Codebook tab keeps), never
per batch: perplexity over one batch says little about a codebook. SSIM is pytorch-msssim's (a Gaussian window
of 11 pixels, σ 1.5, the constants of Wang et al. 2004)."""

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..models import metrics
from ..storage.images import IMAGE_SUFFIXES, ImageInputError, looks_colour, open_image
from .catalog import has_prior, prior_limit
from .errors import UserError
from .inputs import input_size, load_image

# A compressed file costs one pass of the prior's cached sampler per cell; beyond this many cells (a photo's
# 64×64 grid has 4,096) the file is not made and its size is left out (the bits under the prior remain).
CODEC_MAX_CELLS = 256
MAX_MODELS = 4          # the Compare tab's columns


def ssim(x: torch.Tensor, y: torch.Tensor) -> float:
    """SSIM of two images (C, H, W) in [0, 1], pytorch-msssim's, averaged over channels. Its 11-pixel window
    needs sides of at least 11 pixels; smaller images get NaN rather than a figure of another definition."""
    from pytorch_msssim import ssim as _ssim
    if min(x.shape[-2:]) < 11:
        return float("nan")
    return float(_ssim(x[None].float(), y[None].float(), data_range=1.0, size_average=True))


@dataclass
class Result:
    """One picture through one model."""
    x: torch.Tensor            # (C, H, W) the input as the model saw it, in [0, 1]
    recon: torch.Tensor        # (C, H, W)
    grid: torch.Tensor         # (h, w) int64
    mse: float
    psnr: float
    ssim: float
    ms: float                  # encode + decode, milliseconds
    bits: float | None         # −log₂ p(grid) under the prior (None: no prior with an exact likelihood here)
    bytes: int | None          # the compressed file's size (None: no codec for this model or grid)
    notes: list = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return int(self.grid.numel())


def codec_bytes(model, grid: torch.Tensor, image_size) -> int | None:
    """The size of the grid's compressed file, or None where there is none: no prior, a masked prior, a grid
    beyond the prior's positions or over CODEC_MAX_CELLS cells, or no entropy coder installed."""
    from .codec import CodecError, encode_grid
    if not weighs(model, grid):
        return None
    try:
        return len(encode_grid(model, grid, None, tuple(image_size)))
    except CodecError:        # constriction missing
        return None


def weighs(model, grid: torch.Tensor) -> bool:
    """Whether the grid's compressed file is made: a prior that codes it, and at most CODEC_MAX_CELLS cells."""
    return can_bits(model, grid) and grid.numel() <= CODEC_MAX_CELLS


def can_bits(model, grid: torch.Tensor) -> bool:
    """Whether the model's prior gives this grid an exact code length."""
    return has_prior(model) and model.prior.exact_likelihood and prior_limit(model, grid.shape) is None


def through(model, x: torch.Tensor, notes=(), file: bool = True, bits: bool = True) -> Result:
    """An input (1, C, H, W) through the model: encode + decode timed, then the figures. `file`: also make the
    compressed file to weigh it; `bits`: score the grid under the prior (a PixelCNN over a photo's 64×64 grid
    takes longer than encoding and decoding it; `weigh` adds both later)."""
    t0 = time.perf_counter()
    grid = model.encode(x)
    recon = model.decode(grid, tuple(x.shape[-2:]))
    ms = (time.perf_counter() - t0) * 1000
    x, recon, grid = x[0], recon[0].clamp(0, 1), grid[0]
    mse = metrics.mse(recon, x)
    result = Result(x, recon, grid, mse, metrics.psnr(mse), ssim(x, recon), ms, None, None, list(notes))
    return weigh(model, result, file) if bits else result


def weigh(model, result: Result, file: bool = True) -> Result:
    """The result with its bits under the prior and (`file`) its compressed file's size, where the model has
    them."""
    if can_bits(model, result.grid):
        result.bits = metrics.bits(-float(model.log_prob(result.grid[None])[0]))
    if file:
        result.bytes = codec_bytes(model, result.grid, result.x.shape[-2:])
    return result


def square(source, side: int | None = None) -> Image.Image:
    """A picture (path, bytes, array) as a centred square, at most `side` pixels: what the Compare tab gives every
    model, so that a digit model (which crops to its square) and a colour model (which keeps proportions) see the
    same region and a click means the same place in all."""
    try:
        img = open_image(source)[0]
    except ImageInputError as e:
        raise UserError("as_said", detail=str(e)) from None
    img = img.convert("RGBA" if img.mode in ("RGBA", "LA", "PA") else "RGB" if looks_colour(img) else "L")
    w, h = img.size
    s = min(w, h)
    img = img.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
    return img.resize((side, side), Image.LANCZOS) if side and s > side else img


def picture_input(model, picture: Image.Image) -> tuple[torch.Tensor, list]:
    """A PIL picture as this model's input, the app's way (a colour photo in grey for a greyscale model)."""
    return load_image(model, np.asarray(picture))


def check_models(names) -> list:
    names = [n for n in (names or []) if n]
    if not 1 <= len(names) <= MAX_MODELS:
        raise UserError("compare_models", count=len(names), limit=MAX_MODELS)
    return names


def cost_order(models: dict, side: int | None = None) -> list:
    """The names in the order their round trips will be done soonest: the VQ-VAE's parameters times the pixels
    it will see (a colour model sees a `side`-pixel picture at its own size, a digit model 28×28), so a large
    tokenizer, or a photo at full size, does not hold back the small models' columns."""
    def cost(model):
        h, w = input_size(model, side, side) if side else model.image_size
        return sum(p.numel() for p in model.vqvae.parameters()) * h * w
    return sorted(models, key=lambda name: cost(models[name]))


# A folder through several models: the table of `vq-explorer-evaluate --models` and `vqe.compare`.
COLUMNS = ["model", "images", "psnr", "ssim", "codes_used", "perplexity", "dead_codes", "bits_per_image",
           "bytes_per_image", "ms_per_image", "psnr_per_image_mean", "mse", "tokens_per_image", "num_codes",
           "images_per_s", "bytes_pictures"]


def image_files(folder) -> list[Path]:
    """The pictures of a folder and its sub-folders (`IMAGE_SUFFIXES`), in a fixed order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError("compare_no_folder", folder=str(folder))
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class Tally:
    """One model's figures over a set of pictures, each added as it is measured."""

    def __init__(self, model):
        self.model, self.K = model, model.config["num_codes"]
        self.counts = torch.zeros(self.K, dtype=torch.long)
        self.mse, self.psnr, self.ssim, self.ms, self.tokens, self.bits, self.bytes = [], [], [], [], [], [], []

    def add(self, r: Result):
        self.counts += metrics.code_counts(r.grid, self.K)
        self.mse.append(r.mse)
        self.psnr.append(r.psnr)
        self.ssim.append(r.ssim)
        self.ms.append(r.ms)
        self.tokens.append(r.tokens)
        self.bits.append(r.bits)
        if r.bytes is not None:
            self.bytes.append(r.bytes)

    def row(self, name: str) -> dict:
        n = len(self.mse)
        mean = lambda v: float(np.mean(v)) if v and all(x is not None for x in v) else None   # all or none
        mse = mean(self.mse)
        finite = [p for p in self.psnr if math.isfinite(p)]
        ssims = [s for s in self.ssim if not math.isnan(s)]
        ms = mean(self.ms)
        return {"model": name, "images": n, "psnr": metrics.psnr(mse) if n else None,
                "ssim": float(np.mean(ssims)) if ssims else None, "codes_used": int((self.counts > 0).sum()),
                "perplexity": metrics.perplexity(self.counts) if n else None,
                "dead_codes": int((self.counts == 0).sum()), "bits_per_image": mean(self.bits),
                "bytes_per_image": mean(self.bytes), "ms_per_image": ms, "bytes_pictures": len(self.bytes),
                "psnr_per_image_mean": float(np.mean(finite)) if finite else None, "mse": mse,
                "tokens_per_image": mean(self.tokens), "num_codes": self.K,
                "images_per_s": 1000 / ms if ms else None}


def readable(files, skipped: dict) -> list:
    """The pictures that open, each read once; those that do not are named in `skipped` ({path: why})."""
    ok = []
    for path in files:
        try:
            open_image(str(path))
            ok.append(path)
        except ImageInputError as e:
            skipped[str(path)] = str(e)
    return ok


def evaluate_folder(models: dict, files, size: int | None = None, bar=None, skipped: dict | None = None,
                    weigh: int = 20) -> list[dict]:
    """Every model ({name: model}) over every picture of `files`: one row of COLUMNS per model, in the order
    given. A picture that cannot be read is left out of every model's figures and named in `skipped`
    ({path: why}). `size`: each picture first scaled so its long side is that many pixels. `bar(items, name)`:
    a progress bar (tqdm) to wrap each model's pass in. `weigh`: make the compressed files of the first `weigh`
    pictures (bytes_per_image is their mean, over `bytes_pictures` of them): the coder runs the prior once per
    cell, ~0.1 s for a 7×7 grid on a CPU core, where encoding and decoding take a few milliseconds."""
    files = readable(files, {} if skipped is None else skipped)
    rows = []
    for name, model in models.items():
        tally = Tally(model)
        for i, path in enumerate(bar(files, name) if bar else files):
            x, notes = picture_input(model, _read(path, size)) if size else load_image(model, str(path))
            tally.add(through(model, x, notes, file=i < weigh))
        rows.append(tally.row(name))
    return rows


def _read(path, size: int) -> Image.Image:
    """A picture scaled so that its long side is `size` pixels."""
    img = open_image(str(path))[0]
    scale = size / max(img.size)
    return img.resize((max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale))), Image.LANCZOS)


def compare(models, images, size: int | None = None, limit: int | None = None, weigh: int = 20,
            skipped: dict | None = None) -> list[dict]:
    """`vqe.compare`: models (checkpoint paths, tokenizer folders or Hub ids, or loaded models) over pictures (a
    folder, or a list of files) → one dict of COLUMNS per model, in the order given, as the evaluate command
    writes them. Pictures that cannot be read are left out and named in `skipped` ({path: why})."""
    from ..storage.checkpoint import load
    from ..storage.tokenizers import open_tokenizer
    opened = {}
    for i, m in enumerate(models if isinstance(models, (list, tuple)) else [models]):
        if isinstance(m, (str, Path)):
            opened[str(m)] = load(m) if str(m).endswith(".safetensors") else open_tokenizer(str(m), size)
        else:
            opened[str(m.config.get("name") or f"model {i + 1}")] = m
    files = image_files(images) if isinstance(images, (str, Path)) and Path(images).is_dir() else \
        [Path(images)] if isinstance(images, (str, Path)) else [Path(p) for p in images]
    return evaluate_folder(opened, files[:limit], size, skipped=skipped, weigh=weigh)


# One picture through the models the Compare tab shows.
def default_models(catalog, name: str | None, n: int = 3) -> list[str]:
    """The open model and those it is most often compared with: other checkpoints of its dataset, those of
    another grid size first (for `mnist`: `mnist_4x4` and `mnist_14x14`, the grid's trade-off in one picture),
    then other priors over the same grid. Read from the files' metadata, without loading the models."""
    from ..storage.checkpoint import CheckpointError, read_metadata
    if not name:
        return []
    configs = {}
    for other in catalog.files():
        try:
            configs[other] = read_metadata(catalog.folder / other)["config"]
        except CheckpointError:
            continue
    own = configs.get(name)
    if own is None:
        return [name]
    rivals = [o for o, c in configs.items() if o != name and c.get("dataset") == own.get("dataset")
              and c.get("channels") == own.get("channels")]
    same_grid = lambda o: list(configs[o].get("grid") or []) == list(own.get("grid") or [])
    rivals.sort(key=lambda o: (same_grid(o), math.prod(configs[o].get("grid") or [0]), o))
    return [name, *rivals[: n - 1]]


def picture_of_file(source) -> np.ndarray:
    """An upload as the tab's picture: uint8 (S, S) or (S, S, 3), a centred square of at most MAX_SIDE."""
    from .inputs import MAX_SIDE
    img = square(source, MAX_SIDE)
    if img.mode == "RGBA":       # transparency on white, as a colour model sees it
        img = Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255, 255)), img).convert("RGB")
    return np.asarray(img)


def picture_of_drawing(rgba) -> np.ndarray:
    """A sketchpad drawing as the tab's picture: white strokes on black, framed as MNIST framed its digits (the
    same picture for every model; a digit model sees it at 28 pixels, a colour model at the drawing's size)."""
    from ..storage.images import frame_like_dataset
    a = np.asarray(rgba) if rgba is not None else None
    if a is None or a.ndim != 3:
        raise UserError("nothing_drawn")
    alpha = a[..., 3].astype(np.float32) / 255 if a.shape[-1] == 4 else 1 - a[..., :3].mean(-1) / 255
    if alpha.max() < 0.05:
        raise UserError("drawing_empty")
    side = min(alpha.shape)
    return (frame_like_dataset(alpha, side, "mnist") * 255).round().astype(np.uint8)


def picture_of_example(model, index: int) -> np.ndarray:
    """A model's shipped example as the tab's picture."""
    if model.examples is None or not 0 <= int(index) < len(model.examples):
        raise UserError("no_such_example")
    a = model.examples[int(index)].numpy()
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0).copy()


def through_picture(model, picture: np.ndarray, file: bool = False, bits: bool = True) -> tuple[Result, bool]:
    """The tab's picture through one model: (the result, whether a greyscale model saw a colour picture)."""
    if picture is None:
        raise UserError("compare_no_picture")
    picture = np.asarray(picture, dtype=np.uint8)
    x, notes = load_image(model, picture)
    grey = model.config["channels"] == 1 and picture.ndim == 3 and looks_colour(Image.fromarray(picture))
    return through(model, x, notes, file, bits), grey


def figures(result: Result, model, grey: bool = False) -> dict:
    """A result's figures as JSON (what /compare returns for each model)."""
    h, w = result.grid.shape
    return {"psnr": result.psnr, "ssim": None if math.isnan(result.ssim) else result.ssim, "mse": result.mse,
            "tokens": result.tokens, "grid": [h, w], "num_codes": model.config["num_codes"],
            "bits": result.bits, "bytes": result.bytes, "ms": result.ms, "grey": grey,
            "size": list(result.x.shape[-2:])}
