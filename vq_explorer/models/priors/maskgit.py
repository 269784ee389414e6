"""A masked prior that writes a whole grid in a few parallel steps (MaskGIT: Chang et al. 2022, "MaskGIT:
Masked Generative Image Transformer").

The network is the Transformer prior's blocks without the causal mask: every cell sees every other cell. The
input at a cell is its code, or the [MASK] token (index K) where the code is unknown, plus its row, column and
class embeddings. Training hides a random share of the cells — the share drawn from a cosine schedule, so
nearly empty grids and nearly full ones are both practised — and asks for the hidden codes back.

Sampling starts from a fully masked grid (or from the fixed cells of an inpainting). Each step predicts every
masked cell at once, draws a code for each, keeps the ones the model is most confident of and masks the rest
again; the number left masked after step s of S is ⌊u·cos(π/2 · s/S)⌋ of the u cells to fill. So S steps are
S full passes over the grid, where a cached autoregressive sampler makes one pass in total, cell by cell: the
masked prior wins where the sequential steps are the cost (one sample at a time, large grids, a GPU).

There is no exact likelihood; `conditional_log_probs` gives each cell's log-probability given all the others.
"""

import math
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import MaskGITConfig
from .base import Prior, SampleStep, entropy_bits
from .embedding import GridInputs
from .transformer import Block, gpt2_init


def schedule(unknown: int, steps: int) -> list[int]:
    """How many cells each step commits: `unknown` cells in min(steps, unknown) steps, at least one per step,
    following the cosine mask schedule (few cells first, while the grid is nearly empty; many at the end).

    No step is left empty-handed at the end: u·cos(π/2·s/S) = u·sin(π/2·(S−s)/S) ≥ u·(S−s)/S ≥ S−s cells stay
    masked after step s, one or more for each step to come (and none after the last, exactly: not cos(π/2) in
    floating point, which is not 0). Early on, the floor can stall (⌊48.97⌋ = ⌊48.9⌋), hence at least one cell
    per step."""
    steps = min(steps, unknown)
    counts, remaining = [], unknown
    for s in range(1, steps + 1):
        left = 0 if s == steps else min(math.floor(unknown * math.cos(math.pi / 2 * s / steps)), remaining - 1)
        counts.append(remaining - left)
        remaining = left
    return counts


def most_confident(score, masked, counts):
    """(n, T) bool: in each row, the counts[row] masked cells with the highest score."""
    score = torch.where(masked, score, torch.full_like(score, float("-inf")))
    ranks = score.argsort(dim=1, descending=True, stable=True).argsort(dim=1)
    return masked & (ranks < counts[:, None])


