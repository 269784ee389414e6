"""Service layer for the app and the API: plain functions on tensors and JSON, no Gradio.

Every function that takes user input validates it and raises `UserError` with a message meant for a person;
the UI shows that message and keeps serving.
"""

import json
import math
import os
import random
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..models import metrics as M
from ..storage.checkpoint import CheckpointError, load, read_metadata
from ..storage.images import FRAMING, ImageInputError, frame_like_dataset, looks_colour, open_image, to_model_input
from .codebook import code_tiles, pca_2d
from .memo import per_model

# $VQE_CHECKPOINTS, else checkpoints/ in the current directory (a clone's root, or a Space's).
DEFAULT_CHECKPOINTS = Path(os.environ.get("VQE_CHECKPOINTS") or "checkpoints")
MAX_SAMPLES = 16
MAX_GRID_JSON = 200_000   # characters: a 64×64 grid of 4-digit codes fits with room to spare
MAX_SIDE = 256            # a photo keeps its size up to this many pixels on its long side (a 64×64 grid at 4×)


class UserError(ValueError):
    """Bad input from a user; the message says what was wrong and what is expected."""


# --- checkpoints ------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float):
    return load(path)   # on VQE_DEVICE, else CUDA when present, else the CPU


class Catalog:
    """The checkpoints the app may open, by name: the *.safetensors files directly inside one folder. The app
    is given one (`build_demo(folder)`), so tests and benchmarks open their own folders without touching a
    global. Only a listed name is accepted: no paths, no `..`, no symlink out of the folder.

    Models trained in the codebook lab are held in memory under names of their own (`register`), at most
    `max_lab_models` (the oldest go first); the visitor's session drops them when it ends (`forget`)."""

    LAB = "lab · "      # how a lab model's name begins

    def __init__(self, folder: Path | str = DEFAULT_CHECKPOINTS, max_lab_models: int = 16):
        self.folder = Path(folder)
        self.max_lab_models = max_lab_models
        self._lab: OrderedDict[str, object] = OrderedDict()
        self._lock = threading.Lock()

    def register(self, model, label: str) -> str:
        """Keep a lab model; its name (with a random part: only the session that made it knows it)."""
        name = f"{self.LAB}{label} · {secrets.token_hex(4)}"
        with self._lock:
            self._lab[name] = model
            while len(self._lab) > self.max_lab_models:
                self._lab.popitem(last=False)
        return name

    def forget(self, names) -> None:
        with self._lock:
            for name in names or []:
                self._lab.pop(name, None)

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        root = self.folder.resolve()
        return sorted(p.name for p in self.folder.glob("*.safetensors")
                      if p.is_file() and p.resolve().parent == root)

    def best_sampler(self, name: str) -> tuple[str, float, float | None] | None:
        """Another checkpoint of the same dataset whose samples are read as their class more often, by the
        figures the checkpoints record (`sample_accuracy`): (its name, its share, this one's share or None).
        None when this one is the best measured, or nothing is. Read from metadata, without loading models."""
        shares = {}
        for other in self.names():
            try:
                meta = read_metadata(self.folder / other)
            except CheckpointError:
                continue
            shares[other] = (meta["config"].get("dataset"), meta.get("metrics", {}).get("sample_accuracy"))
        dataset, own = shares.get(name, (None, None))
        rivals = [(share, other) for other, (ds, share) in shares.items()
                  if other != name and ds == dataset and share is not None and (own is None or share > own)]
        if dataset is None or not rivals:
            return None
        share, other = max(rivals)
        return other, share, own

    def colour_models(self) -> list[str]:
        """The checkpoints trained on colour images (read from their metadata, without loading them)."""
        out = []
        for name in self.names():
            try:
                if read_metadata(self.folder / name)["config"].get("channels") == 3:
                    out.append(name)
            except CheckpointError:
                continue
        return out

    def default(self) -> str | None:
        names = self.names()
        return "mnist.safetensors" if "mnist.safetensors" in names else (names[0] if names else None)

    def path(self, name: str) -> Path:
        if not isinstance(name, str) or name not in self.names():
            raise UserError(f"unknown checkpoint {str(name)[:80]!r}: choose one of {self.names()}")
        return self.folder / name

    def get(self, name: str):
        """The model, loaded once and kept while its file is unchanged (a few models at a time)."""
        with self._lock:
            if isinstance(name, str) and name in self._lab:
                return self._lab[name]
        if isinstance(name, str) and name.startswith(self.LAB):
            raise UserError("that lab model is gone (lab models last as long as the browser session that "
                            "trained them, a few at a time): train it again in the Lab tab")
        path = self.path(name)
        try:
            return _load_cached(str(path), path.stat().st_mtime)
        except CheckpointError as e:
            raise UserError(str(e)) from None


