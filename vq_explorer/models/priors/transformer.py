"""A GPT-style prior: the code grid read in raster order as a sequence, each code predicted from those before it
(the first DALL-E's recipe, small). Read next to nanoGPT's model.py: the same pre-LayerNorm blocks.

The input at position t is the code of cell t − 1 (a start token at t = 0) plus the learned row and column
embeddings of cell t, the cell being predicted — so the grid's 2-D layout is known without being inferred from
a flat index — plus a class embedding (the last entry means "no class", so one model samples both ways).
Causal self-attention makes position t see positions 0..t, i.e. the codes of cells 0..t − 1.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import TransformerConfig
from .autoregressive import AutoregressivePrior
from .embedding import GridInputs


class SelfAttention(nn.Module):
    def __init__(self, cfg, causal: bool = True):
        super().__init__()
        self.heads, self.causal = cfg.heads, causal
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim)
        self.proj = nn.Linear(cfg.dim, cfg.dim)

    def split(self, x):
        """(B, T, 3·dim) → q, k, v of shape (B, heads, T, dim / heads)."""
        B, T, _ = x.shape
        return x.view(B, T, 3, self.heads, -1).permute(2, 0, 3, 1, 4)

    def forward(self, x, cache=None, t: int = 0):
        """The whole sequence (with a causal mask unless built without); or, with `cache` (keys, values)
        preallocated for every position, the one position t: its key and value are stored, and it attends to
        positions 0..t."""
        q, k, v = self.split(self.qkv(x))
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        else:
            keys, values = cache
            keys[:, :, t:t + 1], values[:, :, t:t + 1] = k, v
            y = F.scaled_dot_product_attention(q, keys[:, :, :t + 1], values[:, :, :t + 1])
        return self.proj(y.transpose(1, 2).flatten(2))


class Block(nn.Module):
    """Pre-LayerNorm: x + attention(LN(x)), then x + MLP(LN(x)). Any config with `dim` and `heads`."""

    def __init__(self, cfg, causal: bool = True):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.dim), nn.LayerNorm(cfg.dim)
        self.attn = SelfAttention(cfg, causal)
        self.mlp = nn.Sequential(nn.Linear(cfg.dim, 4 * cfg.dim), nn.GELU(), nn.Linear(4 * cfg.dim, cfg.dim))

    def forward(self, x, cache=None, t: int = 0):
        x = x + self.attn(self.ln1(x), cache, t)
        return x + self.mlp(self.ln2(x))


def gpt2_init(model: nn.Module, layers: int):
    """GPT-2's initialisation: N(0, 0.02) weights, zero biases, residual projections scaled down by depth."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
    for name, p in model.named_parameters():
        if name.endswith(("proj.weight", "mlp.2.weight")):
            nn.init.normal_(p, std=0.02 / math.sqrt(2 * layers))


class GridTransformer(GridInputs, AutoregressivePrior):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        if cfg.dim % cfg.heads:
            raise ValueError(f"dim ({cfg.dim}) must be divisible by heads ({cfg.heads})")
        self.cfg = cfg
        self._grid_embeddings(cfg)                                      # index K: the start token
        # Optionally the class again before every block, as the PixelCNN adds its class bias in every layer.
        self.cls_blocks = nn.ModuleList(nn.Embedding(cfg.num_classes + 1, cfg.dim) for _ in range(cfg.layers)) \
            if cfg.num_classes and cfg.class_per_block else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.num_codes, bias=False)
        gpt2_init(self, cfg.layers)

    def _context(self, shape, labels, batch: int, device):
        """What every position adds besides its input code: row + column of the predicted cell, class; and
        what each block adds to every position (its class embedding, or nothing)."""
        ctx, cls = self.positions(shape, device), self.class_vector(labels, batch, device)
        if cls is None:
            return ctx, [0] * len(self.blocks)
        cond = self.class_ids(labels, batch, device)
        per_block = [e(cond)[:, None] for e in self.cls_blocks] if self.cls_blocks is not None else \
            [0] * len(self.blocks)
        return ctx + cls, per_block

    def forward_embedded(self, e, labels=None):
        """Logits (B, K, h, w) from the codes' embeddings e (B, dim, h, w): lets tests differentiate."""
        B, _, h, w = e.shape
        self.check_shape((h, w))
        ctx, per_block = self._context((h, w), labels, B, e.device)
        x = self.shifted(e) + ctx                                         # position t holds cell t − 1
        for block, c in zip(self.blocks, per_block, strict=True):
            x = block(x + c)
        return self.head(self.ln(x)).transpose(1, 2).reshape(B, -1, h, w)

    def forward(self, idx, labels=None):
        """Logits (B, K, h, w): cell (r, c) depends only on cells before it in raster order."""
        return self.forward_embedded(self.embed(idx.long()).permute(0, 3, 1, 2), labels)

    def cached_sampler(self, n: int, shape, labels=None) -> "KVCache":
        return KVCache(self, n, shape, labels)


class KVCache:
    """Exact incremental evaluation during raster-order sampling: each block keeps the keys and values of the
    positions already seen, so a new cell costs one position's pass through each block (attention over the
    cached ones) instead of a forward pass over the whole grid."""

    def __init__(self, net: GridTransformer, n: int, shape, labels=None):
        net.check_shape(shape)
        self.net, (self.h, self.w) = net, shape
        dev = next(net.parameters()).device
        T, heads = self.h * self.w, net.cfg.heads
        context, self.per_block = net._context(shape, labels, n, dev)
        self.context = context.expand(n, T, -1)
        self.kv = [tuple(torch.zeros(n, heads, T, net.cfg.dim // heads, device=dev) for _ in "kv")
                   for _ in net.blocks]

    def logits(self, grid, r, c):
        """Logits (n, K) at (r, c); `grid` must hold every cell before (r, c), and calls come in raster order."""
        t = r * self.w + c
        net = self.net
        x = (net.previous(grid, t) + self.context[:, t])[:, None]                      # (n, 1, dim)
        for block, c, cache in zip(net.blocks, self.per_block, self.kv, strict=True):
            x = block(x + c, cache, t)
        return net.head(net.ln(x))[:, 0]
