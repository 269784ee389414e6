"""Vector quantizer: nearest code, straight-through (or rotation-trick) gradients, codebook/commitment losses or
EMA updates, data-dependent initialisation and dead-code restart. Its codebook-free sibling, finite scalar
quantization, is in fsq.py with the same interface.

Everything that changes the codebook outside of the optimizer (EMA, init, restart) is made identical across
DistributedDataParallel ranks: statistics are all-reduced and re-seeded codes are broadcast from rank 0.
"""


import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from .metrics import perplexity


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce(t: torch.Tensor) -> torch.Tensor:
    """Sums `t` over torchrun's processes in place (a no-op in one process): usage and EMA sums are global."""
    if _distributed():
        dist.all_reduce(t)
    return t


def _broadcast(t: torch.Tensor) -> torch.Tensor:
    if _distributed():
        dist.broadcast(t, src=0)
    return t


def code_scores(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """(N, K) scores whose argmin over K is each row's nearest code: ||z - e||² less ||z||².

    ||z - e||² = ||z||² - 2 z·e + ||e||²: one (N, K) matrix product, never an (N, K, d) tensor.
    ||z||² is the same for every code, so it does not change the argmin and is left out.
    """
    return codebook.pow(2).sum(1) - 2 * z @ codebook.t()


def nearest_code(z: torch.Tensor, codebook: torch.Tensor) -> torch.Tensor:
    """Index of the nearest code for each row of z (N, d); of equally near codes, the lowest index."""
    return code_scores(z, codebook).argmin(1)


def kmeans_plus_plus(x: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """k-means++ seeding: each new centre drawn with probability proportional to its squared distance."""
    n = x.shape[0]
    centres = torch.empty(k, x.shape[1], dtype=x.dtype, device=x.device)
    centres[0] = x[torch.randint(n, (1,), generator=generator, device=x.device)]
    d2 = (x - centres[0]).pow(2).sum(1)
    for i in range(1, k):
        if d2.sum() <= 0:  # fewer distinct vectors than codes: fall back to random rows
            pick = torch.randint(n, (1,), generator=generator, device=x.device)
        else:
            pick = torch.multinomial(d2, 1, generator=generator)
        centres[i] = x[pick]
        d2 = torch.minimum(d2, (x - centres[i]).pow(2).sum(1))
    return centres


class UsageStats:
    """What both quantizers report from the `usage` and `unused_steps` they keep."""

    def perplexity(self, counts: torch.Tensor | None = None) -> float:
        """exp(entropy) of the code distribution: K when all codes are used evenly, 1 when one code wins."""
        return perplexity(self.usage if counts is None else counts)

    def dead_codes(self) -> int:
        return int((self.unused_steps >= self.dead_after).sum())


class VectorQuantizer(UsageStats, nn.Module):
    """Maps z (B, d, h, w) to its nearest codes; returns (quantized, indices, loss).

    Usage of the last training step is kept in `usage` (counts per code); `perplexity()` and `dead_codes()`
    read it. Codes unused for `dead_after` steps count as dead and, with `restart_dead`, are re-seeded.
    """

    def __init__(self, num_codes=256, code_dim=32, beta=0.25, ema=True, ema_decay=0.99, ema_eps=1e-5,
                 init="kmeans++", dead_after=20, restart_dead=True, gradient="ste"):
        super().__init__()
        if init not in ("kmeans++", "random", "none"):
            raise ValueError(f"init must be 'kmeans++', 'random' or 'none', not {init!r}")
        if gradient not in ("ste", "rotation"):
            raise ValueError(f"gradient must be 'ste' or 'rotation', not {gradient!r}")
        self.gradient = gradient
        self.num_codes, self.code_dim, self.beta = num_codes, code_dim, beta
        self.ema, self.ema_decay, self.ema_eps = ema, ema_decay, ema_eps
        self.init, self.dead_after, self.restart_dead = init, dead_after, restart_dead
        # With EMA the codebook is a plain state that the optimizer never touches.
        self.codebook = nn.Parameter(torch.randn(num_codes, code_dim) * 0.1, requires_grad=not ema)
        self.register_buffer("ema_count", torch.ones(num_codes))
        self.register_buffer("ema_sum", self.codebook.detach().clone())
        self.register_buffer("initialised", torch.tensor(init == "none"))
        self.register_buffer("unused_steps", torch.zeros(num_codes, dtype=torch.long))
        self.register_buffer("usage", torch.zeros(num_codes))


    # -- forward -------------------------------------------------------------------------------------------
    def forward(self, z: torch.Tensor):
        """Always in float32, under autocast too: bf16's 8-bit mantissa would blur which code is nearest and
        round the EMA sums (and index_add_ refuses mixed dtypes)."""
        with torch.autocast(z.device.type, enabled=False):
            return self._quantize(z.float())

    def _quantize(self, z: torch.Tensor):
        b, d, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, d)
        if self.training and not bool(self.initialised):
            self._init_from(flat.detach())
        idx = nearest_code(flat.detach(), self.codebook.detach())
        q = F.embedding(idx, self.codebook).view(b, h, w, d).permute(0, 3, 1, 2)

        commitment = F.mse_loss(z, q.detach())
        if self.ema:
            loss = self.beta * commitment
        else:
            loss = F.mse_loss(q, z.detach()) + self.beta * commitment
        if self.training:
            self._update(flat.detach(), idx)
        if self.gradient == "rotation":
            q_flat = q.permute(0, 2, 3, 1).reshape(-1, d)
            q_st = rotation_trick(flat, q_flat).view(b, h, w, d).permute(0, 3, 1, 2)
        else:   # straight-through: the value is q, the gradient flows to z as if quantization were identity
            q_st = z + (q - z).detach()
        return q_st, idx.view(b, h, w), loss

    def indices(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, d) encoder outputs → (N,) codes."""
        return nearest_code(flat, self.codebook.detach())

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """Codes (any shape) → their vectors (…, d)."""
        return F.embedding(idx.long(), self.codebook.detach())

    # -- codebook maintenance (training only, no gradients) ------------------------------------------------
    @torch.no_grad()
    def _init_from(self, flat: torch.Tensor):
        if not _distributed() or dist.get_rank() == 0:
            if self.init == "kmeans++":
                sub = flat[torch.randperm(flat.shape[0], device=flat.device)[:20000]]
                codes = kmeans_plus_plus(sub, self.num_codes)
            else:
                codes = flat[torch.randint(flat.shape[0], (self.num_codes,), device=flat.device)]
            self.codebook.data.copy_(codes)
        _broadcast(self.codebook.data)
        self.ema_sum.copy_(self.codebook.data)
        self.ema_count.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def _update(self, flat: torch.Tensor, idx: torch.Tensor):
        counts = all_reduce(torch.bincount(idx, minlength=self.num_codes).float())
        self.usage.copy_(counts)
        if self.ema:
            sums = all_reduce(torch.zeros_like(self.ema_sum).index_add_(0, idx, flat))
            self.ema_count.mul_(self.ema_decay).add_(counts, alpha=1 - self.ema_decay)
            self.ema_sum.mul_(self.ema_decay).add_(sums, alpha=1 - self.ema_decay)
            n = self.ema_count.sum()
            size = (self.ema_count + self.ema_eps) / (n + self.num_codes * self.ema_eps) * n
            self.codebook.data.copy_(self.ema_sum / size[:, None])
        self.unused_steps.add_(1).masked_fill_(counts > 0, 0)
        if self.restart_dead:
            self._restart(flat)

    @torch.no_grad()
    def _restart(self, flat: torch.Tensor):
        dead = self.unused_steps >= self.dead_after
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        # Rank 0 picks the new codes from its batch; every rank receives the same ones.
        new = flat[torch.randint(flat.shape[0], (n_dead,), device=flat.device)]
        new = _broadcast(new + 0.01 * new.std() * torch.randn_like(new))
        self.codebook.data[dead] = new
        self.ema_sum[dead] = new
        self.ema_count[dead] = 1.0
        self.unused_steps[dead] = 0


def rotation_trick(e: torch.Tensor, q: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Fifty et al. 2024: hand the decoder λ·R·e, where R rotates e's direction onto q's and λ = |q|/|e|, both held
    constant. The value is q; the encoder's gradient is the decoder's rotated back and rescaled, so where e sits
    relative to its code (angle, length) shapes the update, which the straight-through copy ignores.
    e, q: (N, d). R·e = e − 2w(wᵀe) + 2v(uᵀe), u = e/|e|, v = q/|q|, w = (u + v)/|u + v|."""
    with torch.no_grad():
        e_norm = e.norm(dim=1, keepdim=True).clamp_min(eps)
        q_norm = q.norm(dim=1, keepdim=True).clamp_min(eps)
        u, v = e / e_norm, q / q_norm
        w = F.normalize(u + v, dim=1, eps=eps)
        lam = q_norm / e_norm
    out = lam * (e - 2 * w * (w * e).sum(1, keepdim=True) + 2 * v * (u * e).sum(1, keepdim=True))
    return out + (q - out).detach()     # exactly q forward (float error aside), the rotated gradient backward
