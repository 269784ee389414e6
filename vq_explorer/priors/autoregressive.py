"""What every autoregressive prior shares: likelihoods from the logits, and sampling cell by cell in raster order.

A family subclasses `AutoregressivePrior` and provides two things: `forward(idx, labels)` → logits (B, K, h, w)
where cell (r, c) sees only the cells before it in raster order, and `cached_sampler(n, shape, labels)`, an
object whose `logits(grid, r, c)` gives the same logits for one cell at a time, cheaply, when called in raster
order. Everything else — checks, temperature, top-k, seeds, fixed cells — is here, once.
"""

import random
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class SampleStep:
    row: int
    col: int
    grid: torch.Tensor    # (n, h, w) int64, -1 where not yet filled
    probs: torch.Tensor   # (n, K) the distribution the cell was drawn from (after temperature and top-k)


class AutoregressivePrior(nn.Module):
    cfg = None  # the family's config dataclass: num_codes and num_classes at least

    def _labels(self, labels, batch: int, device):
        """Class ids for conditioning; None means the "no class" index of a conditional model."""
        if not self.cfg.num_classes:
            return None
        if labels is None:
            return torch.full((batch,), self.cfg.num_classes, dtype=torch.long, device=device)
        return labels.to(device=device, dtype=torch.long)

    def cached_sampler(self, n: int, shape, labels=None):
        raise NotImplementedError

    def log_prob_cells(self, idx, labels=None):
        """Per-cell log-likelihood in nats (B, h, w)."""
        logp = F.log_softmax(self(idx, labels), dim=1)
        return logp.gather(1, idx.long()[:, None]).squeeze(1)

    def log_prob(self, idx, labels=None):
        """Total log-likelihood of each grid in nats (B,)."""
        return self.log_prob_cells(idx, labels).sum((1, 2))

    def check_shape(self, shape):
        """Families with a bounded grid (learned positions) refuse larger ones; convolutions take any."""

    def _check_sampling(self, n, shape, labels, temperature, top_k, grid, mask):
        K = self.cfg.num_codes
        if n < 1:
            raise ValueError(f"number of samples must be at least 1, not {n}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, not {temperature}")
        if top_k is not None and not 1 <= top_k <= K:
            raise ValueError(f"top_k must be between 1 and {K}, not {top_k}")
        self.check_shape(shape)
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
            if labels.numel() == 1:
                labels = labels.expand(n)
            if labels.numel() != n:
                raise ValueError(f"got {labels.numel()} labels for {n} samples")
            if not self.cfg.num_classes:
                raise ValueError("this prior is unconditional: labels must be None")
            if labels.min() < 0 or labels.max() >= self.cfg.num_classes:
                raise ValueError(f"labels must be in 0..{self.cfg.num_classes - 1}")
        if grid is None:
            grid = torch.zeros(n, *shape, dtype=torch.long)
            mask = torch.zeros(n, *shape, dtype=torch.bool)
        else:
            grid = torch.as_tensor(grid, dtype=torch.long)
            grid = grid.expand(n, *grid.shape[-2:]).clone() if grid.dim() == 2 else grid.clone()
            if grid.shape != (n, *shape):
                raise ValueError(f"grid must have shape {tuple(shape)} or ({n}, {shape[0]}, {shape[1]}), "
                                 f"got {tuple(grid.shape)}")
            mask = torch.ones_like(grid, dtype=torch.bool) if mask is None else \
                torch.as_tensor(mask, dtype=torch.bool).expand(grid.shape).clone()
            if (grid[mask] < 0).any() or (grid[mask] >= K).any():
                raise ValueError(f"fixed cells must hold codes in 0..{K - 1}")
        return labels, grid, mask

    @staticmethod
    def _distribution(logits, temperature, top_k):
        logits = logits.float() / temperature
        if top_k is not None:
            kth = logits.topk(top_k, dim=1).values[:, -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        return F.softmax(logits, dim=1)

    @torch.no_grad()
    def sample_steps(self, n, shape, labels=None, temperature=1.0, top_k=None, seed=None, grid=None,
                     mask=None, cached=True):
        """Fill an (n, h, w) grid cell by cell in raster order, yielding a SampleStep after each cell.

        Cells where `mask` is True keep `grid`'s values. One uniform number per sample and cell is drawn from a
        CPU generator seeded with `seed`, whether or not the cell is fixed: the same seed gives the same
        samples on any device. `cached` computes only what each new cell needs (the family's cached sampler);
        False runs the whole network once per cell, the plain reference it is tested against.
        """
        labels, grid, mask = self._check_sampling(n, shape, labels, temperature, top_k, grid, mask)
        device = next(self.parameters()).device
        labels = labels.to(device) if labels is not None else None
        gen = torch.Generator().manual_seed(random.randrange(2**63) if seed is None else int(seed))
        out = torch.where(mask, grid, torch.full_like(grid, -1)).to(device)
        fixed, grid = mask.to(device), grid.to(device)
        h, w = shape
        cache = self.cached_sampler(n, shape, labels) if cached else None
        for r in range(h):
            for c in range(w):
                if cache is not None:
                    logits = cache.logits(out, r, c)
                else:
                    logits = self(out.clamp_min(0), labels)[:, :, r, c]
                probs = self._distribution(logits, temperature, top_k)
                u = torch.rand(n, 1, generator=gen).to(device)
                pick = torch.searchsorted(probs.cumsum(1), u).clamp_max(probs.shape[1] - 1).squeeze(1)
                out[:, r, c] = torch.where(fixed[:, r, c], grid[:, r, c], pick)
                yield SampleStep(r, c, out.clone(), probs)

    @torch.no_grad()
    def sample(self, n, shape, **kwargs) -> torch.Tensor:
        """(n, h, w) int64 grid; takes the same arguments as `sample_steps`."""
        *_, last = self.sample_steps(n, shape, **kwargs)
        return last.grid
