"""Looking inside the codebook: how often each code is used, how each looks decoded, the patches it stands for
(the checkpoint's own statistics: models.usage) and a 2-D map of the code vectors."""

import torch
from tqdm.auto import tqdm

from ..models import metrics
from . import views
from .catalog import has_decoder
from .errors import UserError
from .latents import codes
from .memo import per_model


@torch.no_grad()
def code_tiles(model, margin_cells: int = 1, codes: torch.Tensor | None = None) -> torch.Tensor:
    """How each code (or each of `codes`) looks decoded: a grid filled with that one code, centre cell (with no
    margin)."""
    f = model.config["downsample"]
    codes = torch.arange(model.config["num_codes"]) if codes is None else torch.as_tensor(codes).long()
    side = 2 * margin_cells + 1
    grids = codes.view(-1, 1, 1).expand(len(codes), side, side)
    imgs = torch.cat([model.decode(grids[i:i + 256]) for i in range(0, len(codes), 256)])
    lo = margin_cells * f
    return imgs[:, :, lo:lo + f, lo:lo + f]


def pca_2d(vectors: torch.Tensor) -> torch.Tensor:
    """The first two principal components of the code vectors (K, 2)."""
    x = vectors.float() - vectors.float().mean(0)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    v = v[:2] * v[:2].gather(1, v[:2].abs().argmax(1, keepdim=True)).sign()   # a fixed sign: maps don't flip
    return x @ v.t()


def most_used_code(model) -> int:
    return int(usage(model).argmax())


def usage(model) -> torch.Tensor:
    """Code counts over the test split (stored at export), else over the shipped examples (a lab model's, or the
    pictures a tokenizer was opened with)."""
    if "usage" in model.stats:
        return model.stats["usage"]
    return _examples_usage(model)


@per_model
def _examples_usage(model) -> torch.Tensor:
    """Counted once per model (and kept on disk for a tokenizer): a large tokenizer takes seconds to encode its
    pictures, and every tab asks."""
    if views.stored(model):
        return views.cached(model, "usage", lambda: _count_examples(model))
    return _count_examples(model)


def _count_examples(model) -> torch.Tensor:
    K = model.config["num_codes"]
    counts = torch.zeros(K, dtype=torch.long)
    if model.examples is None:
        return counts
    for x in tqdm(model.examples, desc="usage", unit="picture", leave=False, disable=len(model.examples) < 2):
        # one at a time, so a progress bar can move
        counts += metrics.code_counts(codes(model, x[None].float() / 255), K)
    return counts


def codebook_summary(model, counts: torch.Tensor | None = None, images: int | None = None) -> dict:
    """Perplexity, used and dead codes, the most used: of the model's own usage, or of `counts` (K,) over
    `images` images of the visitor's (`tally_counts`)."""
    u = usage(model) if counts is None else counts
    order = torch.argsort(u, descending=True, stable=True)
    over = ({"images": images, "of": "your images"} if counts is not None else
            {"images": model.metrics.get("test_images"), "of": "test split"} if "usage" in model.stats
            else {"images": 0 if model.examples is None else len(model.examples), "of": "shipped examples"})
    return {"num_codes": len(u), "counted_over": over, "cells": int(u.sum()),
            "perplexity": metrics.perplexity(u) if int(u.sum()) else 0.0, "used_codes": int((u > 0).sum()),
            "dead_codes": int((u == 0).sum()),
            "most_used": [{"code": int(k), "count": int(u[k])} for k in order[:20] if int(u[k])]}


# The visitor's own images: a tally per model of the codes their reconstructions used, kept in their session
# (sparse, so a 16,384-code tokenizer's tally of a few photos stays a few kilobytes), never on the server.
def tally(so_far: dict | None, name: str, grid) -> dict:
    """`so_far` with one more image's grid counted under the model's name: {name: {"images": n, "codes":
    {code: count}}}. A new dict: the session's state is replaced, not changed in place."""
    out = dict(so_far or {})
    mine = out.get(name) or {"images": 0, "codes": {}}
    codes = dict(mine["codes"])
    values, counts = torch.as_tensor(grid).flatten().unique(return_counts=True)
    for k, c in zip(values.tolist(), counts.tolist(), strict=True):
        codes[str(k)] = codes.get(str(k), 0) + c
    out[name] = {"images": mine["images"] + 1, "codes": codes}
    return out


def tally_counts(so_far: dict | None, name: str, num_codes: int) -> tuple[torch.Tensor, int]:
    """The tally of `name` as (K,) counts and the number of images counted (zeros and 0 where there is none);
    codes outside 0..K-1 (a tally kept for another model of the same name) are left out."""
    mine = (so_far or {}).get(name) or {"images": 0, "codes": {}}
    counts = torch.zeros(num_codes, dtype=torch.long)
    for k, c in mine["codes"].items():
        if 0 <= int(k) < num_codes:
            counts[int(k)] += int(c)
    return counts, int(mine["images"])


@per_model
def tiles(model) -> torch.Tensor:
    """(K, C, f, f): each code's decoded look, cached for as long as the model lives. A tokenizer made elsewhere
    (thousands of codes, tens of millions of parameters) decodes each code as one cell alone: ten times cheaper
    than a cell amid its copies, which the shipped models' small decoders afford."""
    if views.stored(model):
        return views.tiles(model, torch.arange(model.config["num_codes"]), lambda c: code_tiles(model, 0, c))
    return code_tiles(model, margin_cells=_margin(model))


