"""Gated PixelCNN prior over code grids (van den Oord et al. 2016, "Conditional Image Generation with
PixelCNN Decoders").

Two stacks make the receptive field causal without a blind spot:
- the vertical stack sees every row strictly above the current cell, as wide as the kernels reach;
- the horizontal stack sees the cells to the left in the current row, and receives the vertical stack.
Causality comes from shifting, not from masking weights: the code embedding is shifted down one row before
the vertical stack and right one column before the horizontal stack, and every conv afterwards is padded so
that it only looks up (vertical) or left (horizontal), including its own position.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..config import PriorConfig
from .autoregressive import AutoregressivePrior


def shift_down(x):
    return F.pad(x, (0, 0, 1, 0))[..., :-1, :]


def shift_right(x):
    return F.pad(x, (1, 0, 0, 0))[..., :-1]


class GatedLayer(nn.Module):
    """One gated layer: tanh(a) · sigmoid(b) on both stacks, vertical → horizontal link, residual and skip."""

    def __init__(self, ch: int, kernel: int, num_classes: int):
        super().__init__()
        self.k = kernel // 2
        self.v_conv = nn.Conv2d(ch, 2 * ch, (self.k + 1, kernel))     # rows i-k..i, columns j-k..j+k
        self.h_conv = nn.Conv2d(ch, 2 * ch, (1, self.k + 1))          # row i, columns j-k..j
        self.v_to_h = nn.Conv2d(2 * ch, 2 * ch, 1)
        self.h_out = nn.Conv2d(ch, ch, 1)
        self.skip = nn.Conv2d(ch, ch, 1)
        # Index num_classes is "no class", so a conditional prior can also sample and score unconditionally.
        self.cond = nn.Embedding(num_classes + 1, 2 * ch) if num_classes else None

    @staticmethod
    def gate(x):
        a, b = x.chunk(2, dim=1)
        return torch.tanh(a) * torch.sigmoid(b)

    def forward(self, v, h, cond_bias=None):
        k = self.k
        v_pre = self.v_conv(F.pad(v, (k, k, k, 0)))
        h_pre = self.h_conv(F.pad(h, (k, 0, 0, 0))) + self.v_to_h(v_pre)
        if self.cond is not None and cond_bias is not None:
            bias = self.cond(cond_bias)[:, :, None, None]
            v_pre, h_pre = v_pre + bias, h_pre + bias
        v_out = self.gate(v_pre)
        gated = self.gate(h_pre)
        return v_out, h + self.h_out(gated), self.skip(gated)


class GatedPixelCNN(AutoregressivePrior):
    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.cfg = cfg
        ch = cfg.channels
        self.embed = nn.Embedding(cfg.num_codes, ch)
        self.layers = nn.ModuleList(GatedLayer(ch, cfg.kernel, cfg.num_classes) for _ in range(cfg.layers))
        self.head = nn.Sequential(nn.ReLU(), nn.Conv2d(ch, ch, 1), nn.ReLU(), nn.Conv2d(ch, cfg.num_codes, 1))

    def forward_embedded(self, e, labels=None):
        """Logits (B, K, h, w) from a continuous embedding e (B, ch, h, w): lets tests differentiate."""
        cond = self.class_ids(labels, e.shape[0], e.device)
        v, h = shift_down(e), shift_right(e)
        skip = 0
        for layer in self.layers:
            v, h, s = layer(v, h, cond)
            skip = skip + s
        return self.head(skip + h)

    def forward(self, idx, labels=None):
        """Logits (B, K, h, w): cell (r, c) depends only on cells before it in raster order."""
        return self.forward_embedded(self.embed(idx.long()).permute(0, 3, 1, 2), labels)

    def cached_sampler(self, n: int, shape, labels=None) -> "CachedSampler":
        return CachedSampler(self, n, shape, labels)


class CachedSampler:
    """Exact incremental evaluation of a GatedPixelCNN during raster-order sampling (after Ramachandran et al.
    2017, "Fast Generation for Convolutional Autoregressive Models").

    The vertical stack at row r sees only rows above r, so it is computed once per row, when the row starts,
    from the cached rows of the layer below. The horizontal stack at (r, c) needs only its own row's cells to the
    left, so each new cell costs two small matrix products per layer instead of a whole forward pass.
    """

    def __init__(self, net: GatedPixelCNN, n: int, shape, labels=None):
        self.net, (self.h, self.w) = net, shape
        ch, L, k = net.cfg.channels, len(net.layers), net.cfg.kernel // 2
        dev = next(net.parameters()).device
        self.k = k
        cond = net.class_ids(labels, n, dev)
        self.bias = [layer.cond(cond) if layer.cond is not None else None for layer in net.layers]
        # Per layer, the horizontal conv as one matrix over a (k+1)-cell window laid out (position, channel),
        # and the two 1×1 convs after the gate (residual and skip) stacked into one.
        self.w_h = [layer.h_conv.weight[:, :, 0].permute(0, 2, 1).reshape(2 * ch, -1) for layer in net.layers]
        self.w_out = [torch.cat([layer.h_out.weight, layer.skip.weight])[:, :, 0, 0] for layer in net.layers]
        self.b_out = [torch.cat([layer.h_out.bias, layer.skip.bias]) for layer in net.layers]
        # v_in[i]: the input of layer i's vertical stack (v_in[0] = the embedding shifted down one row).
        self.v_in = [torch.zeros(n, ch, self.h, self.w, device=dev) for _ in range(L + 1)]
        # h_row[i]: this row's input to layer i's horizontal stack, (n, k + w, ch) with k zero cells on the
        # left; h_row[0] is the row's embedding shifted right one cell, filled in as cells are drawn.
        self.h_row = [torch.zeros(n, k + self.w, ch, device=dev) for _ in range(L + 1)]
        self.row_bias = [None] * L   # per layer: the vertical stack's contribution + biases, (n, w, 2ch)
        # Views into the row buffers, cell by cell, made once (the buffers are zeroed in place, never replaced):
        # each cell then runs only its arithmetic, without slicing (see `logits`).
        self._windows = [[h[:, c: c + k + 1].flatten(1) for c in range(self.w)] for h in self.h_row]
        self._cells = [[h[:, k + c] for c in range(self.w)] for h in self.h_row]
        self._row_bias = [None] * L   # row_bias[i] cell by cell
        # One layer's two matrix products write here (F.linear's own kernels: mm, and addmm with the bias).
        self._pre, self._post = torch.zeros(n, 2 * ch, device=dev), torch.zeros(n, 2 * ch, device=dev)
        self._gate_in, self._post_out = self._pre.chunk(2, dim=1), self._post.chunk(2, dim=1)
        self._w_h_t = [w.t() for w in self.w_h]
        self._w_out_t = [w.t() for w in self.w_out]
        head = net.head
        self._head = (head[1].weight, head[1].bias, head[3].weight, head[3].bias)

    def _start_row(self, grid, r):
        k = self.k
        if r > 0:
            self.v_in[0][:, :, r] = self.net.embed(grid[:, r - 1].clamp_min(0)).permute(0, 2, 1)
        for i, layer in enumerate(self.net.layers):
            rows = self.v_in[i][:, :, max(0, r - k): r + 1]
            slab = F.pad(rows, (k, k, k + 1 - rows.shape[2], 0))                   # zeros above row 0
            v_pre = layer.v_conv(slab)                                              # (n, 2ch, 1, w)
            bias = layer.v_to_h(v_pre)[:, :, 0].transpose(1, 2) + layer.h_conv.bias
            if self.bias[i] is not None:
                v_pre = v_pre + self.bias[i][:, :, None, None]
                bias = bias + self.bias[i][:, None]
            self.row_bias[i] = bias
            self._row_bias[i] = bias.unbind(1)
            self.v_in[i + 1][:, :, r] = layer.gate(v_pre)[:, :, 0]
        for h in self.h_row:
            h.zero_()

    def logits(self, grid, r, c):
        """Logits (n, K) at (r, c); `grid` must hold every cell before (r, c).

        The same kernels on the same values, in the same order, as this step has always run (F.linear's mm and
        addmm, the gate's tanh and sigmoid, the residual and skip sums, the head's 1×1 convs): files written by
        the entropy coder depend on these logits being bit-identical from one version to the next
        (tests/test_codec_fixtures.py), so only the Python around them is trimmed — views made once, results
        written straight into the row buffers, no module calls.
        """
        if c == 0:
            self._start_row(grid, r)
        else:
            torch.index_select(self.net.embed.weight, 0, grid[:, r, c - 1].clamp_min(0), out=self._cells[0][c])
        skip = None
        cells, pre, post, (a, b), (out, s) = self._cells, self._pre, self._post, self._gate_in, self._post_out
        for i in range(len(self.w_h)):
            torch.mm(self._windows[i][c], self._w_h_t[i], out=pre)                 # cells c-k..c
            pre.add_(self._row_bias[i][c])
            torch.addmm(self.b_out[i], torch.tanh(a).mul_(torch.sigmoid(b)), self._w_out_t[i], out=post)
            torch.add(cells[i][c], out, out=cells[i + 1][c])
            skip = s + 0 if skip is None else skip.add_(s)
        w1, b1, w2, b2 = self._head
        x = F.relu(torch.add(skip, cells[-1][c])[:, :, None, None])
        return F.conv2d(F.relu(F.conv2d(x, w1, b1)), w2, b2)[:, :, 0, 0]
