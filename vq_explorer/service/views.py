"""The codebook's views of a tokenizer made elsewhere, kept on disk between starts (storage.views): each code's
decoded tile (stored as codes are first shown, so a 16,384-code atlas's first page costs its 1,024 codes once),
the usage over the pictures it was opened with, and the 2-D map. A shipped checkpoint needs none of this: its
usage is in its file and its small decoder draws every tile in a moment."""

import hashlib
import threading

import torch

from ..storage.views import ViewCache, weights_hash
from .memo import per_model


def stored(model) -> bool:
    """Whether this model's views go to disk: a tokenizer made elsewhere, with the cache not turned off."""
    return bool(model.config.get("tokenizer")) and ViewCache().folder is not None


@per_model
def key(model) -> str:
    """The weights' hash (once per model): a stored view of other weights is never used. A tokenizer opened from
    a file was hashed whole as it opened (the SHA-256 its config records); others' weights are hashed here."""
    sha = (model.config.get("tokenizer") or {}).get("sha256")
    return f"file-sha256-{sha}" if sha else weights_hash(model.vqvae)


EXAMPLES_VIEWS = ("usage",)   # views that depend on the pictures the tokenizer was opened with, too


def view_key(model, view: str) -> str:
    """What a stored view is of: the weights, and for EXAMPLES_VIEWS the pictures as well."""
    if view not in EXAMPLES_VIEWS:
        return key(model)
    data = b"" if model.examples is None else model.examples.contiguous().numpy().tobytes()
    return key(model) + "-" + hashlib.sha256(data).hexdigest()[:16]


def cached(model, view: str, compute) -> torch.Tensor:
    """`compute()` (a tensor), from disk where it was stored for these weights (and pictures), else computed and
    stored."""
    k = view_key(model, view)
    cache = ViewCache()
    hit = cache.get(k, view)
    if hit is not None and "value" in hit:
        return hit["value"]
    value = compute()
    cache.put(k, view, {"value": value})
    return value


@per_model
def _tiles_state(model) -> dict:
    """The tiles known so far (K, C, f, f) and which codes they cover, loaded from disk once."""
    hit = ViewCache().get(view_key(model, "tiles"), "tiles")
    K = model.config["num_codes"]
    if hit is not None and hit.get("done") is not None and len(hit["done"]) == K:
        return {"tiles": hit["tiles"], "done": hit["done"].bool(), "lock": threading.Lock()}
    return {"tiles": None, "done": torch.zeros(K, dtype=torch.bool), "lock": threading.Lock()}


def tiles(model, codes: torch.Tensor, decode) -> torch.Tensor:
    """The tiles of `codes`: those stored already from disk, the others by `decode(codes)` (then stored)."""
    state = _tiles_state(model)
    with state["lock"]:
        missing = codes[~state["done"][codes]].unique()
        if len(missing):
            new = decode(missing)
            if state["tiles"] is None:
                state["tiles"] = torch.zeros(model.config["num_codes"], *new.shape[1:], dtype=new.dtype)
            state["tiles"][missing] = new
            state["done"][missing] = True
            ViewCache().put(view_key(model, "tiles"), "tiles", {"tiles": state["tiles"], "done": state["done"]})
        return state["tiles"][codes]