def has_prior(model) -> bool:
    """False for a lab model: a VQ-VAE alone."""
    return model.prior is not None


def needs_prior(model, what: str):
    if not has_prior(model):
        raise UserError(f"{what} needs a prior, and this model has none (it was trained in the codebook lab): "
                        "choose a shipped checkpoint for it")


def is_masked(model) -> bool:
    """A masked prior: parallel steps, no exact likelihood, context on every side when inpainting."""
    return has_prior(model) and not model.prior.exact_likelihood


def class_names(model) -> list[str]:
    return list(model.config.get("class_names") or []) if has_prior(model) and model.prior.cfg.num_classes else []


def label_id(model, label) -> int | None:
    """A class name (or its index) → index; None or "" → unconditional."""
    names = class_names(model)
    if label in (None, "") or not names:
        return None
    if isinstance(label, str) and label in names:
        return names.index(label)
    try:
        i = int(label)
    except (TypeError, ValueError):
        raise UserError(f"unknown class {str(label)[:40]!r}: choose one of {names}") from None
    if not 0 <= i < len(names):
        raise UserError(f"class index {i} is out of range 0..{len(names) - 1}")
    return i


# --- reconstruct ------------------------------------------------------------------------------------------
@dataclass
class Reconstruction:
    original: torch.Tensor    # (C, H, W) in [0, 1]
    recon: torch.Tensor       # (C, H, W) in [0, 1]
    error: torch.Tensor       # (H, W) mean absolute error over channels
    grid: torch.Tensor        # (h, w) int64
    surprise: torch.Tensor    # (h, w) bits: −log2 p(code | surprise_given)
    mse: float
    psnr: float
    total_bits: float         # the sum of the surprises: the grid's code length when `exact`
    notes: list
    surprise_given: str = "the cells before it in reading order"
    exact: bool = True        # False for a masked prior: the sum is no likelihood
    colour_input: bool = False   # the upload had colour (a greyscale model saw it in grey)


def surprise(model, grid: torch.Tensor) -> torch.Tensor:
    """(h, w) bits: −log2 p(code | the cells the prior conditions each on), unconditionally."""
    return -model.conditional_log_probs(grid[None])[0] / math.log(2)


def reconstruct(model, x: torch.Tensor, notes=None) -> Reconstruction:
    grid = model.encode(x)
    recon = model.decode(grid, tuple(x.shape[-2:]))
    mse = M.mse(recon, x)
    if not has_prior(model):      # a lab model: no surprise map (zeros, marked as no prior)
        return Reconstruction(x[0], recon[0], (recon[0] - x[0]).abs().mean(0), grid[0],
                              torch.zeros(grid.shape[1:]), mse, M.psnr(mse), 0.0, list(notes or []), "", False)
    bits = surprise(model, grid[0])
    return Reconstruction(x[0], recon[0], (recon[0] - x[0]).abs().mean(0), grid[0], bits, mse, M.psnr(mse),
                          float(bits.sum()), list(notes or []), model.prior.surprise_given,
                          model.prior.exact_likelihood)


def load_image(model, source) -> tuple[torch.Tensor, list[str]]:
    """A path / bytes / array → model input (1, C, H, W), with notes on conversions."""
    return _load(model, source)[0]


def _load(model, source) -> tuple[tuple[torch.Tensor, list[str]], bool]:
    """((input, notes), whether the picture had colour)."""
    try:
        img, notes = open_image(source)
        size = input_size(model, *img.size)
        if keeps_resolution(model) and size == (img.size[1], img.size[0]):
            notes.append(f"encoded at its own size, {img.size[0]}×{img.size[1]}")
        crop = not keeps_resolution(model)
        return to_model_input(img, model.config["channels"], size, notes, crop), looks_colour(img)
    except ImageInputError as e:
        raise UserError(str(e)) from None


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


