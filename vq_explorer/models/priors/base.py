"""What every prior over code grids shares, whatever order it writes the cells in: the checks on sampling
arguments, the class ids for conditioning, the distribution a code is drawn from (temperature, top-k), and the
`SampleStep` a sampler yields.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class SampleStep:
    """One step of a sampler. An autoregressive prior takes one step per cell: (row, col) is that cell and
    `probs` the distribution it was drawn from. A masked prior commits many cells per step: `cells` marks them
    and `confidence` holds the probability of each committed code; (row, col) is then the committed cell of
    sample 1 the model was least sure of, and `probs` each sample's distribution at its least sure one."""
    row: int
    col: int
    grid: torch.Tensor    # (n, h, w) int64, -1 where not yet filled
    probs: torch.Tensor   # (n, K) the distribution the cell was drawn from (after temperature and top-k)
    step: int = 1         # 1-based
    cells: torch.Tensor | None = None        # (n, h, w) bool: committed in this step
    confidence: torch.Tensor | None = None   # (n, h, w) float: p(committed code) where committed, else 0
    entropy: torch.Tensor | None = None      # (n,) mean entropy in bits of the distributions drawn from


def entropy_bits(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in bits along the last dimension."""
    return -(probs * torch.log2(probs.clamp_min(1e-12))).sum(-1)


class Prior(nn.Module):
    cfg = None                # the family's config dataclass: num_codes and num_classes at least
    exact_likelihood = True   # False: log_prob raises; the surprise of a cell is given every other cell

    def class_ids(self, labels, batch: int, device):
        """Class ids for conditioning; None means the "no class" index of a conditional model."""
        if not self.cfg.num_classes:
            return None
        if labels is None:
            return torch.full((batch,), self.cfg.num_classes, dtype=torch.long, device=device)
        return labels.to(device=device, dtype=torch.long)

    def check_shape(self, shape):
        """Families with a bounded grid (learned positions) refuse larger ones; convolutions take any."""

    loss_name = "bits/code"   # what `loss` measures, as training logs it (in bits)

    def loss(self, grids, labels=None, forward=None, generator=None):
        """The training loss in nats per cell. `forward`: the network to run, when a wrapper (DDP) must see the
        forward pass; `generator`: for families whose loss draws random numbers."""
        raise NotImplementedError

    def conditional_log_probs(self, idx, labels=None):
        """log p (nats, (B, h, w)) of each cell's code given the cells before it in reading order (given all the
        others where `exact_likelihood` is False): the app's surprise map."""
        raise NotImplementedError

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
    def _distribution(logits, temperature, top_k, dim=1):
        logits = logits.float() / temperature
        if top_k is not None:
            kth = logits.topk(top_k, dim=dim).values.narrow(dim, top_k - 1, 1)
            logits = logits.masked_fill(logits < kth, float("-inf"))
        return F.softmax(logits, dim=dim)

    @staticmethod
    def _draw(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Inverse-CDF draw of one code per row of `probs` (N, K) from uniforms `u` (N,) in [0, 1], landing only
        on codes of positive probability, so top-k never leaves its k. The uniform is scaled by the row's own
        total (a cumulative sum may round below 1); `right=True` finds the first code whose cumulative sum
        exceeds it, and in floating point a sum grows past a value only by adding a positive probability; a draw
        at the very top (u = 1), where nothing lies above, takes the last code of positive probability."""
        cdf = probs.cumsum(1)
        pick = torch.searchsorted(cdf, (u.reshape(-1) * cdf[:, -1])[:, None], right=True).squeeze(1)
        last = probs.shape[1] - 1 - (probs > 0).flip(1).int().argmax(1)
        return torch.minimum(pick, last)

    def sample_steps(self, n, shape, **kwargs):
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n, shape, **kwargs) -> torch.Tensor:
        """(n, h, w) int64 grid; takes the same arguments as `sample_steps`."""
        *_, last = self.sample_steps(n, shape, **kwargs)
        return last.grid