def _margin(model) -> int:
    return 0 if model.config.get("tokenizer") else 1


def tiles_of(model, codes) -> torch.Tensor:
    """The looks of some codes (the painter's palette): from the cache where every code's look is there already,
    else decoded for these codes alone — a tokenizer with 16,384 codes need not decode them all to show 128."""
    every = tiles.cache.get(model)
    codes = torch.as_tensor(codes).long()
    if every is not None:
        return every[codes]
    if views.stored(model):                     # a tokenizer's: kept on disk, code by code, as first shown
        return views.tiles(model, codes, lambda c: code_tiles(model, 0, c))
    return code_tiles(model, _margin(model), codes)


ATLAS_MAX = 1024   # codes drawn on one page of the atlas: a codebook of 16,384 is shown in 16 pages


def is_implicit(model) -> bool:
    """An implicit codebook (FSQ levels, LFQ bits: models.implicit): its views are drawn from the codes seen."""
    return hasattr(model.vqvae.quantizer, "neighbours")


def _drawn(model) -> int:
    """The codes the atlas draws: every code, or of an implicit codebook those seen (the rest are counted)."""
    return max(1, int((usage(model) > 0).sum())) if is_implicit(model) else model.config["num_codes"]


def atlas_pages(model) -> int:
    return -(-_drawn(model) // ATLAS_MAX)


def atlas_span(model, page: int) -> tuple[int, int]:
    """The ranks (from 1, by usage) of the first and last codes on page `page`."""
    return (int(page) - 1) * ATLAS_MAX + 1, min(_drawn(model), int(page) * ATLAS_MAX)


def atlas_codes(model, page: int = 1) -> torch.Tensor:
    """The codes page `page` of the atlas draws, in its order: every code by index where they fit on one page;
    beyond, all codes ranked by usage (ties by index), ATLAS_MAX to a page, so a large tokenizer's first page
    decodes its most used sixteenth and the last its never-used codes."""
    K, pages = model.config["num_codes"], atlas_pages(model)
    if not 1 <= int(page) <= pages:
        raise UserError("atlas_page_out_of_range", page=page, pages=pages)
    if K <= ATLAS_MAX and not is_implicit(model):
        return torch.arange(K)
    start = (int(page) - 1) * ATLAS_MAX
    return torch.argsort(usage(model), descending=True, stable=True)[start:min(start + ATLAS_MAX, _drawn(model))]


def telling_code(model) -> int:
    """The code the Codebook tab opens on: the most used one among the half of the atlas's codes whose decoded
    look has the most contrast across its pixels (per channel: a flat patch of a strong colour has none). The
    most used code of all is the background (black for digits, white for photos), whose tile and patches would
    show a flat square. Without a decoder no code has a look: the most used one."""
    if not has_decoder(model):
        return most_used_code(model)
    codes = atlas_codes(model)
    spread = tiles_of(model, codes).float().flatten(2).std(2).mean(1)
    contrasted = spread >= spread.median()
    return int(codes[torch.where(contrasted, usage(model)[codes].double(), -1.0).argmax()])


def _checked(model, code) -> int:
    """K, once `code` is known to be one of the model's codes."""
    K = model.config["num_codes"]
    if not 0 <= int(code) < K:
        raise UserError("code_out_of_range", code=code, last=K - 1)
    return K


def nearest_codes(model, code: int, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """The `n` codes whose vectors lie nearest code `code`'s in the codebook, nearest first, and their Euclidean
    distances: which codes the quantizer could have chosen instead, and near-duplicates in a large codebook."""
    K = _checked(model, code)
    quantizer = model.vqvae.quantizer
    if is_implicit(model):     # one level step or bit flip away: no K × d table to search
        near = quantizer.neighbours(int(code)).to(model.device)
        d = (quantizer.lookup(near) - quantizer.lookup(torch.tensor([int(code)], device=near.device))).norm(dim=1)
        order = torch.argsort(d.cpu(), stable=True)[:n]
        return near.cpu()[order], d.cpu()[order]
    vectors = quantizer.codebook.detach().float().cpu()
    d = torch.cdist(vectors[int(code)][None], vectors)[0]
    d[int(code)] = float("inf")
    order = torch.argsort(d, stable=True)[: min(n, K - 1)]
    return order, d[order]


def code_map(model, counts: torch.Tensor | None = None) -> torch.Tensor:
    """(K, 2): the code vectors' first two principal components (kept on disk with a tokenizer's other views).
    An implicit codebook's are those of the codes seen (in `counts`, else the model's usage), the others left at 0
    (the chart draws the codes seen)."""
    if not is_implicit(model):
        whole = lambda: pca_2d(model.vqvae.quantizer.codebook.detach().cpu())
        return views.cached(model, "map", whole) if views.stored(model) else whole()
    seen = torch.nonzero((usage(model) if counts is None else counts) > 0).flatten()
    xy = torch.zeros(model.config["num_codes"], 2)
    if len(seen) >= 2:
        xy[seen] = pca_2d(model.vqvae.quantizer.lookup(seen.to(model.device)).detach().float().cpu())
    return xy


def code_patches(model, code: int) -> torch.Tensor:
    """Dataset patches (n, C, 2f, 2f) uint8 where `code` occurs most, or an empty tensor."""
    _checked(model, code)
    if "patches" not in model.stats:
        return torch.zeros(0, model.config["channels"], 1, 1, dtype=torch.uint8)
    return model.stats["patches"][int(code), : int(model.stats["patch_count"][int(code)])]