def max_grid(model) -> tuple[int, int]:
    """The largest grid the app accepts for this model: a photo's at MAX_SIDE, or the training grid."""
    if not keeps_resolution(model):
        return model.grid
    side = -(-MAX_SIDE // model.config["downsample"])
    return side, side


def input_size(model, width: int, height: int) -> tuple[int, int]:
    """(H, W) an upload of width × height is encoded at: its own size, shrunk to at most MAX_SIDE on the long
    side (proportions kept), for a model that keeps resolution; the training size otherwise."""
    if not keeps_resolution(model):
        return model.image_size
    scale = min(1.0, MAX_SIDE / max(width, height))
    return max(1, round(height * scale)), max(1, round(width * scale))


def encode(model, x: torch.Tensor) -> torch.Tensor:
    """One model input (1, C, H, W) → its (h, w) code grid."""
    return model.encode(x)[0]


def example_grid(model) -> torch.Tensor | None:
    """The code grid of the checkpoint's first shipped test image (None for a checkpoint without examples)."""
    if model.examples is None or not len(model.examples):
        return None
    return encode(model, model.examples[:1].float() / 255)


def encode_image(model, source) -> tuple[torch.Tensor, list[str]]:
    """An image (path / bytes / array) → its (h, w) code grid, with notes on conversions."""
    x, notes = load_image(model, source)
    return model.encode(x)[0], notes


def reconstruct_file(model, source) -> Reconstruction:
    (x, notes), colour = _load(model, source)
    rec = reconstruct(model, x, notes)
    rec.colour_input = colour
    return rec


def reconstruct_example(model, index: int) -> Reconstruction:
    if model.examples is None or not 0 <= int(index) < len(model.examples):
        raise UserError("no such example")
    names = model.config.get("class_names") or []
    label = int(model.example_labels[int(index)]) if model.example_labels is not None else None
    of_class = f" (a {names[label]})" if names and label is not None else ""
    return reconstruct(model, model.examples[int(index)][None].float() / 255,
                       [f"shipped example {int(index) + 1}{of_class}, {model.config['dataset']} test split"])


def drawing_to_input(model, rgba: np.ndarray) -> tuple[torch.Tensor, list[str]]:
    """A sketchpad drawing (H, W, 4) → model input. Strokes are the opaque pixels; for greyscale models they
    become white on black, framed as the model's training images were (digits small and centred by mass,
    clothes filling the square)."""
    if rgba is None or np.asarray(rgba).ndim != 3:
        raise UserError("draw something first")
    a = np.asarray(rgba)
    alpha = a[..., 3].astype(np.float32) / 255 if a.shape[-1] == 4 else 1 - a[..., :3].mean(-1) / 255
    if alpha.max() < 0.05:
        raise UserError("the drawing is empty: draw something first")
    c, size = model.config["channels"], tuple(model.config["image_size"])
    if c == 1:
        dataset = model.config.get("dataset", "mnist")
        framed = frame_like_dataset(alpha, size[0], dataset) if size[0] == size[1] else alpha
        img = Image.fromarray((framed * 255).round().astype(np.uint8))
        box, centring = FRAMING.get(dataset, FRAMING["mnist"])
        how = "centred by the mass of its ink" if centring == "mass" else "centred"
        return to_model_input(img, 1, size, [f"drawing framed like the training images: scaled to "
                                             f"{round(size[0] * box / 28)} px of {size[0]}, {how}"])
    rgb = a[..., :3].astype(np.float32) * alpha[..., None] + 255 * (1 - alpha[..., None])
    return to_model_input(Image.fromarray(rgb.astype(np.uint8)), 3, size)


# --- grids ------------------------------------------------------------------------------------------------
def parse_grid(value, model) -> torch.Tensor:
    """JSON text (or an already parsed list / {"grid": [...]}) → (h, w) int64 grid, validated against the model:
    its training grid, or for a model that keeps resolution any grid up to `max_grid` (a photo's)."""
    h, w = model.grid
    K = model.config["num_codes"]
    if isinstance(value, (str, bytes)):
        if len(value) > MAX_GRID_JSON:
            raise UserError(f"grid JSON is {len(value):,} characters; the limit is {MAX_GRID_JSON:,}")
        try:
            value = json.loads(value)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"not valid JSON ({e.msg if hasattr(e, 'msg') else e})") from None
    if isinstance(value, dict):
        value = value.get("grid")
    expected = f"a {h}×{w} list of lists of integer codes in 0..{K - 1}"
    if not isinstance(value, list) or not all(isinstance(r, list) for r in value):
        raise UserError(f"expected {expected} (or {{\"grid\": ...}})")
    shape = f"{len(value)}×{'/'.join(sorted({str(len(r)) for r in value})) or 0}"
    if keeps_resolution(model) and value and len({len(r) for r in value}) == 1 and value[0]:
        top = max_grid(model)
        if not (len(value) <= top[0] and len(value[0]) <= top[1]):
            raise UserError(f"grid has shape {shape}; this model takes grids up to {top[0]}×{top[1]}")
        if model.prior is not None:
            try:
                model.prior.check_shape((len(value), len(value[0])))
            except ValueError as e:
                raise UserError(str(e)) from None
    elif len(value) != h or any(len(r) != w for r in value):
        raise UserError(f"grid has shape {shape}; this model needs {h}×{w}")
    for row in value:
        for v in row:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and (
                    not math.isfinite(v) or v != int(v))):
                raise UserError(f"grid holds {str(v)[:20]!r}: every cell must be an integer code in 0..{K - 1}")
            if not 0 <= v < K:
                raise UserError(f"code {v} is out of range: codes are 0..{K - 1}")
    return torch.tensor(value, dtype=torch.long)


