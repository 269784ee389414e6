"""Which models the app may open, by name, and what each can do (a lab model has no prior)."""

import os
import secrets
import threading
from collections import OrderedDict
from functools import lru_cache
from pathlib import Path

from ..storage.checkpoint import CheckpointError, load, read_metadata
from .errors import UserError

# $VQE_CHECKPOINTS, else checkpoints/ in the current directory (a clone's root, or a Space's).
DEFAULT_CHECKPOINTS = Path(os.environ.get("VQE_CHECKPOINTS") or "checkpoints")


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float):
    return load(path)   # on VQE_DEVICE, else CUDA when present, else the CPU


class Catalog:
    """The checkpoints the app may open, by name: the *.safetensors files directly inside one folder. The app
    is given one (`build_demo(folder)`), so tests and benchmarks open their own folders without touching a
    global. Only a listed name is accepted: no paths, no `..`, no symlink out of the folder.

    Models trained in the codebook lab are held in memory under names of their own (`register`), at most
    `max_lab_models` (the oldest go first); the visitor's session drops them when it ends (`forget`). Tokenizers
    opened from elsewhere (a diffusers folder or Hub id, a wrapped PyTorch model) are listed beside the files for
    as long as the app runs (`add`)."""

    LAB = "lab · "      # how a lab model's name begins

    def __init__(self, folder: Path | str = DEFAULT_CHECKPOINTS, max_lab_models: int = 16):
        self.folder = Path(folder)
        self.max_lab_models = max_lab_models
        self._lab: OrderedDict[str, object] = OrderedDict()
        self._opened: dict[str, object] = {}
        self._lock = threading.Lock()

    def add(self, model, name: str) -> str:
        """List a model opened from elsewhere under `name` (made unique), for every visitor."""
        with self._lock:
            unique, n = name, 2
            while unique in self._opened or unique.endswith(".safetensors"):
                unique, n = f"{name} ({n})", n + 1
            self._opened[unique] = model
        return unique

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
        """The checkpoint files, then the tokenizers opened from elsewhere."""
        return self.files() + list(self._opened)

    def files(self) -> list[str]:
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
        for other in self.files():
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
        """The checkpoints trained on colour images, those whose samples are read as their class most often
        first (so a one-click offer of "the colour model" opens the best sampler), read from their metadata
        without loading them."""
        out = []
        for name in self.files():
            try:
                meta = read_metadata(self.folder / name)
            except CheckpointError:
                continue
            if meta["config"].get("channels") == 3:
                out.append((-(meta.get("metrics", {}).get("sample_accuracy") or -1.0), name))
        return [name for _, name in sorted(out)]

    def default(self) -> str | None:
        names = self.names()
        return "mnist.safetensors" if "mnist.safetensors" in names else (names[0] if names else None)

    def path(self, name: str) -> Path:
        if not isinstance(name, str) or name not in self.files():
            raise UserError("unknown_checkpoint", name=str(name)[:80], choices=self.names())
        return self.folder / name

    def get(self, name: str):
        """The model, loaded once and kept while its file is unchanged (a few models at a time)."""
        with self._lock:
            if isinstance(name, str) and name in self._lab:
                return self._lab[name]
            if isinstance(name, str) and name in self._opened:
                return self._opened[name]
        if isinstance(name, str) and name.startswith(self.LAB):
            raise UserError("lab_model_gone")
        path = self.path(name)
        try:
            return _load_cached(str(path), path.stat().st_mtime)
        except CheckpointError as e:
            raise UserError("as_said", detail=str(e)) from None


def has_prior(model) -> bool:
    """False for a lab model: a VQ-VAE alone."""
    return model.prior is not None


def has_decoder(model) -> bool:
    """False for a tokenizer opened without a decoder (Chameleon's VQ-VAE): its codes, grid, usage, margins and
    codebook map are its own, but no picture can be made from codes, so the views that draw one say so instead."""
    return (model.config.get("tokenizer") or {}).get("decoder") is not False


def needs_prior(model, what: str):
    if not has_prior(model):
        raise UserError("needs_prior", what=what, made=made_where(model))


def made_where(model) -> str:
    """Where a model without a prior comes from, for the words: "tokenizer" (opened from elsewhere) or "lab"."""
    return "tokenizer" if model.config.get("tokenizer") else "lab"


def prior_limit(model, shape) -> tuple[int, int] | None:
    """None where the prior reads a grid of `shape`; else the largest grid it knows (a Transformer's learned
    positions stop at its training grid, where a PixelCNN's convolutions take a photo's 64×64 grid)."""
    try:
        model.prior.check_shape(tuple(shape))
        return None
    except ValueError:
        return int(model.prior.cfg.rows), int(model.prior.cfg.cols)


def is_masked(model) -> bool:
    """A masked prior: parallel steps, no exact likelihood, context on every side when inpainting."""
    return has_prior(model) and not model.prior.exact_likelihood