class MaskedTransformer(GridInputs, Prior):
    exact_likelihood = False

    def __init__(self, cfg: MaskGITConfig):
        super().__init__()
        if cfg.dim % cfg.heads:
            raise ValueError(f"dim ({cfg.dim}) must be divisible by heads ({cfg.heads})")
        self.cfg = cfg
        self._grid_embeddings(cfg)                                      # index K: [MASK]
        self.blocks = nn.ModuleList(Block(cfg, causal=False) for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.num_codes, bias=False)
        gpt2_init(self, cfg.layers)

    @property
    def mask_token(self) -> int:
        return self.cfg.num_codes

    def hidden(self, idx, labels=None):
        """The last block's output (B, h·w, dim); cells holding a negative value or K are masked."""
        B, h, w = idx.shape
        self.check_shape((h, w))
        idx = torch.where((idx < 0) | (idx > self.mask_token), self.mask_token, idx.long())
        x = self.embed(idx.view(B, -1)) + self.positions((h, w), idx.device)
        cls = self.class_vector(labels, B, idx.device)
        if cls is not None:
            x = x + cls
        for block in self.blocks:
            x = block(x)
        return self.ln(x)

    def forward(self, idx, labels=None):
        """Logits (B, K, h, w) for every cell, each seeing every cell's input (code or [MASK])."""
        B, h, w = idx.shape
        return self.head(self.hidden(idx, labels)).transpose(1, 2).reshape(B, -1, h, w)

    def corrupt(self, idx, generator=None):
        """Training input: each grid gets a share cos(π/2·r), r ~ U(0, 1), of its cells (at least one) replaced
        by [MASK]. Returns (input, masked) with masked (B, h, w) bool: the cells the loss is taken on."""
        B, h, w = idx.shape
        T = h * w
        r = torch.rand(B, generator=generator, device=idx.device)
        k = (torch.cos(math.pi / 2 * r) * T).ceil().clamp(1, T)
        ranks = torch.rand(B, T, generator=generator, device=idx.device).argsort(1).argsort(1)
        masked = (ranks < k[:, None]).view(B, h, w)
        return torch.where(masked, self.mask_token, idx), masked

    loss_name = "bits/masked code"

    def loss(self, grids, labels=None, forward=None, generator=None):
        """Nats per hidden cell: a random share of each grid's cells hidden (`corrupt`), the codes there predicted
        from the rest. `forward` is the network to run (a DistributedDataParallel wrapper while training);
        `generator` fixes the masks (the test loss: the same masks every epoch)."""
        inputs, hidden = self.corrupt(grids, generator)
        logits = (forward or self)(inputs, labels)
        return F.cross_entropy(logits.float().permute(0, 2, 3, 1)[hidden], grids[hidden])

    def log_prob_cells(self, idx, labels=None):
        raise ValueError("a masked prior (MaskGIT) has no exact likelihood: it is trained to fill in cells, "
                         "not to score whole grids. conditional_log_probs gives each cell's log-probability "
                         "given all the others.")

    def log_prob(self, idx, labels=None):
        return self.log_prob_cells(idx, labels)

    def conditional_log_probs(self, idx, labels=None, chunk: int = 512):
        """log p(code at cell | every other cell) (B, h, w) in nats: each cell masked alone, all in a batch."""
        B, h, w = idx.shape
        T = h * w
        idx = idx.long()
        one = torch.eye(T, dtype=torch.bool, device=idx.device).view(T, h, w)
        inputs = torch.where(one[None], self.mask_token, idx[:, None]).view(B * T, h, w)   # (B·T, h, w)
        y = None if labels is None else torch.as_tensor(labels).to(idx.device).repeat_interleave(T)
        which = torch.arange(B * T, device=idx.device)
        sample, cell = which // T, which % T
        out = []
        for i in range(0, B * T, chunk):
            sl = slice(i, i + chunk)
            hid = self.hidden(inputs[sl], None if y is None else y[sl])
            logits = self.head(hid[torch.arange(len(hid), device=idx.device), cell[sl]])        # (chunk, K)
            target = idx.view(B, T)[sample[sl], cell[sl]]
            out.append(F.log_softmax(logits.float(), 1).gather(1, target[:, None]).squeeze(1))
        return torch.cat(out).view(B, h, w)

    def _masked_logits(self, grid, labels, masked, guidance: float):
        """Logits (M, K) at the masked cells only (the head runs on nothing else); with guidance, the class
        and the "no class" passes run as one batch."""
        if not guidance:
            return self.head(self.hidden(grid, labels)[masked])
        both = self.hidden(torch.cat([grid, grid]), torch.cat([labels, torch.full_like(labels,
                                                                                       self.cfg.num_classes)]))
        cond, free = self.head(both[: len(grid)][masked]), self.head(both[len(grid):][masked])
        return cond + guidance * (cond - free)

    @torch.no_grad()
    def sample_steps(self, n, shape, labels=None, temperature=1.0, top_k=None, seed=None, grid=None,
                     mask=None, cached=True, steps=None, choice_temperature=None, guidance=None):
        """Fill an (n, h, w) grid in `steps` parallel steps (default: the config's), yielding a SampleStep after
        each with the cells it committed.

        Cells where `mask` is True keep `grid`'s values and are seen by every other cell from the first step.
        Each step draws a code for every masked cell (temperature, top-k), scores it by log p(code) plus
        Gumbel noise scaled by `choice_temperature`·(1 − s/S), commits the best-scored cells as the schedule
        says and masks the rest again. Two uniform numbers per sample and cell are drawn from a CPU generator
        seeded with `seed` every step, so the same seed gives the same samples on any device. `guidance` > 0
        (with labels) is classifier-free guidance: logits + guidance·(logits − logits without the class), at
        twice the cost per step (default: the config's). `cached` is accepted for a common signature: every step
        is one full pass, there is nothing to cache.
        """
        h, w = shape
        T = h * w
        steps = self.cfg.steps if steps is None else int(steps)
        if not 1 <= steps <= T:
            raise ValueError(f"steps must be between 1 and {T} (the number of cells), not {steps}")
        tau = self.cfg.choice_temperature if choice_temperature is None else float(choice_temperature)
        labels, grid, mask = self._check_sampling(n, shape, labels, temperature, top_k, grid, mask)
        device = next(self.parameters()).device
        labels = labels.to(device) if labels is not None else None
        guidance = self.cfg.guidance if guidance is None else guidance
        guide = float(guidance) if labels is not None else 0.0
        gen = torch.Generator().manual_seed(random.randrange(2**63) if seed is None else int(seed))
        out = torch.where(mask, grid, torch.full_like(grid, -1)).view(n, T).to(device)
        unknown = (~mask).view(n, T).sum(1).tolist()
        plans = [schedule(u, steps) for u in unknown]
        total = max(1, max(len(p) for p in plans))
        K = self.cfg.num_codes
        for s in range(1, total + 1):
            u = torch.rand(n, T, generator=gen).to(device)
            g = -torch.log(-torch.log(torch.rand(n, T, generator=gen).clamp(1e-20, 1 - 1e-7))).to(device)
            commit_n = torch.tensor([p[s - 1] if s <= len(p) else 0 for p in plans], device=device)
            masked = out < 0
            probs = torch.zeros(0, K, device=device)                                      # (M, K) below
            picked = torch.zeros(n, T, dtype=torch.long, device=device)
            p_pick, ent = torch.zeros(n, T, device=device), torch.zeros(n, T, device=device)
            if masked.any():
                logits = self._masked_logits(out.view(n, h, w), labels, masked, guide)      # (M, K)
                probs = self._distribution(logits, temperature, top_k)
                pick = self._draw(probs, u[masked])
                picked[masked] = pick
                p_pick[masked] = probs.gather(1, pick[:, None]).squeeze(1)
                ent[masked] = entropy_bits(probs)
            score = torch.log(p_pick.clamp_min(1e-30)) + tau * (1 - s / total) * g
            commit = most_confident(score, masked, commit_n)
            out = torch.where(commit, picked, out)
            conf = torch.where(commit, p_pick, torch.zeros_like(p_pick))
            least = torch.where(commit, p_pick, torch.full_like(p_pick, 2.0)).argmin(1)      # (n,)
            # that cell's row in probs (the masked cells in order); zeros for a sample with nothing left
            has = commit.any(1)
            row = masked.view(-1).cumsum(0)[torch.arange(n, device=device) * T + least] - 1
            cell_probs = torch.zeros(n, K, device=device)
            cell_probs[has] = probs[row[has]]
            r0, c0 = divmod(int(least[0]), w)
            yield SampleStep(r0, c0, out.view(n, h, w).clone(), cell_probs, step=s, cells=commit.view(n, h, w),
                             confidence=conf.view(n, h, w),
                             entropy=(ent * commit).sum(1) / commit.sum(1).clamp_min(1))