def grid_json(grid: torch.Tensor, checkpoint: str = "") -> str:
    return json.dumps({"checkpoint": checkpoint, "grid": torch.as_tensor(grid).tolist()})


def decode_grid(model, grid: torch.Tensor, size=None) -> torch.Tensor:
    """(h, w) codes → the decoded image (C, H, W), cropped to `size` (H, W) where the grid was padded."""
    return model.decode(grid[None], size)[0]


def grid_bits(model, grid: torch.Tensor, label=None) -> float | None:
    """The grid's code length under the prior, in bits; None for a masked prior (it has no likelihood) or none."""
    if is_masked(model) or not has_prior(model):
        return None
    y = None if label is None else torch.tensor([label])
    return float(-model.log_prob(grid[None], y)[0] / math.log(2))


def most_used_code(model) -> int:
    return int(usage(model).argmax())


def random_grid(model, seed=None, shape=None) -> torch.Tensor:
    """Codes drawn independently by their usage: what the codebook holds, without the prior's structure."""
    shape = tuple(shape or model.grid)
    u = usage(model).double() + 1e-3
    g = torch.Generator().manual_seed(random.randrange(2**31) if seed is None else int(seed))
    return torch.multinomial(u, math.prod(shape), replacement=True, generator=g).view(shape)


def sample_grid(model, label=None, temperature=1.0, seed=None) -> torch.Tensor:
    """One (h, w) grid from the prior, of class `label` (None: unconditional)."""
    check_sampling(model, 1, temperature, None)
    y = None if label is None else torch.tensor([label])
    return model.sample(1, labels=y, temperature=float(temperature), seed=seed)[0]


def decode_partial(model, grids: torch.Tensor) -> torch.Tensor:
    """Decode grids still being sampled: unfilled cells (−1) show as the most used code, the codebook's
    "background"."""
    return model.decode(torch.where(grids >= 0, grids, torch.full_like(grids, most_used_code(model))))


def inpaint(model, grid: torch.Tensor, region: torch.Tensor, label=None, temperature=1.0, seed=None):
    """Resample the cells in `region` with the prior; every other cell stays as it is (and is context: on every
    side for a masked prior, before each cell for an autoregressive one)."""
    needs_prior(model, "resampling a region")
    if not region.any():
        raise UserError("select a region first: brush over the cells to resample")
    y = None if label is None else torch.tensor([label])
    return model.sample(1, labels=y, temperature=temperature, seed=seed, grid=grid[None], mask=~region[None])[0]


# --- codebook ---------------------------------------------------------------------------------------------
def usage(model) -> torch.Tensor:
    """Code counts over the test split (stored at export), else over the shipped examples."""
    if "usage" in model.stats:
        return model.stats["usage"]
    K = model.config["num_codes"]
    if model.examples is None:
        return torch.zeros(K, dtype=torch.long)
    return M.code_counts(model.encode(model.examples.float() / 255), K)


