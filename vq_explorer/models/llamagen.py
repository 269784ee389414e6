"""LlamaGen's VQ tokenizer (FoundationVision/LlamaGen, `tokenizer/tokenizer_image/vq_model.py`: VQ-16 and VQ-8,
K = 16,384, 8-dimensional codes), run on transformers' `JanusVQVAE`, which is the same network under other
parameter names (Janus and Janus-Pro generate images with LlamaGen's VQ-16).

The two differ in the quantizer alone: LlamaGen l2-normalises both the encoder's vectors and the codebook before
taking the nearest code (`codebook_l2_norm`, on in every released model), where `JanusVQVAE.encode` compares the
raw vectors. So codes are picked here by LlamaGen's own rule, and decoding looks up the normalised vectors, as
LlamaGen's `decode_code` does. A config of LlamaGen's `ModelArgs` fields describes the network (the encoder's width
128 and its two residual blocks per level are fixed in LlamaGen's code).
"""

import re

import torch
import torch.nn.functional as F

from .tokenizer import Codebook
from .transformers_vq import TransformersTokenizer

FIELDS = ("codebook_size", "codebook_embed_dim", "codebook_l2_norm", "encoder_ch_mult", "decoder_ch_mult",
          "z_channels")
PRESETS = {   # LlamaGen's VQ_16 and VQ_8 (vq_model.py) at ModelArgs' defaults
    "VQ-16": {"codebook_size": 16384, "codebook_embed_dim": 8, "codebook_l2_norm": True,
              "encoder_ch_mult": [1, 1, 2, 2, 4], "decoder_ch_mult": [1, 1, 2, 2, 4], "z_channels": 256},
    "VQ-8": {"codebook_size": 16384, "codebook_embed_dim": 8, "codebook_l2_norm": True,
             "encoder_ch_mult": [1, 2, 2, 4], "decoder_ch_mult": [1, 2, 2, 4], "z_channels": 256},
}
# LlamaGen's names → JanusVQVAE's (the mapping transformers' own Janus conversion applies to these modules)
RENAMES = [(r"^(encoder)\.conv_blocks\.", r"\1.down."), (r"^(decoder)\.conv_blocks\.", r"\1.up."),
           (r"\.res\.", ".block."), (r"\.mid\.0\.", ".mid.block_1."), (r"\.mid\.1\.", ".mid.attn_1."),
           (r"\.mid\.2\.", ".mid.block_2.")]
DROPPED = ("quantize.codebook_used",)   # LlamaGen's training-time usage record, not part of the network


def is_llamagen(config: dict) -> bool:
    return isinstance(config, dict) and "codebook_embed_dim" in config and "encoder_ch_mult" in config


def janus_config(args: dict, grid: int = 16):
    """JanusVQVAEConfig of LlamaGen ModelArgs fields; ValueError for what JanusVQVAE cannot express."""
    from transformers import JanusVQVAEConfig
    full = {**PRESETS["VQ-16"], **{k: args[k] for k in FIELDS if k in args}}
    if list(full["encoder_ch_mult"]) != list(full["decoder_ch_mult"]):
        raise ValueError("an encoder and a decoder of different widths (encoder_ch_mult "
                         f"{full['encoder_ch_mult']}, decoder_ch_mult {full['decoder_ch_mult']})")
    config = JanusVQVAEConfig(embed_dim=int(full["codebook_embed_dim"]), num_embeddings=int(full["codebook_size"]),
                              latent_channels=int(full["z_channels"]), base_channels=128, num_res_blocks=2,
                              channel_multiplier=list(full["encoder_ch_mult"]), num_patches=grid)
    return config, bool(full["codebook_l2_norm"])


def rename(state: dict) -> dict:
    """LlamaGen's parameter names → JanusVQVAE's."""
    out = {}
    for name, tensor in state.items():
        if name in DROPPED:
            continue
        for pattern, repl in RENAMES:
            name = re.sub(pattern, repl, name)
        out[name] = tensor
    return out


class LlamaGenTokenizer(TransformersTokenizer):
    kind = "llamagen"

    def __init__(self, vq, l2_norm: bool = True):
        super().__init__(vq, "janus_vqgan")
        self.l2_norm = l2_norm
        if l2_norm:    # the vectors the codes are chosen among (and the panel's distances are taken to)
            self.quantizer = Codebook(self._embedding().detach(), nearest=self._nearest)

    def _embedding(self) -> torch.Tensor:
        weight = self.vq.quantize.embedding.weight
        return F.normalize(weight, p=2, dim=-1) if self.l2_norm else weight

    def _nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """LlamaGen's VectorQuantizer.forward: the argmin of z² + e² − 2 z·e, both sides normalised (z by
        `encode_continuous`)."""
        e = self._embedding()
        z = flat.to(e.dtype)
        d = z.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1) - 2 * torch.einsum("bd,dn->bn", z, e.t())
        return torch.argmin(d, dim=1)

    def encode_continuous(self, x):
        z = super().encode_continuous(x)
        return F.normalize(z, p=2, dim=1) if self.l2_norm else z

    @torch.no_grad()
    def encode(self, x) -> torch.Tensor:
        return self.codes(self.encode_continuous(x).float())

    def decode_codes(self, idx):
        quant = self._embedding()[idx.long()].permute(0, 3, 1, 2).contiguous()
        return (self.vq.decoder(self.vq.post_quant_conv(quant)).float() + 1) / 2
