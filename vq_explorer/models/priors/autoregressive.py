"""What every autoregressive prior shares: likelihoods from the logits, and sampling cell by cell in raster order.

A family subclasses `AutoregressivePrior` and provides two things: `forward(idx, labels)` → logits (B, K, h, w)
where cell (r, c) sees only the cells before it in raster order, and `cached_sampler(n, shape, labels)`, an
object whose `logits(grid, r, c)` gives the same logits for one cell at a time, cheaply, when called in raster
order. Everything else — checks, temperature, top-k, seeds, fixed cells — is here, once.
"""

import random

import torch
import torch.nn.functional as F

from .base import Prior, SampleStep, entropy_bits


class AutoregressivePrior(Prior):
    def cached_sampler(self, n: int, shape, labels=None):
        raise NotImplementedError

    def loss(self, grids, labels=None, forward=None, generator=None):
        """Cross-entropy of every cell's code given the cells before it: nats per cell."""
        return F.cross_entropy((forward or self)(grids, labels).float(), grids)

    def log_prob_cells(self, idx, labels=None):
        """Per-cell log-likelihood in nats (B, h, w)."""
        logp = F.log_softmax(self(idx, labels), dim=1)
        return logp.gather(1, idx.long()[:, None]).squeeze(1)

    def log_prob(self, idx, labels=None):
        """Total log-likelihood of each grid in nats (B,)."""
        return self.log_prob_cells(idx, labels).sum((1, 2))

    def conditional_log_probs(self, idx, labels=None):
        return self.log_prob_cells(idx, labels)

    @torch.no_grad()
    def sample_steps(self, n, shape, labels=None, temperature=1.0, top_k=None, seed=None, grid=None,
                     mask=None, cached=True, steps=None):
        """Fill an (n, h, w) grid cell by cell in raster order, yielding a SampleStep after each cell.

        Cells where `mask` is True keep `grid`'s values. One uniform number per sample and cell is drawn from a
        CPU generator seeded with `seed`, whether or not the cell is fixed: the same seed gives the same
        samples on any device. `cached` computes only what each new cell needs (the family's cached sampler);
        False runs the whole network once per cell, the plain reference it is tested against. `steps` is for
        masked priors: here it can only be h·w, one step per cell.
        """
        h, w = shape
        if steps is not None and steps != h * w:
            raise ValueError(f"an autoregressive prior takes one step per cell ({h * w} here), not {steps}; "
                             "fewer steps need a masked prior")
        labels, grid, mask = self._check_sampling(n, shape, labels, temperature, top_k, grid, mask)
        device = next(self.parameters()).device
        labels = labels.to(device) if labels is not None else None
        gen = torch.Generator().manual_seed(random.randrange(2**63) if seed is None else int(seed))
        out = torch.where(mask, grid, torch.full_like(grid, -1)).to(device)
        fixed, grid = mask.to(device), grid.to(device)
        cache = self.cached_sampler(n, shape, labels) if cached else None
        for r in range(h):
            for c in range(w):
                if cache is not None:
                    logits = cache.logits(out, r, c)
                else:
                    logits = self(out.clamp_min(0), labels)[:, :, r, c]
                probs = self._distribution(logits, temperature, top_k)
                u = torch.rand(n, 1, generator=gen).to(device)
                pick = self._draw(probs, u)
                out[:, r, c] = torch.where(fixed[:, r, c], grid[:, r, c], pick)
                yield SampleStep(r, c, out.clone(), probs, step=r * w + c + 1, entropy=entropy_bits(probs))
