"""Fully convolutional VQ-VAE: encoder → vector quantizer → decoder. No flatten, no linear layer, so any
image size works; sizes not divisible by the downsampling factor are padded and cropped back."""

import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import VQVAEConfig
from .fsq import FSQ
from .quantizer import VectorQuantizer


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, ch, 1))

    def forward(self, x):
        return x + self.net(x)


def _steps(downsample: int) -> int:
    steps = int(math.log2(downsample)) if downsample >= 1 else -1
    if steps < 0 or 2 ** steps != downsample:
        raise ValueError(f"downsample must be a power of two (1, 2, 4, 8, ...), not {downsample}")
    return steps


def _widths(cfg: VQVAEConfig) -> list[int]:
    """Trunk width at each resolution, from the image down to the grid: half as wide per doubling of the
    side (at least 16), so the expensive full-resolution layers stay cheap."""
    steps = _steps(cfg.downsample)
    return [max(16, cfg.channels >> (steps - i)) for i in range(steps)] + [cfg.channels]


class Encoder(nn.Module):
    """Stride-2 4×4 convs halve the side (the VQ-VAE paper's encoder); residual blocks work on the grid."""

    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        widths = _widths(cfg)
        layers, c_in = [], cfg.in_channels
        for w in widths[1:]:
            layers += [nn.Conv2d(c_in, w, 4, stride=2, padding=1), nn.ReLU()]
            c_in = w
        layers += [nn.Conv2d(c_in, cfg.channels, 3, padding=1)]
        layers += [ResBlock(cfg.channels) for _ in range(cfg.res_blocks)]
        layers += [nn.ReLU(), nn.Conv2d(cfg.channels, cfg.code_dim, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class Decoder(nn.Module):
    """Mirror of the encoder with transposed convs; outputs unbounded values, clamped only when shown."""

    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        widths = _widths(cfg)[::-1]
        layers = [nn.Conv2d(cfg.code_dim, cfg.channels, 3, padding=1)]
        layers += [ResBlock(cfg.channels) for _ in range(cfg.res_blocks)]
        for i, w in enumerate(widths[:-1]):
            c_out = widths[i + 1] if i + 2 < len(widths) else cfg.in_channels
            layers += [nn.ReLU(), nn.ConvTranspose2d(w, c_out, 4, stride=2, padding=1)]
        if len(widths) == 1:  # downsample 1: no upsampling, a plain output conv
            layers += [nn.ReLU(), nn.Conv2d(cfg.channels, cfg.in_channels, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, z):
        return self.net(z)


class VQVAEOutput(NamedTuple):
    recon: torch.Tensor        # (B, C, H, W), unclamped
    indices: torch.Tensor      # (B, h, w) int64
    recon_loss: torch.Tensor   # MSE against the input
    vq_loss: torch.Tensor      # codebook (unless EMA) + β · commitment
    loss: torch.Tensor         # recon_loss + vq_loss, what training minimises


def build_quantizer(cfg: VQVAEConfig):
    if cfg.fsq_levels:
        return FSQ(cfg.code_dim, tuple(cfg.fsq_levels), cfg.dead_after)
    return VectorQuantizer(num_codes=cfg.num_codes, code_dim=cfg.code_dim, beta=cfg.beta, ema=cfg.ema,
                           ema_decay=cfg.ema_decay, ema_eps=cfg.ema_eps, init=cfg.init, dead_after=cfg.dead_after,
                           restart_dead=cfg.restart_dead, gradient=cfg.gradient)


class GridCodes:
    """What every image tokenizer here shares (this VQ-VAE, and those made elsewhere in models.tokenizer): a grid
    of the image's size divided by `cfg.downsample`, rounded up, with the image padded to fill it, and codes
    picked by the `quantizer` from the encoder's latents."""

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        f = self.cfg.downsample
        return math.ceil(height / f), math.ceil(width / f)

    def _pad(self, x):
        h, w = self.grid_size(*x.shape[-2:])
        f = self.cfg.downsample
        pad_h, pad_w = h * f - x.shape[-2], w * f - x.shape[-1]
        return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else x

    def codes(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, d, h, w) → code indices (B, h, w)."""
        z = z.permute(0, 2, 3, 1)
        return self.quantizer.indices(z.reshape(-1, z.shape[-1])).view(z.shape[:3])


class VQVAE(GridCodes, nn.Module):
    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = build_quantizer(cfg)
        self.decoder = Decoder(cfg)

    def encode_continuous(self, x):
        """z_e: encoder output (B, d, h, w) for x in [0, 1]; centring at 0 keeps the first layers balanced."""
        return self.encoder(self._pad(x) - 0.5)

    def decode_latent(self, z, size: tuple[int, int] | None = None):
        out = self.decoder(z).float() + 0.5   # float32 even under autocast: the loss and the pixels need it
        return out[..., : size[0], : size[1]] if size is not None else out

    def forward(self, x) -> VQVAEOutput:
        z = self.encode_continuous(x)
        q, idx, vq_loss = self.quantizer(z)
        recon = self.decode_latent(q, x.shape[-2:])
        recon_loss = F.mse_loss(recon, x.float())
        return VQVAEOutput(recon, idx, recon_loss, vq_loss, recon_loss + vq_loss)

    @torch.no_grad()
    def encode(self, x) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] → code indices (B, h, w)."""
        return self.codes(self.encode_continuous(x))

    @torch.no_grad()
    def decode(self, indices, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Code indices (B, h, w) → images in [0, 1], cropped to `size` when given."""
        q = self.quantizer.lookup(indices).permute(0, 3, 1, 2)
        return self.decode_latent(q, size).clamp(0, 1)
