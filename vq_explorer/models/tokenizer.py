"""VQ tokenizers made elsewhere, behind the interface the app uses of its own VQ-VAE.

The app and the service layer hold a `VQModel`, whose `vqvae` encodes images to code grids, decodes any grid,
and shows its codebook (`quantizer.codebook`, `quantizer.indices`, `quantizer.lookup`) and its encoder's output
before quantization (`encode_continuous`: the quantization panel's distances). A diffusers `VQModel` and any
PyTorch model wrapped with `vqe.wrap` implement the same few methods here, so nothing above the models knows
which kind it holds. Codes are always the tokenizer's own: a diffusers model's grid is what its own quantizer
picks, and decoding goes through its own decoder (MoVQ's spatially-normalised one is given the quantized latents
too, as diffusers does).
"""

from types import SimpleNamespace

import torch
import torch.nn as nn
import torch.nn.functional as F

from .quantizer import nearest_code
from .vqvae import GridCodes


class Codebook(nn.Module):
    """The part of a quantizer the app reads: the K × d vectors, nearest codes, and codes back to vectors."""

    def __init__(self, vectors: torch.Tensor, nearest=None):
        super().__init__()
        if isinstance(vectors, nn.Parameter):
            self.vectors = vectors    # the tokenizer's own weights, shared
        else:
            self.register_buffer("vectors", vectors.detach().clone(), persistent=False)
        self._nearest = nearest
        self.num_codes, self.code_dim = vectors.shape

    @property
    def codebook(self) -> torch.Tensor:
        return self.vectors

    def indices(self, flat: torch.Tensor) -> torch.Tensor:
        """(N, d) encoder outputs → (N,) codes, by the tokenizer's own rule where it has one."""
        if self._nearest is not None:
            return self._nearest(flat)
        return nearest_code(flat, self.vectors.detach().to(flat.dtype))

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(idx.long(), self.vectors.detach())


class Tokenizer(GridCodes, nn.Module):
    """What every tokenizer gives the app. Subclasses set `quantizer` (a Codebook), `cfg.downsample` and
    implement `encode_continuous` (images in [0, 1], padded to a multiple of the factor → (B, d, h, w)) and
    `decode_codes` (codes (B, h, w) → images in [0, 1])."""

    kind = "python"
    channels_last = False     # computed as the tokenizer's own code computes it (VQModel reads this)

    @torch.no_grad()
    def encode(self, x) -> torch.Tensor:
        return self.codes(self.encode_continuous(x).float())

    @torch.no_grad()
    def decode(self, indices, size: tuple[int, int] | None = None) -> torch.Tensor:
        out = self.decode_codes(indices.long()).float().clamp(0, 1)
        return out[..., : size[0], : size[1]] if size is not None else out


class DiffusersTokenizer(Tokenizer):
    """A diffusers `VQModel` (the latent-diffusion VQ-f4/f8 tokenizers, amused's VQGAN, Kandinsky's MoVQ). It
    takes images in [−1, 1]; its quantizer picks codes by Euclidean distance (`torch.cdist`), and its decoder is
    run on the codebook vectors exactly as `VQModel.decode(..., force_not_quantize=True)` runs it."""

    kind = "diffusers"

    def __init__(self, vq):
        super().__init__()
        self.vq = vq.eval()
        c = vq.config
        self.quantizer = Codebook(vq.quantize.embedding.weight, nearest=self._nearest)
        self.cfg = SimpleNamespace(downsample=2 ** (len(c.block_out_channels) - 1), in_channels=c.in_channels,
                                   num_codes=c.num_vq_embeddings, code_dim=self.quantizer.code_dim)

    def _nearest(self, flat: torch.Tensor) -> torch.Tensor:
        # diffusers' own rule (VectorQuantizer.forward): the argmin of torch.cdist over the codebook
        weight = self.vq.quantize.embedding.weight
        return torch.argmin(torch.cdist(flat.to(weight.dtype), weight), dim=1)

    def encode_continuous(self, x):
        return self.vq.encode(self._pad(x).to(self.vq.dtype) * 2 - 1).latents

    @torch.no_grad()
    def encode(self, x) -> torch.Tensor:
        """The codes diffusers' own quantizer returns for the encoder's latents."""
        h = self.encode_continuous(x)
        _, _, (_, _, idx) = self.vq.quantize(h)
        return idx.reshape(h.shape[0], h.shape[2], h.shape[3])

    def decode_codes(self, idx):
        b, h, w = idx.shape
        shape = (b, h, w, self.quantizer.code_dim)
        if self.vq.config.get("lookup_from_codebook", False):       # its decode reads codes itself
            out = self.vq.decode(idx.reshape(-1), force_not_quantize=True, shape=shape).sample
        else:
            quant = self.vq.quantize.get_codebook_entry(idx.reshape(-1), shape)
            out = self.vq.decode(quant, force_not_quantize=True).sample
        return (out.float() + 1) / 2


class WrappedTokenizer(Tokenizer):
    """Any PyTorch VQ model, from its functions: `encode(x)` → the continuous latents (B, d, h, w) or the codes
    (B, h, w), `decode(codes)` → images, `codebook` (K, d). `value_range` is what the model's images span
    ((0, 1) or (−1, 1)); the modules given are held so that `.to(device)` moves them."""

    windowed = False   # its decode is code of its own: a stroke decodes the whole grid (models.receptive)

    def __init__(self, encode, decode, codebook, downsample: int, channels: int = 3, value_range=(0.0, 1.0),
                 nearest=None, modules=()):
        super().__init__()
        self._encode, self._decode = encode, decode
        self.held = nn.ModuleList([m for m in modules if isinstance(m, nn.Module)])
        vectors = codebook if isinstance(codebook, torch.Tensor) else torch.as_tensor(codebook)
        self.quantizer = Codebook(vectors, nearest)
        self.lo, self.hi = map(float, value_range)
        self.cfg = SimpleNamespace(downsample=int(downsample), in_channels=int(channels),
                                   num_codes=self.quantizer.num_codes, code_dim=self.quantizer.code_dim)

    def _scaled(self, x):
        return self._pad(x) * (self.hi - self.lo) + self.lo

    def encode_continuous(self, x):
        out = self._encode(self._scaled(x))
        if out.dtype in (torch.int32, torch.int64):    # a model that returns codes: their vectors stand for z
            return self.quantizer.lookup(out).permute(0, 3, 1, 2)
        return out

    @torch.no_grad()
    def gives_codes(self, x) -> bool:
        """Whether `encode` gives codes, not latents: then there is no z to show, only its code's vector."""
        return self._encode(self._scaled(x[:1])).dtype in (torch.int32, torch.int64)

    @torch.no_grad()
    def encode(self, x) -> torch.Tensor:
        out = self._encode(self._scaled(x))
        if out.dtype in (torch.int32, torch.int64):
            return out.long()
        return self.codes(out.float())

    def decode_codes(self, idx):
        return (self._decode(idx) - self.lo) / (self.hi - self.lo)


def parameter_count(tokenizer: nn.Module) -> int:
    return sum(p.numel() for p in tokenizer.parameters())
