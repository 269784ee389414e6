"""The image tokenizers of multimodal models as transformers implements them (`JanusVQVAE`, `Emu3VQVAE`,
`ChameleonVQVAE`), behind the app's tokenizer interface.

Codes are the library's own: each grid is what the model's own quantizer module returns for its encoder's output
(the same module is asked for the nearest codes of any vector, so the quantization panel and the grid agree).
Decoding runs the model's own decoder on the codebook vectors of any grid size: Emu3's `decode` takes any grid;
Janus's takes only its configured `num_patches`², so its steps (the l2-normalised codebook entry, the
post-quantization convolution, the decoder) are run here for other sizes. Chameleon's VQ-VAE has no decoder: its
codes, grid, usage, margins and code map are its own, and any picture made from codes is a flat grey (the model's
description says so).
"""

from types import SimpleNamespace

import torch
import torch.nn.functional as F

from .tokenizer import Codebook, Tokenizer


class TransformersTokenizer(Tokenizer):
    """A transformers VQ-VAE (its images in [−1, 1]). `family` is the config's `model_type`."""

    kind = "transformers"

    def __init__(self, vq, family: str):
        super().__init__()
        self.vq, self.family = vq.eval(), family
        c = vq.config
        self.has_decoder = hasattr(vq, "decoder")
        num_codes = c.codebook_size if family == "emu3_vqgan" else c.num_embeddings
        self.quantizer = Codebook(vq.quantize.embedding.weight, nearest=self._nearest)
        assert self.quantizer.num_codes == num_codes
        self.cfg = SimpleNamespace(downsample=2 ** (len(c.channel_multiplier) - 1), in_channels=c.in_channels,
                                   num_codes=num_codes, code_dim=self.quantizer.code_dim)

    @property
    def is_video(self) -> bool:
        return self.family == "emu3_vqgan"

    def _nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """The model's own quantizer on N vectors laid out as a 1 × N grid: the codes it would pick."""
        z = flat.to(self.vq.quantize.embedding.weight.dtype).t()
        if self.is_video:                                   # (B, T, C, H, W)
            return self.vq.quantize(z[None, None, :, :, None]).reshape(-1)
        return self.vq.quantize(z[None, :, :, None])[2].reshape(-1)

    def _video(self, x):
        """Emu3's image path: the image repeated over its temporal window, as `Emu3VQVAE.encode` does."""
        return x.unsqueeze(1).repeat(1, self.vq.config.temporal_downsample_factor, 1, 1, 1)

    def encode_continuous(self, x):
        pixels = (self._pad(x) * 2 - 1).to(self.vq.dtype)
        if self.is_video:
            h = self.vq.encoder(self._video(pixels)).permute(0, 2, 1, 3, 4)
            return self.vq.quant_conv(h)[:, :, 0]           # (B, d, h, w) of the one latent frame
        return self.vq.quant_conv(self.vq.encoder(pixels))

    @torch.no_grad()
    def encode(self, x) -> torch.Tensor:
        """The image tokens the library's own `encode` returns."""
        pixels = (self._pad(x) * 2 - 1).to(self.vq.dtype)
        b, _, height, width = pixels.shape
        h, w = self.grid_size(height, width)
        if self.is_video:
            sizes = torch.tensor([[height, width]] * b)
            return torch.stack(list(self.vq.encode(pixels, sizes).image_tokens)).view(b, h, w)
        return self.vq.encode(pixels).image_tokens.view(b, h, w)

    def decode_codes(self, idx):
        if not self.has_decoder:    # a flat grey picture: the views stay open, the description says why
            b, h, w = idx.shape
            f = self.cfg.downsample
            return torch.full((b, self.cfg.in_channels, h * f, w * f), 0.5)
        if self.is_video:
            out = self.vq.decode(idx)
        else:                       # JanusVQVAE.decode, at any grid size
            quant = F.normalize(self.vq.quantize.embedding(idx), p=2, dim=-1).permute(0, 3, 1, 2)
            out = self.vq.decoder(self.vq.post_quant_conv(quant.contiguous()))
        return (out.float() + 1) / 2
