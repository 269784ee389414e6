"""The inputs the sequence priors share: the Transformer, the masked Transformer and the RNN all read a grid as a
sequence of code embeddings plus learned row and column embeddings and a class embedding (its last entry meaning
"no class"), and know positions only up to their training grid.

A mixin rather than a submodule: the embeddings stay attributes of the prior itself (`embed`, `row`, `col`,
`cls`), so the weights keep the names every shipped checkpoint, and every compressed file's model hash, was made
with.
"""

import torch
import torch.nn as nn


class GridInputs:
    def _grid_embeddings(self, cfg):
        """Codes 0..K−1 and one more token (the start token of the causal families, [MASK] of the masked one)."""
        self.embed = nn.Embedding(cfg.num_codes + 1, cfg.dim)
        self.row = nn.Embedding(cfg.rows, cfg.dim)
        self.col = nn.Embedding(cfg.cols, cfg.dim)
        self.cls = nn.Embedding(cfg.num_classes + 1, cfg.dim) if cfg.num_classes else None

    def check_shape(self, shape):
        h, w = shape
        if h > self.cfg.rows or w > self.cfg.cols:
            raise ValueError(f"this {self.cfg.name} prior knows grids up to {self.cfg.rows}×{self.cfg.cols} (its "
                             f"training grid), not {h}×{w}")

    def positions(self, shape, device) -> torch.Tensor:
        """(1, h·w, dim): each cell's row embedding plus its column embedding, in raster order."""
        h, w = shape
        rows, cols = torch.arange(h, device=device), torch.arange(w, device=device)
        return (self.row(rows)[:, None] + self.col(cols)[None]).view(1, h * w, -1)

    def class_vector(self, labels, batch: int, device) -> torch.Tensor | None:
        """(B, 1, dim) of the class (or "no class"); None for an unconditional prior."""
        cond = self.class_ids(labels, batch, device)
        return None if cond is None else self.cls(cond)[:, None]

    def shifted(self, e: torch.Tensor) -> torch.Tensor:
        """(B, h·w, dim) from the codes' embeddings e (B, dim, h, w): position t holds cell t − 1, position 0 the
        start token, so that position t predicts cell t having seen only the cells before it."""
        start = self.embed.weight[-1].expand(len(e), 1, -1)
        return torch.cat([start, e.flatten(2).transpose(1, 2)[:, :-1]], 1)

    def previous(self, grid: torch.Tensor, t: int) -> torch.Tensor:
        """(n, dim): what position t reads while sampling: cell t − 1's code embedded, or the start token."""
        if t == 0:
            return self.embed.weight[-1].expand(len(grid), -1)
        return self.embed(grid.view(len(grid), -1)[:, t - 1].clamp_min(0))
