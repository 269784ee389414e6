"""Finite scalar quantization (Mentzer et al. 2023): the codebook-free sibling of quantizer.VectorQuantizer, with
the same interface (forward → (quantized, indices, loss), indices, lookup, codebook, usage, perplexity,
dead_codes), so the VQ-VAE and the codebook lab take either."""

import math

import torch
import torch.nn as nn

from .quantizer import UsageStats, all_reduce


def fsq_levels(num_codes: int) -> tuple[int, ...]:
    """Levels whose product is K (a power of two): 3 dimensions up to 512 codes, 4 up to 4096, bits shared evenly
    (512 → 8·8·8, 1024 → 8·8·4·4, 64 → 4·4·4), as in the FSQ paper's small configurations."""
    bits = int(num_codes).bit_length() - 1
    if num_codes < 8 or 1 << bits != num_codes or bits > 16:
        raise ValueError(f"FSQ needs K a power of two between 8 and 65536, not {num_codes}")
    dims = 3 if bits <= 9 else 4 if bits <= 12 else 5
    base, extra = divmod(bits, dims)
    return tuple([2 ** (base + 1)] * extra + [2 ** base] * (dims - extra))


class FSQ(UsageStats, nn.Module):
    """Finite scalar quantization (Mentzer et al. 2023): project the encoder output to len(levels) numbers, squash
    each with tanh to its range and round it to one of its levels (straight-through). The codes are all the level
    combinations: nothing to learn but the two projections, no codebook or commitment loss, and no code can be
    left behind by the others' updates. Same interface as VectorQuantizer (forward, indices, lookup, codebook,
    usage, perplexity, dead_codes)."""

    def __init__(self, code_dim: int, levels: tuple[int, ...], dead_after: int = 20):
        super().__init__()
        self.levels, self.num_codes, self.code_dim = tuple(levels), math.prod(levels), code_dim
        self.dead_after = dead_after
        self.project_in = nn.Linear(code_dim, len(levels))
        self.project_out = nn.Linear(len(levels), code_dim)
        L = torch.tensor(levels, dtype=torch.float32)
        self.register_buffer("_levels", L, persistent=False)
        self.register_buffer("_basis", torch.cumprod(torch.tensor([1, *levels[:-1]]), 0), persistent=False)
        self.register_buffer("unused_steps", torch.zeros(self.num_codes, dtype=torch.long))
        self.register_buffer("usage", torch.zeros(self.num_codes))

    def bound(self, h: torch.Tensor) -> torch.Tensor:
        """(N, D) projections squashed into each dimension's range, before rounding: the level each is rounded
        to is its nearest integer in [-(L//2), (L-1)//2]."""
        half = (self._levels - 1) * (1 + 1e-3) / 2
        offset = (self._levels % 2 == 0).float() * 0.5      # even L: levels −L/2 … L/2 − 1
        return torch.tanh(h + torch.atanh(offset / half)) * half - offset

    def _round(self, h: torch.Tensor) -> torch.Tensor:
        """(N, D) projections → integer levels per dimension, rounded straight-through."""
        bounded = self.bound(h)
        return bounded + (bounded.round() - bounded).detach()

    def levels_to_indices(self, levels: torch.Tensor) -> torch.Tensor:
        """(..., D) integer levels per dimension → the codes' indices (...): what the quantization panel asks of a
        cell whose nearest dimension flips to its next level."""
        levels = levels.to(self._basis.device)
        return ((levels.round() + self._levels // 2) * self._basis).sum(-1).long()

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        digits = (idx.long()[..., None] // self._basis) % self._levels.long()
        return self.project_out((digits - self._levels // 2) / (self._levels // 2))

    def indices(self, flat: torch.Tensor) -> torch.Tensor:
        return self.levels_to_indices(self._round(self.project_in(flat)))

    @property
    def codebook(self) -> torch.Tensor:
        """Every code's vector (K, d), as the decoder receives it: for views and decoding, not learned directly."""
        with torch.no_grad():
            return self.lookup(torch.arange(self.num_codes, device=self._basis.device))

    def forward(self, z: torch.Tensor):
        with torch.autocast(z.device.type, enabled=False):   # float32, as VectorQuantizer
            return self._quantize(z.float())

    def _quantize(self, z: torch.Tensor):
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        levels = self._round(self.project_in(flat))
        idx = self.levels_to_indices(levels.detach())
        q = self.project_out(levels / (self._levels // 2)).view(b, h, w, d).permute(0, 3, 1, 2)
        if self.training:
            with torch.no_grad():
                counts = all_reduce(torch.bincount(idx, minlength=self.num_codes).float())
                self.usage.copy_(counts)
                self.unused_steps.add_(1).masked_fill_(counts > 0, 0)
        return q, idx.view(b, h, w), z.new_zeros(())