def codebook_summary(model) -> dict:
    u = usage(model)
    order = torch.argsort(u, descending=True)
    source = (f"the test split ({model.metrics.get('test_images', '?')} images)" if "usage" in model.stats
              else f"the {0 if model.examples is None else len(model.examples)} shipped examples")
    return {"num_codes": len(u), "counted_over": source, "cells": int(u.sum()),
            "perplexity": M.perplexity(u), "used_codes": int((u > 0).sum()), "dead_codes": int((u == 0).sum()),
            "most_used": [{"code": int(k), "count": int(u[k])} for k in order[:20]]}


@per_model
def tiles(model) -> torch.Tensor:
    """(K, C, f, f): each code's decoded look, cached for as long as the model lives."""
    return code_tiles(model)


def telling_code(model) -> int:
    """The code the Codebook tab opens on: the most used one among the half whose decoded look has the most
    contrast across its pixels (per channel: a flat patch of a strong colour has none). The most used code of
    all is the background (black for digits, white for photos), whose tile and patches would show a flat
    square."""
    spread = tiles(model).float().flatten(2).std(2).mean(1)
    contrasted = spread >= spread.median()
    return int(torch.where(contrasted, usage(model).double(), -1.0).argmax())


def code_map(model) -> torch.Tensor:
    return pca_2d(model.vqvae.quantizer.codebook.detach().cpu())


def code_patches(model, code: int) -> torch.Tensor:
    """Dataset patches (n, C, 2f, 2f) uint8 where `code` occurs most, or an empty tensor."""
    K = model.config["num_codes"]
    if not 0 <= int(code) < K:
        raise UserError(f"code {code} is out of range 0..{K - 1}")
    if "patches" not in model.stats:
        return torch.zeros(0, model.config["channels"], 1, 1, dtype=torch.uint8)
    return model.stats["patches"][int(code), : int(model.stats["patch_count"][int(code)])]


# --- sampling ---------------------------------------------------------------------------------------------
MAX_GUIDANCE = 10


def check_sampling(model, n, temperature, top_k, steps=None, guidance=0.0, shape=None):
    """`shape`: the grid sampled, where it is not the model's own (a photo's grid from the painter)."""
    needs_prior(model, "sampling")
    K = model.config["num_codes"]
    if not isinstance(guidance, (int, float)) or not 0 <= float(guidance) <= MAX_GUIDANCE:
        raise UserError(f"guidance must be between 0 and {MAX_GUIDANCE}")
    cells = math.prod(shape or model.grid)
    if steps is not None and is_masked(model) and (
            not isinstance(steps, (int, float)) or not 1 <= int(steps) <= cells):
        raise UserError(f"steps must be 1..{cells} (the grid's cells)")
    if not isinstance(n, (int, float)) or not 1 <= int(n) <= MAX_SAMPLES:
        raise UserError(f"number of samples must be 1..{MAX_SAMPLES}")
    if not isinstance(temperature, (int, float)) or not 0.05 <= float(temperature) <= 5:
        raise UserError("temperature must be between 0.05 and 5")
    if top_k is not None and not 1 <= int(top_k) <= K:
        raise UserError(f"top-k must be between 1 and {K} (or 0 for off)")


def sample_steps(model, n=1, label=None, temperature=1.0, top_k=None, seed=None, grid=None, mask=None,
                 steps=None, guidance=0.0):
    """model.sample_steps with the running mean entropy (bits) of the distributions drawn from so far, per cell.
    `steps` and `guidance` are a masked prior's parallel steps and classifier-free guidance; an autoregressive
    prior ignores both (one step per cell, no guidance)."""
    check_sampling(model, n, temperature, top_k, steps, guidance, None if grid is None else grid.shape[-2:])
    y = None if label is None else torch.full((int(n),), int(label))
    steps = int(steps) if steps is not None and is_masked(model) else None
    guidance = float(guidance) if is_masked(model) else 0.0
    total, cells = 0.0, 0
    for step in model.sample_steps(int(n), labels=y, temperature=float(temperature),
                                   top_k=None if not top_k else int(top_k), seed=seed, grid=grid, mask=mask,
                                   steps=steps, guidance=guidance):
        drawn = 1 if step.cells is None else int(step.cells.sum()) / int(n)
        total += float(step.entropy.mean()) * drawn
        cells += drawn
        yield step, total / max(cells, 1e-9)
